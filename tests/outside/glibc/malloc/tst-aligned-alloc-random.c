/* glibc malloc/tst-aligned-alloc-random.c @26420023 Copyright (C) Free Software
   Foundation, Inc.; LGPL-2.1-or-later, see ../README.md.
   (Upstream also preloads tst-aligned_alloc-lib.so; here it just stresses malloc.)  */
#include <stdlib.h>
#include <support/check.h>
#include <time.h>

static int
do_test (void)
{
  void *p1;
  int i;

  srandom (time (NULL));

  for (i = 0; i < 1024; i++)
  {
    size_t size = random () & 0xffff;

    p1 = malloc (size);
    TEST_VERIFY (p1 != NULL);
  }

  return 0;
}

#include <support/test-driver.c>
