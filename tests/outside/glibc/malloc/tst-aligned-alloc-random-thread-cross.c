/* glibc malloc/tst-aligned-alloc-random-thread-cross.c @26420023 (LGPL-2.1+).  */
#define CROSS_THREAD_DEALLOC
#include "tst-aligned-alloc-random-thread.c"
