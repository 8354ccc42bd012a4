//! The one lock type of the library: a spin lock that yields, remembers its holder, and can be
//! reset in a forked child. Locks guard slow paths only (segment pool, heap pool, LARGE table,
//! the shared heap of exiting threads); the fast paths take none.

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
    pub fn lock_waited(&self) -> bool {
        let me = tls::thread_id();
        let mut spins = 0u32;
        loop {
            if self.holder.load(Ordering::Relaxed) == 0
                && self
                    .holder
                    .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return spins != 0;
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
