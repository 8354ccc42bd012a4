#include <support/check.h>
static int do_test (void) { FAIL_EXIT1 ("deliberate"); return 0; }
#include <support/test-driver.c>
