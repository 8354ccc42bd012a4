//! `show_alloc_mem`: the zones and their live blocks, by increasing address, in the 42
//! subject's format, written with `write(2)` from a stack buffer (no allocation).
//!
//! ```text
//! TINY : 0xA0000
//! 0xA0020 - 0xA004A : 42 bytes
//! LARGE : 0xB0000
//! 0xB0000 - 0xBBECF : 48847 bytes
//! Total : 48889 bytes
//! ```
//! The walk holds the pool lock, so no segment is unmapped under it, and reads other threads'
//! zones through atomics and `GEOMETRY` only, so it is safe (if not a frozen snapshot) while
//! other threads allocate.

use core::sync::atomic::{AtomicU16, Ordering};

use crate::large;
use crate::os;
use crate::size_class::GEOMETRY;
use crate::state::G;
use crate::types::{Segment, SEGMENT_SIZE, SLICES_PER_SEGMENT, SLICE_SHIFT, TINY_MAX, ZONE_UNUSED};

/// A stack buffer flushed to a file descriptor.
pub struct Out {
    fd: i32,
    len: usize,
    buf: [u8; 2048],
}

impl Out {
    pub fn new(fd: i32) -> Self {
        Out {
            fd,
            len: 0,
            buf: [0; 2048],
        }
    }
    pub fn bytes(&mut self, s: &[u8]) {
        for &b in s {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
    }
    /// `0x` and upper-case hexadecimal digits.
    pub fn hex(&mut self, mut v: usize) {
        let mut tmp = [0u8; 18];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b"0123456789ABCDEF"[v & 15];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        i -= 2;
        tmp[i] = b'0';
        tmp[i + 1] = b'x';
        self.bytes(&tmp[i..]);
    }
    pub fn dec(&mut self, mut v: usize) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.bytes(&tmp[i..]);
    }
    pub fn flush(&mut self) {
        os::write_all(self.fd, &self.buf[..self.len]);
        self.len = 0;
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        self.flush();
    }
}

/// A zone as `show_alloc_mem` sees it.
#[derive(Clone, Copy)]
pub enum ZoneView {
    /// A TINY or SMALL zone: its segment, first slice and class.
    Small {
        seg: *mut Segment,
        first: usize,
        class: usize,
    },
    /// A LARGE block (its own zone).
    Large { addr: usize, requested: usize },
}

impl ZoneView {
    pub fn start(&self) -> usize {
        match *self {
            ZoneView::Small { seg, first, .. } => seg as usize + (first << SLICE_SHIFT),
            ZoneView::Large { addr, .. } => addr,
        }
    }
}

/// Calls `f(block address, requested size)` for each live block of a small zone, in address
/// order. `pool_lock` must be held.
pub fn for_each_block(
    seg: *mut Segment,
    first: usize,
    class: usize,
    mut f: impl FnMut(usize, usize),
) {
    let g = &GEOMETRY[class];
    let start = seg as usize + (first << SLICE_SHIFT);
    let requested = start as *const AtomicU16;
    for k in 0..g.nblocks {
        // SAFETY: the zone's requested array (nblocks entries from its start) lies in the
        // segment, which pool_lock keeps mapped.
        let v = unsafe { (*requested.add(k)).load(Ordering::Relaxed) } as usize;
        if v != 0 {
            f(start + g.blocks_offset + k * g.bsize, v - 1);
        }
    }
}

/// The zone with the lowest start above `after`, among live small zones and LARGE blocks.
/// `pool_lock` must be held.
pub fn next_zone(after: usize) -> Option<ZoneView> {
    let mut best: Option<ZoneView> = None;
    let mut best_start = usize::MAX;
    let mut seg = G.all_segments.load(Ordering::Acquire);
    while !seg.is_null() {
        // SAFETY: segments on the all-segments list stay mapped while pool_lock is held.
        unsafe {
            if (seg as usize) + SEGMENT_SIZE > after + 1
                && (seg as usize) < best_start
                && !(*seg).heap.load(Ordering::Acquire).is_null()
            {
                for first in 1..SLICES_PER_SEGMENT {
                    let start = seg as usize + (first << SLICE_SHIFT);
                    if start <= after || start >= best_start {
                        continue;
                    }
                    if (*seg).slice_zone[first].load(Ordering::Acquire) as usize != first + 1 {
                        continue;
                    }
                    let z = &(*seg).zones[first];
                    let class = z.class.load(Ordering::Relaxed) as usize;
                    if z.state.load(Ordering::Relaxed) == ZONE_UNUSED || class >= GEOMETRY.len() {
                        continue;
                    }
                    best = Some(ZoneView::Small { seg, first, class });
                    best_start = start;
                    break;
                }
            }
            seg = (*seg).next_all.load(Ordering::Acquire);
        }
    }
    large::for_each(|b| {
        if b.addr > after && b.addr < best_start {
            best_start = b.addr;
            best = Some(ZoneView::Large {
                addr: b.addr,
                requested: b.requested,
            });
        }
    });
    best
}

/// Calls `f` on every zone by increasing address, with `pool_lock` held.
pub fn walk_zones(mut f: impl FnMut(ZoneView)) {
    G.pool_lock.lock();
    let mut cursor = 0;
    while let Some(z) = next_zone(cursor) {
        cursor = z.start();
        f(z);
    }
    G.pool_lock.unlock();
}

/// Prints every zone holding a live block, its live blocks, and the total requested bytes.
pub fn show_alloc_mem() {
    let mut out = Out::new(1);
    let mut total = 0usize;
    walk_zones(|z| match z {
        ZoneView::Small { seg, first, class } => {
            let mut header = false;
            for_each_block(seg, first, class, |addr, size| {
                if !header {
                    let kind: &[u8] = if GEOMETRY[class].bsize <= TINY_MAX {
                        b"TINY : "
                    } else {
                        b"SMALL : "
                    };
                    out.bytes(kind);
                    out.hex(z.start());
                    out.bytes(b"\n");
                    header = true;
                }
                block_line(&mut out, addr, size);
                total += size;
            });
        }
        ZoneView::Large { addr, requested } => {
            out.bytes(b"LARGE : ");
            out.hex(addr);
            out.bytes(b"\n");
            block_line(&mut out, addr, requested);
            total += requested;
        }
    });
    out.bytes(b"Total : ");
    out.dec(total);
    out.bytes(b" bytes\n");
}

fn block_line(out: &mut Out, addr: usize, size: usize) {
    out.hex(addr);
    out.bytes(b" - ");
    out.hex(addr + size);
    out.bytes(b" : ");
    out.dec(size);
    out.bytes(b" bytes\n");
}
