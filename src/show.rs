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

use core::sync::atomic::Ordering;

use crate::large;
use crate::os;
use crate::size_class::GEOMETRY;
use crate::state::G;
use crate::types::{
    Segment, PAGE_SIZE, SEGMENT_SIZE, SLICES_PER_SEGMENT, SLICE_SHIFT, TINY_MAX, ZONE_UNUSED,
};

/// A stack buffer flushed to a file descriptor.
pub struct Out {
    fd: i32,
    len: usize,
    buf: [u8; 2048],
}

/// Number formatting over anything that takes bytes, without allocating.
pub trait Sink {
    fn bytes(&mut self, s: &[u8]);

    /// `0x` and upper-case hexadecimal digits.
    #[inline(never)]
    fn hex(&mut self, mut v: usize) {
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

    #[inline(never)]
    fn dec(&mut self, mut v: usize) {
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
}

impl Out {
    pub fn new(fd: i32) -> Self {
        Out {
            fd,
            len: 0,
            buf: [0; 2048],
        }
    }
    pub fn flush(&mut self) {
        os::write_all(self.fd, &self.buf[..self.len]);
        self.len = 0;
    }
}

impl Sink for Out {
    #[inline(never)]
    fn bytes(&mut self, s: &[u8]) {
        for &b in s {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
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
    let requested = crate::segment::requested_array(
        seg,
        first,
        // SAFETY: the header is mapped while pool_lock is held.
        unsafe { (*seg).slice_entry(first).load(Ordering::Acquire) } as usize,
    );
    for k in 0..g.nblocks {
        // SAFETY: the zone's requested array (nblocks entries, at its start or beside its
        // descriptor: requested_array) lies in the segment, which pool_lock keeps mapped.
        let v = unsafe { (*requested.add(k)).load(Ordering::Relaxed) } as usize;
        if v != 0 {
            f(
                start + g.blocks_offset + k * g.bsize,
                crate::types::entry_request(v),
            );
        }
    }
}

/// The small zone whose first slice is `first` in segment `seg`, if a live zone starts there.
///
/// # Safety
/// `seg` is on the all-segments list and `pool_lock` is held (the segment stays mapped).
unsafe fn small_zone_at(seg: *mut Segment, first: usize) -> Option<ZoneView> {
    // SAFETY: guaranteed by the caller; a slice entry that names the slice's own descriptor
    // says a zone starts there.
    unsafe {
        let descriptor = crate::types::descriptor_offset(first);
        if (*seg).slice_entry(first).load(Ordering::Acquire) as usize & 0xFFFF != descriptor {
            return None;
        }
        let z = &*Segment::zone(seg, first);
        let class = z.class.load(Ordering::Relaxed) as usize;
        if z.state.load(Ordering::Relaxed) == ZONE_UNUSED || class >= GEOMETRY.len() {
            return None;
        }
        Some(ZoneView::Small { seg, first, class })
    }
}

/// Calls `f` on every live small zone, segment by segment, and on every LARGE block, in no
/// particular order. `pool_lock` must be held.
fn for_each_zone(mut f: impl FnMut(ZoneView)) {
    let mut seg = G.all_segments.load(Ordering::Acquire);
    while !seg.is_null() {
        // SAFETY: segments on the all-segments list stay mapped while pool_lock is held.
        unsafe {
            if !(*seg).heap.load(Ordering::Acquire).is_null() {
                for first in 1..SLICES_PER_SEGMENT {
                    if let Some(z) = small_zone_at(seg, first) {
                        f(z);
                    }
                }
            }
            seg = (*seg).next_all.load(Ordering::Acquire);
        }
    }
    large::for_each(|b| {
        f(ZoneView::Large {
            addr: b.addr,
            requested: b.requested,
        })
    });
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
                    if let Some(z) = small_zone_at(seg, first) {
                        best = Some(z);
                        best_start = start;
                        break;
                    }
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

/// Zones a sorted walk makes room for beyond those counted, for the zones and LARGE blocks
/// that other threads make between the count and the gathering.
const WALK_SLACK: usize = 256;

/// Calls `f` on every zone by increasing address, with `pool_lock` held.
///
/// The zones are gathered in one pass into an array mapped for the walk (and unmapped after
/// it), then sorted: O(n log n) in zones and LARGE blocks. Finding each next zone by a scan of
/// every segment and every LARGE block (`next_zone`) is O(n²): 5.6 s for a heap of 200,000
/// blocks, 20,000 of them LARGE. That scan remains for when the array cannot be mapped.
pub fn walk_zones(mut f: impl FnMut(ZoneView)) {
    G.pool_lock.lock();
    if !walk_sorted(&mut f) {
        let mut cursor = 0;
        while let Some(z) = next_zone(cursor) {
            cursor = z.start();
            f(z);
        }
    }
    G.pool_lock.unlock();
}

/// `walk_zones` through a sorted array of the zones; false, having called `f` on none, when
/// the array cannot be mapped. `pool_lock` must be held.
fn walk_sorted(f: &mut impl FnMut(ZoneView)) -> bool {
    let mut counted = 0;
    for_each_zone(|_| counted += 1);
    let mut room = counted + WALK_SLACK;
    // More zones than room only when other threads make them faster than the walk gathers
    // them: a few tries with twice the room, then the scan.
    for _ in 0..4 {
        let bytes = (room * size_of::<ZoneView>()).next_multiple_of(PAGE_SIZE);
        let base = os::map(bytes, 0) as *mut ZoneView;
        if base.is_null() {
            return false;
        }
        let mut n = 0;
        for_each_zone(|z| {
            if n < room {
                // SAFETY: `n < room`: within the mapping, which is aligned for ZoneView.
                unsafe { base.add(n).write(z) };
            }
            n += 1;
        });
        if n <= room {
            // SAFETY: the first `n` entries were written above; the mapping is ours until
            // the unmap below.
            let zones = unsafe { core::slice::from_raw_parts_mut(base, n) };
            zones.sort_unstable_by_key(ZoneView::start);
            for &z in zones.iter() {
                f(z);
            }
            os::unmap(base as *mut u8, bytes);
            return true;
        }
        os::unmap(base as *mut u8, bytes);
        room = n * 2;
    }
    false
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

#[inline(never)]
fn block_line(out: &mut Out, addr: usize, size: usize) {
    out.hex(addr);
    out.bytes(b" - ");
    out.hex(addr + size);
    out.bytes(b" : ");
    out.dec(size);
    out.bytes(b" bytes\n");
}

/// Bytes of each live block that `show_alloc_mem_ex` dumps.
pub const DUMP_BYTES: usize = 32;
/// Characters of a zone's occupancy bar.
const BAR_WIDTH: usize = 64;

/// Writes `len` bytes at `addr` in the `hexdump -C` style: offset, 16 bytes in hex, the same
/// as printable characters.
///
/// # Safety
/// `[addr, addr + len)` is mapped and stays mapped while this runs.
#[inline(never)]
unsafe fn hexdump(out: &mut Out, addr: usize, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut off = 0;
    while off < len {
        let n = (len - off).min(16);
        let mut line = [b' '; 96];
        let mut k = 4;
        for shift in [28u32, 24, 20, 16, 12, 8, 4, 0] {
            line[k] = HEX[(off >> shift) & 15];
            k += 1;
        }
        k += 2;
        for i in 0..16 {
            if i < n {
                // SAFETY: guaranteed by the caller.
                let b = unsafe { core::ptr::read_volatile((addr + off + i) as *const u8) };
                line[k] = HEX[(b >> 4) as usize];
                line[k + 1] = HEX[(b & 15) as usize];
                line[65 + i] = if (0x20..0x7f).contains(&b) { b } else { b'.' };
            }
            k += if i == 7 { 4 } else { 3 };
        }
        line[64] = b'|';
        line[65 + n] = b'|';
        out.bytes(&line[..66 + n]);
        out.bytes(b"\n");
        off += 16;
    }
}

#[inline(never)]
fn size_line(out: &mut Out, label: &[u8], v: usize, unit: &[u8]) {
    out.bytes(label);
    out.dec(v);
    out.bytes(unit);
}

/// The detailed view: every zone (empty ones too) with its class, occupancy and bar; every
/// live block with a dump of its first `dump` bytes; runs of free and never-used blocks; then
/// the total and the history of the last operations (FT_MALLOC_HISTORY).
pub fn show_alloc_mem_ex(dump: usize) {
    let mut out = Out::new(1);
    let mut total = 0usize;
    let mut live_blocks = 0usize;
    walk_zones(|z| match z {
        ZoneView::Small { seg, first, class } => {
            let g = &GEOMETRY[class];
            let start = z.start();
            let end = start + g.slices * crate::types::SLICE_SIZE;
            // SAFETY: the descriptor lies in the segment, mapped while pool_lock is held; the
            // owner may be changing `extended`, which only makes the picture slightly stale.
            let extended = unsafe {
                core::ptr::read_volatile(core::ptr::addr_of!((*Segment::zone(seg, first)).extended))
            } as usize;
            let extended = extended.min(g.nblocks);
            let requested = crate::segment::requested_array(
                seg,
                first,
                // SAFETY: the header is mapped while pool_lock is held.
                unsafe { (*seg).slice_entry(first).load(Ordering::Acquire) } as usize,
            );
            // SAFETY: k < nblocks: the entry lies in the zone's requested array.
            let used_at = |k: usize| unsafe { (*requested.add(k)).load(Ordering::Relaxed) } != 0;
            let mut used = 0;
            let mut req = 0;
            for_each_block(seg, first, class, |_, size| {
                used += 1;
                req += size;
            });
            out.bytes(if g.bsize <= TINY_MAX {
                b"TINY : "
            } else {
                b"SMALL : "
            });
            out.hex(start);
            out.bytes(b" - ");
            out.hex(end);
            size_line(&mut out, b"  class ", g.bsize, b" B");
            size_line(&mut out, b"  blocks ", used, b"/");
            out.dec(g.nblocks);
            size_line(&mut out, b"  requested ", req, b" B / mapped ");
            out.dec(end - start);
            out.bytes(b" B\n  [");
            let per = g.nblocks.div_ceil(BAR_WIDTH);
            let mut k = 0;
            while k < g.nblocks {
                let hi = (k + per).min(g.nblocks);
                let n_used = (k..hi).filter(|&i| used_at(i)).count();
                out.bytes(if n_used == hi - k {
                    b"#"
                } else if n_used > 0 {
                    b"+"
                } else if k < extended {
                    b"."
                } else {
                    b"_"
                });
                k = hi;
            }
            out.bytes(b"]  # used  + partly used  . free  _ never used; one mark = ");
            out.dec(per);
            out.bytes(if per == 1 { b" block\n" } else { b" blocks\n" });
            let mut k = 0;
            while k < g.nblocks {
                let addr = start + g.blocks_offset + k * g.bsize;
                if used_at(k) {
                    // SAFETY: k < nblocks.
                    let size = unsafe { (*requested.add(k)).load(Ordering::Relaxed) } as usize;
                    let size = crate::types::entry_request(size);
                    block_line(&mut out, addr, size);
                    // SAFETY: the block lies in the zone, mapped while pool_lock is held.
                    unsafe { hexdump(&mut out, addr, size.min(dump)) };
                    total += size;
                    live_blocks += 1;
                    k += 1;
                    continue;
                }
                let never = k >= extended;
                let mut j = k;
                while j < g.nblocks && !used_at(j) && (j >= extended) == never {
                    j += 1;
                }
                out.hex(addr);
                out.bytes(b" - ");
                out.hex(start + g.blocks_offset + j * g.bsize);
                out.bytes(if never {
                    b" : never used ("
                } else {
                    b" : free ("
                });
                out.dec(j - k);
                out.bytes(if j - k == 1 {
                    b" block)\n"
                } else {
                    b" blocks)\n"
                });
                k = j;
            }
        }
        ZoneView::Large { addr, .. } => {
            large::with_block(addr, |b| {
                out.bytes(b"LARGE : ");
                out.hex(b.base);
                out.bytes(b" - ");
                out.hex(b.base + b.len);
                size_line(&mut out, b"  mapping ", b.len, b" B");
                if b.guarded() {
                    out.bytes(b" (guard page at the end)");
                }
                out.bytes(b"\n");
                block_line(&mut out, b.addr, b.requested);
                // SAFETY: the lock keeps the block mapped while we read it.
                unsafe { hexdump(&mut out, b.addr, b.requested.min(dump)) };
                total += b.requested;
                live_blocks += 1;
            });
        }
    });
    out.bytes(b"Total : ");
    out.dec(total);
    out.bytes(b" bytes in ");
    out.dec(live_blocks);
    out.bytes(b" blocks\n");
    if crate::debug::history_on() {
        out.bytes(b"History (oldest first):\n");
        crate::debug::for_each_history(|op, addr, size, thread| {
            out.bytes(b"  ");
            out.bytes(op);
            out.bytes(b" ");
            out.hex(addr);
            out.bytes(b" ");
            out.dec(size);
            out.bytes(b" bytes  thread ");
            out.hex(thread);
            out.bytes(b"\n");
        });
    } else {
        out.bytes(b"History: off (set FT_MALLOC_HISTORY=n to keep the last n operations)\n");
    }
}

/// Dumps the whole of the live block at `p` (nothing if `p` is not a live block of ours).
pub fn dump_block(p: usize) {
    let mut out = Out::new(1);
    if let Some(r) = crate::segment::small_lookup(p) {
        G.pool_lock.lock();
        // SAFETY: the entry lies in our zone; pool_lock keeps the segment mapped.
        let v = unsafe { (*r.requested).load(Ordering::Relaxed) } as usize;
        if v != 0 {
            block_line(&mut out, p, crate::types::entry_request(v));
            // SAFETY: the block lies in the zone, mapped while pool_lock is held.
            unsafe { hexdump(&mut out, p, crate::types::entry_request(v)) };
        }
        G.pool_lock.unlock();
        return;
    }
    large::with_block(p, |b| {
        block_line(&mut out, b.addr, b.requested);
        // SAFETY: the lock keeps the block mapped while we read it.
        unsafe { hexdump(&mut out, b.addr, b.requested) };
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::SLICE_SIZE;

    /// Up to this many zones holding the test's blocks are compared (arrays on the stack: the
    /// walks run under `pool_lock`, and under the `override` feature a Vec would allocate
    /// through the allocator there).
    const MAX_SEEN: usize = 4096;

    /// Whether `z` holds one of `blocks`.
    fn holds_one(z: &ZoneView, blocks: &[usize]) -> bool {
        let (start, len) = match *z {
            ZoneView::Small { class, .. } => (z.start(), GEOMETRY[class].slices * SLICE_SIZE),
            ZoneView::Large { addr, .. } => (addr, 1),
        };
        blocks.iter().any(|&b| b >= start && b < start + len)
    }

    /// The sorted walk and the scan it falls back on (`next_zone`) list the zones that hold
    /// the test's blocks, small and LARGE, in the same order, by increasing address (other
    /// tests' zones come and go meanwhile, so only those are compared).
    #[test]
    fn the_sorted_walk_and_the_scan_list_the_same_zones_in_address_order() {
        std::thread::spawn(|| {
            let mut blocks = [0usize; 600];
            for (i, b) in blocks.iter_mut().enumerate() {
                let size = if i % 10 == 0 {
                    40_000 + i * 97
                } else {
                    1 + (i * 37) % 30_000
                };
                *b = crate::alloc::malloc(size) as usize;
                assert!(*b != 0);
            }
            let (mut sorted, mut n_sorted) = ([0usize; MAX_SEEN], 0);
            walk_zones(|z| {
                if holds_one(&z, &blocks) {
                    sorted[n_sorted] = z.start();
                    n_sorted += 1;
                }
            });
            let (mut scanned, mut n_scanned) = ([0usize; MAX_SEEN], 0);
            G.pool_lock.lock();
            let mut cursor = 0;
            while let Some(z) = next_zone(cursor) {
                cursor = z.start();
                if holds_one(&z, &blocks) {
                    scanned[n_scanned] = z.start();
                    n_scanned += 1;
                }
            }
            G.pool_lock.unlock();
            // 60 LARGE blocks, and zones of several classes.
            assert!(n_sorted > 60, "{n_sorted} zones hold the test's blocks");
            assert_eq!(sorted[..n_sorted], scanned[..n_scanned]);
            assert!(sorted[..n_sorted].windows(2).all(|w| w[0] < w[1]));
            for b in blocks {
                // SAFETY: b came from malloc above.
                unsafe { crate::alloc::free(b as *mut u8) };
            }
        })
        .join()
        .unwrap();
    }
}
