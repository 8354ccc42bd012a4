//! The operating-system layer: the only place that maps, unmaps and purges memory, writes to a
//! file descriptor, or touches `errno`. Every function is a thin wrapper over one system call.

use core::ptr;

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
    if p == libc::MAP_FAILED {
        if hint != 0 {
            // A taken hint is not an error the caller reports.
            set_errno(saved);
        }
        return ptr::null_mut();
    }
    if hint != 0 && p as usize != hint {
        // Kernels older than 4.17 ignore MAP_FIXED_NOREPLACE and treat it as a hint.
        unmap(p as *mut u8, len);
        return ptr::null_mut();
    }
    p as *mut u8
}

/// Unmaps `[p, p + len)`; the caller owns that range and nothing refers to it any more.
pub fn unmap(p: *mut u8, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: the callers pass ranges this library mapped and no longer hands out; munmap of an
    // owned range has no other effect.
    unsafe {
        libc::munmap(p as *mut libc::c_void, len);
    }
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
}

/// Writes all of `buf` to `fd`, retrying short writes; gives up on error.
pub fn write_all(fd: i32, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice for reading buf.len() bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
        if n <= 0 {
            if n < 0 && get_errno() == libc::EINTR {
                continue;
            }
            return;
        }
        buf = &buf[n as usize..];
    }
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

/// Yields the processor to another thread (lock back-off).
pub fn yield_now() {
    // SAFETY: sched_yield has no arguments and no effect on memory.
    unsafe {
        libc::sched_yield();
    }
}
