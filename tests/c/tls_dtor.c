/*
 * tls_dtor.c - allocation from thread and process teardown code (LD_PRELOAD).
 *
 *  key_dtor        64 threads with 4 pthread keys each; every destructor checks
 *                  and frees its value, mallocs/frees, allocates a block handed
 *                  to the main thread, and re-sets its key once so it runs a
 *                  second time (after the library's own thread cleanup may have
 *                  run).  Main checks each destructor ran exactly twice and
 *                  verifies/frees the handed-over blocks.
 *  thread_atexit   __thread data released by destructors registered with
 *                  __cxa_thread_atexit_impl (what C++ thread_local uses), which
 *                  also malloc/free and hand blocks to main; threads also end
 *                  with pthread_exit.
 *  process_dtor    an atexit handler and an __attribute__((destructor)) function
 *                  malloc, realloc and free after main returned, and free blocks
 *                  allocated by main and by exited threads.  The destructor
 *                  prints T_DONE, so a run where it never ran fails.
 *  exit_busy       30 child processes each start 4 threads that malloc/free
 *                  (1 B..70 KB, contents checked) without end, then exit() while
 *                  they run; the child's atexit handler allocates (4 KB and 4 MiB
 *                  blocks) and reports through a pipe.  Every child must exit 0
 *                  and report, within the alarm.
 */
#include "t.h"
#include <pthread.h>
#include <sys/wait.h>

extern int __cxa_thread_atexit_impl(void (*func)(void *), void *obj, void *dso_symbol);
extern void *__dso_handle;

#define NTH 64
#define NKEYS 4

struct handed {
	void *p;
	size_t n;
	uint64_t seed;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct handed handed[NTH * NKEYS * 2 + NTH * 2];
static int n_handed;
static int runs[NTH][NKEYS];
static int atexit_runs[NTH];

static void hand_over(size_t n, uint64_t seed)
{
	void *p = malloc(n);
	CHECK(p != NULL, "malloc(%zu) in a thread destructor failed", n);
	t_fill(p, n, seed);
	pthread_mutex_lock(&mu);
	CHECK(n_handed < (int)(sizeof handed / sizeof *handed), "too many blocks");
	handed[n_handed].p = p;
	handed[n_handed].n = n;
	handed[n_handed].seed = seed;
	n_handed++;
	pthread_mutex_unlock(&mu);
}

static void churn(uint64_t seed)
{
	void *tmp[16];
	for (int i = 0; i < 16; i++) {
		size_t n = (size_t)(t_mix(seed + (uint64_t)i) % 40000) + 1;
		tmp[i] = malloc(n);
		CHECK(tmp[i] != NULL, "malloc(%zu) in a destructor failed", n);
		memset(tmp[i], i, n);
	}
	for (int i = 0; i < 16; i += 2) {
		tmp[i] = realloc(tmp[i], 100);
		CHECK(tmp[i] != NULL, "realloc in a destructor failed");
	}
	for (int i = 0; i < 16; i++)
		free(tmp[i]);
}

struct kstate {
	int thread, key, round;
	unsigned char *buf;
	size_t n;
};

static pthread_key_t keys[NKEYS];

static size_t size_for(int thread, int key, int round)
{
	static const size_t s[] = {24, 300, 2000, 30000, 100000, 700};
	return s[(thread + key * 3 + round) % 6];
}

static void key_destructor(void *v)
{
	struct kstate *s = v;
	CHECK(t_check(s->buf, s->n, (uintptr_t)s) == (size_t)-1,
	      "thread %d key %d: value corrupted before its destructor", s->thread, s->key);
	free(s->buf);
	churn((uint64_t)s->thread * 100 + (uint64_t)s->key);
	hand_over(size_for(s->thread, s->key, s->round), (uint64_t)s->thread << 8 | (uint64_t)s->key << 4 | (uint64_t)s->round);
	pthread_mutex_lock(&mu);
	runs[s->thread][s->key]++;
	pthread_mutex_unlock(&mu);
	if (s->round == 0) {
		s->round = 1;
		s->n = size_for(s->thread, s->key, 7);
		s->buf = malloc(s->n);
		CHECK(s->buf != NULL, "malloc in a key destructor failed");
		t_fill(s->buf, s->n, (uintptr_t)s);
		CHECK(pthread_setspecific(keys[s->key], s) == 0, "pthread_setspecific in destructor failed");
	} else {
		free(s);
	}
}

static void *key_thread(void *arg)
{
	int id = (int)(long)arg;
	for (int k = 0; k < NKEYS; k++) {
		struct kstate *s = malloc(sizeof *s);
		CHECK(s != NULL, "malloc failed");
		s->thread = id;
		s->key = k;
		s->round = 0;
		s->n = size_for(id, k, 0);
		s->buf = malloc(s->n);
		CHECK(s->buf != NULL, "malloc failed");
		t_fill(s->buf, s->n, (uintptr_t)s);
		CHECK(pthread_setspecific(keys[k], s) == 0, "setspecific failed");
	}
	/* some normal work so the library has per-thread state to tear down */
	churn((uint64_t)id);
	if (id % 2)
		pthread_exit(NULL);
	return NULL;
}

static void check_handed(int want)
{
	CHECK(n_handed == want, "%d blocks handed over by destructors, want %d", n_handed, want);
	for (int i = 0; i < n_handed; i++) {
		size_t off = t_check(handed[i].p, handed[i].n, handed[i].seed);
		CHECK(off == (size_t)-1, "block allocated in a destructor (%zu bytes) corrupted at %zu",
		      handed[i].n, off);
		free(handed[i].p);
	}
	n_handed = 0;
}

static void key_dtor(void)
{
	for (int k = 0; k < NKEYS; k++)
		CHECK(pthread_key_create(&keys[k], key_destructor) == 0, "pthread_key_create failed");
	for (int wave = 0; wave < 4; wave++) {
		pthread_t th[NTH / 4];
		for (int i = 0; i < NTH / 4; i++)
			CHECK(pthread_create(&th[i], NULL, key_thread, (void *)(long)(wave * NTH / 4 + i)) == 0,
			      "pthread_create failed");
		for (int i = 0; i < NTH / 4; i++)
			pthread_join(th[i], NULL);
	}
	for (int t = 0; t < NTH; t++)
		for (int k = 0; k < NKEYS; k++)
			CHECK(runs[t][k] == 2, "thread %d key %d: destructor ran %d times, want 2", t, k,
			      runs[t][k]);
	check_handed(NTH * NKEYS * 2);
	t_heap_check(5000, 31);
}

/* ---------------------------------------------------------------- */

static __thread unsigned char *tls_buf;
static __thread size_t tls_n;
static __thread int tls_id;

static void tls_destructor(void *arg)
{
	int id = (int)(long)arg;
	CHECK(id == tls_id, "thread_atexit destructor got the wrong argument");
	CHECK(tls_buf != NULL, "__thread buffer missing in its destructor");
	CHECK(t_check(tls_buf, tls_n, (uint64_t)id) == (size_t)-1,
	      "__thread buffer corrupted before its destructor (thread %d)", id);
	free(tls_buf);
	tls_buf = NULL;
	churn((uint64_t)id * 7);
	hand_over(size_for(id, 1, 1), (uint64_t)id * 31);
	pthread_mutex_lock(&mu);
	atexit_runs[id]++;
	pthread_mutex_unlock(&mu);
}

/* a second destructor, registered after the first one: runs before it
 * (reverse order of registration) */
static void tls_destructor2(void *arg)
{
	int id = (int)(long)arg;
	hand_over(size_for(id, 2, 2), (uint64_t)id * 37);
	void *p = malloc(5000);
	CHECK(p != NULL, "malloc in thread_atexit destructor failed");
	free(p);
	pthread_mutex_lock(&mu);
	atexit_runs[id] += 100;
	pthread_mutex_unlock(&mu);
}

static void *atexit_thread(void *arg)
{
	int id = (int)(long)arg;
	tls_id = id;
	tls_n = size_for(id, 0, 0);
	tls_buf = malloc(tls_n);
	CHECK(tls_buf != NULL, "malloc failed");
	t_fill(tls_buf, tls_n, (uint64_t)id);
	CHECK(__cxa_thread_atexit_impl(tls_destructor, arg, &__dso_handle) == 0,
	      "__cxa_thread_atexit_impl failed");
	churn((uint64_t)id + 1000);
	CHECK(__cxa_thread_atexit_impl(tls_destructor2, arg, &__dso_handle) == 0,
	      "__cxa_thread_atexit_impl failed");
	if (id % 3 == 0)
		pthread_exit(NULL);
	return NULL;
}

static void thread_atexit(void)
{
	pthread_t th[NTH];
	for (int i = 0; i < NTH; i++)
		CHECK(pthread_create(&th[i], NULL, atexit_thread, (void *)(long)i) == 0,
		      "pthread_create failed");
	for (int i = 0; i < NTH; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NTH; i++)
		CHECK(atexit_runs[i] == 101, "thread %d: thread_atexit destructors ran %d/%d times, want 1/1",
		      i, atexit_runs[i] % 100, atexit_runs[i] / 100);
	check_handed(NTH * 2);
	t_heap_check(5000, 32);
}

/* ---------------------------------------------------------------- */

static int process_dtor_active;
static struct handed from_main[8], from_atexit;

static void at_exit_handler(void)
{
	if (!process_dtor_active)
		return;
	from_atexit.n = 5000;
	from_atexit.p = malloc(from_atexit.n);
	CHECK(from_atexit.p != NULL, "malloc in an atexit handler failed");
	t_fill(from_atexit.p, from_atexit.n, 77);
	churn(78);
}

__attribute__((destructor)) static void process_destructor(void)
{
	if (!process_dtor_active)
		return;
	churn(79);
	for (int i = 0; i < 8; i++) {
		CHECK(t_check(from_main[i].p, from_main[i].n, from_main[i].seed) == (size_t)-1,
		      "block from main corrupted at destructor time");
		if (i % 2) {
			free(from_main[i].p);
		} else {
			void *q = realloc(from_main[i].p, from_main[i].n * 3);
			CHECK(q != NULL, "realloc in a destructor failed");
			CHECK(t_check(q, from_main[i].n, from_main[i].seed) == (size_t)-1,
			      "realloc in a destructor lost content");
			free(q);
		}
	}
	CHECK(from_atexit.p && t_check(from_atexit.p, from_atexit.n, 77) == (size_t)-1,
	      "block from the atexit handler missing or corrupted");
	free(from_atexit.p);
	/* blocks allocated by threads that are gone */
	check_handed(NTH * NKEYS * 2 / 4);
	t_heap_check(2000, 33);
	t_puts(1, "T_DONE\n");
}

static void process_dtor(void)
{
	static const size_t sizes[8] = {1, 100, 512, 513, 5000, 32768, 32769, 1 << 20};
	process_dtor_active = 1;
	t_puts(1, "T_PENDING\n");
	CHECK(atexit(at_exit_handler) == 0, "atexit failed");
	for (int i = 0; i < 8; i++) {
		from_main[i].n = sizes[i];
		from_main[i].p = malloc(sizes[i]);
		from_main[i].seed = (uint64_t)i + 500;
		CHECK(from_main[i].p != NULL, "malloc failed");
		t_fill(from_main[i].p, sizes[i], from_main[i].seed);
	}
	/* threads whose key destructors hand blocks over; freed in the
	 * process destructor */
	for (int k = 0; k < NKEYS; k++)
		CHECK(pthread_key_create(&keys[k], key_destructor) == 0, "pthread_key_create failed");
	pthread_t th[NTH / 4];
	for (int i = 0; i < NTH / 4; i++)
		CHECK(pthread_create(&th[i], NULL, key_thread, (void *)(long)i) == 0,
		      "pthread_create failed");
	for (int i = 0; i < NTH / 4; i++)
		pthread_join(th[i], NULL);
}

static int exit_pipe = -1;

static void *busy_thread(void *arg)
{
	uint64_t rs = (uint64_t)(uintptr_t)arg * 7919 + 1;
	struct handed v[32] = {{0}};
	for (uint64_t step = 0;; step++) {
		int k = (int)t_range(&rs, 0, 31);
		if (v[k].p) {
			if (t_check(v[k].p, v[k].n, v[k].seed) != (size_t)-1)
				_exit(3); /* contents changed under a running thread */
			free(v[k].p);
		}
		v[k].n = t_range(&rs, 1, 70000);
		v[k].seed = step;
		v[k].p = malloc(v[k].n);
		if (!v[k].p)
			_exit(4);
		t_fill(v[k].p, v[k].n, step);
	}
	return NULL;
}

static void busy_at_exit(void)
{
	char *a = malloc(4096), *b = malloc((size_t)4 << 20);
	if (!a || !b)
		_exit(5);
	memset(a, 1, 4096);
	memset(b, 2, (size_t)4 << 20);
	free(a);
	free(b);
	if (write(exit_pipe, "x", 1) != 1)
		_exit(6);
}

static void exit_busy(void)
{
	alarm(60);
	for (int i = 0; i < 30; i++) {
		int fds[2];
		CHECK(pipe(fds) == 0, "pipe failed");
		pid_t pid = fork();
		CHECK(pid >= 0, "fork failed");
		if (pid == 0) {
			close(fds[0]);
			exit_pipe = fds[1];
			if (atexit(busy_at_exit) != 0)
				_exit(7);
			for (long t = 0; t < 4; t++) {
				pthread_t th;
				if (pthread_create(&th, NULL, busy_thread, (void *)(t + 1 + i * 4)) != 0)
					_exit(8);
			}
			usleep(500 + (useconds_t)i * 200);
			exit(0);
		}
		close(fds[1]);
		char c;
		ssize_t got = read(fds[0], &c, 1);
		close(fds[0]);
		int st;
		CHECK(waitpid(pid, &st, 0) == pid, "waitpid failed");
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: %s %d", i,
		      WIFEXITED(st) ? "exit status" : "killed by signal",
		      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		CHECK(got == 1, "child %d: the atexit handler did not report", i);
	}
}

T_MAIN(T(key_dtor), T(thread_atexit), T(process_dtor), T(exit_busy))
