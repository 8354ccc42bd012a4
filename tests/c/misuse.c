/*
 * misuse.c - misuse detection under the debug modes (run by debug.sh with
 * LD_PRELOAD and FT_MALLOC_CHECK=0..3, with and without FT_MALLOC_GUARD=1).
 *
 * Each sub-test commits one misuse, after writing to stdout (with write(2),
 * so nothing is lost when the library aborts) the values the diagnostic must
 * name, as "PTR 0x..." (the pointer passed), "BLOCK 0x..." (the block it lies
 * in), "OFF n" (bytes into it) and "SIZE n" (bytes requested).  When the
 * program survives the misuse it checks the call's result, that the heap
 * still works, and writes "END".  debug.sh decides from the mode what must
 * happen (see there).
 *
 *  double_free_{tiny,small,large}  free(p) twice (24, 3000, 200000 bytes)
 *  interior_tiny, interior_large   free(p + 5), free(p + 4100)
 *  stack_ptr, wild_ptr             free() of a stack buffer, of 0xdeadbeef000
 *  realloc_foreign                 realloc() of a page we mmap()ed: NULL
 *  usable_interior                 malloc_usable_size(p + 8): 0
 *  overflow_tiny, overflow_small   p[n] written past a 100 / 3000-byte block,
 *                                  then free(p) (found with FT_MALLOC_GUARD)
 *  write_after_free                p[50] written after free(p); the next
 *                                  malloc of that size returns p (GUARD)
 *  large_overrun                   p[100000] past a 100000-byte block: the
 *                                  guard page faults (SIGSEGV) with GUARD
 *  usable_full                     no misuse: all malloc_usable_size(p) bytes
 *                                  of TINY/SMALL blocks written, then freed
 *                                  (glibc documents them as usable), so
 *                                  nothing may be reported, GUARD or not
 */
#include "t.h"
#include <sys/mman.h>

static void put_ptr(const char *tag, const void *p)
{
	t_info(1, "%s 0x%lX\n", tag, (unsigned long)(uintptr_t)p);
}

static void put_num(const char *tag, size_t n)
{
	t_info(1, "%s %zu\n", tag, n);
}

/* Survived the misuse: the heap still hands out distinct, working blocks. */
static void end(void)
{
	enum { K = 64 };
	char *p[K];
	for (int i = 0; i < K; i++) {
		size_t n = (i % 3 == 0) ? 24 : (i % 3 == 1) ? 3000 : 200000;
		p[i] = malloc(n);
		CHECK(p[i] != NULL, "malloc(%zu) failed after the misuse", n);
		memset(p[i], i, n);
	}
	for (int i = 0; i < K; i++) {
		size_t n = (i % 3 == 0) ? 24 : (i % 3 == 1) ? 3000 : 200000;
		CHECK(t_all_bytes(p[i], n, (unsigned char)i),
		      "block %d (%p) overwritten: the same block was handed out twice?", i,
		      (void *)p[i]);
	}
	for (int i = 0; i < K; i++)
		free(p[i]);
	t_puts(1, "END\n");
}

static void double_free(size_t n)
{
	char *p = malloc(n);
	CHECK(p != NULL, "malloc(%zu) failed", n);
	memset(p, 1, n);
	put_ptr("PTR", p);
	free(p);
	free(t_launder(p));
	end();
}

static void double_free_tiny(void) { double_free(24); }
static void double_free_small(void) { double_free(3000); }
static void double_free_large(void) { double_free(200000); }

static void interior(size_t n, size_t off)
{
	char *p = malloc(n);
	CHECK(p != NULL, "malloc(%zu) failed", n);
	t_fill(p, n, 42);
	put_ptr("PTR", p + off);
	put_ptr("BLOCK", p);
	put_num("OFF", off);
	free(t_launder(p + off));
	CHECK(t_check(p, n, 42) == (size_t)-1, "the block changed after free(p + %zu)", off);
	CHECK(malloc_usable_size(p) >= n, "the block is no longer live after free(p + %zu)", off);
	free(p);
	end();
}

static void interior_tiny(void) { interior(100, 5); }
static void interior_large(void) { interior(200000, 4100); }

static void stack_ptr(void)
{
	char buf[64] __attribute__((aligned(16)));
	memset(buf, 7, sizeof buf);
	put_ptr("PTR", buf);
	free(t_launder(buf));
	CHECK(t_all_bytes(buf, sizeof buf, 7), "the stack buffer was modified");
	end();
}

static void wild_ptr(void)
{
	void *p = (void *)(uintptr_t)0xdeadbeef000ULL;
	put_ptr("PTR", p);
	free(t_launder(p));
	end();
}

static void realloc_foreign(void)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *m = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED, "mmap failed");
	memset(m, 0x33, pg);
	put_ptr("PTR", m + 16);
	void *q = realloc(t_launder(m + 16), 10);
	CHECK(q == NULL, "realloc(foreign %p, 10) = %p, want NULL", (void *)(m + 16), q);
	CHECK(t_all_bytes(m, pg, 0x33), "the foreign page was modified");
	munmap(m, pg);
	end();
}

static void usable_interior(void)
{
	char *p = malloc(100);
	CHECK(p != NULL, "malloc(100) failed");
	put_ptr("PTR", p + 8);
	put_ptr("BLOCK", p);
	put_num("OFF", 8);
	size_t u = malloc_usable_size(t_launder(p + 8));
	CHECK(u == 0, "malloc_usable_size(p + 8) = %zu, want 0", u);
	CHECK(malloc_usable_size(p) >= 100, "malloc_usable_size(p) < 100");
	free(p);
	end();
}

/* One byte past the requested size.  Without FT_MALLOC_GUARD the block may
 * have no slack: then nothing is written (the test is about detection). */
static void overflow(size_t n)
{
	char *p = malloc(n);
	CHECK(p != NULL, "malloc(%zu) failed", n);
	memset(p, 'a', n);
	put_ptr("PTR", p);
	put_num("SIZE", n);
	/* p[n] is inside the block's slot: 100 and 3000 are not class sizes, and with
	 * FT_MALLOC_GUARD the slot always has canary bytes past n (malloc_usable_size then says
	 * n, since the canary is not usable). */
	((volatile char *)t_launder(p))[n] = 'X';
	free(p);
	end();
}

static void overflow_tiny(void) { overflow(100); }
static void overflow_small(void) { overflow(3000); }

static void write_after_free(void)
{
	char *p = malloc(100);
	CHECK(p != NULL, "malloc(100) failed");
	memset(p, 'a', 100);
	put_ptr("PTR", p);
	free(p);
	((volatile char *)t_launder(p))[50] = 'X'; /* the bug under test */
	char *q = malloc(100);
	CHECK(q != NULL, "malloc(100) failed");
	if (q != p)
		t_info(1, "REUSED_OTHER 0x%lX\n", (unsigned long)(uintptr_t)q);
	free(q);
	end();
}

static void large_overrun(void)
{
	char *p = malloc(100000);
	CHECK(p != NULL, "malloc(100000) failed");
	memset(p, 'a', 100000);
	put_ptr("PTR", p);
	((volatile char *)t_launder(p))[100000] = 'X';
	free(p);
	end();
}

static void usable_full(void)
{
	static const size_t sizes[] = {0, 1, 24, 100, 112, 500, 3000, 32767};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		char *p = malloc(sizes[i]);
		CHECK(p != NULL, "malloc(%zu) failed", sizes[i]);
		size_t u = malloc_usable_size(p);
		CHECK(u >= sizes[i], "malloc_usable_size(malloc(%zu)) = %zu", sizes[i], u);
		memset(p, 'u', u);
		put_ptr("PTR", p);
		p = realloc(p, u + 1); /* realloc checks the guard bytes too */
		CHECK(p != NULL, "realloc(p, %zu) failed", u + 1);
		free(p);
	}
	end();
}

T_MAIN(T(double_free_tiny), T(double_free_small), T(double_free_large), T(interior_tiny),
       T(interior_large), T(stack_ptr), T(wild_ptr), T(realloc_foreign), T(usable_interior),
       T(overflow_tiny), T(overflow_small), T(write_after_free), T(large_overrun),
       T(usable_full))
