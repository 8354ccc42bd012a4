//! Segments and zones: taking a segment for a heap (from the pool or a new mapping), carving a
//! zone for a size class out of its free slices, and giving zones and segments back.
//!
//! All functions here run on the owner thread of the heap they are given (or under the shared
//! heap's lock); the pool and the registry are behind `G.pool_lock`.

use core::ptr;
use core::sync::atomic::{AtomicU16, Ordering};

use crate::os;
use crate::registry::{self, REGISTRY};
use crate::size_class::{block_index, GEOMETRY, GEOMETRY_ENTRIES};
use crate::state::G;
use crate::types::{
    descriptor_offset, entry_offset, first_of_descriptor, Heap, Segment, Zone, PAGE_SIZE,
    SEGMENT_SHIFT, SEGMENT_SIZE, SLICES_PER_SEGMENT, SLICE_SHIFT, SLICE_SIZE, ZONE_LISTED,
    ZONE_UNUSED,
};

/// Every slice but the header.
const ALL_SLICES: u64 = !1u64;

/// Empty segments a heap keeps for the purge delay: a program that frees much at once gets the
/// rest back immediately, since the purge delay runs only when the heap next needs memory.
pub const EMPTY_SEGMENTS_KEPT: usize = 4;

/// How long free slices of a segment in use stay dirty before their pages go back.
pub const PURGE_DELAY_MS: u64 = 30;

/// A gap between two reads of a heap's purge clock counts in full up to this many
/// milliseconds, and beyond them at an eighth of the wall clock's pace (`heap_clock`).
///
/// Purge deadlines run on this clock, not on the wall clock, so that a thread that was not
/// running does not find, when it runs again, the slices it freed just before past their
/// delay and given back, only to fault them in again: eight Python threads taking turns on the
/// GIL (on 2 cores) each ran for about 5 ms in every 40, and every slice a thread freed went
/// back before it could reuse it. A thread that works without pause reads the clock often
/// (every few refills and zone releases), so its clock keeps the wall clock's pace; one that
/// sleeps between bursts of work still purges within a second (a gap of 100 ms counts 16).
pub const CLOCK_GAP_MS: u64 = 4;

/// Reads `heap`'s purge clock: advances it by the wall-clock time since its last read (see
/// `CLOCK_GAP_MS`), and returns it.
///
/// # Safety
/// `heap` is owned by the caller (or its lock is held).
pub unsafe fn heap_clock(heap: *mut Heap) -> u64 {
    let now = os::now_ms();
    // SAFETY: guaranteed by the caller.
    unsafe {
        let seen = (*heap).clock_seen;
        if seen == 0 {
            (*heap).clock_ms = now;
        } else {
            (*heap).clock_ms += clock_step(now.saturating_sub(seen));
        }
        (*heap).clock_seen = now;
        (*heap).clock_ms
    }
}

/// What a gap of `gap` ms of the wall clock between two reads of a heap's purge clock adds to
/// it (see `CLOCK_GAP_MS`).
fn clock_step(gap: u64) -> u64 {
    if gap <= CLOCK_GAP_MS {
        gap
    } else {
        CLOCK_GAP_MS + (gap - CLOCK_GAP_MS) / 8
    }
}

/// The segment that contains `addr`.
#[inline(always)]
pub fn segment_of(addr: usize) -> *mut Segment {
    (addr & !(SEGMENT_SIZE - 1)) as *mut Segment
}

/// Maps a new 4 MiB-aligned segment in the registry's window: first where the previous one
/// ended below (mappings grow down, so this usually succeeds with one call), else by
/// over-mapping and trimming; when the kernel's choice lies outside the window, at addresses
/// asked for in it (`map_in_window`).
fn map_aligned_segment() -> *mut u8 {
    static LAST: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
    let last = LAST.load(Ordering::Relaxed);
    if last > SEGMENT_SIZE
        && (registry::accepts(last - SEGMENT_SIZE) || WINDOW_FULL.load(Ordering::Relaxed))
    {
        let p = os::map(SEGMENT_SIZE, last - SEGMENT_SIZE);
        if !p.is_null() {
            LAST.store(p as usize, Ordering::Relaxed);
            return p;
        }
    }
    let raw = os::map(2 * SEGMENT_SIZE, 0);
    if raw.is_null() {
        return ptr::null_mut();
    }
    let start = raw as usize;
    let aligned = (start + SEGMENT_SIZE - 1) & !(SEGMENT_SIZE - 1);
    if !registry::accepts(aligned) && !WINDOW_FULL.load(Ordering::Relaxed) {
        let p = map_in_window(last);
        if !p.is_null() {
            os::unmap(raw, 2 * SEGMENT_SIZE);
            LAST.store(p as usize, Ordering::Relaxed);
            return p;
        }
        // Something took the window's room (a large reservation of address space): segments
        // go where the kernel puts them, in the registry's overflow, from now on.
        WINDOW_FULL.store(true, Ordering::Relaxed);
    }
    os::unmap(raw, aligned - start);
    os::unmap(
        (aligned + SEGMENT_SIZE) as *mut u8,
        start + SEGMENT_SIZE - aligned,
    );
    LAST.store(aligned, Ordering::Relaxed);
    aligned as *mut u8
}

/// Set when `map_in_window` found no room in the registry's window: later segments are not
/// asked for there (64 failing `mmap`s each).
static WINDOW_FULL: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Attempts of `map_in_window`.
const WINDOW_TRIES: usize = 64;

/// Maps a segment at an address asked for in the registry's window (the kernel placed the
/// mapping elsewhere, after other mappings took the window's space): going down from below
/// the last segment, or from the middle of the window, in steps that double from one segment,
/// so that a few calls get past anything mapped there. Null when nothing is found.
fn map_in_window(last: usize) -> *mut u8 {
    let (start, end) = registry::window();
    let mut hint = if last > SEGMENT_SIZE && registry::accepts(last - SEGMENT_SIZE) {
        last - SEGMENT_SIZE
    } else {
        start + (end - start) / 2
    };
    let mut step = SEGMENT_SIZE;
    for _ in 0..WINDOW_TRIES {
        let p = os::map(SEGMENT_SIZE, hint);
        if !p.is_null() {
            return p;
        }
        if hint < start + step {
            break;
        }
        hint -= step;
        step = (step * 2).min(1 << 36);
    }
    ptr::null_mut()
}

/// Registers the fresh segment mapped at `p` and puts it on the all-segments list; false,
/// changing nothing, when the registry has no memory for it (`Registry::insert`).
fn register(p: *mut u8) -> bool {
    let seg = p as *mut Segment;
    G.pool_lock.lock();
    let ok = REGISTRY.insert(p as usize);
    if ok {
        // SAFETY: `seg` is a fresh zeroed mapping of SEGMENT_SIZE bytes; the header fits in
        // slice 0. Pushing on the all-segments list is serialised by pool_lock.
        unsafe {
            (*seg)
                .next_all
                .store(G.all_segments.load(Ordering::Relaxed), Ordering::Relaxed);
            G.all_segments.store(seg, Ordering::Release);
        }
    }
    G.pool_lock.unlock();
    ok
}

/// Takes an empty segment for `heap` and puts it in the heap's list of segments with free
/// slices. Null when no memory is left.
///
/// # Safety
/// `heap` is owned by the calling thread (or its lock is held).
pub unsafe fn segment_acquire(heap: *mut Heap) -> *mut Segment {
    G.pool_lock.lock();
    // SAFETY: the pool is only touched under pool_lock, which we hold.
    let mut seg = unsafe {
        let pool = G.seg_pool.get();
        let s = *pool;
        if !s.is_null() {
            *pool = (*s).next;
        }
        s
    };
    G.pool_lock.unlock();
    if seg.is_null() {
        let mut p = map_aligned_segment();
        if p.is_null() {
            let _ = crate::large::release_cached();
            p = map_aligned_segment();
        }
        if p.is_null() {
            return ptr::null_mut();
        }
        if !register(p) {
            // No memory for an overflow map of the registry.
            os::unmap(p, SEGMENT_SIZE);
            return ptr::null_mut();
        }
        seg = p as *mut Segment;
    }
    // SAFETY: `seg` is an empty segment that no heap owns; from here it is ours alone.
    unsafe {
        (*seg).free_mask = ALL_SLICES;
        (*seg).next = ptr::null_mut();
        (*seg).prev = ptr::null_mut();
        (*seg).in_avail = false;
        (*seg).counted_empty = false;
        (*seg).purge_at = 0;
        (*seg).purge_old = 0;
        (*seg).purge_new = 0;
        (*seg).unreached_old = 0;
        (*seg).unreached_new = 0;
        (*seg).heap.store(heap, Ordering::Release);
        REGISTRY.set_owner(seg as usize, registry::owner_tag(heap));
        (*heap).segments += 1;
        avail_push(heap, seg);
    }
    seg
}

/// # Safety
/// `heap` owned by the caller; `seg` is one of its segments, not in its avail list.
unsafe fn avail_push(heap: *mut Heap, seg: *mut Segment) {
    // SAFETY: guaranteed by the caller: both are ours to change.
    unsafe {
        (*seg).prev = ptr::null_mut();
        (*seg).next = (*heap).avail;
        if !(*heap).avail.is_null() {
            (*(*heap).avail).prev = seg;
        }
        (*heap).avail = seg;
        (*seg).in_avail = true;
    }
}

/// # Safety
/// `heap` owned by the caller; `seg` is in its avail list.
unsafe fn avail_remove(heap: *mut Heap, seg: *mut Segment) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if (*seg).prev.is_null() {
            (*heap).avail = (*seg).next;
        } else {
            (*(*seg).prev).next = (*seg).next;
        }
        if !(*seg).next.is_null() {
            (*(*seg).next).prev = (*seg).prev;
        }
        (*seg).in_avail = false;
    }
}

/// The mask of slices `[first, first + n)`.
fn slice_bits(first: usize, n: usize) -> u64 {
    (if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }) << first
}

/// Marks dirty the slices of `[from, to)`, the bytes of a zone's blocks about to be handed out
/// for the first time. A zone marks only its first slice when it is made (its array and first
/// blocks are there), so that the slices its blocks never reached are neither purged (a
/// `madvise` for nothing: blocks of 20-100 KB freed or shrunk by `realloc`, each a zone of its
/// class made and given back, took one per operation) nor preferred by a new zone as slices in
/// memory. (Giving back as many free slices in memory as this faults in, as a zone made on
/// fresh slices does, faulted more pages in again than it saved: `bench/realloc` 16,000 page
/// faults to 24,000.)
///
/// # Safety
/// The range lies in a zone of a heap owned by the caller.
#[inline(always)]
pub unsafe fn mark_dirty(from: usize, to: usize) {
    let seg = segment_of(from);
    let lo = (from >> SLICE_SHIFT) & (SLICES_PER_SEGMENT - 1);
    let hi = ((to - 1) >> SLICE_SHIFT) & (SLICES_PER_SEGMENT - 1);
    let bits = slice_bits(lo, hi - lo + 1);
    // SAFETY: guaranteed by the caller: the segment is the owner's.
    unsafe {
        (*seg).dirty_mask |= bits;
        if ((*seg).unreached_old | (*seg).unreached_new) & bits != 0 {
            (*seg).unreached_old &= !bits;
            (*seg).unreached_new &= !bits;
        }
    }
}

/// What each slice that would be faulted in adds to a place's cost (`best_run`): more than any
/// leftover of a run (at most 63 slices), so a cost below it means all the slices are in memory.
const CLEAN_SLICE_COST: usize = 64;

/// What each dirty slice that a big zone would give back unless its blocks reach it
/// (`zone_create`) adds to a place's cost (`best_run`): memory that another zone could have
/// used without a fault. Sixteen of them weigh as much as a slice faulted in.
const DIRTY_TAIL_COST: usize = CLEAN_SLICE_COST / 16;

/// The slices at the start of a zone of `n` slices that it keeps in memory when made: all of
/// them, or the first one of a big zone (`BIG_ZONE_SLICES`), which gives back the pages of the
/// others at a purge tick unless its blocks reach them first.
fn hot_slices(n: usize) -> usize {
    if n >= BIG_ZONE_SLICES {
        1
    } else {
        n
    }
}

/// Where a zone of `n` slices fits best in a segment with free slices `free` and dirty slices
/// `dirty`: `(first slice, cost)`, the cost being, in order of weight, the slices of its first
/// `hot_slices(n)` that would be faulted in (not dirty, `CLEAN_SLICE_COST` each), the dirty
/// slices past them that a big zone would give back (`DIRTY_TAIL_COST` each), and the free
/// slices left over in the run (best fit keeps long runs for big zones). None when no run is
/// long enough.
///
/// A big zone so goes where its first slice is in memory and the rest is not, rather than over
/// the dirty slices of zones of other classes: `bench/realloc`'s vectors, passing through the
/// 8-32 KiB classes between two rounds of growing strings, made their zones over the strings'
/// free slices each round and gave back their pages, which the strings then faulted in again
/// (12,000 page faults in eight rounds, against 100 under mimalloc).
fn best_run(free: u64, dirty: u64, n: usize) -> Option<(usize, usize)> {
    let hot = hot_slices(n);
    let mut best: Option<(usize, usize)> = None;
    let mut m = free;
    while m != 0 {
        let lo = m.trailing_zeros() as usize;
        let len = ((!(m >> lo)).trailing_zeros() as usize).min(64 - lo);
        m &= !slice_bits(lo, len);
        if len < n {
            continue;
        }
        // Either end of the run: whichever costs less.
        for first in [lo, lo + len - n] {
            let clean = (slice_bits(first, hot) & !dirty).count_ones() as usize;
            let tail = if hot < n {
                (slice_bits(first + hot, n - hot) & dirty).count_ones() as usize
            } else {
                0
            };
            let cost = clean * CLEAN_SLICE_COST + tail * DIRTY_TAIL_COST + (len - n);
            if best.is_none_or(|(_, c)| cost < c) {
                best = Some((first, cost));
            }
        }
    }
    best
}

/// Segments of a heap searched for a place for a new zone.
const FIT_SEARCH: usize = 64;

/// The best place in `heap`'s segments for a zone of `n` slices (see `best_run`), and its
/// cost: below `CLEAN_SLICE_COST` when all its slices are dirty (in memory).
///
/// # Safety
/// As for `zone_create`.
unsafe fn find_zone_place(heap: *mut Heap, n: usize) -> Option<(*mut Segment, usize, usize)> {
    let mut found: Option<(*mut Segment, usize, usize)> = None;
    // SAFETY: guaranteed by the caller: each segment header is mapped while the segment is in
    // the heap's avail list.
    unsafe {
        let mut seg = (*heap).avail;
        let mut tries = 0;
        while !seg.is_null() && tries < FIT_SEARCH {
            if let Some((f, cost)) = best_run((*seg).free_mask, (*seg).dirty_mask, n) {
                if found.is_none_or(|(_, _, c)| cost < c) {
                    found = Some((seg, f, cost));
                    if cost == 0 {
                        break;
                    }
                }
            }
            seg = (*seg).next;
            tries += 1;
        }
    }
    found
}

/// Makes a zone of class `c` for `heap`: finds free slices in its segments (or a new segment),
/// clears the `requested` array when the slices were used before, and fills the descriptor.
/// The zone is not yet in a class list. Null when no memory is left.
///
/// Before it takes slices that are not in memory, it calls `release_idle(n)`, which may give
/// back an empty zone that the heap keeps (see `heap::release_head_for`) whose slices make a
/// place of `n` slices in memory, returning whether it did; then it looks again. So a
/// program whose blocks move from one size class to another reuses the pages of the classes
/// it left instead of faulting in new ones.
///
/// # Safety
/// `heap` is owned by the calling thread (or its lock is held).
pub unsafe fn zone_create(
    heap: *mut Heap,
    c: usize,
    release_idle: impl FnOnce(usize) -> bool,
) -> *mut Zone {
    let g = &GEOMETRY[c];
    let n = g.slices;
    // SAFETY: the heap and its segments are ours (caller's contract); each segment header is
    // mapped while the segment is in the heap's avail list.
    unsafe {
        // Best fit over the heap's segments with free slices: dirty slices first (their
        // pages are in memory already), then the shortest run that holds the zone.
        let mut found = find_zone_place(heap, n);
        if found.is_none_or(|(_, _, cost)| cost >= CLEAN_SLICE_COST) && release_idle(n) {
            found = find_zone_place(heap, n);
        }
        let (seg, first) = match found {
            Some((seg, first, _)) => (seg, first),
            None => {
                let seg = segment_acquire(heap);
                if seg.is_null() {
                    return ptr::null_mut();
                }
                (seg, 1)
            }
        };
        let bits = slice_bits(first, n);
        // The zone faults in its first slice now, the others as its blocks reach them
        // (`mark_dirty`).
        if (*seg).dirty_mask & slice_bits(first, 1) == 0 {
            purge_for_growth(heap, 1, seg, bits);
        }
        // A big zone on dirty slices keeps the pages of its first slice, where its first
        // blocks go; those of the others go back one to two purge delays from now unless its
        // blocks reach them by then: it fills them only if its class is in heavy use, and
        // would otherwise keep them in memory while empty or nearly so (a Python loop that
        // makes one block of each of a dozen classes of 3-20 KiB a turn kept 9 MiB so, with a
        // zone of each extended by one block). Giving them back at once faulted them in again
        // wherever the class was in use: a thread that makes and frees 200 blocks of one size
        // at a time, the size changing each turn, faulted in 20 pages a turn (1.7 s against
        // mimalloc's 0.43 s).
        let tail = bits & !slice_bits(first, hot_slices(n)) & (*seg).dirty_mask;
        if tail != 0 {
            schedule_purge(heap, seg, tail, true);
        }
        uncount_empty(heap, seg);
        (*seg).free_mask &= !bits;
        (*seg).purge_old &= !bits;
        (*seg).purge_new &= !bits;
        if (*seg).free_mask == 0 && !has_unreached(seg) {
            avail_remove(heap, seg);
        }
        let start = (seg as *mut u8).add(first << SLICE_SHIFT);
        let entry = slice_map_entry(first, c, array_colour(seg, first, c));
        let requested = requested_array(seg, first, entry as usize);
        if (*seg).dirty_mask & bits != 0 {
            ptr::write_bytes(requested as *mut u8, 0, 2 * g.nblocks);
        }
        // The first slice holds the array (and block 0); the others become dirty as the
        // zone's blocks reach them (`mark_dirty`, from `heap::extend`).
        (*seg).dirty_mask |= slice_bits(first, 1);
        let z = Segment::zone(seg, first);
        (*z).sp = 0;
        (*z).requested = requested;
        (*z).blocks = start.add(g.blocks_offset);
        (*z).magic = g.magic;
        (*z).bsize = g.bsize;
        (*z).span = g.span;
        (*z).trigger = crate::heap::OUT_OF_LIST;
        (*z).extended = 0;
        (*z).next = ptr::null_mut();
        (*z).prev = ptr::null_mut();
        (*z).class.store(c as u8, Ordering::Relaxed);
        (*z).state.store(ZONE_LISTED, Ordering::Relaxed);
        (*z).guarded
            .store(crate::debug::guard_on(), Ordering::Relaxed);
        for i in first..first + n {
            (*seg).slice_entry(i).store(entry, Ordering::Release);
        }
        z
    }
}

/// The segment of zone `z`, its first slice (the index of its descriptor) and its number of
/// slices.
///
/// # Safety
/// `z` is a live zone descriptor of a heap the caller owns.
unsafe fn zone_slices(z: *mut Zone) -> (*mut Segment, usize, usize) {
    let seg = segment_of(z as usize);
    // SAFETY: guaranteed by the caller: the descriptor lies in its segment's header.
    unsafe {
        let first = first_of_descriptor(z as usize - seg as usize);
        let c = (*z).class.load(Ordering::Relaxed) as usize;
        (seg, first, GEOMETRY[c].slices)
    }
}

/// Whether zone `z` has slices past its first in memory (reached by its blocks, or waiting for
/// a purge tick).
///
/// # Safety
/// `z` is a live zone of a heap the caller owns.
pub unsafe fn dirty_past_first(z: *mut Zone) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let (seg, first, n) = zone_slices(z);
        n > 1 && (*seg).dirty_mask & slice_bits(first + 1, n - 1) != 0
    }
}

/// Whether giving back zone `z` (empty) would make, in its segment, a place for a zone of `n`
/// slices whose pages are all in memory.
///
/// # Safety
/// `z` is a live zone of a heap the caller owns.
pub unsafe fn place_when_released(z: *mut Zone, n: usize) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let (seg, first, slices) = zone_slices(z);
        let bits = slice_bits(first, slices);
        best_run((*seg).free_mask | bits, (*seg).dirty_mask | bits, n)
            .is_some_and(|(_, cost)| cost < CLEAN_SLICE_COST)
    }
}

/// Gives an empty zone's slices back to its segment; gives the segment to the pool when it is
/// empty and the heap has another one.
///
/// # Safety
/// `z` is an empty zone of `heap` (no block handed out, none pending on a remote list), out of
/// every class list; `heap` is owned by the caller.
pub unsafe fn zone_release(heap: *mut Heap, z: *mut Zone) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let (seg, first, n) = zone_slices(z);
        (*z).state.store(ZONE_UNUSED, Ordering::Relaxed);
        // A descriptor with no span covers no address: `owner_zone_at` tries the descriptor of
        // a pointer's own slice first, and this one could otherwise claim addresses that
        // another zone's slices hold next.
        (*z).span = 0;
        for i in first..first + n {
            (*seg).slice_entry(i).store(0, Ordering::Release);
        }
        let bits = slice_bits(first, n);
        (*seg).free_mask |= bits;
        (*seg).unreached_old &= !bits;
        (*seg).unreached_new &= !bits;
        if !(*seg).in_avail {
            avail_push(heap, seg);
        }
        if (*seg).free_mask == ALL_SLICES && (*heap).segments > 1 {
            if (*heap).empty_segments >= EMPTY_SEGMENTS_KEPT {
                segment_release(heap, seg);
                return;
            }
            (*heap).empty_segments += 1;
            (*seg).counted_empty = true;
        }
        schedule_purge(heap, seg, bits, false);
    }
}

/// Adds `bits` to the slices of `seg` that its next purge tick gives back, arming it, or, when
/// one is armed already, to those of the tick after it (`purge_old` and `purge_new`, or
/// `unreached_old` and `unreached_new` for slices of a live zone when `unreached`).
///
/// # Safety
/// `seg` is a segment of `heap`, which the caller owns.
unsafe fn schedule_purge(heap: *mut Heap, seg: *mut Segment, bits: u64, unreached: bool) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let armed = (*seg).purge_at != 0;
        let masks = match (unreached, armed) {
            (false, false) => &mut (*seg).purge_old,
            (false, true) => &mut (*seg).purge_new,
            (true, false) => &mut (*seg).unreached_old,
            (true, true) => &mut (*seg).unreached_new,
        };
        *masks |= bits;
        if !armed {
            arm_purge(heap, seg, heap_clock(heap));
        }
    }
}

/// Gives back the pages of free slices whose purge delay has passed, in the heap's segments.
///
/// # Safety
/// `heap` is owned by the caller.
pub unsafe fn purge_due(heap: *mut Heap, now: u64) {
    let mut next = 0;
    // SAFETY: the heap's avail list holds its own segments (those with free slices or
    // unreached ones: the only ones with something to purge).
    unsafe {
        let mut seg = (*heap).avail;
        while !seg.is_null() {
            let following = (*seg).next;
            let at = (*seg).purge_at;
            if at != 0 && at <= now {
                purge_slices(seg, (*seg).purge_old);
                purge_unreached(seg, (*seg).unreached_old);
                (*seg).purge_at = 0;
                (*seg).purge_old = (*seg).purge_new & (*seg).free_mask;
                (*seg).purge_new = 0;
                (*seg).unreached_old = (*seg).unreached_new;
                (*seg).unreached_new = 0;
                if (*seg).purge_old != 0 || (*seg).unreached_old != 0 {
                    (*seg).purge_at = now + PURGE_DELAY_MS;
                } else if (*seg).free_mask == ALL_SLICES && (*heap).segments > 1 {
                    // Empty for a whole delay: back to the pool (its pages are purged already).
                    segment_release(heap, seg);
                } else if (*seg).free_mask == 0 {
                    // Full, and nothing left to purge: purge ticks need not look at it.
                    avail_remove(heap, seg);
                }
            }
            let at = (*seg).purge_at;
            if at != 0 && (next == 0 || at < next) {
                next = at;
            }
            seg = following;
        }
        (*heap).purge_at = next;
    }
}

/// Dirty free slices a heap keeps whatever its growth or the LARGE blocks' (below them, a zone
/// or a LARGE block made on fresh memory purges nothing).
const GROWTH_KEEP_DIRTY: usize = 4;

/// Gives back the pages of at most `want` dirty free slices of `heap` (keeping
/// `GROWTH_KEEP_DIRTY`), those freed before the last purge tick first, never the slices `bits`
/// of `chosen` (a zone is being made there).
///
/// Called when memory that was not in memory is about to be faulted in: a zone on fresh slices
/// (no run of dirty slices was long enough for it), or a LARGE block on fresh pages. Dirty runs
/// that a zone can reuse are taken first (`best_run`), so only memory that could not serve the
/// zone goes back, and resident memory follows live memory when a program's blocks move from
/// one size class to the next (strings growing by `realloc`: each class's zones empty while the
/// next class's fill), or from zones to LARGE blocks and back, instead of keeping both for the
/// purge delay.
///
/// # Safety
/// `heap` is owned by the caller; `chosen` is null or one of its segments.
pub unsafe fn purge_for_growth(heap: *mut Heap, want: usize, chosen: *mut Segment, bits: u64) {
    // SAFETY: guaranteed by the caller; the avail list holds the heap's own segments (every
    // one with free slices), and free slices hold no block.
    unsafe {
        let spare = |seg: *mut Segment| {
            let skip = if seg == chosen { bits } else { 0 };
            (*seg).free_mask & (*seg).dirty_mask & !skip
        };
        let mut dirty_free = 0;
        let mut seg = (*heap).avail;
        while !seg.is_null() {
            dirty_free += spare(seg).count_ones() as usize;
            seg = (*seg).next;
        }
        let mut left = want.min(dirty_free.saturating_sub(GROWTH_KEEP_DIRTY));
        for older in [true, false] {
            let mut seg = (*heap).avail;
            while !seg.is_null() && left != 0 {
                let age = if older {
                    (*seg).purge_old
                } else {
                    !(*seg).purge_old
                };
                // The lowest `left` of these slices.
                let mut mask = spare(seg) & age;
                while mask.count_ones() as usize > left {
                    mask &= !(1u64 << (63 - mask.leading_zeros()));
                }
                left -= purge_slices(seg, mask) / SLICE_SIZE;
                seg = (*seg).next;
            }
        }
    }
}

/// Zones of at least this many slices keep only their first slice's pages, past a purge tick,
/// when made on dirty slices (`zone_create`).
const BIG_ZONE_SLICES: usize = 8;

/// Whether `seg` has slices of live zones that purge ticks may give back (`unreached_old`,
/// `unreached_new`).
///
/// # Safety
/// `seg` is a segment of a heap the caller owns.
unsafe fn has_unreached(seg: *mut Segment) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe { ((*seg).unreached_old | (*seg).unreached_new) != 0 }
}

/// Gives back the pages of the slices of `mask` that live zones of `seg` have not reached
/// (see `Segment::unreached_old`), one `madvise` per run of them. Returns the bytes given
/// back.
///
/// # Safety
/// `seg` is a segment of a heap the caller owns.
unsafe fn purge_unreached(seg: *mut Segment, mask: u64) -> usize {
    // SAFETY: guaranteed by the caller; no block lies in those slices (the zone's blocks
    // have not reached them), nor its arrays (in its first slice, never marked so).
    unsafe {
        let mask = mask & ((*seg).unreached_old | (*seg).unreached_new);
        (*seg).unreached_old &= !mask;
        (*seg).unreached_new &= !mask;
        purge_runs(seg, mask)
    }
}

/// Gives back the pages of the slices of `mask` that are free and dirty in `seg`, one
/// `madvise` per run of them. Returns the bytes given back.
///
/// # Safety
/// `seg` is a segment of a heap the caller owns.
unsafe fn purge_slices(seg: *mut Segment, mask: u64) -> usize {
    // SAFETY: guaranteed by the caller; free slices hold no block.
    unsafe { purge_runs(seg, mask & (*seg).free_mask) }
}

/// Gives back the pages of the dirty slices of `mask` in `seg`, which hold nothing, one
/// `madvise` per run of them. Returns the bytes given back.
///
/// # Safety
/// `seg` is a segment of a heap the caller owns; no block and no zone's array lies in the
/// slices of `mask`.
unsafe fn purge_runs(seg: *mut Segment, mask: u64) -> usize {
    let mut given = 0;
    // SAFETY: guaranteed by the caller.
    unsafe {
        let mut mask = mask & (*seg).dirty_mask;
        while mask != 0 {
            let lo = mask.trailing_zeros() as usize;
            let run = (!(mask >> lo)).trailing_zeros() as usize;
            os::purge((seg as *mut u8).add(lo * SLICE_SIZE), run * SLICE_SIZE);
            let bits = slice_bits(lo, run);
            mask &= !bits;
            (*seg).dirty_mask &= !bits;
            given += run * SLICE_SIZE;
        }
    }
    given
}

/// Gives back at once (`malloc_trim`) the pages of every free slice of `heap`'s segments,
/// without waiting for the purge delay, and puts its empty segments in the pool but `keep`
/// (see `release_empty_segments`). Returns the bytes given back.
///
/// # Safety
/// `heap` is owned by the caller.
pub unsafe fn purge_all_free(heap: *mut Heap, keep: usize) -> usize {
    let mut given = 0;
    // SAFETY: guaranteed by the caller; the avail list holds the heap's own segments (those
    // with free slices or unreached ones).
    unsafe {
        let mut seg = (*heap).avail;
        while !seg.is_null() {
            let following = (*seg).next;
            given += purge_slices(seg, ALL_SLICES);
            given += purge_unreached(seg, ALL_SLICES);
            (*seg).purge_old = 0;
            (*seg).purge_new = 0;
            (*seg).purge_at = 0;
            if (*seg).free_mask == 0 {
                // Kept in the list only for its unreached slices, given back now.
                avail_remove(heap, seg);
            }
            seg = following;
        }
        (*heap).purge_at = 0;
        release_empty_segments(heap, keep);
    }
    given
}

/// Takes `seg` out of its heap's count of empty segments (a zone is made in it, or it leaves).
///
/// # Safety
/// `seg` is a segment of `heap`, which the caller owns.
unsafe fn uncount_empty(heap: *mut Heap, seg: *mut Segment) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if (*seg).counted_empty {
            (*seg).counted_empty = false;
            (*heap).empty_segments -= 1;
        }
    }
}

/// Schedules the purge of `seg`'s `purge_old` slices one delay from `now`.
///
/// # Safety
/// `seg` is a segment of `heap`, which the caller owns.
unsafe fn arm_purge(heap: *mut Heap, seg: *mut Segment, now: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        (*seg).purge_at = now + PURGE_DELAY_MS;
        if (*heap).purge_at == 0 || (*heap).purge_at > (*seg).purge_at {
            (*heap).purge_at = (*seg).purge_at;
        }
    }
}

/// Puts the heap's empty segments in the pool at once, without waiting for the purge delay,
/// but `keep` of them (kept for the next zone; 0 for a heap going idle in the heap pool).
///
/// # Safety
/// `heap` is owned by the caller.
pub unsafe fn release_empty_segments(heap: *mut Heap, keep: usize) {
    // SAFETY: guaranteed by the caller; the avail list holds the heap's own segments.
    unsafe {
        let mut seg = (*heap).avail;
        while !seg.is_null() {
            let following = (*seg).next;
            if (*seg).free_mask == ALL_SLICES && (*heap).segments > keep {
                segment_release(heap, seg);
            }
            seg = following;
        }
    }
}

/// Bytes of the segment header, whole pages.
const HEADER_BYTES: usize = size_of::<Segment>().next_multiple_of(PAGE_SIZE);
// Everything but the slice map and the zone descriptors lies in the header's first page, the
// map of an empty segment is all 0, and a zeroed descriptor is an unused one
// (segment_release purges the pages past the first).
const _: () = assert!(core::mem::offset_of!(Segment, slice_map) <= PAGE_SIZE);
const _: () = assert!(ZONE_UNUSED == 0);

/// Purges an empty segment and puts it in the pool.
///
/// # Safety
/// `seg` is an empty segment of `heap`, in its avail list; `heap` is owned by the caller.
unsafe fn segment_release(heap: *mut Heap, seg: *mut Segment) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        uncount_empty(heap, seg);
        avail_remove(heap, seg);
        (*heap).segments -= 1;
        // The header's pages past the first hold only zone descriptors, all unused now: they
        // are purged with the dirty slices, in one call (the untouched pages between cost
        // nothing), and read back as zeros, which is an unused descriptor. The first page
        // (the masks, the links, the slice map) stays.
        let dirty = (*seg).dirty_mask;
        let end = if dirty != 0 {
            (64 - dirty.leading_zeros() as usize) * SLICE_SIZE
        } else {
            HEADER_BYTES
        };
        os::purge((seg as *mut u8).add(PAGE_SIZE), end - PAGE_SIZE);
        (*seg).dirty_mask = 0;
        (*seg).heap.store(ptr::null_mut(), Ordering::Release);
        REGISTRY.set_owner(seg as usize, registry::UNOWNED);
        G.pool_lock.lock();
        let pool = G.seg_pool.get();
        (*seg).next = *pool;
        *pool = seg;
        G.pool_lock.unlock();
    }
}

/// Unmaps every pooled segment, to give address space back when a mapping failed. Returns the
/// bytes unmapped. A thread reading the header of one of them for a stale or foreign pointer
/// (it read the registry entry just before `REGISTRY.remove`) would fault: a window that only
/// a misusing program, at the limit of its address space, can meet. `malloc_trim` does not
/// unmap them for that reason (`heap::trim`).
pub fn release_pooled() -> usize {
    let mut unmapped = 0;
    G.pool_lock.lock();
    // SAFETY: pool_lock held: the pool and the all-segments list are ours to change; pooled
    // segments hold no block and belong to no heap.
    unsafe {
        let mut s = *G.seg_pool.get();
        *G.seg_pool.get() = ptr::null_mut();
        while !s.is_null() {
            let next = (*s).next;
            // unlink from the all-segments list
            let mut link = &G.all_segments;
            loop {
                let cur = link.load(Ordering::Relaxed);
                if cur.is_null() {
                    break;
                }
                if cur == s {
                    link.store((*s).next_all.load(Ordering::Relaxed), Ordering::Release);
                    break;
                }
                link = &(*cur).next_all;
            }
            REGISTRY.remove(s as usize);
            os::unmap(s as *mut u8, SEGMENT_SIZE);
            unmapped += SEGMENT_SIZE;
            s = next;
        }
    }
    G.pool_lock.unlock();
    unmapped
}

/// The owner's view of the zone covering `p`: its descriptor, or, for a free slice or the
/// header, the segment header itself read as a descriptor, whose `span` is 0 (`zero_span`), so
/// that every pointer fails the caller's range test. Only the descriptor's `blocks` and `span`
/// may be read before that test.
///
/// # Safety
/// `seg` is a mapped segment owned by the calling thread's heap (so its slice map does not
/// change meanwhile), and `p` lies in it.
#[inline(always)]
pub unsafe fn zone_at_unchecked(seg: *mut Segment, p: usize) -> *mut Zone {
    let at = entry_offset(p);
    let offset: usize;
    // SAFETY: the header is mapped (caller's contract) and `at` lies in the map. A read of the
    // offset half of the entry (one instruction, `movzx`; rustc would zero-extend twice); the
    // owner is the only writer of the map, so it races with no write.
    unsafe {
        core::arch::asm!(
            "movzx {offset:e}, word ptr [{seg} + {at} + {map}]",
            offset = out(reg) offset,
            seg = in(reg) seg,
            at = in(reg) at,
            map = const core::mem::offset_of!(Segment, slice_map),
            options(nostack, readonly, preserves_flags, pure),
        );
        (seg as *mut u8).add(offset) as *mut Zone
    }
}

/// `zone_at_unchecked` for the owner's `free`, `realloc` and `malloc_usable_size`: first the
/// descriptor of `p`'s own slice, whose address comes from `p` alone, when it covers `p` (every
/// pointer in the first slice of a zone, and a zone of one slice is most zones of the small
/// classes), else through the slice map. The stores of `free` (the `requested` entry, the
/// stack) then wait for one load less: a random small block replaced in a loop of 1000 live
/// ones 5% faster, a `malloc(32)`/`free` loop 13% (see `Zone::span`).
///
/// # Safety
/// As for `zone_at_unchecked`.
#[inline(always)]
pub unsafe fn owner_zone_at(seg: *mut Segment, p: usize) -> *mut Zone {
    // SAFETY: the header is mapped (caller's contract); the index is masked into the array.
    unsafe {
        let own = Segment::zone(seg, p >> SLICE_SHIFT);
        if p.wrapping_sub((*own).blocks as usize) < (*own).span {
            own
        } else {
            zone_at_unchecked(seg, p)
        }
    }
}

/// Whether `seg` belongs to `heap`: one compare of the owner field in memory and one branch
/// (asm goto; rustc would load the atomic into a register, then compare). The field is written
/// only when the segment changes hands, so the line stays shared between the threads that
/// free into the segment (a field beside the owner's free stack and count would be taken from
/// it by every other thread's `free`: producer/consumer, 68 to 50 million blocks a second).
///
/// # Safety
/// `seg` is a mapped segment of ours.
#[inline(always)]
pub unsafe fn owned_by(seg: *mut Segment, heap: *mut Heap) -> bool {
    // SAFETY: the header is mapped (caller's contract); a relaxed read of its atomic owner
    // field, as `(*seg).heap.load(Relaxed)`.
    unsafe {
        core::arch::asm!(
            "cmp qword ptr [{seg} + {field}], {heap}",
            "jne {other}",
            seg = in(reg) seg,
            heap = in(reg) heap,
            field = const core::mem::offset_of!(Segment, heap),
            other = label { return false; },
            options(nostack, readonly),
        );
    }
    true
}

/// The zone covering the slice of `p` in segment `seg`: its first slice, descriptor and class.
///
/// # Safety
/// `seg` is a mapped segment of ours and `p` lies in it.
#[inline(always)]
pub unsafe fn zone_at(seg: *mut Segment, p: usize) -> Option<(usize, *mut Zone, usize)> {
    // SAFETY: the header is mapped (caller's contract); a non-zero entry holds the offset of a
    // descriptor inside the header, the zone's class and its array's colour, written whole by
    // an atomic store.
    unsafe {
        let entry = (*Segment::entry_of(seg, p)).load(Ordering::Acquire) as usize;
        let offset = entry & 0xFFFF;
        if offset == 0 {
            return None;
        }
        let first = first_of_descriptor(offset);
        Some((first, (seg as *mut u8).add(offset) as *mut Zone, entry))
    }
}

/// The class that slice map entry `entry` names, masked into `GEOMETRY`.
#[inline(always)]
pub fn entry_class(entry: usize) -> usize {
    (entry >> 16) & (GEOMETRY_ENTRIES - 1)
}

/// The cache line, from its start, where the `requested` array of a zone of class `c` made at
/// slice `first` of segment `seg` starts (its colour, kept in its slice map entries): picked by
/// the segment and the slice, so that the arrays of zones of one class, in one segment or in
/// several, start on different lines (see `size_class::COLOUR_ROOM`).
fn array_colour(seg: *mut Segment, first: usize, c: usize) -> usize {
    ((seg as usize >> SEGMENT_SHIFT) * 11 + first * 7) & (GEOMETRY[c].colours - 1)
}

/// The slice map entry of a zone of class `c` made at slice `first`, its array at `colour`.
fn slice_map_entry(first: usize, c: usize, colour: usize) -> u32 {
    (descriptor_offset(first) | c << 16 | colour << 24) as u32
}

/// The `requested` array of the zone made at slice `first` of segment `seg` whose slice map
/// entry is `entry`: `colour` cache lines past the zone's start, past the zone's free stack
/// (`2 * nblocks` bytes, see `Zone`). Masked, so that whatever a concurrent writer did, it
/// ends inside the segment (at most 255 lines, and a stack and an array of at most 6,552
/// bytes each, past a slice boundary; a class past the last has no blocks).
#[inline(always)]
pub fn requested_array(seg: *mut Segment, first: usize, entry: usize) -> *const AtomicU16 {
    let first = first & (SLICES_PER_SEGMENT - 1);
    // SAFETY: the class is masked into GEOMETRY.
    let stack = 2 * unsafe { GEOMETRY.get_unchecked(entry_class(entry)) }.nblocks;
    // ((entry >> 24) & 0xFF) * 64, in two instructions.
    (seg as usize + (first << SLICE_SHIFT) + ((entry >> 18) & (0xFF << 6)) + stack)
        as *const AtomicU16
}

/// Where a pointer into a zone stands.
pub struct SmallRef {
    pub zone: *mut Zone,
    pub class: usize,
    /// The block's entry in its zone's `requested` array.
    pub requested: *const AtomicU16,
}

/// What an address is to the zones.
pub enum Lookup {
    /// The start of a block (in use or not).
    Block(SmallRef),
    /// Inside a zone of ours but not at a block start: the block containing it, if the address
    /// lies in the blocks area.
    Inside(Option<usize>),
    /// In no zone of ours.
    Outside,
}

/// Classifies `p`, reading only our own memory: the registry, then the segment header, then
/// `GEOMETRY`. Does not look at the block's state.
#[inline(always)]
pub fn small_classify(p: usize) -> Lookup {
    if !REGISTRY.contains(p) {
        return Lookup::Outside;
    }
    // SAFETY: the registry says a segment of ours is mapped there.
    unsafe { small_classify_mapped(p) }
}

/// `small_classify` of a pointer the registry already placed in a segment of ours.
///
/// # Safety
/// `p` lies in a mapped segment of ours.
#[inline(always)]
pub unsafe fn small_classify_mapped(p: usize) -> Lookup {
    let seg = segment_of(p);
    // SAFETY: a segment of ours is mapped at `seg` (caller's contract); the header is inside it.
    // The class from the slice map is masked into GEOMETRY (entries past the last class have
    // span 0), so the requested entry computed from it lies inside the zone, inside the
    // segment, whatever a concurrent writer did.
    unsafe {
        let Some((first, zone, entry)) = zone_at(seg, p) else {
            return Lookup::Inside(None);
        };
        let class = entry_class(entry);
        let g = GEOMETRY.get_unchecked(class);
        let start = seg as usize + (first << SLICE_SHIFT);
        let blocks = start + g.blocks_offset;
        let off = p.wrapping_sub(blocks);
        if off >= g.span {
            return Lookup::Inside(None);
        }
        let (idx, exact) = block_index(off, &g.magic);
        if !exact {
            let bsize = g.bsize.max(1);
            return Lookup::Inside(Some(blocks + off / bsize * bsize));
        }
        Lookup::Block(SmallRef {
            zone,
            class,
            requested: requested_array(seg, first, entry).add(idx),
        })
    }
}

/// The block at `p`, which the caller knows is a block start in one of our zones (a Rust
/// `dealloc` with its layout): the registry and the block-start check are skipped.
///
/// # Safety
/// `p` was returned by a small allocation of ours (and may not be freed yet).
#[inline(always)]
pub unsafe fn small_known(p: usize) -> SmallRef {
    let seg = segment_of(p);
    // SAFETY: guaranteed by the caller: the segment is mapped and `p` is in a live zone.
    unsafe {
        let (first, zone, entry) = zone_at(seg, p).unwrap_unchecked();
        let class = entry_class(entry);
        let g = GEOMETRY.get_unchecked(class);
        let start = seg as usize + (first << SLICE_SHIFT);
        let (idx, _) = block_index(p - start - g.blocks_offset, &g.magic);
        SmallRef {
            zone,
            class,
            requested: requested_array(seg, first, entry).add(idx),
        }
    }
}

/// The block that starts at `p` in one of our zones, if any (see `small_classify`).
#[inline(always)]
pub fn small_lookup(p: usize) -> Option<SmallRef> {
    match small_classify(p) {
        Lookup::Block(r) => Some(r),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_clock_slows_over_gaps_but_keeps_moving() {
        // Reads a few ms apart: the wall clock's pace.
        assert_eq!(clock_step(0), 0);
        assert_eq!(clock_step(CLOCK_GAP_MS), CLOCK_GAP_MS);
        // A thread that ran 5 ms in every 40 (GIL turns): its 35 ms off count 7, so slices it
        // freed in its last turn are not past the purge delay when it runs again.
        assert!(5 + clock_step(35) < PURGE_DELAY_MS);
        // A thread that sleeps 100 ms between bursts still reaches two purge delays (the most
        // a slice waits) within a second of wall time.
        let mut clock = 0;
        let mut wall = 0;
        while clock < 2 * PURGE_DELAY_MS {
            clock += clock_step(100);
            wall += 100;
        }
        assert!(wall <= 1000, "{wall} ms");
    }

    #[test]
    fn a_zone_goes_where_its_slices_are_in_memory() {
        // Free: slices 1-4 (clean) and 10-13 (dirty); a zone of 4 takes the dirty run.
        let free = slice_bits(1, 4) | slice_bits(10, 4);
        let dirty = slice_bits(10, 4);
        assert_eq!(best_run(free, dirty, 4), Some((10, 0)));
        // One clean slice costs more than any leftover: a longer dirty run is better.
        let free = slice_bits(1, 4) | slice_bits(10, 8);
        let dirty = slice_bits(2, 3) | slice_bits(10, 8);
        let (first, cost) = best_run(free, dirty, 4).unwrap();
        assert_eq!(first & !4, 10, "an end of the dirty run");
        assert!(cost < CLEAN_SLICE_COST);
        // No run long enough.
        assert_eq!(best_run(slice_bits(1, 3), 0, 4), None);
    }

    #[test]
    fn a_big_zone_keeps_off_the_dirty_slices_it_would_give_back() {
        let n = BIG_ZONE_SLICES + 4;
        // Run A (1..): all dirty; run B (30..): its first slice dirty, the rest clean.
        let free = slice_bits(1, n) | slice_bits(30, n);
        let dirty = slice_bits(1, n) | slice_bits(30, 1);
        let (first, cost) = best_run(free, dirty, n).unwrap();
        assert_eq!(first, 30);
        assert!(cost < CLEAN_SLICE_COST);
        // Both runs dirty throughout: the zone still takes one rather than fault a slice in.
        let (first, cost) = best_run(free, free, n).unwrap();
        assert!(first == 1 || first == 30);
        assert!(cost < CLEAN_SLICE_COST);
        // A small zone prefers the dirty run (it keeps all its slices).
        assert_eq!(
            best_run(slice_bits(1, 4) | slice_bits(30, 4), slice_bits(1, 4), 4),
            Some((1, 0))
        );
    }
}
