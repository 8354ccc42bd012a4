/* uafwrite.c - a use-after-free write changes nothing the allocator reads.
 * The free blocks of a zone are a stack of indices kept outside the blocks, so
 * overwriting freed blocks (every word, with the address of a static buffer,
 * as an attacker aiming at the free-list link would) can neither make malloc
 * hand out an address of the writer's choosing nor lose a block: the next two
 * mallocs of that size get the two freed blocks back, last freed first, and
 * the allocator keeps working. Nothing is reported (there is nothing wrong in
 * the allocator's state to find). Prints the block address, then END. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	static char target[64];
	void *keep[8];
	for (int i = 0; i < 8; i++)
		keep[i] = malloc(24);
	char *p = malloc(24);
	char *q = malloc(24);
	free(q);
	free(p); /* p is on top of the zone's free stack, q below it */
	printf("PTR %p\n", (void *)p);
	fflush(stdout);
	/* the bug under test: overwrite both freed blocks with an address of our choosing */
	for (int k = 0; k < 3; k++) {
		((volatile uintptr_t *)p)[k] = (uintptr_t)target;
		((volatile uintptr_t *)q)[k] = (uintptr_t)target;
	}
	char *a = malloc(24);
	char *b = malloc(24);
	if (a != p || b != q) {
		printf("FAIL mallocs gave %p %p, want %p %p\n", (void *)a, (void *)b, (void *)p, (void *)q);
		return 1;
	}
	/* the heap still works: many blocks, distinct and writable */
	char *blocks[1000];
	for (int i = 0; i < 1000; i++) {
		blocks[i] = malloc(24);
		if (!blocks[i])
			return 2;
		if ((uintptr_t)blocks[i] >= (uintptr_t)target && (uintptr_t)blocks[i] < (uintptr_t)target + sizeof target) {
			printf("FAIL malloc returned the forged address %p\n", (void *)blocks[i]);
			return 1;
		}
		memset(blocks[i], i & 0xff, 24);
	}
	for (int i = 0; i < 1000; i++)
		for (int k = 0; k < 24; k++)
			if ((unsigned char)blocks[i][k] != (i & 0xff)) {
				printf("FAIL block %d overwritten\n", i);
				return 1;
			}
	for (int i = 0; i < 1000; i++)
		free(blocks[i]);
	for (int i = 0; i < 8; i++)
		free(keep[i]);
	free(a);
	free(b);
	puts("END");
	return 0;
}
