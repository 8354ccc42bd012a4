//! Debug modes, read once at start-up from the environment (without allocating), and the
//! checked versions of the malloc family that the entry points divert to while any mode is on.
//! With every mode off (the default), the only cost is one predictable branch per call.
//!
//! | variable | effect |
//! |---|---|
//! | `FT_MALLOC_CHECK=0..3` | on a detected misuse: 0 ignore, 1 print a line, 2 abort, 3 print and abort |
//! | `FT_MALLOC_SCRIBBLE=1` | new blocks filled with 0xAA, freed blocks with 0x55 |
//! | `FT_MALLOC_GUARD=1` | LARGE blocks end at an inaccessible page; small blocks get canary bytes after the requested size (checked on free/realloc) and are poisoned when freed (checked when reused) |
//! | `FT_MALLOC_STATS=1` | statistics on stderr at exit |
//! | `FT_MALLOC_LOG=path` | one line per call appended to `path` |
//! | `FT_MALLOC_HISTORY=n` | keep the last n operations for `show_alloc_mem_ex` |
//! | `FT_MALLOC_REPORT=path.html` | write the HTML heap report at exit |

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU8, AtomicUsize, Ordering};

use crate::alloc::{self, Misuse};
use crate::free;
use crate::heap;
use crate::large;
use crate::os;
use crate::segment::{small_classify, small_lookup, Lookup};
use crate::show::{Out, Sink};
use crate::size_class::{class_of, class_size, GEOMETRY};
use crate::state::Guarded;
use crate::stats::CALLS;
use crate::tls;
use crate::types::{MAX_ZONE_ALIGN, SMALL_MAX};

/// Whether any mode is on: the entry points test this one flag.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// `malloc`'s fast-path bound: a request below it takes the direct path (`heap::alloc_direct`).
/// `DIRECT_MAX + 1`, or 0 while a mode is on, so that one compare is both the size test and
/// the debug test.
static FAST_SIZE_LIMIT: AtomicUsize = AtomicUsize::new(crate::size_class::DIRECT_MAX + 1);
/// The same for the sizes above `DIRECT_MAX`: below it a request goes to the zones (its
/// class looked up). `SMALL_MAX + 1`, or 0 while a mode is on.
static FAST_SMALL_LIMIT: AtomicUsize = AtomicUsize::new(SMALL_MAX + 1);
/// `free`'s fast-path bound on the registry index of a pointer (`registry::index_of`):
/// one past the registry's last entry, or 0 while a mode is on, so that one compare is both
/// the address-range test and the debug test (null, index 0, has no segment: the slow path
/// takes it either way).
static FAST_FREE_LIMIT: AtomicUsize = AtomicUsize::new(crate::registry::SEGMENTS);

/// Reads a static with one RIP-relative instruction (`$load` is the instruction and operand
/// size, e.g. `"mov {v}, qword ptr"`): rustc reaches statics of a `cdylib` through the GOT (a
/// second, dependent load).
macro_rules! rip_load {
    ($load:literal, $static:path) => {{
        let v: usize;
        // SAFETY: a relaxed load of an atomic that lives as long as the library; `sym`
        // resolves to it directly (it is not exported, so it cannot be interposed).
        unsafe {
            core::arch::asm!(
                concat!($load, " [rip + {s}]"),
                v = out(reg) v,
                s = sym $static,
                options(nostack, readonly, preserves_flags, pure),
            );
        }
        v
    }};
}

/// Whether `value < limit` for one of the bounds above, as one compare of a register with the
/// static in memory and one branch (asm goto): rustc reaches statics of a `cdylib` through
/// the GOT (a second, dependent load) and loads them before comparing, and these sit on every
/// `malloc` and `free`.
macro_rules! below_static {
    ($value:expr, $static:path) => {{
        // SAFETY: a relaxed read of an atomic that lives as long as the library; `sym`
        // resolves to it directly (it is not exported, so it cannot be interposed).
        unsafe {
            core::arch::asm!(
                "cmp {v}, qword ptr [rip + {s}]",
                "jae {above}",
                v = in(reg) $value,
                s = sym $static,
                above = label { return false; },
                options(nostack, readonly),
            );
        }
        true
    }};
}

/// `size < FAST_SIZE_LIMIT`: `malloc` may take the zones' fast path.
#[inline(always)]
pub fn below_fast_size_limit(size: usize) -> bool {
    below_static!(size, FAST_SIZE_LIMIT)
}

/// `size < FAST_SMALL_LIMIT`: `malloc` may serve a size above `DIRECT_MAX` from the zones.
#[inline(always)]
pub fn below_fast_small_limit(size: usize) -> bool {
    below_static!(size, FAST_SMALL_LIMIT)
}

/// `index < FAST_FREE_LIMIT`: the registry covers registry index `index` and no mode is on.
#[inline(always)]
pub fn below_fast_free_limit(index: usize) -> bool {
    below_static!(index, FAST_FREE_LIMIT)
}
static CHECK: AtomicU8 = AtomicU8::new(0);
static SCRIBBLE: AtomicBool = AtomicBool::new(false);
static GUARD: AtomicBool = AtomicBool::new(false);
static STATS: AtomicBool = AtomicBool::new(false);
static LOG_FD: AtomicI32 = AtomicI32::new(-1);
/// The history ring (`FT_MALLOC_HISTORY`): `HISTORY_CAP` entries in a mapping of its own.
static HISTORY: AtomicPtr<HistoryEntry> = AtomicPtr::new(ptr::null_mut());
static HISTORY_CAP: AtomicUsize = AtomicUsize::new(0);
static HISTORY_NEXT: AtomicUsize = AtomicUsize::new(0);
/// `FT_MALLOC_REPORT`'s path, NUL-terminated (written once at start-up).
static REPORT_PATH: Guarded<[u8; 256]> = Guarded::new([0; 256]);

pub const SCRIBBLE_NEW: u8 = 0xAA;
pub const SCRIBBLE_FREED: u8 = 0x55;
pub const CANARY: u8 = 0xCB;
/// Canary bytes checked after a small block's requested size (at most).
const CANARY_CHECKED: usize = 64;

/// Whether the checked paths are in use.
#[inline(always)]
pub fn active() -> bool {
    rip_load!("movzx {v:e}, byte ptr", ACTIVE) != 0
}

/// Whether zones made now poison their fresh blocks (`FT_MALLOC_GUARD`).
pub fn guard_on() -> bool {
    GUARD.load(Ordering::Relaxed)
}

pub fn stats_on() -> bool {
    STATS.load(Ordering::Relaxed)
}

/// The report path, if `FT_MALLOC_REPORT` was set.
pub fn report_path() -> Option<*const u8> {
    // SAFETY: written once by `read_environment` before any other thread exists.
    let p = unsafe { &*REPORT_PATH.get() };
    if p[0] == 0 {
        None
    } else {
        Some(p.as_ptr())
    }
}

extern "C" {
    static environ: *const *const u8;
}

/// The value of environment variable `name` (given with its `=`), without allocating.
pub(crate) fn getenv(name: &[u8]) -> Option<&'static [u8]> {
    // SAFETY: `environ` is libc's NULL-terminated array of NUL-terminated strings; we only read
    // it, at start-up, before the program can change it from another thread.
    unsafe {
        let mut e = environ;
        if e.is_null() {
            return None;
        }
        while !(*e).is_null() {
            let s = *e;
            let mut len = 0;
            while *s.add(len) != 0 {
                len += 1;
            }
            let entry = core::slice::from_raw_parts(s, len);
            if entry.len() >= name.len() && &entry[..name.len()] == name {
                return Some(&entry[name.len()..]);
            }
            e = e.add(1);
        }
    }
    None
}

fn parse_usize(v: &[u8]) -> usize {
    let mut n: usize = 0;
    for &c in v {
        if !c.is_ascii_digit() {
            break;
        }
        n = n.saturating_mul(10).saturating_add((c - b'0') as usize);
    }
    n
}

/// Reads the `FT_MALLOC_*` variables (from the library constructor, when `environ` is set).
pub fn read_environment() {
    let mut any = false;
    if let Some(v) = getenv(b"FT_MALLOC_CHECK=") {
        let n = parse_usize(v).min(3) as u8;
        CHECK.store(n, Ordering::Relaxed);
        any |= n != 0;
    }
    let flag = |name: &[u8], f: &AtomicBool| -> bool {
        let on = getenv(name).is_some_and(|v| !v.is_empty() && v[0] != b'0');
        f.store(on, Ordering::Relaxed);
        on
    };
    any |= flag(b"FT_MALLOC_SCRIBBLE=", &SCRIBBLE);
    any |= flag(b"FT_MALLOC_GUARD=", &GUARD);
    any |= flag(b"FT_MALLOC_STATS=", &STATS);
    if let Some(path) = getenv(b"FT_MALLOC_LOG=") {
        let mut buf = [0u8; 256];
        if !path.is_empty() && path.len() < buf.len() {
            buf[..path.len()].copy_from_slice(path);
            // SAFETY: buf is NUL-terminated.
            let fd = unsafe {
                os::open_file(
                    buf.as_ptr() as *const libc::c_char,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
                    0o644,
                )
            };
            if fd >= 0 {
                LOG_FD.store(fd, Ordering::Relaxed);
                any = true;
            }
        }
    }
    if let Some(v) = getenv(b"FT_MALLOC_HISTORY=") {
        let n = parse_usize(v).min(1 << 20);
        if n > 0 {
            let p = os::map(n * size_of::<HistoryEntry>(), 0) as *mut HistoryEntry;
            if !p.is_null() {
                HISTORY_CAP.store(n, Ordering::Relaxed);
                HISTORY.store(p, Ordering::Release);
                any = true;
            }
        }
    }
    if let Some(path) = getenv(b"FT_MALLOC_REPORT=") {
        // SAFETY: start-up, single thread: nobody reads REPORT_PATH yet.
        let buf = unsafe { &mut *REPORT_PATH.get() };
        if !path.is_empty() && path.len() < buf.len() {
            buf[..path.len()].copy_from_slice(path);
            buf[path.len()] = 0;
        }
    }
    if any {
        FAST_SIZE_LIMIT.store(0, Ordering::Release);
        FAST_SMALL_LIMIT.store(0, Ordering::Release);
        FAST_FREE_LIMIT.store(0, Ordering::Release);
    }
    ACTIVE.store(any, Ordering::Release);
}

/// One remembered operation.
#[repr(C)]
pub struct HistoryEntry {
    /// `Op` as a number (0 = empty slot).
    pub op: AtomicUsize,
    pub addr: AtomicUsize,
    pub size: AtomicUsize,
    pub thread: AtomicUsize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Op {
    Malloc = 1,
    Calloc,
    Realloc,
    Free,
    Aligned,
}

impl Op {
    fn name(self) -> &'static [u8] {
        match self {
            Op::Malloc => b"malloc",
            Op::Calloc => b"calloc",
            Op::Realloc => b"realloc",
            Op::Free => b"free",
            Op::Aligned => b"aligned_alloc",
        }
    }
}

/// Calls `f(op name, address, size, thread)` for the remembered operations, oldest first.
pub fn for_each_history(mut f: impl FnMut(&[u8], usize, usize, usize)) {
    let h = HISTORY.load(Ordering::Acquire);
    let cap = HISTORY_CAP.load(Ordering::Relaxed);
    if h.is_null() {
        return;
    }
    let next = HISTORY_NEXT.load(Ordering::Relaxed);
    let start = next.saturating_sub(cap);
    for i in start..next {
        // SAFETY: i % cap < cap entries of the history mapping.
        let e = unsafe { &*h.add(i % cap) };
        let op = match e.op.load(Ordering::Relaxed) {
            1 => Op::Malloc,
            2 => Op::Calloc,
            3 => Op::Realloc,
            4 => Op::Free,
            5 => Op::Aligned,
            _ => continue,
        };
        f(
            op.name(),
            e.addr.load(Ordering::Relaxed),
            e.size.load(Ordering::Relaxed),
            e.thread.load(Ordering::Relaxed),
        );
    }
}

/// Whether a history is kept.
pub fn history_on() -> bool {
    !HISTORY.load(Ordering::Relaxed).is_null()
}

/// Records an operation in the history and the log.
fn trace(op: Op, addr: usize, size: usize, result: usize) {
    let h = HISTORY.load(Ordering::Relaxed);
    if !h.is_null() {
        let cap = HISTORY_CAP.load(Ordering::Relaxed);
        let i = HISTORY_NEXT.fetch_add(1, Ordering::Relaxed) % cap;
        // SAFETY: i < cap entries of the history mapping.
        let e = unsafe { &*h.add(i) };
        e.op.store(0, Ordering::Relaxed);
        e.addr.store(
            if op == Op::Free { addr } else { result },
            Ordering::Relaxed,
        );
        e.size.store(size, Ordering::Relaxed);
        e.thread.store(tls::thread_id(), Ordering::Relaxed);
        e.op.store(op as usize, Ordering::Release);
    }
    let fd = LOG_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let mut out = Out::new(fd);
        out.bytes(op.name());
        out.bytes(b"(");
        if op == Op::Free || op == Op::Realloc {
            out.hex(addr);
        }
        if op == Op::Realloc {
            out.bytes(b", ");
        }
        if op != Op::Free {
            out.dec(size);
        }
        out.bytes(b")");
        if op != Op::Free {
            out.bytes(b" = ");
            out.hex(result);
        }
        out.bytes(b" thread ");
        out.hex(tls::thread_id());
        out.bytes(b"\n");
    }
}

/// A misuse the checked paths detect on top of `alloc::Misuse`.
enum Problem {
    Misuse(Misuse),
    /// The canary bytes after a block's requested size were overwritten.
    Overflow {
        block: usize,
        size: usize,
    },
    /// A freed block was written to before it was handed out again.
    WriteAfterFree {
        block: usize,
    },
}

/// Applies FT_MALLOC_CHECK to a detected misuse: ignore, print, abort, or print and abort.
fn report(func: &[u8], p: usize, problem: Problem) {
    CALLS.misuses.fetch_add(1, Ordering::Relaxed);
    let mode = CHECK.load(Ordering::Relaxed);
    if mode == 1 || mode == 3 {
        let saved = os::get_errno();
        let mut out = Out::new(2);
        out.bytes(b"ft_malloc: ");
        out.bytes(func);
        out.bytes(b"(): ");
        match problem {
            Problem::Misuse(Misuse::DoubleFree) => {
                out.bytes(b"double free of ");
                out.hex(p);
            }
            Problem::Misuse(Misuse::NotOwned) => {
                out.bytes(b"pointer not allocated by ft_malloc: ");
                out.hex(p);
            }
            Problem::Misuse(Misuse::Interior(block)) => {
                out.bytes(b"interior pointer ");
                out.hex(p);
                if let Some(b) = block {
                    out.bytes(b" (");
                    out.dec(p - b);
                    out.bytes(b" bytes into the block at ");
                    out.hex(b);
                    out.bytes(b")");
                }
            }
            Problem::Overflow { block, size } => {
                out.bytes(b"guard bytes overwritten after the block at ");
                out.hex(block);
                out.bytes(b" (");
                out.dec(size);
                out.bytes(b" bytes requested)");
            }
            Problem::WriteAfterFree { block } => {
                out.bytes(b"write after free in the block at ");
                out.hex(block);
            }
        }
        out.bytes(b"\n");
        drop(out);
        os::set_errno(saved);
    }
    if mode >= 2 {
        // SAFETY: abort never returns and does not allocate.
        unsafe { libc::abort() };
    }
}

/// Recently freed LARGE addresses, to tell a LARGE double free from a foreign pointer.
static RECENT_LARGE: [AtomicUsize; 64] = [const { AtomicUsize::new(0) }; 64];
static RECENT_NEXT: AtomicUsize = AtomicUsize::new(0);

/// Refines `Misuse::NotOwned` for LARGE blocks: inside a live LARGE block, or recently freed.
fn refine(p: usize, m: Misuse) -> Misuse {
    if m != Misuse::NotOwned {
        return m;
    }
    if let Some(b) = large::containing(p) {
        return Misuse::Interior(Some(b.addr));
    }
    if RECENT_LARGE.iter().any(|r| r.load(Ordering::Relaxed) == p) {
        return Misuse::DoubleFree;
    }
    Misuse::NotOwned
}

/// The state of `p` as a block: `Ok(requested size)` when it is a live block of ours.
fn live_block(p: usize) -> Result<usize, Misuse> {
    match small_classify(p) {
        Lookup::Block(r) => {
            // SAFETY: the entry lies in our zone.
            let v = unsafe { (*r.requested).load(Ordering::Relaxed) } as usize;
            if v == 0 {
                Err(Misuse::DoubleFree)
            } else {
                Ok(crate::types::entry_request(v))
            }
        }
        Lookup::Inside(b) => Err(Misuse::Interior(b)),
        Lookup::Outside => match large::lookup(p) {
            Some(b) => Ok(b.requested),
            None => Err(refine(p, Misuse::NotOwned)),
        },
    }
}

/// For a live small block in a guarded zone: its usable size.
fn guarded_small(p: usize) -> Option<usize> {
    let r = small_lookup(p)?;
    // SAFETY: the zone descriptor lies in our segment.
    let guarded = unsafe { (*r.zone).guarded.load(Ordering::Relaxed) };
    if guarded {
        Some(GEOMETRY[r.class].bsize)
    } else {
        None
    }
}

fn fill(p: usize, from: usize, to: usize, byte: u8) {
    if to > from {
        // SAFETY: callers pass a range inside a block they own.
        unsafe { ptr::write_bytes((p + from) as *mut u8, byte, to - from) };
    }
}

/// Whether every byte of `[p + from, p + to)` is `byte`. Eight bytes at a time, 64 per test
/// (a loop the compiler vectorizes): a byte at a time, checking a freed 15 KB block before it
/// is handed out again took 5 µs, 90% of a `malloc` under FT_MALLOC_GUARD.
fn all_equal(p: usize, from: usize, to: usize, byte: u8) -> bool {
    if to <= from {
        return true;
    }
    // SAFETY: callers pass a range inside a block of ours, readable and not written meanwhile.
    let bytes = unsafe { core::slice::from_raw_parts((p + from) as *const u8, to - from) };
    // SAFETY: every bit pattern is a valid u64.
    let (head, words, tail) = unsafe { bytes.align_to::<u64>() };
    let pattern = u64::from_ne_bytes([byte; 8]);
    head.iter().chain(tail).all(|&b| b == byte)
        && words
            .chunks(8)
            .all(|c| c.iter().fold(0, |acc, &w| acc | (w ^ pattern)) == 0)
}

/// The checked allocation behind every allocating entry point.
/// `old` is the block being reallocated (for the log), or 0.
fn allocate(op: Op, old: usize, size: usize, align: usize, zero: bool) -> *mut u8 {
    let counter = match op {
        Op::Malloc => &CALLS.malloc,
        Op::Calloc => &CALLS.calloc,
        Op::Aligned => &CALLS.aligned,
        Op::Realloc | Op::Free => &CALLS.realloc,
    };
    if op != Op::Realloc {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    let p = if guard_on() {
        if size < SMALL_MAX && align <= MAX_ZONE_ALIGN {
            // A class with room for at least one canary byte.
            let mut c = class_of((size + 1).max(align));
            while !class_size(c).is_multiple_of(align.max(1)) {
                c += 1;
            }
            heap::alloc_small(c, size)
        } else if size > isize::MAX as usize {
            os::out_of_memory()
        } else {
            large::alloc_guarded(size, align, zero)
        }
    } else if zero {
        alloc::calloc_plain(1, size)
    } else if align > 8 {
        alloc::aligned_plain(align, size)
    } else {
        alloc::malloc_plain(size)
    };
    if !p.is_null() {
        let a = p as usize;
        count_requested(size);
        if let Some(usable) = guarded_small(a) {
            // Poisoned while free (from byte 8: a remote free's link lives below).
            if !all_equal(a, 8.min(usable), usable, SCRIBBLE_FREED) {
                report(op.name(), a, Problem::WriteAfterFree { block: a });
            }
            fill(a, size, usable, CANARY);
        }
        if zero {
            fill(a, 0, size, 0);
        } else if SCRIBBLE.load(Ordering::Relaxed) {
            // Up to the usable size (realloc moves that much): all of it reads as new.
            fill(a, 0, offered(p, size), SCRIBBLE_NEW);
        }
    }
    trace(op, old, size, p as usize);
    p
}

/// Checks a live block's canary; `size` is its requested size.
fn check_canary(func: &[u8], a: usize, size: usize) {
    if let Some(usable) = guarded_small(a) {
        if !all_equal(a, size, usable.min(size + CANARY_CHECKED), CANARY) {
            report(func, a, Problem::Overflow { block: a, size });
        }
    }
}

/// The checked `free`.
///
/// # Safety
/// As for `alloc::free`.
unsafe fn release(func: &[u8], p: *mut u8) {
    if func == b"free" {
        CALLS.free.fetch_add(1, Ordering::Relaxed);
    }
    if p.is_null() {
        return;
    }
    let a = p as usize;
    if let Some(c) = claim(func, a) {
        // SAFETY: claimed just now.
        let size = unsafe { give_back(func, a, c) };
        if func == b"free" {
            trace(Op::Free, a, size, 0);
        }
    }
}

/// A block that `claim` took: no other thread can free it until `give_back`.
enum Claimed {
    Small(crate::segment::SmallRef, usize),
    Large(large::LargeBlock),
}

/// Claims the block at `a` before anything reads, checks or scribbles over it: of two threads
/// freeing it at once (or one freeing it while another moves it with `realloc`), only one gets
/// it, the other reports a double free, so nothing is ever read from or written into a block
/// that was already given back (and maybe handed out again, or unmapped). None, reported, when
/// `a` is not a live block.
fn claim(func: &[u8], a: usize) -> Option<Claimed> {
    match small_classify(a) {
        Lookup::Block(r) => {
            // SAFETY: the entry lies in our zone (small_classify).
            let v = unsafe { (*r.requested).swap(0, Ordering::AcqRel) } as usize;
            if v == 0 {
                report(func, a, Problem::Misuse(Misuse::DoubleFree));
                return None;
            }
            Some(Claimed::Small(r, crate::types::entry_request(v)))
        }
        Lookup::Inside(b) => {
            report(func, a, Problem::Misuse(Misuse::Interior(b)));
            None
        }
        Lookup::Outside => match large::take(a) {
            Some(b) => Some(Claimed::Large(b)),
            None => {
                report(func, a, Problem::Misuse(refine(a, Misuse::NotOwned)));
                None
            }
        },
    }
}

/// Checks, scribbles over and gives back the block at `a` that `claim` took. Returns its
/// requested size.
///
/// # Safety
/// `c` is what `claim` returned for `a`, not given back yet.
unsafe fn give_back(func: &[u8], a: usize, c: Claimed) -> usize {
    match c {
        Claimed::Small(r, size) => {
            check_canary(func, a, size);
            // SAFETY: the zone descriptor lies in our segment.
            let guarded = unsafe { (*r.zone).guarded.load(Ordering::Relaxed) };
            if guarded || SCRIBBLE.load(Ordering::Relaxed) {
                fill(a, 0, GEOMETRY[r.class].bsize, SCRIBBLE_FREED);
            }
            forget_requested(size);
            // SAFETY: claim's swap took the block.
            unsafe { free::give_back_claimed(r.zone, a as *mut u8) };
            size
        }
        Claimed::Large(b) => {
            if SCRIBBLE.load(Ordering::Relaxed) {
                fill(a, 0, b.usable, SCRIBBLE_FREED);
            }
            forget_requested(b.requested);
            large::release_taken(b);
            let i = RECENT_NEXT.fetch_add(1, Ordering::Relaxed) % RECENT_LARGE.len();
            RECENT_LARGE[i].store(a, Ordering::Relaxed);
            b.requested
        }
    }
}

/// Adds a new (or resized) block's requested bytes to the totals and the live peak.
fn count_requested(size: usize) {
    CALLS.bytes_requested.fetch_add(size, Ordering::Relaxed);
    let live = CALLS.live_requested.fetch_add(size, Ordering::Relaxed) + size;
    CALLS.peak_requested.fetch_max(live, Ordering::Relaxed);
}

/// Takes a freed block's requested bytes off the live total.
fn forget_requested(size: usize) {
    CALLS.live_requested.fetch_sub(
        size.min(CALLS.live_requested.load(Ordering::Relaxed)),
        Ordering::Relaxed,
    );
}

pub fn malloc(size: usize) -> *mut u8 {
    allocate(Op::Malloc, 0, size, 0, false)
}

pub fn calloc(size: usize) -> *mut u8 {
    allocate(Op::Calloc, 0, size, 0, true)
}

pub fn aligned_alloc(align: usize, size: usize) -> *mut u8 {
    allocate(Op::Aligned, 0, size, align, false)
}

/// # Safety
/// As for `alloc::free`.
pub unsafe fn free(p: *mut u8) {
    // SAFETY: the caller's contract.
    unsafe { release(b"free", p) }
}

/// # Safety
/// As for `alloc::realloc`.
pub unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
    if p.is_null() {
        return allocate(Op::Malloc, 0, size, 0, false);
    }
    CALLS.realloc.fetch_add(1, Ordering::Relaxed);
    let a = p as usize;
    let old = match live_block(a) {
        Ok(s) => s,
        Err(m) => {
            report(b"realloc", a, Problem::Misuse(m));
            return ptr::null_mut();
        }
    };
    if size == 0 {
        // SAFETY: the caller's contract.
        unsafe { release(b"realloc", p) };
        return ptr::null_mut();
    }
    check_canary(b"realloc", a, old);
    // Every byte `malloc_usable_size` offered moves (programs such as redis write past the
    // requested size, up to the usable size).
    let keep = offered(p, old);
    // Without guards, a block stays where it is when the plain realloc would keep it there
    // (its class or mapping suits the new size): moving it every time made a loop that grows
    // a buffer a few bytes at a time quadratic (gawk building a 1.4 MB string: 3 s instead of
    // 0.1 s). Guarded blocks always move: their end must touch their guard.
    if !guard_on() && alloc::resize_in_place(p, size) {
        count_requested(size);
        forget_requested(old);
        if SCRIBBLE.load(Ordering::Relaxed) {
            // Bytes the block did not offer before read as new.
            fill(a, keep, offered(p, size), SCRIBBLE_NEW);
        }
        trace(Op::Realloc, a, size, a);
        return p;
    }
    let q = allocate(Op::Realloc, a, size, 0, false);
    if q.is_null() {
        return q;
    }
    // The old block is claimed before the copy, so that another thread's `free` of it
    // meanwhile (a misuse) cannot give it back, or unmap it, under the copy: a guarded LARGE
    // block freed so was unmapped and the copy faulted, every run. That `realloc` returns null.
    let Some(c) = claim(b"realloc", a) else {
        // SAFETY: q was allocated just now and not handed out.
        unsafe { release(b"realloc", q) };
        return ptr::null_mut();
    };
    // What moves is measured on the claimed block: the block at `a` may have been freed and
    // handed out again, smaller, since `keep` was (by the same misuse).
    let keep = keep.min(claimed_offered(&c));
    // SAFETY: p is ours alone since the claim, with at least `keep` bytes; q fresh with at
    // least `size`; the claim is given back once.
    unsafe {
        ptr::copy_nonoverlapping(p, q, keep.min(size));
        give_back(b"realloc", a, c);
    }
    q
}

/// `offered` of a block `claim` took (its table entry or `requested` entry is gone).
fn claimed_offered(c: &Claimed) -> usize {
    match c {
        Claimed::Small(r, size) => {
            // SAFETY: the zone descriptor lies in our segment.
            if unsafe { (*r.zone).guarded.load(Ordering::Relaxed) } {
                *size
            } else {
                GEOMETRY[r.class].bsize
            }
        }
        Claimed::Large(b) => b.usable,
    }
}

pub fn usable_size(p: *mut u8) -> usize {
    CALLS.usable_size.fetch_add(1, Ordering::Relaxed);
    if p.is_null() {
        return 0;
    }
    match live_block(p as usize) {
        Err(m) => {
            report(b"malloc_usable_size", p as usize, Problem::Misuse(m));
            0
        }
        Ok(size) => offered(p, size),
    }
}

/// What `malloc_usable_size` offers for live block `p` of `size` requested bytes: the
/// requested bytes of a guarded small block (the bytes after them are its canary, not usable),
/// the whole block otherwise.
fn offered(p: *mut u8, size: usize) -> usize {
    if guarded_small(p as usize).is_some() {
        size
    } else {
        alloc::usable_size_plain(p).max(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `all_equal` agrees with a byte-by-byte comparison for every start and end offset around
    /// the word and 64-byte boundaries, with one differing byte anywhere or none.
    #[test]
    fn all_equal_finds_any_differing_byte_at_any_alignment() {
        let mut buf = [0x55u8; 300];
        let base = buf.as_mut_ptr() as usize;
        for from in 0..20 {
            for to in (from..300).step_by(7).chain([299, 300]) {
                assert!(all_equal(base, from, to, 0x55), "{from}..{to}");
                for odd in (from..to).step_by(5).chain((to > from).then(|| to - 1)) {
                    buf[odd] = 0x54;
                    assert!(!all_equal(base, from, to, 0x55), "{from}..{to}, {odd}");
                    buf[odd] = 0x55;
                }
            }
        }
        assert!(all_equal(base, 10, 10, 0));
    }
}
