/* glibc malloc/tst-mallinfo2.c @6d7e8eda Copyright (C) Free Software
   Foundation, Inc.; LGPL-2.1-or-later, see ../README.md.  */
#include <array_length.h>
#include <malloc.h>
#include <stdlib.h>
#include <support/check.h>

static void
print_mi (const char *msg, struct mallinfo2 *m)
{
  printf("\n%s...\n", msg);
#define P(f) printf("%s: %zu\n", #f, m->f)
  P(arena);
  P(ordblks);
  P(smblks);
  P(hblks);
  P(hblkhd);
  P(usmblks);
  P(fsmblks);
  P(uordblks);
  P(fordblks);
  P(keepcost);
}

volatile void *ptr;

static int
do_test (void)
{
  struct mallinfo2 mi1, mi2;
  int i;
  size_t total = 0;

  TEST_COMPARE (sizeof (mi1.arena), sizeof (size_t));

  mi1 = mallinfo2 ();
  print_mi ("before", &mi1);

  for (i = 1; i < 20; ++i)
    {
      ptr = malloc (160 * i);
      total += 160 * i;
    }

  mi2 = mallinfo2 ();
  print_mi ("after", &mi2);

  /* Check at least something changed.  */
  TEST_VERIFY (mi2.uordblks >= mi1.uordblks + total);

  return 0;
}

#include <support/test-driver.c>
