/* glibc malloc/tst-aligned-alloc.c @d1417176 Copyright (C) Free Software
   Foundation, Inc.; LGPL-2.1-or-later, see ../README.md.  */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libc-diag.h>
#include <support/check.h>

static int
do_test (void)
{
  void *p1;
  void *p2;
  void *p3;
  void *p4;
  void *p5;

  errno = 0;

  p1 = aligned_alloc (64, 64);

  if (p1 == NULL)
    FAIL_EXIT1 ("aligned_alloc(64, 64) failed");

  p2 = aligned_alloc (1, 64);

  if (p2 == NULL)
    FAIL_EXIT1 ("aligned_alloc(1, 64) failed");

  p3 = aligned_alloc (65, 64);

  if (p3 != NULL)
    FAIL_EXIT1 ("aligned_alloc(65, 64) did not fail");

  p4 = aligned_alloc (0, 64);

  if (p4 != NULL)
    FAIL_EXIT1 ("aligned_alloc(0, 64) did not fail");

  /* This is an alignment like 0x80000000...UL */
  p5 = aligned_alloc (SIZE_MAX / 2 + 1, 64);

  if (p5 != NULL)
    FAIL_EXIT1 ("aligned_alloc(SIZE_MAX/2+1, 64) did not fail");

  free (p1);
  free (p2);
  return 0;
}

#define TEST_FUNCTION do_test ()
#include "../test-skeleton.c"
