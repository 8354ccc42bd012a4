//! The allocation API in Rust terms: the semantics of the malloc family (sizes, overflow,
//! alignment, zeroing, realloc rules, pointers we do not own), on top of the small-block paths
//! of `heap` and the LARGE blocks of `large`. The C symbols in `c_api` and the `GlobalAlloc` in
//! `global` are thin shells over these functions.

use core::ptr;
use core::sync::atomic::Ordering;

use crate::debug;
use crate::free;
use crate::heap;
use crate::large;
use crate::os;
use crate::registry::{self, REGISTRY};
use crate::segment::small_lookup;
use crate::size_class::{class_of, class_size, GEOMETRY};
use crate::tls;
use crate::types::{entry_request, request_entry, MAX_ZONE_ALIGN, SMALL_MAX};

/// Largest size any request may have (C's PTRDIFF_MAX).
const MAX_REQUEST: usize = isize::MAX as usize;

/// Whether the fast paths of `free`, `realloc` and `malloc_usable_size` may take pointer `a`:
/// no debug mode is on and a segment of ours is mapped there. One compare covers both the
/// window of addresses the registry covers and the debug modes (the bound is 0 while one is on: see
/// `debug::below_fast_free_limit`).
#[inline(always)]
fn fast_path_segment(a: usize) -> bool {
    let index = registry::index_of(a);
    // SAFETY: the bound is at most the registry's length.
    debug::below_fast_free_limit(index) && unsafe { REGISTRY.contains_index(index) }
}

/// `malloc`: a block of at least `size` bytes, 16-aligned (whatever the size); a unique
/// pointer for 0. Null with errno ENOMEM when `size` is too large or memory is exhausted.
#[inline(always)]
pub fn malloc(size: usize) -> *mut u8 {
    // One compare: the limit is 0 while a debug mode is on (see debug::below_fast_size_limit).
    if debug::below_fast_size_limit(size) {
        heap::alloc_direct(size)
    } else {
        malloc_beyond_direct(size)
    }
}

/// `malloc` of the sizes above `DIRECT_MAX`, and of every size while a debug mode is on.
#[inline(never)]
fn malloc_beyond_direct(size: usize) -> *mut u8 {
    // One compare: the limit is 0 while a debug mode is on.
    if debug::below_fast_small_limit(size) {
        return heap::alloc_small(class_of(size), size);
    }
    malloc_slow(size)
}

/// `malloc` of LARGE sizes, and of every size while a debug mode is on.
#[cold]
#[inline(never)]
fn malloc_slow(size: usize) -> *mut u8 {
    if debug::active() {
        return debug::malloc(size);
    }
    malloc_plain(size)
}

/// `malloc` without the debug modes.
#[inline(always)]
pub(crate) fn malloc_plain(size: usize) -> *mut u8 {
    if size <= SMALL_MAX {
        heap::alloc_small(class_of(size), size)
    } else {
        malloc_large(size, 0, false)
    }
}

#[cold]
fn malloc_large(size: usize, align: usize, zero: bool) -> *mut u8 {
    if size > MAX_REQUEST {
        return os::out_of_memory();
    }
    large::alloc(size, align, zero)
}

/// A misuse of `free`, `realloc` or `malloc_usable_size`, detected and refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misuse {
    /// The pointer is in no block of ours.
    NotOwned,
    /// The pointer is inside a block of ours (the block's start, when known), not at its start.
    Interior(Option<usize>),
    /// The block was already freed (or never handed out).
    DoubleFree,
}

/// `free` without the debug modes, telling what it refused: gives a block back, or changes
/// nothing and says why. errno is preserved.
///
/// # Safety
/// As for [`free`].
#[inline(always)]
pub unsafe fn free_checked_plain(p: *mut u8) -> Result<(), Misuse> {
    if REGISTRY.contains(p as usize) {
        // SAFETY: the registry says p lies in a mapped segment of ours.
        return unsafe { free::free_in_segment(p) };
    }
    if p.is_null() {
        Ok(())
    } else {
        free_large(p)
    }
}

/// `free`: gives a block back. A null pointer, a pointer we do not own, a pointer inside a
/// block and a block already freed are ignored. errno is preserved.
///
/// # Safety
/// `p` is null or a block from this allocator that is not in use by anyone else (the usual
/// `free` contract). Other values are detected and ignored, but a block that was freed and then
/// handed out again cannot be told apart from its new owner's.
#[inline(always)]
pub unsafe fn free(p: *mut u8) {
    let index = registry::index_of(p as usize);
    // SAFETY: a non-zero registry entry says a segment of ours is mapped there (the contract
    // of free_in_segment); the calling thread's tag there, that the segment is its own
    // heap's (free_own's).
    unsafe {
        if debug::below_fast_free_limit(index) {
            let entry = REGISTRY.entry_at(index);
            if tls::tag_matches(entry) {
                let _ = free::free_own(p, tls::heap);
                return;
            }
            if entry != 0 {
                let _ = free::free_in_segment(p);
                return;
            }
        }
        free_slow(p);
    }
}

/// `free` of what the fast test above let through: null, LARGE blocks, pointers not ours, and
/// everything while a debug mode is on.
///
/// # Safety
/// As for [`free`].
#[cold]
#[inline(never)]
unsafe fn free_slow(p: *mut u8) {
    // SAFETY: the caller's contract.
    unsafe {
        if debug::active() {
            debug::free(p);
            return;
        }
        let _ = free_checked_plain(p);
    }
}

#[cold]
fn free_large(p: *mut u8) -> Result<(), Misuse> {
    if large::free(p as usize) {
        Ok(())
    } else {
        Err(Misuse::NotOwned)
    }
}

/// `free` of a block whose size and alignment the caller knows (Rust's `dealloc`): a small
/// block skips the ownership checks that `free` makes for pointers of unknown origin.
///
/// # Safety
/// `p` is a live block of ours, allocated with this `size` and `align` (`GlobalAlloc`'s
/// contract).
#[inline(always)]
pub unsafe fn free_sized(p: *mut u8, size: usize, align: usize) {
    if debug::active() || size.max(align) > SMALL_MAX || align > MAX_ZONE_ALIGN {
        // SAFETY: the caller's contract.
        unsafe { free(p) };
        return;
    }
    // SAFETY: a block of at most SMALL_MAX bytes and alignment MAX_ZONE_ALIGN came from a zone.
    let r = unsafe { crate::segment::small_known(p as usize) };
    free::free_small(&r, p);
}

/// `calloc`: `n * size` zeroed bytes; null with ENOMEM on overflow.
pub fn calloc(n: usize, size: usize) -> *mut u8 {
    if debug::active() {
        return match n.checked_mul(size) {
            Some(t) if t <= MAX_REQUEST => debug::calloc(t),
            _ => os::out_of_memory(),
        };
    }
    calloc_plain(n, size)
}

/// `calloc` without the debug modes.
pub(crate) fn calloc_plain(n: usize, size: usize) -> *mut u8 {
    let total = match n.checked_mul(size) {
        Some(t) if t <= MAX_REQUEST => t,
        _ => return os::out_of_memory(),
    };
    if total <= SMALL_MAX {
        let p = heap::alloc_small(class_of(total), total);
        if !p.is_null() {
            // SAFETY: p is a fresh block of at least `total` bytes.
            unsafe { ptr::write_bytes(p, 0, total) };
        }
        p
    } else {
        malloc_large(total, 0, true)
    }
}

/// The usable size of a block we handed out and that is still live; 0 for anything else.
/// Reads only the allocator's own metadata, never the memory at `p`.
#[inline(always)]
pub fn usable_size(p: *mut u8) -> usize {
    let a = p as usize;
    // SAFETY: fast_path_segment says a segment of ours is mapped there: owner_usable_size's
    // contract.
    unsafe {
        if fast_path_segment(a) {
            if let Some(n) = free::owner_usable_size(a) {
                return n;
            }
        }
    }
    usable_size_slow(p)
}

#[cold]
#[inline(never)]
fn usable_size_slow(p: *mut u8) -> usize {
    if debug::active() {
        return debug::usable_size(p);
    }
    usable_size_plain(p)
}

/// `usable_size` without the debug modes.
pub(crate) fn usable_size_plain(p: *mut u8) -> usize {
    usable_size_and_kind(p).0
}

/// `usable_size_plain` of `p`, and whether `p` is (or would be) a LARGE block: true unless it
/// lies in a zone.
fn usable_size_and_kind(p: *mut u8) -> (usize, bool) {
    if let Some(r) = small_lookup(p as usize) {
        // SAFETY: the entry lies in our zone (small_lookup).
        let live = unsafe { (*r.requested).load(Ordering::Relaxed) } != 0;
        return (if live { GEOMETRY[r.class].bsize } else { 0 }, false);
    }
    if p.is_null() {
        return (0, true);
    }
    (large::lookup(p as usize).map_or(0, |b| b.usable), true)
}

/// The size the user asked for when allocating `p` (`None` when `p` is not a live block of
/// ours). Reads only the allocator's own metadata.
pub fn requested_size(p: *mut u8) -> Option<usize> {
    if let Some(r) = small_lookup(p as usize) {
        // SAFETY: as in usable_size.
        let v = unsafe { (*r.requested).load(Ordering::Relaxed) } as usize;
        return if v == 0 { None } else { Some(entry_request(v)) };
    }
    large::lookup(p as usize).map(|b| b.requested)
}

/// `realloc`: glibc's rules: null `p` is `malloc(size)`; size 0 frees `p` and returns null; on
/// failure the old block is left intact. A pointer we do not own (or a freed block, or a
/// pointer inside a block) gives null and changes nothing.
///
/// # Safety
/// As for [`free`]: `p` is null or a block of ours that nobody else uses.
pub unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
    let a = p as usize;
    // The owner's path for its own small blocks (sizes 1..=SMALL_MAX).
    // SAFETY: fast_path_segment says a segment of ours is mapped there: owner_resize's
    // contract.
    unsafe {
        if size.wrapping_sub(1) < SMALL_MAX && fast_path_segment(a) {
            match free::owner_resize(a, size) {
                free::Resize::InPlace => return p,
                free::Resize::Move(old_usable) => return realloc_move(p, size, old_usable, false),
                free::Resize::Refused => return ptr::null_mut(),
                free::Resize::NotOwner => {}
            }
        }
        realloc_general(p, size)
    }
}

/// Moves block `p` (`old_usable` bytes, LARGE if `large`) to a new block of `size` bytes. A
/// LARGE block is taken out of the table of live blocks before it is copied
/// (`large::move_out`), so that a `free` of it on another thread meanwhile (a misuse) cannot
/// unmap it under the copy: that `realloc` returns null instead (it crashed in the copy, 5
/// runs of 5, with a thread freeing the block and calling `malloc_trim`).
///
/// # Safety
/// `p` is a live block of ours of `old_usable` bytes that nobody else uses (or, LARGE, that
/// another thread frees or moves at most).
unsafe fn realloc_move(p: *mut u8, size: usize, old_usable: usize, large: bool) -> *mut u8 {
    // Without a debug mode (realloc_general takes those first); a growing block gets room.
    let q = if size > SMALL_MAX && size > old_usable {
        large::alloc_growing(size)
    } else {
        malloc(size)
    };
    if q.is_null() {
        return q;
    }
    let n = old_usable.min(size);
    // SAFETY: p is a live block of `old_usable` bytes (caller's contract), q a fresh block of
    // at least `size` bytes; they do not overlap.
    unsafe {
        if !large {
            ptr::copy_nonoverlapping(p, q, n);
            free(p);
        } else if !large::move_out(p as usize, q, n) {
            // Freed or moved by another thread since `realloc_general` found it.
            free(q);
            return ptr::null_mut();
        }
    }
    q
}

/// `realloc` of everything the owner's path above does not serve.
///
/// # Safety
/// As for [`realloc`].
#[inline(never)]
unsafe fn realloc_general(p: *mut u8, size: usize) -> *mut u8 {
    if debug::active() {
        // SAFETY: the caller's contract.
        return unsafe { debug::realloc(p, size) };
    }
    if p.is_null() {
        return malloc(size);
    }
    if size == 0 {
        // SAFETY: the caller's contract.
        unsafe { free(p) };
        return ptr::null_mut();
    }
    if size > MAX_REQUEST {
        return os::out_of_memory();
    }
    // 0 for a pointer that is not a live block of ours.
    let (old_usable, large) = usable_size_and_kind(p);
    if old_usable == 0 {
        return ptr::null_mut();
    }
    if resize_in_place(p, size) {
        return p;
    }
    // SAFETY: p is a live block of `old_usable` bytes (checked above; nobody else uses it by
    // the caller's contract), LARGE if `large`.
    unsafe { realloc_move(p, size, old_usable, large) }
}

/// Resizes live block `p` to `size` bytes (at least 1) where it lies, when that suits it: a
/// small block whose class holds `size` and is not more than twice too big for it (or is the
/// class of `size` anyway); a LARGE block whose mapping holds `size` or can grow in place, for
/// a LARGE size or one that uses at least half of the mapping (`large::resize_in_place`).
/// Updates the requested size; false, changing nothing, when the block must move.
pub(crate) fn resize_in_place(p: *mut u8, size: usize) -> bool {
    if let Some(r) = small_lookup(p as usize) {
        let bsize = class_size(r.class);
        if size <= bsize && (size >= bsize / 2 || class_of(size) == r.class) {
            // SAFETY: the entry lies in our zone (small_lookup).
            unsafe { (*r.requested).store(request_entry(size), Ordering::Relaxed) };
            return true;
        }
        return false;
    }
    large::resize_in_place(p as usize, size)
}

/// An aligned block: `align` is a power of two (the C entry points check their own rules).
pub fn aligned_alloc(align: usize, size: usize) -> *mut u8 {
    debug_assert!(align.is_power_of_two());
    if debug::active() {
        return debug::aligned_alloc(align, size);
    }
    aligned_plain(align, size)
}

/// `aligned_alloc` without the debug modes.
pub(crate) fn aligned_plain(align: usize, size: usize) -> *mut u8 {
    if align <= 8 {
        return malloc(size);
    }
    if size > MAX_REQUEST {
        return os::out_of_memory();
    }
    let want = size.max(align);
    if want <= SMALL_MAX && align <= MAX_ZONE_ALIGN {
        // The first class whose size is a multiple of `align`: its blocks are `align`-aligned
        // (zones start on 64 KiB and block 0 on a multiple of the class alignment).
        let mut c = class_of(want);
        while !class_size(c).is_multiple_of(align) {
            c += 1;
        }
        return heap::alloc_small(c, size);
    }
    malloc_large(size, align, false)
}
