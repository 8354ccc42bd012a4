//! LARGE blocks (above `SMALL_MAX`, or aligned beyond `MAX_ZONE_ALIGN`): each a page-aligned
//! range of its own, shared with no other block.
//!
//! A table, keyed by the block's address, records every live LARGE block (mapping length and
//! requested size), so `free` of a pointer that is not ours is recognised without touching it.
//! Freed mappings are kept in a cache of free ranges (at most `CACHE_SLOTS` ranges and
//! `CACHE_BYTES` bytes, each unmapped after `CACHE_EXPIRY_MS` unused; out of slots, the
//! smallest range goes):
//! - a request takes the smallest range that fits, splitting a larger one;
//! - a freed block joins the cached ranges next to it;
//! - a growing `realloc` extends into the range after it (a fresh mapping of up to
//!   `GROW_ROOM_MAX` bytes comes with as much again of untouched room behind it);
//! - a request that no range fits joins a fresh mapping to a cached range whose pages are in
//!   memory, below or above it (`take_extended`), so that most of its pages need no fault;
//!
//! So a malloc/free loop of LARGE blocks does not map and unmap on every turn, and their pages
//! are not faulted in again. Everything is under `LargeState::lock`, never held across a system
//! call.

use core::ptr;

use crate::os;
use crate::registry::REGISTRY;
use crate::state::{Guarded, G};
use crate::sync::SpinLock;
use crate::types::PAGE_SIZE;

/// One live LARGE block.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct LargeBlock {
    /// Address handed to the user. 0 = empty table slot.
    pub addr: usize,
    /// The mapping's start: `addr` itself, except for guarded blocks.
    pub base: usize,
    /// Mapping length (a page multiple), guard page included.
    pub len: usize,
    /// Size the user asked for.
    pub requested: usize,
    /// Bytes usable from `addr` (up to the mapping's end, or to the guard page).
    pub usable: usize,
}

impl LargeBlock {
    /// Whether an inaccessible guard page follows the block (FT_MALLOC_GUARD).
    pub fn guarded(&self) -> bool {
        self.addr + self.usable != self.base + self.len
    }
}

const EMPTY: LargeBlock = LargeBlock {
    addr: 0,
    base: 0,
    len: 0,
    requested: 0,
    usable: 0,
};

/// Freed mappings kept for reuse.
pub const CACHE_SLOTS: usize = 64;
/// Bytes of freed mappings kept for reuse at most.
pub const CACHE_BYTES: usize = 128 << 20;
/// A cached mapping unused for this long is unmapped at the next LARGE operation.
pub const CACHE_EXPIRY_MS: u64 = 250;
/// A fresh LARGE mapping up to this size gets as much again behind it for growth.
const GROW_ROOM_MAX: usize = 4 << 20;
/// At most this many unmaps are deferred to after the lock per operation.
const EVICT_MAX: usize = 4;
/// Set in a cache entry's stamp when its pages may be in memory (a freed block's range, as
/// opposed to untouched room or a range already purged).
const TOUCHED: u64 = 1 << 63;

pub struct LargeInner {
    /// Open-addressing table of live blocks (linear probing, backward-shift deletion).
    table: *mut LargeBlock,
    cap: usize,
    count: usize,
    /// Cached free mappings `(addr, len, stamp)`, oldest first; `cached` of them in use. The
    /// stamp is when the range was cached (`os::now_ms`), with `TOUCHED` set if its pages may
    /// be in memory.
    cache: [(usize, usize, u64); CACHE_SLOTS],
    cached: usize,
    cached_bytes: usize,
}

pub struct LargeState {
    pub lock: SpinLock,
    inner: Guarded<LargeInner>,
}

impl LargeState {
    pub const fn new() -> Self {
        LargeState {
            lock: SpinLock::new(),
            inner: Guarded::new(LargeInner {
                table: ptr::null_mut(),
                cap: 0,
                count: 0,
                cache: [(0, 0, 0); CACHE_SLOTS],
                cached: 0,
                cached_bytes: 0,
            }),
        }
    }
}

impl Default for LargeState {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn home(addr: usize, cap: usize) -> usize {
    ((addr >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) & (cap - 1)
}

impl LargeInner {
    /// Slot of `addr`, if present.
    fn find(&self, addr: usize) -> Option<usize> {
        if self.cap == 0 || addr == 0 {
            return None;
        }
        let mut i = home(addr, self.cap);
        loop {
            // SAFETY: i < cap and the table holds cap slots.
            let e = unsafe { &*self.table.add(i) };
            if e.addr == addr {
                return Some(i);
            }
            if e.addr == 0 {
                return None;
            }
            i = (i + 1) & (self.cap - 1);
        }
    }

    fn put(table: *mut LargeBlock, cap: usize, b: LargeBlock) {
        let mut i = home(b.addr, cap);
        // SAFETY: i < cap; the table has a free slot (load factor at most 1/2).
        unsafe {
            while (*table.add(i)).addr != 0 {
                i = (i + 1) & (cap - 1);
            }
            *table.add(i) = b;
        }
    }

    /// Grows the table when needed; returns the table to unmap afterwards (outside the lock),
    /// or None when a new table could not be mapped.
    fn reserve(&mut self) -> Option<(usize, usize)> {
        if (self.count + 1) * 2 <= self.cap {
            return Some((0, 0));
        }
        let cap = if self.cap == 0 { 128 } else { self.cap * 2 };
        let bytes = cap * size_of::<LargeBlock>();
        let t = os::map(bytes, 0) as *mut LargeBlock;
        if t.is_null() {
            return None;
        }
        for i in 0..self.cap {
            // SAFETY: i < old cap.
            let e = unsafe { *self.table.add(i) };
            if e.addr != 0 {
                Self::put(t, cap, e);
            }
        }
        let old = (self.table as usize, self.cap * size_of::<LargeBlock>());
        self.table = t;
        self.cap = cap;
        Some(old)
    }

    fn remove_at(&mut self, mut i: usize) -> LargeBlock {
        let mask = self.cap - 1;
        // SAFETY: every index is masked below cap.
        unsafe {
            let removed = *self.table.add(i);
            *self.table.add(i) = EMPTY;
            let mut j = i;
            loop {
                j = (j + 1) & mask;
                let e = *self.table.add(j);
                if e.addr == 0 {
                    break;
                }
                let h = home(e.addr, self.cap);
                // Move e back to i when its home is not in (i, j] (cyclically).
                let in_range = if i <= j {
                    h > i && h <= j
                } else {
                    h > i || h <= j
                };
                if !in_range {
                    *self.table.add(i) = e;
                    *self.table.add(j) = EMPTY;
                    i = j;
                }
            }
            self.count -= 1;
            removed
        }
    }

    /// Removes cache entry `k`, keeping the others in age order.
    fn cache_remove(&mut self, k: usize) -> (usize, usize, u64) {
        let e = self.cache[k];
        self.cache.copy_within(k + 1..self.cached, k);
        self.cached -= 1;
        self.cached_bytes -= e.1;
        e
    }

    /// Takes `need` bytes from the smallest cached range of at least `need` bytes. A larger
    /// range is split: its head is taken, its tail stays cached (pieces of one mapping can be
    /// used and unmapped separately, and `cache_put` joins neighbours again).
    ///
    /// Returns the range taken: a remainder under a quarter of `need` comes along as slack,
    /// which lets a growing `realloc` stay in place.
    fn cache_take(&mut self, need: usize) -> Option<(usize, usize)> {
        let mut best: Option<usize> = None;
        for k in 0..self.cached {
            let len = self.cache[k].1;
            if len >= need && best.is_none_or(|b| len < self.cache[b].1) {
                best = Some(k);
            }
        }
        let k = best?;
        let (addr, len, at) = self.cache[k];
        if len - need > need / 4 {
            self.cache[k] = (addr + need, len - need, at);
            self.cached_bytes -= need;
            Some((addr, need))
        } else {
            self.cache_remove(k);
            Some((addr, len))
        }
    }

    /// Takes `need` bytes at exactly `addr` from a cached range starting there (growing a
    /// block in place into the free range that follows it).
    fn cache_take_at(&mut self, addr: usize, need: usize) -> bool {
        let Some(k) =
            (0..self.cached).find(|&k| self.cache[k].0 == addr && self.cache[k].1 >= need)
        else {
            return false;
        };
        let (_, len, at) = self.cache[k];
        if len > need {
            self.cache[k] = (addr + need, len - need, at);
            self.cached_bytes -= need;
        } else {
            self.cache_remove(k);
        }
        true
    }

    /// Removes the oldest cached mapping.
    fn cache_pop_oldest(&mut self) -> (usize, usize) {
        let (addr, len, _) = self.cache_remove(0);
        (addr, len)
    }

    /// Caches a freed mapping (`len == 0`: nothing to cache, only expire old entries), making
    /// room and dropping entries older than `CACHE_EXPIRY_MS`. Returns the mappings to unmap
    /// outside the lock (more than `EVICT_MAX` are unmapped at once, which is rare).
    fn cache_put(
        &mut self,
        m: (usize, usize),
        now: u64,
        touched: bool,
    ) -> [(usize, usize); EVICT_MAX] {
        let mut evicted = [(0, 0); EVICT_MAX];
        let mut n = 0;
        let mut evict = |e: (usize, usize)| {
            if n < EVICT_MAX {
                evicted[n] = e;
                n += 1;
            } else {
                os::unmap(e.0 as *mut u8, e.1);
            }
        };
        while self.cached > 0 && (self.cache[0].2 & !TOUCHED) + CACHE_EXPIRY_MS < now {
            evict(self.cache_pop_oldest());
        }
        if m.1 == 0 {
            return evicted;
        }
        // Join cached neighbours, so that pieces split off one mapping become one range again.
        let mut m = m;
        let mut touched = touched;
        while let Some(k) = (0..self.cached)
            .find(|&k| self.cache[k].0 + self.cache[k].1 == m.0 || m.0 + m.1 == self.cache[k].0)
        {
            let (a, len, stamp) = self.cache_remove(k);
            m = (m.0.min(a), m.1 + len);
            touched |= stamp & TOUCHED != 0;
        }
        if m.1 > CACHE_BYTES {
            evict(m);
            return evicted;
        }
        if self.cached == CACHE_SLOTS {
            // Out of slots: the smallest range goes (split-off pieces are the least useful).
            let k = (0..self.cached)
                .min_by_key(|&k| self.cache[k].1)
                .unwrap_or(0);
            let (a, len, _) = self.cache_remove(k);
            evict((a, len));
        }
        while self.cached_bytes + m.1 > CACHE_BYTES {
            evict(self.cache_pop_oldest());
        }
        self.cache[self.cached] = (m.0, m.1, if touched { now | TOUCHED } else { now });
        self.cached += 1;
        self.cached_bytes += m.1;
        evicted
    }
}

fn with_inner<R>(f: impl FnOnce(&mut LargeInner) -> R) -> R {
    G.large.lock.lock();
    // SAFETY: the lock is held, so this is the only reference to the inner state.
    let r = f(unsafe { &mut *G.large.inner.get() });
    G.large.lock.unlock();
    r
}

/// Caches free range `m` (`touched`: its pages may be in memory; `(0, 0)`: only expire old
/// entries), unmapping what the cache evicts.
fn cache_range(m: (usize, usize), touched: bool) {
    for (a, len) in with_inner(|s| s.cache_put(m, os::now_ms(), touched)) {
        os::unmap(a as *mut u8, len);
    }
}

/// Unmaps the cached ranges older than `CACHE_EXPIRY_MS`. Besides LARGE misses, the heaps'
/// purge ticks call it, so that a program that stops using LARGE blocks gets their cache back.
pub fn expire_cached() {
    cache_range((0, 0), false);
}

fn page_round(size: usize) -> Option<usize> {
    size.checked_add(PAGE_SIZE - 1)
        .map(|s| s & !(PAGE_SIZE - 1))
}

/// Maps `len` bytes, giving back cached address space and retrying once if the kernel refuses.
fn map_or_retry(len: usize) -> *mut u8 {
    let p = os::map(len, 0);
    if !p.is_null() {
        return p;
    }
    let _ = release_cached();
    crate::heap::release_unneeded();
    crate::segment::release_pooled();
    os::map(len, 0)
}

/// A miss of `need` bytes when a cached range holding pages already in memory covers at least
/// a quarter of it: maps the missing part right below the range (the kernel hands out addresses
/// top-down, so that space is usually free) or right above it, and returns the start of the
/// joined block of `need` bytes, most of whose pages need not be faulted in again. None (the
/// range back in the cache) when the kernel has something there already.
fn take_extended(need: usize) -> Option<usize> {
    let (a, len) = with_inner(|s| {
        let k = (0..s.cached)
            .filter(|&k| s.cache[k].2 & TOUCHED != 0 && s.cache[k].1 >= need / 4)
            .max_by_key(|&k| s.cache[k].1)?;
        let (a, len, _) = s.cache_remove(k);
        Some((a, len))
    })?;
    let extra = need - len;
    let below = a.checked_sub(extra).filter(|&b| b >= PAGE_SIZE << 4);
    if let Some(b) = below {
        if !os::map(extra, b).is_null() {
            return Some(b);
        }
    }
    if !REGISTRY.contains(a + len) && !os::map(extra, a + len).is_null() {
        return Some(a);
    }
    cache_range((a, len), true);
    None
}

/// Allocates a LARGE block of `size` bytes aligned to `align` (a power of two). With `zero`,
/// the block reads as zeros. Null with errno ENOMEM on failure.
pub fn alloc(size: usize, align: usize, zero: bool) -> *mut u8 {
    let mut need = match page_round(size.max(1)) {
        Some(n) if n <= isize::MAX as usize => n,
        _ => {
            return os::out_of_memory();
        }
    };
    let addr;
    let mut from_cache = false;
    if align <= PAGE_SIZE {
        if let Some((a, len)) = with_inner(|s| s.cache_take(need)) {
            addr = a;
            need = len;
            from_cache = true;
        } else if let Some(a) = take_extended(need) {
            addr = a;
            from_cache = true;
        } else {
            // A miss: a good moment to give back mappings cached too long.
            cache_range((0, 0), false);
            // Map room to grow: a block up to GROW_ROOM_MAX gets as much again behind it, cached
            // as a free range (address space only: its pages are not touched), so that a
            // `realloc` doubling the block extends in place, without a copy or a system call.
            let room = if need <= GROW_ROOM_MAX { need } else { 0 };
            let mut p = if room != 0 {
                os::map(need + room, 0)
            } else {
                ptr::null_mut()
            };
            if p.is_null() {
                p = map_or_retry(need);
            } else {
                let tail = (p as usize + need, room);
                cache_range(tail, false);
            }
            if p.is_null() {
                return os::out_of_memory();
            }
            addr = p as usize;
        }
    } else {
        let span = match need.checked_add(align - PAGE_SIZE) {
            Some(s) if s <= isize::MAX as usize => s,
            _ => {
                return os::out_of_memory();
            }
        };
        let p = map_or_retry(span);
        if p.is_null() {
            return os::out_of_memory();
        }
        let base = p as usize;
        let aligned = (base + align - 1) & !(align - 1);
        os::unmap(p, aligned - base);
        os::unmap((aligned + need) as *mut u8, base + span - aligned - need);
        addr = aligned;
    }
    if !record(LargeBlock {
        addr,
        base: addr,
        len: need,
        requested: size,
        usable: need,
    }) {
        os::unmap(addr as *mut u8, need);
        return os::out_of_memory();
    }
    if zero && from_cache {
        // SAFETY: the mapping [addr, addr + need) is ours and not yet handed out.
        unsafe { ptr::write_bytes(addr as *mut u8, 0, size) };
    }
    addr as *mut u8
}

/// Allocates a LARGE block whose end touches an inaccessible guard page, so that an overrun
/// faults at once (FT_MALLOC_GUARD). The block starts `size` rounded up to 16 (or to `align`)
/// bytes before the guard page. Guarded mappings are never cached.
pub fn alloc_guarded(size: usize, align: usize, zero: bool) -> *mut u8 {
    let _ = zero; // fresh mappings are zero
    let align = align.max(16);
    let body = match size.max(1).checked_add(align - 1) {
        Some(s) => s & !(align - 1),
        None => {
            return os::out_of_memory();
        }
    };
    let len = match page_round(body).and_then(|b| b.checked_add(align.max(PAGE_SIZE))) {
        Some(l) if l <= isize::MAX as usize => l,
        _ => {
            return os::out_of_memory();
        }
    };
    let base = map_or_retry(len);
    if base.is_null() {
        return os::out_of_memory();
    }
    let guard = base as usize + len - PAGE_SIZE;
    if !os::map_inaccessible(guard) {
        os::unmap(base, len);
        return os::out_of_memory();
    }
    let addr = (guard - body) & !(align - 1);
    let b = LargeBlock {
        addr,
        base: base as usize,
        len,
        requested: size,
        usable: guard - addr,
    };
    if !record(b) {
        os::unmap(base, len);
        return os::out_of_memory();
    }
    addr as *mut u8
}

/// The live LARGE block that contains `addr` (a linear scan: for diagnostics only).
pub fn containing(addr: usize) -> Option<LargeBlock> {
    let mut found = None;
    for_each(|b| {
        if addr >= b.addr && addr < b.addr + b.usable.max(1) {
            found = Some(*b);
        }
    });
    found
}

/// Records a live block; false when the table could not grow.
fn record(b: LargeBlock) -> bool {
    let old = with_inner(|s| {
        let old = s.reserve()?;
        LargeInner::put(s.table, s.cap, b);
        s.count += 1;
        Some(old)
    });
    match old {
        Some((t, len)) => {
            os::unmap(t as *mut u8, len);
            true
        }
        None => false,
    }
}

/// The live LARGE block at `addr`, if any.
pub fn lookup(addr: usize) -> Option<LargeBlock> {
    with_inner(|s| {
        s.find(addr).map(|i| {
            // SAFETY: find returns an index below cap.
            unsafe { *s.table.add(i) }
        })
    })
}

/// Frees the LARGE block at `addr`; false when there is none (not ours, or already freed).
/// errno is preserved.
pub fn free(addr: usize) -> bool {
    match take(addr) {
        Some(b) => {
            release_taken(b);
            true
        }
        None => false,
    }
}

/// Takes the live LARGE block at `addr` out of the table: from here its range is the caller's
/// alone (a `free` racing with it finds nothing), until `release_taken`. None when no live
/// block starts at `addr`.
pub fn take(addr: usize) -> Option<LargeBlock> {
    with_inner(|s| {
        let i = s.find(addr)?;
        Some(s.remove_at(i))
    })
}

/// Gives back the range of a block taken by `take`: cached, or unmapped (guarded blocks, and
/// what the cache evicts). errno is preserved (`free` must not change it).
pub fn release_taken(b: LargeBlock) {
    let saved = os::get_errno();
    if b.guarded() {
        os::unmap(b.base as *mut u8, b.len);
    } else {
        cache_range((b.base, b.len), true);
    }
    os::set_errno(saved);
}

/// Changes the recorded size of the block at `addr` when `size` fits its mapping (shrinking
/// the mapping when less than half of it would be used). Returns false when the block must
/// move (or is not ours: the caller checked that first).
pub fn resize_in_place(addr: usize, size: usize) -> bool {
    let need = match page_round(size.max(1)) {
        Some(n) => n,
        None => return false,
    };
    let r = with_inner(|s| {
        let i = s.find(addr)?;
        // SAFETY: i < cap.
        let e = unsafe { &mut *s.table.add(i) };
        if e.guarded() {
            return None;
        }
        if need <= e.len {
            let cut = if need < e.len / 2 { e.len - need } else { 0 };
            e.len -= cut;
            e.usable = e.len;
            e.requested = size;
            return Some((true, e.addr + e.len, cut));
        }
        Some((false, e.addr + e.len, need - e.len))
    });
    let Some((fits, end, extra)) = r else {
        return false;
    };
    if fits {
        // The cut tail is a free range like any other: cached, or unmapped if it cannot be.
        if extra != 0 {
            cache_range((end, extra), true);
        }
        return true;
    }
    // Grow into a cached free range that starts where the block ends, else try to map there.
    let p = if with_inner(|s| s.cache_take_at(end, extra)) {
        end as *mut u8
    } else if REGISTRY.contains(end) || with_inner(|s| s.find(end).is_some()) {
        // A segment or a LARGE block of ours starts there: asking the kernel would fail.
        ptr::null_mut()
    } else {
        os::map(extra, end)
    };
    if p.is_null() {
        return false;
    }
    let ok = with_inner(|s| {
        let Some(i) = s.find(addr) else { return false };
        // SAFETY: i < cap.
        let e = unsafe { &mut *s.table.add(i) };
        if e.addr + e.len != end {
            return false;
        }
        e.len += extra;
        e.usable = e.len;
        e.requested = size;
        true
    });
    if !ok {
        os::unmap(p, extra);
    }
    ok
}

/// Unmaps every cached free mapping. Returns the bytes of those whose pages may have been
/// in memory.
pub fn release_cached() -> usize {
    let mut list = [(0usize, 0usize, 0u64); CACHE_SLOTS];
    let n = with_inner(|s| {
        let n = s.cached;
        list[..n].copy_from_slice(&s.cache[..n]);
        s.cached = 0;
        s.cached_bytes = 0;
        n
    });
    let mut touched = 0;
    for &(a, len, stamp) in &list[..n] {
        os::unmap(a as *mut u8, len);
        if stamp & TOUCHED != 0 {
            touched += len;
        }
    }
    touched
}

/// Calls `f` on every live LARGE block, in no order, with the lock held (`f` must not
/// allocate or free).
pub fn for_each(mut f: impl FnMut(&LargeBlock)) {
    with_inner(|s| {
        for i in 0..s.cap {
            // SAFETY: i < cap.
            let e = unsafe { &*s.table.add(i) };
            if e.addr != 0 {
                f(e);
            }
        }
    });
}

/// Calls `f` on the live LARGE block at `addr` with the lock held, so that the block cannot be
/// freed (and unmapped) while `f` reads it. `f` must not allocate or free.
pub fn with_block<R>(addr: usize, f: impl FnOnce(&LargeBlock) -> R) -> Option<R> {
    with_inner(|s| {
        let i = s.find(addr)?;
        // SAFETY: i < cap.
        Some(f(unsafe { &*s.table.add(i) }))
    })
}
