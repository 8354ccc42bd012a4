/* Minimal, honest replacement for glibc's libsupport, for building
   glibc malloc tests as standalone programs.  Everything is static and
   lives in the single translation unit of each test.
   - TEST_VERIFY / TEST_COMPARE record a failure in a MAP_SHARED counter
     (so failures in forked children also count) and the driver turns a
     recorded failure into exit status 1.
   - FAIL_EXIT1 / TEST_VERIFY_EXIT print and exit(1) immediately.
   - x* wrappers abort the test (exit 1) on failure.  */
#ifndef SHIM_SUPPORT_H
#define SHIM_SUPPORT_H

#ifndef _GNU_SOURCE
# define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHIM_UNUSED __attribute__ ((unused))

#define EXIT_UNSUPPORTED 77
#define DEFAULT_TIMEOUT 20

/* ---- failure recording ------------------------------------------ */
static volatile unsigned int *shim_failure_counter;

static SHIM_UNUSED void
support_record_failure_init (void)
{
  if (shim_failure_counter != NULL)
    return;
  void *p = mmap (NULL, sizeof (unsigned int), PROT_READ | PROT_WRITE,
		  MAP_ANONYMOUS | MAP_SHARED, -1, 0);
  if (p == MAP_FAILED)
    {
      printf ("error: could not map failure counter: %m\n");
      exit (1);
    }
  shim_failure_counter = p;
}

static SHIM_UNUSED void
support_record_failure (void)
{
  if (shim_failure_counter == NULL)
    {
      /* Should not happen (driver initialises first); fail loudly.  */
      write (STDOUT_FILENO, "error: failure recorded before init\n", 36);
      _exit (1);
    }
  __atomic_add_fetch (shim_failure_counter, 1, __ATOMIC_RELAXED);
}

static SHIM_UNUSED int
support_record_failure_is_failed (void)
{
  return shim_failure_counter != NULL
	 && __atomic_load_n (shim_failure_counter, __ATOMIC_RELAXED) != 0;
}

static SHIM_UNUSED void
write_message (const char *message)
{
  int saved = errno;
  ssize_t unused SHIM_UNUSED = write (STDOUT_FILENO, message, strlen (message));
  errno = saved;
}

/* ---- check.h ----------------------------------------------------- */
static SHIM_UNUSED void
support_print_failure_impl (const char *file, int line,
			    const char *format, va_list ap)
{
  int saved_errno = errno;
  printf ("error: %s:%d: ", file, line);
  errno = saved_errno;	/* So that %m in FORMAT works.  */
  vprintf (format, ap);
  puts ("");
  fflush (stdout);
}

static SHIM_UNUSED __attribute__ ((noreturn, format (printf, 4, 5))) void
support_exit_failure_impl (int status, const char *file, int line,
			   const char *format, ...)
{
  if (status != EXIT_UNSUPPORTED)
    support_record_failure ();
  va_list ap;
  va_start (ap, format);
  support_print_failure_impl (file, line, format, ap);
  va_end (ap);
  exit (status);
}

static SHIM_UNUSED __attribute__ ((format (printf, 3, 4))) void
support_test_verify_impl_fmt (const char *file, int line,
			      const char *format, ...)
{
  support_record_failure ();
  va_list ap;
  va_start (ap, format);
  support_print_failure_impl (file, line, format, ap);
  va_end (ap);
}

static SHIM_UNUSED void
support_test_verify_impl (const char *file, int line, const char *expr)
{
  int saved_errno = errno;
  support_record_failure ();
  printf ("error: %s:%d: not true: %s\n", file, line, expr);
  fflush (stdout);
  errno = saved_errno;
}

static SHIM_UNUSED void
support_test_verify_exit_impl (int status, const char *file, int line,
			       const char *expr)
{
  support_test_verify_impl (file, line, expr);
  exit (status);
}

#define FAIL(...) \
  support_test_verify_impl_fmt (__FILE__, __LINE__, __VA_ARGS__)
#define FAIL_RET(...) \
  return support_exit_failure_impl (1, __FILE__, __LINE__, __VA_ARGS__), 1
#define FAIL_EXIT(status, ...) \
  support_exit_failure_impl (status, __FILE__, __LINE__, __VA_ARGS__)
#define FAIL_EXIT1(...) \
  support_exit_failure_impl (1, __FILE__, __LINE__, __VA_ARGS__)
#define FAIL_UNSUPPORTED(...) \
  support_exit_failure_impl (EXIT_UNSUPPORTED, __FILE__, __LINE__, __VA_ARGS__)

#define TEST_VERIFY(expr)					\
  ({								\
    if (expr)							\
      ;								\
    else							\
      support_test_verify_impl (__FILE__, __LINE__, #expr);	\
  })
#define TEST_VERIFY_EXIT(expr)					\
  ({								\
    if (expr)							\
      ;								\
    else							\
      support_test_verify_exit_impl				\
	(1, __FILE__, __LINE__, #expr);				\
  })

static SHIM_UNUSED void
support_test_compare_failure (const char *file, int line,
			      const char *left_expr, long long left_value,
			      int left_positive, int left_size,
			      const char *right_expr, long long right_value,
			      int right_positive, int right_size)
{
  int saved_errno = errno;
  support_record_failure ();
  printf ("%s:%d: numeric comparison failure\n", file, line);
  if (left_positive)
    printf ("  left: %llu (0x%llx); from: %s\n",
	    (unsigned long long) left_value, (unsigned long long) left_value,
	    left_expr);
  else
    printf ("  left: %lld; from: %s\n", left_value, left_expr);
  if (right_positive)
    printf (" right: %llu (0x%llx); from: %s\n",
	    (unsigned long long) right_value, (unsigned long long) right_value,
	    right_expr);
  else
    printf (" right: %lld; from: %s\n", right_value, right_expr);
  (void) left_size; (void) right_size;
  fflush (stdout);
  errno = saved_errno;
}

/* Like glibc: compare as integers; values are compared after the usual
   conversions of their own types, and a negative/non-negative mismatch
   counts as a failure (glibc rejects that statically or at run time).  */
#define TEST_COMPARE(left, right)					\
  ({									\
    __typeof__ (left) __left_value = (left);				\
    __typeof__ (right) __right_value = (right);				\
    int __left_is_positive = __left_value > 0 || __left_value == 0;	\
    int __right_is_positive = __right_value > 0 || __right_value == 0;	\
    if (__left_is_positive != __right_is_positive			\
	|| (long long) __left_value != (long long) __right_value)	\
      support_test_compare_failure					\
	(__FILE__, __LINE__,						\
	 #left, (long long) __left_value, __left_is_positive,		\
	 (int) sizeof (__left_value),					\
	 #right, (long long) __right_value, __right_is_positive,	\
	 (int) sizeof (__right_value));					\
  })

/* ---- support.h ---------------------------------------------------- */
static SHIM_UNUSED __attribute__ ((noreturn)) void
oom_error (const char *function, size_t size)
{
  printf ("%s: unable to allocate %zu bytes: %m\n", function, size);
  support_record_failure ();
  exit (1);
}

static SHIM_UNUSED void *
xmalloc (size_t n)
{
  void *p = malloc (n);
  if (p == NULL)
    oom_error ("malloc", n);
  return p;
}

static SHIM_UNUSED void *
xcalloc (size_t n, size_t s)
{
  void *p = calloc (n, s);
  if (p == NULL)
    oom_error ("calloc", n * s);
  return p;
}

static SHIM_UNUSED void *
xrealloc (void *o, size_t n)
{
  void *p = realloc (o, n);
  if (p == NULL && n != 0)
    oom_error ("realloc", n);
  return p;
}

static SHIM_UNUSED char *
xstrdup (const char *s)
{
  char *p = strdup (s);
  if (p == NULL)
    oom_error ("strdup", strlen (s));
  return p;
}

struct shim_shared_header { size_t size; max_align_t pad; };

static SHIM_UNUSED void *
support_shared_allocate (size_t size)
{
  size_t total = size + sizeof (struct shim_shared_header);
  void *p = mmap (NULL, total, PROT_READ | PROT_WRITE,
		  MAP_ANONYMOUS | MAP_SHARED, -1, 0);
  if (p == MAP_FAILED)
    oom_error ("support_shared_allocate", size);
  ((struct shim_shared_header *) p)->size = total;
  return (char *) p + sizeof (struct shim_shared_header);
}

static SHIM_UNUSED void
support_shared_free (void *data)
{
  struct shim_shared_header *h
    = (void *) ((char *) data - sizeof (struct shim_shared_header));
  munmap (h, h->size);
}

/* ---- xunistd.h / xsignal.h ---------------------------------------- */
static SHIM_UNUSED pid_t
xfork (void)
{
  pid_t pid = fork ();
  if (pid < 0)
    FAIL_EXIT1 ("fork: %m");
  return pid;
}

static SHIM_UNUSED pid_t
xwaitpid (pid_t pid, int *status, int flags)
{
  pid_t r = waitpid (pid, status, flags);
  if (r < 0)
    FAIL_EXIT1 ("waitpid: %m");
  return r;
}

static SHIM_UNUSED int
xopen (const char *path, int flags, mode_t mode)
{
  int fd = open (path, flags, mode);
  if (fd < 0)
    FAIL_EXIT1 ("open (\"%s\", 0x%x, 0%o): %m", path, flags, mode);
  return fd;
}

static SHIM_UNUSED void
xclose (int fd)
{
  if (close (fd) < 0 && errno != EINTR)
    FAIL_EXIT1 ("close (%d): %m", fd);
}

static SHIM_UNUSED void *
xmmap (void *addr, size_t length, int prot, int flags, int fd)
{
  void *r = mmap (addr, length, prot, flags, fd, 0);
  if (r == MAP_FAILED)
    FAIL_EXIT1 ("mmap of %zu bytes, prot=0x%x, flags=0x%x: %m",
		length, prot, flags);
  return r;
}

static SHIM_UNUSED void
xmunmap (void *addr, size_t length)
{
  if (munmap (addr, length) != 0)
    FAIL_EXIT1 ("munmap of %zu bytes: %m", length);
}

static SHIM_UNUSED sighandler_t
xsignal (int sig, sighandler_t handler)
{
  sighandler_t r = signal (sig, handler);
  if (r == SIG_ERR)
    FAIL_EXIT1 ("signal (%d): %m", sig);
  return r;
}

/* ---- temp_file.h --------------------------------------------------- */
static char *shim_temp_files[64];
static int shim_temp_file_count;
static pid_t shim_temp_owner;

static void
shim_delete_temp_files (void)
{
  if (getpid () != shim_temp_owner)
    return;
  for (int i = 0; i < shim_temp_file_count; ++i)
    unlink (shim_temp_files[i]);
}

static SHIM_UNUSED int
create_temp_file (const char *base, char **filename)
{
  char *name;
  if (asprintf (&name, "/tmp/%sXXXXXX", base) < 0)
    {
      printf ("warning: asprintf failed: %m\n");
      return -1;
    }
  int fd = mkstemp (name);
  if (fd < 0)
    {
      printf ("warning: mkstemp (\"%s\") failed: %m\n", name);
      free (name);
      return -1;
    }
  if (shim_temp_file_count == 0)
    {
      shim_temp_owner = getpid ();
      atexit (shim_delete_temp_files);
    }
  if (shim_temp_file_count < 64)
    shim_temp_files[shim_temp_file_count++] = xstrdup (name);
  if (filename != NULL)
    *filename = name;
  else
    free (name);
  return fd;
}

/* ---- xthread.h ----------------------------------------------------- */
static SHIM_UNUSED void
xpthread_check_return (const char *function, int value)
{
  if (value != 0)
    {
      errno = value;
      FAIL_EXIT1 ("%s: %m", function);
    }
}

static SHIM_UNUSED pthread_t
xpthread_create (pthread_attr_t *attr, void *(*fn) (void *), void *arg)
{
  pthread_t t;
  xpthread_check_return ("pthread_create", pthread_create (&t, attr, fn, arg));
  return t;
}

static SHIM_UNUSED void *
xpthread_join (pthread_t t)
{
  void *r;
  xpthread_check_return ("pthread_join", pthread_join (t, &r));
  return r;
}

static SHIM_UNUSED void
xpthread_barrier_init (pthread_barrier_t *b, pthread_barrierattr_t *a,
		       unsigned int count)
{
  xpthread_check_return ("pthread_barrier_init",
			 pthread_barrier_init (b, a, count));
}

static SHIM_UNUSED int
xpthread_barrier_wait (pthread_barrier_t *b)
{
  int r = pthread_barrier_wait (b);
  if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD)
    xpthread_check_return ("pthread_barrier_wait", r);
  return r == PTHREAD_BARRIER_SERIAL_THREAD;
}

static SHIM_UNUSED void
xpthread_barrier_destroy (pthread_barrier_t *b)
{
  xpthread_check_return ("pthread_barrier_destroy",
			 pthread_barrier_destroy (b));
}

static SHIM_UNUSED void
xpthread_barrierattr_init (pthread_barrierattr_t *a)
{
  xpthread_check_return ("pthread_barrierattr_init",
			 pthread_barrierattr_init (a));
}

static SHIM_UNUSED void
xpthread_barrierattr_setpshared (pthread_barrierattr_t *a, int pshared)
{
  xpthread_check_return ("pthread_barrierattr_setpshared",
			 pthread_barrierattr_setpshared (a, pshared));
}

static SHIM_UNUSED void
xpthread_barrierattr_destroy (pthread_barrierattr_t *a)
{
  xpthread_check_return ("pthread_barrierattr_destroy",
			 pthread_barrierattr_destroy (a));
}

static SHIM_UNUSED void
xpthread_kill (pthread_t t, int sig)
{
  xpthread_check_return ("pthread_kill", pthread_kill (t, sig));
}

static SHIM_UNUSED void
xpthread_mutex_lock (pthread_mutex_t *m)
{
  xpthread_check_return ("pthread_mutex_lock", pthread_mutex_lock (m));
}

static SHIM_UNUSED void
xpthread_mutex_unlock (pthread_mutex_t *m)
{
  xpthread_check_return ("pthread_mutex_unlock", pthread_mutex_unlock (m));
}

#endif /* SHIM_SUPPORT_H */
