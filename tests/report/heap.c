/*
 * heap.c - builds a heap with TINY, SMALL and LARGE blocks (some freed), then
 * prints show_alloc_mem() on stdout and writes ft_malloc_report(argv[1]).
 * Driven by tests/report/run.sh, which compares the two.
 *
 * Linked with -lft_malloc (not preloaded). Nothing between show_alloc_mem()
 * and ft_malloc_report() allocates (no stdio until both are done), so both
 * describe the same heap. show_alloc_mem() runs again after the report, after
 * a "--" line: the two listings must be equal (the report allocates nothing
 * that stays). On stderr: "LARGE_LIVE <n>" (the LARGE blocks this program
 * holds) and "REPORT <rc>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void show_alloc_mem(void);
extern int ft_malloc_report(const char *path);

enum { NTINY = 2000, NSMALL = 400, NLARGE = 5 };

static void *tiny[NTINY], *small[NSMALL], *large[NLARGE];

int main(int argc, char **argv)
{
	static const size_t large_sizes[NLARGE] = {40000, 100000, 1 << 20, 10 << 20, 3 << 20};
	int large_live = 0, rc;

	if (argc != 2) {
		fprintf(stderr, "usage: heap OUT.html\n");
		return 2;
	}
	/* TINY: sizes 1..512 cycling through many classes, every third freed, and a
	 * whole run freed in the middle so that strips show long free runs. */
	for (int i = 0; i < NTINY; i++) {
		size_t n = 1 + (size_t)(i * 37) % 512;
		tiny[i] = malloc(n);
		if (!tiny[i])
			return 3;
		memset(tiny[i], 1, n);
	}
	for (int i = 0; i < NTINY; i++)
		if (i % 3 == 0 || (i > 700 && i < 1000))
			free(tiny[i]);
	/* SMALL: 513 .. 32768, every fourth freed. */
	for (int i = 0; i < NSMALL; i++) {
		size_t n = 513 + (size_t)(i * 2311) % (32768 - 512);
		small[i] = malloc(n);
		if (!small[i])
			return 3;
		memset(small[i], 2, 64);
	}
	for (int i = 0; i < NSMALL; i += 4)
		free(small[i]);
	/* LARGE: five mappings, one freed. */
	for (int i = 0; i < NLARGE; i++) {
		large[i] = malloc(large_sizes[i]);
		if (!large[i])
			return 3;
		memset(large[i], 3, 64);
		large_live++;
	}
	free(large[2]);
	large_live--;

	show_alloc_mem();
	rc = ft_malloc_report(argv[1]);
	if (write(1, "--\n", 3) != 3)
		return 4;
	show_alloc_mem();

	fprintf(stderr, "LARGE_LIVE %d\nREPORT %d\n", large_live, rc);
	return rc == 0 ? 0 : 1;
}
