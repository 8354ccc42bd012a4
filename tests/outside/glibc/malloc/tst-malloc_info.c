/* glibc malloc/tst-malloc_info.c @6d7e8eda Copyright (C) Free Software
   Foundation, Inc.; LGPL-2.1-or-later, see ../README.md.
   NOTE: malloc_info is not exported by ft_malloc (prints glibc's arena).  */
#include <array_length.h>
#include <malloc.h>
#include <stdlib.h>
#include <support/support.h>
#include <support/xthread.h>

static pthread_barrier_t barrier;

enum
  {
    thread_count  = 4,
    per_thread_allocations
      = sizeof (void *) == 4 ? 16 * 1024 * 1024 : 128 * 1024 * 1024,
  };

static void *
allocation_thread_function (void *closure)
{
  struct list
  {
    struct list *next;
    long dummy[4];
  };

  struct list *head = NULL;
  size_t allocated = 0;
  while (allocated < per_thread_allocations)
    {
      struct list *new_head = xmalloc (sizeof (*new_head));
      allocated += sizeof (*new_head);
      new_head->next = head;
      head = new_head;
    }

  xpthread_barrier_wait (&barrier);

  xpthread_barrier_wait (&barrier);

  while (head != NULL)
    {
      struct list *next_head = head->next;
      free (head);
      head = next_head;
    }

  return NULL;
}

static int
do_test (void)
{
  xpthread_barrier_init (&barrier, NULL, thread_count + 1);

  pthread_t threads[thread_count];
  for (size_t i = 0; i < array_length (threads); ++i)
    threads[i] = xpthread_create (NULL, allocation_thread_function, NULL);

  xpthread_barrier_wait (&barrier);
  puts ("info: After allocation:");
  malloc_info (0, stdout);

  xpthread_barrier_wait (&barrier);
  for (size_t i = 0; i < array_length (threads); ++i)
    xpthread_join (threads[i]);

  puts ("\ninfo: After deallocation:");
  malloc_info (0, stdout);

  return 0;
}

#include <support/test-driver.c>
