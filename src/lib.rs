//! # ft_malloc
//!
//! A memory allocator that replaces `malloc` for any Linux program
//! (`LD_PRELOAD=./libft_malloc.so prog`) and serves Rust programs as a `#[global_allocator]`
//! ([`FtMalloc`]). Born as the 42 school's malloc project: TINY and SMALL requests come from
//! pre-mapped zones of one size class each, LARGE requests get a mapping of their own, and
//! [`show_alloc_mem`] prints every zone and block.
//!
//! Layers, one file each (bottom up): [`types`] (the data model), `os` (system calls), `tls`
//! (the initial-exec thread slot), `sync` (the lock), [`size_class`], `registry` (which
//! segments are ours), `segment` (segments and zones), `heap` (per-thread heaps and the small
//! block paths), `large`, [`alloc`] (the malloc family's rules), `show`, `init` (start-up,
//! thread exit, fork), and the C symbols (`c_api`, feature `override`).
//!
//! Zone bounds: TINY up to 512 bytes, SMALL up to 32 KiB, LARGE above.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

// std is linked (it provides the panic handler of the cdylib) but never used on any path the
// allocator takes: nothing here allocates except through ft_malloc itself.
extern crate std;

pub mod alloc;
#[cfg(feature = "override")]
mod c_api;
mod debug;
mod global;
mod heap;
mod init;
mod large;
mod os;
mod registry;
mod segment;
mod show;
pub mod size_class;
mod state;
pub mod stats;
mod sync;
mod tls;
pub mod types;

pub use global::FtMalloc;
pub use types::{SMALL_MAX, TINY_MAX};

/// Prints the zones and their live blocks to standard output, in the 42 subject's format.
/// Allocates nothing.
pub fn show_alloc_mem() {
    show::show_alloc_mem()
}

/// Prints every zone in detail (class, occupancy bar, live blocks with a dump of their first
/// bytes, runs of free blocks), then the history of the last operations when
/// `FT_MALLOC_HISTORY` is set. Allocates nothing.
pub fn show_alloc_mem_ex() {
    show::show_alloc_mem_ex(show::DUMP_BYTES)
}

/// Dumps the whole live block at `ptr` (nothing if it is not a live block of ours).
pub fn show_block(ptr: *const u8) {
    show::dump_block(ptr as usize)
}

/// The allocator's statistics (walks the zones: O(heap)). Allocates nothing.
pub fn stats() -> stats::Stats {
    stats::collect()
}
