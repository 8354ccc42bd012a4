/* Minimal replacement for glibc's include/libc-pointer-arith.h.  */
#ifndef SHIM_LIBC_POINTER_ARITH_H
#define SHIM_LIBC_POINTER_ARITH_H
#include <stdint.h>
#define ALIGN_DOWN(base, size)	((base) & -((__typeof__ (base)) (size)))
#define ALIGN_UP(base, size)	ALIGN_DOWN ((base) + (size) - 1, (size))
#define PTR_ALIGN_DOWN(base, size) \
  ((__typeof__ (base)) ALIGN_DOWN ((uintptr_t) (base), (size)))
#define PTR_ALIGN_UP(base, size) \
  ((__typeof__ (base)) ALIGN_UP ((uintptr_t) (base), (size)))
#define PTR_IS_ALIGNED(base, size) \
  ((((uintptr_t) (base)) & ((size) - 1)) == 0)
#define PTR_DIFF(p1, p2) \
  ((ptrdiff_t)((uintptr_t)(p1) - (uintptr_t)(p2)))
#endif
