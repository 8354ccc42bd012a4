/* Minimal replacement for glibc's malloc/malloc-size.h (x86_64 values).  */
#ifndef SHIM_MALLOC_SIZE_H
#define SHIM_MALLOC_SIZE_H
#include <stddef.h>
#define INTERNAL_SIZE_T size_t
#define SIZE_SZ (sizeof (INTERNAL_SIZE_T))
/* x86_64: MALLOC_ALIGNMENT = 16 (max_align_t).  */
#define MALLOC_ALIGNMENT (2 * SIZE_SZ < __alignof__ (long double) \
			  ? __alignof__ (long double) : 2 * SIZE_SZ)
#define MALLOC_ALIGN_MASK (MALLOC_ALIGNMENT - 1)
#endif
