//! The registry of our segments: one byte per 4 MiB of the window of address space where
//! segments are mapped, non-zero while a segment of ours is mapped there. `free` asks it first,
//! so that a pointer we do not own is recognised without reading any memory but our own: one
//! shift, one subtraction and one compare for the window, one byte compare.
//!
//! The window is the top 4 TiB of the 47-bit user address space: the kernel places mappings
//! just below the stack, down from a point that address-space randomisation moves by at most
//! 1 TiB (by default), and `segment::map_aligned_segment` asks for addresses in the window when
//! the kernel's choice falls outside it (a program run with an unlimited stack gets the legacy
//! layout, mappings from a third of the address space up). The map is then 1 MiB of `.bss`,
//! address space only: the kernel maps its pages on first touch, so the process pays one page
//! for every 16 GiB of address space where segments live (in practice one page), and reading an
//! untouched page costs no memory (it maps the shared zero page). (Covering the whole 47-bit
//! space took 32 MiB of address space, which a program under `ulimit -v` pays for; a bitmap
//! would take three more instructions on every `free`.) Writers hold the pool lock; readers
//! never lock.

use core::sync::atomic::{AtomicU8, Ordering};

use crate::types::SEGMENT_SHIFT;

/// User addresses are below 2^47 unless a program asks the kernel for more (5-level paging).
pub const WINDOW_END: usize = 1 << 47;
/// log2 of the window's size.
const WINDOW_BITS: u32 = 42;
/// The first address of the window.
pub const WINDOW_START: usize = WINDOW_END - (1 << WINDOW_BITS);
/// Segments the window holds: the registry's entries.
pub const SEGMENTS: usize = 1 << (WINDOW_BITS - SEGMENT_SHIFT);

/// The registry index of address `addr`: below `SEGMENTS` exactly when `addr` lies in the
/// window (an address below it wraps around to a huge index).
#[inline(always)]
pub fn index_of(addr: usize) -> usize {
    (addr >> SEGMENT_SHIFT).wrapping_sub(WINDOW_START >> SEGMENT_SHIFT)
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

    /// Whether `addr` lies in a segment of ours.
    #[inline(always)]
    pub fn contains(&self, addr: usize) -> bool {
        match self.present.get(index_of(addr)) {
            Some(b) => b.load(Ordering::Relaxed) != 0,
            None => false,
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

    /// Adds the segment at `addr` (4 MiB-aligned); false, changing nothing, when it lies outside
    /// the window. Caller holds the pool lock.
    pub fn insert(&self, addr: usize) -> bool {
        match self.present.get(index_of(addr)) {
            Some(b) => {
                b.store(1, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// Removes the segment at `addr`. Caller holds the pool lock.
    pub fn remove(&self, addr: usize) {
        if let Some(b) = self.present.get(index_of(addr)) {
            b.store(0, Ordering::Release);
        }
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// The one registry (its own static: 1 MiB of `.bss`).
pub static REGISTRY: Registry = Registry::new();
