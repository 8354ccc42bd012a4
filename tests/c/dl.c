/*
 * dl.c - the dynamic loader and libc's dl* functions on top of ft_malloc
 * (LD_PRELOAD; linked against libearly.so, see early.c).
 *
 *  dlerror_threads  8 threads x 200 rounds: dlopen() of a missing library
 *                   and dlerror() (libc allocates the message), dlsym() of
 *                   "malloc" (= the preloaded one) and of a missing symbol
 *                   + dlerror(); every 10th round dlopen/dlsym(cos)/dlclose
 *                   of libm.so.6
 *  libm_cos         dlopen("libm.so.6"), cos through dlsym, 50 times
 *  early_ctor       the blocks allocated by libearly.so's constructor (which
 *                   runs before ft_malloc's) are intact and can be freed
 *  deepbind         dlopen("libplug.so", RTLD_NOW | RTLD_DEEPBIND), by its bare
 *                   name: found through this program's RUNPATH (the dlopen that
 *                   ft_malloc exports must leave the caller as it was), and the
 *                   plugin's malloc and free are ft_malloc's (RTLD_DEEPBIND would
 *                   bind them to libc's: PHP's extensions crash so); blocks cross
 *                   between the program and the plugin both ways
 */
#include "t.h"
#include <pthread.h>

int early_check(void);

enum { THREADS = 8, ROUNDS = 200 };

static void *the_malloc; /* dlsym(RTLD_DEFAULT, "malloc") seen by main */

static void check_libm(void)
{
	void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
	CHECK(h != NULL, "dlopen(libm.so.6) failed: %s", dlerror());
	double (*cosp)(double) = (double (*)(double))dlsym(h, "cos");
	CHECK(cosp != NULL, "dlsym(libm, cos) failed: %s", dlerror());
	double c0 = cosp(0.0), c1 = cosp(3.14159265358979323846), c2 = cosp(1.0);
	CHECK(c0 == 1.0, "cos(0) = %g", c0);
	CHECK(c1 < -0.999999999 && c1 > -1.000000001, "cos(pi) = %.12g", c1);
	CHECK(c2 > 0.5403023058 && c2 < 0.5403023059, "cos(1) = %.12g", c2);
	CHECK(dlclose(h) == 0, "dlclose(libm) failed: %s", dlerror());
}

static void dl_round(int t, int r)
{
	char name[64];
	snprintf(name, sizeof name, "libft_no_such_lib_%d_%d.so", t, r % 7);
	void *h = dlopen(name, RTLD_NOW);
	CHECK(h == NULL, "dlopen(%s) succeeded", name);
	const char *e = dlerror();
	CHECK(e != NULL, "dlerror() after a failed dlopen is NULL");
	CHECK(strstr(e, name) != NULL, "dlerror() = \"%s\", want it to name %s", e, name);
	CHECK(dlerror() == NULL, "a second dlerror() is not NULL");

	void *m = dlsym(RTLD_DEFAULT, "malloc");
	CHECK(m == the_malloc, "dlsym(malloc) = %p in a thread, %p in main", m, the_malloc);

	snprintf(name, sizeof name, "ft_no_such_symbol_%d_%d", t, r % 5);
	void *s = dlsym(RTLD_DEFAULT, name);
	CHECK(s == NULL, "dlsym(%s) = %p", name, s);
	e = dlerror();
	CHECK(e != NULL && strstr(e, name) != NULL, "dlerror() = \"%s\", want it to name %s",
	      e ? e : "(null)", name);

	/* ordinary allocations in between, checked */
	size_t n = 1 + (size_t)(t * 131 + r * 17) % 5000;
	unsigned char *p = malloc(n);
	CHECK(p != NULL, "malloc(%zu) failed", n);
	t_fill(p, n, (uint64_t)(t * 1000 + r));
	if (r % 10 == 0)
		check_libm();
	CHECK(t_check(p, n, (uint64_t)(t * 1000 + r)) == (size_t)-1, "block corrupted");
	free(p);
}

static void *dl_thread(void *arg)
{
	int t = (int)(intptr_t)arg;
	for (int r = 0; r < ROUNDS; r++)
		dl_round(t, r);
	return NULL;
}

static void dlerror_threads(void)
{
	pthread_t th[THREADS];

	the_malloc = dlsym(RTLD_DEFAULT, "malloc");
	CHECK(the_malloc != NULL, "dlsym(malloc) failed");
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_create(&th[i], NULL, dl_thread, (void *)(intptr_t)i) == 0,
		      "pthread_create failed");
	dl_round(THREADS, 0);
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_join(th[i], NULL) == 0, "pthread_join failed");
	t_heap_check(2000, 11);
}

static void libm_cos(void)
{
	for (int i = 0; i < 50; i++)
		check_libm();
	t_heap_check(2000, 12);
}

static void early_ctor(void)
{
	int r = early_check();
	CHECK(r == 0, "early_check() = %d (1: constructor not run, 2: its malloc failed, "
		      "3: usable size too small, 4: content changed, 5: realloc failed)", r);
	t_heap_check(2000, 13);
}

static void deepbind(void)
{
	void *h = dlopen("libplug.so", RTLD_NOW | RTLD_DEEPBIND);
	CHECK(h != NULL, "dlopen(libplug.so, RTLD_DEEPBIND) failed: %s", dlerror());
	void *(*alloc)(size_t) = (void *(*)(size_t))dlsym(h, "plug_alloc");
	void (*release)(void *) = (void (*)(void *))dlsym(h, "plug_free");
	void *(*malloc_address)(void) = (void *(*)(void))dlsym(h, "plug_malloc_address");
	CHECK(alloc && release && malloc_address, "dlsym in libplug.so failed");
	void *ours = dlsym(RTLD_DEFAULT, "malloc");
	CHECK(malloc_address() == ours, "the plugin's malloc is %p, the program's %p", malloc_address(), ours);
	for (int i = 0; i < 1000; i++) {
		size_t n = (size_t)(i * 37) % 70000 + 1;
		char *p = alloc(n); /* the plugin's malloc, the program's free */
		CHECK(p != NULL && malloc_usable_size(p) >= n, "plug_alloc(%zu)", n);
		memset(p, 1, n);
		free(p);
		p = malloc(n); /* and the other way round */
		CHECK(p != NULL, "malloc(%zu)", n);
		memset(p, 2, n);
		release(p);
	}
	CHECK(dlclose(h) == 0, "dlclose: %s", dlerror());
}

T_MAIN(T(dlerror_threads), T(libm_cos), T(early_ctor), T(deepbind))
