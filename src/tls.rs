//! The calling thread's heap pointer, in one initial-exec TLS slot.
//!
//! Why not `thread_local!`: in a `cdylib`, stable Rust compiles `thread_local!` to the
//! general-dynamic model, whose accesses call `__tls_get_addr`; that function may call `malloc`
//! when a thread's DTV must grow (glibc `elf/dl-tls.c`), re-entering us. glibc's manual
//! ("Replacing malloc") asks for the initial-exec model instead. Here the slot is declared in
//! assembly in `.tbss` and read through a `@GOTTPOFF` relocation: the linker gives the `.so` the
//! `STATIC_TLS` flag and the dynamic linker places the slot in the static TLS block of every
//! thread, so an access is two instructions (`mov off, [rip+SLOT@GOTTPOFF]; mov reg, fs:[off]`)
//! and never calls anything. Linked into an executable as an rlib, the linker relaxes the same
//! code to local-exec.
//!
//! The slot holds a `*mut Heap`: `UNINIT_HEAP` before the thread's first allocation (the slot's
//! initial value, in `.tdata`, so the fast path needs no null test), `DEAD_HEAP` after the
//! thread's exit destructor ran, else the thread's own heap. Both sentinels have every class
//! list empty, so the fast path falls through to the slow path, which tells them apart. A
//! second slot (`freed_into`) remembers, for a thread that frees before it allocates, whose
//! heap it freed into first, and a third (`remote_frees`) how many such blocks it freed. A
//! fourth (`tag`) holds the tag of the thread's heap (`registry::tls_tag_of`), 0xFF, which no
//! registry entry holds, until it has one.

use crate::types::Heap;

#[cfg(not(target_arch = "x86_64"))]
compile_error!("ft_malloc's initial-exec TLS slot is written for x86_64");

core::arch::global_asm!(
    ".section .tdata,\"awT\",@progbits",
    ".p2align 3",
    // global (so inlined accesses in other crates and codegen units link) but hidden (so the
    // .so does not export it)
    ".globl ft_malloc_tls_heap",
    ".hidden ft_malloc_tls_heap",
    ".type ft_malloc_tls_heap, @object",
    ".size ft_malloc_tls_heap, 8",
    "ft_malloc_tls_heap:",
    ".quad {uninit}",
    ".globl ft_malloc_tls_freed_into",
    ".hidden ft_malloc_tls_freed_into",
    ".type ft_malloc_tls_freed_into, @object",
    ".size ft_malloc_tls_freed_into, 8",
    "ft_malloc_tls_freed_into:",
    ".quad 0",
    ".globl ft_malloc_tls_remote_frees",
    ".hidden ft_malloc_tls_remote_frees",
    ".type ft_malloc_tls_remote_frees, @object",
    ".size ft_malloc_tls_remote_frees, 8",
    "ft_malloc_tls_remote_frees:",
    ".quad 0",
    ".globl ft_malloc_tls_tag",
    ".hidden ft_malloc_tls_tag",
    ".type ft_malloc_tls_tag, @object",
    ".size ft_malloc_tls_tag, 8",
    "ft_malloc_tls_tag:",
    ".quad 0xff",
    ".text",
    uninit = sym crate::state::UNINIT_HEAP,
);

/// The getter and setter of one 8-byte slot declared above: two instructions each, the slot's
/// offset from the thread pointer read from the GOT, then the access through %fs.
macro_rules! tls_slot {
    ($ty:ty, $(#[$get_doc:meta])* $get:ident, $(#[$set_doc:meta])* $set:ident, $sym:literal) => {
        $(#[$get_doc])*
        #[inline(always)]
        pub fn $get() -> $ty {
            let v: $ty;
            // SAFETY: the slot is 8 bytes of this thread's static TLS block, which exists for
            // the whole life of the thread; the GOT entry holds its offset from the thread
            // pointer (%fs).
            unsafe {
                core::arch::asm!(
                    concat!("mov {v}, qword ptr [rip + ", $sym, "@GOTTPOFF]"),
                    "mov {v}, qword ptr fs:[{v}]",
                    v = out(reg) v,
                    options(nostack, readonly, preserves_flags, pure),
                );
            }
            v
        }

        $(#[$set_doc])*
        #[inline(always)]
        pub fn $set(h: $ty) {
            // SAFETY: as in the getter; the slot is private to this thread.
            unsafe {
                core::arch::asm!(
                    concat!("mov {off}, qword ptr [rip + ", $sym, "@GOTTPOFF]"),
                    "mov qword ptr fs:[{off}], {h}",
                    off = out(reg) _,
                    h = in(reg) h,
                    options(nostack, preserves_flags),
                );
            }
        }
    };
}

tls_slot!(
    *mut Heap,
    /// The calling thread's heap pointer (see module doc).
    heap,
    /// Sets the calling thread's heap pointer.
    set_heap,
    "ft_malloc_tls_heap"
);

tls_slot!(
    *mut Heap,
    /// The heap of another thread into which this thread, before it had a heap of its own,
    /// first freed a block (null if none): the heap it asks for at its first allocation
    /// (`heap::thread_heap_init`).
    freed_into,
    /// Sets `freed_into`.
    set_freed_into,
    "ft_malloc_tls_freed_into"
);

tls_slot!(
    usize,
    /// Blocks of other heaps this thread freed before it had a heap of its own: at
    /// `types::REMOTE_OUT_BATCH`, it takes one (`free::give_back_remote`).
    remote_frees,
    /// Sets `remote_frees`.
    set_remote_frees,
    "ft_malloc_tls_remote_frees"
);

tls_slot!(
    usize,
    /// The calling thread's tag (see module doc; only its low byte is used). `free` reads it
    /// through `tag_matches`; this getter serves the tests.
    #[cfg_attr(not(test), allow(dead_code))]
    tag,
    /// Sets the calling thread's tag (`heap::set_thread_heap`).
    set_tag,
    "ft_malloc_tls_tag"
);

/// Whether `entry`, a registry entry, is the calling thread's tag: the entry of a segment of
/// its own heap. Three instructions: the slot's offset from the GOT, one compare with the
/// slot in memory, one branch (asm goto, which takes no output: the offset is loaded apart).
#[inline(always)]
pub fn tag_matches(entry: u8) -> bool {
    let off: usize;
    // SAFETY: as in the getters above: reads the GOT entry of the slot's offset.
    unsafe {
        core::arch::asm!(
            "mov {off}, qword ptr [rip + ft_malloc_tls_tag@GOTTPOFF]",
            off = out(reg) off,
            options(nostack, readonly, preserves_flags, pure),
        );
    }
    // SAFETY: the slot is 8 bytes of this thread's static TLS block; its low byte is read.
    unsafe {
        core::arch::asm!(
            "cmp byte ptr fs:[{off}], {e}",
            "jne {other}",
            off = in(reg) off,
            e = in(reg_byte) entry,
            other = label { return false; },
            options(nostack, readonly),
        );
    }
    true
}

/// An address unique to the calling thread (its thread pointer), for lock ownership.
#[inline(always)]
pub fn thread_id() -> usize {
    let v: usize;
    // SAFETY: %fs:0 holds the thread control block's self pointer on x86_64 Linux.
    unsafe {
        core::arch::asm!("mov {v}, qword ptr fs:[0]", v = out(reg) v,
            options(nostack, readonly, preserves_flags, pure));
    }
    v
}
