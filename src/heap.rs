//! Heaps: a thread's allocation state, the class lists of zones, the purge ticks, and the paths
//! that hand out small (TINY and SMALL) blocks; `free` takes them back, and `pool` keeps the
//! heaps of exited threads.
//!
//! Fast path of `malloc` (`alloc_direct`, requests up to `DIRECT_MAX`): one TLS load, one load
//! of the class-list head from the heap's `direct` table (indexed by the size, no class
//! lookup), one pop of a block index off the zone's free stack, and the block's `requested`
//! entry written (the stack lies right below the `requested` array: one base for both, see
//! `Zone`). It neither reads nor writes the block itself.

use core::ptr;
use core::sync::atomic::{AtomicU16, AtomicU8, Ordering};

use crate::free::{collect_remote, has_remote, remote_out_flush};
use crate::os;
use crate::pool::{heap_take, remote_pending, tidy_one, tidy_pooled};
use crate::segment;
use crate::size_class::{class_of, DIRECT_MAX, DIRECT_SPANS, GEOMETRY};
use crate::state::{DEAD_HEAP, EMPTY_ZONE, G, SHARED_HEAP, UNINIT_HEAP};
use crate::tls;
use crate::types::{request_entry, Heap, Zone, CLASS_COUNT, MAX_HEAP_TAG, PAGE_SIZE};

/// Points every class list of `h` at the empty zone.
///
/// # Safety
/// `h` is valid and not in use by another thread.
pub unsafe fn heap_prepare(h: *mut Heap) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        for c in 0..CLASS_COUNT {
            set_class_head(h, c, EMPTY_ZONE.get());
        }
        // The entry of a request of 0 bytes, in no class's span (see `alloc_direct`).
        (*h).direct[0] = EMPTY_ZONE.get();
        (*h).tag = NEXT_TAG
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                (t <= MAX_HEAP_TAG).then_some(t + 1)
            })
            .unwrap_or(0);
        (*h).ready = true;
    }
}

/// The tag the next heap prepared gets (`Heap::tag`); past `MAX_HEAP_TAG`, heaps get none.
static NEXT_TAG: AtomicU8 = AtomicU8::new(1);

/// Makes `h` the calling thread's heap: its TLS heap pointer and tag.
pub fn set_thread_heap(h: *mut Heap) {
    tls::set_heap(h);
    // SAFETY: `h` is a heap or a sentinel, valid for ever.
    tls::set_tag(unsafe { crate::registry::tls_tag_of(h) } as usize);
}

/// Entry `i` of a `requested` array (or of the free stack below it: `i < 0`), zero-extended: a
/// relaxed atomic load, in assembly because rustc zero-extends the loaded value a second time.
///
/// # Safety
/// `array + 2 * i` is a readable `u16` entry.
#[inline(always)]
unsafe fn load_entry(array: *const AtomicU16, i: isize) -> usize {
    let v: usize;
    // SAFETY: guaranteed by the caller; an aligned 16-bit load is atomic on x86-64.
    unsafe {
        core::arch::asm!(
            "movzx {v:e}, word ptr [{a} + 2 * {i}]",
            v = lateout(reg) v,
            a = in(reg) array,
            i = in(reg) i,
            options(pure, readonly, nostack, preserves_flags),
        );
    }
    v
}

/// The block whose index is on top of the free stack of zone `z`: taken off the stack and
/// handed out, `entry` written as its `requested` entry (`request_entry` of the size asked
/// for). Nothing changes when the stack is empty (`sp` 0): the caller gets None.
///
/// # Safety
/// `z` is a zone of the calling thread's heap (or the empty zone).
#[inline(always)]
unsafe fn stack_pop(z: *mut Zone, entry: u16) -> Option<*mut u8> {
    // SAFETY: guaranteed by the caller: the stack lies below `requested`, `sp` within it;
    // an index on the stack is below nblocks, so the block and its entry are in the zone.
    unsafe {
        let sp = (*z).sp;
        if sp == 0 {
            return None;
        }
        let requested = (*z).requested;
        let idx = load_entry(requested, sp);
        (*z).sp = sp + 1;
        (*requested.add(idx)).store(entry, Ordering::Relaxed);
        Some((*z).blocks.add(idx * (*z).bsize))
    }
}

/// Gives the calling thread a heap (first allocation of a thread). A thread that freed blocks
/// of another thread's heap before this (`tls::freed_into`) asks for that heap, waiting a few
/// yields (`FREED_INTO_WAIT_YIELDS`) for it to reach the pool if it is not there yet.
///
/// That is a thread that starts its successor and exits, leaving its blocks to it (a server's
/// worker chain, larson): the successor's first `free` often comes before its predecessor has
/// finished exiting, so the heap is not pooled yet and cannot be adopted then (`adopt`). Taking
/// another pooled heap for its first `malloc` moved the chain's blocks to that heap, and the
/// predecessor's heap, left in the pool with them, was then taken by other threads: heaps mixed
/// the blocks of several chains and more of them held memory. `bench/larson` (four chains,
/// 800 threads in all), median peak RSS of interleaved runs: 19.6 MiB before, 17.2 MiB
/// asking for the heap without waiting, 15.9 MiB with one yield, 13.7 with four, 14.4 with
/// eight, 14.2 with 20 and 13.8 with 100; the mimalloc-bench larson (`larson 5 8 1000 5000
/// 100 4141 2`): 25.7 MiB to 23.2 MiB, and 5-10% more operations per second. The wait costs
/// a thread that first frees into the heap of a thread that is not exiting (a worker that
/// frees the requests of a main thread) that many yields, once: nothing measurable when the
/// processors are free; when a busy thread shares the one processor, a thread's creation,
/// first free and first malloc took 70 µs with 16 yields against 42 µs before, and 59-62 µs
/// with 8 against 61-79 µs (three runs each).
#[cold]
pub(crate) fn thread_heap_init() -> *mut Heap {
    let freed_into = tls::freed_into();
    if !freed_into.is_null() {
        tls::set_freed_into(ptr::null_mut());
        for _ in 0..FREED_INTO_WAIT_YIELDS {
            // SAFETY: heaps are never unmapped; the flag is atomic.
            if unsafe { (*freed_into).pooled.load(Ordering::Relaxed) } {
                break;
            }
            os::yield_now();
        }
    }
    thread_heap_init_from(freed_into)
}

/// Yields a new thread waits at most for the heap it freed into to reach the pool.
const FREED_INTO_WAIT_YIELDS: usize = 8;

/// `thread_heap_init`, taking `prefer` if it is in the pool (see `heap_take`).
#[cold]
pub(crate) fn thread_heap_init_from(prefer: *mut Heap) -> *mut Heap {
    crate::init::global_init();
    // global_init may have allocated (pthread_atfork), and so set up our heap already.
    let h = tls::heap();
    if h != UNINIT_HEAP.get() {
        return h;
    }
    let h = heap_take(prefer);
    if h.is_null() {
        return h;
    }
    set_thread_heap(h);
    crate::init::register_thread_heap(h);
    h
}

/// Start-up work for the loading thread, done by the library constructor so that a program's
/// first `malloc` does not pay for it: the thread's heap and its first segment (whose header
/// and registry bit are the pages any allocation needs).
pub fn warm_up() {
    let h = if tls::heap() == UNINIT_HEAP.get() {
        thread_heap_init()
    } else {
        tls::heap()
    };
    if h.is_null() || h == DEAD_HEAP.get() {
        return;
    }
    // SAFETY: `h` is this thread's own heap.
    unsafe {
        if (*h).segments == 0 {
            segment::segment_acquire(h);
        }
        // The purge clock: its first read maps the vDSO's data page, paid here rather than
        // in the program's first allocations.
        (*h).purge_at = segment::heap_clock(h) + segment::PURGE_DELAY_MS;
    }
}

/// Allocates a block of class `c` for a request of `size` bytes (`size <= class size`).
/// Null (errno ENOMEM) when out of memory.
#[inline(always)]
pub fn alloc_small(c: usize, size: usize) -> *mut u8 {
    let heap = tls::heap();
    // SAFETY: the TLS heap is this thread's own ready heap, or a sentinel whose class lists all
    // point at the empty zone. `c` comes from `class_of` (below CLASS_COUNT).
    unsafe {
        let z = *(*heap).classes.get_unchecked(c);
        if let Some(p) = stack_pop(z, request_entry(size)) {
            return p;
        }
    }
    alloc_small_slow(heap, c, size)
}

/// `alloc_small(class_of(size), size)` for `size <= DIRECT_MAX`, the head of the class list
/// read from the heap's `direct` table: `malloc`'s fast path.
#[inline(always)]
pub fn alloc_direct(size: usize) -> *mut u8 {
    debug_assert!(size <= DIRECT_MAX);
    let heap = tls::heap();
    // SAFETY: as in alloc_small; the index is at most DIRECT_MAX / 8 (the caller's bound).
    unsafe {
        // A size of 0 finds the empty zone (`size_class::DIRECT_SPANS` leaves entry 0 alone),
        // so every size here is its own `requested` entry (see `request_entry`).
        let z = *(*heap).direct.get_unchecked((size + 7) >> 3);
        if let Some(p) = stack_pop(z, size as u16) {
            return p;
        }
    }
    alloc_direct_slow(size, heap)
}

/// The slow path of `alloc_direct`, which finds the class itself (so that the fast path keeps
/// nothing alive for it but `size`).
#[cold]
#[inline(never)]
fn alloc_direct_slow(size: usize, heap: *mut Heap) -> *mut u8 {
    alloc_small_slow(heap, class_of(size), size)
}

#[cold]
#[inline(never)]
fn alloc_small_slow(mut heap: *mut Heap, c: usize, size: usize) -> *mut u8 {
    if heap == UNINIT_HEAP.get() {
        heap = thread_heap_init();
        if heap.is_null() {
            return os::out_of_memory();
        }
    }
    if heap == DEAD_HEAP.get() {
        G.shared_lock.lock();
        // SAFETY: the shared heap is used only under shared_lock, which we hold.
        let p = unsafe { heap_alloc(SHARED_HEAP.get(), c, size) };
        G.shared_lock.unlock();
        return p;
    }
    // SAFETY: `heap` is this thread's own heap.
    unsafe { heap_alloc(heap, c, size) }
}

/// The general allocation path of a heap.
///
/// # Safety
/// `heap` is owned by the caller (or its lock is held).
unsafe fn heap_alloc(heap: *mut Heap, c: usize, size: usize) -> *mut u8 {
    // SAFETY: guaranteed by the caller; zones in the class lists are the heap's own.
    unsafe {
        if !(*heap).ready {
            heap_prepare(heap);
        }
        let mut z = (*heap).classes[c];
        if (*z).sp == 0 {
            // The common case first: the current zone has never-used blocks left, and no block
            // came back from another thread (those are reused before new ones are touched).
            if z != EMPTY_ZONE.get()
                && !has_remote(heap)
                && ((*z).extended as usize) < GEOMETRY[c].nblocks
            {
                extend(z, c);
            } else {
                z = refill(heap, c);
                if z.is_null() {
                    return os::out_of_memory();
                }
            }
        }
        stack_pop(z, request_entry(size)).unwrap_unchecked()
    }
}

/// Puts never-used blocks of `z` on its stack, lowest index on top: those that start before
/// the end of the page of the next one, or of the page after it when less than half a page is
/// left. One block when a block is half a page or more. The blocks themselves are not
/// written; their slices are marked as in memory (`segment::mark_dirty`) as the batches reach
/// them, so that a page's worth at a time keeps that mark close to the pages the program
/// touches (a zone's first blocks share the page of its arrays: a thread that uses a few
/// blocks of a class touches one or two pages of the zone). Fewer when the zone has no more.
///
/// # Safety
/// `z` is a zone of class `c` of a heap owned by the caller, with `extended < nblocks` and an
/// empty stack.
unsafe fn extend(z: *mut Zone, c: usize) {
    let g = &GEOMETRY[c];
    // SAFETY: blocks [extended, extended + n) lie inside the zone and are not in use; the
    // stack has room for every block of the zone.
    unsafe {
        let e = (*z).extended as usize;
        let first = (*z).blocks.add(e * g.bsize);
        let n = if g.bsize >= PAGE_SIZE / 2 {
            1
        } else {
            let mut end = (first as usize | (PAGE_SIZE - 1)) + 1;
            if end - (first as usize) < PAGE_SIZE / 2 {
                end += PAGE_SIZE;
            }
            (end - first as usize).div_ceil(g.bsize)
        }
        .min(g.nblocks - e);
        segment::mark_dirty(first as usize, first as usize + n * g.bsize);
        if (*z).guarded.load(Ordering::Relaxed) {
            ptr::write_bytes(first, crate::debug::SCRIBBLE_FREED, n * g.bsize);
        }
        // The pushes of blocks e + n - 1 down to e (e on top), written as one run: the stack
        // lies below the `requested` array and only the owner reads or writes it, so plain
        // stores, and `sp` stored once (pushing one index at a time stored `sp` after each:
        // 7% of a program that keeps refilling zones, such as sh8bench).
        let sp = (*z).sp;
        let top = ((*z).requested as *mut u16).offset(sp - n as isize);
        for k in 0..n {
            *top.add(k) = (e + k) as u16;
        }
        (*z).sp = sp - n as isize;
        (*z).extended += n as u32;
        // Only the head of a class list is extended.
        (*z).trigger = head_trigger(z);
    }
}

/// The `trigger` of a zone out of its class list because it was full: its next block back
/// re-lists it (see `Zone::trigger`).
pub const OUT_OF_LIST: i32 = i32::MAX;

/// The `trigger` of a zone in its class list behind the head: the push of its last block
/// handed out (see `Zone::trigger`).
///
/// # Safety
/// `z` is a live zone descriptor of the caller's heap.
pub(crate) unsafe fn listed_trigger(z: *mut Zone) -> i32 {
    // SAFETY: guaranteed by the caller.
    1 - (unsafe { (*z).extended } as i32)
}

/// The `trigger` of a zone at the head of its class list: every block extended is on the
/// stack, so no block can come back but one given back twice (see `Zone::trigger`).
///
/// # Safety
/// `z` is a live zone descriptor of the caller's heap.
unsafe fn head_trigger(z: *mut Zone) -> i32 {
    // SAFETY: guaranteed by the caller.
    -(unsafe { (*z).extended } as i32)
}

/// Finds or makes a zone of class `c` with a free block and puts it at the head of its list.
///
/// # Safety
/// `heap` is owned by the caller (or its lock is held).
#[inline(never)]
unsafe fn refill(heap: *mut Heap, c: usize) -> *mut Zone {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if has_remote(heap) {
            collect_remote(heap);
        }
        // The purge clock, read on one refill in PURGE_CHECK_EVERY (a refill can come every
        // other allocation when zones are nearly full, and a clock read costs as much as a
        // malloc), and before making a zone.
        (*heap).slow_events = (*heap).slow_events.wrapping_add(1);
        if (*heap).slow_events.is_multiple_of(PURGE_CHECK_EVERY) {
            purge_tick(heap);
        }
        let empty = EMPTY_ZONE.get();
        loop {
            let z = (*heap).classes[c];
            if z == empty {
                break;
            }
            if (*z).sp != 0 {
                return z;
            }
            if ((*z).extended as usize) < GEOMETRY[c].nblocks {
                extend(z, c);
                return z;
            }
            class_unlink(heap, c, z);
            (*z).trigger = OUT_OF_LIST;
        }
        if !(*heap).slow_events.is_multiple_of(PURGE_CHECK_EVERY) {
            purge_tick(heap);
        }
        let z = segment::zone_create(heap, c, |n| release_head_for(heap, n));
        if z.is_null() {
            return z;
        }
        class_push_front(heap, c, z);
        extend(z, c);
        z
    }
}

/// Refills (and zone releases) per purge-clock read (see `refill` and `zone_changed`).
pub(crate) const PURGE_CHECK_EVERY: u32 = 8;

/// Reads the purge clock: arms the heap's tick if none is pending, or runs the purges that are
/// due (empty class heads, then free slices past their delay).
///
/// # Safety
/// `heap` is owned by the caller.
pub(crate) unsafe fn purge_tick(heap: *mut Heap) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let now = segment::heap_clock(heap);
        if (*heap).purge_at == 0 {
            // A tick, so that empty class heads are looked at even when no zone was released.
            (*heap).purge_at = now + segment::PURGE_DELAY_MS;
        } else if now >= (*heap).purge_at {
            purge_tick_own(heap, now);
            if heap != SHARED_HEAP.get() {
                // Pooled heaps wait on the wall clock.
                tidy_pooled((*heap).clock_seen);
            }
        }
    }
}

/// The part of a purge tick that concerns `heap` alone (and the LARGE cache): when due, its
/// empty class heads are released and its free slices past their delay purged.
///
/// # Safety
/// `heap` is owned by the caller.
pub(crate) unsafe fn purge_tick_own(heap: *mut Heap, now: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if (*heap).purge_at != 0 && now >= (*heap).purge_at {
            remote_out_flush(heap);
            age_empty_heads(heap);
            segment::purge_due(heap, now);
            crate::large::expire_cached();
        }
    }
}

/// The purge tick's part in the zones that head their class list while empty (kept by
/// `release_block`, so that a malloc/free loop does not make and release a zone on every
/// turn): such a zone is released if it was found so at the previous tick and has not been
/// used since; otherwise it is reset to a zone with no block extended (`sp` and `extended` 0),
/// which the next allocation of its class extends again from block 0 on the slow path
/// (`heap_alloc`, `refill`). A reset head that still has nothing extended at the next tick was
/// not used for a whole delay: it goes back like any other empty zone, so that its slices can
/// serve other classes and its pages can be purged. A class in use whose zone happens to be
/// empty at a tick (a thread that holds one block of each of many classes at a time) keeps it:
/// releasing every empty head at each tick made such a thread make its zones again right
/// after, each time searching its segments for a place and giving back the pages of big zones
/// (an OpenMP loop of 4 threads, each `malloc`, `realloc` and `free` of 16 B..100 KB: 468
/// `madvise` calls, now 28, and 0.30 s, now 0.27). The classes' empty spares (`zone_changed`)
/// age the same way; a reset spare is extended again when it takes the head's place.
///
/// # Safety
/// `heap` is owned by the caller.
unsafe fn age_empty_heads(heap: *mut Heap) {
    // SAFETY: guaranteed by the caller; `pick` is given the heap's own empty heads and spares,
    // whose extended blocks are all on their stacks (none handed out), so the stack holds
    // nothing once `sp` is 0.
    unsafe {
        let idle_or_reset = |z: *mut Zone| {
            if (*z).extended == 0 {
                return true;
            }
            (*z).sp = 0;
            (*z).extended = 0;
            (*z).trigger = head_trigger(z);
            false
        };
        release_empty_heads_if(heap, idle_or_reset, usize::MAX);
    }
}

/// Releases the zones that head their class list while empty, and the classes' empty spares
/// (`zone_changed`), at once: where memory is wanted back now (`malloc_trim`, an idle pooled
/// heap's tidying, a failed mapping). Purge ticks age them instead (`age_empty_heads`).
///
/// # Safety
/// `heap` is owned by the caller.
unsafe fn release_empty_heads(heap: *mut Heap) {
    // SAFETY: guaranteed by the caller.
    unsafe { release_empty_heads_if(heap, |_| true, usize::MAX) };
}

/// Releases one zone that heads its class list while empty (kept by `release_block`), or one
/// class's empty spare (kept by `zone_changed`), if that makes a place of `n` slices in memory
/// for a new zone (`segment::zone_create`, which would otherwise fault in fresh pages); where
/// none does, every such zone with pages in memory past its first slice. Returns whether it
/// released any.
///
/// A class's emptied zone is kept so that a loop of `malloc` and `free` does not make and
/// release it on every turn, but a thread whose blocks move from class to class (200 blocks of
/// one size at a time, the size changing each turn through the SMALL classes) kept one of each
/// class it had gone through, each with the pages its blocks had reached, until the purge
/// ticks: 16 MiB where its blocks took 2.5 MiB at most; now 8 MiB, and 2,000 page faults for
/// 6,400 turns instead of 5,000. Releasing every empty one whenever a zone needed fresh slices
/// once made threads that keep a few blocks of many classes make and release zones, and purge
/// their pages, over and over (mstress: 0.19 s -> 0.24 s, 419 -> 6,651 madvise calls), when a
/// big zone gave back its pages past the first slice as soon as it was made; now they go back
/// at a later purge tick if its blocks have not reached them (`Segment::unreached_old`). Zones
/// with only their first slice in memory are still kept: they hold little, and a class with a
/// block or two live at a time empties its zone again and again (glibc's bench-malloc-thread,
/// 1,024 blocks of 4 B..32 KiB replaced at random: releasing every empty zone of more than one
/// slice faulted in 520 more pages, and `mmap.shrink` made 170 `madvise` calls instead of 0).
///
/// # Safety
/// `heap` is owned by the caller.
unsafe fn release_head_for(heap: *mut Heap, n: usize) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe {
        release_empty_heads_if(heap, |z| segment::place_when_released(z, n), 1) != 0
            || release_empty_heads_if(heap, |z| segment::dirty_past_first(z), usize::MAX) != 0
    }
}

/// Releases up to `most` of the zones that head their class list while empty, or are kept
/// empty right behind the head as the class's spare (`zone_changed`), and for which `pick`
/// holds; returns how many it released.
///
/// # Safety
/// `heap` is owned by the caller; `pick` is given live zones of the heap.
unsafe fn release_empty_heads_if(
    heap: *mut Heap,
    pick: impl Fn(*mut Zone) -> bool,
    most: usize,
) -> usize {
    let mut released = 0;
    // SAFETY: guaranteed by the caller; the class lists hold the heap's own zones.
    unsafe {
        let empty = EMPTY_ZONE.get();
        for c in 0..CLASS_COUNT {
            let head = (*heap).classes[c];
            if head == empty {
                continue;
            }
            // The class's spare (the zone behind the head, kept empty by `zone_changed`),
            // then the head.
            for z in [(*head).next, head] {
                if released == most {
                    return released;
                }
                if !z.is_null() && (*z).handed_out() == 0 && pick(z) {
                    class_unlink(heap, c, z);
                    segment::zone_release(heap, z);
                    released += 1;
                }
            }
        }
    }
    released
}

/// The calling thread's heap, when it has one of its own (None while its heap pointer is a
/// shared sentinel: before its first allocation, and after its exit destructor ran).
pub fn own_heap() -> Option<*mut Heap> {
    let heap = tls::heap();
    (heap != UNINIT_HEAP.get() && heap != DEAD_HEAP.get()).then_some(heap)
}

/// Gives back what the calling thread's heap holds without need, at once: its empty zones and
/// empty segments (a mapping failed; the address space is wanted now, not after the purge
/// delay). The segments go to the pool, which the caller then unmaps.
pub fn release_unneeded() {
    let Some(heap) = own_heap() else { return };
    // SAFETY: `heap` is this thread's own heap, ready since it is not the sentinel.
    unsafe {
        release_empty_heads(heap);
        segment::release_empty_segments(heap, 1);
    }
}

/// A LARGE block is about to fault in `bytes` of fresh pages: the calling thread's heap gives
/// back as many pages of its dirty free slices (see `segment::purge_for_growth`).
pub fn purge_for_large(bytes: usize) {
    let Some(heap) = own_heap() else { return };
    // SAFETY: `heap` is this thread's own heap, ready since it is not a sentinel.
    unsafe { segment::purge_for_growth(heap, bytes / crate::types::SLICE_SIZE, ptr::null_mut(), 0) }
}

/// `malloc_trim`: gives back at once what the calling thread's heap holds without need (its
/// empty zones, the pages of its free slices, its empty segments), what the heaps of exited
/// threads hold without need (every pooled heap not tidied since it was pooled or freed into
/// since: see `tidy_one`), and the LARGE cache, instead of waiting for the purge delays. The
/// heaps of other running threads are theirs alone to change: each gives back its own on its
/// purge ticks and at its exit. Empty segments in the segment pool stay mapped (purged, see
/// below). Returns whether anything was given back.
pub fn trim() -> bool {
    let mut given = crate::large::release_cached();
    if let Some(heap) = own_heap() {
        // SAFETY: `heap` is this thread's own heap, ready since it is not a sentinel.
        unsafe {
            remote_out_flush(heap);
            given += give_back_free(heap, 1);
        }
    }
    // Every pooled heap not tidied since it was pooled, or with blocks freed into it since
    // it was tidied before this call (each heap at most once: tidying stamps it with a time
    // not below `start`).
    let start = os::now_ms();
    // SAFETY: the calling thread does not hold the heap lock (it is held only inside this
    // module's functions, none of which calls back here); the test reads pooled heaps.
    while unsafe {
        tidy_one(
            |h| !(*h).tidied || ((*h).idle_since < start && remote_pending(h)),
            usize::MAX,
        )
    } {
        given += 1;
    }
    // The pooled segments stay mapped: their pages past the first were purged when they were
    // pooled, and another thread may be reading one's header for a pointer it was handed that
    // lies there (a stale or foreign one, which `free` must ignore): it read the registry
    // entry before the segment left it, and an unmap then would fault its next read (a
    // thread freeing such pointers while another calls `malloc_trim` in a loop crashed
    // within 0.2 s, every run). A refused mapping still unmaps them (`release_pooled`), to
    // give back address space where it runs out.
    given != 0
}

/// Gives back at once what `heap` holds without need: takes in the blocks other threads freed
/// into it, releases its empty zones, purges its free slices and pools its empty segments but
/// `keep` (1 for the calling thread's heap in `malloc_trim`, 0 for an idle pooled one in
/// `tidy_one`). Returns the bytes purged.
///
/// # Safety
/// `heap` is owned by the caller (its thread's, or taken out of the pool).
pub(crate) unsafe fn give_back_free(heap: *mut Heap, keep: usize) -> usize {
    // SAFETY: guaranteed by the caller.
    unsafe {
        crate::large::front_flush_of(heap);
        collect_remote(heap);
        release_empty_heads(heap);
        segment::purge_all_free(heap, keep)
    }
}

/// Makes `z` the head of `heap`'s class list `c`: in `classes`, and in the `direct` entries of
/// the class's sizes. A head is never released when it empties (its `trigger` catches only a
/// block given back twice, see `Zone::trigger`);
/// the old head, if it stays in the list, is again released when it empties (unless it is the
/// only zone behind the new head: then it is the class's spare, see `zone_changed`).
///
/// # Safety
/// `heap` is owned by the caller (or not yet in use); `c < CLASS_COUNT`.
unsafe fn set_class_head(heap: *mut Heap, c: usize, z: *mut Zone) {
    // SAFETY: guaranteed by the caller; the spans lie in the direct table (DIRECT_SPANS is
    // built from it). The old head, when a zone (not null in a heap being prepared, nor the
    // shared EMPTY_ZONE, which is never written), is one of the heap's live zones.
    unsafe {
        let old = (*heap).classes[c];
        if old == z {
            return;
        }
        let empty = EMPTY_ZONE.get();
        if !old.is_null() && old != empty {
            (*old).trigger = listed_trigger(old);
        }
        if z != empty {
            (*z).trigger = head_trigger(z);
        }
        (*heap).classes[c] = z;
        if let Some(&(first, end)) = DIRECT_SPANS.get(c) {
            for i in first as usize..end as usize {
                *(*heap).direct.get_unchecked_mut(i) = z;
            }
        }
    }
}

/// # Safety
/// `z` is in `heap`'s class list `c`; `heap` owned by the caller.
pub(crate) unsafe fn class_unlink(heap: *mut Heap, c: usize, z: *mut Zone) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let empty = EMPTY_ZONE.get();
        if (*z).prev.is_null() {
            let next = if (*z).next.is_null() {
                empty
            } else {
                (*z).next
            };
            set_class_head(heap, c, next);
        } else {
            (*(*z).prev).next = (*z).next;
        }
        if (*z).next.is_null() {
            (*heap).class_tails[c] = (*z).prev;
        } else {
            (*(*z).next).prev = (*z).prev;
        }
        (*z).next = ptr::null_mut();
        (*z).prev = ptr::null_mut();
    }
}

/// # Safety
/// `z` is in no class list; `heap` owned by the caller.
unsafe fn class_push_front(heap: *mut Heap, c: usize, z: *mut Zone) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let head = (*heap).classes[c];
        (*z).prev = ptr::null_mut();
        if head == EMPTY_ZONE.get() {
            (*z).next = ptr::null_mut();
            (*heap).class_tails[c] = z;
        } else {
            (*z).next = head;
            (*head).prev = z;
        }
        set_class_head(heap, c, z);
    }
}

/// Puts `z` at the end of its class list: a zone that was full and got a block back is used
/// after the others, by which time more of its blocks have come back (put right behind the
/// head, it would serve one allocation and be full again, at the cost of a refill each time).
///
/// # Safety
/// `z` is in no class list; `heap` owned by the caller.
pub(crate) unsafe fn class_push_back(heap: *mut Heap, c: usize, z: *mut Zone) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let tail = (*heap).class_tails[c];
        if (*heap).classes[c] == EMPTY_ZONE.get() || tail.is_null() {
            class_push_front(heap, c, z);
            return;
        }
        (*z).next = ptr::null_mut();
        (*z).prev = tail;
        (*tail).next = z;
        (*heap).class_tails[c] = z;
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::free::zone_of;
    use crate::segment::segment_of;

    /// The owner's lookup tries the descriptor of a pointer's own slice before the slice map
    /// (`segment::owner_zone_at`): it must find the same zone as the slice map for every block
    /// and every pointer inside one, in every slice of a zone of several slices, and a
    /// released zone's descriptor must cover nothing (its `span` 0), or it would claim the
    /// addresses of whatever zone takes its slices next.
    #[test]
    fn the_owner_finds_a_zone_from_the_slice_of_the_pointer_and_a_released_zone_covers_nothing() {
        std::thread::spawn(|| {
            let c = (0..CLASS_COUNT)
                .find(|&c| GEOMETRY[c].slices >= 2)
                .expect("a class whose zones span several slices");
            let n = GEOMETRY[c].nblocks;
            let size = class_size(c);
            let blocks: std::vec::Vec<*mut u8> = (0..n).map(|_| alloc_small(c, size)).collect();
            let seg = segment_of(blocks[0] as usize);
            let mut slices = std::collections::BTreeSet::new();
            for &p in &blocks {
                assert!(!p.is_null());
                let a = p as usize;
                slices.insert(a >> crate::types::SLICE_SHIFT);
                for q in [a, a + 8, a + size - 1] {
                    let s = segment_of(q);
                    // SAFETY: `q` lies in a segment of this thread's heap.
                    let (by_slice, by_map) = unsafe {
                        (
                            segment::owner_zone_at(s, q),
                            segment::zone_at_unchecked(s, q),
                        )
                    };
                    assert_eq!(by_slice, by_map, "{q:#x}: two zones");
                }
            }
            assert!(slices.len() >= 2, "the blocks lie in one slice");
            for &p in &blocks {
                // SAFETY: each block is live and freed once.
                assert_eq!(unsafe { crate::alloc::free_checked_plain(p) }, Ok(()));
            }
            // The zone, empty, goes back.
            trim();
            for k in 1..crate::types::SLICES_PER_SEGMENT {
                // SAFETY: the segment stays mapped (the heap keeps one); its header is ours.
                unsafe {
                    let z = crate::types::Segment::zone(seg, k);
                    if (*z).span != 0 {
                        let entry = (*seg).slice_entry(k).load(Ordering::Relaxed) as usize;
                        assert_eq!(
                            entry & 0xFFFF,
                            crate::types::descriptor_offset(k),
                            "slice {k}: a descriptor with a span that is not a live zone's"
                        );
                    }
                }
            }
            for &p in &blocks {
                // SAFETY: a stale pointer: the check must refuse it.
                assert!(unsafe { crate::alloc::free_checked_plain(p) }.is_err());
            }
        })
        .join()
        .unwrap();
    }

    use crate::size_class::class_size;

    /// Checks the free stack of zone `z` against `live` (the indices of its blocks handed
    /// out) and `held` (those handed out before the test began): within its region, and every
    /// index below `extended` either on it or in `live`, once; an index in `held` on it at
    /// most once (its holder may free it meanwhile).
    ///
    /// # Safety
    /// `z` is a zone of the calling thread's heap.
    unsafe fn check_stack(z: *mut Zone, live: &[usize], held: &[usize]) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let c = (*z).class.load(Ordering::Relaxed) as usize;
            let sp = (*z).sp;
            assert!(
                -(GEOMETRY[c].nblocks as isize) <= sp && sp <= 0,
                "sp {sp} out of the region"
            );
            let mut seen = std::vec![0u8; (*z).extended as usize];
            for &i in live {
                seen[i] += 1;
            }
            for at in sp..0 {
                seen[load_entry((*z).requested, at)] += 1;
            }
            for &i in held {
                seen[i] = seen[i].max(1);
            }
            assert!(seen.iter().all(|&n| n == 1), "an index lost or held twice");
        }
    }

    #[test]
    fn the_free_stack_keeps_every_index_once_and_stays_in_its_region() {
        // A thread of its own, so that its heap holds no other blocks of the test's.
        std::thread::spawn(|| {
            let c = 12;
            let size = class_size(c);
            let n = GEOMETRY[c].nblocks;
            let mut rng = 0x9E37_79B9_7F4A_7C15u64;
            let mut next = || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            // The thread's heap may be the pooled heap of an exited test thread, whose zones of
            // class c still hold blocks that thread handed to others: their indices, per zone.
            let heap = thread_heap_init();
            let mut held_before = std::vec::Vec::new();
            // SAFETY: this thread's heap owns its class lists' zones.
            unsafe {
                let mut z = (*heap).classes[c];
                while !z.is_null() && z != EMPTY_ZONE.get() {
                    let mut on_stack = std::vec![false; (*z).extended as usize];
                    for at in (*z).sp..0 {
                        on_stack[load_entry((*z).requested, at)] = true;
                    }
                    let held: std::vec::Vec<usize> =
                        (0..on_stack.len()).filter(|&i| !on_stack[i]).collect();
                    held_before.push((z, held));
                    z = (*z).next;
                }
            }
            let mut live: std::vec::Vec<*mut u8> = std::vec::Vec::new();
            // Phases that fill a zone and more, empty them, and hover in between, freeing at
            // random: zones fill, leave their class list, come back, empty, and are kept as
            // the class's spare or released.
            for round in 0..2000 {
                let target = match round % 4 {
                    0 => n + n / 2,
                    1 => 0,
                    _ => (next() % n as u64) as usize,
                };
                while live.len() != target {
                    if live.len() < target {
                        let p = crate::alloc::malloc(size);
                        assert!(!p.is_null());
                        live.push(p);
                        continue;
                    }
                    let p = live.swap_remove((next() % live.len() as u64) as usize);
                    // SAFETY: p is a live block of ours; the entry below its zone's stack lies
                    // in the mapped segment (the zone's pad, or the end of the slice before:
                    // no block of this test, which writes none).
                    unsafe {
                        let z = zone_of(p as usize);
                        let below = (*z).requested.offset(-(n as isize) - 1);
                        let was = (*below).load(Ordering::Relaxed);
                        crate::alloc::free(p);
                        let now = (*below).load(Ordering::Relaxed);
                        assert_eq!(now, was, "a push below the stack's region");
                    }
                }
                // SAFETY: this thread's heap owns its class lists' zones.
                unsafe {
                    let mut z = (*tls::heap()).classes[c];
                    while !z.is_null() && z != EMPTY_ZONE.get() {
                        let blocks = (*z).blocks as usize;
                        let mine: std::vec::Vec<usize> = live
                            .iter()
                            .filter(|&&p| zone_of(p as usize) == z)
                            .map(|&p| (p as usize - blocks) / size)
                            .collect();
                        let held = held_before
                            .iter()
                            .find(|(at, _)| *at == z)
                            .map_or(&[][..], |(_, held)| &held[..]);
                        check_stack(z, &mine, held);
                        z = (*z).next;
                    }
                }
            }
            for p in live {
                // SAFETY: p is a live block of ours.
                unsafe { crate::alloc::free(p) };
            }
        })
        .join()
        .unwrap();
    }
}
