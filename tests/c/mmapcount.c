/*
 * mmapcount.c - workloads for mmapcount.sh, which counts the mmap/munmap
 * system calls made between the "START" and "END" markers this program
 * writes to stdout (strace -f).
 *
 *  mixed        10,000 live TINY/SMALL blocks of mixed sizes (16..4000)
 *  loop_SIZE    10,000 x { malloc(SIZE); touch; free } for one size
 *  medium       2,048 live LARGE blocks of 32..128 KiB (random sizes), then
 *               50,000 of them freed and replaced at random
 *  shrink       20,000 x { malloc(16..100000), written whole; realloc to half
 *               the size; free } (each shrunk block is the only one of its
 *               zone; counted with madvise)
 *  classes      one block at a time of every class (16 B..32 KiB) for 400 ms,
 *               a dozen purge delays (counted with madvise)
 *  regrow       200 blocks, each grown by realloc from 60,000 to 200,000 bytes
 *               and shrunk back, in turn, 50,000 times: each shrink leaves a
 *               free range behind its block, which the next growth takes back
 *               (more than the cache's 64 ranges once unmapped them, and the
 *               growth mapped afresh: 34,000 calls for 100,000 reallocs)
 *  retained     4,000 LARGE blocks of 32..100 KiB allocated one after the
 *               other and all kept (no freed memory to reuse), counted up to
 *               the last one (mimalloc-bench's mstress keeps such blocks: one
 *               mapping each made it map 1,986 times)
 *
 * The library is warmed up (one malloc/free) before START so its one-time
 * initialisation is not counted.
 */
#include "t.h"

static void mark(const char *s) { t_puts(1, s); }

static void *blocks[10000];

static void mixed(void)
{
	uint64_t rs = 42;
	free(malloc(16));
	mark("START\n");
	for (int i = 0; i < 10000; i++) {
		size_t n = t_range(&rs, 16, 4000);
		blocks[i] = malloc(n);
		CHECK(blocks[i] != NULL, "malloc(%zu) failed", n);
		memset(blocks[i], 1, n);
	}
	mark("END\n");
	for (int i = 0; i < 10000; i++)
		free(blocks[i]);
}

static void loop(size_t n)
{
	free(malloc(16));
	mark("START\n");
	for (int i = 0; i < 10000; i++) {
		char *p = malloc(n);
		CHECK(p != NULL, "malloc(%zu) failed", n);
		p[0] = p[n - 1] = (char)i;
		free(p);
	}
	mark("END\n");
}

static void *medium_blocks[2048];

static void medium(void)
{
	uint64_t rs = 7;
	for (int i = 0; i < 2048; i++) {
		size_t n = t_range(&rs, 32769, 131072);
		medium_blocks[i] = malloc(n);
		CHECK(medium_blocks[i] != NULL, "malloc(%zu) failed", n);
		((char *)medium_blocks[i])[0] = ((char *)medium_blocks[i])[n - 1] = 1;
	}
	mark("START\n");
	for (int k = 0; k < 50000; k++) {
		int i = (int)t_range(&rs, 0, 2047);
		free(medium_blocks[i]);
		size_t n = t_range(&rs, 32769, 131072);
		medium_blocks[i] = malloc(n);
		CHECK(medium_blocks[i] != NULL, "malloc(%zu) failed", n);
		((char *)medium_blocks[i])[0] = ((char *)medium_blocks[i])[n - 1] = 1;
	}
	mark("END\n");
	for (int i = 0; i < 2048; i++)
		free(medium_blocks[i]);
}

static void shrink(void)
{
	uint64_t rs = 11;
	free(malloc(16));
	mark("START\n");
	for (int i = 0; i < 20000; i++) {
		size_t n = t_range(&rs, 16, 100000);
		char *p = malloc(n);
		CHECK(p != NULL, "malloc(%zu) failed", n);
		memset(p, i, n);
		char *q = realloc(p, n / 2 + 1);
		CHECK(q != NULL && q[n / 4] == (char)i, "realloc(%zu -> %zu) failed", n, n / 2 + 1);
		free(q);
	}
	mark("END\n");
}

/* One block at a time of every class, 16 B..32 KiB, for 400 ms: a dozen purge delays, at each
 * of which every class's zone is empty. */
static void classes(void)
{
	struct timespec t0, t;
	free(malloc(16));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	mark("START\n");
	for (long i = 0;; i++) {
		size_t n = 16 + (size_t)(i * 7919) % 32753;
		char *p = malloc(n);
		CHECK(p != NULL, "malloc(%zu) failed", n);
		p[0] = p[n - 1] = (char)i;
		free(p);
		if (i % 1024 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= 400)
				break;
		}
	}
	mark("END\n");
}

#define REGROW_BLOCKS 200
static unsigned char *regrow_blocks[REGROW_BLOCKS];

static void regrow(void)
{
	const size_t lo = 60000, hi = 200000;
	for (int i = 0; i < REGROW_BLOCKS; i++) {
		regrow_blocks[i] = malloc(lo);
		CHECK(regrow_blocks[i] != NULL, "malloc(%zu) failed", lo);
		memset(regrow_blocks[i], i, lo);
	}
	mark("START\n");
	for (int r = 0; r < 50000; r++) {
		int i = r % REGROW_BLOCKS;
		size_t to = (r / REGROW_BLOCKS) % 2 ? lo : hi;
		regrow_blocks[i] = realloc(regrow_blocks[i], to);
		CHECK(regrow_blocks[i] != NULL, "realloc(%zu) failed", to);
		CHECK(regrow_blocks[i][0] == (unsigned char)i && regrow_blocks[i][lo - 1] == (unsigned char)i,
		      "block %d lost its contents", i);
		regrow_blocks[i][to - 1] = (unsigned char)i;
	}
	mark("END\n");
	for (int i = 0; i < REGROW_BLOCKS; i++)
		free(regrow_blocks[i]);
}

#define RETAINED_BLOCKS 4000
static void *retained_blocks[RETAINED_BLOCKS];

static void retained(void)
{
	uint64_t rs = 13;
	free(malloc(16));
	mark("START\n");
	for (int i = 0; i < RETAINED_BLOCKS; i++) {
		size_t n = t_range(&rs, 32769, 102400);
		retained_blocks[i] = malloc(n);
		CHECK(retained_blocks[i] != NULL, "malloc(%zu) failed", n);
		((char *)retained_blocks[i])[0] = ((char *)retained_blocks[i])[n - 1] = (char)i;
	}
	mark("END\n");
	for (int i = 0; i < RETAINED_BLOCKS; i++) {
		char *p = retained_blocks[i];
		CHECK(p[0] == (char)i, "block %d lost its contents", i);
		free(p);
	}
}

static void loop_16(void) { loop(16); }
static void loop_1000(void) { loop(1000); }
static void loop_20000(void) { loop(20000); }
static void loop_100000(void) { loop(100000); }
static void loop_1m(void) { loop((size_t)1 << 20); }
static void loop_16m(void) { loop((size_t)16 << 20); }

T_MAIN(T(mixed), T(loop_16), T(loop_1000), T(loop_20000), T(loop_100000), T(loop_1m),
       T(loop_16m), T(medium), T(shrink), T(classes), T(regrow),
       T(retained))
