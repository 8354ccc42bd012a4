/*
 * fork.c - fork() while the heap is busy (run with LD_PRELOAD).
 *
 *  fork_threads  4 threads allocate/free in a loop while the main thread
 *                forks 50 times; each child checks and frees blocks it
 *                inherited (from the main thread and from the workers' own
 *                heaps), mallocs/reallocs/frees TINY/SMALL/LARGE blocks and
 *                _exit(0)s.  A child stuck on a lock is killed by its alarm(10)
 *                and reported as a deadlock.
 *  fork_signal   fork() from a SIGPROF handler (setitimer) while the main
 *                thread loops on malloc/free (the idea of glibc's
 *                tst-mallocfork2); children _exit(0) at once; 300 forks.
 *                alarm(30) turns a deadlock into a failure.
 *  fork_nested   fork() from a SIGPROF handler (every 200 us) that interrupts
 *                the main thread's own fork() loop, so that a fork runs between
 *                another's atfork prepare and parent handlers; the main thread
 *                mallocs LARGE blocks (a lock) between its forks. 600 forks;
 *                alarm(30). (glibc's tst-mallocfork2: the nested fork took no
 *                lock, recorded that over the outer fork's record, and the
 *                outer fork then released none: the next slow path spun for
 *                ever.)
 *  fork_stdio    for 1.5 s, one thread forks, two getline() a 50 KB line
 *                (holding the stream's lock while realloc runs) and one calls
 *                fflush(NULL) (holding glibc's list of streams while it takes
 *                each stream's lock); alarm(30). (glibc's
 *                tst-malloc-fork-deadlock: the allocator's locks must come after
 *                that list in fork, as glibc's fork takes it after the prepare
 *                handlers.)
 */
#include "t.h"
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

#define WORKERS 4
#define FORKS 50

static volatile int stop;

/* blocks each worker allocates first and never touches again; children
 * free them (blocks owned by threads that do not exist in the child) */
#define GIFTS 16
static void *gifts[WORKERS][GIFTS];
static size_t gift_n[WORKERS][GIFTS];
static pthread_mutex_t gift_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gift_cv = PTHREAD_COND_INITIALIZER;
static int gifts_ready;

static size_t rand_size(uint64_t *rs)
{
	return t_mixed_size(rs, 60, 300000);
}

static void *worker(void *arg)
{
	long id = (long)arg;
	uint64_t rs = 31 + (uint64_t)id;
	struct {
		unsigned char *p;
		size_t n;
	} slots[64] = {{0}};

	for (int k = 0; k < GIFTS; k++) {
		gift_n[id][k] = rand_size(&rs);
		gifts[id][k] = malloc(gift_n[id][k]);
		CHECK(gifts[id][k] != NULL, "worker %ld: malloc failed", id);
		t_fill(gifts[id][k], gift_n[id][k], (uintptr_t)gifts[id][k]);
	}
	pthread_mutex_lock(&gift_mu);
	gifts_ready++;
	pthread_cond_broadcast(&gift_cv);
	pthread_mutex_unlock(&gift_mu);

	while (!stop) {
		int k = (int)(t_rand(&rs) % 64);
		if (slots[k].p) {
			CHECK(t_check_sparse(slots[k].p, slots[k].n, (uintptr_t)slots[k].p),
			      "worker %ld: block corrupted", id);
			if (t_rand(&rs) % 2) {
				free(slots[k].p);
				slots[k].p = NULL;
				continue;
			}
			size_t n = rand_size(&rs);
			unsigned char *q = realloc(slots[k].p, n);
			CHECK(q != NULL, "worker %ld: realloc failed", id);
			slots[k].p = q;
			slots[k].n = n;
		} else {
			slots[k].n = rand_size(&rs);
			slots[k].p = malloc(slots[k].n);
			CHECK(slots[k].p != NULL, "worker %ld: malloc failed", id);
		}
		t_fill_sparse(slots[k].p, slots[k].n, (uintptr_t)slots[k].p);
	}
	for (int k = 0; k < 64; k++)
		free(slots[k].p);
	return NULL;
}

/* what the child does: must not deadlock, must find a consistent heap */
static void child_work(void **inh, const size_t *inh_n, int n_inh, int round)
{
	alarm(10);
	for (int i = 0; i < n_inh; i++) {
		CHECK(t_check(inh[i], inh_n[i], (uintptr_t)inh[i]) == (size_t)-1,
		      "child %d: inherited block corrupted", round);
		if (i % 3 == 0) {
			free(inh[i]);
		} else if (i % 3 == 1) {
			unsigned char *q = realloc(inh[i], inh_n[i] * 2 + 1);
			CHECK(q != NULL, "child %d: realloc of an inherited block failed", round);
			CHECK(t_check(q, inh_n[i], (uintptr_t)inh[i]) == (size_t)-1,
			      "child %d: realloc lost content", round);
			free(q);
		}
	}
	for (int w = 0; w < WORKERS; w++)
		for (int k = 0; k < GIFTS; k++) {
			CHECK(t_check(gifts[w][k], gift_n[w][k], (uintptr_t)gifts[w][k]) == (size_t)-1,
			      "child %d: block of worker %d corrupted", round, w);
			if (k % 2) {
				free(gifts[w][k]);
			} else {
				unsigned char *q = realloc(gifts[w][k], gift_n[w][k] + 5000);
				CHECK(q != NULL, "child %d: realloc of a worker's block failed", round);
				CHECK(t_check(q, gift_n[w][k], (uintptr_t)gifts[w][k]) == (size_t)-1,
				      "child %d: realloc of a worker's block lost content", round);
				free(q);
			}
		}
	uint64_t rs = 1234 + (uint64_t)round;
	void *mine[100];
	size_t mn[100];
	for (int i = 0; i < 100; i++) {
		mn[i] = i == 0 ? (size_t)1 << 20 : rand_size(&rs);
		mine[i] = i % 7 == 0 ? calloc(1, mn[i]) : malloc(mn[i]);
		CHECK(mine[i] != NULL, "child %d: allocation of %zu bytes failed", round, mn[i]);
		t_fill(mine[i], mn[i], (uintptr_t)mine[i]);
	}
	for (int i = 0; i < 100; i++) {
		CHECK(t_check(mine[i], mn[i], (uintptr_t)mine[i]) == (size_t)-1,
		      "child %d: block corrupted", round);
		free(mine[i]);
	}
	_exit(0);
}

static void fork_threads(void)
{
	pthread_t th[WORKERS];
	enum { INH = 30 };
	void *inh[INH];
	size_t inh_n[INH];
	uint64_t rs = 5;

	for (int i = 0; i < INH; i++) {
		inh_n[i] = rand_size(&rs);
		inh[i] = malloc(inh_n[i]);
		CHECK(inh[i] != NULL, "malloc failed");
		t_fill(inh[i], inh_n[i], (uintptr_t)inh[i]);
	}
	for (long i = 0; i < WORKERS; i++)
		CHECK(pthread_create(&th[i], NULL, worker, (void *)i) == 0, "pthread_create failed");
	pthread_mutex_lock(&gift_mu);
	while (gifts_ready < WORKERS)
		pthread_cond_wait(&gift_cv, &gift_mu);
	pthread_mutex_unlock(&gift_mu);
	for (int round = 0; round < FORKS; round++) {
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
		pid_t pid = fork();
		CHECK(pid >= 0, "fork failed: errno %d", errno);
		if (pid == 0)
			child_work(inh, inh_n, INH, round);
		int st;
		pid_t w;
		while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
			;
		CHECK(w == pid, "waitpid failed");
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
			FAILF("child %d deadlocked (killed by its 10 s alarm)", round);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed: status %#x", round, st);
		/* the parent's heap is fine too */
		void *p = malloc(100);
		CHECK(p != NULL, "parent malloc failed after fork");
		free(p);
	}
	stop = 1;
	for (int i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < INH; i++) {
		CHECK(t_check(inh[i], inh_n[i], (uintptr_t)inh[i]) == (size_t)-1,
		      "parent: block modified by a child");
		free(inh[i]);
	}
	for (int w = 0; w < WORKERS; w++)
		for (int k = 0; k < GIFTS; k++) {
			CHECK(t_check(gifts[w][k], gift_n[w][k], (uintptr_t)gifts[w][k]) == (size_t)-1,
			      "parent: worker block modified by a child");
			free(gifts[w][k]);
		}
	t_heap_check(5000, 21);
}

/* ---------------------------------------------------------------- */

/* SIGPROF to `handler` every `usec` microseconds of the process's CPU time (SA_RESTART). */
static void start_prof_timer(void (*handler)(int), long usec)
{
	struct sigaction sa;
	struct itimerval it;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGPROF, &sa, NULL) == 0, "sigaction failed");
	it.it_interval.tv_sec = 0;
	it.it_interval.tv_usec = usec;
	it.it_value = it.it_interval;
	CHECK(setitimer(ITIMER_PROF, &it, NULL) == 0, "setitimer failed");
}

static void stop_prof_timer(void)
{
	struct itimerval it;

	memset(&it, 0, sizeof it);
	setitimer(ITIMER_PROF, &it, NULL);
}

#define SIG_FORKS 300

static volatile sig_atomic_t n_forks, fork_errors;

static void on_prof(int sig)
{
	(void)sig;
	int saved = errno;
	if (n_forks >= SIG_FORKS) {
		errno = saved;
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		fork_errors++;
	else
		n_forks++;
	errno = saved;
}

static int reap(int block, int *reaped)
{
	int st;
	pid_t w;
	while ((w = waitpid(-1, &st, block ? 0 : WNOHANG)) != 0) {
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return 0; /* ECHILD */
		}
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "a child forked from the signal handler failed: status %#x", st);
		(*reaped)++;
		if (!block)
			break;
	}
	return 0;
}

static void fork_signal(void)
{
	uint64_t rs = 9;
	int reaped = 0;
	enum { LIVE = 32 };
	unsigned char *live[LIVE] = {0};
	size_t ln[LIVE] = {0};

	alarm(30); /* default action kills us: a deadlock becomes a failure */
	start_prof_timer(on_prof, 1000);

	for (long iter = 0; n_forks < SIG_FORKS; iter++) {
		int k = (int)(t_rand(&rs) % LIVE);
		if (live[k]) {
			CHECK(t_check_sparse(live[k], ln[k], (uintptr_t)live[k]),
			      "block corrupted while forking from a signal handler");
			free(live[k]);
		}
		ln[k] = rand_size(&rs);
		live[k] = iter % 5 == 0 ? calloc(ln[k], 1) : malloc(ln[k]);
		CHECK(live[k] != NULL, "malloc failed");
		t_fill_sparse(live[k], ln[k], (uintptr_t)live[k]);
		if (iter % 64 == 0)
			reap(0, &reaped);
		CHECK(fork_errors == 0, "fork() in the signal handler failed");
	}
	stop_prof_timer();
	reap(1, &reaped);
	CHECK(reaped == SIG_FORKS, "reaped %d children, want %d", reaped, SIG_FORKS);
	for (int k = 0; k < LIVE; k++)
		free(live[k]);
	t_heap_check(5000, 22);
	alarm(0);
}

/* ---------------------------------------------------------------- */

#define NESTED_FORKS 600

static void on_prof_fork(int sig)
{
	(void)sig;
	int saved = errno;
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	errno = saved;
}

static void fork_nested(void)
{
	alarm(30); /* default action kills us: a deadlock becomes a failure */
	start_prof_timer(on_prof_fork, 200);
	for (int i = 0; i < NESTED_FORKS; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		CHECK(pid > 0, "fork failed");
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		void *p = malloc(100000);
		CHECK(p != NULL, "malloc failed");
		memset(p, 1, 100000);
		free(p);
	}
	stop_prof_timer();
	alarm(0);
	t_heap_check(5000, 23);
}

static volatile int stdio_stop;

static void *stdio_forker(void *arg)
{
	(void)arg;
	while (!stdio_stop) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	return NULL;
}

static void *stdio_reader(void *arg)
{
	FILE *f = fopen((const char *)arg, "r");
	if (f == NULL)
		return (void *)1;
	while (!stdio_stop) {
		char *line = NULL;
		size_t n = 0;
		rewind(f);
		if (getline(&line, &n, f) != 50001) {
			free(line);
			fclose(f);
			return (void *)1;
		}
		free(line);
	}
	fclose(f);
	return NULL;
}

static void *stdio_flusher(void *arg)
{
	(void)arg;
	while (!stdio_stop)
		fflush(NULL);
	return NULL;
}

static void fork_stdio(void)
{
	char path[] = "/tmp/ft_malloc_fork_stdio_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0, "mkstemp failed");
	FILE *f = fdopen(fd, "w");
	CHECK(f != NULL, "fdopen failed");
	for (int i = 0; i < 50000; i++)
		fputc('x', f);
	fputc('\n', f);
	fclose(f);

	alarm(30); /* default action kills us: a deadlock becomes a failure */
	pthread_t th[4];
	CHECK(pthread_create(&th[0], NULL, stdio_forker, NULL) == 0, "pthread_create");
	CHECK(pthread_create(&th[1], NULL, stdio_reader, path) == 0, "pthread_create");
	CHECK(pthread_create(&th[2], NULL, stdio_reader, path) == 0, "pthread_create");
	CHECK(pthread_create(&th[3], NULL, stdio_flusher, NULL) == 0, "pthread_create");
	usleep(1500 * 1000);
	stdio_stop = 1;
	for (int i = 0; i < 4; i++) {
		void *r;
		CHECK(pthread_join(th[i], &r) == 0 && r == NULL, "thread %d failed", i);
	}
	unlink(path);
	alarm(0);
}

T_MAIN(T(fork_threads), T(fork_signal), T(fork_nested), T(fork_stdio))
