//! The data model of ft_malloc: constants and the three structures every other layer works on.
//!
//! ```text
//!  address space
//!  ├── Segment (4 MiB, aligned to 4 MiB, one mmap, registered in `registry`)
//!  │     slice 0  : the Segment header below (owner heap, slice map, 64 Zone descriptors)
//!  │     slice 1..: zones, each a run of 64 KiB slices holding blocks of ONE size class
//!  │                ┌────────────┬─────────────┬──────────────────────────────────────┐
//!  │       zone  =  │ free stack │ requested[] │ block 0 │ block 1 │ ...  │ block n-1 │
//!  │                │ u16 / block│ u16 / block │ (bsize bytes each, aligned to          │
//!  │                │ (indices)  │             │  lowbit(bsize))                        │
//!  │                └────────────┴─────────────┴──────────────────────────────────────┘
//!  │                (the stack starts a zone-dependent number of cache lines in, the
//!  │                 array right after it: `segment::requested_array`)
//!  └── LARGE mapping (one mmap per block, > SMALL_MAX), recorded in `large`'s table
//! ```
//!
//! Invariants (each layer keeps them; `show`, `free` and the tests rely on them):
//! - A segment is owned by exactly one `Heap` (its `heap` field) or by the segment pool (null).
//!   Only the owner thread changes the segment's slice map and zone descriptors.
//! - `Segment::slice_entry(i)` is 0 when slice `i` is free (or is the header), else the byte
//!   offset, from the segment, of the descriptor of the zone covering slice `i` (low 16 bits)
//!   and the zone's class (bits 16..24), so one load tells a `free` both, and the cache line of
//!   the zone where its `requested` array starts (bits 24..32, `segment::requested_array`). A
//!   zone's descriptor is `zones[first_slice]`.
//! - `requested[k]` is 0 when block `k` is free, never handed out, or waiting in a batch or
//!   on a heap's remote list; else the size the user asked for (`ZERO_REQUEST` for 0 bytes:
//!   `request_entry`). It is the per-block state
//!   bit that makes `free` of a freed or foreign pointer detectable in O(1), and the size
//!   `show_alloc_mem` prints.
//! - A block is handed out only if its index is on its zone's free stack (`Zone::sp`); each
//!   index below `extended` is on the stack, or its block is handed out (live, or freed by
//!   another thread: in that thread's batch (`Heap::remote_out`) or on a heap's remote list,
//!   or being freed), never both, so the stack
//!   never holds more than `nblocks` indices. `extended + sp` counts the blocks handed out.
//! - A `Heap` is used by one thread at a time (its owner) or sits in the heap pool; other threads
//!   only push freed blocks on its atomic `remote_free` lists, and read its `pooled` flag. A
//!   thread takes a heap out of the pool under `G.heap_lock` (a new thread's first allocation,
//!   or a young thread adopting the heap of an exited thread whose blocks it frees). Heaps are
//!   never unmapped, so a pointer to one stays valid for ever.
//! - A LARGE range is in exactly one place: the table of live blocks (its shard's), a heap's
//!   `LargeFront` (freed, kept for that heap's thread), the shared cache (bins and ranges), or
//!   unmapped. Only the table's blocks are live: `free` of any other pointer is refused.
//! - Segments are never unmapped while they hold a zone; empty segments go to the pool with their
//!   pages given back (`madvise`), and are unmapped only to free address space when a mapping
//!   fails.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU16, AtomicU32, AtomicU8};

/// log2 of the segment size.
pub const SEGMENT_SHIFT: u32 = 22;
/// Size of a segment: the unit of mapping for TINY and SMALL zones.
pub const SEGMENT_SIZE: usize = 1 << SEGMENT_SHIFT;
/// log2 of the slice size.
pub const SLICE_SHIFT: u32 = 16;
/// Size of a slice: zones are made of whole slices.
pub const SLICE_SIZE: usize = 1 << SLICE_SHIFT;
/// Slices per segment (slice 0 holds the header).
pub const SLICES_PER_SEGMENT: usize = SEGMENT_SIZE / SLICE_SIZE;
/// Page size assumed for zone layout (the kernel's page size is read at start-up for LARGE).
pub const PAGE_SIZE: usize = 4096;

/// Largest request served by a TINY zone.
pub const TINY_MAX: usize = 512;
/// Largest request served by a SMALL zone; anything above is LARGE (a range of its own).
pub const SMALL_MAX: usize = 32768;
/// Every zone holds at least this many blocks of its size class (the subject's rule).
pub const MIN_BLOCKS_PER_ZONE: usize = 100;
/// Largest alignment served from zones (blocks of a class whose size is a multiple of it; zones
/// start on a slice boundary); above it aligned requests become LARGE mappings.
pub const MAX_ZONE_ALIGN: usize = SMALL_MAX;
const _: () = assert!(MAX_ZONE_ALIGN <= SLICE_SIZE && MAX_ZONE_ALIGN.is_power_of_two());

/// A free block: its first word links to the next free block of the same list.
#[repr(C)]
pub struct Block {
    pub next: *mut Block,
}

/// The `requested` entry of a live block of 0 bytes (`malloc(0)`); any other live block's
/// entry is its size (at most `SMALL_MAX`), and a free block's is 0.
pub const ZERO_REQUEST: u16 = u16::MAX;
const _: () = assert!(SMALL_MAX < ZERO_REQUEST as usize);

/// The `requested` entry of a live block of `size` bytes (`size <= SMALL_MAX`).
#[inline(always)]
pub const fn request_entry(size: usize) -> u16 {
    if size == 0 {
        ZERO_REQUEST
    } else {
        size as u16
    }
}

/// The size asked for by the live block whose `requested` entry is `v` (not 0).
#[inline(always)]
pub const fn entry_request(v: usize) -> usize {
    if v == ZERO_REQUEST as usize {
        0
    } else {
        v
    }
}

/// Zone states (`Zone::state`).
pub const ZONE_UNUSED: u8 = 0;
/// In use by its heap (in its class list, or out of it while full: `Zone::trigger` is `heap::OUT_OF_LIST`).
pub const ZONE_LISTED: u8 = 1;

/// A run of slices holding blocks of one size class.
///
/// Owner-only fields are plain. Other threads (a `free` from another thread, `show_alloc_mem`)
/// read only `class` and `state`, and derive everything else from the slice map and
/// `GEOMETRY[class]`, so a torn read can never send them outside the segment.
///
/// The zone's free blocks are a stack of block indices kept outside the blocks, in the
/// `free_stack` region right below the `requested` array: entry `j` of the stack, from the
/// top, is `requested[sp + j]` for `sp <= j + sp < 0` (negative indices of the same
/// array). `malloc` pops `requested[sp]` and writes the block's `requested` entry, one base
/// for both; `free` pushes. Blocks hold no allocator data while free (except a remote list's
/// link, see `Heap::remote_free`), so a write to a freed block changes nothing the
/// allocator reads.
#[repr(C, align(64))]
pub struct Zone {
    /// Owner-only copy of `GEOMETRY[class].magic` (first, so that its address is the
    /// descriptor's, for `size_class::block_index`).
    pub magic: u64,
    /// Owner-only: the zone's `requested` array (`segment::requested_array`); the free stack
    /// lies below it.
    pub requested: *const AtomicU16,
    /// Owner-only: address of block 0.
    pub blocks: *mut u8,
    /// Owner-only: minus the number of free block indices on the stack (0: none); the top of
    /// the stack is `requested[sp]`.
    pub sp: isize,
    /// Owner-only copies of `GEOMETRY[class]`'s `bsize` and `span` (and `magic` above), next
    /// to `blocks` for the owner's `malloc` and `free`. (Other threads use `GEOMETRY`: these
    /// plain fields may be mid-update when they look.) `span` is 0 unless the descriptor is
    /// that of a live zone (`zones[k]` for a zone whose first slice is `k`): the owner's lookup
    /// tries the descriptor of a pointer's own slice before the slice map
    /// (`segment::owner_zone_at`), so no other descriptor may cover an address.
    pub bsize: usize,
    pub span: usize,
    /// Owner-only: a `free` that finds `sp` at or below this leaves its push to the slow path
    /// (`free::zone_changed`), which acts on the zone's new state: `1 - extended` for a zone
    /// in its class list behind the head (the push empties it), `-extended` for the head of
    /// its class list (every block is on the stack already: only a block given back twice,
    /// by a double free racing with itself, gets there, and its push is dropped; a malloc/free
    /// loop on the head never leaves the fast path), `heap::OUT_OF_LIST` for a zone out of its
    /// class list because it was full (its first block back re-lists it). One signed compare
    /// on the `free` path catches all three, before the push, so that no push leaves the
    /// stack's region.
    pub trigger: i32,
    /// Owner-only: blocks `[0, extended)` have been put on the stack or handed out at least
    /// once since the zone was made, or reset while empty (`heap::age_empty_heads`); blocks
    /// handed out and not back are `extended + sp` (`Zone::handed_out`).
    pub extended: u32,
    /// Size class index.
    pub class: AtomicU8,
    /// `ZONE_UNUSED` or `ZONE_LISTED` (owner-written; read by `show_alloc_mem`).
    pub state: AtomicU8,
    /// Made while FT_MALLOC_GUARD was on: free blocks are poisoned, live ones carry canaries.
    pub guarded: AtomicBool,
    /// Owner-only links of the heap's class list.
    pub next: *mut Zone,
    pub prev: *mut Zone,
}

impl Zone {
    /// Blocks handed out and not back (owner-only).
    #[inline(always)]
    pub fn handed_out(&self) -> usize {
        (self.extended as isize + self.sp) as usize
    }

    /// A descriptor of no zone, with an empty free stack (used to initialise statics only).
    #[allow(clippy::declare_interior_mutable_const)]
    pub const EMPTY: Zone = Zone {
        magic: 0,
        requested: ptr::null(),
        blocks: ptr::null_mut(),
        sp: 0,
        bsize: 0,
        span: 0,
        trigger: 0,
        extended: 0,
        class: AtomicU8::new(0),
        state: AtomicU8::new(ZONE_UNUSED),
        guarded: AtomicBool::new(false),
        next: ptr::null_mut(),
        prev: ptr::null_mut(),
    };
}

/// The header at the start of every segment (slice 0).
#[repr(C)]
pub struct Segment {
    /// Owning heap; null while the segment sits in the pool.
    pub heap: AtomicPtr<Heap>,
    /// Owner-only: bit `i` set when slice `i` is free (bit 0, the header, is never set).
    pub free_mask: u64,
    /// Owner-only: bit `i` set when slice `i` was written since it was last purged (a zone's
    /// first slice when the zone is made, the others when its blocks reach them), so a zone
    /// made there must clear its `requested` array, and its pages are in memory.
    pub dirty_mask: u64,
    /// Owner-only: links of the heap's list of segments with free slices (or unreached ones).
    pub next: *mut Segment,
    pub prev: *mut Segment,
    /// Always 0. The owner's `free` reads a free slice's map entry (0) as the offset of a zone
    /// descriptor, i.e. this header read as a `Zone`: this word is that zone's `span`, so the
    /// pointer fails the range test without a test for 0 (see `segment::zone_at_unchecked`).
    pub zero_span: usize,
    /// Owner-only: when `purge_old` is due (`os::now_ms`), 0 = nothing pending. Purging waits so
    /// that a slice freed and soon reused is not faulted in again.
    pub purge_at: u64,
    /// Owner-only: free dirty slices that were already free when `purge_at` was set: purged
    /// when it passes. A free slice is purged between one and two delays after it was freed.
    pub purge_old: u64,
    /// Whether the segment is in its heap's list of segments with free slices (`next`).
    pub in_avail: bool,
    /// Owner-only: whether the segment is counted in its heap's `empty_segments` (it became
    /// empty and waits for the purge delay).
    pub counted_empty: bool,
    /// Owner-only: slices freed since `purge_at` was set: they become `purge_old` when it
    /// passes.
    pub purge_new: u64,
    /// Owner-only: dirty slices of live zones that their zone's blocks have not reached (the
    /// tail of a big zone made on slices in memory, `segment::zone_create`), since before
    /// `purge_at` was set: their pages are given back when it passes, unless the zone's blocks
    /// reach them first (`segment::mark_dirty` clears their bits). A segment with such slices
    /// stays in its heap's avail list (where purge ticks look) even when it has no free slice.
    pub unreached_old: u64,
    /// Owner-only: such slices since `purge_at` was set: they become `unreached_old` when it
    /// passes.
    pub unreached_new: u64,
    /// Global list of every segment ever mapped (under the pool lock), for `show_alloc_mem`.
    pub next_all: AtomicPtr<Segment>,
    /// Slice map (see module doc), at one of `SEGMENT_COLOURS` places picked by bits
    /// `SEGMENT_SHIFT..` of the segment's address (`Segment::slice_entry`). Segment headers
    /// all sit at the same offset modulo every cache's way size; one map each at the same
    /// place, the maps of more segments than a cache has ways would evict each other.
    pub slice_map: [AtomicU32; SLICES_PER_SEGMENT * SEGMENT_COLOURS],
    /// Zone descriptors, indexed by a zone's first slice (`Segment::zone`).
    pub zones: [Zone; SLICES_PER_SEGMENT],
}

/// Colours of segments (a power of two): a segment's colour, bits `SEGMENT_SHIFT..` of its
/// address, picks where its slice map lies in its header. Eight, so that the maps of up to 64
/// segments (256 MiB) share no set of an 8-way cache, and the maps of all colours lie in the
/// header's first page with the first descriptors (a small program touches one header page).
pub const SEGMENT_COLOURS: usize = 8;

impl Segment {
    /// Entry `i` of the slice map: in the copy of colour `(address >> SEGMENT_SHIFT) %
    /// SEGMENT_COLOURS`. For a pointer `p` in the segment, the entry of its slice is at byte
    /// `(p >> (SLICE_SHIFT - 2)) & SLICE_MAP_INDEX_MASK` of `slice_map`: one shift and one mask
    /// (`segment::zone_at_unchecked`).
    #[inline(always)]
    pub fn slice_entry(&self, i: usize) -> &AtomicU32 {
        &self.slice_map[slice_entry_index(self as *const Segment as usize, i)]
    }

    /// The slice map entry of the slice of `p`, an address in the segment at `seg`: one shift
    /// and one mask of `p` (bits `SEGMENT_SHIFT..` of `p` are the segment's colour).
    ///
    /// # Safety
    /// `p` lies in the segment at `seg`.
    #[inline(always)]
    pub unsafe fn entry_of(seg: *mut Segment, p: usize) -> *const AtomicU32 {
        // SAFETY: the offset is below the map's length in bytes (SLICE_MAP_INDEX_MASK).
        unsafe {
            ptr::addr_of!((*seg).slice_map)
                .cast::<u8>()
                .add(entry_offset(p))
                .cast::<AtomicU32>()
        }
    }

    /// The descriptor of the zone whose first slice is `first` (an address only: no reference
    /// is made, so a descriptor another thread writes may be read through it with care).
    ///
    /// # Safety
    /// `seg` is a mapped segment header.
    #[inline(always)]
    pub unsafe fn zone(seg: *mut Segment, first: usize) -> *mut Zone {
        // SAFETY: the index is masked into the array, in the mapped header (caller's contract).
        unsafe { ptr::addr_of_mut!((*seg).zones[first & (SLICES_PER_SEGMENT - 1)]) }
    }
}

/// The byte offset in `Segment::slice_map` of the entry of the slice of address `p`.
#[inline(always)]
pub const fn entry_offset(p: usize) -> usize {
    (p >> (SLICE_SHIFT - 2)) & SLICE_MAP_INDEX_MASK
}

/// The index in `slice_map` of the entry of slice `i` of the segment at `seg`.
pub const fn slice_entry_index(seg: usize, i: usize) -> usize {
    let colour = (seg >> SEGMENT_SHIFT) & (SEGMENT_COLOURS - 1);
    colour * SLICES_PER_SEGMENT + (i & (SLICES_PER_SEGMENT - 1))
}

/// Byte offset, from its segment, of the descriptor of the zone whose first slice is `first`
/// (the low half of its slice map entries).
pub const fn descriptor_offset(first: usize) -> usize {
    ZONES_OFFSET + first * size_of::<Zone>()
}

/// The first slice of the zone whose descriptor lies at byte `offset` of its segment.
pub const fn first_of_descriptor(offset: usize) -> usize {
    (offset - ZONES_OFFSET) / size_of::<Zone>()
}

/// See `Segment::slice_entry`.
pub const SLICE_MAP_INDEX_MASK: usize = (SLICES_PER_SEGMENT * SEGMENT_COLOURS - 1) << 2;
const _: () = assert!(SEGMENT_SHIFT - SLICE_SHIFT == SLICES_PER_SEGMENT.trailing_zeros());

pub use crate::size_class::DIRECT_ENTRIES;

/// Number of size classes.
pub const CLASS_COUNT: usize = crate::size_class::CLASS_COUNT;

/// Tags a heap may get (see `Heap::tag`): registry entries use two values above them.
pub const MAX_HEAP_TAG: u8 = 0xFD;

/// Number of remote-free lists per heap (a power of two).
pub const REMOTE_LISTS: usize = 4;

/// A thread's allocation state. Used by one thread at a time.
#[repr(C, align(64))]
pub struct Heap {
    /// Blocks of this heap's zones freed by other threads, pushed atomically, taken by the owner:
    /// `REMOTE_LISTS` lists, a block going to the one its address hashes to, so that the owner
    /// walks them side by side and their cache misses overlap (see `free::collect_remote`).
    pub remote_free: [AtomicPtr<Block>; REMOTE_LISTS],
    /// Whether the heap is in the pool. Written under `G.heap_lock`; read without it by a
    /// thread freeing one of the heap's blocks (`free::give_back_remote`), as a hint that it
    /// may adopt the heap, checked again under the lock.
    pub pooled: AtomicBool,
    /// Keeps the line of the two fields above, which other threads read and write, apart from
    /// the owner's fields.
    pub _remote_pad: [u8; REMOTE_PAD],
    /// The head of the class list (as in `classes`) of every request size up to
    /// `DIRECT_MAX`, at `(size + 7) / 8`: `malloc`'s fast path reads it with no class lookup.
    /// Written with `classes` (`heap::set_class_head`).
    pub direct: [*mut Zone; DIRECT_ENTRIES],
    /// Per size class: the first zone of the class list (`EMPTY_ZONE` when the list is empty),
    /// where allocation pops from.
    pub classes: [*mut Zone; CLASS_COUNT],
    /// Per size class: the last zone of the class list (null when the list is empty).
    pub class_tails: [*mut Zone; CLASS_COUNT],
    /// Segments of this heap with at least one free slice.
    pub avail: *mut Segment,
    /// Number of segments this heap owns.
    pub segments: usize,
    /// Links in the heap pool's list (`HeapPool`) while not owned by a thread.
    pub pool_next: *mut Heap,
    pub pool_prev: *mut Heap,
    /// Whether `classes` has been pointed at `EMPTY_ZONE` (a zeroed heap is not ready).
    pub ready: bool,
    /// The heap's tag, given when it is first prepared, never changed: `1..=MAX_HEAP_TAG`,
    /// unique among heaps, or 0 (untagged: every heap past the first `MAX_HEAP_TAG`). The
    /// registry entries of the heap's segments hold it, and the TLS slot of its thread, so
    /// that `free` tells a block of the calling thread's heap from the registry alone
    /// (`registry::owner_tag`).
    pub tag: u8,
    /// The earliest `purge_at` of its segments, 0 when none is pending. Like every purge
    /// deadline of the heap and its segments, a time on the heap's own clock (`clock_ms`).
    pub purge_at: u64,
    /// Owner-only: the heap's purge clock (`segment::heap_clock`), in milliseconds: the wall
    /// clock, except that a gap between two reads longer than `segment::CLOCK_GAP_MS` counts
    /// at an eighth of its length beyond that (time the owner thread spent descheduled, or
    /// waiting, or working without a slow path).
    pub clock_ms: u64,
    /// Owner-only: the wall clock (`os::now_ms`) at the last read of `clock_ms`; 0 before the
    /// first.
    pub clock_seen: u64,
    /// Empty segments the heap keeps for the purge delay (at most `EMPTY_SEGMENTS_KEPT`; more
    /// go to the pool at once, their pages given back).
    pub empty_segments: usize,
    /// Owner-only: refills and zone releases so far (the purge clock is read on a fraction of
    /// them).
    pub slow_events: u32,
    /// Under `G.heap_lock`, while the heap is in the pool: when it was put there or last
    /// tidied (`os::now_ms`), and whether `pool::tidy_one` has given back its free memory
    /// since it was put there (a tidied heap that other threads free blocks into is tidied
    /// again, at most once per `pool::POOL_IDLE_MS`).
    pub idle_since: u64,
    pub tidied: bool,
    /// Owner-only: until when (`os::now_ms`) the owner thread may trade this heap, just taken,
    /// for a pooled heap whose blocks it frees (`free::adopt`); 0 once it did, or may no more.
    pub adopt_until: u64,
    /// Owner-only: LARGE blocks the owner freed, kept for its next LARGE requests.
    pub large_front: LargeFront,
    /// Owner-only: blocks of other heaps that this heap's thread freed, not yet handed to
    /// their owners: a chain per owner heap, pushed on the owner's remote lists in one atomic
    /// operation when it holds `REMOTE_OUT_BATCH` blocks, when its slot is wanted for another
    /// owner (`remote_out_next` picks it, in turn), on the thread's purge ticks, and before the
    /// heap goes to the pool (`free::remote_out_flush`).
    pub remote_out: [RemoteOut; REMOTE_OUT_SLOTS],
    pub remote_out_next: usize,
}

/// Owner heaps a heap batches remote frees for at once (see `Heap::remote_out`): two, which
/// keeps the first thread's heap, and the globals around it, in one page.
pub const REMOTE_OUT_SLOTS: usize = 2;
/// Blocks a batch holds before it goes to its owner heap.
pub const REMOTE_OUT_BATCH: u32 = 32;

/// A chain of blocks freed into another heap (`Heap::remote_out`), linked through the
/// blocks' first words as on the remote lists: `head` to `tail`, `count` blocks, for heap
/// `owner` (null: the slot is unused, and the chain empty). Each block's `requested` entry was
/// claimed (cleared) by the freeing thread, so the blocks are its own until handed over, and
/// A doubly linked list of pooled heaps, through `Heap::pool_prev` and `Heap::pool_next`, with
/// its length: every operation but a search is O(1), however many threads have exited.
#[derive(Clone, Copy)]
pub struct HeapList {
    pub head: *mut Heap,
    pub tail: *mut Heap,
    pub len: usize,
}

impl HeapList {
    pub const EMPTY: HeapList = HeapList {
        head: ptr::null_mut(),
        tail: ptr::null_mut(),
        len: 0,
    };
}

/// The heaps of exited threads, waiting for new threads (under `G.heap_lock`). A pooled heap is
/// in `fresh` while its `tidied` is false, else in `tidied`.
/// - `fresh`: the heaps not tidied since they were pooled, the most recently pooled at the
///   head, so that `idle_since` never grows from head to tail (the tail has waited longest).
/// - `tidied`: the heaps whose free memory went back (`pool::tidy_one`), in the order the
///   tidying scan leaves them (it moves the heaps it looks at to the tail).
pub struct HeapPool {
    pub fresh: HeapList,
    pub tidied: HeapList,
}

/// count as handed out by their zones.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RemoteOut {
    pub owner: *mut Heap,
    pub head: *mut Block,
    pub tail: *mut Block,
    pub count: u32,
}

impl RemoteOut {
    pub const EMPTY: RemoteOut = RemoteOut {
        owner: ptr::null_mut(),
        head: ptr::null_mut(),
        tail: ptr::null_mut(),
        count: 0,
    };
}

/// Blocks a heap's `LargeFront` holds at most.
pub const LARGE_FRONT_SLOTS: usize = 64;

/// Freed LARGE blocks of class lengths (up to `large::BIN_MAX`) that a thread keeps for its own
/// next LARGE requests (`large::front_take`, `large::front_put`): taken and given back without
/// the lock of the shared cache, so threads that allocate and free such blocks at once do not
/// wait for each other. Like the shared cache's blocks, they are out of the table of live
/// blocks (`free` of one is refused). At most `LARGE_FRONT_SLOTS` blocks and `limit` bytes
/// (the oldest go on to the shared cache to make room); a block idle for
/// `large::CACHE_EXPIRY_MS` is unmapped; the whole front goes on to the shared cache when the
/// heap goes to the pool or is tidied.
#[repr(C)]
pub struct LargeFront {
    /// `(address, length, when freed)` of each block, oldest first; `count` of them in use.
    pub blocks: [(usize, usize, u64); LARGE_FRONT_SLOTS],
    pub count: usize,
    /// Bytes of the blocks.
    pub bytes: usize,
    /// Bytes the front may hold: `large::FRONT_MIN` (0 stands for it: heaps carved from a
    /// fresh mapping start zeroed, not from `EMPTY`) to `large::FRONT_MAX`.
    /// It doubles each time the thread has taken `large::FRONT_GROW_HITS` blocks out of the
    /// shared bins (what its front could have kept) waiting for their lock, which other threads
    /// held; it halves when blocks expire, and is back at
    /// `large::FRONT_MIN` when the front is flushed (memory wanted back, heap pooled).
    pub limit: usize,
    /// Blocks the thread took out of the shared bins, waiting for their lock, since `limit`
    /// last changed.
    pub shared_hits: u32,
}

impl LargeFront {
    pub const EMPTY: LargeFront = LargeFront {
        blocks: [(0, 0, 0); LARGE_FRONT_SLOTS],
        count: 0,
        bytes: 0,
        limit: 0,
        shared_hits: 0,
    };

    /// Removes and returns block `i` (below `count`).
    pub fn remove(&mut self, i: usize) -> (usize, usize, u64) {
        let b = self.blocks[i];
        self.blocks.copy_within(i + 1..self.count, i);
        self.count -= 1;
        self.bytes -= b.1;
        b
    }

    /// Adds a block as the newest (`count < LARGE_FRONT_SLOTS`).
    pub fn push(&mut self, b: (usize, usize, u64)) {
        self.blocks[self.count] = b;
        self.count += 1;
        self.bytes += b.1;
    }
}

/// Bytes that end the first line of a `Heap` after its fields shared with other threads.
pub const REMOTE_PAD: usize = 64 - REMOTE_LISTS * size_of::<usize>() - 1;
const _: () = assert!(core::mem::offset_of!(Heap, direct) == 64);

/// Byte offset of `Segment::zones` from the segment start.
pub const ZONES_OFFSET: usize = core::mem::offset_of!(Segment, zones);

const _: () = assert!(size_of::<Segment>() <= SLICE_SIZE);
const _: () =
    assert!(core::mem::offset_of!(Segment, zero_span) == core::mem::offset_of!(Zone, span));
const _: () = assert!(core::mem::offset_of!(Zone, guarded) < 64);
const _: () = assert!(descriptor_offset(SLICES_PER_SEGMENT) < u16::MAX as usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_slice_map_index_is_the_entry_of_the_slice() {
        // Segments of every colour, pointers at both ends and inside each slice.
        for seg_index in 0x1ffff0usize..0x200010 {
            let seg = seg_index << SEGMENT_SHIFT;
            for i in 0..SLICES_PER_SEGMENT {
                for off in [0, 1, 4095, 4096, 40000, SLICE_SIZE - 1] {
                    let p = seg + (i << SLICE_SHIFT) + off;
                    assert_eq!(entry_offset(p), 4 * slice_entry_index(seg, i));
                }
            }
        }
    }

    #[test]
    fn header_layout() {
        // The maps of every colour and the descriptors of the zones of the first 14 slices are
        // in the header's first page (a small program touches one header page).
        assert!(
            core::mem::offset_of!(Segment, slice_map)
                + size_of::<AtomicU32>() * SLICES_PER_SEGMENT * SEGMENT_COLOURS
                <= ZONES_OFFSET
        );
        assert!(descriptor_offset(15) <= PAGE_SIZE);
        assert!(size_of::<Segment>() <= SLICE_SIZE);
        assert_eq!(descriptor_offset(0), ZONES_OFFSET);
        assert_eq!(first_of_descriptor(descriptor_offset(37)), 37);
    }
}
