//! Taking small blocks back: `free` of a pointer in a segment of ours, by the owner thread or
//! by another one; the owner's later collection of other threads' frees; and the owner's
//! `malloc_usable_size` and in-place `realloc`, which make the same checks.
//!
//! Fast path of `free` by the owner thread (`free_own`, after the registry probe of
//! `alloc::free`): the slice map, the block-start check against the zone descriptor (one
//! multiply gives the block index and whether the offset is a block start:
//! `size_class::block_index`), the state check, one push on the zone's stack. It neither
//! reads nor writes the block. A block freed by another thread goes, after the same checks
//! made from `GEOMETRY` (`segment::small_classify`) and a swap of its `requested` entry that
//! claims it, into the freeing thread's batch for its owner (`remote_out_push`), then on one
//! of the owner heap's atomic `remote_free` lists (linked through the blocks' first words);
//! the owner takes those lists back when a class list runs dry, and at thread exit. A thread
//! that frees blocks of a pooled heap may adopt that heap (`adopt`). The zone-list changes a
//! push can cause (a full zone back in its list, an empty zone released) are in
//! `zone_changed`.

use core::ptr;
use core::sync::atomic::{AtomicU16, Ordering};

use crate::alloc::Misuse;
use crate::heap::{
    class_push_back, class_unlink, listed_trigger, purge_tick, purge_tick_own, set_thread_heap,
    thread_heap_init, thread_heap_init_from, OUT_OF_LIST, PURGE_CHECK_EVERY,
};
use crate::os;
use crate::pool::{pool_push_front, pool_unlink};
use crate::segment::{self, segment_of, SmallRef};
use crate::size_class::{block_index, GEOMETRY};
use crate::state::{DEAD_HEAP, G, UNINIT_HEAP};
use crate::tls;
use crate::types::{
    request_entry, Block, Heap, RemoteOut, Segment, Zone, REMOTE_LISTS, REMOTE_OUT_BATCH,
    REMOTE_OUT_SLOTS,
};

/// `free` of a pointer in a segment of ours (the registry said so). The owner thread checks the
/// pointer against its own zone descriptor; other threads derive the zone's shape from
/// `GEOMETRY` (`small_classify`), since the owner may be changing the descriptor.
///
/// # Safety
/// `p` lies in a mapped segment of ours; as for `alloc::free`.
#[inline(always)]
pub unsafe fn free_in_segment(p: *mut u8) -> Result<(), Misuse> {
    let a = p as usize;
    let heap = tls::heap();
    // SAFETY: the segment is mapped (caller's contract). When it belongs to this thread's
    // heap, free_own's contract holds. Otherwise the checks of small_classify apply.
    unsafe {
        if segment::owned_by(segment_of(a), heap) {
            return free_own(p, || heap);
        }
        match segment::small_classify_mapped(a) {
            segment::Lookup::Block(r) => {
                if free_small(&r, p) {
                    Ok(())
                } else {
                    Err(Misuse::DoubleFree)
                }
            }
            segment::Lookup::Inside(b) => Err(Misuse::Interior(b)),
            segment::Lookup::Outside => Err(Misuse::NotOwned),
        }
    }
}

/// `free` of a pointer in a segment of the calling thread's heap (`free_in_segment` found it
/// so, or `alloc::free` from the registry entry: `tls::tag_matches`), checked against the
/// owner's own zone descriptor (consistent, since only the owner changes it). `heap` gives
/// the calling thread's heap, asked for only when the zone changes state (`zone_changed`).
///
/// # Safety
/// `p` lies in a mapped segment of the calling thread's heap.
#[inline(always)]
pub unsafe fn free_own(p: *mut u8, heap: impl FnOnce() -> *mut Heap) -> Result<(), Misuse> {
    let a = p as usize;
    // SAFETY: guaranteed by the caller: the zone descriptors are ours; the entry computed
    // from them lies in the zone.
    unsafe {
        let z = segment::owner_zone_at(segment_of(a), a);
        let (z, entry) = match owner_lookup(z, a) {
            OwnerLookup::Block(z, entry) => (z, entry),
            OwnerLookup::OutsideBlocks => return Err(Misuse::Interior(None)),
            OwnerLookup::Interior(z, off) => return Err(interior(z, off)),
        };
        // A load and a store, not a swap: only the owner writes a non-zero entry, and other
        // threads clear it with a swap, so two threads freeing the block at the same time
        // take it once, unless one of them is this owner (then both can: a double free racing
        // with itself). A swap here would make that case exact too, but it is a locked
        // instruction, a full barrier that waits for the store buffer to drain: 20% of larson's
        // time (0.25 s -> 0.30 s). The debug modes claim with a swap (`debug::release`).
        if entry.is_zero() {
            return Err(Misuse::DoubleFree);
        }
        entry.get().store(0, Ordering::Relaxed);
        release_block(heap, z, entry.array, entry.index);
        Ok(())
    }
}

/// What the owner's own zone descriptors say of a pointer in one of its segments.
enum OwnerLookup {
    /// Not in the blocks of a zone (a free slice, the header, a `requested` array).
    OutsideBlocks,
    /// Inside a block of zone `z`, this many bytes past its block 0, not at a block start.
    Interior(*mut Zone, usize),
    /// The start of a block of zone `z`, whose `requested` entry is this.
    Block(*mut Zone, Entry),
}

/// A block's `requested` entry, kept as its zone's array and its index so that a test can
/// address it as `[array + 2 * index]` with no instruction to compute the address.
#[derive(Clone, Copy)]
struct Entry {
    array: *const AtomicU16,
    index: usize,
}

impl Entry {
    /// The entry.
    #[inline(always)]
    fn get(self) -> &'static AtomicU16 {
        // SAFETY: an Entry is made by owner_lookup for a block of a live zone: the entry lies
        // in the zone's array, in a segment that stays mapped while the zone lives.
        unsafe { &*self.array.add(self.index) }
    }

    /// Whether the entry is 0 (the block is free): one compare of the entry in memory and one
    /// branch (asm goto; rustc would load the atomic into a register, then test it).
    #[inline(always)]
    fn is_zero(self) -> bool {
        // SAFETY: as in `get`: a relaxed read of an atomic entry that lies in a mapped zone.
        unsafe {
            core::arch::asm!(
                "cmp word ptr [{array} + 2 * {index}], 0",
                "je {zero}",
                array = in(reg) self.array,
                index = in(reg) self.index,
                zero = label { return true; },
                options(nostack, readonly),
            );
        }
        false
    }
}

/// The descriptor of the zone that covers `a` when its segment is `heap`'s (the calling
/// thread's): None when it is another heap's. In a free slice or the header: the header read
/// as a descriptor (see `segment::zone_at_unchecked`).
///
/// # Safety
/// `a` lies in a mapped segment of ours.
#[inline(always)]
unsafe fn own_zone_at(a: usize, heap: *mut Heap) -> Option<*mut Zone> {
    let seg = segment_of(a);
    // SAFETY: guaranteed by the caller; the slice map is read once the segment is ours.
    unsafe {
        if segment::owned_by(seg, heap) {
            Some(segment::owner_zone_at(seg, a))
        } else {
            None
        }
    }
}

/// The owner's checks of `free`, `realloc` and `malloc_usable_size`: from its own zone
/// descriptor (consistent, since only the owner changes it), whether `a` is a block start.
///
/// # Safety
/// `z` is the descriptor of the zone that covers `a`, owned by the calling thread's heap.
#[inline(always)]
unsafe fn owner_lookup(z: *mut Zone, a: usize) -> OwnerLookup {
    // SAFETY: guaranteed by the caller: the descriptor is ours; the entry computed from it lies
    // in the zone, which lives as long as the segment (never unmapped while it holds a zone).
    unsafe {
        let off = a.wrapping_sub((*z).blocks as usize);
        if off >= (*z).span {
            return OwnerLookup::OutsideBlocks;
        }
        let (idx, exact) = block_index(off, &(*z).magic);
        if !exact {
            return OwnerLookup::Interior(z, off);
        }
        OwnerLookup::Block(
            z,
            Entry {
                array: (*z).requested,
                index: idx,
            },
        )
    }
}

/// `malloc_usable_size` of a pointer in a segment of the calling thread's heap, from the
/// owner's own zone descriptor (redis, for one, calls it on every allocation and free): the
/// block size of a live block, 0 for a free block or a pointer that is not a block start.
/// None when the segment belongs to another heap (the caller then takes the general path).
///
/// # Safety
/// `a` lies in a mapped segment of ours.
#[inline(always)]
pub unsafe fn owner_usable_size(a: usize) -> Option<usize> {
    // SAFETY: the segment is mapped (caller's contract); owner_lookup runs only when it is
    // this thread's.
    unsafe {
        let z = own_zone_at(a, tls::heap())?;
        Some(match owner_lookup(z, a) {
            OwnerLookup::Block(z, entry) if !entry.is_zero() => (*z).bsize,
            _ => 0,
        })
    }
}

/// What `owner_resize` found.
pub enum Resize {
    /// The block stays where it is (its requested size is updated).
    InPlace,
    /// The block must move; it has this many usable bytes.
    Move(usize),
    /// Not a live block (free, or not at a block start): `realloc` returns null.
    Refused,
    /// The segment is another heap's: the general path decides.
    NotOwner,
}

/// `realloc` of a pointer in a segment of ours to `size` bytes (`1..=SMALL_MAX`), when the
/// segment is the calling thread's: from the owner's zone descriptor, as in `free`. A block
/// stays in place when `size` fits its class and is not much smaller (at least half the block,
/// or of the same class anyway).
///
/// # Safety
/// `a` lies in a mapped segment of ours.
#[inline(always)]
pub unsafe fn owner_resize(a: usize, size: usize) -> Resize {
    // SAFETY: the segment is mapped (caller's contract); owner_lookup runs only when it is
    // this thread's.
    unsafe {
        let Some(z) = own_zone_at(a, tls::heap()) else {
            return Resize::NotOwner;
        };
        let OwnerLookup::Block(z, entry) = owner_lookup(z, a) else {
            return Resize::Refused;
        };
        if entry.is_zero() {
            return Resize::Refused;
        }
        let bsize = (*z).bsize;
        let c = (*z).class.load(Ordering::Relaxed) as usize;
        if size <= bsize && (size >= bsize / 2 || crate::size_class::class_of(size) == c) {
            entry.get().store(request_entry(size), Ordering::Relaxed);
            return Resize::InPlace;
        }
        Resize::Move(bsize)
    }
}

/// The misuse of a pointer `off` bytes past block 0 of zone `z`, not at a block start (kept out
/// of line: its division would otherwise cost `free` a stack frame).
#[cold]
#[inline(never)]
unsafe fn interior(z: *mut Zone, off: usize) -> Misuse {
    // SAFETY: `z` is a live zone of the calling thread (free_in_segment's owner path).
    let (blocks, bsize) = unsafe { ((*z).blocks as usize, (*z).bsize.max(1)) };
    Misuse::Interior(Some(blocks + off / bsize * bsize))
}

/// Frees a small block found by `small_lookup`. Returns false, changing nothing, when the block
/// is not in use (a double free, or a block never handed out).
#[inline(always)]
pub fn free_small(r: &SmallRef, p: *mut u8) -> bool {
    // SAFETY: `r` was found by small_lookup, so the segment is mapped and the requested entry
    // and the zone descriptor are inside it. The owner clears the entry with a load and a
    // store, other threads with a swap (see free_in_segment).
    unsafe {
        let claimed = if segment::owned_by(segment_of(p as usize), tls::heap()) {
            let live = (*r.requested).load(Ordering::Relaxed) != 0;
            if live {
                (*r.requested).store(0, Ordering::Relaxed);
            }
            live
        } else {
            (*r.requested).swap(0, Ordering::AcqRel) != 0
        };
        if claimed {
            give_back_claimed(r.zone, p);
        }
        claimed
    }
}

/// Gives back a small block that the calling thread claimed (swapped its `requested` entry
/// from non-zero to 0): to its zone's free stack when the segment is this thread's, else to its
/// owner heap's remote lists.
///
/// # Safety
/// `p` is the start of a block of zone `z` in a mapped segment, and the calling thread claimed
/// it. Until it is back, the block still counts as handed out by its zone, so the zone and its
/// segment stay (and the segment keeps its owner, a heap, which is never unmapped).
pub unsafe fn give_back_claimed(z: *mut Zone, p: *mut u8) {
    let seg = segment_of(p as usize);
    let heap = tls::heap();
    // SAFETY: guaranteed by the caller.
    unsafe {
        let owner = (*seg).heap.load(Ordering::Acquire);
        if owner == heap {
            release_block_at(heap, z, p as *mut Block);
        } else if !owner.is_null() {
            give_back_remote(p as *mut Block, z, owner);
        }
        // (No owner: the segment was emptied and pooled, which only a double free racing
        // with itself lets happen while the block counts as handed out: its owner took the
        // block back too. It is dropped.)
    }
}

/// `give_back_claimed` of a block of another heap: adopted with its heap (`adopt`) when that
/// heap is pooled and this thread may, else pushed on the heap's remote lists. Out of line, so
/// that the owner's `free`, into which `give_back_claimed` is inlined, saves no registers for
/// the call to `adopt`.
///
/// (The block comes first, as in `free`'s own arguments, and the calling thread's heap is read
/// here: so `free` keeps the pointer in its register, 1 instruction per call less.)
///
/// # Safety
/// As for `give_back_claimed`; `owner`, the block's heap, is not the calling thread's.
#[inline(never)]
unsafe fn give_back_remote(b: *mut Block, z: *mut Zone, owner: *mut Heap) {
    // SAFETY: the caller's contract; after `adopt` returns true, `owner` is this thread's heap.
    unsafe {
        if (*owner).pooled.load(Ordering::Relaxed) && adopt(tls::heap(), owner) {
            release_block_at(owner, z, b);
            return;
        }
        let mut heap = tls::heap();
        if heap == UNINIT_HEAP.get() {
            // A thread that has freed a batch's worth of other heaps' blocks before its first
            // malloc takes its heap now, as that malloc would (asking for the heap it first
            // freed into: see `thread_heap_init`), so that a thread that only frees (a
            // consumer) batches its frees too. Not at its first free: a thread whose first
            // call frees a block of its exiting predecessor takes that heap once pooled.
            if tls::freed_into().is_null() {
                tls::set_freed_into(owner);
            }
            let frees = tls::remote_frees() + 1;
            tls::set_remote_frees(frees);
            if frees >= REMOTE_OUT_BATCH as usize
                && G.init.load(Ordering::Acquire) == crate::state::INIT_DONE
            {
                heap = thread_heap_init();
                if heap == owner {
                    release_block_at(owner, z, b);
                    return;
                }
            }
        }
        match own_heap_of(heap) {
            Some(heap) if !heap.is_null() => remote_out_push(heap, owner, b),
            _ => push_remote(owner, b, b),
        }
    }
}

/// How long after taking its heap a thread may still trade it for a pooled heap it frees into
/// (`adopt`).
pub(crate) const ADOPT_WINDOW_MS: u64 = 10;

/// A thread that frees a block of a pooled heap (its thread exited) trades its own heap for
/// that one, if it has no heap yet or took its heap less than `ADOPT_WINDOW_MS` ago and has
/// not traded it already: then the block, and the other blocks of that heap that the thread
/// goes on freeing, go back to zones of its own, where its next allocations find them, still
/// in its cache, instead of onto the remote lists of a heap that another thread will take.
/// This is the pattern of a thread that starts its successor and exits (a server's worker
/// chain, larson): the successor inherits the blocks and frees them. Without it, every
/// inherited block is a remote free, and the successor allocates from memory that other
/// threads freed last, a cache miss per block (measured on 16 cores: 82% of larson's time in
/// its own loop, against 73% under mimalloc, which reclaims the abandoned segments of exited
/// threads). The traded heap goes to the pool like the heap of an exiting thread. Returns
/// whether this thread now owns `owner`.
///
/// # Safety
/// `heap` is the calling thread's TLS heap (or a sentinel); `owner` a heap (never unmapped).
#[cold]
#[inline(never)]
unsafe fn adopt(heap: *mut Heap, owner: *mut Heap) -> bool {
    if heap == UNINIT_HEAP.get() {
        if G.init.load(Ordering::Acquire) != crate::state::INIT_DONE {
            return false;
        }
        return thread_heap_init_from(owner) == owner;
    }
    // SAFETY: `heap` is ours or a sentinel (whose `adopt_until` is 0, never written); `owner`
    // is taken out of the pool under the lock before it is used, and `heap`, ours, goes in.
    unsafe {
        if (*heap).adopt_until == 0 {
            return false;
        }
        let now = os::now_ms();
        if now > (*heap).adopt_until {
            (*heap).adopt_until = 0;
            return false;
        }
        // Its LARGE blocks go to the shared cache, and its batches of other heaps' blocks to
        // their owners, as for any heap that goes to the pool.
        crate::large::front_flush_of(heap);
        remote_out_flush(heap);
        G.heap_lock.lock();
        if !pool_unlink(G.heap_pool.get(), owner) {
            G.heap_lock.unlock();
            return false;
        }
        (*heap).adopt_until = 0;
        pool_push_front(G.heap_pool.get(), heap, now);
        G.heap_lock.unlock();
        (*owner).adopt_until = 0;
    }
    set_thread_heap(owner);
    crate::init::register_thread_heap(owner);
    true
}

/// Pushes a chain of blocks freed by another thread, `head` to `tail` (linked through their
/// first words), on one of their owner heap's remote lists, chosen by the head's address (a
/// multiplicative hash: consecutive blocks of any size spread over the lists).
///
/// # Safety
/// The blocks are blocks of zones of `owner`, whose `requested` entries this thread cleared;
/// `tail` is reached from `head`.
unsafe fn push_remote(owner: *mut Heap, head: *mut Block, tail: *mut Block) {
    const BITS: u32 = REMOTE_LISTS.trailing_zeros();
    const _: () = assert!(REMOTE_LISTS.is_power_of_two() && BITS >= 1);
    let i = (head as usize).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - BITS);
    // SAFETY: guaranteed by the caller; heaps are never unmapped.
    unsafe {
        let list = &(*owner).remote_free[i];
        let mut old = list.load(Ordering::Relaxed);
        loop {
            (*tail).next = old;
            match list.compare_exchange_weak(old, head, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(x) => old = x,
            }
        }
    }
}

/// The heap `heap` when it is a thread's own (not a sentinel: before the thread's first
/// allocation, or after its exit destructor ran).
#[inline(always)]
fn own_heap_of(heap: *mut Heap) -> Option<*mut Heap> {
    (heap != UNINIT_HEAP.get() && heap != DEAD_HEAP.get()).then_some(heap)
}

/// Adds block `b` of heap `owner`, freed by the thread of `heap`, to `heap`'s batch for
/// `owner` (see `Heap::remote_out`): one atomic operation on the owner's remote lists per
/// `REMOTE_OUT_BATCH` blocks instead of one per block (a consumer thread that frees what a
/// producer allocates, on every `free`; and on many cores, the line of the owner's list heads
/// passes from thread to thread that much less).
///
/// # Safety
/// `heap` is the calling thread's own heap; `b` is a block of a zone of `owner` (another
/// heap), whose `requested` entry this thread cleared.
unsafe fn remote_out_push(heap: *mut Heap, owner: *mut Heap, b: *mut Block) {
    // SAFETY: guaranteed by the caller: `remote_out` is the calling thread's; the blocks on it
    // are claimed by this thread.
    unsafe {
        let slots = &mut (*heap).remote_out;
        // The owner's slot, else an unused one, else the next in turn (its batch goes out).
        let i = match slots.iter().position(|o| o.owner == owner) {
            Some(i) => i,
            None => {
                let i = match slots.iter().position(|o| o.owner.is_null()) {
                    Some(i) => i,
                    None => {
                        let i = (*heap).remote_out_next % REMOTE_OUT_SLOTS;
                        (*heap).remote_out_next = i + 1;
                        remote_out_flush_slot(&mut slots[i]);
                        i
                    }
                };
                slots[i].owner = owner;
                i
            }
        };
        let o = &mut slots[i];
        (*b).next = o.head;
        if o.head.is_null() {
            o.tail = b;
        }
        o.head = b;
        o.count += 1;
        if o.count >= REMOTE_OUT_BATCH {
            remote_out_flush_slot(o);
        }
    }
}

/// Hands the batch `o` to its owner heap and empties the slot.
///
/// # Safety
/// `o` is a slot of the calling thread's heap (or of a heap it owns alone).
unsafe fn remote_out_flush_slot(o: &mut RemoteOut) {
    if !o.head.is_null() {
        // SAFETY: the chain's blocks are the owner's, claimed by this thread (remote_out_push).
        unsafe { push_remote(o.owner, o.head, o.tail) };
    }
    *o = RemoteOut::EMPTY;
}

/// Hands every batch of `heap` to its owner heap (see `Heap::remote_out`).
///
/// # Safety
/// `heap` is the calling thread's own heap, or one it owns alone.
pub unsafe fn remote_out_flush(heap: *mut Heap) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        for o in (*heap).remote_out.iter_mut() {
            remote_out_flush_slot(o);
        }
    }
}

/// Whether other threads freed blocks of `heap` that it has not taken back yet.
///
/// # Safety
/// `heap` is a ready heap.
#[inline(always)]
pub(crate) unsafe fn has_remote(heap: *mut Heap) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe {
        (*heap)
            .remote_free
            .iter()
            .any(|l| !l.load(Ordering::Relaxed).is_null())
    }
}

/// Pushes block `idx` of zone `z`, whose `requested` array is `requested`, on the zone's
/// stack of free blocks. `heap` gives the zone's heap, asked for only when the zone changes
/// state.
///
/// # Safety
/// Block `idx` of `z`, a zone of the heap `heap` gives, is no longer in use and not on the
/// stack; that heap is owned by the caller; `requested` is `(*z).requested`.
#[inline(always)]
unsafe fn release_block(
    heap: impl FnOnce() -> *mut Heap,
    z: *mut Zone,
    requested: *const AtomicU16,
    idx: usize,
) {
    // SAFETY: guaranteed by the caller: the stack has room for every block of the zone, and
    // the trigger sends to the slow path the push of a zone whose every block is on the
    // stack already (see `Zone::trigger`), so `sp - 1` stays in the stack.
    unsafe {
        let sp = (*z).sp;
        // Before the push: zones that were full, or that the push empties; the head of a
        // class list only for a block given back twice (so that a malloc/free loop neither
        // takes this branch nor makes and releases a zone on every turn).
        if sp as i32 <= (*z).trigger {
            zone_changed(heap(), z, idx);
            return;
        }
        stack_push(z, requested, sp, idx);
    }
}

/// Pushes block index `idx` on the free stack of zone `z`, whose top is `sp` (`(*z).sp`) and
/// whose `requested` array is `requested`.
///
/// # Safety
/// `z` is a zone of a heap owned by the caller, whose stack has room for one more index.
#[inline(always)]
unsafe fn stack_push(z: *mut Zone, requested: *const AtomicU16, sp: isize, idx: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        (*requested.offset(sp - 1)).store(idx as u16, Ordering::Relaxed);
        (*z).sp = sp - 1;
    }
}

/// `release_block` of the block that starts at `b`.
///
/// # Safety
/// As for `release_block`; `b` is the start of a block of `z`.
unsafe fn release_block_at(heap: *mut Heap, z: *mut Zone, b: *mut Block) {
    // SAFETY: guaranteed by the caller: the descriptor is the owner's own.
    unsafe {
        let (idx, _) = block_index(b as usize - (*z).blocks as usize, &(*z).magic);
        release_block(|| heap, z, (*z).requested, idx);
    }
}

/// The push of block `idx` that `release_block` left to the slow path (see `Zone::trigger`),
/// and what it changes: a full zone got a block back (it goes back in its class list), or the
/// zone becomes empty (it is released unless it is the head of its list or the only zone
/// behind the head, both kept to avoid making and releasing zones over and over; purge ticks
/// age them).
#[cold]
#[inline(never)]
unsafe fn zone_changed(heap: *mut Heap, z: *mut Zone, idx: usize) {
    // SAFETY: guaranteed by release_block's caller: block `idx` of `z` is no longer in use.
    unsafe {
        if (*z).handed_out() == 0 {
            // Every block is on the stack already: the same block was given back twice, which
            // only a double free racing with itself can do (see `free_own`). The push is
            // dropped, so that the stack never outgrows its region below the array (the block
            // may still be handed out twice: such a program's blocks are shared already).
            return;
        }
        // A block is handed out, so the stack has room.
        stack_push(z, (*z).requested, (*z).sp, idx);
        let c = (*z).class.load(Ordering::Relaxed) as usize;
        if (*z).trigger == OUT_OF_LIST {
            (*z).trigger = listed_trigger(z);
            class_push_back(heap, c, z);
            return;
        }
        if (*z).handed_out() == 0 && (*heap).classes[c] != z {
            // The only zone behind the head is kept, empty, as the class's spare: it takes
            // the head's place, its blocks all on its stack, when the head is full (`refill`).
            // A class whose live blocks come and go around one zone's worth, freed in the
            // order they came (a queue), otherwise made and released a zone, and extended it
            // a page at a time, on every turn. Only zones of one slice are kept so (an empty
            // zone of a big class would hold up to 3 MiB); purge ticks age spares as heads.
            if GEOMETRY[c].slices == 1 && (*z).next.is_null() && (*z).prev == (*heap).classes[c] {
                return;
            }
            class_unlink(heap, c, z);
            segment::zone_release(heap, z);
            // The purge clock, as on refills: a thread that only frees for a while (a phase
            // that tears down what the last one built) still gives back the slices it freed
            // a purge delay ago, where it used to keep them until it next allocated. Pooled
            // heaps are tidied only from the thread's own heap (not from one being tidied).
            (*heap).slow_events = (*heap).slow_events.wrapping_add(1);
            if (*heap).slow_events.is_multiple_of(PURGE_CHECK_EVERY) {
                if heap == tls::heap() {
                    purge_tick(heap);
                } else {
                    purge_tick_own(heap, segment::heap_clock(heap));
                }
            }
        }
    }
}

/// Takes back the blocks other threads freed into this heap's zones. Each block's link was
/// written by another thread, so reading it is a cache miss; the lists are walked side by
/// side, one block of each per step, so that the misses of a step overlap instead of each
/// waiting for the one before.
///
/// Each block is checked twice: before its link is read, that it lies in a segment of ours
/// (the registry, asked only when the segment changes from the block before); right before it
/// goes back (`remote_block`), from the descriptors as they are then (a block given back
/// before it may have emptied and released a zone), that it is the start of a block of a live
/// zone of this heap, and that its zone counts a block handed out, so that a list that loops
/// ends (each block given back takes one from that count, or releases its zone). A list only
/// goes wrong after a double free raced with itself between the owner and another thread
/// (both took the block: see `free_own`): the block may then be handed out again while it
/// waits here, and its link overwritten, or its zone released. Such a list is dropped from
/// that block on (its blocks stay handed out, which only that misuse can cost); following it
/// crashed within 30 ms, every run, in a program whose two threads freed the same 4,000
/// blocks at once.
///
/// # Safety
/// `heap` owned by the caller (or its lock is held).
pub(crate) unsafe fn collect_remote(heap: *mut Heap) {
    // SAFETY: guaranteed by the caller; a block's link is read once the registry said that its
    // segment is ours (mapped: a segment is unmapped only from the pool, when a mapping
    // fails), and it goes back once `remote_block` found it a block of this heap.
    unsafe {
        let mut cur = [ptr::null_mut::<Block>(); REMOTE_LISTS];
        let mut left = 0;
        for (c, list) in cur.iter_mut().zip(&(*heap).remote_free) {
            if !list.load(Ordering::Relaxed).is_null() {
                let b = list.swap(ptr::null_mut(), Ordering::Acquire);
                if in_our_segment(b, ptr::null_mut()) {
                    *c = b;
                    left += 1;
                }
            }
        }
        while left != 0 {
            let mut next = [ptr::null_mut::<Block>(); REMOTE_LISTS];
            for (n, &b) in next.iter_mut().zip(&cur) {
                if !b.is_null() {
                    *n = (*b).next;
                }
            }
            for i in 0..REMOTE_LISTS {
                let b = cur[i];
                if b.is_null() {
                    continue;
                }
                cur[i] = ptr::null_mut();
                let Some((z, idx)) = remote_block(heap, b) else {
                    left -= 1;
                    continue;
                };
                release_block(|| heap, z, (*z).requested, idx);
                let n = next[i];
                if !in_our_segment(n, segment_of(b as usize)) {
                    left -= 1;
                    continue;
                }
                cur[i] = n;
            }
        }
    }
}

/// Whether `b` (not null) lies in a segment of ours: `checked`, a segment of ours (or null),
/// or one the registry holds (asked only when it is another).
#[inline(always)]
fn in_our_segment(b: *mut Block, checked: *mut Segment) -> bool {
    !b.is_null()
        && (segment_of(b as usize) == checked || crate::registry::REGISTRY.contains(b as usize))
}

/// The zone and index of `b`, a block on one of `heap`'s remote lists in a segment of ours,
/// when it is what such a block must be: the start of a block of a live zone of `heap` that
/// counts blocks handed out. None for what a list can hold after a racing double free (see
/// `collect_remote`).
///
/// # Safety
/// `heap` is owned by the caller; `b` lies in a mapped segment of ours.
#[inline(always)]
unsafe fn remote_block(heap: *mut Heap, b: *mut Block) -> Option<(*mut Zone, usize)> {
    let a = b as usize;
    let seg = segment_of(a);
    // SAFETY: the segment is mapped (caller's contract); once it is `heap`'s, its slice map and
    // descriptors are the owner's, and stay (the caller owns `heap`).
    unsafe {
        if !segment::owned_by(seg, heap) {
            return None;
        }
        let (_, z, _) = segment::zone_at(seg, a)?;
        match owner_lookup(z, a) {
            OwnerLookup::Block(z, entry) if (*z).handed_out() != 0 => Some((z, entry.index)),
            _ => None,
        }
    }
}

/// The zone that contains `p`, which is in a live zone of ours (for the tests).
///
/// # Safety
/// `p` lies in a zone of a mapped segment.
#[cfg(test)]
pub(crate) unsafe fn zone_of(p: usize) -> *mut Zone {
    // SAFETY: guaranteed by the caller: the slice of `p` is covered by a zone.
    unsafe { segment::zone_at(segment_of(p), p).unwrap_unchecked().1 }
}
