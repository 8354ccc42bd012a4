//! The C symbols (`malloc`, `free`, ...), exported only with the `override` feature (on for the
//! `.so` that `make` builds), so that a Rust program using the crate as a `#[global_allocator]`
//! does not silently take over its C libraries' `malloc`.
//!
//! Each function is a thin shell over `alloc`; here live only the C-specific argument rules
//! (`posix_memalign`'s EINVAL, `pvalloc` rounding, `reallocf` freeing on failure).

use core::ffi::c_void;

use crate::alloc;
use crate::os;
use crate::types::PAGE_SIZE;

#[no_mangle]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    alloc::malloc(size) as *mut c_void
}

#[no_mangle]
pub extern "C" fn free(p: *mut c_void) {
    // SAFETY: C's free contract; pointers that break it are detected and ignored where possible.
    unsafe { alloc::free(p as *mut u8) }
}

#[no_mangle]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    alloc::calloc(n, size) as *mut c_void
}

#[no_mangle]
pub extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: C's realloc contract, as for free.
    unsafe { alloc::realloc(p as *mut u8, size) as *mut c_void }
}

#[no_mangle]
pub extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: C's realloc contract, as for free.
        Some(total) => unsafe { alloc::realloc(p as *mut u8, total) as *mut c_void },
        None => os::out_of_memory() as *mut c_void,
    }
}

/// BSD `reallocf`: like `realloc`, but frees the old block when the new one cannot be had.
#[no_mangle]
pub extern "C" fn reallocf(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: C's realloc contract, as for free.
    let q = unsafe { alloc::realloc(p as *mut u8, size) };
    if q.is_null() && size != 0 {
        let saved = os::get_errno();
        // SAFETY: as above; a pointer that realloc refused as not ours is ignored here too.
        unsafe { alloc::free(p as *mut u8) };
        os::set_errno(saved);
    }
    q as *mut c_void
}

/// # Safety
/// `memptr` is valid for writing a pointer (it is written only on success).
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(
    memptr: *mut *mut c_void,
    align: usize,
    size: usize,
) -> i32 {
    if !align.is_power_of_two() || !align.is_multiple_of(size_of::<*mut c_void>()) {
        return libc::EINVAL;
    }
    // On failure errno is ENOMEM as well as the result, as under glibc, whose own tests
    // (tst-malloc-thread-fail) and some programs read errno after a failed call.
    let p = alloc::aligned_alloc(align, size);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: guaranteed by the caller.
    unsafe { *memptr = p as *mut c_void };
    0
}

#[no_mangle]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        os::set_errno(libc::EINVAL);
        return core::ptr::null_mut();
    }
    alloc::aligned_alloc(align, size) as *mut c_void
}

/// glibc's `memalign`: an alignment that is not a power of two is rounded up to one.
#[no_mangle]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    match align.max(1).checked_next_power_of_two() {
        Some(a) => alloc::aligned_alloc(a, size) as *mut c_void,
        None => {
            os::set_errno(libc::EINVAL);
            core::ptr::null_mut()
        }
    }
}

#[no_mangle]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    alloc::aligned_alloc(PAGE_SIZE, size) as *mut c_void
}

/// `valloc` of the size rounded up to whole pages (one page for 0).
#[no_mangle]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    match size.max(1).checked_add(PAGE_SIZE - 1) {
        Some(s) => alloc::aligned_alloc(PAGE_SIZE, s & !(PAGE_SIZE - 1)) as *mut c_void,
        None => os::out_of_memory() as *mut c_void,
    }
}

#[no_mangle]
pub extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    alloc::usable_size(p as *mut u8)
}

#[no_mangle]
pub extern "C" fn show_alloc_mem() {
    crate::show::show_alloc_mem()
}

/// Fills `*out` with ft_malloc's statistics (see `struct ft_malloc_stats` in ft_malloc.h);
/// returns 0, or -1 for a null `out`.
///
/// # Safety
/// `out` is null or valid for writing one `struct ft_malloc_stats`.
#[no_mangle]
pub unsafe extern "C" fn ft_malloc_stats(out: *mut crate::stats::Stats) -> i32 {
    if out.is_null() {
        return -1;
    }
    // SAFETY: guaranteed by the caller.
    unsafe { *out = crate::stats::collect() };
    0
}

/// glibc's `malloc_stats()`: the statistics on standard error.
#[no_mangle]
pub extern "C" fn malloc_stats() {
    crate::stats::malloc_stats()
}

/// glibc's `mallinfo2()`, in ft_malloc's terms (see `stats::mallinfo2`).
#[no_mangle]
pub extern "C" fn mallinfo2() -> crate::stats::MallInfo2 {
    crate::stats::mallinfo2()
}

/// glibc's `malloc_info()`: the heap as XML on `stream` (see `stats::malloc_info`). Returns 0,
/// or -1 with errno EINVAL when `options` is not 0 (as glibc) or `stream` is null, or -1 when
/// writing failed.
///
/// # Safety
/// `stream` is null or an open `FILE`.
#[no_mangle]
pub unsafe extern "C" fn malloc_info(options: i32, stream: *mut libc::FILE) -> i32 {
    if options != 0 || stream.is_null() {
        os::set_errno(libc::EINVAL);
        return -1;
    }
    let mut out = StreamSink { stream, ok: true };
    crate::stats::malloc_info(&mut out);
    if out.ok {
        0
    } else {
        -1
    }
}

/// A `Sink` over a C `FILE` (stdio, which may allocate: through this allocator, outside of
/// any lock, as any program's stdio does).
struct StreamSink {
    stream: *mut libc::FILE,
    ok: bool,
}

impl crate::show::Sink for StreamSink {
    fn bytes(&mut self, s: &[u8]) {
        // SAFETY: `stream` is an open FILE (malloc_info's contract); `s` is valid for reading.
        let written = unsafe { libc::fwrite(s.as_ptr().cast(), 1, s.len(), self.stream) };
        self.ok &= written == s.len();
    }
}

/// glibc's older `mallinfo()`: `mallinfo2()` with every field cut to an `int`.
#[no_mangle]
pub extern "C" fn mallinfo() -> crate::stats::MallInfo {
    crate::stats::mallinfo()
}

/// `show_alloc_mem` with every zone's detail, free blocks, a dump of each live block's first
/// bytes, and the history of the last operations (FT_MALLOC_HISTORY).
#[no_mangle]
pub extern "C" fn show_alloc_mem_ex() {
    crate::show::show_alloc_mem_ex(crate::show::DUMP_BYTES)
}

/// The whole of the live block at `ptr`, as a `hexdump -C` style dump on standard output.
#[no_mangle]
pub extern "C" fn show_alloc_mem_ex_dump(ptr: *mut c_void) {
    crate::show::dump_block(ptr as usize)
}

/// Writes an HTML page with an SVG map of the heap to `path` (see `report`). Returns 0, or -1
/// with errno set. Allocates nothing.
///
/// # Safety
/// `path` is null (EINVAL) or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ft_malloc_report(path: *const core::ffi::c_char) -> i32 {
    // SAFETY: guaranteed by the caller.
    if unsafe { crate::report::write_report(path as *const u8) } {
        0
    } else {
        -1
    }
}

/// glibc's `malloc_trim()`: gives back at once the memory the allocator keeps without need
/// (the calling thread's free zones and slices, empty segments, the LARGE cache) instead of
/// after the purge delay. `pad` is ignored. Returns 1 if memory was given back, else 0.
#[no_mangle]
pub extern "C" fn malloc_trim(pad: usize) -> i32 {
    let _ = pad;
    i32::from(crate::heap::trim())
}

// glibc's internal names of the malloc family. Programs that wrap `malloc` themselves call
// these to reach "the real allocator"; a `__libc_free` of one of our blocks must not reach
// glibc's free (it would abort on a pointer it never handed out), so they are ours too.

#[no_mangle]
pub extern "C" fn __libc_malloc(size: usize) -> *mut c_void {
    malloc(size)
}

#[no_mangle]
pub extern "C" fn __libc_free(p: *mut c_void) {
    free(p)
}

#[no_mangle]
pub extern "C" fn __libc_calloc(n: usize, size: usize) -> *mut c_void {
    calloc(n, size)
}

#[no_mangle]
pub extern "C" fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void {
    realloc(p, size)
}

#[no_mangle]
pub extern "C" fn __libc_memalign(align: usize, size: usize) -> *mut c_void {
    memalign(align, size)
}

#[no_mangle]
pub extern "C" fn __libc_valloc(size: usize) -> *mut c_void {
    valloc(size)
}

#[no_mangle]
pub extern "C" fn __libc_pvalloc(size: usize) -> *mut c_void {
    pvalloc(size)
}

// C23's sized frees. The C library of a newer system exports them as well, and would reach its
// own `free` with our blocks if ours were missing. The size (and alignment) a caller passes must
// be the block's; ours are checked like any pointer `free` gets, so they are plain `free`.

/// C23 `free_sized`: `free` of a block allocated with `size` bytes.
#[no_mangle]
pub extern "C" fn free_sized(p: *mut c_void, size: usize) {
    let _ = size;
    free(p)
}

/// C23 `free_aligned_sized`: `free` of a block from `aligned_alloc(align, size)`.
#[no_mangle]
pub extern "C" fn free_aligned_sized(p: *mut c_void, align: usize, size: usize) {
    let _ = (align, size);
    free(p)
}

/// The old `cfree` (glibc still exports it for old binaries): `free`.
#[no_mangle]
pub extern "C" fn cfree(p: *mut c_void) {
    free(p)
}

// `dlopen`, with RTLD_DEEPBIND taken out of its flags. A library opened with RTLD_DEEPBIND looks
// up its symbols in itself and its own dependencies before the global scope, so its `malloc`
// and `free` are the C library's, not ours: it would hand glibc's `free` our blocks (and ours
// glibc's), and crash. PHP 8.2 and older open their extensions so (pdo, phar, tokenizer: `php
// -v` crashes under every preloaded allocator). Without the flag the library's symbols come
// from the global scope first, where this allocator is. FT_MALLOC_KEEP_DEEPBIND=1 keeps the
// flag, for a program that needs it more than it needs one allocator.
//
// Written in assembly so that it ends with a jump, not a call, to the C library's `dlopen`:
// `dlopen` reads its caller's return address to find the calling object (whose RUNPATH it
// searches, and whose namespace it opens in), and must see the program's, not ours.
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn dlopen(
    filename: *const core::ffi::c_char,
    flags: core::ffi::c_int,
) -> *mut c_void {
    core::arch::naked_asm!(
        "mov rax, qword ptr [rip + {real}]",
        "test rax, rax",
        "jz 2f",
        "1:",
        "and esi, dword ptr [rip + {mask}]",
        "jmp rax",
        "2:",
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        "call {resolve}",
        "add rsp, 8",
        "pop rsi",
        "pop rdi",
        "test rax, rax",
        "jnz 1b",
        "ret",
        real = sym REAL_DLOPEN,
        mask = sym DLOPEN_FLAGS_MASK,
        resolve = sym resolve_dlopen,
    )
}

/// The C library's `dlopen` (0 until the first call).
static REAL_DLOPEN: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
/// The flags `dlopen` keeps: all but RTLD_DEEPBIND, or all (FT_MALLOC_KEEP_DEEPBIND).
static DLOPEN_FLAGS_MASK: core::sync::atomic::AtomicU32 =
    core::sync::atomic::AtomicU32::new(!(libc::RTLD_DEEPBIND as u32));

/// Finds the C library's `dlopen` (the next definition after ours) and reads
/// FT_MALLOC_KEEP_DEEPBIND. Returns the function's address, 0 if none was found (then our
/// `dlopen` returns null).
extern "C" fn resolve_dlopen() -> usize {
    use core::sync::atomic::Ordering::Relaxed;
    if crate::debug::getenv(b"FT_MALLOC_KEEP_DEEPBIND=").is_some_and(|v| v.first() == Some(&b'1')) {
        DLOPEN_FLAGS_MASK.store(u32::MAX, Relaxed);
    }
    // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name; it allocates through us at most.
    let f = unsafe { libc::dlsym(libc::RTLD_NEXT, c"dlopen".as_ptr()) } as usize;
    REAL_DLOPEN.store(f, Relaxed);
    f
}
