/*
 * debugmodes.c - the FT_MALLOC_* debug variables and the statistics API (run
 * by debug.sh with LD_PRELOAD; the environment each sub-test needs is set
 * there).  Nothing here uses stdio: output is written with write(2).
 *
 *  scribble        (FT_MALLOC_SCRIBBLE=1) malloc/aligned_alloc/realloc'd
 *                  bytes read 0xAA, calloc'd bytes 0 (also a reused block),
 *                  a freed TINY/SMALL block reads 0x55 from byte 8 on
 *  stats_empty     nothing (the baseline of stats_work)
 *  stats_work      exactly 1000 malloc and 600 free; writes "SUM n" (bytes
 *                  asked for), "LIVE_SUM n" (bytes of the 400 kept blocks)
 *  log             3 malloc, 1 realloc, 2 free; writes "PTR a|b|c|d 0x..."
 *  history         (FT_MALLOC_HISTORY=8 or unset) show_alloc_mem_ex_dump()
 *                  of the "Hello, ft_malloc!" block, "--- ex", then
 *                  show_alloc_mem_ex(); pointers go to stderr as "PTR name"
 *  stats_api       ft_malloc_stats(), mallinfo2(), malloc_stats() after 100
 *                  blocks of 100 bytes and one of 200000
 *  stats_counters  (FT_MALLOC_STATS=1) call and misuse counters move by
 *                  exactly what the test did
 *  realloc_usable  (each mode, and none) every byte up to malloc_usable_size()
 *                  of a TINY, SMALL and LARGE block survives a growing realloc
 *                  (programs such as redis write into the usable slack)
 *  realloc_in_place (each mode but guard, and none) a block grown or shrunk
 *                  within what its class or mapping holds stays where it is
 *                  (moving every time made growth loops quadratic), contents
 *                  kept; a buffer grown 7 bytes at a time to 1.4 MB moves at
 *                  most a few hundred times
 */
#include "t.h"
#include "ft_malloc.h"

static void put_ptr(int fd, const char *tag, const void *p)
{
	t_info(fd, "PTR %s 0x%lX\n", tag, (unsigned long)(uintptr_t)p);
}

static int bytes_equal(const volatile unsigned char *p, size_t from, size_t to, unsigned char b,
		       size_t *bad)
{
	for (size_t i = from; i < to; i++)
		if (p[i] != b) {
			*bad = i;
			return 0;
		}
	return 1;
}

/* ------------------------------------------------------------------ */

static void scribble(void)
{
	static const size_t sizes[] = {1, 8, 24, 100, 512, 513, 3000, 32768, 32769, 100000, 1 << 20};
	enum { NS = sizeof sizes / sizeof *sizes };
	unsigned char *p[NS];
	size_t bad;

	for (size_t i = 0; i < NS; i++) {
		p[i] = malloc(sizes[i]);
		CHECK(p[i] != NULL, "malloc(%zu) failed", sizes[i]);
		CHECK(bytes_equal(p[i], 0, sizes[i], 0xAA, &bad),
		      "malloc(%zu): byte %zu is 0x%02x, want 0xAA", sizes[i], bad, p[i][bad]);
	}
	for (size_t i = 0; i < NS; i++) {
		unsigned char *c = calloc(1, sizes[i]);
		CHECK(c != NULL, "calloc(1, %zu) failed", sizes[i]);
		CHECK(bytes_equal(c, 0, sizes[i], 0, &bad),
		      "calloc(1, %zu): byte %zu is 0x%02x, want 0", sizes[i], bad, c[bad]);
		free(c);
	}
	for (size_t i = 0; i < NS; i++)
		free(p[i]);

	/* freed blocks: 0x55 from byte 8 (the free-list link lives below) */
	static const size_t fsizes[] = {64, 100, 512, 3000};
	for (size_t i = 0; i < sizeof fsizes / sizeof *fsizes; i++) {
		size_t n = fsizes[i];
		unsigned char *q = malloc(n);
		CHECK(q != NULL, "malloc(%zu) failed", n);
		memset(q, 0x11, n);
		free(q);
		q = t_launder(q);
		CHECK(bytes_equal(q, 8, n, 0x55, &bad),
		      "freed %zu-byte block: byte %zu is 0x%02x, want 0x55", n, bad,
		      ((volatile unsigned char *)q)[bad]);
		/* a calloc that may reuse that scribbled block still reads 0 */
		unsigned char *c = calloc(n, 1);
		CHECK(c != NULL, "calloc(%zu, 1) failed", n);
		CHECK(bytes_equal(c, 0, n, 0, &bad),
		      "calloc(%zu, 1) after a free: byte %zu is 0x%02x, want 0", n, bad, c[bad]);
		/* and a malloc reusing it reads 0xAA again */
		free(c);
		unsigned char *m = malloc(n);
		CHECK(m != NULL, "malloc(%zu) failed", n);
		CHECK(bytes_equal(m, 0, n, 0xAA, &bad),
		      "malloc(%zu) after a free: byte %zu is 0x%02x, want 0xAA", n, bad, m[bad]);
		free(m);
	}

	/* realloc: the old bytes kept, the new ones 0xAA */
	unsigned char *r = malloc(100);
	CHECK(r != NULL, "malloc(100) failed");
	memset(r, 'x', 100);
	r = realloc(r, 400);
	CHECK(r != NULL, "realloc(400) failed");
	CHECK(bytes_equal(r, 0, 100, 'x', &bad), "realloc lost byte %zu", bad);
	CHECK(bytes_equal(r, 100, 400, 0xAA, &bad),
	      "realloc(100 -> 400): byte %zu is 0x%02x, want 0xAA", bad, r[bad]);
	free(r);

	/* aligned allocations */
	unsigned char *a = aligned_alloc(64, 200);
	CHECK(a != NULL && (uintptr_t)a % 64 == 0, "aligned_alloc(64, 200) = %p", (void *)a);
	CHECK(bytes_equal(a, 0, 200, 0xAA, &bad), "aligned_alloc(64, 200): byte %zu is 0x%02x", bad,
	      a[bad]);
	free(a);
	void *pm = NULL;
	CHECK(posix_memalign(&pm, 4096, 5000) == 0, "posix_memalign failed");
	CHECK(bytes_equal(pm, 0, 5000, 0xAA, &bad), "posix_memalign(4096, 5000): byte %zu", bad);
	free(pm);
}

/* ------------------------------------------------------------------ */

static void stats_empty(void) {}

static void stats_work(void)
{
	enum { N = 1000, F = 600 };
	static void *p[N];
	size_t sum = 0, live = 0;

	for (size_t i = 0; i < N; i++) {
		size_t n = 1 + (i * 37) % 4000;
		p[i] = malloc(n);
		CHECK(p[i] != NULL, "malloc(%zu) failed", n);
		sum += n;
		if (i >= F)
			live += n;
	}
	for (size_t i = 0; i < F; i++)
		free(p[i]);
	t_info(1, "SUM %zu\nLIVE_SUM %zu\n", sum, live);
}

/* ------------------------------------------------------------------ */

static void log_calls(void)
{
	char *a = malloc(10);
	char *b = malloc(20);
	char *c = malloc(30);
	CHECK(a && b && c, "malloc failed");
	char *d = realloc(a, 100);
	CHECK(d != NULL, "realloc failed");
	free(b);
	free(d);
	put_ptr(1, "a", a);
	put_ptr(1, "b", b);
	put_ptr(1, "c", c);
	put_ptr(1, "d", d);
}

/* ------------------------------------------------------------------ */

static void history(void)
{
	static const char hello[] = "Hello, ft_malloc!"; /* 17 characters + NUL */
	char *h = malloc(sizeof hello);
	CHECK(h != NULL, "malloc failed");
	memcpy(h, hello, sizeof hello);
	char *s = malloc(3000);
	char *l = malloc(100000);
	CHECK(s && l, "malloc failed");
	memset(s, 's', 3000);
	memset(l, 'l', 100000);
	/* the last 8 operations */
	char *a = malloc(40);
	char *b = calloc(3, 10);
	CHECK(a && b, "malloc/calloc failed");
	free(a);
	char *c = realloc(b, 200);
	CHECK(c != NULL, "realloc failed");
	char *d = malloc(50);
	CHECK(d != NULL, "malloc failed");
	free(d);
	char *e = aligned_alloc(64, 64);
	char *f = malloc(7);
	CHECK(e && f, "aligned_alloc/malloc failed");
	put_ptr(2, "h", h);
	put_ptr(2, "s", s);
	put_ptr(2, "l", l);
	put_ptr(2, "a", a);
	put_ptr(2, "b", b);
	put_ptr(2, "c", c);
	put_ptr(2, "d", d);
	put_ptr(2, "e", e);
	put_ptr(2, "f", f);
	show_alloc_mem_ex_dump(h);
	t_puts(1, "--- ex\n");
	show_alloc_mem_ex();
}

/* ------------------------------------------------------------------ */

/* malloc_stats() writes to stderr: catch it in a pipe. */
static const char *malloc_stats_text(void)
{
	static char buf[16384];
	int fds[2], saved;
	ssize_t n, len = 0;

	CHECK(pipe(fds) == 0, "pipe failed");
	saved = dup(2);
	CHECK(saved >= 0 && dup2(fds[1], 2) == 2, "dup2 failed");
	close(fds[1]);
	malloc_stats();
	dup2(saved, 2);
	close(saved);
	while ((n = read(fds[0], buf + len, sizeof buf - 1 - (size_t)len)) > 0)
		len += n;
	close(fds[0]);
	buf[len] = 0;
	return buf;
}

static size_t malloc_stats_value(const char *label)
{
	const char *buf = malloc_stats_text();
	const char *at = strstr(buf, label);
	CHECK(at != NULL, "malloc_stats() output lacks \"%s\": %.200s", label, buf);
	at += strlen(label);
	while (*at == ' ')
		at++;
	CHECK(*at >= '0' && *at <= '9', "malloc_stats(): no number after \"%s\"", label);
	return strtoul(at, NULL, 10);
}

static void stats_api(void)
{
	enum { N = 100 };
	static void *p[N];
	struct ft_malloc_stats s0, s;

	CHECK(ft_malloc_stats(NULL) == -1, "ft_malloc_stats(NULL) != -1");
	CHECK(ft_malloc_stats(&s0) == 0, "ft_malloc_stats failed");
	for (int i = 0; i < N; i++) {
		p[i] = malloc(100);
		CHECK(p[i] != NULL, "malloc(100) failed");
		memset(p[i], i, 100);
	}
	char *big = malloc(200000);
	CHECK(big != NULL, "malloc(200000) failed");
	memset(big, 1, 200000);

	CHECK(ft_malloc_stats(&s) == 0, "ft_malloc_stats failed");
	CHECK(s.live_blocks >= N + 1, "live_blocks %zu < %d", s.live_blocks, N + 1);
	CHECK(s.live_blocks - s0.live_blocks == N + 1, "live_blocks grew by %zu, want %d",
	      s.live_blocks - s0.live_blocks, N + 1);
	CHECK(s.live_requested >= N * 100 + 200000, "live_requested %zu < %d", s.live_requested,
	      N * 100 + 200000);
	CHECK(s.live_requested - s0.live_requested == N * 100 + 200000,
	      "live_requested grew by %zu, want %d", s.live_requested - s0.live_requested,
	      N * 100 + 200000);
	CHECK(s.live_usable >= s.live_requested, "live_usable %zu < live_requested %zu",
	      s.live_usable, s.live_requested);
	CHECK(s.mmap_calls > 0, "mmap_calls is 0");
	CHECK(s.tiny_zones >= 1, "tiny_zones is 0");
	CHECK(s.large_blocks >= 1, "large_blocks is 0");
	CHECK(s.mapped >= s.live_usable, "mapped %zu < live_usable %zu", s.mapped, s.live_usable);
	CHECK(s.peak_mapped >= s.mapped, "peak_mapped %zu < mapped %zu", s.peak_mapped, s.mapped);
	CHECK(s.zone_bytes >= s.live_usable, "zone_bytes %zu < live_usable %zu", s.zone_bytes,
	      s.live_usable);

	struct mallinfo2 mi = mallinfo2();
	/* glibc's relations: the mmapped (LARGE) blocks are in hblkhd only, and
	 * arena = uordblks + fordblks */
	CHECK(mi.uordblks >= N * 100 && mi.uordblks < N * 100 + 200000,
	      "mallinfo2().uordblks %zu: want the small blocks only (%d B requested)", mi.uordblks,
	      N * 100);
	CHECK(mi.arena == mi.uordblks + mi.fordblks, "mallinfo2(): arena %zu != %zu + %zu",
	      mi.arena, mi.uordblks, mi.fordblks);
	CHECK(mi.hblks >= 1, "mallinfo2().hblks is 0");
	CHECK(mi.hblkhd >= 200000, "mallinfo2().hblkhd %zu < 200000", mi.hblkhd);
	CHECK(mi.arena >= 1, "mallinfo2().arena is 0");
	CHECK(mi.ordblks >= 1, "mallinfo2().ordblks is 0");

	size_t lb = malloc_stats_value("ft_malloc: live blocks");
	CHECK(lb == s.live_blocks, "malloc_stats(): live blocks %zu, ft_malloc_stats %zu", lb,
	      s.live_blocks);
	size_t mc = malloc_stats_value("ft_malloc: mmap calls");
	CHECK(mc >= s.mmap_calls, "malloc_stats(): mmap calls %zu < %zu", mc, s.mmap_calls);
	/* call counts: printed while counted (a debug variable), else a line that says why not */
	if (getenv("FT_MALLOC_STATS")) {
		size_t calls = malloc_stats_value("ft_malloc: malloc calls");
		CHECK(calls >= N + 1, "malloc_stats(): malloc calls %zu < %d", calls, N + 1);
	} else {
		const char *text = malloc_stats_text();
		CHECK(strstr(text, "malloc calls") == NULL, "malloc_stats() prints uncounted calls: %.300s", text);
		CHECK(strstr(text, "kept only with a debug variable set (FT_MALLOC_STATS=1)") != NULL,
		      "malloc_stats() does not say that calls are not counted: %.300s", text);
	}

	for (int i = 0; i < N; i++) {
		CHECK(t_all_bytes(p[i], 100, (unsigned char)i), "block %d changed", i);
		free(p[i]);
	}
	free(big);
	CHECK(ft_malloc_stats(&s) == 0, "ft_malloc_stats failed");
	CHECK(s.live_blocks == s0.live_blocks, "live_blocks %zu after freeing all, was %zu",
	      s.live_blocks, s0.live_blocks);
	CHECK(s.live_requested == s0.live_requested,
	      "live_requested %zu after freeing all, was %zu", s.live_requested, s0.live_requested);
}

static void stats_counters(void)
{
	struct ft_malloc_stats s0, s;
	char stackbuf[32];

	CHECK(ft_malloc_stats(&s0) == 0, "ft_malloc_stats failed");
	char *a = malloc(100);
	char *b = calloc(10, 30);
	char *c = realloc(a, 5000);
	void *d = NULL;
	CHECK(posix_memalign(&d, 256, 1000) == 0, "posix_memalign failed");
	CHECK(b && c && d, "allocation failed");
	free(b);
	free(t_launder(b));		/* misuse 1: double free */
	free(t_launder(stackbuf));	/* misuse 2: not ours */
	free(t_launder(c + 16));	/* misuse 3: interior */
	free(c);
	free(d);
	CHECK(ft_malloc_stats(&s) == 0, "ft_malloc_stats failed");
#define DELTA(f, want)                                                        \
	CHECK(s.f - s0.f == (size_t)(want), #f " moved by %zu, want %zu",     \
	      s.f - s0.f, (size_t)(want))
	DELTA(malloc_calls, 1);
	DELTA(calloc_calls, 1);
	DELTA(realloc_calls, 1);
	DELTA(aligned_calls, 1);
	DELTA(free_calls, 6);
	DELTA(misuses, 3);
	DELTA(bytes_requested_total, 100 + 300 + 5000 + 1000);
	DELTA(live_blocks, 0);
	CHECK(s.peak_requested >= 300 + 5000 + 1000, "peak_requested %zu < %d", s.peak_requested,
	      300 + 5000 + 1000);
#undef DELTA
}

static void realloc_usable(void)
{
	static const size_t sizes[] = {100, 1000, 20000, 40000, 200000};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		unsigned char *p = malloc(sizes[i]);
		CHECK(p != NULL, "malloc(%zu)", sizes[i]);
		size_t u = malloc_usable_size(p);
		CHECK(u >= sizes[i], "usable %zu < %zu", u, sizes[i]);
		for (size_t k = 0; k < u; k++)
			p[k] = (unsigned char)(k * 7 + i);
		unsigned char *q = realloc(p, u + 5000);
		CHECK(q != NULL, "realloc(%zu)", u + 5000);
		for (size_t k = 0; k < u; k++)
			CHECK(q[k] == (unsigned char)(k * 7 + i),
			      "malloc(%zu), %zu usable: byte %zu lost by realloc(%zu)", sizes[i], u, k,
			      u + 5000);
		free(q);
	}
}

static void realloc_in_place(void)
{
	const size_t from[] = {100, 3000, 100000}, to[] = {110, 3050, 100010};
	for (int i = 0; i < 3; i++) {
		unsigned char *p = malloc(from[i]);
		CHECK(p != NULL, "malloc(%zu) failed", from[i]);
		memset(p, 'a' + i, from[i]);
		unsigned char *q = realloc(p, to[i]);
		CHECK(q == p, "realloc(%zu -> %zu) moved the block (%p -> %p)", from[i], to[i], (void *)p,
		      (void *)q);
		size_t bad;
		CHECK(bytes_equal(q, 0, from[i], (unsigned char)('a' + i), &bad), "realloc lost byte %zu", bad);
		q = realloc(q, from[i]);
		CHECK(q == p, "realloc(%zu -> %zu) moved the block back", to[i], from[i]);
		free(q);
	}
	char *s = NULL, *last = NULL;
	size_t n = 0;
	int moves = 0;
	while (n < 1400000) {
		s = realloc(s, n + 7);
		CHECK(s != NULL, "realloc(%zu) failed", n + 7);
		memset(s + n, (int)(n % 251), 7);
		moves += s != last;
		last = s;
		n += 7;
	}
	for (size_t k = 0; k < n; k += 7)
		CHECK(s[k] == (char)(k % 251), "grown buffer lost byte %zu", k);
	free(s);
	CHECK(moves < 500, "a buffer grown 7 bytes at a time to %zu bytes moved %d times", n, moves);
}

T_MAIN(T(scribble), T(stats_empty), T(stats_work), {"log", log_calls}, T(history),
       T(stats_api), T(stats_counters), T(realloc_usable), T(realloc_in_place))
