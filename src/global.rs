//! `FtMalloc`, the `#[global_allocator]` for Rust programs.

use core::alloc::{GlobalAlloc, Layout};

use crate::alloc;

/// ft_malloc as a Rust global allocator:
///
/// ```
/// #[global_allocator]
/// static GLOBAL: ft_malloc::FtMalloc = ft_malloc::FtMalloc;
///
/// let v: Vec<u64> = (0..1000).collect();
/// assert_eq!(v.iter().sum::<u64>(), 499_500);
/// ```
pub struct FtMalloc;

/// Whether `malloc`'s natural alignment covers the layout.
#[inline(always)]
fn natural(layout: &Layout) -> bool {
    layout.align() <= 8 || (layout.align() <= 16 && layout.size() >= 16)
}

// SAFETY: every block comes from ft_malloc with at least the layout's size and alignment, and
// stays valid until given back to `dealloc` or `realloc`.
unsafe impl GlobalAlloc for FtMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if natural(&layout) {
            alloc::malloc(layout.size())
        } else {
            alloc::aligned_alloc(layout.align(), layout.size())
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if natural(&layout) {
            alloc::calloc(1, layout.size())
        } else {
            let p = alloc::aligned_alloc(layout.align(), layout.size());
            if !p.is_null() {
                // SAFETY: p is a fresh block of at least layout.size() bytes.
                unsafe { core::ptr::write_bytes(p, 0, layout.size()) };
            }
            p
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: GlobalAlloc's contract: ptr is a live block of ours with this layout.
        unsafe { alloc::free_sized(ptr, layout.size(), layout.align()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees new_size is a valid size for layout.align().
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if natural(&layout) && natural(&new) {
            // SAFETY: GlobalAlloc's contract: ptr is a live block of ours.
            return unsafe { alloc::realloc(ptr, new_size) };
        }
        // SAFETY: `new` is a valid non-zero-size layout (caller's contract).
        let q = unsafe { self.alloc(new) };
        if !q.is_null() {
            // SAFETY: ptr holds layout.size() bytes, q at least new_size; distinct blocks.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
                alloc::free(ptr);
            }
        }
        q
    }
}
