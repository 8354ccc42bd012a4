/* Minimal replacement for glibc's include/libc-diag.h.  */
#ifndef SHIM_LIBC_DIAG_H
#define SHIM_LIBC_DIAG_H
#include <features.h>
#define DIAG_PUSH_NEEDS_COMMENT _Pragma ("GCC diagnostic push")
#define DIAG_POP_NEEDS_COMMENT _Pragma ("GCC diagnostic pop")
#define _DIAG_STR1(s) #s
#define _DIAG_STR(s) _DIAG_STR1 (s)
#define DIAG_IGNORE_NEEDS_COMMENT(version, option) \
  _Pragma (_DIAG_STR (GCC diagnostic ignored option))
#define DIAG_IGNORE_Os_NEEDS_COMMENT(version, option)
#endif
