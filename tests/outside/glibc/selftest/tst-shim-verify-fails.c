#include <support/check.h>
static int do_test (void) { TEST_VERIFY (1 == 2); return 0; }
#include <support/test-driver.c>
