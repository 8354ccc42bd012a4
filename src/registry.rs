//! The registry of our segments: one bit per 4 MiB of the 47-bit user address space, set while
//! a segment of ours is mapped there. `free` asks it first, so that a pointer we do not own is
//! recognised without reading any memory but our own: five instructions (`shr; cmp; jae; bt;
//! jnc`).
//!
//! The bitmap is 4 MiB of `.bss`: the kernel maps its pages on first touch, so the process pays
//! one page for every 128 GiB of address space where segments live (in practice one or two
//! pages), and reading an untouched page costs no memory (it maps the shared zero page).
//! Writers hold the pool lock; readers never lock.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::types::SEGMENT_SHIFT;

/// User addresses are below 2^47 unless a program asks the kernel for more (5-level paging);
/// our own mappings never do, so anything above is not ours.
const ADDRESS_BITS: u32 = 47;
const SEGMENTS: usize = 1 << (ADDRESS_BITS - SEGMENT_SHIFT);
/// The addresses the registry covers: those with no bit set outside this mask.
pub const USER_ADDRESS_MASK: usize = (1 << ADDRESS_BITS) - 1;

#[repr(C, align(4096))]
pub struct Registry {
    bits: [AtomicU64; SEGMENTS / 64],
}

impl Registry {
    pub const fn new() -> Self {
        Registry {
            bits: [const { AtomicU64::new(0) }; SEGMENTS / 64],
        }
    }

    /// Whether `addr` lies in a segment of ours.
    #[inline(always)]
    pub fn contains(&self, addr: usize) -> bool {
        let seg = addr >> SEGMENT_SHIFT;
        if seg >= SEGMENTS {
            return false;
        }
        let word = self.bits[seg / 64].load(Ordering::Relaxed);
        word & (1u64 << (seg % 64)) != 0
    }

    /// `contains` for an address the caller knows to be covered (no bit outside
    /// `USER_ADDRESS_MASK`): no range test.
    ///
    /// # Safety
    /// `addr & !USER_ADDRESS_MASK == 0`.
    #[inline(always)]
    pub unsafe fn contains_covered(&self, addr: usize) -> bool {
        let seg = addr >> SEGMENT_SHIFT;
        // SAFETY: addr < 2^ADDRESS_BITS (caller's contract), so seg / 64 < SEGMENTS / 64.
        let word = unsafe { self.bits.get_unchecked(seg / 64) }.load(Ordering::Relaxed);
        word & (1u64 << (seg % 64)) != 0
    }

    /// Adds the segment at `addr` (4 MiB-aligned, below 2^47). Caller holds the pool lock.
    pub fn insert(&self, addr: usize) -> bool {
        let seg = addr >> SEGMENT_SHIFT;
        if seg >= SEGMENTS {
            return false;
        }
        self.bits[seg / 64].fetch_or(1u64 << (seg % 64), Ordering::Release);
        true
    }

    /// Removes the segment at `addr`. Caller holds the pool lock.
    pub fn remove(&self, addr: usize) {
        let seg = addr >> SEGMENT_SHIFT;
        if seg < SEGMENTS {
            self.bits[seg / 64].fetch_and(!(1u64 << (seg % 64)), Ordering::Release);
        }
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// The one registry (its own static: 4 MiB of `.bss`).
pub static REGISTRY: Registry = Registry::new();
