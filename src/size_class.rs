//! Size classes and the geometry of the zone that serves each one, all computed at compile time.
//!
//! Classes: 16 to 128 in steps of 16; then four classes per power of two up to 1 KiB (160,
//! 192, 224, 256, 320, ...), and five above (1152, 1280, 1536, 1792, 2048, 2304, ...) up to
//! `SMALL_MAX`. Internal waste is at most 25% (at the first class of a group below 1 KiB) and
//! every class is a multiple of 16, so every block is 16-aligned, as glibc's are (C11 asks
//! malloc(1) for the alignment of `max_align_t`; programs that tag the low four bits of their
//! pointers rely on it, and glibc's own tst-mallocalign1 checks it).

use crate::types::{
    MAX_ZONE_ALIGN, MIN_BLOCKS_PER_ZONE, SLICES_PER_SEGMENT, SLICE_SIZE, SMALL_MAX,
};

/// Number of size classes.
pub const CLASS_COUNT: usize = 45;

/// First class of the groups above 1 KiB, which have five classes each.
const FINE_FIRST: usize = 20;

/// Block size of class `c`.
pub const fn class_size(c: usize) -> usize {
    if c < 8 {
        16 * (c + 1)
    } else if c < FINE_FIRST {
        let group = (c - 8) / 4;
        let step = (c - 8) % 4;
        let base = 128 << group;
        base + (step + 1) * (base / 4)
    } else {
        let base = 1024 << ((c - FINE_FIRST) / 5);
        base + base / 8 * FINE_EIGHTHS[(c - FINE_FIRST) % 5]
    }
}

/// Above 1 KiB, the classes of a group `[base, 2 base]` are `base` plus this many eighths:
/// a first step of an eighth, since requests of a power of two plus a small header (a page of
/// 4096 bytes and its descriptor, a 1 KiB buffer and its length) are common and would waste a
/// fifth of their block at `1.25 base`.
const FINE_EIGHTHS: [usize; 5] = [1, 2, 4, 6, 8];

/// Class of a request of `size` bytes, computed (`size <= SMALL_MAX`).
pub const fn class_of_computed(size: usize) -> usize {
    if size <= 16 {
        0
    } else if size <= 128 {
        size.div_ceil(16) - 1
    } else if size <= 1024 {
        let bit = (usize::BITS - 1 - (size - 1).leading_zeros()) as usize; // floor(log2(size-1))
        let step = ((size - 1) >> (bit - 2)) & 3;
        8 + (bit - 7) * 4 + step
    } else {
        let bit = (usize::BITS - 1 - (size - 1).leading_zeros()) as usize;
        let base = 1 << bit;
        let eighths = (size - base).div_ceil(base / 8);
        let mut step = 0;
        while FINE_EIGHTHS[step] < eighths {
            step += 1;
        }
        FINE_FIRST + (bit - 10) * 5 + step
    }
}

/// Requests up to this size find their class in one table load (every small size: a 4 KiB
/// table, so `malloc` needs one comparison, against `SMALL_MAX`, before the load).
const TABLE_MAX: usize = SMALL_MAX;

const fn build_table() -> [u8; TABLE_MAX / 8 + 1] {
    let mut t = [0u8; TABLE_MAX / 8 + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = class_of_computed(i * 8) as u8;
        i += 1;
    }
    t
}

/// `CLASS_TABLE[(size + 7) / 8]` is the class of `size` for `size <= TABLE_MAX`.
static CLASS_TABLE: [u8; TABLE_MAX / 8 + 1] = build_table();

/// Requests up to this size take `malloc`'s direct path: the head of their class list is read
/// from the heap's `direct` table at `(size + 7) / 8`, with no class lookup (see `Heap`).
pub const DIRECT_MAX: usize = 1024;
/// Entries of a heap's `direct` table.
pub const DIRECT_ENTRIES: usize = DIRECT_MAX / 8 + 1;
/// The classes whose sizes the direct table covers: those up to `DIRECT_MAX`.
pub const DIRECT_CLASSES: usize = FINE_FIRST;
const _: () = assert!(class_size(DIRECT_CLASSES - 1) == DIRECT_MAX);

const fn build_direct_spans() -> [(u8, u8); DIRECT_CLASSES] {
    let mut spans = [(u8::MAX, 0u8); DIRECT_CLASSES];
    // Entry 0 (a request of 0 bytes) is left to the empty zone: `malloc(0)` takes the slow
    // path, which writes its `requested` entry as `ZERO_REQUEST`, so that the fast path
    // writes the size itself (see `types::request_entry`).
    let mut i = 1;
    while i < DIRECT_ENTRIES {
        let c = class_of_computed(i * 8);
        if spans[c].0 == u8::MAX {
            spans[c].0 = i as u8;
        }
        spans[c].1 = i as u8 + 1;
        i += 1;
    }
    spans
}

/// For each class `c < DIRECT_CLASSES`, the entries `[first, end)` of the direct table that
/// hold the head of its list (those of the sizes in the class: contiguous, since the class of
/// a size grows with the size).
pub static DIRECT_SPANS: [(u8, u8); DIRECT_CLASSES] = build_direct_spans();

/// Class of a request of `size` bytes (`size <= SMALL_MAX`).
#[inline(always)]
pub fn class_of(size: usize) -> usize {
    debug_assert!(size <= TABLE_MAX);
    // SAFETY: size <= SMALL_MAX = TABLE_MAX, so the index is at most TABLE_MAX / 8.
    unsafe { *CLASS_TABLE.get_unchecked((size + 7) >> 3) as usize }
}

/// Alignment of every block of class `c` relative to its zone (the lowest set bit of its size,
/// capped at `MAX_ZONE_ALIGN`). Zones are 64 KiB-aligned, so blocks are aligned this much.
pub const fn class_align(c: usize) -> usize {
    let s = class_size(c);
    let low = s & s.wrapping_neg();
    if low > MAX_ZONE_ALIGN {
        MAX_ZONE_ALIGN
    } else {
        low
    }
}

const fn align_up(x: usize, a: usize) -> usize {
    (x + a - 1) & !(a - 1)
}

/// Zone layout of one class over `slices` slices: `[pad][free stack: u16 × nblocks][requested:
/// u16 × nblocks][pad][blocks]`, the stack starting at one of `colours` cache lines, the array
/// right after it (`segment::requested_array`).
#[derive(Clone, Copy)]
pub struct Geometry {
    /// `ceil(2^64 / bsize)`: see [`block_index`] (first, so that its address is the entry's).
    pub magic: u64,
    /// Block size (the class size).
    pub bsize: usize,
    pub nblocks: usize,
    /// `nblocks * bsize`: block offsets are below this.
    pub span: usize,
    /// Offset of block 0 from the zone start.
    pub blocks_offset: usize,
    pub slices: usize,
    /// The cache lines, from the zone start, where the free stack may start: `colours` of them
    /// (a power of two), 0, 64, 128, ... (the `requested` array after it ends before
    /// `blocks_offset`).
    pub colours: usize,
}

/// Bytes kept in front of the blocks of the classes of `COLOUR_MIN_SIZE` bytes and up, beyond
/// their `requested` array, so that the array can start at one of several cache lines. Zones
/// start on slice boundaries (64 KiB): arrays at their very start would all sit at the same
/// offset modulo every cache's way size, and evict each other (`bench/ring`, random sizes of
/// up to 8 KiB: a cache miss on most `free`s). Their arrays are of 4 lines or less; a smaller
/// class's array spreads over many lines anyway, and the room would cost it more blocks. The
/// room costs at most two blocks of a zone, and none where the blocks' alignment leaves as
/// much already; a class whose first block it would push onto one more page goes without
/// (a zone's first block shares the page of its array: a thread that uses one block of a
/// class touches one page of its zone), and its array starts at one of the lines that the
/// alignment leaves.
const COLOUR_ROOM: usize = 1024;
const COLOUR_MIN_SIZE: usize = 512;

const fn blocks_fitting(c: usize, slices: usize, room: usize) -> usize {
    let zone = slices * SLICE_SIZE;
    let s = class_size(c);
    let a = class_align(c);
    let mut n = zone / (s + 4);
    while n > 0 && align_up(4 * n + room, a) + n * s > zone {
        n -= 1;
    }
    n
}

/// `ceil(2^64 / s)` for a block size `s >= 2` (the `magic` of [`block_index`]).
const fn magic_of(s: u64) -> u64 {
    (u64::MAX / s) + 1
}

/// The block at byte offset `off` from block 0 of a zone whose `magic` is `ceil(2^64 / bsize)`:
/// its index `off / bsize`, and whether `off` is a block start (`off % bsize == 0`). One
/// 64x64->128 multiply gives both (Lemire, Kaser and Kurz, "Faster remainder by direct
/// computation", 2019: with `c = ceil(2^64 / d)` and `n, d < 2^32`, `n / d` is the high half
/// of `n * c`, and `d` divides `n` exactly when the low half is below `c`). Valid for
/// `off < 2^32`; zones are smaller than a segment (4 MiB). A `magic` of 0 (the entries past
/// the last class) says no offset is a block start.
///
/// In assembly, so that `mul` and the compare both read `magic` from memory: rustc loads it
/// into a register and copies one of the factors (one more instruction on every `malloc` and
/// `free`). Callers keep `magic` first in its structure, so that its address is the
/// structure's, already in a register.
#[inline(always)]
pub fn block_index(off: usize, magic: &u64) -> (usize, bool) {
    let low: u64;
    let high: u64;
    // SAFETY: `magic` is a valid reference; `mul` reads it and writes only rax, rdx and the
    // flags.
    unsafe {
        core::arch::asm!(
            "mul qword ptr [{m}]",
            m = in(reg) magic,
            inout("rax") off as u64 => low,
            out("rdx") high,
            options(pure, readonly, nostack),
        );
    }
    (high as usize, low < *magic)
}

/// The layout of class `c` with `room` bytes kept in front of the blocks.
const fn layout(c: usize, room: usize) -> Geometry {
    let mut slices = 1;
    while blocks_fitting(c, slices, room) < MIN_BLOCKS_PER_ZONE {
        slices += 1;
    }
    let nblocks = blocks_fitting(c, slices, room);
    let s = class_size(c) as u64;
    let blocks_offset = align_up(4 * nblocks + room, class_align(c));
    Geometry {
        bsize: s as usize,
        magic: magic_of(s),
        nblocks,
        span: nblocks * s as usize,
        blocks_offset,
        slices,
        colours: floor_power_of_two(min((blocks_offset - 4 * nblocks) / 64 + 1, MAX_COLOURS)),
    }
}

/// Colours of a zone's array at most (kept in 8 bits of its slice map entries).
const MAX_COLOURS: usize = 256;

const fn min(a: usize, b: usize) -> usize {
    if a < b {
        a
    } else {
        b
    }
}

/// The largest power of two at most `n` (`n >= 1`): colours are picked with a mask, not a
/// division (`free` of another thread's block computes its array's place).
const fn floor_power_of_two(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.leading_zeros())
}

/// The pages a zone's first block reaches into.
const fn first_block_pages(g: &Geometry) -> usize {
    (g.blocks_offset + g.bsize).div_ceil(crate::types::PAGE_SIZE)
}

const fn geometry(c: usize) -> Geometry {
    let plain = layout(c, 0);
    if class_size(c) < COLOUR_MIN_SIZE {
        return plain;
    }
    let roomy = layout(c, COLOUR_ROOM);
    if roomy.slices == plain.slices && first_block_pages(&roomy) == first_block_pages(&plain) {
        roomy
    } else {
        plain
    }
}

/// Entries of `GEOMETRY`: a power of two above `CLASS_COUNT`, so that a class read from a zone
/// descriptor can be masked into the table; the entries past the last class have `span` 0,
/// which no block offset passes.
pub const GEOMETRY_ENTRIES: usize = 64;

const fn build_geometry() -> [Geometry; GEOMETRY_ENTRIES] {
    let mut g = [Geometry {
        bsize: 0,
        magic: 0,
        nblocks: 0,
        span: 0,
        blocks_offset: 0,
        slices: 0,
        colours: 1,
    }; GEOMETRY_ENTRIES];
    let mut c = 0;
    while c < CLASS_COUNT {
        g[c] = geometry(c);
        c += 1;
    }
    g
}

/// Zone geometry of every class.
pub static GEOMETRY: [Geometry; GEOMETRY_ENTRIES] = build_geometry();

// Compile-time checks of the table's promises.
const _: () = {
    assert!(class_size(CLASS_COUNT - 1) == SMALL_MAX);
    assert!(class_of_computed(SMALL_MAX) == CLASS_COUNT - 1);
    let g = build_geometry();
    let mut c = 0;
    while c < CLASS_COUNT {
        assert!(g[c].nblocks >= MIN_BLOCKS_PER_ZONE);
        assert!(g[c].slices < SLICES_PER_SEGMENT);
        assert!(g[c].nblocks <= u16::MAX as usize);
        c += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_gets_the_smallest_fitting_class() {
        for size in 0..=SMALL_MAX {
            let c = class_of(size);
            assert!(class_size(c) >= size, "size {size} class {c}");
            if c > 0 {
                assert!(class_size(c - 1) < size, "size {size} not smallest");
            }
            // every block 16-aligned, for every size
            assert_eq!(class_size(c) % 16, 0);
            // internal waste: under 16 bytes up to 128, at most 25% above
            if size > 128 {
                assert!((class_size(c) - size) * 4 <= class_size(c), "size {size}");
            } else {
                assert!(class_size(c) - size.max(1) < 16, "size {size}");
            }
        }
    }

    #[test]
    fn direct_spans_cover_each_size_of_their_class() {
        // Entry 0 (requests of 0 bytes) is in no span: it keeps the empty zone.
        let mut next = 1;
        for (c, &(first, end)) in DIRECT_SPANS.iter().enumerate() {
            assert_eq!(first as usize, next, "class {c}");
            assert!(end > first);
            for i in first as usize..end as usize {
                assert_eq!(class_of(i * 8), c);
            }
            next = end as usize;
        }
        assert_eq!(next, DIRECT_ENTRIES);
    }

    #[test]
    fn block_index_is_exact_for_every_offset_of_every_zone() {
        for (c, &g) in GEOMETRY.iter().enumerate().take(CLASS_COUNT) {
            let s = class_size(c);
            assert_eq!(g.magic, (u64::MAX as u128 + 1).div_ceil(s as u128) as u64);
            // every offset of the blocks area, and a few past it
            for off in 0..g.span + 2 * s {
                assert_eq!(
                    block_index(off, &g.magic),
                    (off / s, off % s == 0),
                    "class {c}"
                );
            }
        }
        // the whole range the callers may pass (below 4 MiB), for the extreme sizes
        for s in [8u64, 24, 48, 1u64 << 15, 28672] {
            let m = magic_of(s);
            for off in (0..(4usize << 20)).step_by(7) {
                let o = off as u64;
                assert_eq!(
                    block_index(off, &m),
                    ((o / s) as usize, o.is_multiple_of(s)),
                    "size {s}"
                );
            }
        }
        assert_eq!(block_index(12345, &0), (0, false));
    }

    #[test]
    fn zones_hold_at_least_100_blocks_and_are_page_multiples() {
        for (c, &g) in GEOMETRY.iter().enumerate().take(CLASS_COUNT) {
            assert!(g.nblocks >= MIN_BLOCKS_PER_ZONE);
            assert_eq!((g.slices * SLICE_SIZE) % crate::types::PAGE_SIZE, 0);
            assert!(g.blocks_offset + g.nblocks * class_size(c) <= g.slices * SLICE_SIZE);
            assert!(g.blocks_offset >= 4 * g.nblocks);
            // the last colour's array ends before the blocks
            assert!((g.colours - 1) * 64 + 4 * g.nblocks <= g.blocks_offset);
            assert!(g.colours >= 1);
            assert!(g.colours.is_power_of_two());
            if class_size(c) >= COLOUR_MIN_SIZE {
                // 2 for 3584 bytes (7 x 512): the room would push its first block onto a
                // second page.
                assert!(g.colours >= 2, "class {c}");
            }
            assert_eq!(g.blocks_offset % class_align(c), 0);
        }
    }
}
