/*
 * show.c - show_alloc_mem() output (linked with -lft_malloc, not preloaded;
 * driven by show.sh, which checks stdout with showcheck).
 *
 * Each sub-test allocates known sizes, frees some, calls show_alloc_mem()
 * and writes what must be listed to stderr as "EXPECT <size>" lines (one per
 * live block) and "EXPECT_TOTAL <sum>".  Nothing else is allocated: no stdio.
 *
 *  show_basic    42, 84 (TINY), 3725 (SMALL), 48847, 200000 (LARGE) live;
 *                500, 10000, 300000 freed
 *  show_many     1500 TINY, 300 SMALL, 6 LARGE blocks (several zones), every
 *                third one freed
 *  show_realloc  sizes after realloc/calloc/posix_memalign are the new ones
 *  show_empty    nothing allocated: "Total : 0 bytes"
 *  show_big_heap 320,000 TINY and SMALL blocks and 80,000 LARGE ones, all
 *                listed by address well within the test's time limit (a walk
 *                that scans every zone to find the next one takes minutes)
 */
#include "t.h"

static size_t expect_total;

static void expect(size_t n)
{
	t_info(2, "EXPECT %zu\n", n);
	expect_total += n;
}

static void show(void)
{
	CHECK(show_alloc_mem != NULL, "show_alloc_mem is not exported by the library");
	t_info(2, "EXPECT_TOTAL %zu\n", expect_total);
	show_alloc_mem();
}

static void show_basic(void)
{
	static const size_t live[] = {42, 84, 3725, 48847, 200000};
	static const size_t dead[] = {500, 10000, 300000};
	void *d[3];
	d[0] = malloc(dead[0]);
	for (int i = 0; i < 5; i++) {
		char *p = malloc(live[i]);
		CHECK(p != NULL, "malloc(%zu) failed", live[i]);
		p[0] = 1;
		expect(live[i]);
		if (i == 1)
			d[1] = malloc(dead[1]);
		if (i == 3)
			d[2] = malloc(dead[2]);
	}
	for (int i = 0; i < 3; i++) {
		CHECK(d[i] != NULL, "malloc(%zu) failed", dead[i]);
		free(d[i]);
	}
	show();
}

static void show_many(void)
{
	enum { N = 1806 };
	static void *p[N];
	static size_t n[N];
	uint64_t rs = 3;
	for (int i = 0; i < N; i++) {
		n[i] = i < 1500 ? t_range(&rs, 1, 512)
		       : i < 1800 ? t_range(&rs, 513, 32768)
				  : t_range(&rs, 32769, 400000);
		p[i] = malloc(n[i]);
		CHECK(p[i] != NULL, "malloc(%zu) failed", n[i]);
	}
	for (int i = 0; i < N; i++) {
		if (i % 3 == 1)
			free(p[i]);
		else
			expect(n[i]);
	}
	show();
}

static void show_realloc(void)
{
	char *a = malloc(100), *b = malloc(50000), *c = malloc(200), *d = malloc(2000);
	CHECK(a && b && c && d, "malloc failed");
	a = realloc(a, 5000);
	b = realloc(b, 60000);
	c = realloc(c, 100);
	d = realloc(d, 20);
	CHECK(a && b && c && d, "realloc failed");
	expect(5000);
	expect(60000);
	expect(100);
	expect(20);
	void *e = calloc(10, 30);
	CHECK(e != NULL, "calloc failed");
	expect(300);
	void *f = NULL;
	CHECK(posix_memalign(&f, 64, 1000) == 0, "posix_memalign failed");
	expect(1000);
	void *g = realloc(NULL, 777);
	CHECK(g != NULL, "realloc(NULL) failed");
	expect(777);
	void *h = malloc(1234);
	CHECK(h != NULL, "malloc failed");
	CHECK(realloc(h, 0) == NULL, "realloc(p, 0) != NULL");
	show();
}

static void show_empty(void) { show(); }

static void show_big_heap(void)
{
	enum { SMALL_N = 320000, LARGE_N = 80000 };
	uint64_t rs = 7;
	for (int i = 0; i < SMALL_N + LARGE_N; i++) {
		/* LARGE blocks just above the SMALL limit: 3 GB of address space,
		 * none of it written. */
		size_t n = i % 5 == 4 ? t_range(&rs, 32769, 40000)
							 : t_range(&rs, 1, 4000);
		void *p = malloc(n);
		CHECK(p != NULL, "malloc(%zu) failed (block %d)", n, i);
		expect(n);
	}
	show();
}

T_MAIN(T(show_basic), T(show_many), T(show_realloc), T(show_empty), T(show_big_heap))
