/* test1 (42 subject): 1024 x malloc(1024), never freed.  Page reclaims minus
 * test0's must be about 256 (1 MiB of data), plus little metadata. */
#include <stdlib.h>

int main(void)
{
	int i;
	char *addr;

	i = 0;
	while (i < 1024)
	{
		addr = (char *)malloc(1024);
		addr[0] = 42;
		i++;
	}
	return (0);
}
