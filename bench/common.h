/* Shared helpers for the ft_malloc benchmark workloads (the bench/ C files).
 * Every workload is deterministic: a fixed-seed PRNG drives sizes and
 * choices, and stdout carries only a checksum line (identical under every
 * allocator) plus, optionally, one "throughput:" line that run.sh strips
 * before comparing outputs. Blocks are stamped on allocation and checked
 * before they are freed, so an allocator that hands out overlapping or
 * corrupted memory makes the workload fail (exit 2) instead of silently
 * producing numbers. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { uint64_t s; } rng_t;

static inline void rng_seed(rng_t *r, uint64_t seed) {
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    if (r->s == 0) r->s = 1;
}
/* xorshift64* */
static inline uint64_t rng_next(rng_t *r) {
    uint64_t x = r->s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}
/* uniform in [0, n) */
static inline uint64_t rng_below(rng_t *r, uint64_t n) {
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}
static inline uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi) {
    return lo + rng_below(r, hi - lo + 1);
}

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline long arg_long(int argc, char **argv, int i, long def) {
    return argc > i ? strtol(argv[i], NULL, 0) : def;
}

static void die(const char *what) {
    fprintf(stderr, "FAIL: %s\n", what);
    fflush(stderr);
    exit(2);
}

static inline void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) die("malloc returned NULL");
    return p;
}

/* Stamp the first and last word of a block (blocks are >= 8 bytes). */
static inline uint64_t stamp_of(void *p, size_t n) {
    return ((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull) ^ n;
}
static inline void stamp(void *p, size_t n) {
    uint64_t v = stamp_of(p, n);
    memcpy(p, &v, 8);
    if (n >= 16) memcpy((char *)p + n - 8, &v, 8);
}
static inline void check(void *p, size_t n) {
    uint64_t v = stamp_of(p, n), a, b = v;
    memcpy(&a, p, 8);
    if (n >= 16) memcpy(&b, (char *)p + n - 8, 8);
    if (a != v || b != v) die("block contents changed while it was live (overlap/corruption)");
}

#endif
