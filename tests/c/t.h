/*
 * t.h - minimal test harness shared by the ft_malloc C tests.
 *
 * Each test program holds several sub-tests.  `prog --list` prints their
 * names; `prog NAME` runs one of them and exits 0 on success.  A failing
 * check writes "file:line: reason" to stderr and _exit(1)s, so the runner
 * (run.sh) can print the reason.  Nothing here allocates behind the test's
 * back: messages are formatted into stack buffers and written with write(2).
 *
 * When FT_EXPECT_SO is set (run.sh sets it), every program first checks that
 * the malloc it calls really is the one from that shared object, so a
 * library that silently failed to preload cannot make glibc pass the tests.
 */
#ifndef FT_TEST_T_H
#define FT_TEST_T_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Not declared by glibc's headers: resolved at run time when exported. */
extern void *reallocf(void *ptr, size_t size) __attribute__((weak));
extern void show_alloc_mem(void) __attribute__((weak));

/* ------------------------------------------------------------------ */
/* failure reporting                                                   */

static void t_write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return;
		}
		s += w;
		n -= (size_t)w;
	}
}

static void t_puts(int fd, const char *s) { t_write_all(fd, s, strlen(s)); }

__attribute__((format(printf, 3, 4), noreturn, unused)) static void
t_fail(const char *file, int line, const char *fmt, ...)
{
	char buf[1024];
	int n = snprintf(buf, sizeof buf, "%s:%d: ", file, line);
	va_list ap;

	if (n < 0 || n >= (int)sizeof buf)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(buf);
	buf[n++] = '\n';
	t_write_all(2, buf, (size_t)n);
	_exit(1);
}

__attribute__((format(printf, 2, 3), unused)) static void
t_info(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	t_puts(fd, buf);
}

#define FAILF(...) t_fail(__FILE__, __LINE__, __VA_ARGS__)
#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond))                                                  \
			FAILF(__VA_ARGS__);                                   \
	} while (0)

/* Hide a pointer's provenance from the compiler (no -Wfree-nonheap-object,
 * no folding of calls on it). */
static inline void *t_launder(void *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}
static inline size_t t_opaque(size_t v)
{
	__asm__ volatile("" : "+r"(v));
	return v;
}

/* ------------------------------------------------------------------ */
/* random numbers and patterns                                         */

static inline uint64_t t_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static inline uint64_t t_rand(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	return t_mix(*s);
}

/* Uniform-ish in [lo, hi]. */
static inline size_t t_range(uint64_t *s, size_t lo, size_t hi)
{
	return lo + (size_t)(t_rand(s) % (hi - lo + 1));
}

/* A size of every kind: tiny_pct% TINY (1..512), then SMALL up to 95%, the rest LARGE up to
 * large_max bytes. */
static inline size_t t_mixed_size(uint64_t *s, unsigned tiny_pct, size_t large_max)
{
	uint64_t r = t_rand(s) % 100;
	if (r < tiny_pct)
		return t_range(s, 1, 512);
	if (r < 95)
		return t_range(s, 513, 32768);
	return t_range(s, 32769, large_max);
}

static inline uint64_t t_word(size_t k, uint64_t seed)
{
	return t_mix(seed ^ (k * 0x9e3779b97f4a7c15ULL));
}

/* Position-dependent pattern: a shifted or partial copy is detected. */
static void __attribute__((unused)) t_fill(void *p, size_t n, uint64_t seed)
{
	unsigned char *c = p;
	size_t k, words = n / 8;

	for (k = 0; k < words; k++) {
		uint64_t w = t_word(k, seed);
		memcpy(c + 8 * k, &w, 8);
	}
	if (n % 8) {
		uint64_t w = t_word(words, seed);
		memcpy(c + 8 * words, &w, n % 8);
	}
}

/* Returns the offset of the first wrong byte, or (size_t)-1 when intact. */
static size_t __attribute__((unused)) t_check(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *c = p;
	size_t k, words = n / 8;

	for (k = 0; k < words; k++) {
		uint64_t w = t_word(k, seed), got;
		memcpy(&got, c + 8 * k, 8);
		if (got != w) {
			const unsigned char *e = (const unsigned char *)&w;
			size_t i = 0;
			while (c[8 * k + i] == e[i])
				i++;
			return 8 * k + i;
		}
	}
	if (n % 8) {
		uint64_t w = t_word(words, seed);
		const unsigned char *e = (const unsigned char *)&w;
		for (size_t i = 0; i < n % 8; i++)
			if (c[8 * words + i] != e[i])
				return 8 * words + i;
	}
	return (size_t)-1;
}

/* Sparse variant for big blocks in hot loops: first and last 64 bytes plus
 * one word every 256 bytes. */
static void __attribute__((unused)) t_fill_sparse(void *p, size_t n, uint64_t seed)
{
	unsigned char *c = p;

	if (n <= 256) {
		t_fill(p, n, seed);
		return;
	}
	t_fill(c, 64, seed);
	t_fill(c + n - 64, 64, seed ^ 1);
	for (size_t off = 256; off + 8 <= n - 64; off += 256) {
		uint64_t w = t_word(off, seed);
		memcpy(c + off, &w, 8);
	}
}

static int __attribute__((unused)) t_check_sparse(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *c = p;

	if (n <= 256)
		return t_check(p, n, seed) == (size_t)-1;
	if (t_check(c, 64, seed) != (size_t)-1 ||
	    t_check(c + n - 64, 64, seed ^ 1) != (size_t)-1)
		return 0;
	for (size_t off = 256; off + 8 <= n - 64; off += 256) {
		uint64_t w = t_word(off, seed), got;
		memcpy(&got, c + off, 8);
		if (got != w)
			return 0;
	}
	return 1;
}

static int __attribute__((unused)) t_all_bytes(const void *p, size_t n, unsigned char b)
{
	const unsigned char *c = p;
	size_t i = 0;

	for (; i < n && ((uintptr_t)(c + i) & 7); i++)
		if (c[i] != b)
			return 0;
	uint64_t w = 0x0101010101010101ULL * b;
	for (; i + 8 <= n; i += 8) {
		uint64_t got;
		memcpy(&got, c + i, 8);
		if (got != w)
			return 0;
	}
	for (; i < n; i++)
		if (c[i] != b)
			return 0;
	return 1;
}

/* Expected alignment of a plain malloc(n) block. */
/* Every block is 16-aligned, whatever its size (glibc's MALLOC_ALIGNMENT on x86_64, C11's
   alignment of max_align_t). */
static inline int t_aligned_for(const void *p, size_t n)
{
	(void)n;
	return (uintptr_t)p % 16 == 0;
}

/* ------------------------------------------------------------------ */
/* allocation-free sorting and heap sanity check                       */

typedef struct {
	uintptr_t addr;
	size_t size;
} t_span;

static void __attribute__((unused)) t_sort_spans(t_span *v, size_t n)
{
	/* Shell sort with Ciura gaps: no allocation, fast enough for 100k. */
	static const size_t gaps[] = {132131, 58732, 26104, 11597, 5156,
				      2291,   1018,  454,   200,   91,
				      40,     17,    7,     3,     1};
	for (size_t g = 0; g < sizeof gaps / sizeof *gaps; g++) {
		size_t gap = gaps[g];
		for (size_t i = gap; i < n; i++) {
			t_span tmp = v[i];
			size_t j = i;
			while (j >= gap && v[j - gap].addr > tmp.addr) {
				v[j] = v[j - gap];
				j -= gap;
			}
			v[j] = tmp;
		}
	}
}

/* Fails when two spans overlap or two share an address. */
static void __attribute__((unused)) t_no_overlap(t_span *v, size_t n, const char *what)
{
	t_sort_spans(v, n);
	for (size_t i = 1; i < n; i++) {
		CHECK(v[i - 1].addr != v[i].addr,
		      "%s: the same pointer %p was returned twice", what,
		      (void *)v[i].addr);
		CHECK(v[i - 1].addr + v[i - 1].size <= v[i].addr,
		      "%s: blocks overlap: %p(+%zu) and %p(+%zu)", what,
		      (void *)v[i - 1].addr, v[i - 1].size, (void *)v[i].addr,
		      v[i].size);
	}
}

/* Allocate `count` blocks of mixed sizes, fill each with its own pattern,
 * verify all of them, check none overlaps, free them.  Used after abuse
 * (bad frees...) to show the heap still works. */
static void __attribute__((unused)) t_heap_check(size_t count, uint64_t seed)
{
	void **p = calloc(count, sizeof *p);
	size_t *sz = calloc(count, sizeof *sz);
	t_span *sp = calloc(count, sizeof *sp);
	uint64_t rs = seed;

	CHECK(p && sz && sp, "heap check: bookkeeping allocation failed");
	for (size_t i = 0; i < count; i++) {
		uint64_t r = t_rand(&rs) % 100;
		sz[i] = r < 60 ? t_range(&rs, 1, 512)
			: r < 99 ? t_range(&rs, 513, 32768)
				 : t_range(&rs, 32769, 300000);
		p[i] = malloc(sz[i]);
		CHECK(p[i] != NULL, "heap check: malloc(%zu) #%zu returned NULL", sz[i], i);
		CHECK(t_aligned_for(p[i], sz[i]), "heap check: malloc(%zu) = %p misaligned",
		      sz[i], p[i]);
		t_fill(p[i], sz[i], (uintptr_t)p[i] ^ seed);
		sp[i].addr = (uintptr_t)p[i];
		sp[i].size = sz[i];
	}
	for (size_t i = 0; i < count; i++) {
		size_t off = t_check(p[i], sz[i], (uintptr_t)p[i] ^ seed);
		CHECK(off == (size_t)-1, "heap check: block %p (%zu bytes) corrupted at offset %zu",
		      p[i], sz[i], off);
	}
	t_no_overlap(sp, count, "heap check");
	for (size_t i = 0; i < count; i++)
		free(p[i]);
	free(p);
	free(sz);
	free(sp);
}

/* ------------------------------------------------------------------ */
/* address-space limit helper (for OOM-style tests)                    */

/* Field `field` of /proc/self/statm (0: total size, 1: resident set), in bytes. */
static size_t __attribute__((unused)) t_statm(int field)
{
	char buf[128];
	/* Read with raw syscalls: no stdio buffer allocation. */
	int fd = open("/proc/self/statm", O_RDONLY);
	CHECK(fd >= 0, "cannot open /proc/self/statm");
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	CHECK(n > 0, "cannot read /proc/self/statm");
	buf[n] = 0;
	char *p = buf;
	unsigned long pages = strtoul(p, &p, 10);
	for (int i = 0; i < field; i++)
		pages = strtoul(p, &p, 10);
	return pages * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t __attribute__((unused)) t_vm_size(void)
{
	return t_statm(0);
}

/* Limit the address space to what is mapped now plus `extra` bytes. */
static void __attribute__((unused)) t_limit_as(size_t extra)
{
	struct rlimit rl;
	rl.rlim_cur = rl.rlim_max = t_vm_size() + extra;
	CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit(RLIMIT_AS) failed: errno %d", errno);
}

/* ------------------------------------------------------------------ */
/* main                                                                */

typedef struct {
	const char *name;
	void (*fn)(void);
} t_case;

#define T(fn) {#fn, fn}

static void t_check_preload(void)
{
	const char *want = getenv("FT_EXPECT_SO");
	char a[PATH_MAX], b[PATH_MAX];
	Dl_info info;
	void *sym;

	if (!want || !*want)
		return;
	sym = dlsym(RTLD_DEFAULT, "malloc");
	CHECK(sym != NULL, "dlsym(malloc) failed");
	CHECK(dladdr(sym, &info) && info.dli_fname, "dladdr(malloc) failed");
	CHECK(realpath(want, a) != NULL, "realpath(%s) failed", want);
	CHECK(realpath(info.dli_fname, b) != NULL, "realpath(%s) failed", info.dli_fname);
	CHECK(strcmp(a, b) == 0, "malloc comes from %s, not from %s (preload failed?)",
	      b, a);
}

static int __attribute__((unused)) t_main(int argc, char **argv, const t_case *cases, size_t n)
{
	if (argc < 2 || strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < n; i++) {
			t_puts(1, cases[i].name);
			t_puts(1, "\n");
		}
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[1], cases[i].name) == 0) {
			t_check_preload();
			cases[i].fn();
			return 0;
		}
	}
	FAILF("unknown test %s", argv[1]);
}

#define T_MAIN(...)                                                           \
	int main(int argc, char **argv)                                       \
	{                                                                     \
		static const t_case cases[] = {__VA_ARGS__};                  \
		return t_main(argc, argv, cases,                              \
			      sizeof cases / sizeof cases[0]);                \
	}

#endif
