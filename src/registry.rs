//! The registry of our segments: the set of 4 MiB-aligned addresses where a segment of ours is
//! mapped. `free` asks it first, so that a pointer we do not own is recognised without reading
//! any memory but our own.
//!
//! An open-addressing hash set of `addr >> SEGMENT_SHIFT` keys (0 = empty slot, `TOMBSTONE` =
//! removed), linear probing, load factor at most 1/2. Readers never lock: they load the current
//! table (whose header carries its own mask) and probe it. Writers hold the pool lock; to grow,
//! they fill a larger table and publish it; old tables are never unmapped, so a reader holding
//! one stays safe.

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use crate::os;
use crate::types::SEGMENT_SHIFT;

const TOMBSTONE: u32 = u32::MAX;
/// Slots of the table that lives inside the library's globals.
pub const INLINE_SLOTS: usize = 256;

/// A table: its mask followed by `mask + 1` slots.
#[repr(C)]
pub struct Table<const N: usize> {
    mask: u32,
    /// Live keys plus tombstones (writers only).
    filled: u32,
    slots: [AtomicU32; N],
}

/// The registry: the current table, and the first table inline.
#[repr(C)]
pub struct Registry {
    current: AtomicPtr<Table<0>>,
    inline: Table<INLINE_SLOTS>,
}

impl Registry {
    pub const fn new() -> Self {
        Registry {
            current: AtomicPtr::new(ptr::null_mut()),
            inline: Table {
                mask: INLINE_SLOTS as u32 - 1,
                filled: 0,
                slots: [const { AtomicU32::new(0) }; INLINE_SLOTS],
            },
        }
    }

    #[inline(always)]
    fn table(&self) -> *mut Table<0> {
        let t = self.current.load(Ordering::Acquire);
        if t.is_null() {
            &self.inline as *const Table<INLINE_SLOTS> as *mut Table<0>
        } else {
            t
        }
    }

    /// Whether `addr` lies in a segment of ours.
    #[inline(always)]
    pub fn contains(&self, addr: usize) -> bool {
        let key = (addr >> SEGMENT_SHIFT) as u32;
        if (addr >> SEGMENT_SHIFT) as u64 >= u32::MAX as u64 || key == 0 {
            return false;
        }
        let t = self.table();
        // SAFETY: `t` is the inline table or one published by `insert`, never unmapped; its
        // header says how many slots follow it, and the probe stays below that count.
        unsafe {
            let mask = (*t).mask;
            let slots = ptr::addr_of!((*t).slots) as *const AtomicU32;
            let mut i = key & mask;
            loop {
                let k = (*slots.add(i as usize)).load(Ordering::Relaxed);
                if k == key {
                    return true;
                }
                if k == 0 {
                    return false;
                }
                i = (i + 1) & mask;
            }
        }
    }

    /// Adds a segment. Caller holds the pool lock. Returns false when a larger table could not
    /// be mapped (the segment must then not be used).
    pub fn insert(&self, addr: usize) -> bool {
        let key = (addr >> SEGMENT_SHIFT) as u32;
        let mut t = self.table();
        // SAFETY: writers are serialised by the pool lock; `t` is valid as in `contains`.
        unsafe {
            if ((*t).filled as usize + 1) * 2 > (*t).mask as usize + 1 {
                match self.grow(t) {
                    Some(n) => t = n,
                    None => return false,
                }
            }
            Self::put(t, key);
        }
        true
    }

    /// Removes a segment. Caller holds the pool lock.
    pub fn remove(&self, addr: usize) {
        let key = (addr >> SEGMENT_SHIFT) as u32;
        let t = self.table();
        // SAFETY: as in `insert`.
        unsafe {
            let mask = (*t).mask;
            let slots = ptr::addr_of!((*t).slots) as *const AtomicU32;
            let mut i = key & mask;
            loop {
                let s = &*slots.add(i as usize);
                let k = s.load(Ordering::Relaxed);
                if k == 0 {
                    return;
                }
                if k == key {
                    s.store(TOMBSTONE, Ordering::Release);
                    return;
                }
                i = (i + 1) & mask;
            }
        }
    }

    /// # Safety
    /// Caller holds the pool lock; `t` is a valid table with a free slot.
    unsafe fn put(t: *mut Table<0>, key: u32) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let mask = (*t).mask;
            let slots = ptr::addr_of!((*t).slots) as *const AtomicU32;
            let mut i = key & mask;
            loop {
                let s = &*slots.add(i as usize);
                let k = s.load(Ordering::Relaxed);
                if k == 0 {
                    (*t).filled += 1;
                    s.store(key, Ordering::Release);
                    return;
                }
                if k == TOMBSTONE {
                    s.store(key, Ordering::Release);
                    return;
                }
                i = (i + 1) & mask;
            }
        }
    }

    /// # Safety
    /// Caller holds the pool lock; `old` is the current table.
    unsafe fn grow(&self, old: *mut Table<0>) -> Option<*mut Table<0>> {
        // SAFETY: guaranteed by the caller; the new table is a fresh zeroed mapping large
        // enough for its header and `cap` slots.
        unsafe {
            let old_cap = (*old).mask as usize + 1;
            let cap = old_cap * 4;
            let bytes = 8 + cap * 4;
            let new = os::map(bytes, 0) as *mut Table<0>;
            if new.is_null() {
                return None;
            }
            (*new).mask = cap as u32 - 1;
            let slots = ptr::addr_of!((*old).slots) as *const AtomicU32;
            for i in 0..old_cap {
                let k = (*slots.add(i)).load(Ordering::Relaxed);
                if k != 0 && k != TOMBSTONE {
                    Self::put(new, k);
                }
            }
            self.current.store(new, Ordering::Release);
            Some(new)
        }
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}
