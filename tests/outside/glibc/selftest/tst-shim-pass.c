#include <support/check.h>
static int do_test (void) { TEST_VERIFY (1); TEST_COMPARE (3, 3); TEST_COMPARE ((size_t) 0, 0); return 0; }
#include <support/test-driver.c>
