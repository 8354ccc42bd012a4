//! The library's global state, gathered in one page-aligned structure so that start-up touches
//! one page of it (the 42 page-fault figures count every page).

use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8};

use crate::large::LargeState;
use crate::sync::SpinLock;
use crate::types::{
    Heap, HeapList, HeapPool, LargeFront, RemoteOut, Segment, Zone, CLASS_COUNT, DIRECT_ENTRIES,
    REMOTE_LISTS, REMOTE_OUT_SLOTS, REMOTE_PAD,
};

/// Interior mutability for state whose access rule is stated where it is declared (a lock, or
/// "owner thread only").
#[repr(transparent)]
pub struct Guarded<T>(UnsafeCell<T>);

// SAFETY: every `Guarded` field documents the lock or ownership rule that serialises access.
unsafe impl<T> Sync for Guarded<T> {}

impl<T> Guarded<T> {
    pub const fn new(v: T) -> Self {
        Guarded(UnsafeCell::new(v))
    }
    #[inline(always)]
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// A heap with no zones, for a `static`.
pub const fn empty_heap() -> Heap {
    Heap {
        remote_free: [const { AtomicPtr::new(ptr::null_mut()) }; REMOTE_LISTS],
        pooled: AtomicBool::new(false),
        _remote_pad: [0; REMOTE_PAD],
        direct: [ptr::null_mut(); DIRECT_ENTRIES],
        classes: [ptr::null_mut(); CLASS_COUNT],
        class_tails: [ptr::null_mut(); CLASS_COUNT],
        avail: ptr::null_mut(),
        segments: 0,
        pool_next: ptr::null_mut(),
        pool_prev: ptr::null_mut(),
        ready: false,
        tag: 0,
        purge_at: 0,
        clock_ms: 0,
        clock_seen: 0,
        empty_segments: 0,
        slow_events: 0,
        idle_since: 0,
        tidied: false,
        adopt_until: 0,
        large_front: LargeFront::EMPTY,
        remote_out: [RemoteOut::EMPTY; REMOTE_OUT_SLOTS],
        remote_out_next: 0,
    }
}

/// Start-up states (`Globals::init`).
pub const INIT_NONE: u8 = 0;
pub const INIT_RUNNING: u8 = 1;
pub const INIT_DONE: u8 = 2;

#[repr(C, align(4096))]
pub struct Globals {
    /// `INIT_*`.
    pub init: AtomicU8,
    /// Guards the segment pool, the list of all segments and registry writes.
    pub pool_lock: SpinLock,
    /// Under `pool_lock`: empty segments, linked by `Segment::next`.
    pub seg_pool: Guarded<*mut Segment>,
    /// Every segment ever mapped and not unmapped (linked by `next_all`, pushed under
    /// `pool_lock`).
    pub all_segments: AtomicPtr<Segment>,
    /// Guards the heap pool and heap chunk carving.
    pub heap_lock: SpinLock,
    /// Under `heap_lock`: heaps of exited threads.
    pub heap_pool: Guarded<HeapPool>,
    /// Under `heap_lock`: the rest of the current mapping that new heaps are carved from.
    pub heap_chunk: Guarded<(usize, usize)>,
    /// Under `heap_lock`: whether `first_heap` was handed out.
    pub first_heap_taken: Guarded<bool>,
    /// Guards `SHARED_HEAP`.
    pub shared_lock: SpinLock,
    /// The first thread's heap, here so that it costs no page of its own.
    pub first_heap: Guarded<Heap>,
    /// LARGE blocks.
    pub large: LargeState,
    /// The pthread key whose destructor returns a thread's heap (valid once init is done).
    pub thread_key: Guarded<libc::pthread_key_t>,
}

/// The one instance.
pub static G: Globals = Globals {
    init: AtomicU8::new(INIT_NONE),
    pool_lock: SpinLock::new(),
    seg_pool: Guarded::new(ptr::null_mut()),
    all_segments: AtomicPtr::new(ptr::null_mut()),
    heap_lock: SpinLock::new(),
    heap_pool: Guarded::new(HeapPool {
        fresh: HeapList::EMPTY,
        tidied: HeapList::EMPTY,
    }),
    heap_chunk: Guarded::new((0, 0)),
    first_heap_taken: Guarded::new(false),
    shared_lock: SpinLock::new(),
    first_heap: Guarded::new(empty_heap()),
    large: LargeState::new(),
    thread_key: Guarded::new(0),
};

const _: () = assert!(core::mem::size_of::<Globals>() <= 4096);

/// The heap of threads whose exit destructor already ran (under `G.shared_lock`): a static of
/// its own, outside `G`'s page, since few programs ever use it.
pub static SHARED_HEAP: Guarded<Heap> = Guarded::new(empty_heap());

/// The zone every empty class list points to: its stack of free blocks is empty, so the fast
/// path falls through to the slow path. Never written.
pub static EMPTY_ZONE: Guarded<Zone> = Guarded::new(Zone::EMPTY);

/// A heap whose class lists all point at `EMPTY_ZONE`, for the sentinels below.
const fn sentinel_heap() -> Heap {
    let mut h = empty_heap();
    let mut c = 0;
    while c < CLASS_COUNT {
        h.classes[c] = EMPTY_ZONE.get();
        c += 1;
    }
    let mut i = 0;
    while i < DIRECT_ENTRIES {
        h.direct[i] = EMPTY_ZONE.get();
        i += 1;
    }
    h.ready = true;
    h
}

/// The heap pointer of a thread that has not allocated yet (the TLS slot's initial value).
/// Never written.
pub static UNINIT_HEAP: Guarded<Heap> = Guarded::new(sentinel_heap());

/// The heap pointer of a thread whose exit destructor ran: all class lists empty, owns nothing.
/// The slow path recognises it and allocates from `SHARED_HEAP` under its lock. Never written.
pub static DEAD_HEAP: Guarded<Heap> = Guarded::new(sentinel_heap());
