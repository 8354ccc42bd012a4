/* glibc malloc/tst-malloc-alternate-path.c @26420023 Copyright (C) Free Software
   Foundation, Inc.; LGPL-2.1-or-later, see ../README.md.
   Test that malloc uses mmap when sbrk or brk fails.  */
#include <unistd.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <libc-pointer-arith.h>
#include <support/check.h>
#include <stddef.h>
#include <stdalign.h>

#define LARGE_SIZE (10 * (1 << 20)) // 10 MB
static long page_size;

static int
do_test (void)
{
  void *current_brk = sbrk (0);

  page_size = sysconf (_SC_PAGESIZE);

  void *next_page_boundary = PTR_ALIGN_UP (current_brk, page_size);

  void *obstruction_addr
  = mmap (next_page_boundary, page_size, PROT_READ,
    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

  TEST_VERIFY_EXIT (obstruction_addr == next_page_boundary);

  int *ptr = sbrk (page_size);
  TEST_VERIFY_EXIT (ptr == (void *) -1);

  for (size_t i = 0; i < page_size / alignof (max_align_t); i++)
    {
      TEST_VERIFY (malloc (alignof (max_align_t)));
    }

  TEST_VERIFY_EXIT (malloc (LARGE_SIZE) != NULL);

  TEST_VERIFY_EXIT (current_brk == sbrk (0));

  return 0;
}

#include <support/test-driver.c>
