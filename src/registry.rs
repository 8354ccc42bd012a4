//! The registry of our segments: one byte per 4 MiB of the window of address space where
//! segments are mapped, non-zero while a segment of ours is mapped there: the tag of the heap
//! that owns it (`Heap::tag`), or `UNOWNED`. `free` asks it first, so that a pointer we do not
//! own is recognised without reading any memory but our own: one shift, one subtraction and
//! one compare for the window, one byte load; and compares the byte with the calling
//! thread's tag (`tls::tag_matches`), so that a block of its own heap is known as such without
//! reading the segment's header.
//!
//! The window is 4 TiB of address space placed around the first segment (7/8 of it below, as
//! the kernel places later mappings below earlier ones), so the map is 1 MiB of `.bss`: address
//! space only, the kernel maps its pages on first touch, so the process pays one page for every
//! 16 GiB of address space where segments live (in practice one page), and reading an
//! untouched page costs no memory (it maps the shared zero page). `segment::map_aligned_segment`
//! asks for addresses in the window when the kernel's choice falls outside it. (Covering the
//! whole 47-bit space took 32 MiB of address space, which a program under `ulimit -v` pays for;
//! a bitmap would take three more instructions on every `free`. A fixed window at the top of
//! the address space failed where sanitizers or large reservations take that space.) Writers
//! hold the pool lock; readers never lock.
//!
//! A program can take the window's whole room: InnoDB reserves 8 TiB of address space at start
//! (`mmap` of `PROT_NONE`), a JVM its whole heap, and the kernel puts the reservation right
//! below the mappings it has, over the window. Segments mapped elsewhere then go in the
//! overflow maps: a byte map like the window's for each other 4 TiB of the address space that
//! holds one of our segments, mapped when its first segment comes. `free`'s fast path does not
//! look there: the pointers in those segments take its slow path (`contains`).

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

use crate::os;
use crate::types::{Heap, MAX_HEAP_TAG, SEGMENT_SHIFT};

/// The entry of a segment of ours whose owner heap has no tag, or that is in the pool.
pub const UNOWNED: u8 = MAX_HEAP_TAG + 1;

/// The registry entry of the segments of `heap` (never 0, never a thread's TLS tag unless
/// that thread's heap is `heap`: see `tls_tag_of`).
///
/// # Safety
/// `heap` is a valid heap.
pub unsafe fn owner_tag(heap: *mut Heap) -> u8 {
    // SAFETY: guaranteed by the caller; a heap's tag does not change once given.
    match unsafe { (*heap).tag } {
        0 => UNOWNED,
        t => t,
    }
}

/// The TLS tag of a thread whose heap is `heap` (`tls::set_tag`): its tag, or one that no
/// registry entry holds when it has none (0xFF; so is the initial value of the slot).
///
/// # Safety
/// `heap` is a valid heap (or a sentinel).
pub unsafe fn tls_tag_of(heap: *mut Heap) -> u8 {
    // SAFETY: guaranteed by the caller.
    match unsafe { (*heap).tag } {
        0 => NO_TLS_TAG,
        t => t,
    }
}

/// The TLS tag of a thread without a tagged heap: no registry entry holds it.
pub const NO_TLS_TAG: u8 = 0xFF;
const _: () = assert!(UNOWNED < NO_TLS_TAG);

/// User addresses are below 2^47 unless a program asks the kernel for more (5-level paging).
const ADDRESS_END: usize = 1 << 47;
/// log2 of the window's size.
const WINDOW_BITS: u32 = 42;
/// Segments the window holds: the registry's entries.
pub const SEGMENTS: usize = 1 << (WINDOW_BITS - SEGMENT_SHIFT);

/// The segment index (address >> SEGMENT_SHIFT) of the window's first segment. Until the window
/// is placed, that of address 2^47, so that every user address gets an index far beyond the
/// registry (one that read this value before the window was placed still misses it after).
static WINDOW_FIRST: AtomicUsize = AtomicUsize::new(ADDRESS_END >> SEGMENT_SHIFT);

/// The registry index of address `addr`: below `SEGMENTS` exactly when `addr` lies in the
/// window (an address below it wraps around to a huge index). One shift and one subtraction
/// from memory (in assembly: rustc reaches statics of a `cdylib` through the GOT).
#[inline(always)]
pub fn index_of(addr: usize) -> usize {
    let mut v = addr >> SEGMENT_SHIFT;
    // SAFETY: a relaxed read of an atomic that lives as long as the library; `sym` resolves to
    // it directly (it is not exported).
    unsafe {
        core::arch::asm!(
            "sub {v}, qword ptr [rip + {first}]",
            v = inout(reg) v,
            first = sym WINDOW_FIRST,
            options(nostack, readonly, pure),
        );
    }
    v
}

/// Whether a segment at `addr` can be registered: it lies in the window, or the window is not
/// placed yet (the first segment places it).
pub fn accepts(addr: usize) -> bool {
    !placed() || index_of(addr) < SEGMENTS
}

fn placed() -> bool {
    WINDOW_FIRST.load(Ordering::Relaxed) != ADDRESS_END >> SEGMENT_SHIFT
}

/// The window's first and end addresses (once placed).
pub fn window() -> (usize, usize) {
    let first = WINDOW_FIRST.load(Ordering::Relaxed) << SEGMENT_SHIFT;
    (first, first + (SEGMENTS << SEGMENT_SHIFT))
}

/// Byte maps of the overflow: `OVERFLOW[addr >> WINDOW_BITS]`, null until a segment outside the
/// window lands in that part of the address space (each `SEGMENTS` bytes, mapped with `os::map`).
static OVERFLOW: [AtomicPtr<AtomicU8>; ADDRESS_END >> WINDOW_BITS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; ADDRESS_END >> WINDOW_BITS];

/// The overflow entry of a segment at `addr`, outside the window (null when its map does not
/// exist, or `addr` is not a user address). With `make`, maps the map first.
fn overflow_entry(addr: usize, make: bool) -> Option<&'static AtomicU8> {
    if addr >= ADDRESS_END {
        return None;
    }
    let slot = &OVERFLOW[addr >> WINDOW_BITS];
    let mut map = slot.load(Ordering::Acquire);
    if map.is_null() && make {
        map = os::map(SEGMENTS, 0) as *mut AtomicU8;
        if map.is_null() {
            return None;
        }
        slot.store(map, Ordering::Release);
    }
    if map.is_null() {
        return None;
    }
    // SAFETY: the index is below SEGMENTS, the map's length; maps are never unmapped.
    Some(unsafe { &*map.add((addr >> SEGMENT_SHIFT) & (SEGMENTS - 1)) })
}

#[repr(C, align(4096))]
pub struct Registry {
    present: [AtomicU8; SEGMENTS],
}

impl Registry {
    pub const fn new() -> Self {
        Registry {
            present: [const { AtomicU8::new(0) }; SEGMENTS],
        }
    }

    /// Whether `addr` lies in a segment of ours (in the window or in the overflow).
    #[inline(always)]
    pub fn contains(&self, addr: usize) -> bool {
        match self.present.get(index_of(addr)) {
            Some(b) => b.load(Ordering::Relaxed) != 0,
            None => overflow_contains(addr),
        }
    }

    /// Whether entry `index` (from `index_of`) is set: one compare of the byte in
    /// memory and one branch (asm goto; rustc would reach the static through the GOT, load the
    /// byte, then test it).
    ///
    /// # Safety
    /// `index < SEGMENTS`.
    #[inline(always)]
    pub unsafe fn contains_index(&self, index: usize) -> bool {
        // SAFETY: the entry lies in the table (caller's contract); a relaxed read of an atomic
        // byte of a static that lives as long as the library.
        unsafe {
            core::arch::asm!(
                "cmp byte ptr [{t} + {i}], 0",
                "je {absent}",
                t = in(reg) self.present.as_ptr(),
                i = in(reg) index,
                absent = label { return false; },
                options(nostack, readonly),
            );
        }
        true
    }

    /// Adds the segment at `addr` (4 MiB-aligned, below 2^47), placing the window around it
    /// if it is the first; outside the window, in the overflow. False, changing nothing, when
    /// an overflow map cannot be mapped. Caller holds the pool lock.
    pub fn insert(&self, addr: usize) -> bool {
        if !placed() {
            let s = addr >> SEGMENT_SHIFT;
            let first = s
                .saturating_sub(SEGMENTS / 8 * 7)
                .min((ADDRESS_END >> SEGMENT_SHIFT) - SEGMENTS);
            // Before the entry below: a reader that sees the entry computed its index with this
            // value, or with the initial one, which misses the registry.
            WINDOW_FIRST.store(first, Ordering::Release);
        }
        match self.entry(addr, true) {
            Some(b) => {
                b.store(UNOWNED, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// Records `tag` (`owner_tag` of the heap that takes it, or `UNOWNED` as it goes to the
    /// pool) as the owner of the registered segment at `addr`. Called by the thread that owns
    /// the segment, or has just taken it from the pool: a thread never reads its own tag in
    /// an entry that is no longer its own, since it wrote the change itself.
    pub fn set_owner(&self, addr: usize, tag: u8) {
        if let Some(b) = self.entry(addr, false) {
            b.store(tag, Ordering::Release);
        }
    }

    /// Entry `index` (from `index_of`): 0 for no segment of ours, else its owner's tag or
    /// `UNOWNED`. In assembly: rustc would reach the static through the GOT and add the index
    /// in one more instruction.
    ///
    /// # Safety
    /// `index < SEGMENTS`.
    #[inline(always)]
    pub unsafe fn entry_at(&self, index: usize) -> u8 {
        let e: u32;
        // SAFETY: the entry lies in the table (caller's contract); a relaxed read of an atomic
        // byte of a static that lives as long as the library.
        unsafe {
            core::arch::asm!(
                "movzx {e:e}, byte ptr [{t} + {i}]",
                e = lateout(reg) e,
                t = in(reg) self.present.as_ptr(),
                i = in(reg) index,
                options(nostack, readonly, pure, preserves_flags),
            );
        }
        e as u8
    }

    /// Removes the segment at `addr`. Caller holds the pool lock.
    pub fn remove(&self, addr: usize) {
        if let Some(b) = self.entry(addr, false) {
            b.store(0, Ordering::Release);
        }
    }

    /// The entry of address `addr`: in the window's map, else in an overflow map (mapped first
    /// with `make`).
    fn entry(&self, addr: usize, make: bool) -> Option<&AtomicU8> {
        match self.present.get(index_of(addr)) {
            Some(b) => Some(b),
            None => overflow_entry(addr, make),
        }
    }
}

/// Whether `addr`, outside the window, lies in a segment of ours (kept out of line: only the
/// slow paths get here, and rarely with a segment).
#[cold]
#[inline(never)]
fn overflow_contains(addr: usize) -> bool {
    overflow_entry(addr, false).is_some_and(|b| b.load(Ordering::Relaxed) != 0)
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// The one registry (its own static: 1 MiB of `.bss`).
pub static REGISTRY: Registry = Registry::new();

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry entry of a thread's segment holds its heap's tag, which matches the
    /// thread's TLS tag and no other thread's.
    #[test]
    fn a_threads_segments_carry_its_tag() {
        let p = crate::alloc::malloc(100);
        assert!(!p.is_null());
        let index = index_of(p as usize);
        assert!(index < SEGMENTS);
        let heap = crate::tls::heap();
        // SAFETY: the index is in the table; `heap` is this thread's own heap.
        let (entry, owner, mine) =
            unsafe { (REGISTRY.entry_at(index), owner_tag(heap), tls_tag_of(heap)) };
        assert_eq!(entry, owner);
        assert_eq!(crate::tls::tag() as u8, mine);
        // SAFETY: as above.
        assert_eq!(crate::tls::tag_matches(entry), unsafe { (*heap).tag } != 0);
        let other = std::thread::spawn(move || {
            let q = crate::alloc::malloc(100);
            // SAFETY: the index is in the table; `q` is this thread's block.
            let seen = crate::tls::tag_matches(unsafe { REGISTRY.entry_at(index) });
            // SAFETY: `q` is a live block of this thread, freed once.
            unsafe { crate::alloc::free(q) };
            seen
        })
        .join()
        .unwrap();
        assert!(!other, "another thread matched this thread's tag");
        // SAFETY: `p` is a live block of ours.
        unsafe { crate::alloc::free(p) };
    }
}
