//! The one lock type of the library: a spin lock that yields, remembers its holder (and ends the
//! process when that holder asks for it again), and can be reset in a forked child. Locks guard
//! slow paths only (segment pool, heap pool, LARGE table, the shared heap of exiting threads);
//! the fast paths take none.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::os;
use crate::tls;

/// A spin lock whose word holds the holder's thread id (0 when free).
pub struct SpinLock {
    holder: AtomicUsize,
}

impl SpinLock {
    pub const fn new() -> Self {
        SpinLock {
            holder: AtomicUsize::new(0),
        }
    }

    /// Takes the lock, spinning then yielding while another thread holds it.
    pub fn lock(&self) {
        let _ = self.lock_waited();
    }

    /// `lock`, telling whether another thread held the lock first (the caller waited for it).
    ///
    /// A thread that finds the lock held by itself would wait for ever: it can only be a signal
    /// handler that calls the allocator (which is not async-signal-safe) and interrupted its
    /// thread inside it, in a section under this lock. That ends the process with a message
    /// (`reentered`) rather than spinning at full CPU for ever, as glibc's malloc and jemalloc
    /// then hang.
    pub fn lock_waited(&self) -> bool {
        let me = tls::thread_id();
        let mut spins = 0u32;
        loop {
            let holder = self.holder.load(Ordering::Relaxed);
            if holder == 0
                && self
                    .holder
                    .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return spins != 0;
            }
            if holder == me {
                reentered();
            }
            spins += 1;
            if spins < 64 {
                core::hint::spin_loop();
            } else {
                os::yield_now();
            }
        }
    }

    pub fn unlock(&self) {
        self.holder.store(0, Ordering::Release);
    }

    /// Whether the calling thread holds the lock (a `fork` from a signal handler that
    /// interrupted us inside the allocator).
    pub fn held_by_me(&self) -> bool {
        self.holder.load(Ordering::Relaxed) == tls::thread_id()
    }

    /// In a forked child: the threads that held locks are gone, so every lock starts free.
    pub fn reset(&self) {
        self.holder.store(0, Ordering::Relaxed);
    }
}

/// The end of a thread that asked for a lock it holds itself (see `SpinLock::lock_waited`).
#[cold]
#[inline(never)]
fn reentered() -> ! {
    os::write_all(
        2,
        b"ft_malloc: this thread called the allocator again while it was inside it, holding a \
          lock (a signal handler that calls malloc, free or realloc, which are not \
          async-signal-safe, interrupted it there): aborting rather than waiting for ever\n",
    );
    // SAFETY: abort takes no arguments, never returns and does not allocate.
    unsafe { libc::abort() }
}

impl Default for SpinLock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn a_thread_that_asks_for_a_lock_it_holds_aborts_instead_of_spinning() {
        // In a child process, which the abort ends alone.
        // SAFETY: the child only opens /dev/null, takes a lock twice and exits: no allocation,
        // nothing that another thread of the parent could have held at the fork.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: as above; the message goes to /dev/null rather than the test's output.
            unsafe {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
                libc::dup2(null, 2);
                let lock = SpinLock::new();
                lock.lock();
                lock.lock();
                libc::_exit(0);
            }
        }
        let mut status = 0;
        for _ in 0..1000 {
            // SAFETY: pid is our child; status is a valid int.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                assert!(
                    libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGABRT,
                    "the child ended with status {status:#x}, want SIGABRT"
                );
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // SAFETY: pid is our child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, &mut status, 0);
        }
        panic!("a second lock() by the lock's holder was still spinning after 10 s");
    }

    #[test]
    fn lock_waited_tells_whether_another_thread_held_the_lock() {
        let lock = Arc::new(SpinLock::new());
        assert!(!lock.lock_waited());
        lock.unlock();
        let held = Arc::new(AtomicBool::new(false));
        let (l, h) = (lock.clone(), held.clone());
        let holder = std::thread::spawn(move || {
            l.lock();
            h.store(true, Ordering::Release);
            std::thread::sleep(std::time::Duration::from_millis(50));
            l.unlock();
        });
        while !held.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        assert!(lock.lock_waited());
        lock.unlock();
        holder.join().unwrap();
    }
}
