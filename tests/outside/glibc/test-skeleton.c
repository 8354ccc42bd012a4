/* Minimal replacement for glibc's test-skeleton.c: legacy tests define
   TEST_FUNCTION (and optionally TIMEOUT) and include this file.  */
#include <support/test-driver.c>
