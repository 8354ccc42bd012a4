/* glibc malloc/tst-malloc-usable.c @6d7e8eda Copyright (C) Free Software
   Foundation, Inc.; LGPL-2.1-or-later, see ../README.md.
   NOTE: upstream runs this with MALLOC_CHECK_=3 LD_PRELOAD=libc_malloc_debug.so
   (tst-malloc-usable-ENV); it checks malloc-check's exact-size behaviour.  */
#include <malloc.h>
#include <string.h>
#include <stdio.h>
#include <support/support.h>
#include <support/check.h>

static int
do_test (void)
{
  size_t usable_size;
  void *p = malloc (7);

  TEST_VERIFY_EXIT (p != NULL);
  usable_size = malloc_usable_size (p);
  TEST_COMPARE (usable_size, 7);
  memset (p, 0, usable_size);
  free (p);

  TEST_COMPARE (malloc_usable_size (NULL), 0);

  return 0;
}

#include "support/test-driver.c"
