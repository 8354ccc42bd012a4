/* Minimal replacement for glibc's support/test-driver.c.
   Runs the test function directly in this process (like glibc's
   --direct mode); the caller (run.sh) enforces the wall-clock timeout.
   Exit status: do_test's return value; forced to 1 if any TEST_VERIFY /
   TEST_COMPARE failure was recorded (also from forked children).  */
#include <support/shim.h>

#if defined (TEST_FUNCTION) && defined (TEST_FUNCTION_ARGV)
# error TEST_FUNCTION and TEST_FUNCTION_ARGV cannot be defined at the same time
#endif
#if !defined (TEST_FUNCTION) && !defined (TEST_FUNCTION_ARGV)
# define TEST_FUNCTION do_test ()
#endif

int
main (int argc, char **argv)
{
  (void) argc; (void) argv;
  support_record_failure_init ();
  /* Unbuffered stdout: keeps output ordered and avoids duplicated
     buffered output in forked children that call exit.  */
  setvbuf (stdout, NULL, _IONBF, 0);
#ifdef TEST_FUNCTION
  int status = TEST_FUNCTION;
#else
  int status = TEST_FUNCTION_ARGV (argc, argv);
#endif
  if (support_record_failure_is_failed () && status != EXIT_UNSUPPORTED)
    {
      if (status == 0)
	status = 1;
    }
  return status;
}
