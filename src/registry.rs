//! The registry of our segments: one byte per 4 MiB of the 47-bit user address space, non-zero
//! while a segment of ours is mapped there. `free` asks it first, so that a pointer we do not
//! own is recognised without reading any memory but our own: after the address-range test, one
//! shift and one byte compare (`shr; cmpb; je`).
//!
//! The map is 32 MiB of `.bss`, address space only: the kernel maps its pages on first touch,
//! so the process pays one page for every 16 GiB of address space where segments live (in
//! practice one page), and reading an untouched page costs no memory (it maps the shared zero
//! page). A bitmap would be 4 MiB but needs two more instructions on every `free`.
//! Writers hold the pool lock; readers never lock.

use core::sync::atomic::{AtomicU8, Ordering};

use crate::types::SEGMENT_SHIFT;

/// User addresses are below 2^47 unless a program asks the kernel for more (5-level paging);
/// our own mappings never do, so anything above is not ours.
const ADDRESS_BITS: u32 = 47;
pub const SEGMENTS: usize = 1 << (ADDRESS_BITS - SEGMENT_SHIFT);

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
        match self.present.get(addr >> SEGMENT_SHIFT) {
            Some(b) => b.load(Ordering::Relaxed) != 0,
            None => false,
        }
    }

    /// Whether entry `index` (an address >> SEGMENT_SHIFT) is set: one compare of the byte in
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

    /// Adds the segment at `addr` (4 MiB-aligned, below 2^47). Caller holds the pool lock.
    pub fn insert(&self, addr: usize) -> bool {
        match self.present.get(addr >> SEGMENT_SHIFT) {
            Some(b) => {
                b.store(1, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// Removes the segment at `addr`. Caller holds the pool lock.
    pub fn remove(&self, addr: usize) {
        if let Some(b) = self.present.get(addr >> SEGMENT_SHIFT) {
            b.store(0, Ordering::Release);
        }
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// The one registry (its own static: 32 MiB of `.bss`).
pub static REGISTRY: Registry = Registry::new();
