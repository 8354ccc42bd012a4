//! Start-up and process events: the one-time global initialisation (also run lazily by the
//! first `malloc`, which can come before our constructor), thread exit, and `fork`.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

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
    heap::set_thread_heap(DEAD_HEAP.get());
    // SAFETY: the TLS slots no longer name `h`, and only this thread used it.
    unsafe { crate::pool::heap_give_back(h) };
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

/// Entry i set when fork_prepare took lock i (it skips locks this thread already holds: a fork
/// from a signal handler that interrupted us).
static FORK_TAKEN: [AtomicBool; LOCKS] = [const { AtomicBool::new(false) }; LOCKS];

/// Forks begun (prepared) and not ended (parent handler) inside a fork of this process: a
/// signal handler that forks while its thread is itself between fork_prepare and fork_parent.
/// That thread holds every lock then, so the nested fork takes none, and must neither record
/// that in FORK_TAKEN (the outer fork_parent would then release nothing: every later slow
/// path would spin for ever) nor release the outer fork's locks.
static FORK_NESTED: AtomicU32 = AtomicU32::new(0);

// glibc's lock of its list of stdio streams. glibc's `fork` takes it after the prepare
// handlers, and `fflush(NULL)` holds it while it waits for each stream's lock, which
// `getline` holds while it calls `realloc`: taking ours first would make a cycle (a thread in
// fork holding ours and waiting for the list, a thread in fflush holding the list and waiting
// for a stream, a thread in getline holding the stream and waiting for ours). So fork_prepare
// takes the list lock before ours, as glibc does before its own malloc's (it is recursive:
// glibc's own taking of it in `fork` nests inside ours).
#[cfg(target_env = "gnu")]
extern "C" {
    fn _IO_list_lock();
    fn _IO_list_unlock();
    fn _IO_list_resetlock();
}

/// How many times this process's fork_prepare took the stdio list lock and fork_parent has not
/// released it (more than once in nested forks). A child forked inside a fork resets it with
/// the lock, so that the outer fork's parent handler, which that child runs too, does not
/// release a lock it no longer holds (a recursive lock's count would go below zero).
#[cfg(target_env = "gnu")]
static IO_LIST_HELD: AtomicU32 = AtomicU32::new(0);

extern "C" fn fork_prepare() {
    // SAFETY: glibc's exported stdio list lock functions, with no arguments.
    #[cfg(target_env = "gnu")]
    unsafe {
        _IO_list_lock();
        IO_LIST_HELD.fetch_add(1, Ordering::Relaxed);
    }
    let mut taken = [false; LOCKS];
    for (i, l) in locks().iter().enumerate() {
        if !l.held_by_me() {
            l.lock();
            taken[i] = true;
        }
    }
    if !taken.contains(&true) {
        // Only a fork inside fork_prepare..fork_parent finds every lock held by its own thread.
        FORK_NESTED.fetch_add(1, Ordering::Relaxed);
    } else {
        for (flag, t) in FORK_TAKEN.iter().zip(taken) {
            flag.store(t, Ordering::Relaxed);
        }
    }
}

extern "C" fn fork_parent() {
    let nested = FORK_NESTED.load(Ordering::Relaxed);
    if nested != 0 {
        FORK_NESTED.store(nested - 1, Ordering::Relaxed);
    } else {
        // Read every flag before releasing any lock: a signal handler that forks once some
        // are released takes them and sets the flags for its own fork, and the locks this
        // loop has yet to release would stay held.
        let taken: [bool; LOCKS] = core::array::from_fn(|i| FORK_TAKEN[i].load(Ordering::Relaxed));
        for (l, taken) in locks().iter().zip(taken) {
            if taken {
                l.unlock();
            }
        }
    }
    // SAFETY: as in fork_prepare, which took it.
    #[cfg(target_env = "gnu")]
    unsafe {
        let held = IO_LIST_HELD.load(Ordering::Relaxed);
        if held != 0 {
            IO_LIST_HELD.store(held - 1, Ordering::Relaxed);
            _IO_list_unlock();
        }
    }
}

extern "C" fn fork_child() {
    // The child has one thread: every lock is free. Heaps of the parent's other threads stay
    // with their zones; blocks freed into them go on their remote lists, harmlessly. (A child
    // forked by a signal handler inside a fork then runs the outer fork's parent handler: it
    // releases free locks, which changes nothing.)
    for l in locks() {
        l.reset();
    }
    FORK_NESTED.store(0, Ordering::Relaxed);
    // SAFETY: as in fork_prepare; glibc already reset it in the child, again changes nothing.
    #[cfg(target_env = "gnu")]
    unsafe {
        IO_LIST_HELD.store(0, Ordering::Relaxed);
        _IO_list_resetlock();
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
