/* test4 (42 subject): free(NULL) and free/realloc of a pointer into the middle
 * of a block must not crash; realloc returns NULL.  Expected output:
 * "Bonjours\n". */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void print(char *s)
{
	write(1, s, strlen(s));
}

int main(void)
{
	char *addr;

	addr = malloc(16);
	free(NULL);
	free((void *)addr + 5);
	if (realloc((void *)addr + 5, 10) == NULL)
		print("Bonjours\n");
	return (0);
}
