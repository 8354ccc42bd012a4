//! LARGE blocks (above `SMALL_MAX`, or aligned beyond `MAX_ZONE_ALIGN`): each a page-aligned
//! range of its own, shared with no other block.
//!
//! A table, keyed by the block's address, records every live LARGE block (mapping length and
//! requested size), so `free` of a pointer that is not ours is recognised without touching it.
//! Blocks up to `BIN_MAX` get a length class (four per doubling of pages: 40, 48, 56, 64, 80
//! KiB, ...), and a freed block of a class length waits in the bin of its class, a ring of at
//! most `BIN_CAP` blocks (`BIN_BYTES` in all bins), for the next request of that class: taken as
//! it is, in O(1), with no split or join. So a program that keeps thousands of medium blocks
//! live and replaces them at random reuses freed mappings instead of mapping new ones.
//!
//! Other freed mappings (and what the bins pass on) are kept in a cache of free ranges (at most
//! `CACHE_SLOTS` ranges; with the bins at most `CACHE_BYTES` bytes, each unmapped after
//! `CACHE_EXPIRY_MS` unused; out of slots, the smallest range goes):
//! - a request takes the smallest range that fits, splitting a larger one; a block that
//!   `realloc` moves because it grows takes the longest, to grow into what follows it;
//! - a freed block joins the cached ranges next to it;
//! - a growing `realloc` extends into the range after it (a block that `realloc` moves because
//!   it grows gets, on a fresh mapping of up to `GROW_ROOM_MAX` bytes, as much again of
//!   untouched room behind it, which other requests pass over: `ROOM`);
//! - a request that no range fits joins a fresh mapping to a cached range whose pages are in
//!   memory, below or above it (`take_extended`, which backs off after failures), so that most
//!   of its pages need no fault;
//! - otherwise it maps at least `MISS_MAP_MIN` bytes: what its block leaves is cached as an
//!   untouched range, which later requests split (after the ranges in memory), so that a
//!   program that keeps thousands of LARGE blocks makes a system call per dozen of them;
//! - a request that maps afresh gives back the cached ranges in memory of at least half its
//!   length (`take_near_misses`): what it faults in replaces them, instead of adding to them
//!   (leftovers of a block of about that size, which requests of that size keep missing, or a
//!   big block's range that a bigger request could not use);
//!
//! So a malloc/free loop of LARGE blocks does not map and unmap on every turn, and their pages
//! are not faulted in again.
//!
//! Locks (none held across a system call, and never two at once):
//! - the table of live blocks is split in `SHARDS` shards by address hash, each under a lock of
//!   its own (`Shard`), so that `free` finds a block, and `malloc` records one, without waiting
//!   for threads that work on other blocks;
//! - the cache (ranges and bins) is under `LargeState::lock`;
//! - in front of it, each thread's heap keeps a few blocks of class lengths that it freed
//!   (`LargeFront`), for its own next requests: a thread that allocates and frees such blocks
//!   in a loop takes one shard lock per call, and no lock that other threads need.

use core::ptr;

use crate::os;
use crate::registry::REGISTRY;
use crate::state::{Guarded, G};
use crate::sync::SpinLock;
use crate::types::{Heap, LargeFront, LARGE_FRONT_SLOTS, PAGE_SIZE, SMALL_MAX};
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicU64, AtomicUsize};

/// One live LARGE block.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct LargeBlock {
    /// Address handed to the user. 0 = empty table slot.
    pub addr: usize,
    /// The mapping's start: `addr` itself, except for guarded blocks.
    pub base: usize,
    /// Mapping length (a page multiple), guard page included.
    pub len: usize,
    /// Size the user asked for.
    pub requested: usize,
    /// Bytes usable from `addr` (up to the mapping's end, or to the guard page).
    pub usable: usize,
    /// The block was made by a growing `realloc`, or grew in place: freed, it goes back as a
    /// range (joinable, with any room left behind it), not to the bin of its length.
    pub grows: bool,
    /// Growing in place, the block asks for `len >> room_shift` bytes more than it needs
    /// (`resize_in_place`); each time the kernel has no room for that behind it, the shift
    /// grows (0 stands for `ROOM_SHIFT_FIRST`).
    pub room_shift: u8,
}

impl LargeBlock {
    /// Whether an inaccessible guard page follows the block (FT_MALLOC_GUARD).
    pub fn guarded(&self) -> bool {
        self.addr + self.usable != self.base + self.len
    }
}

const EMPTY: LargeBlock = LargeBlock {
    addr: 0,
    base: 0,
    len: 0,
    requested: 0,
    usable: 0,
    grows: false,
    room_shift: 0,
};

/// Freed mappings kept for reuse.
pub const CACHE_SLOTS: usize = 1024;
/// Bytes of freed mappings (cached ranges and binned blocks) kept for reuse at most. (Letting
/// it follow the recent peak of live LARGE bytes made a program that frees 320 MB of LARGE
/// blocks and allocates them again 25% faster, but one that alternates 300 MB of LARGE blocks
/// with 300 MB of small ones peaked at 652 MB instead of 466 MB: memory comes first.)
pub const CACHE_BYTES: usize = 128 << 20;
/// The recent peak of live class-length bytes halves (down to the live ones) once per this
/// many milliseconds.
const PEAK_HALF_LIFE_MS: u64 = 1000;
/// A cached mapping unused for this long is unmapped at the next LARGE operation.
pub const CACHE_EXPIRY_MS: u64 = 250;
/// A fresh LARGE mapping up to this size gets as much again behind it for growth.
const GROW_ROOM_MAX: usize = 4 << 20;
/// A miss (no cached memory fits) maps at least this much: the block, and behind it spare
/// address space, cached as a free range whose pages are not touched, from which the next
/// misses take their blocks without a system call. A program that keeps thousands of LARGE
/// blocks live maps a chunk per dozen or so of them instead of one mapping each, and each
/// `mmap`, which takes the address space's lock for writing, no longer holds up the page
/// faults of the other threads (mimalloc-bench's mstress with 2 threads: 1,986 `mmap` calls
/// and 2,100-2,500 voluntary context switches a run).
const MISS_MAP_MIN: usize = 1 << 20;
/// LARGE blocks up to this length are given a length class and, freed, wait in the bin of
/// their class (below).
pub const BIN_MAX: usize = 1 << 20;
/// The smallest LARGE length in pages (a request just above `SMALL_MAX`).
const BIN_MIN_PAGES: usize = crate::types::SMALL_MAX / PAGE_SIZE + 1;
/// Length classes up to `BIN_MAX`: four per power of two of pages above `BIN_MIN_PAGES`.
pub const BINS: usize = 4 * (BIN_MAX.trailing_zeros() - PAGE_SIZE.trailing_zeros() - 3) as usize;
/// Freed blocks each bin holds at most (its oldest becomes a cached range to make room).
const BIN_CAP: usize = 512;
/// Bytes the bins hold at most together, or the recent peak of live blocks of class lengths
/// when that is more (beyond, their oldest blocks become cached ranges): binned blocks serve
/// only their own class, unlike cached ranges, which any smaller request can use.
const BIN_BYTES: usize = 32 << 20;
const _: () = assert!(BIN_MIN_PAGES > 8 && BIN_MIN_PAGES <= 16 && BIN_CAP.is_power_of_two());

/// The bin and the length (a page multiple) of the class of a LARGE request of `need` bytes
/// (a page multiple, at most `BIN_MAX`): `need` rounded up to four steps per power of two of
/// pages (40 KiB, 48 KiB, 56 KiB, 64 KiB, 80 KiB, ...), at most 25% more.
pub fn bin_of(need: usize) -> (usize, usize) {
    let pages = (need / PAGE_SIZE).max(BIN_MIN_PAGES);
    let k = (usize::BITS - 1 - (pages - 1).leading_zeros()) as usize; // floor(log2(pages - 1))
    let bin = (k - 3) * 4 + (((pages - 1) >> (k - 2)) & 3);
    (bin, bin_len(bin))
}

/// `take_extended` skips at most this many misses after failures in a row (a power of two).
const EXTEND_SKIP_MAX: u32 = 64;
/// Ranges one cache operation takes out of the cache at most, for its caller to unmap after the
/// lock (`Evictions`): no system call is made under `G.large.lock`. (Beyond four, `cache_put`
/// used to unmap under the lock: two threads of mimalloc-bench's mstress, freeing their
/// retained blocks at exit with the cache at its cap, made 1,357 `sched_yield` calls waiting
/// for it; now none.)
const EVICT_MAX: usize = 8;
/// Cached ranges that a fresh mapping gives back at most (`take_near_misses`).
const NEAR_MISSES_MAX: usize = 4;
/// Blocks that one `cache_put` passes on at most from the bins to the ranges (beyond, the
/// bins' oldest blocks are unmapped).
const PASS_ON_MAX: usize = 4;

/// The ranges a cache operation took out of the cache, for the caller to unmap once the lock
/// is released (`unmap_all`). An operation keeps room for what it must still evict: when the
/// list has no more, it evicts the range it was given rather than go over `CACHE_BYTES`, and
/// leaves the bins over their limit, or expired entries cached, to the next operations.
struct Evictions {
    list: [(usize, usize); EVICT_MAX],
    n: usize,
}

impl Evictions {
    const fn new() -> Self {
        Evictions {
            list: [(0, 0); EVICT_MAX],
            n: 0,
        }
    }

    /// Whether one more range fits with `keep` places still free after it.
    fn has_room(&self, keep: usize) -> bool {
        self.n + 1 + keep <= EVICT_MAX
    }

    /// Adds range `e` (the callers check `has_room` first; were the list full, `e` would be
    /// unmapped at once rather than lost).
    fn push(&mut self, e: (usize, usize)) {
        if self.n < EVICT_MAX {
            self.list[self.n] = e;
            self.n += 1;
        } else {
            os::unmap(e.0 as *mut u8, e.1);
        }
    }
}
/// Set in a cache entry's stamp when its pages may be in memory (a freed block's range, as
/// opposed to untouched room or a range already purged).
const TOUCHED: u64 = 1 << 63;
/// Set in a cache entry's stamp when it is the untouched room left behind a block that
/// `realloc` moved because it grew (see `alloc_with`): kept for that block to grow into, so
/// `cache_take` passes it over (a range that joins another loses the mark).
const ROOM: u64 = 1 << 62;
/// The flags of a cache entry's stamp (the rest is the time).
const FLAGS: u64 = TOUCHED | ROOM;

/// Freed blocks of one length class, newest on top: a ring of `(address, stamp)`, the stamp
/// being when the block was freed (blocks were in use, so their pages may be in memory).
/// Taking the newest and dropping the oldest are O(1); blocks are never split or joined.
#[derive(Clone, Copy)]
struct Bin {
    ring: [(usize, u64); BIN_CAP],
    /// Ring index of the oldest entry.
    bottom: usize,
    count: usize,
}

impl Bin {
    const EMPTY: Bin = Bin {
        ring: [(0, 0); BIN_CAP],
        bottom: 0,
        count: 0,
    };

    fn oldest(&self) -> Option<u64> {
        (self.count > 0).then(|| self.ring[self.bottom].1)
    }

    fn push(&mut self, addr: usize, now: u64) {
        self.ring[(self.bottom + self.count) % BIN_CAP] = (addr, now);
        self.count += 1;
    }

    fn pop_newest(&mut self) -> Option<usize> {
        if self.count == 0 {
            return None;
        }
        self.count -= 1;
        Some(self.ring[(self.bottom + self.count) % BIN_CAP].0)
    }

    fn pop_oldest(&mut self) -> Option<usize> {
        if self.count == 0 {
            return None;
        }
        let a = self.ring[self.bottom].0;
        self.bottom = (self.bottom + 1) % BIN_CAP;
        self.count -= 1;
        Some(a)
    }
}

/// Where the oldest cached memory is (`LargeInner::oldest`).
#[derive(Clone, Copy)]
enum Oldest {
    /// Cached range `k`.
    Range(usize),
    /// The oldest block of bin `bin`.
    Bin(usize),
}

/// The length of the blocks of bin `bin` (see `bin_of`).
fn bin_len(bin: usize) -> usize {
    let k = bin / 4 + 3;
    ((1 << k) + ((bin % 4 + 1) << (k - 2))) * PAGE_SIZE
}

/// Whether block `b` goes to a bin when freed.
fn binnable(b: &LargeBlock) -> bool {
    !b.grows && !b.guarded() && exact_bin(b.len).is_some()
}

/// The bin of a freed range of exactly `len` bytes, if `len` is a class length.
fn exact_bin(len: usize) -> Option<usize> {
    if !(BIN_MIN_PAGES * PAGE_SIZE..=BIN_MAX).contains(&len) || !len.is_multiple_of(PAGE_SIZE) {
        return None;
    }
    let (bin, class_len) = bin_of(len);
    (class_len == len).then_some(bin)
}

pub struct LargeInner {
    /// Cached free mappings: the first `cached` entries of `CACHE_STORE`.
    cached: usize,
    cached_bytes: usize,
    /// `take_extended` attempts left to skip, and the failures in a row that set it (each
    /// failure doubles the skip, up to `EXTEND_SKIP_MAX`): when the address space around
    /// cached ranges is taken, asking the kernel again on every miss would be a failing
    /// system call per miss.
    extend_skip: u32,
    extend_fails: u32,
    /// Bytes of the blocks in the bins (part of `cached_bytes`).
    binned_bytes: usize,
    /// When the shards' recent peaks of live class-length bytes last halved (`bin_limit`).
    peak_at: u64,
    /// No cached entry expires before this time (`os::now_ms`): see `cache_put`.
    expire_from: u64,
}

/// `LargeInner::expire_from`, read without the lock: a free into a thread's front that finds
/// it past runs the shared cache's expiry (`front_put`). (Without it, a thread that took its
/// block from the shared bins and freed it into its front expired nothing there: eight threads
/// that freed 100 MiB of buffers and went idle kept them however long the main thread went on
/// allocating and freeing a buffer now and then.)
static EXPIRE_DUE: AtomicU64 = AtomicU64::new(0);

/// Freed blocks of the length classes up to `BIN_MAX`, by class (a static of its own: `Globals`
/// fits one page). Guarded by `G.large.lock`, like `LargeInner`, through which alone it is
/// reached. Their bytes count in `cached_bytes` and they expire like cached ranges.
static BIN_STORE: Guarded<[Bin; BINS]> = Guarded::new([Bin::EMPTY; BINS]);

/// Cached free mappings `(addr, len, stamp)`, in no particular order; `LargeInner::cached` of
/// them in use. The stamp is when the range (its oldest joined piece) was cached
/// (`os::now_ms`), with `TOUCHED` set if its pages may be in memory. A static of its own, like
/// `BIN_STORE`, guarded by `G.large.lock` and reached through `LargeInner` alone.
static CACHE_STORE: Guarded<[(usize, usize, u64); CACHE_SLOTS]> =
    Guarded::new([(0, 0, 0); CACHE_SLOTS]);

/// Number of shards of the table of live blocks (a power of two).
pub const SHARDS: usize = 64;

/// The live blocks whose address hashes to one shard: an open-addressing table (linear
/// probing, backward-shift deletion), under the shard's own lock. A block is recorded in one
/// shard, found by its address alone, so threads that allocate and free LARGE blocks at once
/// rarely wait for the same lock; the cache of freed ranges is apart (`LargeState`).
pub struct Table {
    table: *mut LargeBlock,
    cap: usize,
    count: usize,
}

/// One shard of the live-block table: its lock on a cache line of its own, what the lock
/// guards on the next. (With both on one line, the holder's writes to the table's count and
/// the live bytes took the line back from every thread spinning on the lock: 16 threads
/// replacing random LARGE buffers spent 56% of their time in `take` and `record`.)
#[repr(C, align(64))]
pub struct Shard {
    pub lock: SpinLock,
    _lock_line: [u8; 64 - size_of::<SpinLock>()],
    table: Guarded<Table>,
    /// Bytes of the live blocks of class lengths recorded here (those that go to the bins
    /// when freed), and their recent peak. Written under the lock; read without it by
    /// `LargeInner::bin_limit`, which also halves the peak (a lost update there is harmless).
    class_live: AtomicUsize,
    class_peak: AtomicUsize,
}

impl Shard {
    const fn new() -> Self {
        Shard {
            lock: SpinLock::new(),
            _lock_line: [0; 64 - size_of::<SpinLock>()],
            table: Guarded::new(Table {
                table: ptr::null_mut(),
                cap: 0,
                count: 0,
            }),
            class_live: AtomicUsize::new(0),
            class_peak: AtomicUsize::new(0),
        }
    }

    /// Runs `f` on the shard's table with its lock held.
    fn with<R>(&self, f: impl FnOnce(&mut Table) -> R) -> R {
        self.lock.lock();
        // SAFETY: the lock is held, so this is the only reference to the table.
        let r = f(unsafe { &mut *self.table.get() });
        self.lock.unlock();
        r
    }

    /// Counts live block `b` (with the lock held).
    fn add_live(&self, b: &LargeBlock) {
        if binnable(b) {
            let live = self.class_live.load(Relaxed) + b.len;
            self.class_live.store(live, Relaxed);
            if live > self.class_peak.load(Relaxed) {
                self.class_peak.store(live, Relaxed);
            }
        }
    }

    /// Stops counting live block `b` (with the lock held).
    fn sub_live(&self, b: &LargeBlock) {
        if binnable(b) {
            self.class_live
                .store(self.class_live.load(Relaxed) - b.len, Relaxed);
        }
    }
}

/// Slots of a shard's table when it is first made: a page (the table grows by doubling when
/// half full).
const FIRST_CAP: usize = (PAGE_SIZE / size_of::<LargeBlock>()).next_power_of_two() / 2;
const _: () = assert!(FIRST_CAP * size_of::<LargeBlock>() <= PAGE_SIZE && FIRST_CAP >= 32);

/// The shards of the live-block table.
pub static LIVE: [Shard; SHARDS] = [const { Shard::new() }; SHARDS];

/// The hash of a LARGE block's address (page-aligned): `shard_of` takes its top bits, `home`
/// bits below them.
#[inline]
fn addr_hash(addr: usize) -> usize {
    (addr >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The shard where a block at `addr` is recorded.
fn shard_of(addr: usize) -> &'static Shard {
    &LIVE[addr_hash(addr) >> (usize::BITS - SHARDS.trailing_zeros())]
}

/// Runs `f` on the live block at `addr` (its table and slot) with its shard's lock held; None
/// when no live block starts there.
fn with_live<R>(addr: usize, f: impl FnOnce(&Shard, &mut Table, usize) -> R) -> Option<R> {
    let shard = shard_of(addr);
    shard.with(|t| {
        let i = t.find(addr)?;
        Some(f(shard, t, i))
    })
}

impl Table {
    /// Slot of `addr`, if present.
    fn find(&self, addr: usize) -> Option<usize> {
        if self.cap == 0 || addr == 0 {
            return None;
        }
        let mut i = home(addr, self.cap);
        loop {
            // SAFETY: i < cap and the table holds cap slots.
            let e = unsafe { &*self.table.add(i) };
            if e.addr == addr {
                return Some(i);
            }
            if e.addr == 0 {
                return None;
            }
            i = (i + 1) & (self.cap - 1);
        }
    }

    fn put(table: *mut LargeBlock, cap: usize, b: LargeBlock) {
        let mut i = home(b.addr, cap);
        // SAFETY: i < cap; the table has a free slot (load factor at most 1/2).
        unsafe {
            while (*table.add(i)).addr != 0 {
                i = (i + 1) & (cap - 1);
            }
            *table.add(i) = b;
        }
    }

    /// Grows the table when needed; returns the table to unmap afterwards (outside the lock),
    /// or None when a new table could not be mapped.
    fn reserve(&mut self) -> Option<(usize, usize)> {
        if (self.count + 1) * 2 <= self.cap {
            return Some((0, 0));
        }
        let cap = if self.cap == 0 {
            FIRST_CAP
        } else {
            self.cap * 2
        };
        let bytes = cap * size_of::<LargeBlock>();
        let t = os::map(bytes, 0) as *mut LargeBlock;
        if t.is_null() {
            return None;
        }
        for i in 0..self.cap {
            // SAFETY: i < old cap.
            let e = unsafe { *self.table.add(i) };
            if e.addr != 0 {
                Self::put(t, cap, e);
            }
        }
        let old = (self.table as usize, self.cap * size_of::<LargeBlock>());
        self.table = t;
        self.cap = cap;
        Some(old)
    }

    fn remove_at(&mut self, mut i: usize) -> LargeBlock {
        let mask = self.cap - 1;
        // SAFETY: every index is masked below cap.
        unsafe {
            let removed = *self.table.add(i);
            *self.table.add(i) = EMPTY;
            let mut j = i;
            loop {
                j = (j + 1) & mask;
                let e = *self.table.add(j);
                if e.addr == 0 {
                    break;
                }
                let h = home(e.addr, self.cap);
                // Move e back to i when its home is not in (i, j] (cyclically).
                let in_range = if i <= j {
                    h > i && h <= j
                } else {
                    h > i || h <= j
                };
                if !in_range {
                    *self.table.add(i) = e;
                    *self.table.add(j) = EMPTY;
                    i = j;
                }
            }
            self.count -= 1;
            removed
        }
    }

    /// The live block in slot `i` (below `cap`).
    fn at(&mut self, i: usize) -> &mut LargeBlock {
        // SAFETY: i < cap (callers pass slots that `find` returned).
        unsafe { &mut *self.table.add(i) }
    }
}

/// The LARGE cache's state, its lock on a cache line of its own (see `Shard`).
#[repr(C, align(64))]
pub struct LargeState {
    pub lock: SpinLock,
    _lock_line: [u8; 64 - size_of::<SpinLock>()],
    inner: Guarded<LargeInner>,
}

impl LargeState {
    pub const fn new() -> Self {
        LargeState {
            lock: SpinLock::new(),
            _lock_line: [0; 64 - size_of::<SpinLock>()],
            inner: Guarded::new(LargeInner {
                cached: 0,
                cached_bytes: 0,
                extend_skip: 0,
                extend_fails: 0,
                binned_bytes: 0,
                peak_at: 0,
                expire_from: 0,
            }),
        }
    }
}

impl Default for LargeState {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn home(addr: usize, cap: usize) -> usize {
    (addr_hash(addr) >> 20) & (cap - 1)
}

impl LargeInner {
    fn bins(&self) -> &[Bin; BINS] {
        // SAFETY: a `LargeInner` is reached only under `G.large.lock` (`with_inner`), which
        // guards BIN_STORE too.
        unsafe { &*BIN_STORE.get() }
    }

    fn bins_mut(&mut self) -> &mut [Bin; BINS] {
        // SAFETY: as in `bins`; `&mut self` makes this the only reference.
        unsafe { &mut *BIN_STORE.get() }
    }

    fn ranges(&self) -> &[(usize, usize, u64); CACHE_SLOTS] {
        // SAFETY: a `LargeInner` is reached only under `G.large.lock` (`with_inner`), which
        // guards CACHE_STORE too.
        unsafe { &*CACHE_STORE.get() }
    }

    fn ranges_mut(&mut self) -> &mut [(usize, usize, u64); CACHE_SLOTS] {
        // SAFETY: as in `ranges`; `&mut self` makes this the only reference.
        unsafe { &mut *CACHE_STORE.get() }
    }

    /// The most bytes the bins may hold now: `BIN_BYTES`, or the recent peak of live
    /// class-length bytes (all within `CACHE_BYTES`).
    /// (The sum of the shards' peaks: at least the peak of their sum.)
    fn bin_limit(&mut self, now: u64) -> usize {
        let halve = now >= self.peak_at + PEAK_HALF_LIFE_MS;
        if halve {
            self.peak_at = now;
        }
        let mut peak = 0;
        for shard in &LIVE {
            let mut p = shard.class_peak.load(Relaxed);
            if halve {
                p = (p / 2).max(shard.class_live.load(Relaxed));
                shard.class_peak.store(p, Relaxed);
            }
            peak += p;
        }
        BIN_BYTES.max(peak)
    }

    /// Removes cache entry `k`.
    fn cache_remove(&mut self, k: usize) -> (usize, usize, u64) {
        let e = self.ranges()[k];
        let n = self.cached;
        self.ranges_mut().copy_within(k + 1..n, k);
        self.cached -= 1;
        self.cached_bytes -= e.1;
        e
    }

    /// Takes `need` bytes from the smallest cached range of at least `need` bytes whose pages
    /// may be in memory, or else from the smallest untouched one (spare address space behind
    /// a miss, see `MISS_MAP_MIN`: taking it faults pages in, as a miss would). A larger range
    /// is split: its head is taken, its tail stays cached (pieces of one mapping can be used
    /// and unmapped separately, and `cache_put` joins neighbours again).
    ///
    /// Returns the range taken and whether its pages may be in memory: a remainder under a
    /// quarter of `need` comes along as slack, which lets a growing `realloc` stay in place.
    fn cache_take(&mut self, need: usize) -> Option<(usize, usize, bool)> {
        // The best range per kind: [untouched, touched].
        let mut best: [Option<usize>; 2] = [None; 2];
        for k in 0..self.cached {
            let (_, len, at) = self.ranges()[k];
            let kind = usize::from(at & TOUCHED != 0);
            if len >= need && at & ROOM == 0 && best[kind].is_none_or(|b| len < self.ranges()[b].1)
            {
                best[kind] = Some(k);
            }
        }
        Some(self.cache_split(best[1].or(best[0])?, need))
    }

    /// Takes `need` bytes from cached range `k` (at least that long): its head, its tail staying
    /// cached, or all of it when the remainder would be under a quarter of `need` (slack that
    /// lets a growing `realloc` stay in place). Returns the range taken and whether its pages
    /// may be in memory.
    fn cache_split(&mut self, k: usize, need: usize) -> (usize, usize, bool) {
        let (addr, len, at) = self.ranges()[k];
        let touched = at & TOUCHED != 0;
        if len - need > need / 4 {
            self.ranges_mut()[k] = (addr + need, len - need, at);
            self.cached_bytes -= need;
            (addr, need, touched)
        } else {
            self.cache_remove(k);
            (addr, len, touched)
        }
    }

    /// `cache_take` for a block that `realloc` moves because it grows: takes `need` bytes from
    /// the longest cached range (not room kept for another block) rather than the shortest
    /// that fits, so that the block can go on growing into what follows it.
    ///
    /// (A vector doubled from 16 B to 1 MiB, freed and doubled again, took the smallest range
    /// that fit at each move: the leftovers of earlier rounds, with no room behind them, so
    /// that it moved once a round at 512 KiB, copying 512 KiB: 0.46 s for 20,000 rounds,
    /// against 0.05 s for glibc and 0.13 s for jemalloc; now 0.12 s. Keeping, besides, as
    /// much again behind the block as its room, which other requests pass over, as behind a
    /// fresh mapping, made 4 threads of 16 vectors doubled to 4 MiB, shrunk and freed at random
    /// fault in twice the pages: those rooms, in memory, filled the cache and pushed out the
    /// ranges that other requests could use.)
    fn cache_take_growing(&mut self, need: usize) -> Option<(usize, usize, bool)> {
        let k = (0..self.cached)
            .filter(|&k| self.ranges()[k].1 >= need && self.ranges()[k].2 & ROOM == 0)
            .max_by_key(|&k| self.ranges()[k].1)?;
        Some(self.cache_split(k, need))
    }

    /// A miss of `need` bytes is about to fault in a fresh mapping: takes out of the cache, for
    /// the caller to unmap, the cached ranges whose pages may be in memory and that are at least
    /// half as long as `need` (near misses: what is left of a block of about this size, which
    /// requests of this size will keep missing, or the range of a freed block that this bigger
    /// one could not use). With a sixteenth instead of a half, the `large` workload peaked at
    /// 131 MiB instead of 101 in two runs of five (whether a fresh mapping could be joined to
    /// a cached range depends on where the kernel puts mappings), and took 0.07 s instead of
    /// 0.09-0.10 s.
    fn take_near_misses(&mut self, need: usize) -> [(usize, usize); NEAR_MISSES_MAX] {
        let mut taken = [(0, 0); NEAR_MISSES_MAX];
        for slot in taken.iter_mut() {
            let Some(k) = (0..self.cached)
                .find(|&k| self.ranges()[k].2 & TOUCHED != 0 && self.ranges()[k].1 >= need / 2)
            else {
                break;
            };
            let (a, len, _) = self.cache_remove(k);
            *slot = (a, len);
        }
        taken
    }

    /// Takes `need` bytes at exactly `addr` from a cached range starting there (growing a
    /// block in place into the free range that follows it).
    fn cache_take_at(&mut self, addr: usize, need: usize) -> bool {
        let Some(k) =
            (0..self.cached).find(|&k| self.ranges()[k].0 == addr && self.ranges()[k].1 >= need)
        else {
            return false;
        };
        let (_, len, at) = self.ranges()[k];
        if len > need {
            self.ranges_mut()[k] = (addr + need, len - need, at);
            self.cached_bytes -= need;
        } else {
            self.cache_remove(k);
        }
        true
    }

    /// The oldest stamp among the cached ranges and the bins, and where it is.
    fn oldest(&self) -> Option<(u64, Oldest)> {
        let range = (0..self.cached)
            .map(|k| (self.ranges()[k].2 & !FLAGS, Oldest::Range(k)))
            .min_by_key(|&(t, _)| t);
        let bin = self.oldest_binned().map(|(t, i)| (t, Oldest::Bin(i)));
        match (range, bin) {
            (Some(r), Some(b)) => Some(if b.0 < r.0 { b } else { r }),
            (r, b) => r.or(b),
        }
    }

    /// The stamp of the oldest binned block, and its bin.
    fn oldest_binned(&self) -> Option<(u64, usize)> {
        (0..BINS)
            .filter_map(|i| self.bins()[i].oldest().map(|t| (t, i)))
            .min()
    }

    /// Removes the cached range or binned block `at` found by `oldest`:
    /// `(address, length, touched)`.
    fn remove_oldest(&mut self, at: Oldest) -> Option<(usize, usize, bool)> {
        match at {
            Oldest::Range(k) => {
                let (a, len, stamp) = self.cache_remove(k);
                Some((a, len, stamp & TOUCHED != 0))
            }
            Oldest::Bin(bin) => self.bin_remove(bin, false).map(|a| (a, bin_len(bin), true)),
        }
    }

    /// Removes the oldest cached range or binned block: `(address, length, touched)`.
    fn pop_oldest(&mut self) -> Option<(usize, usize, bool)> {
        let (_, at) = self.oldest()?;
        self.remove_oldest(at)
    }

    /// Takes the most recently freed block of bin `bin`.
    fn bin_take(&mut self, bin: usize) -> Option<usize> {
        self.bin_remove(bin, true)
    }

    /// Takes the newest (or the oldest) block out of bin `bin`, off the cached byte counts.
    fn bin_remove(&mut self, bin: usize, newest: bool) -> Option<usize> {
        let b = &mut self.bins_mut()[bin];
        let a = if newest {
            b.pop_newest()
        } else {
            b.pop_oldest()
        }?;
        self.cached_bytes -= bin_len(bin);
        self.binned_bytes -= bin_len(bin);
        Some(a)
    }

    /// Caches a freed mapping (`len == 0`: nothing to cache, only expire old entries): with
    /// `binned`, in the bin of its length when that is a class length, else as a range, joined
    /// with cached neighbours. A full bin, or bins over `BIN_BYTES`, pass their oldest blocks
    /// on as ranges. Makes room and drops entries older than `CACHE_EXPIRY_MS`. Returns the
    /// mappings to unmap outside the lock: at most `EVICT_MAX`, `m` itself among them when no
    /// more room could be made for it. So `CACHE_BYTES` always holds; the bins may stay over
    /// their limit, and expired entries in the cache, until the next operations.
    fn cache_put(
        &mut self,
        m: (usize, usize),
        now: u64,
        flags: u64,
        binned: bool,
    ) -> [(usize, usize); EVICT_MAX] {
        let mut ev = Evictions::new();
        // One place stays free for `m` itself, evicted when no room can be made for it.
        let keep = usize::from(m.1 != 0);
        // Nothing expires before `expire_from` (the oldest stamp's expiry when last looked at;
        // entries cached since are younger): the scan of every range and bin waits till then.
        if now >= self.expire_from {
            self.expire_from = now + CACHE_EXPIRY_MS + 1;
            while let Some((t, at)) = self.oldest() {
                if t + CACHE_EXPIRY_MS >= now {
                    self.expire_from = t + CACHE_EXPIRY_MS + 1;
                    break;
                }
                if !ev.has_room(keep) {
                    // The rest at the next operation.
                    self.expire_from = now;
                    break;
                }
                if let Some((a, len, _)) = self.remove_oldest(at) {
                    ev.push((a, len));
                }
            }
            EXPIRE_DUE.store(self.expire_from, Relaxed);
        }
        if m.1 == 0 {
            return ev.list;
        }
        let Some(bin) = exact_bin(m.1).filter(|_| binned) else {
            self.put_range(m, now, flags, &mut ev, 0);
            return ev.list;
        };
        // Make room in the bins: their oldest blocks become ranges (a few per call; beyond,
        // after the limit fell, they are unmapped).
        // The shards' peaks are read only when the bins would go over `BIN_BYTES`.
        let bin_limit = if self.binned_bytes + m.1 > BIN_BYTES {
            self.bin_limit(now)
        } else {
            BIN_BYTES
        };
        let mut passed_on = 0;
        while (self.bins()[bin].count == BIN_CAP || self.binned_bytes + m.1 > bin_limit)
            && ev.has_room(keep)
        {
            let oldest = if self.bins()[bin].count == BIN_CAP {
                Some(bin)
            } else {
                self.oldest_binned().map(|(_, i)| i)
            };
            let Some(b) = oldest else { break };
            let Some(a) = self.bin_remove(b, false) else {
                break;
            };
            let len = bin_len(b);
            if passed_on < PASS_ON_MAX {
                passed_on += 1;
                self.put_range((a, len), now, TOUCHED, &mut ev, keep);
            } else {
                ev.push((a, len));
            }
        }
        if self.bins()[bin].count == BIN_CAP {
            ev.push(m);
            return ev.list;
        }
        while self.cached_bytes + m.1 > CACHE_BYTES {
            if !ev.has_room(keep) {
                ev.push(m);
                return ev.list;
            }
            match self.pop_oldest() {
                Some((a, len, _)) => ev.push((a, len)),
                None => break,
            }
        }
        self.bins_mut()[bin].push(m.0, now);
        self.cached_bytes += m.1;
        self.binned_bytes += m.1;
        ev.list
    }

    /// Caches free range `m` as a range (the general part of `cache_put`), with `flags`
    /// (`TOUCHED`, `ROOM` or none). What it evicts goes to `ev`, with `keep` places left free
    /// there for the caller (`ev` has at least `1 + keep` on entry): `m` itself is evicted
    /// when no more room can be made for it.
    fn put_range(
        &mut self,
        m: (usize, usize),
        now: u64,
        flags: u64,
        ev: &mut Evictions,
        keep: usize,
    ) {
        // Join cached neighbours, so that pieces split off one mapping become one range again.
        // The joined range keeps the oldest stamp: it expires when most of it has been idle,
        // not a whole CACHE_EXPIRY_MS after any piece of it last came back. It is room for no
        // block in particular any more.
        let mut m = m;
        let mut flags = flags;
        let mut stamp = now;
        while let Some(k) = (0..self.cached).find(|&k| {
            self.ranges()[k].0 + self.ranges()[k].1 == m.0 || m.0 + m.1 == self.ranges()[k].0
        }) {
            let (a, len, t) = self.cache_remove(k);
            m = (m.0.min(a), m.1 + len);
            flags = (flags | t) & TOUCHED;
            stamp = stamp.min(t & !FLAGS);
        }
        if m.1 > CACHE_BYTES {
            ev.push(m);
            return;
        }
        if self.cached == CACHE_SLOTS {
            if !ev.has_room(1 + keep) {
                ev.push(m);
                return;
            }
            // Out of slots: the smallest range goes (split-off pieces are the least useful).
            let k = (0..self.cached)
                .min_by_key(|&k| self.ranges()[k].1)
                .unwrap_or(0);
            let (a, len, _) = self.cache_remove(k);
            ev.push((a, len));
        }
        while self.cached_bytes + m.1 > CACHE_BYTES {
            if !ev.has_room(1 + keep) {
                ev.push(m);
                return;
            }
            match self.pop_oldest() {
                Some((a, len, _)) => ev.push((a, len)),
                None => break,
            }
        }
        let n = self.cached;
        self.ranges_mut()[n] = (m.0, m.1, stamp | flags);
        self.cached += 1;
        self.cached_bytes += m.1;
    }
}

/// Bytes of freed blocks a heap's front holds at first (they are held besides the shared
/// cache, and only their thread uses them: fronts of a fixed 2 MiB made a four-thread Python
/// program 5 MiB larger, of 1 MiB 2 MiB larger).
const FRONT_MIN: usize = 1 << 20;
/// Bytes a front holds at most. A thread that keeps finding the blocks it needs in the shared
/// bins (where its front passed them on, or other threads freed them), and waiting for their
/// lock, grows its front up to this: 16 threads replacing random buffers of 16 B..256 KiB
/// (bench/scaling.sh's medium), with 1 MiB fronts, took the shared cache's lock about once per
/// operation, and all together made 1.7 M operations a second, no more than 2 threads did
/// (mimalloc: 12 M); with fronts that grew to 8 MiB, 5.5 M (4 MiB: 4.2 M). Growing on every
/// take from the bins, waited for or not, also made four Python threads that use buffers of
/// 16 KiB..1 MiB one after the other (they hold the interpreter's lock in turn) 21% larger
/// (108 against 89 MiB); counting only the takes that waited, 85-91 MiB.
const FRONT_MAX: usize = 8 << 20;
/// Takes out of the shared bins that waited for their lock, after which a front's limit
/// doubles.
const FRONT_GROW_HITS: u32 = 16;

/// The front of the calling thread's heap; None for a thread without a heap of its own (it
/// has not allocated yet, or its exit destructor ran: its heap is a shared sentinel).
fn own_front() -> Option<&'static mut LargeFront> {
    let h = crate::heap::own_heap()?;
    // SAFETY: the heap is this thread's alone, and its front owner-only; no other reference
    // to it is live (the front functions below do not nest).
    Some(unsafe { &mut (*h).large_front })
}

/// Takes out of the calling thread's front the most recently freed block of `len` bytes (a
/// class length): its address.
fn front_take(len: usize) -> Option<usize> {
    let f = own_front()?;
    let i = (0..f.count).rev().find(|&i| f.blocks[i].1 == len)?;
    Some(f.remove(i).0)
}

/// Keeps the freed block `(addr, len)` (of a class length) in the calling thread's front for
/// its next LARGE requests, making room by passing the oldest blocks on to the shared cache;
/// blocks idle for `CACHE_EXPIRY_MS` are unmapped. False when the thread has no front (the
/// caller caches the block).
fn front_put(addr: usize, len: usize, now: u64) -> bool {
    let Some(f) = own_front() else {
        return false;
    };
    if front_expire(f, now) || now >= EXPIRE_DUE.load(Relaxed) {
        // The shared cache's blocks of that age go too.
        cache_range((0, 0), 0);
    }
    let limit = f.limit.max(FRONT_MIN);
    if front_must_evict(f, len, limit) {
        front_put_evicting(f, addr, len, now, limit);
    } else {
        f.push((addr, len, now));
    }
    true
}

/// Whether front `f` must give up its oldest block before it takes one of `len` bytes: it is
/// full, or would hold more than `limit` bytes.
fn front_must_evict(f: &LargeFront, len: usize, limit: usize) -> bool {
    f.count > 0 && (f.count == LARGE_FRONT_SLOTS || f.bytes + len > limit)
}

/// `front_put` of a block that does not fit in front `f` (full, or over `limit` bytes): its
/// oldest blocks go to the shared cache to make room. Out of line, so that a `free` that
/// evicts nothing does not zero the list of evicted blocks (1 KiB on the stack: 11% of a
/// loop that frees and allocates one 40 KB block).
#[inline(never)]
fn front_put_evicting(f: &mut LargeFront, addr: usize, len: usize, now: u64, limit: usize) {
    let mut out = [(0, 0); LARGE_FRONT_SLOTS];
    let mut n = 0;
    while front_must_evict(f, len, limit) {
        let (a, l, _) = f.remove(0);
        out[n] = (a, l);
        n += 1;
    }
    f.push((addr, len, now));
    cache_blocks(&out[..n], now);
}

/// Unmaps the blocks of front `f` idle for `CACHE_EXPIRY_MS` (the oldest come first), and
/// halves its limit if there were any. Returns whether there were.
fn front_expire(f: &mut LargeFront, now: u64) -> bool {
    let mut any = false;
    while f.count > 0 && f.blocks[0].2 + CACHE_EXPIRY_MS < now {
        let (a, l, _) = f.remove(0);
        os::unmap(a as *mut u8, l);
        any = true;
    }
    if any {
        f.limit = (f.limit / 2).max(FRONT_MIN);
        f.shared_hits = 0;
    }
    any
}

/// The calling thread took a block out of the shared bins, and waited for their lock: after
/// `FRONT_GROW_HITS` of them, its front may hold twice as many bytes (up to `FRONT_MAX`).
fn front_shared_hit() {
    let Some(f) = own_front() else {
        return;
    };
    f.shared_hits += 1;
    if f.shared_hits >= FRONT_GROW_HITS {
        f.shared_hits = 0;
        f.limit = (f.limit.max(FRONT_MIN) * 2).min(FRONT_MAX);
    }
}

/// Passes every block of the calling thread's front on to the shared cache (memory is wanted
/// back).
fn front_flush() {
    if let Some(h) = crate::heap::own_heap() {
        // SAFETY: the calling thread's own heap.
        unsafe { front_flush_of(h) };
    }
}

/// Passes every block of `heap`'s front on to the shared cache (the heap goes to the pool, or
/// memory is wanted back), and takes its limit back to `FRONT_MIN`: the thread that has the
/// heap next earns a larger front again by its own requests.
///
/// # Safety
/// `heap` is owned by the caller (its thread's, or out of the pool).
pub unsafe fn front_flush_of(heap: *mut Heap) {
    // SAFETY: guaranteed by the caller; no other reference to the front is live.
    let f = unsafe { &mut (*heap).large_front };
    let mut out = [(0, 0); LARGE_FRONT_SLOTS];
    let n = f.count;
    for (i, o) in out.iter_mut().enumerate().take(n) {
        *o = (f.blocks[i].0, f.blocks[i].1);
    }
    f.count = 0;
    f.bytes = 0;
    f.limit = 0;
    f.shared_hits = 0;
    cache_blocks(&out[..n], os::now_ms());
}

/// Caches freed blocks of class lengths (their bins), unmapping what the cache evicts.
fn cache_blocks(blocks: &[(usize, usize)], now: u64) {
    for &m in blocks {
        cache_and_unmap(m, now, TOUCHED, true);
    }
}

fn with_inner<R>(f: impl FnOnce(&mut LargeInner) -> R) -> R {
    with_inner_waited(f).0
}

/// `with_inner`, telling besides whether the calling thread waited for the lock.
fn with_inner_waited<R>(f: impl FnOnce(&mut LargeInner) -> R) -> (R, bool) {
    let waited = G.large.lock.lock_waited();
    // SAFETY: the lock is held, so this is the only reference to the inner state.
    let r = f(unsafe { &mut *G.large.inner.get() });
    G.large.lock.unlock();
    (r, waited)
}

/// Caches free range `m` with `flags` (`TOUCHED`: its pages may be in memory; `ROOM`: see
/// there; `(0, 0)`: only expire old entries), unmapping what the cache evicts.
fn cache_range(m: (usize, usize), flags: u64) {
    cache_and_unmap(m, os::now_ms(), flags, false);
}

/// Caches freed range `m` (see `LargeInner::cache_put`; `(0, 0)`: only expire old entries)
/// and unmaps, after the lock, what the cache gives up. An operation that returned all the
/// ranges it may can have left expired ones: operations that only expire follow until one
/// returns fewer, each taking the lock anew, so that other threads get it in between.
fn cache_and_unmap(m: (usize, usize), now: u64, flags: u64, binned: bool) {
    let mut evicted = with_inner(|s| s.cache_put(m, now, flags, binned));
    loop {
        // A put keeps a place for `m`: it may have stopped one short of a full list.
        let full = evicted[EVICT_MAX - 2].1 != 0;
        unmap_all(evicted);
        if !full {
            break;
        }
        evicted = with_inner(|s| s.cache_put((0, 0), now, 0, false));
    }
}

/// Gives back the range of block `b`, already out of the table: binned or cached (unmapping
/// what the cache evicts), or unmapped for a guarded block.
fn release_range(b: &LargeBlock, now: u64) {
    if b.guarded() {
        os::unmap(b.base as *mut u8, b.len);
    } else {
        cache_and_unmap((b.base, b.len), now, TOUCHED, binnable(b));
    }
}

/// Unmaps the cached ranges, and the blocks of the calling thread's front, older than
/// `CACHE_EXPIRY_MS`. Besides LARGE misses, the heaps' purge ticks call it, so that a program
/// that stops using LARGE blocks gets their cache back.
pub fn expire_cached() {
    if let Some(f) = own_front() {
        let _ = front_expire(f, os::now_ms());
    }
    cache_range((0, 0), 0);
}

fn page_round(size: usize) -> Option<usize> {
    size.checked_add(PAGE_SIZE - 1)
        .map(|s| s & !(PAGE_SIZE - 1))
}

/// Maps `len` bytes, giving back cached address space and retrying once if the kernel refuses.
fn map_or_retry(len: usize) -> *mut u8 {
    let p = os::map(len, 0);
    if !p.is_null() {
        return p;
    }
    let _ = release_cached();
    crate::heap::release_unneeded();
    let _ = crate::segment::release_pooled();
    os::map(len, 0)
}

/// A miss of `need` bytes when a cached range holding pages already in memory covers at least
/// a quarter of it: maps the missing part right below the range (the kernel hands out addresses
/// top-down, so that space is usually free) or right above it, and returns the start of the
/// joined block of `need` bytes, most of whose pages need not be faulted in again. None (the
/// range back in the cache) when the kernel has something there already.
fn take_extended(need: usize) -> Option<usize> {
    let (a, len) = with_inner(|s| {
        if s.extend_skip > 0 {
            s.extend_skip -= 1;
            return None;
        }
        let k = (0..s.cached)
            .filter(|&k| s.ranges()[k].2 & TOUCHED != 0 && s.ranges()[k].1 >= need / 4)
            .max_by_key(|&k| s.ranges()[k].1)?;
        let (a, len, _) = s.cache_remove(k);
        Some((a, len))
    })?;
    let extra = need - len;
    let below = a.checked_sub(extra).filter(|&b| b >= PAGE_SIZE << 4);
    let joined = match below {
        Some(b) if !os::map(extra, b).is_null() => Some(b),
        _ if !REGISTRY.contains(a + len) && !os::map(extra, a + len).is_null() => Some(a),
        _ => None,
    };
    with_inner(|s| {
        if joined.is_some() {
            s.extend_fails = 0;
        } else {
            s.extend_fails = (s.extend_fails + 1).min(EXTEND_SKIP_MAX.trailing_zeros());
            s.extend_skip = 1 << s.extend_fails;
        }
    });
    if joined.is_none() {
        cache_range((a, len), TOUCHED);
    } else {
        crate::heap::purge_for_large(extra);
    }
    joined
}

/// A block of `len` bytes is about to fault in pages that are not in memory (a fresh mapping,
/// or an untouched cached range): the calling thread's heap gives back as many pages of its
/// dirty free slices (`heap::purge_for_large`), and the cached ranges that are near misses for
/// it go back too (`take_near_misses`).
fn fresh_pages(len: usize) {
    crate::heap::purge_for_large(len);
    unmap_all(with_inner(|s| s.take_near_misses(len)));
}

/// Allocates a LARGE block of `size` bytes aligned to `align` (a power of two). With `zero`,
/// the block reads as zeros. Null with errno ENOMEM on failure.
pub fn alloc(size: usize, align: usize, zero: bool) -> *mut u8 {
    alloc_with(size, align, zero, false)
}

/// `alloc` for a block that `realloc` is moving because it grows: a fresh mapping comes with
/// room to grow in place (see `alloc_with`).
pub fn alloc_growing(size: usize) -> *mut u8 {
    alloc_with(size, 0, false, true)
}

/// `alloc`; with `grow`, a fresh mapping of up to `GROW_ROOM_MAX` bytes gets as much again
/// behind it, cached as a free range (address space only: its pages are not touched), so that
/// the next `realloc` doubling the block extends in place, without a copy or a system call.
fn alloc_with(size: usize, align: usize, zero: bool, grow: bool) -> *mut u8 {
    let mut need = match page_round(size.max(1)) {
        Some(n) if n <= isize::MAX as usize => n,
        _ => {
            return os::out_of_memory();
        }
    };
    let addr;
    // The block's mapping: `addr` and `need` bytes, unless aligned beyond a page (below).
    let mapping;
    // Whether the block's pages may hold what an earlier block wrote (a cached range in
    // memory): only then does `zero` need a memset. Untouched and fresh pages read as zeros.
    let mut stale = false;
    if align <= PAGE_SIZE {
        let bin = if need <= BIN_MAX {
            let (bin, len) = bin_of(need);
            need = len;
            Some(bin)
        } else {
            None
        };
        // Freed memory, `(address, length, whether its pages may be in memory)`: for a block
        // that grows, the longest cached range first; then the thread's front and the bin of
        // the class (blocks that were in use), then the shortest cached range that fits.
        let cached = grow
            .then(|| with_inner(|s| s.cache_take_growing(need)))
            .flatten()
            .or_else(|| bin.and_then(|_| front_take(need)).map(|a| (a, need, true)))
            .or_else(|| {
                let bin = bin?;
                let (a, waited) = with_inner_waited(|s| s.bin_take(bin));
                let a = a?;
                if waited {
                    front_shared_hit();
                }
                Some((a, need, true))
            })
            .or_else(|| with_inner(|s| s.cache_take(need)));
        if let Some((a, len, touched)) = cached {
            addr = a;
            need = len;
            stale = touched;
            if !touched {
                // Pages to fault in, as on a miss (below).
                cache_range((0, 0), 0);
                fresh_pages(len);
            }
        } else if let Some(a) = take_extended(need) {
            addr = a;
            stale = true;
        } else {
            // A miss: a good moment to give back mappings cached too long.
            cache_range((0, 0), 0);
            // Behind the block, untouched: room for it to grow into, or spare address space
            // for the next misses (see `MISS_MAP_MIN`).
            let (extra, flags) = if grow && need <= GROW_ROOM_MAX {
                (need, ROOM)
            } else {
                (MISS_MAP_MIN.saturating_sub(need), 0)
            };
            let mut p = if extra != 0 {
                os::map(need + extra, 0)
            } else {
                ptr::null_mut()
            };
            if p.is_null() {
                p = map_or_retry(need);
            } else {
                cache_range((p as usize + need, extra), flags);
            }
            if p.is_null() {
                return os::out_of_memory();
            }
            addr = p as usize;
            fresh_pages(need);
        }
        mapping = (addr, need);
    } else {
        // Aligned beyond a page: a range of `need + align - PAGE_SIZE` bytes holds an aligned
        // block of `need`. The whole range is the block's mapping (`base`, `len`; the block
        // uses it up to its end), not trimmed to the block: trimming takes two more system
        // calls and leaves holes between such mappings, which the kernel could otherwise merge
        // (thousands of live aligned blocks would each be a mapping of its own, up to the
        // kernel's limit on mappings). Freed, the range is cached like any other.
        let span = match need.checked_add(align - PAGE_SIZE) {
            Some(s) if s <= isize::MAX as usize => s,
            _ => {
                return os::out_of_memory();
            }
        };
        let (base, len) = if let Some((a, len, touched)) = with_inner(|s| s.cache_take(span)) {
            stale = touched;
            (a, len)
        } else {
            let p = map_or_retry(span);
            if p.is_null() {
                return os::out_of_memory();
            }
            crate::heap::purge_for_large(need);
            (p as usize, span)
        };
        addr = (base + align - 1) & !(align - 1);
        mapping = (base, len);
    }
    let (base, len) = mapping;
    let b = LargeBlock {
        addr,
        base,
        len,
        requested: size,
        usable: base + len - addr,
        grows: grow,
        room_shift: 0,
    };
    if !record(b) {
        os::unmap(base as *mut u8, len);
        return os::out_of_memory();
    }
    if zero && stale {
        // SAFETY: the block [addr, addr + size) is ours and not yet handed out.
        unsafe { ptr::write_bytes(addr as *mut u8, 0, size) };
    }
    addr as *mut u8
}

/// Allocates a LARGE block whose end touches an inaccessible guard page, so that an overrun
/// faults at once (FT_MALLOC_GUARD). The block starts `size` rounded up to 16 (or to `align`)
/// bytes before the guard page. Guarded mappings are never cached.
pub fn alloc_guarded(size: usize, align: usize, zero: bool) -> *mut u8 {
    let _ = zero; // fresh mappings are zero
    let align = align.max(16);
    let body = match size.max(1).checked_add(align - 1) {
        Some(s) => s & !(align - 1),
        None => {
            return os::out_of_memory();
        }
    };
    let len = match page_round(body).and_then(|b| b.checked_add(align.max(PAGE_SIZE))) {
        Some(l) if l <= isize::MAX as usize => l,
        _ => {
            return os::out_of_memory();
        }
    };
    let base = map_or_retry(len);
    if base.is_null() {
        return os::out_of_memory();
    }
    let guard = base as usize + len - PAGE_SIZE;
    if !os::map_inaccessible(guard) {
        os::unmap(base, len);
        return os::out_of_memory();
    }
    let addr = (guard - body) & !(align - 1);
    let b = LargeBlock {
        addr,
        base: base as usize,
        len,
        requested: size,
        usable: guard - addr,
        grows: false,
        room_shift: 0,
    };
    if !record(b) {
        os::unmap(base, len);
        return os::out_of_memory();
    }
    addr as *mut u8
}

/// The live LARGE block that contains `addr` (a linear scan: for diagnostics only).
pub fn containing(addr: usize) -> Option<LargeBlock> {
    let mut found = None;
    for_each(|b| {
        if addr >= b.addr && addr < b.addr + b.usable.max(1) {
            found = Some(*b);
        }
    });
    found
}

/// Records a live block in its shard; false when the shard's table could not grow.
fn record(b: LargeBlock) -> bool {
    let shard = shard_of(b.addr);
    let old = shard.with(|t| {
        let old = t.reserve()?;
        Table::put(t.table, t.cap, b);
        t.count += 1;
        shard.add_live(&b);
        Some(old)
    });
    match old {
        Some((t, len)) => {
            os::unmap(t as *mut u8, len);
            true
        }
        None => false,
    }
}

/// The live LARGE block at `addr`, if any.
pub fn lookup(addr: usize) -> Option<LargeBlock> {
    with_live(addr, |_, t, i| *t.at(i))
}

/// Frees the LARGE block at `addr`; false when there is none (not ours, or already freed).
/// errno is preserved.
pub fn free(addr: usize) -> bool {
    let Some(b) = take(addr) else {
        return false;
    };
    release_taken(b);
    true
}

/// Unmaps ranges taken out of the cache under the lock (`cache_put`,
/// `take_near_misses`); empty entries, `(0, 0)`, are skipped by `os::unmap`.
fn unmap_all<const N: usize>(unmaps: [(usize, usize); N]) {
    for (a, len) in unmaps {
        os::unmap(a as *mut u8, len);
    }
}

/// Takes the live LARGE block at `addr` out of the table: from here its range is the caller's
/// alone (a `free` racing with it finds nothing), until `release_taken`. None when no live
/// block starts at `addr`.
pub fn take(addr: usize) -> Option<LargeBlock> {
    with_live(addr, |shard, t, i| {
        let b = t.remove_at(i);
        shard.sub_live(&b);
        b
    })
}

/// Blocks whose mapping is at least this long are unmapped piece by piece as `move_out` copies
/// them, not cached.
pub const MOVE_RELEASE_MIN: usize = 16 << 20;
/// The pieces `move_out` copies, then unmaps.
const MOVE_PIECE: usize = 2 << 20;

/// Copies the first `n` bytes (at most its usable size) of the live LARGE block at `addr` to
/// `dst` and frees the block: `realloc` moving a block. A block of `MOVE_RELEASE_MIN` bytes or
/// more is unmapped a piece at a time behind the copy, so that the old and the new block are
/// never both wholly in memory (`realloc` growing a 260 MB buffer peaked at twice its size);
/// such a block is freed without going to the cache, which could only keep a few of them and
/// which a growing block does not reuse anyway. False, doing nothing, when no live block starts
/// at `addr`. errno is preserved.
///
/// # Safety
/// `dst` is valid for `n` bytes and does not overlap the block; nobody else uses the block.
pub unsafe fn move_out(addr: usize, dst: *mut u8, n: usize) -> bool {
    let Some(b) = take(addr) else {
        return false;
    };
    let n = n.min(b.usable);
    if b.base != b.addr || b.guarded() || b.len < MOVE_RELEASE_MIN {
        // SAFETY: [addr, addr + n) lies in the block, ours alone since `take`; dst is valid
        // for n bytes (caller's contract).
        unsafe { ptr::copy_nonoverlapping(addr as *const u8, dst, n) };
        release_taken(b);
        return true;
    }
    let saved = os::get_errno();
    let mut done = 0;
    while done < n {
        let piece = (n - done).min(MOVE_PIECE);
        // SAFETY: as above, for the piece [addr + done, addr + done + piece).
        unsafe { ptr::copy_nonoverlapping((addr + done) as *const u8, dst.add(done), piece) };
        if piece == MOVE_PIECE {
            // Whole pages (addr is the mapping's start, MOVE_PIECE a page multiple), copied.
            os::unmap((addr + done) as *mut u8, piece);
        }
        done += piece;
    }
    // The rest of the mapping, from the end of the last whole piece unmapped.
    let unmapped = n / MOVE_PIECE * MOVE_PIECE;
    os::unmap((addr + unmapped) as *mut u8, b.len - unmapped);
    os::set_errno(saved);
    true
}

/// Gives back the range of a block taken by `take`, as `free` does: to the calling thread's
/// front (a class length), else cached, or unmapped (guarded blocks, and what the cache
/// evicts). errno is preserved (`free` must not change it).
pub fn release_taken(b: LargeBlock) {
    let saved = os::get_errno();
    let now = os::now_ms();
    if !(binnable(&b) && front_put(b.base, b.len, now)) {
        release_range(&b, now);
    }
    os::set_errno(saved);
}

/// A block growing in place first asks for an eighth of its length more than it needs...
const ROOM_SHIFT_FIRST: u8 = 3;
/// ... and, where the kernel had no room for that, for down to a 4096th (then, below a page,
/// for what it needs).
const ROOM_SHIFT_LAST: u8 = 12;

/// Changes the recorded size of the block at `addr` when `size` fits its mapping (shrinking
/// the mapping when less than half of it would be used). Returns false when the block must
/// move (or is not ours: the caller checked that first): also for a SMALL size that would use
/// less than half of the mapping, which a zone's block holds with less waste. (A block that
/// goes back and forth across `SMALL_MAX`, 33,000 and 32,000 bytes, stays where it is: it moved
/// to a zone and back every time, 0.7 us a turn, where glibc and mimalloc take none.)
pub fn resize_in_place(addr: usize, size: usize) -> bool {
    let need = match page_round(size.max(1)) {
        Some(n) => n,
        None => return false,
    };
    let r = with_live(addr, |shard, t, i| {
        let e = t.at(i);
        // A guarded block, or an aligned one inside a larger mapping: it moves.
        if e.guarded() || e.base != e.addr || (size <= SMALL_MAX && need < e.len / 2) {
            return None;
        }
        if need <= e.len {
            let cut = if need < e.len / 2 { e.len - need } else { 0 };
            let before = *e;
            e.len -= cut;
            e.usable = e.len;
            e.requested = size;
            let after = *e;
            shard.sub_live(&before);
            shard.add_live(&after);
            return Some((true, after.addr + after.len, cut, 0));
        }
        Some((false, e.addr + e.len, need - e.len, e.room_shift))
    });
    let Some((fits, end, extra, room_shift)) = r.flatten() else {
        return false;
    };
    if fits {
        // The cut tail is a free range like any other: cached, or unmapped if it cannot be.
        if extra != 0 {
            cache_range((end, extra), TOUCHED);
        }
        return true;
    }
    // Grow into a cached free range that starts where the block ends, else try to map there:
    // an eighth of the block more than it needs, when the kernel has the room (address space
    // only until written), so that a buffer growing by small steps makes a logarithmic number
    // of system calls, not one per page (a 300 MB buffer grown 1000 bytes at a time: 19,000).
    let mut extra = extra;
    let shift = if room_shift == 0 {
        ROOM_SHIFT_FIRST
    } else {
        room_shift
    };
    let mut next_shift = shift;
    let p = if with_inner(|s| s.cache_take_at(end, extra)) {
        end as *mut u8
    } else if REGISTRY.contains(end)
        || lookup(end).is_some()
        || with_inner(|s| (0..s.cached).any(|k| s.ranges()[k].0 == end))
        || own_front().is_some_and(|f| (0..f.count).any(|i| f.blocks[i].0 == end))
    {
        // A segment, a LARGE block, or a freed range or block of ours kept for reuse (too
        // short for the growth) starts there: asking the kernel would fail.
        ptr::null_mut()
    } else {
        let roomy = extra.max(((end - addr) >> shift) / PAGE_SIZE * PAGE_SIZE);
        let mut p = if roomy > extra {
            os::map(roomy, end)
        } else {
            ptr::null_mut()
        };
        if p.is_null() {
            // Something lies within the room: what it needs, and half the room next time
            // (a failed call each time costs as much as the growth).
            if roomy > extra {
                next_shift = (shift + 1).min(ROOM_SHIFT_LAST);
            }
            p = os::map(extra, end);
        } else {
            extra = roomy;
        }
        p
    };
    if p.is_null() {
        return false;
    }
    let ok = with_live(addr, |shard, t, i| {
        let e = t.at(i);
        if e.addr + e.len != end {
            return false;
        }
        let before = *e;
        e.len += extra;
        e.usable = e.len;
        e.grows = true;
        e.room_shift = next_shift;
        e.requested = size;
        let after = *e;
        shard.sub_live(&before);
        shard.add_live(&after);
        true
    });
    let ok = ok == Some(true);
    if !ok {
        os::unmap(p, extra);
    }
    ok
}

/// Unmaps every cached free mapping and binned block, and the blocks of the calling thread's
/// front. Returns the bytes of those whose pages may have been in memory.
pub fn release_cached() -> usize {
    front_flush();
    let mut touched = 0;
    while let Some((a, len, t)) = with_inner(|s| s.pop_oldest()) {
        os::unmap(a as *mut u8, len);
        if t {
            touched += len;
        }
    }
    touched
}

/// Calls `f` on every live LARGE block, in no order, with the lock of its shard held (`f`
/// must not allocate or free).
pub fn for_each(mut f: impl FnMut(&LargeBlock)) {
    for shard in &LIVE {
        shard.with(|t| {
            for i in 0..t.cap {
                let e = t.at(i);
                if e.addr != 0 {
                    f(e);
                }
            }
        });
    }
}

/// Calls `f` on the live LARGE block at `addr` with its shard's lock held, so that the block
/// cannot be freed (and unmapped) while `f` reads it. `f` must not allocate or free.
pub fn with_block<R>(addr: usize, f: impl FnOnce(&LargeBlock) -> R) -> Option<R> {
    with_live(addr, |_, t, i| f(t.at(i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Held by the tests that measure the shared cache, which would see each other's blocks.
    static CACHE_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Runs `f` on a thread of its own that has a heap of ft_malloc's, and with it a front.
    fn on_a_thread_with_a_front(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(|| {
            let p = crate::alloc::malloc(16);
            assert!(!p.is_null() && own_front().is_some());
            f();
            // SAFETY: p came from malloc above.
            unsafe { crate::alloc::free(p) };
        })
        .join()
        .unwrap();
    }

    #[test]
    fn length_classes_round_up_by_at_most_a_quarter() {
        let mut prev = 0;
        for pages in BIN_MIN_PAGES..=BIN_MAX / PAGE_SIZE {
            let need = pages * PAGE_SIZE;
            let (bin, len) = bin_of(need);
            assert!(bin < BINS, "{pages} pages: bin {bin}");
            assert!(
                len >= need && (len - need) * 4 <= len,
                "{pages} pages: {len}"
            );
            assert_eq!(bin_len(bin), len);
            assert_eq!(exact_bin(len), Some(bin));
            assert!(bin >= prev);
            prev = bin;
        }
        assert_eq!(prev, BINS - 1);
        assert_eq!(bin_of(BIN_MAX).1, BIN_MAX);
        assert_eq!(exact_bin(BIN_MAX + 4 * PAGE_SIZE), None);
        assert_eq!(exact_bin(11 * PAGE_SIZE), None);
        assert_eq!(exact_bin(10 * PAGE_SIZE + 1), None);
    }

    /// A free that the cache would make room for by evicting more ranges than one operation
    /// may return: the rest is left to later operations, or the freed range itself goes. The
    /// cache stays within `CACHE_BYTES`, and nothing is unmapped under its lock (`os::unmap`
    /// checks that in debug builds: the old code, which unmapped the ranges beyond four under
    /// the lock, fails here).
    #[test]
    fn evictions_are_unmapped_after_the_lock_and_the_cache_stays_bounded() {
        let _serial = CACHE_TESTS.lock();
        const N: usize = 160;
        // Ranges, not binned blocks; every other one stays live so that none joins another.
        let len = BIN_MAX + 2 * PAGE_SIZE;
        let blocks: std::vec::Vec<usize> =
            (0..2 * N).map(|_| alloc(len, 0, false) as usize).collect();
        assert!(blocks.iter().all(|&b| b != 0));
        for &b in blocks.iter().step_by(2) {
            assert!(free(b));
        }
        let cached = || with_inner(|s| s.cached_bytes);
        assert!(cached() <= CACHE_BYTES);
        // Room for this one means evicting some 40 ranges of 1 MiB.
        let big = alloc(CACHE_BYTES / 3, 0, false) as usize;
        assert!(big != 0);
        assert!(free(big));
        assert!(cached() <= CACHE_BYTES);
        for &b in blocks.iter().skip(1).step_by(2) {
            assert!(free(b));
            assert!(cached() <= CACHE_BYTES);
        }
        let _ = release_cached();
    }

    /// A thread whose LARGE requests keep finding their blocks in the shared bins, waiting for
    /// their lock, grows its front (doubling, up to `FRONT_MAX`), so that its next rounds are
    /// served without that lock; alone on the lock, it does not. Blocks that expire halve the
    /// front's limit again; a flush takes it back to `FRONT_MIN`. (`lock_waited`, which tells
    /// whether a take waited, has a test of its own in `sync`.)
    #[test]
    fn a_front_grows_while_its_thread_waits_for_shared_blocks_and_shrinks_when_they_expire() {
        let _serial = CACHE_TESTS.lock();
        on_a_thread_with_a_front(|| {
            let limit = || own_front().map(|f| f.limit.max(FRONT_MIN)).unwrap();
            assert_eq!(limit(), FRONT_MIN);
            const N: usize = 40;
            let len = bin_of(256 << 10).1;
            let round = || {
                let blocks: [usize; N] = core::array::from_fn(|_| alloc(len, 0, false) as usize);
                for &b in &blocks {
                    assert!(b != 0);
                    // SAFETY: the block is ours, `len` bytes long.
                    unsafe { ptr::write_bytes(b as *mut u8, 0xA5, len) };
                }
                for &b in &blocks {
                    assert!(free(b));
                }
            };
            // The first round maps its blocks; the front keeps 1 MiB of them, the rest go to
            // the shared bins, where the next rounds find them: alone on the lock, the front
            // stays as it is.
            for _ in 0..4 {
                round();
            }
            assert_eq!(limit(), FRONT_MIN);
            // Waiting for the lock at each take (as threads do that share it at once, which
            // this test cannot make happen at will on a busy machine), the front doubles every
            // FRONT_GROW_HITS takes, up to FRONT_MAX.
            let mut seen = std::vec::Vec::new();
            for _ in 0..5 {
                for _ in 0..FRONT_GROW_HITS {
                    front_shared_hit();
                }
                seen.push(limit());
            }
            assert_eq!(
                seen,
                [
                    2 * FRONT_MIN,
                    4 * FRONT_MIN,
                    FRONT_MAX,
                    FRONT_MAX,
                    FRONT_MAX
                ]
            );
            round();
            // Held in the front now: up to FRONT_MAX, not beyond.
            let f = own_front().unwrap();
            assert!(
                f.bytes <= FRONT_MAX && f.bytes + len > FRONT_MAX,
                "{}",
                f.bytes
            );
            // Idle past the expiry, the front's blocks go and its limit halves.
            // SAFETY: a plain libc call.
            unsafe { libc::usleep(((CACHE_EXPIRY_MS + 50) * 1000) as u32) };
            let q = alloc(100_000, 0, false) as usize;
            assert!(free(q));
            assert_eq!(limit(), FRONT_MAX / 2);
            assert!(own_front().unwrap().count <= 1);
            // Memory wanted back (malloc_trim, a refused mapping): the front is emptied and its
            // limit starts again from FRONT_MIN.
            round();
            let _ = release_cached();
            let f = own_front().unwrap();
            assert_eq!((f.count, f.bytes, limit()), (0, 0, FRONT_MIN));
        });
    }

    /// A free into a thread's front also expires the shared cache when its entries are due: a
    /// thread that takes its blocks from the shared bins and frees them into its front does not
    /// leave the others cached for ever.
    #[test]
    fn a_free_into_a_front_expires_the_shared_cache() {
        let _serial = CACHE_TESTS.lock();
        let len = bin_of(64 << 10).1;
        // Into the shared bins (through the thread's front, if it has one: with the `override`
        // feature every thread of the test process allocates through ft_malloc).
        std::thread::spawn(move || {
            let blocks: [usize; 8] = core::array::from_fn(|_| alloc(len, 0, false) as usize);
            for &b in &blocks {
                assert!(free(b));
            }
            front_flush();
        })
        .join()
        .unwrap();
        assert!(with_inner(|s| s.cached_bytes) >= 8 * len);
        // SAFETY: a plain libc call.
        unsafe { libc::usleep(((CACHE_EXPIRY_MS + 50) * 1000) as u32) };
        on_a_thread_with_a_front(move || {
            // Taken from the shared bins, freed into this thread's front.
            let b = alloc(len, 0, false) as usize;
            assert!(free(b));
            assert!(own_front().unwrap().count >= 1);
            // Nothing cached is past its expiry (other tests may have cached younger blocks).
            let now = os::now_ms();
            let oldest = with_inner(|s| s.oldest().map(|(t, _)| t));
            assert!(
                oldest.is_none_or(|t| t + CACHE_EXPIRY_MS >= now),
                "cached since {oldest:?}, now {now}"
            );
        });
    }

    #[test]
    fn a_miss_maps_a_chunk_whose_rest_serves_later_misses_after_the_ranges_in_memory() {
        let _serial = CACHE_TESTS.lock();
        let _ = release_cached();
        let spare = || {
            with_inner(|s| {
                (0..s.cached)
                    .map(|k| s.ranges()[k])
                    .filter(|r| r.2 & (TOUCHED | ROOM) == 0)
                    .map(|r| (r.0, r.1))
                    .max_by_key(|r| r.1)
            })
        };
        // A miss: the block, and behind it the rest of MISS_MAP_MIN, cached untouched.
        let a = alloc(40_000, 0, false) as usize;
        let len_a = bin_of(page_round(40_000).unwrap()).1;
        assert_eq!(spare(), Some((a + len_a, MISS_MAP_MIN - len_a)));
        // The next request that no range in memory fits is carved from it.
        let b = alloc(100_000, 0, false) as usize;
        assert_eq!(b, a + len_a, "not taken from the spare");
        // A range in memory that fits goes first, though the spare fits better.
        let c = alloc(2 << 20, 0, false) as usize;
        assert!(free(c));
        let d = alloc(100_000, 0, false) as usize;
        assert_eq!(d, c, "the spare was taken before the freed range in memory");
        for p in [a, b, d] {
            assert!(free(p));
        }
        let _ = release_cached();
    }

    /// Cached blocks and ranges left idle for `CACHE_EXPIRY_MS` are unmapped by the next free,
    /// wherever they are in the cache (joined ranges keep their oldest piece's stamp).
    #[test]
    fn idle_cached_blocks_expire_on_the_next_free() {
        let _serial = CACHE_TESTS.lock();
        let blocks: [usize; 8] =
            core::array::from_fn(|i| alloc(40_000 + i * 70_000, 0, false) as usize);
        for &b in &blocks {
            assert!(free(b));
        }
        // Cached with its pages, or in this thread's front (when it has a heap); not the
        // untouched spare a miss leaves (address space only).
        let untouched = |s: &LargeInner| -> usize {
            (0..s.cached)
                .filter(|&k| s.ranges()[k].2 & TOUCHED == 0)
                .map(|k| s.ranges()[k].1)
                .sum()
        };
        let kept =
            || with_inner(|s| s.cached_bytes - untouched(s)) + own_front().map_or(0, |f| f.bytes);
        let held = kept();
        assert!(held >= 8 * 40_000);
        // SAFETY: a plain libc call.
        unsafe { libc::usleep(((CACHE_EXPIRY_MS + 50) * 1000) as u32) };
        let p = alloc(100_000, 0, false) as usize;
        assert!(free(p));
        let left = kept();
        assert!(
            left <= 200_000,
            "held {held}, still {left} after the expiry"
        );
    }
}
