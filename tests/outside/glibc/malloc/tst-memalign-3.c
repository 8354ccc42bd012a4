/* glibc malloc/tst-memalign-3.c @e5524ef3 Copyright (C) Free Software
   Foundation, Inc.; LGPL-2.1-or-later, see ../README.md.
   Same as tst-memalign-2 but in a thread (informational: glibc reuse).  */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <array_length.h>
#include <libc-pointer-arith.h>
#include <support/check.h>
#include <support/xthread.h>
#include "memalign-body.h"

static int
do_test (void)
{
  pthread_t p;

  p = xpthread_create (NULL, mem_test, NULL);
  xpthread_join (p);
  return 0;
}

#include <support/test-driver.c>
