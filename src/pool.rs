//! The pool of heaps: a thread that exits gives its heap back (`heap_give_back`, with its
//! zones and whatever blocks it handed to other threads), and a new thread takes one
//! (`heap_take`: a pooled heap it frees into, else the one pooled longest, else a new one).
//! Heaps are never unmapped, so a block's owner heap stays valid for ever. Pooled heaps that
//! stay idle are tidied by the purge ticks of running threads (`tidy_pooled`): the blocks other
//! threads freed into them taken back, their free memory given back.

use core::ptr;
use core::sync::atomic::Ordering;

use crate::free::{collect_remote, remote_out_flush, ADOPT_WINDOW_MS};
use crate::heap::{give_back_free, heap_prepare};
use crate::os;
use crate::segment;
use crate::state::G;
use crate::types::{Heap, HeapList, HeapPool};

/// Heaps are carved from mappings of this size.
const HEAP_CHUNK: usize = 64 * 1024;
/// Takes a heap for a new thread: `prefer` if it is in the pool (a pooled heap the thread
/// frees into, see `adopt`), else the first heap (in the globals), a pooled one, or a new one.
pub(crate) fn heap_take(prefer: *mut Heap) -> *mut Heap {
    G.heap_lock.lock();
    // SAFETY: heap_lock held: the pool, the chunk and the first-heap flag are ours.
    let h = unsafe {
        let pool = G.heap_pool.get();
        if !prefer.is_null() && pool_unlink(pool, prefer) {
            prefer
        } else if !*G.first_heap_taken.get() {
            *G.first_heap_taken.get() = true;
            G.first_heap.get()
        } else if let Some(h) = pool_pick(pool) {
            h
        } else {
            let (mut next, mut end) = *G.heap_chunk.get();
            let size = size_of::<Heap>();
            if next + size > end {
                let p = os::map(HEAP_CHUNK, 0);
                if p.is_null() {
                    G.heap_lock.unlock();
                    return ptr::null_mut();
                }
                next = p as usize;
                end = next + HEAP_CHUNK;
            }
            *G.heap_chunk.get() = (next + size, end);
            next as *mut Heap
        }
    };
    G.heap_lock.unlock();
    // SAFETY: the heap was just taken out of the pool or carved: no other thread uses it.
    unsafe {
        if !(*h).ready {
            heap_prepare(h);
        } else if h != prefer && tidy_due(h, os::now_ms()) {
            // Idle in the pool past its delay with no thread to tidy it (every other thread
            // idle too): its free memory goes back now, before the new thread adds its own.
            give_back_free(h, 0);
        }
        (*h).adopt_until = if h == prefer {
            0
        } else {
            os::now_ms() + ADOPT_WINDOW_MS
        };
    }
    h
}

/// Takes a heap out of `pool` for a new thread (None when it is empty): the one pooled longest
/// among those not tidied since (`tidy_pooled`), else the first tidied one.
///
/// Not the most recently pooled heap first: its blocks were just left behind by its thread,
/// most of them still live (a thread that hands its work to a successor and exits: the
/// successor frees them over its life), so a new thread would find its zones full and extend
/// them into fresh memory, while the heaps pooled longest have had their blocks freed by the
/// other threads meanwhile and offer that memory again. Measured (bench workloads, median
/// peak RSS): larson-like thread chains 41-43 MiB taking the newest heap, 33-35 MiB taking the
/// oldest; mstress (8 threads created and joined per round) 9.6-9.8 MiB against 10.9-11.0 MiB,
/// as the oldest-first order keeps every pooled heap in use. Taking the oldest heap with
/// blocks freed by other threads pending, else the newest, was between the two for larson
/// (38 MiB) and no better for mstress. Tidied heaps come last: their pages were given back, and
/// they stay idle while others are at hand.
///
/// # Safety
/// `pool` is `G.heap_pool` with `G.heap_lock` held (or a pool only the caller uses).
unsafe fn pool_pick(pool: *mut HeapPool) -> Option<*mut Heap> {
    // SAFETY: guaranteed by the caller: the pool's lists are ours.
    unsafe {
        let h = if (*pool).fresh.tail.is_null() {
            (*pool).tidied.head
        } else {
            (*pool).fresh.tail
        };
        if h.is_null() {
            return None;
        }
        pool_remove(pool, h);
        Some(h)
    }
}

/// The list of `pool` that pooled heap `h` is in.
///
/// # Safety
/// As for `pool_pick`; `h` is in `pool`.
unsafe fn pool_list_of(pool: *mut HeapPool, h: *mut Heap) -> *mut HeapList {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if (*h).tidied {
            ptr::addr_of_mut!((*pool).tidied)
        } else {
            ptr::addr_of_mut!((*pool).fresh)
        }
    }
}

/// Unlinks `h` from list `l`.
///
/// # Safety
/// `l` is a list of a pool the caller may change (see `pool_pick`); `h` is in `l`.
unsafe fn list_unlink(l: *mut HeapList, h: *mut Heap) {
    // SAFETY: guaranteed by the caller: the links of `l`'s heaps are ours to change.
    unsafe {
        let (prev, next) = ((*h).pool_prev, (*h).pool_next);
        if prev.is_null() {
            (*l).head = next;
        } else {
            (*prev).pool_next = next;
        }
        if next.is_null() {
            (*l).tail = prev;
        } else {
            (*next).pool_prev = prev;
        }
        (*h).pool_prev = ptr::null_mut();
        (*h).pool_next = ptr::null_mut();
        (*l).len -= 1;
    }
}

/// Puts `h` at the head of list `l` (`at_head`), or at its tail.
///
/// # Safety
/// `l` is a list of a pool the caller may change (see `pool_pick`); `h` is in no list.
unsafe fn list_insert(l: *mut HeapList, h: *mut Heap, at_head: bool) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if at_head {
            (*h).pool_prev = ptr::null_mut();
            (*h).pool_next = (*l).head;
            if (*l).head.is_null() {
                (*l).tail = h;
            } else {
                (*(*l).head).pool_prev = h;
            }
            (*l).head = h;
        } else {
            (*h).pool_next = ptr::null_mut();
            (*h).pool_prev = (*l).tail;
            if (*l).tail.is_null() {
                (*l).head = h;
            } else {
                (*(*l).tail).pool_next = h;
            }
            (*l).tail = h;
        }
        (*l).len += 1;
    }
}

/// Takes heap `h` out of `pool`.
///
/// # Safety
/// As for `pool_pick`; `h` is in `pool`.
unsafe fn pool_remove(pool: *mut HeapPool, h: *mut Heap) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        list_unlink(pool_list_of(pool, h), h);
        (*h).pooled.store(false, Ordering::Relaxed);
    }
}

/// Takes `h` out of `pool`; false when it is not pooled.
///
/// # Safety
/// As for `pool_pick`; `h` is a heap, and in `pool` if pooled.
pub(crate) unsafe fn pool_unlink(pool: *mut HeapPool, h: *mut Heap) -> bool {
    // SAFETY: guaranteed by the caller: the pool's links are ours to change; heaps are never
    // unmapped, so reading the flag of any heap is sound.
    unsafe {
        if !(*h).pooled.load(Ordering::Relaxed) {
            return false;
        }
        pool_remove(pool, h);
        true
    }
}

/// Puts `h`, which no thread uses, at the head of the fresh heaps of `pool` (the most recently
/// pooled).
///
/// # Safety
/// As for `pool_pick`; `h` is in no pool.
pub(crate) unsafe fn pool_push_front(pool: *mut HeapPool, h: *mut Heap, now: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        (*h).idle_since = now;
        (*h).tidied = false;
        list_insert(ptr::addr_of_mut!((*pool).fresh), h, true);
        (*h).pooled.store(true, Ordering::Relaxed);
    }
}

/// Puts the heap of an exiting thread in the pool, with all its zones, for the next new thread.
///
/// # Safety
/// `h` is no longer used by any thread.
pub unsafe fn heap_give_back(h: *mut Heap) {
    // SAFETY: the caller's contract: `h` is ours alone now.
    unsafe { heap_trim(h) };
    let now = os::now_ms();
    G.heap_lock.lock();
    // SAFETY: heap_lock held; `h` is unused (caller's contract).
    unsafe { pool_push_front(G.heap_pool.get(), h, now) };
    G.heap_lock.unlock();
}

/// A pooled heap idle this long gives back its free memory (`tidy_pooled`).
const POOL_IDLE_MS: u64 = 4 * segment::PURGE_DELAY_MS;

/// Pooled heaps tidied per purge tick at most (`tidy_pooled`).
const TIDY_PER_TICK: usize = 8;

/// Gives back the free memory of the heaps that have sat in the pool for `POOL_IDLE_MS` (the
/// longest first, at most `TIDY_PER_TICK` of them; see `tidy_one`). A pooled heap has no
/// thread to run its purge ticks, so without this a program that ran more threads at once
/// than it does now (a server between bursts, a chain of threads that each start their
/// successor) would keep the memory of its idle heaps for good.
///
/// # Safety
/// The calling thread owns a heap (so that the heap lock is not held by it).
pub(crate) unsafe fn tidy_pooled(now: u64) {
    for _ in 0..TIDY_PER_TICK {
        // SAFETY: the caller's contract; tidy_one passes pooled heaps, which are valid.
        if !unsafe { tidy_one(|h| tidy_due(h, now), TIDY_SCAN) } {
            break;
        }
    }
}

/// Tidied heaps a purge tick looks at, at most, for blocks freed into them since (`tidy_one`):
/// a program with thousands of exited threads pooled would otherwise walk them all, under the
/// heap lock, on every tick of every thread. The scan moves the heaps it looks at to the tail,
/// so that the ticks go round all of them.
const TIDY_SCAN: usize = 32;

/// Whether pooled heap `h` is due for tidying at `now`: it has sat in the pool for
/// `POOL_IDLE_MS`, untidied, or tidied that long ago and other threads have freed blocks into
/// it since. (Threads that free the blocks an exited thread left behind often do so after
/// its heap was tidied, on a loaded machine especially: tidied once only, the heap kept the
/// zones those frees emptied, and a program that had 16 threads each leave 20 MiB for the main
/// thread to free kept about half of it resident for good.)
///
/// # Safety
/// `h` is a valid heap that no thread uses (pooled, or just taken out of the pool).
unsafe fn tidy_due(h: *mut Heap, now: u64) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe { (*h).idle_since + POOL_IDLE_MS <= now && (!(*h).tidied || remote_pending(h)) }
}

/// Whether other threads have freed blocks into `h` that it has not taken in yet.
///
/// # Safety
/// `h` is a valid heap.
pub(crate) unsafe fn remote_pending(h: *mut Heap) -> bool {
    // SAFETY: guaranteed by the caller; the lists are atomics.
    unsafe {
        (*h).remote_free
            .iter()
            .any(|list| !list.load(Ordering::Relaxed).is_null())
    }
}

/// Tidies a pooled heap for which `pick` holds (false when none is found): the fresh heap
/// pooled longest if `pick` holds for it (their `idle_since` never decreases towards it, so
/// for `tidy_due` it is the one, if any), else the first of the tidied heaps for which it holds,
/// among the first `scan` of them (each looked at in vain goes to the tail). Tidying takes in
/// the blocks other threads freed into the heap's zones since its thread exited, releases the
/// zones that are empty, purges its free slices and pools its empty segments, every one (a
/// pooled heap needs none: the next thread to take it gets a segment on its first allocation).
/// The heap keeps its zones that still hold blocks, and goes back at the tail of the tidied
/// heaps. A `fork` while a heap is out of the pool here leaves it, in the child, like the
/// heaps of the parent's other threads: with its zones, unused (the heap lock is free in the
/// child, `fork_child`).
///
/// # Safety
/// The calling thread does not hold the heap lock; `pick` reads only the heap's fields.
pub(crate) unsafe fn tidy_one(pick: impl Fn(*mut Heap) -> bool, scan: usize) -> bool {
    G.heap_lock.lock();
    // SAFETY: heap_lock held: the pool is ours to change; a heap taken out of it is used by
    // no thread (pooled heaps have none), and from here by us alone until it goes back.
    let h = unsafe { pool_take_for_tidying(G.heap_pool.get(), pick, scan) };
    G.heap_lock.unlock();
    let Some(h) = h else { return false };
    // SAFETY: `h` is out of the pool and ready (pooled heaps were used by a thread).
    unsafe {
        give_back_free(h, 0);
        (*h).tidied = true;
        (*h).idle_since = os::now_ms();
    }
    G.heap_lock.lock();
    // SAFETY: heap_lock held; `h` goes back at the tail of the tidied heaps.
    unsafe { pool_put_tidied(G.heap_pool.get(), h) };
    G.heap_lock.unlock();
    true
}

/// `tidy_one`'s choice, taken out of `pool`: the fresh heap pooled longest if `pick` holds for
/// it, else the first tidied heap for which it holds among the first `scan` (each looked at in
/// vain goes to the tail, so that successive scans go round them all).
///
/// # Safety
/// As for `pool_pick`; `pick` reads only the heap's fields.
unsafe fn pool_take_for_tidying(
    pool: *mut HeapPool,
    pick: impl Fn(*mut Heap) -> bool,
    scan: usize,
) -> Option<*mut Heap> {
    // SAFETY: guaranteed by the caller: the pool's lists and heaps are ours.
    unsafe {
        let oldest = (*pool).fresh.tail;
        let found = if !oldest.is_null() && pick(oldest) {
            Some(oldest)
        } else {
            let tidied = ptr::addr_of_mut!((*pool).tidied);
            (0..scan.min((*tidied).len)).find_map(|_| {
                let h = (*tidied).head;
                if pick(h) {
                    return Some(h);
                }
                list_unlink(tidied, h);
                list_insert(tidied, h, false);
                None
            })
        };
        if let Some(h) = found {
            pool_remove(pool, h);
        }
        found
    }
}

/// Puts `h`, just tidied (`tidied` set), at the tail of the tidied heaps of `pool`.
///
/// # Safety
/// As for `pool_pick`; `h` is in no pool.
unsafe fn pool_put_tidied(pool: *mut HeapPool, h: *mut Heap) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        list_insert(ptr::addr_of_mut!((*pool).tidied), h, false);
        (*h).pooled.store(true, Ordering::Relaxed);
    }
}

/// Tidies a heap whose thread exits: takes back the blocks other threads freed into it, so
/// that zones emptied meanwhile are released as usual, and gives back its empty segments. The heap keeps its zones for the next
/// thread, which usually comes soon (thread pools, servers); walking every zone here would
/// make each thread exit cost O(heap).
///
/// # Safety
/// `heap` is owned by the caller and no thread allocates from it meanwhile.
unsafe fn heap_trim(heap: *mut Heap) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        crate::large::front_flush_of(heap);
        remote_out_flush(heap);
        if (*heap).ready {
            collect_remote(heap);
            // Empty segments wait for a purge delay that nobody would run while the heap sits
            // in the pool: they go back now (pages purged, segments pooled for any heap).
            segment::release_empty_segments(heap, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The heap pool's lists, on a pool and heaps of the test's own: fresh heaps go out oldest
    /// first, tidied ones after them; a heap leaves from the middle in O(1), once; the tidying
    /// scan takes the oldest fresh heap if due, else looks at `scan` tidied heaps at most,
    /// moving each one it passes over to the tail so that the next scan goes on from there.
    #[test]
    fn the_heap_pool_hands_out_the_oldest_fresh_heap_then_tidied_ones_and_scans_in_rounds() {
        let mut heaps: std::vec::Vec<std::boxed::Box<Heap>> = (0..8)
            .map(|_| std::boxed::Box::new(crate::state::empty_heap()))
            .collect();
        let h: std::vec::Vec<*mut Heap> = heaps.iter_mut().map(|b| &mut **b as *mut Heap).collect();
        let mut pool = HeapPool {
            fresh: HeapList::EMPTY,
            tidied: HeapList::EMPTY,
        };
        let pool = &mut pool as *mut HeapPool;
        // SAFETY: the pool and the heaps are this test's alone.
        unsafe {
            let order = |l: HeapList| {
                let mut v = std::vec::Vec::new();
                let mut x = l.head;
                while !x.is_null() {
                    v.push(h.iter().position(|&y| y == x).unwrap());
                    x = (*x).pool_next;
                }
                assert_eq!(v.len(), l.len, "a list's length is off");
                v
            };
            for (t, &x) in h.iter().enumerate().take(5) {
                pool_push_front(pool, x, t as u64);
            }
            assert_eq!(order((*pool).fresh), [4, 3, 2, 1, 0]);
            assert_eq!(pool_pick(pool), Some(h[0]), "not the heap pooled longest");
            assert!(!(*h[0]).pooled.load(Ordering::Relaxed));
            assert!(pool_unlink(pool, h[2]), "a heap in the middle");
            assert!(!pool_unlink(pool, h[2]), "a heap taken twice");
            assert_eq!(order((*pool).fresh), [4, 3, 1]);
            // Tidying: the oldest fresh heap when due (idle since 1 or before here).
            assert_eq!(
                pool_take_for_tidying(pool, |x| (*x).idle_since <= 1, 32),
                Some(h[1])
            );
            assert_eq!(
                pool_take_for_tidying(pool, |x| (*x).idle_since <= 1, 32),
                None
            );
            for &x in &[h[1], h[5], h[6], h[7], h[2]] {
                (*x).tidied = true;
                pool_put_tidied(pool, x);
            }
            assert_eq!(order((*pool).tidied), [1, 5, 6, 7, 2]);
            // A tidied heap four deep, with a scan of two: not found, the two passed over go
            // to the tail; the next scan finds it.
            let want = h[7];
            assert_eq!(pool_take_for_tidying(pool, |x| x == want, 2), None);
            assert_eq!(order((*pool).tidied), [6, 7, 2, 1, 5]);
            assert_eq!(pool_take_for_tidying(pool, |x| x == want, 2), Some(h[7]));
            assert_eq!(order((*pool).tidied), [2, 1, 5, 6]);
            // A scan wider than the list looks at each heap once.
            assert_eq!(pool_take_for_tidying(pool, |_| false, usize::MAX), None);
            assert_eq!(order((*pool).tidied), [2, 1, 5, 6]);
            // Fresh heaps first, then the tidied ones from the head.
            assert_eq!(order((*pool).fresh), [4, 3]);
            assert_eq!(pool_pick(pool), Some(h[3]));
            assert_eq!(pool_pick(pool), Some(h[4]));
            assert_eq!(pool_pick(pool), Some(h[2]));
            assert!(pool_unlink(pool, h[5]));
            assert_eq!(pool_pick(pool), Some(h[1]));
            assert_eq!(pool_pick(pool), Some(h[6]));
            assert_eq!(pool_pick(pool), None);
            assert_eq!((*pool).fresh.len + (*pool).tidied.len, 0);
            assert!((*pool).tidied.head.is_null() && (*pool).tidied.tail.is_null());
        }
    }
}
