#include <support/check.h>
#include <support/xunistd.h>
static int do_test (void)
{
  pid_t p = xfork ();
  if (p == 0) { TEST_COMPARE ((size_t) 7, 16); _exit (0); }
  int st; xwaitpid (p, &st, 0);
  return 0;
}
#include <support/test-driver.c>
