//! ft_malloc as the global allocator of a Rust program, and a look at its heap.
//!
//! Run with `cargo run --release --example heap_view`.

use std::collections::BTreeMap;

#[global_allocator]
static GLOBAL: ft_malloc::FtMalloc = ft_malloc::FtMalloc;

fn main() {
    let mut words: BTreeMap<String, usize> = BTreeMap::new();
    for (i, w) in "the quick brown fox jumps over the lazy dog"
        .split(' ')
        .enumerate()
    {
        *words.entry(w.to_string()).or_default() += i;
    }
    let big = vec![7u8; 100_000]; // a LARGE block: a mapping of its own
    let s = ft_malloc::stats();
    println!(
        "{} words; {} live blocks, {} bytes requested, {} bytes mapped",
        words.len(),
        s.live_blocks,
        s.live_requested,
        s.mapped
    );
    ft_malloc::show_alloc_mem();
    drop(big);
}
