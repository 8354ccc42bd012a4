/*
 * stress.c - long multi-threaded allocator stress (run with LD_PRELOAD).
 *
 *   stress [--seconds N] [--threads N] [--churn N] [--seed S] [--expect-lib SUBSTR]
 *          [--max-mb N] [--progress N]
 *
 * Thread classes:
 *   worker   --threads (default 6) threads that live for the whole run and do
 *            random malloc / calloc / realloc / posix_memalign / aligned_alloc /
 *            memalign / free on blocks of TINY (0-512), SMALL (513-32768) and
 *            LARGE (32769 bytes - 8 MiB) sizes (60/37/1.5%), with the class
 *            bounds and their neighbours picked often (8%);
 *   churn    short-lived threads, created continuously by a spawner (--churn
 *            of them alive at once, default 2; one in four detached): they do
 *            a random number of the same operations and exit while holding
 *            blocks, most of which they hand to the shared pool first, so
 *            other threads free what a dead thread allocated;
 *   pool     a shared, lock-protected pool (16 shards) through which blocks
 *            pass between threads: most blocks taken from it are freed or
 *            realloc'ed by a thread other than the one that allocated them.
 *
 * Every block carries a pattern derived from its address and a per-block
 * seed, written over all of its bytes; the whole block is verified before
 * each free and realloc (a realloc must also keep the old contents: the
 * common prefix is checked against the old address' pattern), calloc memory
 * must be zero, alignment must hold, and malloc_usable_size must be at least
 * the requested size.  A mismatch prints the block's history and aborts.
 *
 * --seed makes each thread's sequence of operations reproducible (thread
 * scheduling, and so which thread takes which block from the pool, is not).
 * A watchdog aborts when no thread made progress for 60 s (deadlock).
 * At the end: operations per second per thread class.  Exit 0 when all was
 * well; the output goes to stdout, stderr gets only error reports.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Options and global state                                           */

static double opt_seconds = 120;
static int opt_threads = 6;
static int opt_churn = 2;
static uint64_t opt_seed;
static const char *opt_expect;
static size_t opt_max_bytes = (size_t)1024 << 20; /* total live bytes, roughly */
static int opt_progress = 30;

static atomic_int stop_flag;
static atomic_ullong progress; /* bumped by every thread, watched by main */
static atomic_llong live_bytes; /* requested bytes in live blocks (all threads + pool) */
static atomic_uint next_tid = 1;

enum { C_WORKER, C_CHURN, C_MAIN, N_CLASSES };
static const char *class_name[N_CLASSES] = {"worker", "churn", "main"};

enum {
	S_MALLOC,
	S_CALLOC,
	S_MEMALIGN, /* posix_memalign, aligned_alloc, memalign */
	S_REALLOC,
	S_FREE,
	S_GIVE,
	S_TAKE,
	S_XFREE, /* free or realloc of a block another thread allocated */
	S_DEADFREE, /* ... by a thread that had exited by then */
	S_BYTES, /* bytes allocated (malloc/calloc/memalign/realloc new size) */
	N_STATS
};
static const char *stat_name[N_STATS] = {"malloc", "calloc", "memalign", "realloc", "free",
					 "give", "take", "xfree", "deadfree", "bytes"};

struct class_stats {
	atomic_ullong st[N_STATS];
	atomic_ullong threads;
	atomic_ullong thread_ns; /* summed lifetimes */
};
static struct class_stats cstats[N_CLASSES];

/* Whether thread tid has exited (for the deadfree count); tids wrap at this size. */
#define DEAD_BITS (1u << 20)
static atomic_uchar dead[DEAD_BITS];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Random numbers and patterns                                        */

static inline uint64_t mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

struct rng {
	uint64_t s;
};

static inline uint64_t rnd(struct rng *r)
{
	r->s += 0x9E3779B97F4A7C15ull;
	uint64_t x = r->s;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static inline uint64_t rnd_below(struct rng *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

static inline uint64_t rnd_range(struct rng *r, uint64_t lo, uint64_t hi)
{
	return lo + rnd_below(r, hi - lo + 1);
}

/*
 * The pattern of a block at address a with seed s: byte j is byte (j % 8) of
 * the little-endian word  k ^ ((j / 8) * C),  k = mix64(a ^ s).  Defined per
 * byte, so any prefix of a block can be checked (realloc).
 */
#define PAT_C 0xD6E8FEB86659FD93ull

static inline uint64_t pat_key(uintptr_t addr, uint64_t seed)
{
	return mix64((uint64_t)addr ^ seed);
}

static void pat_fill(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t k = pat_key((uintptr_t)p, seed);
	size_t words = n / 8, i;
	for (i = 0; i < words; i++) {
		uint64_t w = k ^ (i * PAT_C);
		memcpy(p + 8 * i, &w, 8);
	}
	if (n % 8) {
		uint64_t w = k ^ (words * PAT_C);
		memcpy(p + 8 * words, &w, n % 8);
	}
}

/* Offset of the first byte of p[0..n) that differs from the pattern of
 * (addr, seed), or -1 when all match. */
static long pat_check(const unsigned char *p, size_t n, uintptr_t addr, uint64_t seed)
{
	uint64_t k = pat_key(addr, seed);
	size_t words = n / 8, i;
	for (i = 0; i < words; i++) {
		uint64_t w = k ^ (i * PAT_C), got;
		memcpy(&got, p + 8 * i, 8);
		if (got != w)
			goto byte_scan;
	}
	if (n % 8) {
		uint64_t w = k ^ (words * PAT_C);
		if (memcmp(p + 8 * words, &w, n % 8) != 0)
			goto byte_scan;
	}
	return -1;
byte_scan:
	for (size_t j = 0; j < n; j++) {
		uint64_t w = k ^ ((j / 8) * PAT_C);
		if (p[j] != (unsigned char)(w >> (8 * (j % 8))))
			return (long)j;
	}
	return -1;
}

static inline unsigned char pat_byte(uintptr_t addr, uint64_t seed, size_t j)
{
	uint64_t w = pat_key(addr, seed) ^ ((j / 8) * PAT_C);
	return (unsigned char)(w >> (8 * (j % 8)));
}

/* ------------------------------------------------------------------ */
/* Blocks                                                             */

enum { O_MALLOC, O_CALLOC, O_POSIX_MEMALIGN, O_ALIGNED_ALLOC, O_MEMALIGN, O_REALLOC, O_REALLOC_NULL };
static const char *origin_name[] = {"malloc",   "calloc",  "posix_memalign", "aligned_alloc",
				    "memalign", "realloc", "realloc(NULL)"};

struct blk {
	unsigned char *p;
	size_t size;
	uint64_t seed;
	uint32_t owner; /* tid of the thread that allocated it (last realloc counts) */
	uint32_t align; /* requested alignment, 0 = default */
	uint8_t origin;
	uint8_t hops; /* times it went through the pool */
};

/* Per-thread context. */
struct ctx {
	uint32_t tid;
	int cls;
	struct rng rng;
	struct blk *loc;
	size_t nloc, cap;
	size_t loc_bytes, max_loc_bytes;
	uint64_t st[N_STATS];
	uint64_t since_progress;
};

static void die_block(const struct ctx *c, const char *what, const struct blk *b, long off,
		      uintptr_t pat_addr, const char *extra)
{
	fprintf(stderr,
		"stress: block %p, %zu bytes, align %u, from %s in thread %u%s, %u pool hops, block seed %#" PRIx64
		"\n",
		(void *)b->p, b->size, b->align, origin_name[b->origin], b->owner,
		atomic_load(&dead[b->owner % DEAD_BITS]) ? " (exited)" : "", b->hops, b->seed);
	if (off >= 0) {
		fprintf(stderr, "  first bad byte at offset %ld (address %p): got %#04x, expected %#04x\n",
			off, (void *)(b->p + off), b->p[off], pat_byte(pat_addr, b->seed, (size_t)off));
		long lo = off - 16 < 0 ? 0 : off - 16;
		long hi = off + 32 > (long)b->size ? (long)b->size : off + 32;
		fprintf(stderr, "  bytes [%ld, %ld):", lo, hi);
		for (long j = lo; j < hi; j++)
			fprintf(stderr, "%s%02x", j == off ? " >" : " ", b->p[j]);
		fprintf(stderr, "\n  expected     :");
		for (long j = lo; j < hi; j++)
			fprintf(stderr, "%s%02x", j == off ? " >" : " ", pat_byte(pat_addr, b->seed, (size_t)j));
		fprintf(stderr, "\n");
	}
	if (extra)
		fprintf(stderr, "  %s\n", extra);
	/* last line: the summary (test drivers show the last line of stderr) */
	fprintf(stderr,
		"stress: FAILURE in %s thread %u: %s (block %p, %zu bytes, from %s%s%s); rerun: stress "
		"--seed %" PRIu64 " --threads %d --churn %d\n",
		class_name[c->cls], c->tid, what, (void *)b->p, b->size, origin_name[b->origin],
		b->owner != c->tid ? " in another thread" : "", b->hops ? " via the pool" : "", opt_seed,
		opt_threads, opt_churn);
	fflush(stderr);
	abort();
}

static void verify(const struct ctx *c, const struct blk *b, const char *when)
{
	long off = pat_check(b->p, b->size, (uintptr_t)b->p, b->seed);
	if (off >= 0) {
		char what[128];
		snprintf(what, sizeof what, "block contents changed (checked before %s)", when);
		die_block(c, what, b, off, (uintptr_t)b->p, NULL);
	}
}

static void check_new(const struct ctx *c, struct blk *b)
{
	if (b->align && ((uintptr_t)b->p & (b->align - 1)))
		die_block(c, "misaligned block", b, -1, (uintptr_t)b->p, NULL);
	if (b->size >= 16 && ((uintptr_t)b->p & 15))
		die_block(c, "block of 16 bytes or more not 16-byte aligned", b, -1, (uintptr_t)b->p, NULL);
	if ((uintptr_t)b->p & 7)
		die_block(c, "block not 8-byte aligned", b, -1, (uintptr_t)b->p, NULL);
	size_t us = malloc_usable_size(b->p);
	if (us < b->size) {
		char extra[96];
		snprintf(extra, sizeof extra, "malloc_usable_size = %zu", us);
		die_block(c, "malloc_usable_size below the requested size", b, -1, (uintptr_t)b->p, extra);
	}
}

/* ------------------------------------------------------------------ */
/* Sizes                                                              */

static const size_t edge_sizes[] = {
	0,     1,     7,     8,     9,     15,     16,     17,     24,      31,      32,
	33,    48,    64,    100,   127,   128,    129,    255,    256,     257,     511,
	512,   513,   639,   640,   641,   1023,   1024,   1025,   4095,    4096,    4097,
	8192,  16383, 16384, 16385, 24576, 32767,  32768,  32769,  65535,   65536,   65537,
	98304, 131072, 262144, 1048575, 1048576, 1048577, 4194304, 4194305,
};
#define N_EDGE (sizeof edge_sizes / sizeof edge_sizes[0])

/* log-uniform in [lo, hi]: as many blocks near lo as near hi in relative terms */
static size_t rnd_log(struct rng *r, size_t lo, size_t hi)
{
	int lb = 63 - __builtin_clzll(lo), hb = 63 - __builtin_clzll(hi);
	int b = lb + (int)rnd_below(r, (uint64_t)(hb - lb + 1));
	size_t a = (size_t)1 << b, z = ((size_t)2 << b) - 1;
	if (a < lo)
		a = lo;
	if (z > hi)
		z = hi;
	return rnd_range(r, a, z);
}

/* TINY about 60%, SMALL 37%, LARGE 1.5% (a few up to 8 MiB), and the class
 * bounds with their neighbours 8% of the time */
static size_t rand_size(struct rng *r)
{
	uint64_t x = rnd_below(r, 10000);
	if (x < 800)
		return edge_sizes[rnd_below(r, N_EDGE)];
	if (x < 6300) /* TINY, mostly small ones */
		return rnd_below(r, 4) ? rnd_range(r, 1, 128) : rnd_range(r, 0, 512);
	if (x < 9850) /* SMALL */
		return rnd_below(r, 2) ? rnd_log(r, 513, 32768) : rnd_range(r, 513, 32768);
	if (x < 9995) /* LARGE */
		return rnd_log(r, 32769, 1 << 20);
	return rnd_range(r, (1 << 20) + 1, 8 << 20);
}

static size_t rand_align(struct rng *r)
{
	uint64_t x = rnd_below(r, 100);
	if (x < 90)
		return (size_t)8 << rnd_below(r, 7); /* 8 .. 512 */
	if (x < 98)
		return (size_t)1024 << rnd_below(r, 3); /* 1 KiB .. 4 KiB */
	return (size_t)8192 << rnd_below(r, 8); /* 8 KiB .. 1 MiB */
}

/* ------------------------------------------------------------------ */
/* The shared pool                                                    */

#define SHARDS 16
#define SHARD_CAP 256

struct shard {
	pthread_mutex_t mu;
	size_t n;
	struct blk b[SHARD_CAP];
} __attribute__((aligned(64)));

static struct shard pool[SHARDS];

/* Puts b in the pool; when the shard is full, the evicted block comes back in
 * *out (return 1), for the caller to free. */
static int pool_give(struct ctx *c, struct blk *b, struct blk *out)
{
	struct shard *s = &pool[rnd_below(&c->rng, SHARDS)];
	int evicted = 0;
	b->hops++;
	pthread_mutex_lock(&s->mu);
	if (s->n < SHARD_CAP) {
		s->b[s->n++] = *b;
	} else {
		size_t i = rnd_below(&c->rng, SHARD_CAP);
		*out = s->b[i];
		s->b[i] = *b;
		evicted = 1;
	}
	pthread_mutex_unlock(&s->mu);
	return evicted;
}

static int pool_take(struct ctx *c, struct blk *out)
{
	struct shard *s = &pool[rnd_below(&c->rng, SHARDS)];
	int got = 0;
	pthread_mutex_lock(&s->mu);
	if (s->n) {
		size_t i = rnd_below(&c->rng, s->n);
		*out = s->b[i];
		s->b[i] = s->b[--s->n];
		got = 1;
	}
	pthread_mutex_unlock(&s->mu);
	return got;
}

/* ------------------------------------------------------------------ */
/* Operations                                                         */

static void count_foreign(struct ctx *c, const struct blk *b)
{
	if (b->owner != c->tid) {
		c->st[S_XFREE]++;
		if (atomic_load_explicit(&dead[b->owner % DEAD_BITS], memory_order_relaxed))
			c->st[S_DEADFREE]++;
	}
}

static void blk_free(struct ctx *c, struct blk *b)
{
	verify(c, b, "free");
	count_foreign(c, b);
	free(b->p);
	atomic_fetch_sub_explicit(&live_bytes, (long long)b->size, memory_order_relaxed);
	c->st[S_FREE]++;
}

/* Allocates a new block into *b; returns 0 on (reported) failure. */
static int blk_alloc(struct ctx *c, struct blk *b)
{
	size_t n = rand_size(&c->rng);
	uint64_t kind = rnd_below(&c->rng, 100);
	void *p = NULL;
	int rc = 0;

	memset(b, 0, sizeof *b);
	b->size = n;
	b->seed = rnd(&c->rng);
	b->owner = c->tid;
	errno = 0;
	if (kind < 55) {
		b->origin = O_MALLOC;
		p = malloc(n);
		c->st[S_MALLOC]++;
	} else if (kind < 75) {
		b->origin = O_CALLOC;
		/* nmemb * size, both parts random */
		size_t sz = 1 + rnd_below(&c->rng, 16);
		size_t nm = (n + sz - 1) / sz;
		b->size = nm * sz;
		p = calloc(nm, sz);
		c->st[S_CALLOC]++;
	} else if (kind < 90) {
		b->origin = O_POSIX_MEMALIGN;
		b->align = (uint32_t)rand_align(&c->rng);
		rc = posix_memalign(&p, b->align, n);
		if (rc)
			p = NULL;
		c->st[S_MEMALIGN]++;
	} else if (kind < 94) {
		b->origin = O_ALIGNED_ALLOC;
		b->align = (uint32_t)rand_align(&c->rng);
		p = aligned_alloc(b->align, n);
		c->st[S_MEMALIGN]++;
	} else if (kind < 97) {
		b->origin = O_MEMALIGN;
		b->align = (uint32_t)rand_align(&c->rng);
		p = memalign(b->align, n);
		c->st[S_MEMALIGN]++;
	} else {
		b->origin = O_REALLOC_NULL;
		p = realloc(NULL, n);
		c->st[S_REALLOC]++;
	}
	if (!p) {
		fprintf(stderr, "stress: %s thread %u: %s of %zu bytes (align %u) failed: %s (rc %d)\n",
			class_name[c->cls], c->tid, origin_name[b->origin], b->size, b->align,
			strerror(errno), rc);
		fflush(stderr);
		abort();
	}
	b->p = p;
	check_new(c, b);
	if (b->origin == O_CALLOC) {
		for (size_t j = 0; j < b->size; j++)
			if (b->p[j]) {
				char extra[64];
				snprintf(extra, sizeof extra, "byte %zu is %#04x", j, b->p[j]);
				die_block(c, "calloc memory not zero", b, -1, (uintptr_t)b->p, extra);
			}
	}
	pat_fill(b->p, b->size, b->seed);
	atomic_fetch_add_explicit(&live_bytes, (long long)b->size, memory_order_relaxed);
	c->st[S_BYTES] += b->size;
	return 1;
}

/* Reallocs *b to a random size (sometimes 0); returns 0 when the block is gone. */
static int blk_realloc(struct ctx *c, struct blk *b)
{
	size_t n;
	uint64_t x = rnd_below(&c->rng, 100);
	if (x < 2)
		n = 0;
	else if (x < 40) /* grow or shrink a little: in-place paths */
		n = b->size + rnd_below(&c->rng, 64) - (b->size < 32 ? b->size : 32);
	else
		n = rand_size(&c->rng);

	verify(c, b, "realloc");
	count_foreign(c, b);
	struct blk old = *b;
	uintptr_t old_addr = (uintptr_t)old.p;
	void *p = realloc(b->p, n);
	c->st[S_REALLOC]++;
	if (!p) {
		if (n == 0) { /* glibc's (and ft_malloc's) realloc(p, 0): freed */
			atomic_fetch_sub_explicit(&live_bytes, (long long)old.size, memory_order_relaxed);
			return 0;
		}
		fprintf(stderr, "stress: %s thread %u: realloc(%#" PRIxPTR ", %zu) failed: %s\n",
			class_name[c->cls], c->tid, old_addr, n, strerror(errno));
		fflush(stderr);
		abort();
	}
	b->p = p;
	b->size = n;
	b->align = 0; /* realloc keeps only the default alignment */
	b->origin = O_REALLOC;
	b->owner = c->tid;
	check_new(c, b);
	size_t keep = old.size < n ? old.size : n;
	long off = pat_check(b->p, keep, old_addr, old.seed);
	if (off >= 0) {
		char extra[160];
		snprintf(extra, sizeof extra,
			 "realloc(%#" PRIxPTR " [%zu bytes, %s], %zu) = %p lost the old contents", old_addr,
			 old.size, origin_name[old.origin], n, p);
		struct blk shown = *b;
		shown.seed = old.seed;
		die_block(c, "realloc did not keep the contents", &shown, off, old_addr, extra);
	}
	b->seed = rnd(&c->rng);
	pat_fill(b->p, b->size, b->seed);
	atomic_fetch_add_explicit(&live_bytes, (long long)n - (long long)old.size, memory_order_relaxed);
	c->st[S_BYTES] += n;
	return 1;
}

static void loc_remove(struct ctx *c, size_t i)
{
	c->loc_bytes -= c->loc[i].size;
	c->loc[i] = c->loc[--c->nloc];
}

static void loc_add(struct ctx *c, const struct blk *b)
{
	if (c->nloc == c->cap) { /* full: free a random one first */
		size_t i = rnd_below(&c->rng, c->nloc);
		blk_free(c, &c->loc[i]);
		loc_remove(c, i);
	}
	c->loc[c->nloc++] = *b;
	c->loc_bytes += b->size;
}

static void give(struct ctx *c, struct blk *b)
{
	struct blk ev;
	c->st[S_GIVE]++;
	if (pool_give(c, b, &ev))
		blk_free(c, &ev);
}

static void tick(struct ctx *c)
{
	if (++c->since_progress >= 256) {
		atomic_fetch_add_explicit(&progress, c->since_progress, memory_order_relaxed);
		c->since_progress = 0;
	}
}

/* One random operation. */
static void step(struct ctx *c)
{
	uint64_t x = rnd_below(&c->rng, 1000);
	int over = c->loc_bytes > c->max_loc_bytes ||
		   atomic_load_explicit(&live_bytes, memory_order_relaxed) > (long long)opt_max_bytes;

	if (c->nloc == 0 || (!over && x < 380)) {
		struct blk b;
		if (blk_alloc(c, &b))
			loc_add(c, &b);
	} else if (x < 640 || over) {
		size_t i = rnd_below(&c->rng, c->nloc);
		blk_free(c, &c->loc[i]);
		loc_remove(c, i);
	} else if (x < 800) {
		size_t i = rnd_below(&c->rng, c->nloc);
		struct blk b = c->loc[i];
		loc_remove(c, i);
		if (blk_realloc(c, &b))
			loc_add(c, &b);
	} else if (x < 900) {
		size_t i = rnd_below(&c->rng, c->nloc);
		struct blk b = c->loc[i];
		loc_remove(c, i);
		give(c, &b);
	} else {
		struct blk b;
		if (!pool_take(c, &b))
			return;
		c->st[S_TAKE]++;
		uint64_t y = rnd_below(&c->rng, 100);
		if (y < 55) {
			blk_free(c, &b);
		} else if (y < 80) {
			if (blk_realloc(c, &b))
				loc_add(c, &b);
		} else {
			verify(c, &b, "adoption");
			loc_add(c, &b); /* freed later by this thread */
		}
	}
	tick(c);
}

static void ctx_init(struct ctx *c, int cls, size_t cap, size_t max_bytes)
{
	memset(c, 0, sizeof *c);
	c->tid = atomic_fetch_add(&next_tid, 1);
	c->cls = cls;
	c->rng.s = mix64(opt_seed * 0x100000001B3ull + c->tid);
	c->cap = cap;
	c->max_loc_bytes = max_bytes;
	c->loc = malloc(cap * sizeof *c->loc);
	if (!c->loc) {
		perror("stress: malloc");
		abort();
	}
}

static void ctx_done(struct ctx *c, uint64_t t0)
{
	struct class_stats *cs = &cstats[c->cls];
	for (int i = 0; i < N_STATS; i++)
		atomic_fetch_add(&cs->st[i], c->st[i]);
	atomic_fetch_add(&cs->threads, 1);
	atomic_fetch_add(&cs->thread_ns, now_ns() - t0);
	atomic_fetch_add(&progress, c->since_progress);
	free(c->loc);
	atomic_store(&dead[c->tid % DEAD_BITS], 1);
}

/* ------------------------------------------------------------------ */
/* Threads                                                            */

static void *worker(void *arg)
{
	(void)arg;
	uint64_t t0 = now_ns();
	struct ctx c;
	ctx_init(&c, C_WORKER, 1024, 48u << 20);
	while (!atomic_load_explicit(&stop_flag, memory_order_relaxed))
		for (int k = 0; k < 64; k++)
			step(&c);
	/* leave: free half, hand the rest to the pool (freed by main at the end) */
	while (c.nloc) {
		size_t i = c.nloc - 1;
		struct blk b = c.loc[i];
		loc_remove(&c, i);
		if (rnd_below(&c.rng, 2))
			blk_free(&c, &b);
		else
			give(&c, &b);
	}
	ctx_done(&c, t0);
	return NULL;
}

static atomic_int detached_alive;

static void *churn(void *arg)
{
	uint64_t t0 = now_ns();
	int detached = (int)(intptr_t)arg;
	struct ctx c;
	ctx_init(&c, C_CHURN, 256, 16u << 20);
	uint64_t kind = rnd_below(&c.rng, 10);
	uint64_t ops = rnd_range(&c.rng, 10, kind < 6 ? 300 : kind < 9 ? 3000 : 30000);
	for (uint64_t i = 0; i < ops && !atomic_load_explicit(&stop_flag, memory_order_relaxed); i++)
		step(&c);
	/* exit holding blocks: most go to the pool for others to free; a few are
	 * realloc'ed or freed here */
	while (c.nloc) {
		size_t i = c.nloc - 1;
		struct blk b = c.loc[i];
		loc_remove(&c, i);
		uint64_t y = rnd_below(&c.rng, 100);
		if (y < 80)
			give(&c, &b);
		else
			blk_free(&c, &b);
	}
	ctx_done(&c, t0);
	if (detached)
		atomic_fetch_sub(&detached_alive, 1);
	return NULL;
}

static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg, int detach)
{
	pthread_attr_t at;
	pthread_attr_init(&at);
	/* small stacks: thread creation itself maps and unmaps memory */
	pthread_attr_setstacksize(&at, 256 << 10);
	if (detach)
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	int rc;
	while ((rc = pthread_create(t, &at, fn, arg)) == EAGAIN)
		usleep(1000);
	if (rc) {
		fprintf(stderr, "stress: pthread_create: %s\n", strerror(rc));
		abort();
	}
	pthread_attr_destroy(&at);
}

static atomic_ullong churn_created;

static void *spawner(void *arg)
{
	(void)arg;
	struct rng r = {mix64(opt_seed ^ 0x5350415745ull)};
	pthread_t *slot = calloc((size_t)opt_churn, sizeof *slot);
	int *used = calloc((size_t)opt_churn, sizeof *used);
	if (!slot || !used)
		abort();
	for (int i = 0; !atomic_load_explicit(&stop_flag, memory_order_relaxed); i = (i + 1) % opt_churn) {
		if (used[i]) {
			pthread_join(slot[i], NULL);
			used[i] = 0;
		}
		if (rnd_below(&r, 4) == 0) {
			/* detached: nobody joins it; at most --churn of them alive */
			while (atomic_load(&detached_alive) >= opt_churn &&
			       !atomic_load_explicit(&stop_flag, memory_order_relaxed))
				usleep(200);
			atomic_fetch_add(&detached_alive, 1);
			pthread_t t;
			start_thread(&t, churn, (void *)1, 1);
		} else {
			start_thread(&slot[i], churn, (void *)0, 0);
			used[i] = 1;
		}
		atomic_fetch_add(&churn_created, 1);
	}
	for (int i = 0; i < opt_churn; i++)
		if (used[i])
			pthread_join(slot[i], NULL);
	while (atomic_load(&detached_alive) > 0)
		usleep(1000);
	free(slot);
	free(used);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Main                                                               */

static void usage(void)
{
	fprintf(stderr, "usage: stress [--seconds N] [--threads N] [--churn N] [--seed S]"
			" [--expect-lib SUBSTR] [--max-mb N] [--progress SECONDS]\n");
	exit(2);
}

static int maps_contain(const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4096];
	int found = 0;
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	int have_seed = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--seconds") && v)
			opt_seconds = atof(v), i++;
		else if (!strcmp(a, "--threads") && v)
			opt_threads = atoi(v), i++;
		else if (!strcmp(a, "--churn") && v)
			opt_churn = atoi(v), i++;
		else if (!strcmp(a, "--seed") && v)
			opt_seed = strtoull(v, NULL, 0), have_seed = 1, i++;
		else if (!strcmp(a, "--expect-lib") && v)
			opt_expect = v, i++;
		else if (!strcmp(a, "--max-mb") && v)
			opt_max_bytes = (size_t)atol(v) << 20, i++;
		else if (!strcmp(a, "--progress") && v)
			opt_progress = atoi(v), i++;
		else
			usage();
	}
	if (opt_threads < 1 || opt_churn < 0 || opt_seconds <= 0)
		usage();
	if (!have_seed)
		opt_seed = mix64(now_ns() ^ ((uint64_t)getpid() << 32)) % 1000000000ull;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (opt_expect && !maps_contain(opt_expect)) {
		fprintf(stderr, "stress: '%s' is not mapped in this process (LD_PRELOAD not effective?)\n",
			opt_expect);
		return 2;
	}
	for (int i = 0; i < SHARDS; i++)
		pthread_mutex_init(&pool[i].mu, NULL);

	printf("stress: seed %" PRIu64 ", %d worker threads, %d churn threads at once, %.0f s, "
	       "live data <= %zu MiB\n",
	       opt_seed, opt_threads, opt_churn, opt_seconds, opt_max_bytes >> 20);

	uint64_t t0 = now_ns();
	pthread_t *w = calloc((size_t)opt_threads, sizeof *w), sp;
	for (int i = 0; i < opt_threads; i++)
		start_thread(&w[i], worker, NULL, 0);
	if (opt_churn)
		start_thread(&sp, spawner, NULL, 0);

	uint64_t last = 0, last_change = now_ns(), next_report = (uint64_t)opt_progress * 1000000000ull;
	while (now_ns() - t0 < (uint64_t)(opt_seconds * 1e9)) {
		usleep(100000);
		uint64_t p = atomic_load(&progress), t = now_ns();
		if (p != last) {
			last = p;
			last_change = t;
		} else if (t - last_change > 60000000000ull) {
			fprintf(stderr, "stress: no progress for 60 s (deadlock?) (seed %" PRIu64 ")\n",
				opt_seed);
			fflush(stderr);
			abort();
		}
		if (opt_progress > 0 && t - t0 >= next_report) {
			printf("stress: %3.0f s: %" PRIu64 "k operations, %llu churn threads, %lld MiB live\n",
			       (t - t0) / 1e9, p / 1000, (unsigned long long)atomic_load(&churn_created),
			       (long long)atomic_load(&live_bytes) >> 20);
			next_report += (uint64_t)opt_progress * 1000000000ull;
		}
	}
	atomic_store(&stop_flag, 1);
	uint64_t t_stop = now_ns();
	for (int i = 0; i < opt_threads; i++)
		pthread_join(w[i], NULL);
	if (opt_churn)
		pthread_join(sp, NULL);
	free(w);
	double elapsed = (now_ns() - t0) / 1e9;
	if (now_ns() - t_stop > 30000000000ull)
		printf("stress: warning: threads took %.1f s to stop\n", (now_ns() - t_stop) / 1e9);

	/* main drains the pool: every block in it was allocated by another thread */
	struct ctx m;
	ctx_init(&m, C_MAIN, 1, 0);
	uint64_t m0 = now_ns();
	size_t drained = 0;
	for (int i = 0; i < SHARDS; i++) {
		while (pool[i].n) {
			struct blk b = pool[i].b[--pool[i].n];
			blk_free(&m, &b);
			drained++;
		}
	}
	ctx_done(&m, m0);
	long long left = atomic_load(&live_bytes);

	printf("stress: %.1f s, seed %" PRIu64 "; %llu churn threads created; main freed %zu pool "
	       "blocks at the end\n",
	       elapsed, opt_seed, (unsigned long long)atomic_load(&churn_created), drained);
	printf("  %-7s %7s %12s %10s %14s %12s %10s %10s %8s\n", "class", "threads", "ops", "ops/s",
	       "ops/s/thread", "xthr-frees", "dead-own", "realloc", "MiB/s");
	for (int k = 0; k < N_CLASSES; k++) {
		struct class_stats *cs = &cstats[k];
		unsigned long long ops = 0;
		for (int i = 0; i <= S_TAKE; i++)
			ops += atomic_load(&cs->st[i]);
		unsigned long long th = atomic_load(&cs->threads);
		double life = atomic_load(&cs->thread_ns) / 1e9;
		double wall = k == C_MAIN ? life : elapsed;
		printf("  %-7s %7llu %12llu %10.0f %14.0f %12llu %10llu %10llu %8.0f\n", class_name[k], th,
		       ops, wall > 0 ? ops / wall : 0, life > 0 ? ops / life : 0,
		       (unsigned long long)atomic_load(&cs->st[S_XFREE]),
		       (unsigned long long)atomic_load(&cs->st[S_DEADFREE]),
		       (unsigned long long)atomic_load(&cs->st[S_REALLOC]),
		       wall > 0 ? atomic_load(&cs->st[S_BYTES]) / wall / 1048576.0 : 0);
	}
	printf("  (ops/s/thread: operations per second of thread lifetime; xthr-frees: frees and "
	       "reallocs of blocks another thread allocated; dead-own: ... whose allocating thread "
	       "had exited)\n");
	(void)stat_name;
	if (left != 0) {
		fprintf(stderr, "stress: internal error: %lld live bytes unaccounted for\n", left);
		return 1;
	}
	printf("stress: OK\n");
	return 0;
}
