/* glibc malloc/tst-free-errno.c @6d7e8eda Copyright (C) Free Software
   Foundation, Inc.; LGPL-2.1-or-later, see ../README.md.
   Test that free preserves errno.  */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <support/check.h>
#include <support/support.h>
#include <support/temp_file.h>
#include <support/xunistd.h>

int __attribute__ ((weak))
get_errno (void)
{
  return errno;
}

static int
do_test (void)
{
  {
    errno = 1789;
    free (NULL);
    TEST_VERIFY (get_errno () == 1789);
  }
  { /* Large memory allocations, to force mmap.  */
    enum { N = 2 };
    void * volatile ptrs[N];
    size_t i;
    for (i = 0; i < N; i++)
      ptrs[i] = xmalloc (5318153);
    for (i = 0; i < N; i++)
      {
        errno = 1789;
        free (ptrs[i]);
        TEST_VERIFY (get_errno () == 1789);
      }
  }

  #if defined __linux__
  if (xopen ("/proc/sys/vm/max_map_count", O_RDONLY, 0) >= 0)
    {
      size_t pagesize = getpagesize ();
      void *firstpage_backup = xmalloc (pagesize);
      void *lastpage_backup = xmalloc (pagesize);
      xmmap (NULL, 0x1000000, PROT_READ, MAP_ANONYMOUS | MAP_PRIVATE, -1);
      int fd = create_temp_file ("tst-free-errno", NULL);
      if (fd < 0)
	FAIL_EXIT1 ("cannot create temporary file");

      size_t big_size = 0x1000000;
      void * volatile ptr = xmalloc (big_size - 0x100);
      char *ptr_aligned = (char *) ((uintptr_t) ptr & ~(pagesize - 1));
      memcpy (firstpage_backup, ptr_aligned, pagesize);
      memcpy (lastpage_backup, ptr_aligned + big_size - pagesize,
	      pagesize);
      xmmap (ptr_aligned - pagesize, pagesize + big_size + pagesize,
	     PROT_READ | PROT_WRITE,
	     MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1);
      memcpy (ptr_aligned, firstpage_backup, pagesize);
      memcpy (ptr_aligned + big_size - pagesize, lastpage_backup,
	      pagesize);

      for (int i = 0; i < 65536; i++)
	if (mmap (NULL, pagesize, PROT_READ, MAP_FILE | MAP_PRIVATE, fd, 0)
	    == MAP_FAILED)
	  break;

      errno = 1789;
      free (ptr);
      TEST_VERIFY (get_errno () == 1789);
    }
  #endif

  return 0;
}

#include <support/test-driver.c>
