/* glibc malloc/tst-memalign-2.c @26420023 Copyright (C) Free Software
   Foundation, Inc.; LGPL-2.1-or-later, see ../README.md.
   Test for memalign chunk reuse (checks glibc tcache/bin reuse: informational).
   Body identical to upstream; upstream inlines it into do_test, here it is
   shared with tst-memalign-3 via memalign-body.h.  */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <array_length.h>
#include <libc-pointer-arith.h>
#include <support/check.h>
#include "memalign-body.h"

static int
do_test (void)
{
  mem_test (NULL);
  return 0;
}

#include <support/test-driver.c>
