/*
 * bindings.c - references every exported allocation function, so that
 * `LD_BIND_NOW=1 LD_DEBUG=bindings` shows where each one is bound
 * (see bindings.sh).  Also calls them once.
 */
#include "t.h"

int main(void)
{
	void *p = malloc(10), *q = calloc(2, 10), *a = NULL;
	p = realloc(p, 20);
	p = reallocarray(p, 4, 10);
	if (reallocf)
		p = reallocf(p, 50);
	if (posix_memalign(&a, 64, 10) == 0)
		free(a);
	free(aligned_alloc(64, 64));
	free(memalign(64, 10));
	free(valloc(10));
	free(pvalloc(10));
	if (malloc_usable_size(q) < 20)
		return 1;
	free(q);
	free(p);
	if (show_alloc_mem && getenv("BINDINGS_SHOW"))
		show_alloc_mem();
	return 0;
}
