/* test0 (42 subject): baseline for the page-fault count; allocates nothing. */
#include <stdlib.h>

int main(void)
{
	int i;
	char *addr;

	(void)addr;
	i = 0;
	while (i < 1024)
	{
		i++;
	}
	return (0);
}
