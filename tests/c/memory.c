/*
 * memory.c - how much memory ft_malloc keeps (linked with the library for
 * ft_malloc_stats, and preloaded).  Bounds, not timings: each sub-test checks
 * a ratio that a regression (a leak of free slices, a purge that never comes,
 * a cache that grows without bound) breaks by a wide margin.
 *
 *  ring_mapped     20000 live blocks of 8..8192 B, the oldest freed in random
 *                  order and replaced (a FIFO-ish churn through every SMALL
 *                  class) for 1.5M steps: the bytes mapped for zones stay
 *                  within 1.5x the peak requested bytes (+16 MiB); free slices
 *                  must be found again by new zones, in any segment
 *  decay           256 MiB of small blocks freed, then light allocation work:
 *                  the resident set falls below a quarter of its peak within
 *                  a second (a heap keeps at most two empty segments for the
 *                  purge delay; the rest goes back at once); on a loaded
 *                  machine, within 200 rounds of that work (work_until_below)
 *  large_cached    256 LARGE blocks of 64 KiB..2 MiB freed: what stays mapped
 *                  is bounded by the range cache (128 MiB); then, with small
 *                  allocations going on and no LARGE ones, the cache is given back
 *                  within a second (its ranges expire after 250 ms)
 *  trim            128 MiB of small blocks and 64 MiB of LARGE ones freed, then
 *                  malloc_trim(0): it returns 1 and the resident set is back within
 *                  8 MiB of where it was before, at once, with no purge delay;
 *                  a second malloc_trim(0) has nothing left to give back (0)
 *  growing_strings 2000 strings grown by realloc, 1..16 bytes at a time, round-
 *                  robin, to 4000 bytes: their blocks move up through the SMALL
 *                  classes together, each class's zones emptying while the next
 *                  class's fill; the resident set grows by at most 1.8x the live
 *                  bytes (zones made on fresh slices give back as many dirty free
 *                  slices that could not hold them: 2.1x without)
 *  idle_heaps      16 threads each leave 20000 blocks (10 MiB) for the main
 *                  thread to free, and exit; the main thread frees them and keeps
 *                  working: within 1.5 s the resident set falls below a quarter
 *                  of its peak (heaps idle in the pool are tidied by running
 *                  threads: their remote frees taken in, their free slices purged;
 *                  on a loaded machine, within 300 rounds of that work)
 *  idle_heaps_late the same, but the main thread frees the blocks only after
 *                  400 ms of work, when their heaps were tidied already: a tidied
 *                  heap that blocks are freed into is tidied again
 *  trim_idle_heaps 48 threads at once each allocate 1 MiB of small blocks, free
 *                  them and exit; malloc_trim(0) then gives back the heaps left
 *                  idle in the pool: the resident set keeps less than a quarter
 *                  of what the threads added
 *  class_churn     200 blocks of one size allocated, filled and freed, the size
 *                  changing each turn through the TINY and SMALL classes, 6400
 *                  turns: zones are made again on the pages the emptied ones
 *                  left in memory: under 20,000 page faults (163,000 when a big
 *                  zone gave back its pages past the first slice when made), and
 *                  the resident set grows by at most 12 MiB
 *  class_switch    in a thread of its own, 64 blocks of 3000 B filled and freed
 *                  (their zone, empty, is kept as the head of its class list),
 *                  then a block of 2500 B, of another class whose zone needs
 *                  no more slices: its zone is made on the slices of the first
 *                  one, whose pages are in memory, not on fresh slices (the
 *                  empty zone is given back to make room for it)
 *  near_miss       a 50 MiB buffer (+32 B) filled and freed, then two of 25 MiB
 *                  (+32 B) filled (sort -S 50M): the first takes half of the
 *                  cached buffer, the second is a page longer than the other
 *                  half, which is given back when the second is mapped: the
 *                  resident set grows by at most 56 MiB (77 MiB before)
 *  grow_room       two blocks grown by realloc, in turn, to 1.5 MiB and a few
 *                  pages: the first gets a fresh mapping with as much again of
 *                  room behind it, which the second, of the same length, must
 *                  not take (it fits it exactly); so the first then doubles in
 *                  place (before, the second took the room and the first moved)
 *  first_page      in a thread of its own (a heap with no zones yet), one block
 *                  of each of ten classes of 64..768 B, each written whole: each
 *                  of their zones has one page in memory, the page of its
 *                  `requested` array, which its first blocks share (before, the
 *                  blocks threaded at once reached into the next page for six
 *                  of the ten)
 *  spare_calloc    a LARGE block of 40 KB (a miss: a mapping of 1 MiB, the rest
 *                  kept, untouched, for the next misses), then calloc of 600 KB,
 *                  taken from that rest: it reads as zeros with none of its
 *                  pages in memory (pages never written need no memset; with
 *                  one, all 146 were)
 */
#include "t.h"
#include "ft_malloc.h"

#include <pthread.h>
#include <sys/mman.h>
#include <time.h>

static size_t mapped_now(void)
{
	struct ft_malloc_stats s;
	CHECK(ft_malloc_stats(&s) == 0, "ft_malloc_stats failed");
	return s.mapped;
}

static size_t rss_bytes(void)
{
	return t_statm(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ring_mapped(void)
{
	enum { LIVE = 20000, WINDOW = 1000 };
	const long steps = 1500000;
	void **ring = malloc(LIVE * sizeof *ring);
	size_t *len = malloc(LIVE * sizeof *len);
	CHECK(ring && len, "malloc of the ring");
	uint64_t rs = 7;
	size_t live = 0, peak = 0;
	for (int i = 0; i < LIVE; i++) {
		len[i] = t_range(&rs, 8, 8192);
		ring[i] = malloc(len[i]);
		CHECK(ring[i] != NULL, "malloc(%zu)", len[i]);
		memset(ring[i], (int)i, len[i]);
		live += len[i];
	}
	peak = live;
	size_t worst = 0;
	long head = 0;
	for (long k = 0; k < steps; k++) {
		long j = (head + (long)t_range(&rs, 0, WINDOW - 1)) % LIVE;
		void *p = ring[j];
		size_t l = len[j];
		ring[j] = ring[head];
		len[j] = len[head];
		CHECK(((unsigned char *)p)[l - 1] == ((unsigned char *)p)[0], "step %ld: block changed", k);
		free(p);
		live -= l;
		size_t n = t_range(&rs, 8, 8192);
		char *q = malloc(n);
		CHECK(q != NULL, "step %ld: malloc(%zu)", k, n);
		memset(q, (int)k, n);
		ring[head] = q;
		len[head] = n;
		live += n;
		if (live > peak)
			peak = live;
		head = (head + 1) % LIVE;
		if (k % 100000 == 0) {
			size_t m = mapped_now();
			if (m > worst)
				worst = m;
			CHECK(m <= peak + peak / 2 + ((size_t)16 << 20),
			      "step %ld: %zu MiB mapped for a peak of %zu MiB requested", k, m >> 20, peak >> 20);
		}
	}
	t_info(1, "# ring_mapped: at most %zu MiB mapped, peak requested %zu MiB\n", worst >> 20, peak >> 20);
	for (int i = 0; i < LIVE; i++)
		free(ring[i]);
	free(ring);
	free(len);
}

/* n live blocks of lo..hi bytes (drawn from *rs), each filled with `byte`. The pointer
 * array is a mapping of its own (munmap it: n * sizeof(void *) bytes), so that it is not
 * part of the heap under test. */
static void **filled_blocks(size_t n, uint64_t *rs, size_t lo, size_t hi, int byte)
{
	void **v = mmap(NULL, n * sizeof *v, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(v != MAP_FAILED, "mmap");
	for (size_t i = 0; i < n; i++) {
		size_t s = t_range(rs, lo, hi);
		v[i] = malloc(s);
		CHECK(v[i] != NULL, "malloc(%zu)", s);
		memset(v[i], byte, s);
	}
	return v;
}

/* Light allocation work (4000 blocks of 16..2048 B allocated, then freed, then a 5 ms pause)
 * until the resident set falls below `limit` or `seconds` have passed. The purge runs on
 * allocation activity, so on a loaded machine (other processes on every core) the deadline
 * stretches to as many rounds of work as `seconds` gives a quiet one (one per 5 ms), up to
 * ten times `seconds`: a test run alongside a benchmark measures the allocator, not the
 * scheduler. Returns the last resident set, the time taken in *ms, and the rounds in
 * *rounds. */
static size_t work_until_below(size_t limit, double seconds, uint64_t *rs, double *ms, int *rounds)
{
	double t0 = now_s();
	size_t rss = rss_bytes();
	static void *work[4000];
	const int min_rounds = (int)(seconds * 200);
	int n = 0;
	for (;;) {
		double t = now_s() - t0;
		if (rss < limit || t >= 10 * seconds || (t >= seconds && n >= min_rounds))
			break;
		for (int i = 0; i < 4000; i++)
			work[i] = malloc(t_range(rs, 16, 2048));
		for (int i = 0; i < 4000; i++)
			free(work[i]);
		n++;
		rss = rss_bytes();
		if (rss < limit)
			break;
		struct timespec d = {0, 5 * 1000 * 1000};
		nanosleep(&d, NULL);
	}
	*ms = (now_s() - t0) * 1e3;
	*rounds = n;
	return rss;
}

static void decay(void)
{
	const size_t total = (size_t)256 << 20;
	size_t n = total / 96;
	uint64_t rs = 5;
	void **v = filled_blocks(n, &rs, 64, 128, 1);
	size_t peak = rss_bytes();
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	munmap(v, n * sizeof *v);
	double ms;
	int rounds;
	size_t rss = work_until_below(peak / 4, 1.0, &rs, &ms, &rounds);
	t_info(1, "# decay: peak %zu MiB, %zu MiB after %.0f ms (%d rounds of work)\n", peak >> 20, rss >> 20, ms,
	       rounds);
	CHECK(rss < peak / 4, "resident set still %zu MiB %.0f ms (%d rounds of work) after freeing (peak %zu MiB)",
	      rss >> 20, ms, rounds, peak >> 20);
}

static void large_cached(void)
{
	enum { N = 256 };
	static void *p[N];
	size_t before = mapped_now(), bytes = 0;
	uint64_t rs = 9;
	for (int i = 0; i < N; i++) {
		size_t s = t_range(&rs, (size_t)64 << 10, (size_t)2 << 20);
		p[i] = malloc(s);
		CHECK(p[i] != NULL, "malloc(%zu)", s);
		memset(p[i], 2, s);
		bytes += s;
	}
	for (int i = 0; i < N; i++)
		free(p[i]);
	size_t after = mapped_now();
	t_info(1, "# large_cached: %zu MiB allocated, %zu MiB mapped after freeing (%zu before)\n",
	       bytes >> 20, after >> 20, before >> 20);
	CHECK(after <= before + ((size_t)128 << 20) + ((size_t)8 << 20),
	      "%zu MiB still mapped after freeing %zu MiB of LARGE blocks (%zu MiB before)", after >> 20,
	      bytes >> 20, before >> 20);
	/* small allocation work only: the heap's purge ticks expire the cache */
	static void *q[4000];
	double t0 = now_s();
	size_t m = after;
	while (now_s() - t0 < 1.0) {
		for (int i = 0; i < 4000; i++)
			q[i] = malloc(t_range(&rs, 16, 1024));
		for (int i = 0; i < 4000; i++)
			free(q[i]);
		m = mapped_now();
		if (m <= before + ((size_t)16 << 20))
			break;
		struct timespec d = {0, 10 * 1000 * 1000};
		nanosleep(&d, NULL);
	}
	t_info(1, "# large_cached: %zu MiB mapped %.0f ms later\n", m >> 20, (now_s() - t0) * 1e3);
	CHECK(m <= before + ((size_t)16 << 20),
	      "%zu MiB still mapped 1 s after freeing LARGE blocks (%zu MiB before)", m >> 20, before >> 20);
}

static void trim(void)
{
	enum { LARGE = 32 };
	const size_t small_total = (size_t)128 << 20;
	size_t n = small_total / 200;
	static void *big[LARGE];
	size_t before = rss_bytes();
	uint64_t rs = 11;
	void **v = filled_blocks(n, &rs, 16, 384, 3);
	for (int i = 0; i < LARGE; i++) {
		big[i] = malloc((size_t)2 << 20);
		CHECK(big[i] != NULL, "malloc(2 MiB)");
		memset(big[i], 4, (size_t)2 << 20);
	}
	size_t peak = rss_bytes();
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	for (int i = 0; i < LARGE; i++)
		free(big[i]);
	munmap(v, n * sizeof *v);
	size_t freed = rss_bytes();
	int r1 = malloc_trim(0);
	size_t after = rss_bytes();
	int r2 = malloc_trim(0);
	t_info(1, "# trim: %zu MiB before, peak %zu MiB, %zu MiB freed, %zu MiB after malloc_trim (%d, then %d)\n",
	       before >> 20, peak >> 20, freed >> 20, after >> 20, r1, r2);
	CHECK(r1 == 1, "malloc_trim(0) returned %d after freeing %zu MiB", r1, (peak - before) >> 20);
	CHECK(after <= before + ((size_t)8 << 20), "resident set %zu MiB after malloc_trim (%zu MiB before, peak %zu MiB)",
	      after >> 20, before >> 20, peak >> 20);
	CHECK(r2 == 0, "a second malloc_trim(0) returned %d", r2);
}

static void growing_strings(void)
{
	enum { N = 2000, LIMIT = 4000 };
	char **s = mmap(NULL, N * sizeof *s, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(s != MAP_FAILED, "mmap");
	size_t len[N] = {0};
	uint64_t rs = 21;
	size_t before = rss_bytes(), peak = before;
	for (int grew = 1; grew;) {
		grew = 0;
		for (int i = 0; i < N; i++) {
			if (len[i] >= LIMIT)
				continue;
			size_t add = t_range(&rs, 1, 16);
			char *ns = realloc(s[i], len[i] + add + 1);
			CHECK(ns != NULL, "realloc(%zu)", len[i] + add + 1);
			CHECK(len[i] == 0 || (ns[0] == (char)('a' + i % 26) && ns[len[i] - 1] == (char)('a' + (i + len[i] - 1) % 26)),
			      "realloc lost the contents of string %d", i);
			for (size_t k = 0; k < add; k++)
				ns[len[i] + k] = (char)('a' + (i + len[i] + k) % 26);
			len[i] += add;
			s[i] = ns;
			grew = 1;
		}
		size_t r = rss_bytes();
		if (r > peak)
			peak = r;
	}
	size_t live = 0;
	for (int i = 0; i < N; i++) {
		live += len[i] + 1;
		free(s[i]);
	}
	munmap(s, N * sizeof *s);
	t_info(1, "# growing_strings: %zu KiB live, resident set grew by %zu KiB at most\n", live >> 10, (peak - before) >> 10);
	CHECK(peak - before <= live * 18 / 10, "resident set grew by %zu KiB for %zu KiB of strings", (peak - before) >> 10,
	      live >> 10);
}

enum { IDLE_THREADS = 16, IDLE_BLOCKS = 20000 };
static void *idle_left[IDLE_THREADS][IDLE_BLOCKS];

static void *idle_worker(void *arg)
{
	long t = (long)arg;
	uint64_t rs = 100 + (uint64_t)t;
	static __thread void *tmp[IDLE_BLOCKS];
	for (int i = 0; i < IDLE_BLOCKS; i++) {
		size_t a = t_range(&rs, 16, 1000), b = t_range(&rs, 16, 1000);
		tmp[i] = malloc(a);
		idle_left[t][i] = malloc(b);
		if (tmp[i] == NULL || idle_left[t][i] == NULL)
			return (void *)1;
		memset(tmp[i], 1, a);
		memset(idle_left[t][i], 2, b);
	}
	for (int i = 0; i < IDLE_BLOCKS; i++)
		free(tmp[i]);
	return NULL;
}

/* Runs `n` threads of `worker` (argument: the thread's number) and joins them; each must
 * return NULL. */
static void run_threads(int n, void *(*worker)(void *))
{
	pthread_t th[64];
	CHECK(n <= 64, "%d threads", n);
	for (long t = 0; t < n; t++)
		CHECK(pthread_create(&th[t], NULL, worker, (void *)t) == 0, "pthread_create");
	for (int t = 0; t < n; t++) {
		void *r;
		CHECK(pthread_join(th[t], &r) == 0 && r == NULL, "worker %d failed", t);
	}
}

static void idle_heaps(void)
{
	run_threads(IDLE_THREADS, idle_worker);
	size_t peak = rss_bytes();
	for (int t = 0; t < IDLE_THREADS; t++)
		for (int i = 0; i < IDLE_BLOCKS; i++)
			free(idle_left[t][i]);
	uint64_t rs = 7;
	double ms;
	int rounds;
	size_t rss = work_until_below(peak / 4, 1.5, &rs, &ms, &rounds);
	t_info(1, "# idle_heaps: peak %zu MiB, %zu MiB after %.0f ms (%d rounds of work)\n", peak >> 20, rss >> 20,
	       ms, rounds);
	CHECK(rss < peak / 4,
	      "resident set still %zu MiB %.0f ms (%d rounds of work) after the threads' blocks were freed (peak %zu MiB)",
	      rss >> 20, ms, rounds, peak >> 20);
}

/* As idle_heaps, but the main thread first works for 400 ms, so that the pooled heaps are
 * tidied while their blocks are still live; it frees them only then. */
static void idle_heaps_late(void)
{
	run_threads(IDLE_THREADS, idle_worker);
	size_t peak = rss_bytes();
	uint64_t rs = 9;
	double ms;
	int rounds;
	work_until_below(0, 0.4, &rs, &ms, &rounds);
	for (int t = 0; t < IDLE_THREADS; t++)
		for (int i = 0; i < IDLE_BLOCKS; i++)
			free(idle_left[t][i]);
	size_t rss = work_until_below(peak / 4, 1.5, &rs, &ms, &rounds);
	t_info(1, "# idle_heaps_late: peak %zu MiB, %zu MiB after %.0f ms (%d rounds of work)\n", peak >> 20,
	       rss >> 20, ms, rounds);
	CHECK(rss < peak / 4,
	      "resident set still %zu MiB %.0f ms (%d rounds of work) after the threads' blocks were freed (peak %zu MiB)",
	      rss >> 20, ms, rounds, peak >> 20);
}

/* Threads that run at once, each allocate 1 MiB in small blocks, free them and exit: their
 * heaps wait in the pool with empty zones. malloc_trim(0) gives those back at once. */
enum { TRIM_THREADS = 48 };
static pthread_barrier_t trim_barrier;

static void *trim_worker(void *arg)
{
	enum { N = 2000 };
	static __thread void *v[N];
	uint64_t rs = 500 + (uint64_t)(long)arg;
	for (int i = 0; i < N; i++) {
		size_t n = t_range(&rs, 16, 1000);
		v[i] = malloc(n);
		if (v[i] == NULL)
			return (void *)1;
		memset(v[i], 5, n);
	}
	pthread_barrier_wait(&trim_barrier); /* every thread has its heap at once */
	for (int i = 0; i < N; i++)
		free(v[i]);
	return NULL;
}

/* Runs TRIM_THREADS trim_workers and joins them: their heaps wait in the pool with empty
 * zones. Sets *before to the resident set before them; returns it once they are joined. */
static size_t idle_heaps_made(size_t *before)
{
	pthread_barrier_init(&trim_barrier, NULL, TRIM_THREADS);
	*before = rss_bytes();
	run_threads(TRIM_THREADS, trim_worker);
	pthread_barrier_destroy(&trim_barrier);
	return rss_bytes();
}

static void trim_idle_heaps(void)
{
	size_t before;
	size_t joined = idle_heaps_made(&before);
	int r = malloc_trim(0);
	size_t after = rss_bytes();
	t_info(1, "# trim_idle_heaps: %zu KiB before the threads, %zu KiB when joined, %zu KiB after malloc_trim\n",
	       before >> 10, joined >> 10, after >> 10);
	CHECK(r == 1, "malloc_trim(0) returned %d", r);
	CHECK(after - before < (joined - before) / 4,
	      "resident set %zu KiB after malloc_trim (%zu KiB before the threads, %zu KiB when they were joined)",
	      after >> 10, before >> 10, joined >> 10);
}

/* The same threads, then nothing allocates for 300 ms (no thread runs the purge clock), then
 * as many new threads take the pooled heaps and allocate one block each: a heap idle in the
 * pool past its delay gives back its free memory when a thread takes it, before that thread
 * adds its own (mimalloc-bench's rptest runs its threads twice with idle seconds between). */
static void *idle_take_worker(void *arg)
{
	(void)arg;
	void *p = malloc(100);
	if (p == NULL)
		return (void *)1;
	pthread_barrier_wait(&trim_barrier); /* every thread holds a heap at once */
	free(p);
	return NULL;
}

static void idle_take(void)
{
	size_t before;
	size_t joined = idle_heaps_made(&before);
	usleep(300 * 1000);
	pthread_barrier_init(&trim_barrier, NULL, TRIM_THREADS);
	run_threads(TRIM_THREADS, idle_take_worker);
	size_t after = rss_bytes();
	pthread_barrier_destroy(&trim_barrier);
	t_info(1, "# idle_take: %zu KiB before the threads, %zu KiB when joined, %zu KiB after new threads took their heaps\n",
	       before >> 10, joined >> 10, after >> 10);
	CHECK(after < before || after - before < (joined - before) / 4,
	      "resident set %zu KiB after new threads took the idle heaps (%zu KiB before the threads, %zu KiB when "
	      "they were joined)",
	      after >> 10, before >> 10, joined >> 10);
}

/* A phase that only frees, for longer than the purge delay: the slices of the zones it emptied
 * early go back during the phase, not when the thread next allocates. A few blocks stay live,
 * so the segments are not empty (empty ones go back at once anyway). */
static void free_phase(void)
{
	enum { N = 8000 };
	static void *v[N];
	uint64_t rs = 77;
	size_t before = rss_bytes();
	for (int i = 0; i < N; i++) {
		size_t n = t_range(&rs, 1024, 16384);
		v[i] = malloc(n);
		CHECK(v[i] != NULL, "malloc(%zu)", n);
		memset(v[i], 3, n);
	}
	size_t peak = rss_bytes();
	for (int i = 0; i < N; i++) {
		if (i % 2000 == 0)
			continue;
		free(v[i]);
		if (i % 100 == 0)
			usleep(2000);
	}
	size_t after = rss_bytes();
	for (int i = 0; i < N; i += 2000)
		free(v[i]);
	t_info(1, "# free_phase: %zu KiB before, peak %zu KiB, %zu KiB after the free phase\n", before >> 10,
	       peak >> 10, after >> 10);
	CHECK(after - before < (peak - before) * 17 / 20,
	      "resident set %zu KiB after a free phase of over 160 ms (%zu KiB before, peak %zu KiB)", after >> 10,
	      before >> 10, peak >> 10);
}

/* A buffer grown to 128 MiB by realloc, 1000 bytes at a time (with an eighth of slack, as
 * growing buffers do): when realloc moves it, the old copy goes as the new one fills, so the
 * resident set never holds both (it held twice the buffer at each move); and growing in place
 * asks the kernel for room to spare, so the growth takes few system calls (it took one per
 * page: 31,000 for 300 MB). */
static void big_realloc(void)
{
	struct ft_malloc_stats s0, s1;
	CHECK(ft_malloc_stats(&s0) == 0, "ft_malloc_stats failed");
	size_t base = rss_bytes();
	unsigned char *p = NULL;
	size_t n = 0, moves = 0;
	while (n < ((size_t)128 << 20)) {
		size_t nn = n + 1000, cap = nn + nn / 8;
		unsigned char *q = realloc(p, cap);
		CHECK(q != NULL, "realloc(%zu) failed", cap);
		if (q != p && n >= ((size_t)32 << 20)) {
			/* A move of a big buffer: what the process ever held, against the buffer. */
			struct rusage ru;
			getrusage(RUSAGE_SELF, &ru);
			size_t peak = (size_t)ru.ru_maxrss << 10;
			t_info(1, "# big_realloc: moved at %zu MiB, peak resident %zu MiB over the start\n", n >> 20,
			       (peak - base) >> 20);
			CHECK(peak - base < n + n / 4, "moving a %zu MiB buffer, the resident set peaked at %zu MiB over the start",
			      n >> 20, (peak - base) >> 20);
			moves++;
		}
		for (size_t i = 0; i < 1000; i++)
			q[n + i] = (unsigned char)((n + i) * 7 >> 12);
		p = q;
		n = nn;
	}
	for (size_t i = 0; i < n; i += 4093)
		CHECK(p[i] == (unsigned char)(i * 7 >> 12), "byte %zu lost in the moves", i);
	free(p);
	CHECK(ft_malloc_stats(&s1) == 0, "ft_malloc_stats failed");
	size_t calls = s1.mmap_calls - s0.mmap_calls;
	t_info(1, "# big_realloc: %zu moves of 32 MiB or more, %zu mmap calls\n", moves, calls);
	CHECK(calls < 2000, "%zu mmap calls to grow a buffer to 128 MiB", calls);
}

/* Whether any page of [p, p + len) is resident. */
static int any_resident(uintptr_t p, size_t len)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char v[256];
	CHECK(len / page <= sizeof v, "range too long");
	CHECK(mincore((void *)p, len, v) == 0, "mincore failed");
	for (size_t i = 0; i < len / page; i++)
		if (v[i] & 1)
			return 1;
	return 0;
}

/* Zones of big blocks made where other zones were just released (their pages still in memory,
 * waiting for the purge delay) keep in memory, past the next purge ticks, the pages of their
 * first slice only, not the whole zone that one block of its class would otherwise hold in
 * memory (a Python loop that made a few blocks of a dozen classes of 3-20 KiB a turn peaked
 * 9 MiB higher so). The pages past it go back at a later purge tick, not when the zone is made
 * (see class_churn): light work drives the ticks, and the four slices after each zone's first
 * must leave memory. */
static void big_zone_on_dirty(void)
{
	enum { N = 4000, BIG = 10, TAIL = 4 << 16 };
	static void *v[N];
	static const size_t big[BIG] = {6144, 7168, 9216, 10240, 12288, 14336, 16384, 20480, 24576, 28672};
	unsigned char *b[BIG];
	for (int i = 0; i < N; i++) {
		v[i] = malloc(2048);
		CHECK(v[i] != NULL, "malloc(2048)");
		memset(v[i], 4, 2048);
	}
	for (int i = 0; i < N; i++)
		free(v[i]);
	int made_on_dirty = 0;
	for (int i = 0; i < BIG; i++) {
		b[i] = malloc(big[i]);
		CHECK(b[i] != NULL, "malloc(%zu)", big[i]);
		memset(b[i], 5, big[i]);
		/* Block 0 of a new zone (no block of its class was made before), which lies in the
		 * zone's first slice, after its arrays; the zone holds at least 100 blocks (9 slices
		 * and more), so the four slices after the first are the zone's. */
		made_on_dirty += any_resident(((uintptr_t)b[i] & ~(uintptr_t)0xFFFF) + 0x10000, TAIL);
	}
	/* Light work, whose zones are made and released (purge ticks come with that), until the
	 * tails are out of memory, or for 1 s (up to 10 s on a loaded machine: 200 rounds). */
	double t0 = now_s(), t;
	int rounds = 0, resident;
	for (;;) {
		resident = 0;
		for (int i = 0; i < BIG; i++)
			resident += any_resident(((uintptr_t)b[i] & ~(uintptr_t)0xFFFF) + 0x10000, TAIL);
		t = now_s() - t0;
		if (resident == 0 || t >= 10 || (t >= 1 && rounds >= 200))
			break;
		for (int i = 0; i < 300; i++) {
			v[i] = malloc(2048);
			CHECK(v[i] != NULL, "malloc(2048)");
			memset(v[i], 6, 2048);
		}
		for (int i = 0; i < 300; i++)
			free(v[i]);
		rounds++;
		struct timespec d = {0, 5 * 1000 * 1000};
		nanosleep(&d, NULL);
	}
	for (int i = 0; i < BIG; i++) {
		CHECK(b[i][0] == 5 && b[i][big[i] - 1] == 5, "block of %zu B lost its contents", big[i]);
		free(b[i]);
	}
	t_info(1, "# big_zone_on_dirty: %d of %d zones made on pages in memory; %d with pages past the first slice "
	       "in memory after %.0f ms (%d rounds of work)\n", made_on_dirty, BIG, resident, t * 1e3, rounds);
	CHECK(resident == 0, "%d of %d zones of one block still have pages past their first slice in memory after "
	      "%.0f ms (%d rounds of work)", resident, BIG, t * 1e3, rounds);
}

/* One size at a time: 200 blocks allocated, filled and freed, the size changing each turn
 * through the TINY and SMALL classes ((x % 256) * (x % 50) + 33 B: 33 B..12.5 KiB) for 6400
 * turns. Each turn's zones are made on the slices that the last turns' emptied zones left in
 * memory: a big zone made so used to give back all but its first slice at once, which its
 * blocks then faulted in again (163,000 page faults, 3.5 times mimalloc's time; now about
 * 2,000); and a class's emptied zone is given back when another class needs room (kept until
 * the purge ticks, they held 16 MiB). Bounds: 20,000 page faults; the resident set grows by
 * at most 12 MiB (the live blocks are 2.5 MiB at most). */
static void class_churn(void)
{
	enum { TURNS = 6400, LIVE = 200 };
	static unsigned char *v[LIVE];
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	long faults = u.ru_minflt;
	size_t before = rss_bytes(), peak = before;
	for (int x = 0; x < TURNS; x++) {
		size_t sz = (size_t)(x % 256) * (x % 50) + 33;
		for (int i = 0; i < LIVE; i++) {
			v[i] = malloc(sz);
			CHECK(v[i] != NULL, "malloc(%zu)", sz);
			memset(v[i], i, sz);
		}
		size_t rss = rss_bytes();
		if (rss > peak)
			peak = rss;
		for (int i = 0; i < LIVE; i++) {
			CHECK(v[i][0] == (unsigned char)i && v[i][sz - 1] == (unsigned char)i, "block lost its contents");
			free(v[i]);
		}
	}
	getrusage(RUSAGE_SELF, &u);
	faults = u.ru_minflt - faults;
	t_info(1, "# class_churn: %ld page faults, resident set grew by %zu KiB at most\n", faults,
	       (peak - before) >> 10);
	CHECK(faults < 20000, "%ld page faults (at most 20,000 expected)", faults);
	CHECK(peak - before <= (size_t)12 << 20, "resident set grew by %zu KiB (at most 12 MiB expected)",
	      (peak - before) >> 10);
}

static void *class_switch_worker(void *arg)
{
	enum { N = 64 };
	char *a[N];
	uintptr_t lowest = UINTPTR_MAX;
	(void)arg;
	for (int i = 0; i < N; i++) {
		a[i] = malloc(3000);
		CHECK(a[i] != NULL, "malloc(3000) failed");
		memset(a[i], i, 3000);
		if ((uintptr_t)a[i] < lowest)
			lowest = (uintptr_t)a[i];
	}
	for (int i = 0; i < N; i++) {
		CHECK(a[i][0] == (char)i && a[i][2999] == (char)i, "block %d lost its contents", i);
		free(a[i]);
	}
	char *b = malloc(2500);
	CHECK(b != NULL, "malloc(2500) failed");
	memset(b, 7, 2500);
	/* Zones start on a 64 KiB slice; the first block of each lies in its first slice. */
	uintptr_t zone_a = lowest & ~(uintptr_t)0xFFFF, zone_b = (uintptr_t)b & ~(uintptr_t)0xFFFF;
	t_info(1, "# class_switch: 3000 B blocks from %#lx, the 2500 B block at %p\n", (unsigned long)lowest, (void *)b);
	CHECK(zone_b == zone_a, "the 2500 B block (%p) is not in the slices of the emptied zone (%#lx): fresh pages taken",
	      (void *)b, (unsigned long)zone_a);
	free(b);
	return NULL;
}

static void class_switch(void)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, class_switch_worker, NULL) == 0, "pthread_create");
	CHECK(pthread_join(t, NULL) == 0, "pthread_join");
}

static void near_miss(void)
{
	const size_t big = (size_t)50 << 20, half = (size_t)25 << 20;
	size_t before = rss_bytes();
	char *a = malloc(big + 32);
	CHECK(a != NULL, "malloc(50 MiB) failed");
	memset(a, 1, big + 32);
	free(a);
	char *b = malloc(half + 32), *c = malloc(half + 32);
	CHECK(b != NULL && c != NULL, "malloc(25 MiB) failed");
	memset(b, 2, half + 32);
	memset(c, 3, half + 32);
	size_t grown = rss_bytes() - before;
	t_info(1, "# near_miss: resident set grew by %zu MiB\n", grown >> 20);
	CHECK(grown <= (size_t)56 << 20, "resident set grew by %zu MiB (at most 56 expected)", grown >> 20);
	CHECK(b[0] == 2 && b[half + 31] == 2 && c[0] == 3 && c[half + 31] == 3, "contents");
	free(b);
	free(c);
}

static void grow_room(void)
{
	const size_t n = ((size_t)3 << 19) + 5 * (size_t)sysconf(_SC_PAGESIZE);
	char *a = malloc(100), *b = malloc(100);
	CHECK(a != NULL && b != NULL, "malloc(100) failed");
	memset(a, 1, 100);
	memset(b, 2, 100);
	a = realloc(a, t_opaque(n));
	CHECK(a != NULL, "realloc(%zu) failed", n);
	t_fill(a, n, 1);
	b = realloc(b, t_opaque(n));
	CHECK(b != NULL, "realloc(%zu) failed", n);
	t_fill(b, n, 2);
	char *a2 = realloc(a, t_opaque(2 * n));
	CHECK(a2 != NULL, "realloc(%zu) failed", 2 * n);
	CHECK(a2 == a, "a block doubled by realloc moved (%p -> %p): the room behind it was taken",
	      (void *)a, (void *)a2);
	CHECK(t_check(a2, n, 1) == (size_t)-1 && t_check(b, n, 2) == (size_t)-1, "contents");
	free(a2);
	free(b);
}

#define FIRST_PAGE_CLASSES 10
static const size_t first_page_size[FIRST_PAGE_CLASSES] = {64, 80, 112, 128, 192, 256, 320, 448, 640, 768};
static unsigned char *first_page_block[FIRST_PAGE_CLASSES];

static void *first_page_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < FIRST_PAGE_CLASSES; i++) {
		first_page_block[i] = malloc(first_page_size[i]);
		CHECK(first_page_block[i] != NULL, "malloc(%zu) failed", first_page_size[i]);
		memset(first_page_block[i], 0x5a, first_page_size[i]);
	}
	return NULL;
}

static void first_page(void)
{
	if (getenv("FT_MALLOC_CHECK") || getenv("FT_MALLOC_GUARD") || getenv("FT_MALLOC_SCRIBBLE")) {
		t_info(1, "# first_page: the debug modes lay blocks out otherwise; skipped\n");
		return;
	}
	run_threads(1, first_page_worker);
	const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	int beyond = 0;
	for (int i = 0; i < FIRST_PAGE_CLASSES; i++) {
		uintptr_t p = (uintptr_t)first_page_block[i];
		/* The block lies in its zone's first page; the page after it holds no block of ours. */
		CHECK((p + first_page_size[i] - 1) / page == p / page, "block of %zu B crosses a page", first_page_size[i]);
		unsigned char v = 0;
		CHECK(mincore((void *)(p / page * page + page), page, &v) == 0, "mincore failed");
		if (v & 1) {
			t_info(1, "# first_page: the page after the first block of %zu B is in memory\n", first_page_size[i]);
			beyond++;
		}
	}
	CHECK(beyond == 0, "%d of %d zones have a second page in memory", beyond, FIRST_PAGE_CLASSES);
	for (int i = 0; i < FIRST_PAGE_CLASSES; i++)
		free(first_page_block[i]);
}

static void spare_calloc(void)
{
	if (getenv("FT_MALLOC_CHECK") || getenv("FT_MALLOC_GUARD") || getenv("FT_MALLOC_SCRIBBLE")) {
		t_info(1, "# spare_calloc: the debug modes map LARGE blocks otherwise; skipped\n");
		return;
	}
	const size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 600000;
	char *a = malloc(40000);
	CHECK(a != NULL, "malloc(40000) failed");
	memset(a, 1, 40000);
	char *b = calloc(1, n);
	CHECK(b != NULL, "calloc(%zu) failed", n);
	/* The pages wholly inside the block, before anything reads them. */
	uintptr_t first = ((uintptr_t)b + page - 1) / page * page, end = ((uintptr_t)b + n) / page * page;
	size_t pages = (end - first) / page, resident = 0;
	static unsigned char v[1024];
	CHECK(pages <= sizeof v, "%zu pages", pages);
	CHECK(mincore((void *)first, end - first, v) == 0, "mincore failed");
	for (size_t i = 0; i < pages; i++)
		resident += v[i] & 1;
	t_info(1, "# spare_calloc: %zu of %zu pages in memory\n", resident, pages);
	CHECK(resident == 0, "%zu of the %zu pages of a fresh calloc block are in memory", resident, pages);
	for (size_t i = 0; i < n; i++)
		CHECK(b[i] == 0, "calloc block: byte %zu is not zero", i);
	free(b);
	free(a);
}

T_MAIN(T(ring_mapped), T(decay), T(large_cached), T(trim), T(growing_strings), T(idle_heaps), T(idle_heaps_late),
       T(trim_idle_heaps), T(idle_take), T(free_phase), T(big_realloc), T(big_zone_on_dirty), T(class_churn),
       T(class_switch), T(near_miss), T(grow_room), T(first_page), T(spare_calloc))
