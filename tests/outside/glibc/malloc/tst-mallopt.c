/* glibc malloc/tst-mallopt.c @6d7e8eda Copyright (C) Free Software
   Foundation, Inc.; LGPL-2.1-or-later, see ../README.md.
   NOTE: mallopt is not exported by ft_malloc; resolves to glibc's.  */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

static int errors = 0;

static void
merror (const char *msg)
{
  ++errors;
  printf ("Error: %s\n", msg);
}

static int
do_test (void)
{
  int ret;

  ret = mallopt(M_CHECK_ACTION, 1);
  if (ret != 1)
    merror ("mallopt (M_CHECK_ACTION, 1) failed.");

  ret = mallopt(M_MMAP_MAX, 64*1024);
  if (ret != 1)
    merror ("mallopt (M_MMAP_MAX, 64*1024) failed.");

  ret = mallopt(M_MMAP_THRESHOLD, 64*1024);
  if (ret != 1)
    merror ("mallopt (M_MMAP_THRESHOLD, 64*1024) failed.");

  ret = mallopt(M_MXFAST, 0);
  if (ret != 1)
    merror ("mallopt (M_MXFAST, 0) failed.");

  ret = mallopt(M_PERTURB, 0xa5);
  if (ret != 1)
    merror ("mallopt (M_PERTURB, 0xa5) failed.");

  ret = mallopt(M_TOP_PAD, 64*1024);
  if (ret != 1)
    merror ("mallopt (M_TOP_PAD, 64*1024) failed.");

  ret = mallopt(M_TRIM_THRESHOLD, -1);
  if (ret != 1)
    merror ("mallopt (M_TRIM_THRESHOLD, -1) failed.");

  return errors != 0;
}

#define TEST_FUNCTION do_test ()
#include "../test-skeleton.c"
