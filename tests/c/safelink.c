/* safelink.c - free-list links are encoded and checked (safe-linking).
 * A use-after-free write over a freed block's first word (where the free-list
 * link lives) must not make malloc hand out an address of the attacker's
 * choosing: the next malloc of that size gets the freed block back, the
 * broken link is dropped (and reported under FT_MALLOC_CHECK=1), and the
 * allocator keeps working. Prints the block address, then END. */
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
	free(p); /* p heads the free list; its first word links to q */
	printf("PTR %p\n", (void *)p);
	fflush(stdout);
	/* the bug under test: overwrite the link with an address of our choosing */
	*(volatile uintptr_t *)p = (uintptr_t)target;
	char *a = malloc(24);
	char *b = malloc(24);
	if (a != p) {
		printf("FAIL first malloc %p, want %p\n", (void *)a, (void *)p);
		return 1;
	}
	if ((uintptr_t)b >= (uintptr_t)target && (uintptr_t)b < (uintptr_t)target + sizeof target) {
		printf("FAIL malloc returned the forged address %p\n", (void *)b);
		return 1;
	}
	/* the heap still works: many blocks, distinct and writable */
	char *blocks[1000];
	for (int i = 0; i < 1000; i++) {
		blocks[i] = malloc(24);
		if (!blocks[i])
			return 2;
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
