/*
 * early.c - libearly.so, a library the dl test program is linked against.
 * Its constructor allocates: the dynamic loader runs the constructors of the
 * program's own dependencies before those of LD_PRELOADed libraries, so this
 * one runs before ft_malloc's (ft_malloc must initialise itself lazily, and
 * read its FT_MALLOC_* variables later without trouble for these blocks).
 * early_check() (called from dl.c) verifies and frees the blocks.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EARLY_N 6
static const size_t early_size[EARLY_N] = {1, 24, 500, 3000, 40000, 1 << 20};
static unsigned char *early_block[EARLY_N];
static int early_ran;

__attribute__((constructor)) static void early_ctor(void)
{
	void *tmp;

	for (int i = 0; i < EARLY_N; i++) {
		early_block[i] = malloc(early_size[i]);
		if (early_block[i])
			memset(early_block[i], 0x40 + i, early_size[i]);
	}
	/* some churn too */
	tmp = calloc(100, 10);
	tmp = realloc(tmp, 5000);
	free(tmp);
	tmp = malloc(70000);
	free(tmp);
	early_ran = 1;
}

/* 0 when every block made by the constructor is intact (and frees them). */
int early_check(void)
{
	if (!early_ran)
		return 1;
	for (int i = 0; i < EARLY_N; i++) {
		if (!early_block[i])
			return 2;
		if (malloc_usable_size(early_block[i]) < early_size[i])
			return 3;
		for (size_t k = 0; k < early_size[i]; k++)
			if (early_block[i][k] != 0x40 + i)
				return 4;
	}
	/* grow one, then free them all */
	early_block[1] = realloc(early_block[1], 100000);
	if (!early_block[1] || early_block[1][23] != 0x41)
		return 5;
	for (int i = 0; i < EARLY_N; i++)
		free(early_block[i]);
	return 0;
}
