//! Start-up and process events: the one-time global initialisation (also run lazily by the
//! first `malloc`, which can come before our constructor), thread exit, and `fork`.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::heap;
use crate::state::{DEAD_HEAP, G, INIT_DONE, INIT_NONE, INIT_RUNNING, UNINIT_HEAP};
use crate::sync::SpinLock;
use crate::tls;
use crate::types::Heap;

/// Runs once per process; later and re-entrant calls return at once. May allocate (glibc's
/// `pthread_atfork` can call `malloc`), which is why the caller's heap must not depend on it.
pub fn global_init() {
    if G.init.load(Ordering::Acquire) == INIT_DONE {
        return;
    }
    if G.init
        .compare_exchange(INIT_NONE, INIT_RUNNING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    // SAFETY: DEAD_HEAP is written only here, once, before any thread can see it in its TLS
    // slot (thread_exit below is registered after this). The key destructor and fork handlers
    // are `extern "C"` functions that live as long as the library.
    unsafe {
        if libc::pthread_key_create(G.thread_key.get(), Some(thread_exit)) != 0 {
            *G.thread_key.get() = libc::pthread_key_t::MAX;
        }
        libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child));
    }
    G.init.store(INIT_DONE, Ordering::Release);
    // The thread that ran this may have taken its heap before the key existed.
    let h = tls::heap();
    if h != UNINIT_HEAP.get() {
        register_thread_heap(h);
    }
}

/// Asks for `thread_exit` to run when the calling thread ends (no-op before start-up ends).
pub fn register_thread_heap(h: *mut Heap) {
    if G.init.load(Ordering::Acquire) != INIT_DONE || h == DEAD_HEAP.get() {
        return;
    }
    // SAFETY: the key was created by global_init (or is MAX, which pthread_setspecific rejects
    // with EINVAL).
    unsafe {
        let key = *G.thread_key.get();
        if key != libc::pthread_key_t::MAX {
            libc::pthread_setspecific(key, h as *const libc::c_void);
        }
    }
}

/// pthread key destructor: the thread is ending. Its heap goes to the pool, and any later
/// allocation by this thread (other TLS destructors) uses the shared heap.
extern "C" fn thread_exit(arg: *mut libc::c_void) {
    let h = arg as *mut Heap;
    if h.is_null() || h == DEAD_HEAP.get() {
        return;
    }
    tls::set_heap(DEAD_HEAP.get());
    // SAFETY: the TLS slot no longer names `h`, and only this thread used it.
    unsafe { heap::heap_give_back(h) };
}

/// Number of global locks.
const LOCKS: usize = 4 + crate::large::SHARDS;

/// The global locks, in the order fork_prepare takes them (no code path takes two of the
/// LARGE locks at once).
fn locks() -> [&'static SpinLock; LOCKS] {
    let fixed = [&G.pool_lock, &G.heap_lock, &G.large.lock, &G.shared_lock];
    core::array::from_fn(|i| match i {
        0..4 => fixed[i],
        _ => &crate::large::LIVE[i - 4].lock,
    })
}

/// Bit i set when fork_prepare took lock i (it skips locks this thread already holds: a fork
/// from a signal handler that interrupted us).
static FORK_TAKEN: AtomicU32 = AtomicU32::new(0);
const _: () = assert!(LOCKS <= 32);

extern "C" fn fork_prepare() {
    let mut taken = 0u32;
    for (i, l) in locks().iter().enumerate() {
        if !l.held_by_me() {
            l.lock();
            taken |= 1 << i;
        }
    }
    FORK_TAKEN.store(taken, Ordering::Relaxed);
}

extern "C" fn fork_parent() {
    let taken = FORK_TAKEN.load(Ordering::Relaxed);
    for (i, l) in locks().iter().enumerate() {
        if taken & (1 << i) != 0 {
            l.unlock();
        }
    }
}

extern "C" fn fork_child() {
    // The child has one thread: every lock is free. Heaps of the parent's other threads stay
    // with their zones; blocks freed into them go on their remote lists, harmlessly.
    for l in locks() {
        l.reset();
    }
}

/// The library constructor: start-up work done at load time, where it costs the program
/// nothing later (and not inside its first `malloc`).
extern "C" fn constructor() {
    crate::debug::read_environment();
    global_init();
    heap::warm_up();
}

#[used]
#[link_section = ".init_array"]
static CONSTRUCTOR: extern "C" fn() = constructor;

/// The library destructor: what the debug variables ask for at exit.
extern "C" fn destructor() {
    if crate::debug::stats_on() {
        crate::stats::print(2);
    }
    if let Some(path) = crate::debug::report_path() {
        // SAFETY: the path is a NUL-terminated copy of FT_MALLOC_REPORT made at start-up.
        unsafe { crate::report::write_report(path) };
    }
}

#[used]
#[link_section = ".fini_array"]
static DESTRUCTOR: extern "C" fn() = destructor;
