//! The operating-system layer: the only place that maps, unmaps and purges memory, opens, reads
//! or writes a file, or touches `errno`. Every function is a thin wrapper over one system call.

use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// System-call counters and mapped bytes, always kept (system calls are rare and slow anyway).
pub struct OsStats {
    pub mmap_calls: AtomicUsize,
    pub munmap_calls: AtomicUsize,
    pub madvise_calls: AtomicUsize,
    /// Bytes mapped now.
    pub mapped: AtomicUsize,
    /// Most bytes mapped at once.
    pub peak_mapped: AtomicUsize,
}

pub static OS_STATS: OsStats = OsStats {
    mmap_calls: AtomicUsize::new(0),
    munmap_calls: AtomicUsize::new(0),
    madvise_calls: AtomicUsize::new(0),
    mapped: AtomicUsize::new(0),
    peak_mapped: AtomicUsize::new(0),
};

/// Maps `len` bytes of fresh zeroed memory, at `hint` if that range is free (never replacing an
/// existing mapping). Returns null on failure (errno is set by the kernel wrapper).
pub fn map(len: usize, hint: usize) -> *mut u8 {
    let saved = get_errno();
    let flags = libc::MAP_PRIVATE
        | libc::MAP_ANONYMOUS
        | if hint != 0 {
            libc::MAP_FIXED_NOREPLACE
        } else {
            0
        };
    // SAFETY: an anonymous mapping with no MAP_FIXED cannot replace memory we or anyone else
    // uses; the kernel validates every argument.
    let p = unsafe {
        libc::mmap(
            hint as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    OS_STATS.mmap_calls.fetch_add(1, Relaxed);
    if p == libc::MAP_FAILED {
        if hint != 0 {
            // A taken hint is not an error the caller reports.
            set_errno(saved);
        }
        return ptr::null_mut();
    }
    if hint != 0 && p as usize != hint {
        // Kernels older than 4.17 ignore MAP_FIXED_NOREPLACE and treat it as a hint.
        // SAFETY: the kernel just gave us this range, and nothing uses it.
        unsafe { libc::munmap(p, len) };
        OS_STATS.munmap_calls.fetch_add(1, Relaxed);
        return ptr::null_mut();
    }
    let now = OS_STATS.mapped.fetch_add(len, Relaxed) + len;
    OS_STATS.peak_mapped.fetch_max(now, Relaxed);
    p as *mut u8
}

/// Replaces the page at `addr` (inside one of our mappings) by an inaccessible one: a guard
/// page. Done with `mmap(MAP_FIXED)`, so memory still comes only from mmap/munmap.
pub fn map_inaccessible(addr: usize) -> bool {
    // SAFETY: MAP_FIXED over a page of our own mapping that holds nothing yet.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            crate::types::PAGE_SIZE,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    OS_STATS.mmap_calls.fetch_add(1, Relaxed);
    p != libc::MAP_FAILED
}

/// Unmaps `[p, p + len)`; the caller owns that range and nothing refers to it any more.
pub fn unmap(p: *mut u8, len: usize) {
    if len == 0 {
        return;
    }
    // A system call under the LARGE cache's lock, which every LARGE miss takes, holds up all
    // the threads that need it (see `large::Evictions`).
    debug_assert!(!crate::state::G.large.lock.held_by_me());
    // SAFETY: the callers pass ranges this library mapped and no longer hands out; munmap of an
    // owned range has no other effect.
    unsafe {
        libc::munmap(p as *mut libc::c_void, len);
    }
    OS_STATS.munmap_calls.fetch_add(1, Relaxed);
    OS_STATS.mapped.fetch_sub(len, Relaxed);
}

/// Gives the pages of `[p, p + len)` back to the kernel; they read as zero afterwards.
pub fn purge(p: *mut u8, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: the range is a part of one of our own mappings that holds no live block.
    unsafe {
        libc::madvise(p as *mut libc::c_void, len, libc::MADV_DONTNEED);
    }
    OS_STATS.madvise_calls.fetch_add(1, Relaxed);
}

/// Writes all of `buf` to `fd`, retrying short writes and EINTR; gives up on another error.
///
/// The file functions here make the system call themselves (`syscall`) rather than through
/// libc's `write`, `open`, `read` and `close`: those are cancellation points, so a thread with
/// a cancellation request pending would be cancelled inside the allocator (in `malloc_stats`,
/// `show_alloc_mem`, a debug log line written by `malloc`), its report cut short, and a lock it
/// held never released. glibc's `malloc_stats` turns cancellation off for the same reason
/// (glibc's tst-malloc-stats-cancellation); the thread is cancelled at its next cancellation
/// point instead.
pub fn write_all(fd: i32, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice for reading buf.len() bytes.
        let n = unsafe { libc::syscall(libc::SYS_write, fd, buf.as_ptr(), buf.len()) };
        if n <= 0 {
            if n < 0 && get_errno() == libc::EINTR {
                continue;
            }
            return;
        }
        buf = &buf[n as usize..];
    }
}

/// `open(path, flags, mode)`, not a cancellation point (see `write_all`): a descriptor, or -1
/// with errno set.
///
/// # Safety
/// `path` points to a NUL-terminated string.
pub unsafe fn open_file(path: *const libc::c_char, flags: i32, mode: u32) -> i32 {
    // SAFETY: path is NUL-terminated (the caller's promise); the kernel only reads it.
    unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, path, flags, mode) as i32 }
}

/// Reads up to `buf.len()` bytes from `fd`, not a cancellation point: the count, or -1.
pub fn read_fd(fd: i32, buf: &mut [u8]) -> isize {
    // SAFETY: buf is a valid slice for writing buf.len() bytes.
    unsafe { libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()) as isize }
}

/// Closes `fd`, not a cancellation point: true on success.
pub fn close_fd(fd: i32) -> bool {
    // SAFETY: closing a descriptor touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_close, fd) == 0 }
}

/// Sets errno to ENOMEM and returns null: every allocation failure ends here.
#[cold]
pub fn out_of_memory() -> *mut u8 {
    set_errno(libc::ENOMEM);
    core::ptr::null_mut()
}

/// The calling thread's errno.
pub fn get_errno() -> i32 {
    // SAFETY: __errno_location always returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno.
pub fn set_errno(e: i32) {
    // SAFETY: as in get_errno.
    unsafe { *libc::__errno_location() = e }
}

/// A coarse monotonic clock in milliseconds (vDSO: no system call, no allocation).
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000 + 1
}

/// Yields the processor to another thread (lock back-off).
pub fn yield_now() {
    // SAFETY: sched_yield has no arguments and no effect on memory.
    unsafe {
        libc::sched_yield();
    }
}
