//! Fuzz target: the input is a sequence of allocator operations (malloc, calloc, aligned,
//! realloc, free, misuse: double free, interior and foreign pointers), run against ft_malloc
//! and checked against a shadow model: every live block keeps its contents, no two live blocks
//! overlap, alignment and sizes are as asked, and misuse changes nothing.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run ops` from the repository root (see README).
#![no_main]

use std::collections::BTreeMap;

use ft_malloc::alloc;
use libfuzzer_sys::fuzz_target;

struct Live {
    size: usize,
    seed: u8,
}

fn fill(p: *mut u8, size: usize, seed: u8) {
    // SAFETY: p is a live block of at least `size` bytes.
    unsafe { core::ptr::write_bytes(p, seed, size) };
}

fn check(p: *mut u8, size: usize, seed: u8) {
    for i in 0..size {
        // SAFETY: p is a live block of at least `size` bytes.
        assert_eq!(unsafe { *p.add(i) }, seed, "contents of {p:?}+{i}");
    }
}

fn no_overlap(live: &BTreeMap<usize, Live>, p: usize, size: usize) {
    if let Some((&q, l)) = live.range(..=p).next_back() {
        assert!(q + l.size.max(1) <= p, "{p:#x} overlaps {q:#x}");
    }
    if let Some((&q, _)) = live.range(p..).next() {
        assert!(p + size.max(1) <= q, "{p:#x}+{size} overlaps {q:#x}");
    }
}

/// A size from two input bytes: mostly TINY/SMALL, sometimes LARGE.
fn size_of_input(a: u8, b: u8) -> usize {
    let v = u16::from_le_bytes([a, b]) as usize;
    match a & 3 {
        0 | 1 => v % 600,
        2 => v % 40_000,
        _ => v * 16,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut live: BTreeMap<usize, Live> = BTreeMap::new();
    let mut it = data.chunks_exact(4);
    for op in &mut it {
        let size = size_of_input(op[1], op[2]);
        let pick = op[3] as usize;
        let nth = |live: &BTreeMap<usize, Live>| *live.keys().nth(pick % live.len()).unwrap();
        match op[0] % 8 {
            0 | 1 => {
                let p = alloc::malloc(size);
                assert!(!p.is_null());
                assert_eq!(p as usize % if size >= 16 { 16 } else { 8 }, 0);
                no_overlap(&live, p as usize, size);
                fill(p, size, op[3]);
                live.insert(p as usize, Live { size, seed: op[3] });
            }
            2 => {
                let p = alloc::calloc(1, size);
                assert!(!p.is_null());
                check(p, size, 0);
                no_overlap(&live, p as usize, size);
                fill(p, size, op[3]);
                live.insert(p as usize, Live { size, seed: op[3] });
            }
            3 => {
                let align = 1usize << (3 + op[3] % 14);
                let p = alloc::aligned_alloc(align, size);
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0);
                no_overlap(&live, p as usize, size);
                fill(p, size, op[3]);
                live.insert(p as usize, Live { size, seed: op[3] });
            }
            4 | 5 if !live.is_empty() => {
                let k = nth(&live);
                let l = live.remove(&k).unwrap();
                check(k as *mut u8, l.size, l.seed);
                // SAFETY: k is a live block of ours.
                unsafe { alloc::free(k as *mut u8) };
            }
            6 if !live.is_empty() => {
                let k = nth(&live);
                let l = live.remove(&k).unwrap();
                let new = size.max(1);
                // SAFETY: k is a live block of ours.
                let q = unsafe { alloc::realloc(k as *mut u8, new) };
                assert!(!q.is_null());
                check(q, l.size.min(new), l.seed);
                no_overlap(&live, q as usize, new);
                fill(q, new, op[3]);
                live.insert(q as usize, Live { size: new, seed: op[3] });
            }
            7 => {
                // Misuse that must change nothing: a small block freed twice (it stays on this
                // thread's free list in between), an interior pointer, a foreign pointer.
                let p = alloc::malloc(size % 1000);
                // SAFETY: p is ours; the second free is the misuse under test.
                unsafe {
                    alloc::free(p);
                    alloc::free(p);
                }
                let stack = 0u64;
                let bad = match op[3] % 3 {
                    0 => live.keys().next().map_or(0, |&k| k + 1),
                    1 => &stack as *const u64 as usize,
                    _ => 0x100 + size % 0xF000, // below mmap_min_addr: never mapped
                };
                if bad != 0 && !live.contains_key(&bad) {
                    // SAFETY: `bad` is not a live block: it must be ignored.
                    unsafe { alloc::free(bad as *mut u8) };
                    // SAFETY: as above.
                    assert!(unsafe { alloc::realloc(bad as *mut u8, 10) }.is_null());
                    assert_eq!(alloc::usable_size(bad as *mut u8), 0);
                }
            }
            _ => {}
        }
    }
    for (k, l) in live {
        check(k as *mut u8, l.size, l.seed);
        // SAFETY: k is a live block of ours.
        unsafe { alloc::free(k as *mut u8) };
    }
});
