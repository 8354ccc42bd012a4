//! Rust workloads timed under one global allocator, chosen at build time by exactly one of the
//! features `alloc-ft`, `alloc-system`, `alloc-mimalloc`, `alloc-jemalloc` (see run.sh).
//!
//! Usage: `rbench [--list] [WORKLOAD...]` (no names: every workload, in order).
//! Prints `name seconds` per workload on stdout, then metadata lines starting with `#`:
//! `# check name value` (a checksum that must agree across allocators) and
//! `# rss name KiB` (the process's peak resident set, VmHWM, after that workload).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::hint::black_box;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

#[cfg(feature = "alloc-ft")]
#[global_allocator]
static GLOBAL: ft_malloc::FtMalloc = ft_malloc::FtMalloc;

#[cfg(feature = "alloc-system")]
#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

#[cfg(feature = "alloc-mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "alloc-jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const SELECTED: usize = cfg!(feature = "alloc-ft") as usize
    + cfg!(feature = "alloc-system") as usize
    + cfg!(feature = "alloc-mimalloc") as usize
    + cfg!(feature = "alloc-jemalloc") as usize;
const _: () = assert!(
    SELECTED == 1,
    "enable exactly one of the features alloc-ft, alloc-system, alloc-mimalloc, alloc-jemalloc"
);

const ALLOCATOR: &str = if cfg!(feature = "alloc-ft") {
    "ft_malloc"
} else if cfg!(feature = "alloc-system") {
    "system"
} else if cfg!(feature = "alloc-mimalloc") {
    "mimalloc"
} else {
    "jemalloc"
};

/// xorshift64*: deterministic, so every allocator sees the same request stream.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in 0..n.
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
}

/// A cheap multiplicative hasher, so the HashMap workload measures the allocator, not SipHash.
#[derive(Default)]
struct MulHasher(u64);

impl Hasher for MulHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x517C_C1B7_2722_0A95);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517C_C1B7_2722_0A95);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<MulHasher>>;

// ---------------------------------------------------------------------------------------------
// Workloads. Each returns a checksum that depends only on the request stream.

/// Vectors of u64 grown one push at a time to 1M elements, 4 growing side by side (so a block
/// cannot always grow in place), 6 times over: big reallocs.
fn vec_growth() -> u64 {
    let mut sum = 0u64;
    for r in 0..6u64 {
        let mut vs: Vec<Vec<u64>> = (0..4).map(|_| Vec::new()).collect();
        for i in 0..1_000_000u64 {
            for v in vs.iter_mut() {
                v.push(i ^ r);
            }
        }
        black_box(&mut vs);
        for v in &vs {
            sum = sum.wrapping_add(v.len() as u64).wrapping_add(v[v.len() / 3]);
        }
    }
    sum
}

/// Many short vectors of u64 (1 to 256 elements, pushed one at a time) stored into a ring of
/// 4096 live ones: small reallocs and frees in random order.
fn vec_small() -> u64 {
    let mut rng = Rng::new(1);
    let mut live: Vec<Vec<u64>> = (0..4096).map(|_| Vec::new()).collect();
    let mut sum = 0u64;
    for _ in 0..400_000 {
        let n = 1 + rng.below(256);
        let mut v = Vec::new();
        for j in 0..n {
            v.push(j);
        }
        let v = black_box(v);
        sum = sum.wrapping_add(v.len() as u64);
        let slot = rng.below(live.len() as u64) as usize;
        live[slot] = v;
    }
    sum
}

const WORDS: [&str; 16] = [
    "a", "the", "alloc", ", ", "ft_malloc", "\n", "0123456789", "zone", "=", "free(p); ", "x",
    "segment", "  ", "heap ", "mmap(2)", "lorem ipsum dolor",
];

/// Strings built from small pieces with push_str (8 to 1000 bytes each), kept in a ring of 8192.
fn string_build() -> u64 {
    let mut rng = Rng::new(2);
    let mut ring: Vec<String> = vec![String::new(); 8192];
    let mut sum = 0u64;
    for i in 0..400_000usize {
        let target = 8 + rng.below(1000) as usize;
        let mut s = String::new();
        while s.len() < target {
            s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        }
        let s = black_box(s);
        sum = sum.wrapping_add(s.len() as u64 + s.as_bytes()[s.len() / 2] as u64);
        ring[i % 8192] = s;
    }
    sum
}

/// BTreeMap<u64, u64> of 100k random keys; each step inserts a new key and removes the oldest
/// (a lagged copy of the key stream), so nodes split and merge at a steady size.
fn btree_churn() -> u64 {
    let mut ins = Rng::new(3);
    let mut del = ins.clone();
    let mut map = BTreeMap::new();
    for i in 0..100_000u64 {
        map.insert(ins.next(), i);
    }
    let mut sum = 0u64;
    for i in 0..1_500_000u64 {
        map.insert(ins.next(), i);
        if let Some(v) = map.remove(&del.next()) {
            sum = sum.wrapping_add(v);
        }
    }
    sum.wrapping_add(map.len() as u64)
}

/// HashMaps built from empty (table growth) to 50k entries with heap values (Vec<u8> of 8 to
/// 128 bytes), churned by 200k insert + remove-oldest steps, then dropped; 8 times.
fn hashmap_churn() -> u64 {
    let mut sum = 0u64;
    for round in 0..8u64 {
        let mut ins = Rng::new(100 + round);
        let mut del = ins.clone();
        let mut sizes = Rng::new(200 + round);
        let mut map: FastMap<u64, Vec<u8>> = FastMap::default();
        for _ in 0..50_000 {
            let k = ins.next();
            map.insert(k, vec![k as u8; 8 + sizes.below(121) as usize]);
        }
        for _ in 0..200_000 {
            let k = ins.next();
            map.insert(k, vec![k as u8; 8 + sizes.below(121) as usize]);
            if let Some(v) = map.remove(&del.next()) {
                sum = sum.wrapping_add(v.len() as u64 + v[0] as u64);
            }
        }
        sum = sum.wrapping_add(map.len() as u64);
        drop(black_box(map));
    }
    sum
}

struct Node {
    left: Option<Box<Node>>,
    right: Option<Box<Node>>,
}

fn make_tree(depth: u32) -> Box<Node> {
    if depth == 0 {
        Box::new(Node { left: None, right: None })
    } else {
        Box::new(Node { left: Some(make_tree(depth - 1)), right: Some(make_tree(depth - 1)) })
    }
}

fn check_tree(node: &Node) -> u64 {
    1 + node.left.as_deref().map_or(0, check_tree) + node.right.as_deref().map_or(0, check_tree)
}

/// The benchmarks game's binary-trees: a stretch tree, one long-lived tree, and many
/// short-lived trees of each even depth from 4 to max_depth (16-byte Box nodes).
fn binary_trees_of(max_depth: u32) -> u64 {
    let mut sum = check_tree(&make_tree(max_depth + 1));
    let long_lived = make_tree(max_depth);
    for depth in (4..=max_depth).step_by(2) {
        let iterations = 1u64 << (max_depth - depth + 4);
        for _ in 0..iterations {
            let tree = black_box(make_tree(depth));
            sum += check_tree(&tree);
        }
    }
    sum + check_tree(&long_lived)
}

fn binary_trees() -> u64 {
    binary_trees_of(17)
}

/// binary_trees on 4 threads at once, each one depth smaller (half the work each).
fn binary_trees_mt() -> u64 {
    let handles: Vec<_> = (0..4).map(|_| thread::spawn(|| binary_trees_of(16))).collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

/// Cross-thread frees: 2 threads build trees (depth 10, 2047 nodes) and hand them over bounded
/// channels to 2 other threads, which walk and drop them.
fn tree_handoff_mt() -> u64 {
    let mut producers = Vec::new();
    let mut consumers = Vec::new();
    for _ in 0..2 {
        let (tx, rx) = mpsc::sync_channel::<Box<Node>>(64);
        producers.push(thread::spawn(move || {
            for _ in 0..2500 {
                tx.send(make_tree(10)).unwrap();
            }
        }));
        consumers.push(thread::spawn(move || rx.iter().map(|t| check_tree(&t)).sum::<u64>()));
    }
    for p in producers {
        p.join().unwrap();
    }
    consumers.into_iter().map(|c| c.join().unwrap()).sum()
}

/// A workload: its name and the function that runs it (returning its checksum).
type Workload = (&'static str, fn() -> u64);

const WORKLOADS: &[Workload] = &[
    ("vec_growth", vec_growth),
    ("vec_small", vec_small),
    ("string_build", string_build),
    ("btree_churn", btree_churn),
    ("hashmap_churn", hashmap_churn),
    ("binary_trees", binary_trees),
    ("binary_trees_mt", binary_trees_mt),
    ("tree_handoff_mt", tree_handoff_mt),
];

/// The peak resident set so far (VmHWM), in KiB; 0 if unknown.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in WORKLOADS {
            println!("{name}");
        }
        return;
    }
    if let Some(bad) = args.iter().find(|a| !WORKLOADS.iter().any(|(n, _)| n == a)) {
        eprintln!("rbench: unknown workload {bad:?} (try --list)");
        std::process::exit(2);
    }
    println!("# allocator {ALLOCATOR}");
    for (name, run) in WORKLOADS {
        if !args.is_empty() && !args.iter().any(|a| a == name) {
            continue;
        }
        let start = Instant::now();
        let check = black_box(run());
        let secs = start.elapsed().as_secs_f64();
        println!("{name} {secs:.6}");
        println!("# check {name} {check}");
        println!("# rss {name} {}", peak_rss_kib());
    }
}
