//! Random operation sequences checked against a shadow model (the rlsf/talc style): every live
//! block is recorded with its size, alignment and a fill pattern; after each operation the
//! allocator's answers must agree with the model: no two live blocks overlap, contents survive
//! until freed (and across realloc), alignment holds, sizes are reported back exactly, and
//! misuse (double free, interior pointers, foreign pointers) changes nothing.
//!
//! The test harness itself runs on ft_malloc (`#[global_allocator]`).

use std::collections::BTreeMap;

use ft_malloc::FtMalloc;

/// The allocator's API, with `free` and `realloc` wrapped: this test passes them only blocks it
/// owns, or pointers it knows are not live blocks of anyone (which must be ignored).
mod alloc {
    pub use ft_malloc::alloc::{aligned_alloc, calloc, malloc, requested_size, usable_size};
    pub fn free(p: *mut u8) {
        // SAFETY: see the module doc.
        unsafe { ft_malloc::alloc::free(p) }
    }
    pub fn realloc(p: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: see the module doc.
        unsafe { ft_malloc::alloc::realloc(p, size) }
    }
}

#[global_allocator]
static GLOBAL: FtMalloc = FtMalloc;

/// xorshift64*: deterministic, seedable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A size with a realistic spread: mostly TINY, some SMALL, a few LARGE.
    fn size(&mut self) -> usize {
        match self.below(100) {
            0..=59 => self.below(129) as usize,
            60..=89 => self.below(4097) as usize,
            90..=97 => self.below(32769) as usize,
            _ => 32769 + self.below(600_000) as usize,
        }
    }
}

struct Live {
    size: usize,
    align: usize,
    seed: u8,
}

fn fill(p: *mut u8, size: usize, seed: u8) {
    for i in 0..size {
        // SAFETY: p holds `size` bytes.
        unsafe { *p.add(i) = seed.wrapping_add(i as u8).wrapping_mul(31) };
    }
}

fn check(p: *mut u8, size: usize, seed: u8) {
    for i in 0..size {
        // SAFETY: p holds `size` bytes.
        let v = unsafe { *p.add(i) };
        assert_eq!(
            v,
            seed.wrapping_add(i as u8).wrapping_mul(31),
            "content of {p:?}+{i} (size {size})"
        );
    }
}

fn assert_no_overlap(live: &BTreeMap<usize, Live>, p: usize, size: usize) {
    let end = p + size.max(1);
    if let Some((&q, l)) = live.range(..=p).next_back() {
        assert!(
            q + l.size.max(1) <= p,
            "block {p:#x} overlaps {q:#x}+{}",
            l.size
        );
    }
    if let Some((&q, _)) = live.range(p..).next() {
        assert!(end <= q, "block {p:#x}+{size} overlaps {q:#x}");
    }
}

/// Removes a live block picked at random from the model.
fn take_random(live: &mut BTreeMap<usize, Live>, rng: &mut Rng) -> Option<(usize, Live)> {
    if live.is_empty() {
        return None;
    }
    let k = *live.keys().nth(rng.below(live.len() as u64) as usize)?;
    live.remove_entry(&k)
}

fn run(seed: u64, ops: usize) {
    let mut rng = Rng(seed | 1);
    let mut live: BTreeMap<usize, Live> = BTreeMap::new();
    for _ in 0..ops {
        match rng.below(100) {
            // malloc / calloc / aligned
            0..=44 => {
                let size = rng.size();
                let kind = rng.below(10);
                let (p, align) = if kind < 6 {
                    (alloc::malloc(size), if size >= 16 { 16 } else { 8 })
                } else if kind < 8 {
                    let p = alloc::calloc(1, size);
                    for i in 0..size {
                        // SAFETY: p holds size bytes.
                        assert_eq!(unsafe { *p.add(i) }, 0, "calloc not zero");
                    }
                    (p, if size >= 16 { 16 } else { 8 })
                } else {
                    let align = 1usize << (3 + rng.below(13)); // 8 .. 32 KiB
                    (alloc::aligned_alloc(align, size), align)
                };
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "alignment {align} of size {size}");
                assert_no_overlap(&live, p as usize, size);
                assert_eq!(alloc::requested_size(p), Some(size));
                assert!(alloc::usable_size(p) >= size);
                let s = rng.next() as u8;
                fill(p, size, s);
                live.insert(
                    p as usize,
                    Live {
                        size,
                        align,
                        seed: s,
                    },
                );
            }
            // free
            45..=79 => {
                let Some((k, l)) = take_random(&mut live, &mut rng) else {
                    continue;
                };
                check(k as *mut u8, l.size, l.seed);
                alloc::free(k as *mut u8);
            }
            // realloc
            80..=92 => {
                let Some((k, l)) = take_random(&mut live, &mut rng) else {
                    continue;
                };
                let size = rng.size().max(1);
                let q = alloc::realloc(k as *mut u8, size);
                assert!(!q.is_null());
                let keep = l.size.min(size);
                check(q, keep, l.seed);
                assert_no_overlap(&live, q as usize, size);
                assert_eq!(alloc::requested_size(q), Some(size));
                assert_eq!(q as usize % if size >= 16 { 16 } else { 8 }, 0);
                let s = rng.next() as u8;
                fill(q, size, s);
                live.insert(
                    q as usize,
                    Live {
                        size,
                        align: 8,
                        seed: s,
                    },
                );
            }
            // misuse: an immediate double free, interior pointers, foreign pointers. (A block
            // freed earlier may already be handed out again, to the test harness too, since it
            // runs on ft_malloc: only a just-freed block is known to be free, and only a small
            // one, which goes to this thread's own free list; a freed LARGE mapping goes to a
            // cache shared by all threads.)
            _ => {
                let size = rng.size().min(ft_malloc::SMALL_MAX);
                let p = alloc::malloc(size);
                alloc::free(p);
                alloc::free(p);
                assert!(alloc::realloc(p, 10).is_null());
                assert_eq!(alloc::usable_size(p), 0);
                let q = alloc::malloc(size);
                let r = alloc::malloc(size);
                assert_ne!(q, r, "a double-freed block was handed out twice");
                alloc::free(q);
                alloc::free(r);
                let stack = 0u64;
                let first = live.iter().next().map(|(&k, _)| k);
                let interior = first.map_or(0, |k| {
                    let usable = alloc::usable_size(k as *mut u8);
                    if usable >= 16 {
                        k + ((usable / 2) & !7)
                    } else {
                        k + 1
                    }
                });
                let candidates = [
                    first.map_or(0, |k| k + 1),
                    interior,
                    &stack as *const u64 as usize,
                    0xdead_beef_0000,
                    usize::MAX & !15,
                    8,
                ];
                let bad = candidates[rng.below(candidates.len() as u64) as usize];
                if bad == 0 {
                    continue;
                }
                alloc::free(bad as *mut u8);
                assert!(alloc::realloc(bad as *mut u8, 10).is_null());
                assert_eq!(alloc::usable_size(bad as *mut u8), 0);
            }
        }
    }
    for (k, l) in &live {
        check(*k as *mut u8, l.size, l.seed);
        assert_eq!(*k % l.align, 0);
        alloc::free(*k as *mut u8);
    }
}

#[test]
fn random_sequences_match_the_model() {
    for seed in 1..=12u64 {
        run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 6000);
    }
}

#[test]
fn random_sequences_in_parallel_threads() {
    let handles: Vec<_> = (0..4u64)
        .map(|t| std::thread::spawn(move || run(0xABCD_1234 + t * 7919, 8000)))
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn double_free_is_ignored_and_never_hands_a_block_out_twice() {
    // Small sizes only: other tests run in parallel threads, and a freed LARGE mapping goes to
    // a cache they share (tests/c/badptr.c covers LARGE double frees, single-threaded).
    for size in [0usize, 1, 16, 100, 512, 513, 4000, 32768] {
        let p = alloc::malloc(size);
        alloc::free(p);
        alloc::free(p);
        let a = alloc::malloc(size);
        let b = alloc::malloc(size);
        assert_ne!(a, b, "size {size}");
        alloc::free(a);
        alloc::free(b);
    }
}

#[test]
fn overflowing_sizes_fail_with_enomem() {
    assert!(alloc::malloc(usize::MAX).is_null());
    assert!(alloc::malloc(isize::MAX as usize + 1).is_null());
    assert!(alloc::calloc(usize::MAX / 2, 3).is_null());
    assert!(alloc::aligned_alloc(1 << 20, usize::MAX - 100).is_null());
    let p = alloc::malloc(100);
    assert!(alloc::realloc(p, usize::MAX).is_null());
    assert_eq!(alloc::requested_size(p), Some(100));
    alloc::free(p);
}

#[test]
fn blocks_cross_threads_through_channels() {
    use std::sync::mpsc;
    let (tx, rx) = mpsc::channel::<Box<[u64]>>();
    let producers: Vec<_> = (0..3u64)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..20_000u64 {
                    let n = ((i * 7 + t) % 300) as usize + 1;
                    let b: Box<[u64]> = (0..n as u64).map(|x| x ^ (t << 32) ^ i).collect();
                    tx.send(b).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut count = 0;
    for b in rx {
        let first = b[0];
        for (x, v) in b.iter().enumerate() {
            assert_eq!(*v, first ^ x as u64);
        }
        count += 1;
    }
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(count, 60_000);
}

#[test]
fn std_collections_run_on_ft_malloc() {
    let mut m = std::collections::HashMap::new();
    let mut b = std::collections::BTreeMap::new();
    let mut s = String::new();
    for i in 0..50_000u32 {
        m.insert(i, i.to_string());
        b.insert(i.to_string(), i);
        s.push_str(&i.to_string());
    }
    for i in (0..50_000u32).step_by(2) {
        m.remove(&i);
        b.remove(&i.to_string());
    }
    assert_eq!(m.len(), 25_000);
    assert_eq!(b.len(), 25_000);
    assert_eq!(m[&49_999], "49999");
    assert!(s.len() > 200_000);
}

#[test]
fn trim_gives_back_what_the_heap_keeps() {
    // 64 MiB of small blocks and 16 MiB of LARGE ones, freed: the heap keeps their zones for
    // the purge delay and the LARGE cache keeps the blocks; trim gives them back at once.
    let small: Vec<Vec<u8>> = (0..65_536).map(|i| vec![i as u8; 1024]).collect();
    let large: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 256 * 1024]).collect();
    assert!(small.iter().enumerate().all(|(i, v)| v[1023] == i as u8));
    assert!(large
        .iter()
        .enumerate()
        .all(|(i, v)| v[256 * 1024 - 1] == i as u8));
    drop(small);
    drop(large);
    // (Other tests run in parallel threads of this process: what a second trim finds depends
    // on them, so it is not checked here; tests/c/memory.c checks it in a process of its own.)
    assert!(ft_malloc::trim(), "trim found nothing to give back");
}
