//! # ft_malloc
//!
//! A memory allocator that replaces `malloc` for any Linux program
//! (`LD_PRELOAD=./libft_malloc.so prog`) and serves Rust programs as a `#[global_allocator]`:
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: ft_malloc::FtMalloc = ft_malloc::FtMalloc;
//!
//! let v: Vec<String> = (0..100).map(|i| i.to_string()).collect();
//! assert_eq!(v[42], "42");
//! assert!(ft_malloc::stats().live_blocks > 0);
//! ```
//!
//! ## When to choose it
//! - You want to *see* your heap: [`show_alloc_mem`] prints every zone and block,
//!   [`show_alloc_mem_ex`] adds occupancy bars, dumps and the last operations, [`stats()`] gives
//!   the numbers; all without allocating.
//! - You want bad frees to be harmless: a pointer that is not a live block of ours is
//!   recognised from the allocator's own metadata and ignored (or reported, with
//!   `FT_MALLOC_CHECK=1..3`).
//! - You want per-thread heaps with lock-free fast paths and memory handed back to the system
//!   when zones empty.
//!
//! ## Data model
//! Memory is mapped in 4 MiB segments aligned to 4 MiB, each owned by one thread's heap and cut
//! into 64 KiB slices. A zone is a run of slices holding blocks of one size class, with a
//! 16-bit entry per block giving the size asked for (0 = free). See [`types`] for the
//! invariants. Requests above [`SMALL_MAX`] get a page-aligned range of their own (from `mmap`).
//!
//! | kind  | request size | zone |
//! |-------|--------------|------|
//! | TINY  | 0 – [`TINY_MAX`] (512) bytes | one size class per zone, ≥ 100 blocks, 64 KiB and up |
//! | SMALL | 513 – [`SMALL_MAX`] (32768) bytes | one size class per zone, ≥ 100 blocks, 128 KiB – 3.2 MiB |
//! | LARGE | above | a page-aligned range of its own, from `mmap` |
//!
//! ## The C symbols
//! With the cargo feature `override` the crate exports `malloc`, `free` and the rest of the
//! family with `#[no_mangle]`. Without it, depending on the crate changes nothing for the C
//! libraries your program links. The `.so` that `make` builds uses `standalone`: `override`
//! without std (a panic handler of its own), so the library maps none of std's code; it is
//! not for a Rust program's `#[global_allocator]`, where std brings its own handler.
//!
//! ## Layers
//! One file each, bottom up: [`types`] (the data model), `os` (system calls), `tls` (the
//! initial-exec thread slot), `sync` (the lock), [`size_class`], `registry` (which segments are
//! ours), `segment` (segments and zones), `heap` (per-thread heaps and the small-block paths),
//! `large`, [`alloc`] (the malloc family's rules), `debug` (the `FT_MALLOC_*` modes), [`mod@stats`], [`report`] (the HTML heap map),
//! `show`, `init` (start-up, thread exit, fork), `c_api` (the C symbols) and `global`
//! ([`FtMalloc`]).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

// Without `standalone`, std is linked (it provides the panic handler) but never used on any
// path the allocator takes: nothing here allocates except through ft_malloc itself. The `.so`
// that `make` builds uses `standalone`: no std at all, so the library carries none of std's
// panic and backtrace machinery (about 200 KiB of code that every process would map).
#[cfg(not(feature = "standalone"))]
extern crate std;

// `rust_eh_personality` is named by the unwind tables of the precompiled `core`. With
// `panic = "abort"` nothing unwinds through our frames, so it is never called, but the linker
// must find it: a hidden stub (not exported, so it cannot interpose on another Rust library's)
// that answers _URC_CONTINUE_UNWIND (8) should a foreign unwinder ever ask.
#[cfg(feature = "standalone")]
core::arch::global_asm!(
    ".text",
    ".globl rust_eh_personality",
    ".hidden rust_eh_personality",
    ".type rust_eh_personality, @function",
    "rust_eh_personality:",
    "mov eax, 8",
    "ret",
);

/// The panic handler of the standalone `.so`. A panic in the allocator would be a bug; like
/// `panic = "abort"` everywhere else, it ends the process, here without formatting anything.
#[cfg(feature = "standalone")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: abort() takes no arguments and never returns.
    unsafe { libc::abort() }
}

pub mod alloc;
#[cfg(feature = "override")]
mod c_api;
mod debug;
mod free;
mod global;
mod heap;
mod init;
mod large;
mod os;
mod pool;
mod registry;
pub mod report;
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

/// Gives back to the system at once the memory the allocator keeps without need (`malloc_trim`
/// of the C API): the calling thread's empty zones and free pages, what the heaps of exited
/// threads keep and the LARGE cache, instead of waiting for the purge delays. Returns whether
/// anything was given back.
pub fn trim() -> bool {
    heap::trim()
}
