/* glibc malloc/tst-aligned-alloc-random-thread.c @26420023 Copyright (C) Free Software
   Foundation, Inc.; LGPL-2.1-or-later, see ../README.md.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <support/check.h>
#include <support/support.h>
#include <support/xthread.h>
#include <support/test-driver.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#ifndef ITERATIONS
#  define ITERATIONS 16
#endif

#ifndef NUM_THREADS
#  define NUM_THREADS 8
#endif

#ifndef NUM_ALLOCATIONS
#  define NUM_ALLOCATIONS 2048
#endif

static pthread_barrier_t barrier;

__thread unsigned int seed;

typedef struct
{
  int id;
  pthread_t thread;
} thread;

thread threads[NUM_THREADS];

void *allocations[NUM_THREADS][NUM_ALLOCATIONS];

void
run_thread_dealloc (int id)
{
  for (int i = 0; i < NUM_ALLOCATIONS; i++)
    {
      free (allocations[id][i]);
      allocations[id][i] = NULL;
    }
}

void
run_thread_alloc (int id)
{
  size_t msb, size;
  for (int i = 0; i < NUM_ALLOCATIONS; i++)
    {
      msb = 1 << rand_r (&seed) % 16;
      size = msb + rand_r (&seed) % msb;
      allocations[id][i] = malloc (size);
      TEST_VERIFY_EXIT (allocations[id][i] != NULL);
    }
}

void *
run_allocations (void *arg)
{
  int id = *((int *) arg);
  seed = time (NULL) + id;

  if (id < NUM_THREADS / 2)
    run_thread_alloc (id);

  xpthread_barrier_wait (&barrier);

  if (id < NUM_THREADS / 2)
#ifndef CROSS_THREAD_DEALLOC
    run_thread_dealloc (id);
#else
    run_thread_alloc (id + NUM_THREADS / 2);
#endif
  else
#ifndef CROSS_THREAD_DEALLOC
    run_thread_alloc (id);
#else
    run_thread_dealloc (id - NUM_THREADS / 2);
#endif

  xpthread_barrier_wait (&barrier);

  if (id >= NUM_THREADS / 2)
    run_thread_dealloc (id);

  return NULL;
}

static int
do_test (void)
{
  xpthread_barrier_init (&barrier, NULL, NUM_THREADS);

  for (int i = 0; i < ITERATIONS; i++)
    {
      for (int t = 0; t < NUM_THREADS; t++)
	{
	  threads[t].id = t;
	  threads[t].thread
	      = xpthread_create (NULL, run_allocations, &threads[t].id);
	}

      for (int t = 0; t < NUM_THREADS; t++)
	xpthread_join (threads[t].thread);
    }

  return 0;
}

#include <support/test-driver.c>
