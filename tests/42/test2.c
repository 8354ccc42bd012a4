/* test2 (42 subject): 1024 x malloc(1024) + free.  Page reclaims must stay
 * within a few pages of test0's. */
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
		free(addr);
		i++;
	}
	return (0);
}
