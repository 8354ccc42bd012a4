/* test5 (42 subject): show_alloc_mem after one allocation per size class.
 * Linked with -lft_malloc (not preloaded).  The listing must show blocks of
 * 1024, 32768, 1048576, 16777216 and 134217728 bytes and
 * "Total : 152077312 bytes". */
#include <stdlib.h>

void show_alloc_mem(void);

int main(void)
{
	malloc(1024);
	malloc(1024 * 32);
	malloc(1024 * 1024);
	malloc(1024 * 1024 * 16);
	malloc(1024 * 1024 * 128);
	show_alloc_mem();
	return (0);
}
