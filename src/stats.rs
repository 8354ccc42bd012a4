//! Statistics: system-call counters and mapped bytes (always kept, in `os`), call counters
//! (kept while a debug mode is on, see `debug`), and what a walk of the zones finds. Printed at
//! exit with `FT_MALLOC_STATS=1`, returned by `ft_malloc_stats()`, and shown to programs
//! written for glibc through `malloc_stats()` and `mallinfo2()`.

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::large;
use crate::os::OS_STATS;
use crate::show::{self, Out, Sink, ZoneView};
use crate::size_class::{class_size, CLASS_COUNT, GEOMETRY};
use crate::types::{SLICE_SIZE, TINY_MAX};

/// Call counters, kept while a debug mode is on (the plain fast paths count nothing).
pub struct Calls {
    pub malloc: AtomicUsize,
    pub calloc: AtomicUsize,
    pub realloc: AtomicUsize,
    pub free: AtomicUsize,
    pub aligned: AtomicUsize,
    pub usable_size: AtomicUsize,
    /// Sum of every size asked for.
    pub bytes_requested: AtomicUsize,
    /// Requested bytes live now, and at most.
    pub live_requested: AtomicUsize,
    pub peak_requested: AtomicUsize,
    /// Misuses detected (whatever FT_MALLOC_CHECK decided to do about them).
    pub misuses: AtomicUsize,
}

pub static CALLS: Calls = Calls {
    malloc: AtomicUsize::new(0),
    calloc: AtomicUsize::new(0),
    realloc: AtomicUsize::new(0),
    free: AtomicUsize::new(0),
    aligned: AtomicUsize::new(0),
    usable_size: AtomicUsize::new(0),
    bytes_requested: AtomicUsize::new(0),
    live_requested: AtomicUsize::new(0),
    peak_requested: AtomicUsize::new(0),
    misuses: AtomicUsize::new(0),
};

/// Everything ft_malloc can say about its heap (the C `struct ft_malloc_stats`, same order).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Stats {
    /// Calls of each function (counted only while a debug mode is on, else 0).
    pub malloc_calls: usize,
    pub calloc_calls: usize,
    pub realloc_calls: usize,
    pub free_calls: usize,
    pub aligned_calls: usize,
    /// Sum of the sizes asked for (debug modes only).
    pub bytes_requested_total: usize,
    /// Peak of live requested bytes (debug modes only).
    pub peak_requested: usize,
    /// Misuses detected (debug modes only).
    pub misuses: usize,
    /// Live blocks and the bytes their users asked for (from a walk of the zones).
    pub live_blocks: usize,
    pub live_requested: usize,
    /// Bytes of the live blocks' size classes / mappings.
    pub live_usable: usize,
    /// Zones holding at least one live block, by kind, and the bytes they span.
    pub tiny_zones: usize,
    pub small_zones: usize,
    pub large_blocks: usize,
    pub zone_bytes: usize,
    /// Bytes mapped from the system now and at most (segments, LARGE blocks, metadata).
    pub mapped: usize,
    pub peak_mapped: usize,
    /// System calls made.
    pub mmap_calls: usize,
    pub munmap_calls: usize,
    pub madvise_calls: usize,
}

impl Stats {
    /// 1 - requested / mapped, in thousandths (the share of mapped memory not asked for).
    pub fn fragmentation_permille(&self) -> usize {
        if self.mapped == 0 {
            return 0;
        }
        1000 - (self.live_requested.min(self.mapped) * 1000 / self.mapped)
    }
}

/// Collects the statistics (walks every zone: O(heap)). Allocates nothing.
pub fn collect() -> Stats {
    collect_with_large_bytes().0
}

/// `collect`, and the bytes of the LARGE mappings and the usable bytes of the live LARGE
/// blocks (the parts of `zone_bytes` and `live_usable` that are LARGE).
fn collect_with_large_bytes() -> (Stats, usize, usize) {
    let mut s = Stats {
        malloc_calls: CALLS.malloc.load(Relaxed),
        calloc_calls: CALLS.calloc.load(Relaxed),
        realloc_calls: CALLS.realloc.load(Relaxed),
        free_calls: CALLS.free.load(Relaxed),
        aligned_calls: CALLS.aligned.load(Relaxed),
        bytes_requested_total: CALLS.bytes_requested.load(Relaxed),
        peak_requested: CALLS.peak_requested.load(Relaxed),
        misuses: CALLS.misuses.load(Relaxed),
        mapped: OS_STATS.mapped.load(Relaxed),
        peak_mapped: OS_STATS.peak_mapped.load(Relaxed),
        mmap_calls: OS_STATS.mmap_calls.load(Relaxed),
        munmap_calls: OS_STATS.munmap_calls.load(Relaxed),
        madvise_calls: OS_STATS.madvise_calls.load(Relaxed),
        ..Stats::default()
    };
    show::walk_zones(|z| match z {
        ZoneView::Small { seg, first, class } => {
            let mut live = 0;
            show::for_each_block(seg, first, class, |_, size| {
                live += 1;
                s.live_requested += size;
            });
            if live > 0 {
                s.live_blocks += live;
                s.live_usable += live * GEOMETRY[class].bsize;
                s.zone_bytes += GEOMETRY[class].slices * SLICE_SIZE;
                if GEOMETRY[class].bsize <= TINY_MAX {
                    s.tiny_zones += 1;
                } else {
                    s.small_zones += 1;
                }
            }
        }
        ZoneView::Large { requested, .. } => {
            s.live_blocks += 1;
            s.large_blocks += 1;
            s.live_requested += requested;
        }
    });
    let mut large_bytes = 0;
    let mut large_usable = 0;
    large::for_each(|b| {
        large_usable += b.usable;
        large_bytes += b.len;
    });
    s.live_usable += large_usable;
    s.zone_bytes += large_bytes;
    (s, large_bytes, large_usable)
}

/// glibc's `malloc_info()`: the heap as XML on `out`, in glibc's layout (one heap, `nr="0"`).
/// glibc lists its free chunks by size: here each size class with free blocks in its zones is a
/// `<size>` line (the class's sizes, how many blocks are free, their bytes), those blocks are
/// the `rest` total, the LARGE blocks (a mapping each) the `mmap` total, and the bytes mapped
/// from the system now and at most are the `system` and `aspace` sizes.
pub fn malloc_info(out: &mut impl Sink) {
    let mut free = [0usize; CLASS_COUNT];
    show::walk_zones(|z| {
        if let ZoneView::Small { seg, first, class } = z {
            let mut live = 0;
            show::for_each_block(seg, first, class, |_, _| live += 1);
            free[class] += GEOMETRY[class].nblocks.saturating_sub(live);
        }
    });
    let (mut mmap_count, mut mmap_bytes) = (0, 0);
    large::for_each(|b| {
        mmap_count += 1;
        mmap_bytes += b.len;
    });
    let mapped = OS_STATS.mapped.load(Relaxed);
    let peak = OS_STATS.peak_mapped.load(Relaxed);
    let (mut rest_count, mut rest_bytes) = (0, 0);
    out.bytes(b"<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n");
    for (c, &n) in free.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let from = if c == 0 { 1 } else { class_size(c - 1) + 1 };
        let bsize = class_size(c);
        attr_line(
            out,
            b"  <size",
            &[
                (b"from", from),
                (b"to", bsize),
                (b"total", n * bsize),
                (b"count", n),
            ],
        );
        rest_count += n;
        rest_bytes += n * bsize;
    }
    out.bytes(b"</sizes>\n");
    let totals = |out: &mut _, mmap: bool| {
        attr_line(out, b"<total type=\"fast\"", &[(b"count", 0), (b"size", 0)]);
        attr_line(
            out,
            b"<total type=\"rest\"",
            &[(b"count", rest_count), (b"size", rest_bytes)],
        );
        if mmap {
            attr_line(
                out,
                b"<total type=\"mmap\"",
                &[(b"count", mmap_count), (b"size", mmap_bytes)],
            );
        }
        attr_line(out, b"<system type=\"current\"", &[(b"size", mapped)]);
        attr_line(out, b"<system type=\"max\"", &[(b"size", peak)]);
        attr_line(out, b"<aspace type=\"total\"", &[(b"size", mapped)]);
        attr_line(out, b"<aspace type=\"mprotect\"", &[(b"size", mapped)]);
    };
    totals(out, false);
    out.bytes(b"</heap>\n");
    totals(out, true);
    out.bytes(b"</malloc>\n");
}

/// `head` followed by ` name="value"` for each attribute, and `/>`.
fn attr_line(out: &mut impl Sink, head: &[u8], attrs: &[(&[u8], usize)]) {
    out.bytes(head);
    for &(name, v) in attrs {
        out.bytes(b" ");
        out.bytes(name);
        out.bytes(b"=\"");
        out.dec(v);
        out.bytes(b"\"");
    }
    out.bytes(b"/>\n");
}

/// Writes the statistics in a human form to `fd`.
pub fn print(fd: i32) {
    let s = collect();
    let mut out = Out::new(fd);
    let line = |out: &mut Out, label: &[u8], v: usize| {
        out.bytes(b"ft_malloc: ");
        out.bytes(label);
        out.dec(v);
        out.bytes(b"\n");
    };
    let counted: [(&[u8], usize); 8] = [
        (b"malloc calls          ", s.malloc_calls),
        (b"calloc calls          ", s.calloc_calls),
        (b"realloc calls         ", s.realloc_calls),
        (b"free calls            ", s.free_calls),
        (b"aligned calls         ", s.aligned_calls),
        (b"bytes requested       ", s.bytes_requested_total),
        (b"peak requested bytes  ", s.peak_requested),
        (b"misuses detected      ", s.misuses),
    ];
    if crate::debug::active() {
        for (label, v) in counted {
            line(&mut out, label, v);
        }
    } else {
        // Counting costs every call; it is on only with a debug variable. Say so rather
        // than print zeros.
        out.bytes(b"ft_malloc: call counts, bytes requested and misuses are kept only with a debug variable set (FT_MALLOC_STATS=1)\n");
    }
    line(&mut out, b"live blocks           ", s.live_blocks);
    line(&mut out, b"live requested bytes  ", s.live_requested);
    line(&mut out, b"live usable bytes     ", s.live_usable);
    line(&mut out, b"TINY zones            ", s.tiny_zones);
    line(&mut out, b"SMALL zones           ", s.small_zones);
    line(&mut out, b"LARGE blocks          ", s.large_blocks);
    line(&mut out, b"bytes mapped          ", s.mapped);
    line(&mut out, b"peak bytes mapped     ", s.peak_mapped);
    line(&mut out, b"mmap calls            ", s.mmap_calls);
    line(&mut out, b"munmap calls          ", s.munmap_calls);
    line(&mut out, b"madvise calls         ", s.madvise_calls);
    let f = s.fragmentation_permille();
    out.bytes(b"ft_malloc: fragmentation         ");
    out.dec(f / 10);
    out.bytes(b".");
    out.dec(f % 10);
    out.bytes(b"% (1 - requested / mapped)\n");
}

/// glibc's `struct mallinfo2`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct MallInfo2 {
    pub arena: usize,
    pub ordblks: usize,
    pub smblks: usize,
    pub hblks: usize,
    pub hblkhd: usize,
    pub usmblks: usize,
    pub fsmblks: usize,
    pub uordblks: usize,
    pub fordblks: usize,
    pub keepcost: usize,
}

/// `mallinfo2()` in ft_malloc's terms, with glibc's relations between the fields (`arena =
/// uordblks + fordblks`; the mmapped blocks, `hblks`/`hblkhd`, counted in neither): `arena` =
/// bytes of the TINY/SMALL zones holding live blocks, `ordblks` = those zones, `uordblks` =
/// usable bytes of the live blocks in them, `fordblks` = the rest of those zones, `hblks` /
/// `hblkhd` = LARGE blocks and the bytes of their mappings, `usmblks` = peak bytes mapped.
pub fn mallinfo2() -> MallInfo2 {
    let (s, large_bytes, large_usable) = collect_with_large_bytes();
    let arena = s.zone_bytes - large_bytes;
    let in_zones = s.live_usable - large_usable;
    MallInfo2 {
        arena,
        ordblks: s.tiny_zones + s.small_zones,
        smblks: 0,
        hblks: s.large_blocks,
        hblkhd: large_bytes,
        usmblks: s.peak_mapped,
        fsmblks: 0,
        uordblks: in_zones,
        fordblks: arena - in_zones,
        keepcost: 0,
    }
}

/// Prints the summary on standard error (glibc's `malloc_stats()`).
pub fn malloc_stats() {
    print(2);
}

/// glibc's older `struct mallinfo`: `int` fields.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct MallInfo {
    pub arena: i32,
    pub ordblks: i32,
    pub smblks: i32,
    pub hblks: i32,
    pub hblkhd: i32,
    pub usmblks: i32,
    pub fsmblks: i32,
    pub uordblks: i32,
    pub fordblks: i32,
    pub keepcost: i32,
}

/// `mallinfo2()` with every field cut to an `int`.
pub fn mallinfo() -> MallInfo {
    let m = mallinfo2();
    let c = |v: usize| v.min(i32::MAX as usize) as i32;
    MallInfo {
        arena: c(m.arena),
        ordblks: c(m.ordblks),
        smblks: c(m.smblks),
        hblks: c(m.hblks),
        hblkhd: c(m.hblkhd),
        usmblks: c(m.usmblks),
        fsmblks: c(m.fsmblks),
        uordblks: c(m.uordblks),
        fordblks: c(m.fordblks),
        keepcost: c(m.keepcost),
    }
}
