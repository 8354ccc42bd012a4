/*
 * badptr.c - ft_malloc's tolerance of invalid pointers (run with LD_PRELOAD).
 * Not standard behaviour: glibc/jemalloc are expected to fail these.
 *
 * For each kind of bad pointer: free() must not crash, realloc() must return
 * NULL, malloc_usable_size() must return 0, and afterwards the heap must still
 * work (t_heap_check: 10000 blocks filled, verified, none overlapping).
 *
 *  free_stack, free_global, free_literal, free_one, free_deadbeef,
 *  free_minus1, free_foreign_mmap      pointers the allocator never returned
 *  free_interior_{tiny,small,large}    p+5 (and p+16, p+4096) inside live blocks
 *                                      which must stay intact and freeable
 *  free_plus16_64                      p+16 on a 64-byte block
 *  double_free_{tiny,small,large}      free(p) twice: harmless, and the block is
 *                                      not handed out twice afterwards
 *  double_free_aligned                 same for posix_memalign blocks
 */
#include "t.h"
#include <sys/mman.h>

static char g_array[4096] __attribute__((aligned(64)));

/* free / realloc / malloc_usable_size of a pointer that is not ours */
static void abuse(void *bad, const char *what)
{
	bad = t_launder(bad);
	free(bad);
	free(bad);
	void *q = realloc(bad, 10);
	CHECK(q == NULL, "realloc(%s %p, 10) = %p, want NULL", what, bad, q);
	q = realloc(bad, 100000);
	CHECK(q == NULL, "realloc(%s %p, 100000) = %p, want NULL", what, bad, q);
	size_t u = malloc_usable_size(bad);
	CHECK(u == 0, "malloc_usable_size(%s %p) = %zu, want 0", what, bad, u);
}

static void free_stack(void)
{
	char buf[256] __attribute__((aligned(16)));
	memset(buf, 7, sizeof buf);
	abuse(buf, "stack address");
	abuse(buf + 16, "stack address");
	abuse(buf + 3, "stack address");
	CHECK(t_all_bytes(buf, sizeof buf, 7), "the stack buffer was modified");
	t_heap_check(10000, 1);
}

static void free_global(void)
{
	memset(g_array, 9, sizeof g_array);
	abuse(g_array, "global array");
	abuse(g_array + 16, "global array");
	abuse(g_array + 4000, "global array");
	CHECK(t_all_bytes(g_array, sizeof g_array, 9), "the global array was modified");
	t_heap_check(10000, 2);
}

static void free_literal(void)
{
	abuse((void *)"a string literal", "string literal");
	t_heap_check(10000, 3);
}

static void free_one(void)
{
	abuse((void *)1, "(void*)1");
	abuse((void *)16, "(void*)16");
	abuse((void *)4096, "(void*)4096");
	t_heap_check(10000, 4);
}

static void free_deadbeef(void)
{
	abuse((void *)0xdeadbeef000, "0xdeadbeef000");
	abuse((void *)0xdeadbeef010, "0xdeadbeef010");
	abuse((void *)0x7ffffffff000, "0x7ffffffff000");
	t_heap_check(10000, 5);
}

static void free_minus1(void)
{
	abuse((void *)(~(uintptr_t)0 & ~(uintptr_t)15), "(void*)-1 & ~15");
	abuse((void *)~(uintptr_t)0, "(void*)-1");
	abuse((void *)((uintptr_t)1 << 63), "(void*)1<<63");
	t_heap_check(10000, 6);
}

static void free_foreign_mmap(void)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *m = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED, "mmap failed");
	memset(m, 0x33, 4 * pg);
	abuse(m, "foreign mmap page");
	abuse(m + 16, "foreign mmap page");
	abuse(m + 32, "foreign mmap page");
	abuse(m + pg, "foreign mmap page");
	CHECK(t_all_bytes(m, 4 * pg, 0x33), "a foreign mapping was modified");
	munmap(m, 4 * pg);
	t_heap_check(10000, 7);
}

static void interior(size_t n, const size_t *offs, size_t noffs)
{
	/* several live neighbours, so that a confused free hurts someone */
	enum { K = 8 };
	char *p[K];
	for (int i = 0; i < K; i++) {
		p[i] = malloc(n);
		CHECK(p[i] != NULL, "malloc(%zu) failed", n);
		t_fill(p[i], n, (uintptr_t)p[i]);
	}
	for (int i = 0; i < K; i++)
		for (size_t j = 0; j < noffs; j++)
			if (offs[j] < n)
				abuse(p[i] + offs[j], "interior pointer");
	for (int i = 0; i < K; i++) {
		size_t off = t_check(p[i], n, (uintptr_t)p[i]);
		CHECK(off == (size_t)-1, "%zu-byte block corrupted at offset %zu by bad frees", n, off);
		CHECK(malloc_usable_size(p[i]) >= n, "%zu-byte block: usable size now %zu", n,
		      malloc_usable_size(p[i]));
	}
	/* the blocks themselves still work */
	for (int i = 0; i < K; i++) {
		char *q = realloc(p[i], n * 2);
		CHECK(q != NULL, "realloc of the original block failed");
		CHECK(t_check(q, n, (uintptr_t)p[i]) == (size_t)-1, "realloc lost content");
		free(q);
	}
	t_heap_check(10000, n);
}

static const size_t offs[] = {5, 1, 8, 16, 32, 48, 4096, 8192, 65536};

static void free_interior_tiny(void) { interior(100, offs, sizeof offs / sizeof *offs); }
static void free_interior_small(void) { interior(3000, offs, sizeof offs / sizeof *offs); }
static void free_interior_large(void) { interior(300000, offs, sizeof offs / sizeof *offs); }

static void free_plus16_64(void)
{
	static const size_t o[] = {16};
	interior(64, o, 1);
}

static void double_free(size_t n)
{
	for (int round = 0; round < 20; round++) {
		char *p = malloc(n);
		CHECK(p != NULL, "malloc(%zu) failed", n);
		memset(p, 1, n);
		free(p);
		free(t_launder(p));
		CHECK(realloc(t_launder(p), 10) == NULL, "realloc of a freed %zu-byte block != NULL", n);
		CHECK(malloc_usable_size(t_launder(p)) == 0,
		      "malloc_usable_size of a freed %zu-byte block = %zu, want 0", n,
		      malloc_usable_size(t_launder(p)));
		if (round % 2)
			free(t_launder(p)); /* triple free */
		char *a = malloc(n), *b = malloc(n);
		CHECK(a && b, "malloc(%zu) failed after a double free", n);
		CHECK(a != b, "double free of %p: two mallocs(%zu) both returned %p", (void *)p, n,
		      (void *)a);
		CHECK((uintptr_t)a + n <= (uintptr_t)b || (uintptr_t)b + n <= (uintptr_t)a,
		      "double free: blocks %p and %p (%zu bytes) overlap", (void *)a, (void *)b, n);
		t_fill(a, n, 1);
		t_fill(b, n, 2);
		CHECK(t_check(a, n, 1) == (size_t)-1 && t_check(b, n, 2) == (size_t)-1,
		      "double free: blocks overwrite each other");
		char *c = malloc(n);
		CHECK(c != NULL && c != a && c != b, "third malloc(%zu) after double free returned %p",
		      n, (void *)c);
		free(a);
		free(b);
		free(c);
	}
	t_heap_check(10000, n + 1);
}

static void double_free_tiny(void) { double_free(32); }
static void double_free_small(void) { double_free(2000); }
static void double_free_large(void) { double_free(100000); }

static void double_free_aligned(void)
{
	for (int round = 0; round < 10; round++) {
		void *p = NULL, *a = NULL, *b = NULL;
		CHECK(posix_memalign(&p, 4096, 5000) == 0, "posix_memalign failed");
		free(p);
		free(t_launder(p));
		CHECK(posix_memalign(&a, 4096, 5000) == 0 && posix_memalign(&b, 4096, 5000) == 0,
		      "posix_memalign failed after a double free");
		CHECK(a != b, "double free of aligned %p: two allocations returned %p", p, a);
		t_fill(a, 5000, 1);
		t_fill(b, 5000, 2);
		CHECK(t_check(a, 5000, 1) == (size_t)-1 && t_check(b, 5000, 2) == (size_t)-1,
		      "aligned blocks overwrite each other");
		free(a);
		free(b);
	}
	t_heap_check(10000, 99);
}

T_MAIN(T(free_stack), T(free_global), T(free_literal), T(free_one), T(free_deadbeef),
       T(free_minus1), T(free_foreign_mmap), T(free_interior_tiny), T(free_interior_small),
       T(free_interior_large), T(free_plus16_64), T(double_free_tiny), T(double_free_small),
       T(double_free_large), T(double_free_aligned))
