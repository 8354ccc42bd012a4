/*
 * oom.c - running out of memory (run with LD_PRELOAD).  Each test first
 * limits its address space (setrlimit RLIMIT_AS) to what is mapped at start
 * plus 256 MiB.
 *
 *  oom_large   16 MiB blocks until NULL (errno ENOMEM); free all; the same
 *              number fits again (nothing leaked); a 16 MiB malloc works
 *  oom_small   4000-byte blocks until NULL (ENOMEM); free all; then a 64 MiB
 *              malloc must succeed (emptied SMALL zones are given back)
 *  oom_tiny    same with 100-byte blocks
 *  oom_apis    with the space exhausted: calloc, realloc (block intact),
 *              reallocarray, posix_memalign, aligned_alloc, memalign, valloc,
 *              pvalloc return NULL / ENOMEM instead of crashing; afterwards
 *              everything works again
 *  small_as    a program started under RLIMIT_AS of 24 MiB (ulimit -v 24576)
 *              loads the library and allocates small, SMALL and LARGE blocks
 *              (the library's own address space must stay small: a registry
 *              covering the whole 47-bit space took 32 MiB of it)
 *  reservation after its first block, the program reserves 8 TiB of address
 *              space (mmap PROT_NONE, as InnoDB does at start, or a JVM for
 *              its heap: the kernel puts it over the registry's window), then
 *              allocates 300 MB of 16..2000-byte blocks: none NULL, contents
 *              kept; realloc, malloc_usable_size and a double free behave;
 *              all freed, then 300 MB again (MariaDB could not start: malloc
 *              returned NULL once the window's room was gone)
 */
#include "t.h"

#include <sys/mman.h>
#include <sys/wait.h>

#define LIMIT ((size_t)256 << 20)
#define MiB ((size_t)1 << 20)

static int fill_until_null(void **v, int cap, size_t n, int touch)
{
	int i;
	for (i = 0; i < cap; i++) {
		errno = 0;
		v[i] = malloc(n);
		if (!v[i]) {
			CHECK(errno == ENOMEM, "malloc(%zu) returned NULL with errno %d, want ENOMEM", n,
			      errno);
			return i;
		}
		if (touch)
			memset(v[i], 0xAB, n);
		else
			((char *)v[i])[0] = 1;
	}
	FAILF("%d allocations of %zu bytes never failed: RLIMIT_AS of +256 MiB not effective?", cap, n);
}

static void oom_large(void)
{
	void *v[64];
	int first = 0;

	t_limit_as(LIMIT);
	for (int round = 0; round < 3; round++) {
		int n = fill_until_null(v, 64, 16 * MiB, 0);
		CHECK(n >= 10, "round %d: only %d x 16 MiB fit in 256 MiB", round, n);
		if (round == 0)
			first = n;
		else
			CHECK(n >= first, "round %d: %d x 16 MiB fit, %d the first time: memory leaked",
			      round, n, first);
		for (int i = 0; i < n; i++)
			free(v[i]);
	}
	void *p = malloc(16 * MiB);
	CHECK(p != NULL, "malloc(16 MiB) fails after freeing everything");
	free(p);
}

static void oom_fill_free_big(size_t n, int cap)
{
	void **v = NULL;
	/* bookkeeping array allocated before the limit */
	v = malloc((size_t)cap * sizeof *v);
	CHECK(v != NULL, "malloc failed");
	memset(v, 0, (size_t)cap * sizeof *v);
	t_limit_as(LIMIT);
	for (int round = 0; round < 2; round++) {
		int k = fill_until_null(v, cap, n, 1);
		CHECK((size_t)k * n >= LIMIT / 2, "round %d: only %d blocks of %zu bytes fit in 256 MiB",
		      round, k, n);
		for (int i = 0; i < k; i++)
			free(v[i]);
		char *big = malloc(64 * MiB);
		CHECK(big != NULL,
		      "round %d: malloc(64 MiB) fails after freeing %d blocks of %zu bytes: freed zones not returned",
		      round, k, n);
		memset(big, 1, 64 * MiB);
		free(big);
		void *p = malloc(n);
		CHECK(p != NULL, "malloc(%zu) fails after the heap was emptied", n);
		free(p);
	}
	free(v);
}

static void oom_small(void) { oom_fill_free_big(4000, 1 << 20); }
static void oom_tiny(void) { oom_fill_free_big(100, 8 << 20); }

static void oom_apis(void)
{
	void *v[64], *w[512];
	char *small = malloc(100), *large = malloc(2 * MiB);
	CHECK(small && large, "malloc failed");
	t_fill(small, 100, 1);
	t_fill(large, 2 * MiB, 2);

	t_limit_as(LIMIT);
	int n16 = fill_until_null(v, 64, 16 * MiB, 0);
	int n1 = fill_until_null(w, 512, MiB, 0);
	(void)n1;

	void *p;
	errno = 0;
	p = calloc(1, 4 * MiB);
	CHECK(p == NULL && errno == ENOMEM, "calloc(1, 4 MiB) = %p errno %d", p, errno);
	errno = 0;
	p = calloc(4096, 1024);
	CHECK(p == NULL && errno == ENOMEM, "calloc(4096, 1024) = %p errno %d", p, errno);
	errno = 0;
	p = realloc(small, 4 * MiB);
	CHECK(p == NULL && errno == ENOMEM, "realloc(small, 4 MiB) = %p errno %d", p, errno);
	CHECK(t_check(small, 100, 1) == (size_t)-1, "failed realloc damaged the small block");
	errno = 0;
	p = realloc(large, 32 * MiB);
	CHECK(p == NULL && errno == ENOMEM, "realloc(2 MiB block, 32 MiB) = %p errno %d", p, errno);
	CHECK(t_check(large, 2 * MiB, 2) == (size_t)-1, "failed realloc damaged the large block");
	errno = 0;
	p = reallocarray(small, 1024, 4096);
	CHECK(p == NULL && errno == ENOMEM, "reallocarray(small, 1024, 4096) = %p errno %d", p, errno);
	CHECK(t_check(small, 100, 1) == (size_t)-1, "failed reallocarray damaged the block");
	p = NULL;
	int rc = posix_memalign(&p, 4096, 4 * MiB);
	CHECK(rc == ENOMEM, "posix_memalign(4096, 4 MiB) = %d, want ENOMEM", rc);
	rc = posix_memalign(&p, 2 * MiB, 100);
	CHECK(rc == ENOMEM || rc == 0, "posix_memalign(2 MiB, 100) = %d", rc);
	if (rc == 0)
		free(p);
	errno = 0;
	p = aligned_alloc(4096, 4 * MiB);
	CHECK(p == NULL && errno == ENOMEM, "aligned_alloc(4096, 4 MiB) = %p errno %d", p, errno);
	errno = 0;
	p = memalign(64, 4 * MiB);
	CHECK(p == NULL && errno == ENOMEM, "memalign(64, 4 MiB) = %p errno %d", p, errno);
	errno = 0;
	p = valloc(4 * MiB);
	CHECK(p == NULL && errno == ENOMEM, "valloc(4 MiB) = %p errno %d", p, errno);
	errno = 0;
	p = pvalloc(4 * MiB);
	CHECK(p == NULL && errno == ENOMEM, "pvalloc(4 MiB) = %p errno %d", p, errno);
	if (reallocf) {
		char *tmp = malloc(200);
		if (tmp) {
			errno = 0;
			p = reallocf(tmp, 4 * MiB);
			CHECK(p == NULL && errno == ENOMEM, "reallocf(p, 4 MiB) = %p errno %d", p, errno);
		}
	}

	for (int i = 0; i < n16; i++)
		free(v[i]);
	for (int i = 0; i < n1; i++)
		free(w[i]);
	p = realloc(small, 4 * MiB);
	CHECK(p != NULL, "realloc(small, 4 MiB) still fails after freeing memory");
	CHECK(t_check(p, 100, 1) == (size_t)-1, "realloc lost content");
	free(p);
	p = realloc(large, 32 * MiB);
	CHECK(p != NULL, "realloc(large, 32 MiB) still fails after freeing memory");
	CHECK(t_check(p, 2 * MiB, 2) == (size_t)-1, "realloc lost content");
	free(p);
	p = calloc(1, 64 * MiB);
	CHECK(p != NULL && t_all_bytes(p, 64 * MiB, 0), "calloc(1, 64 MiB) fails after freeing memory");
	free(p);
	CHECK(posix_memalign(&p, 4096, 4 * MiB) == 0, "posix_memalign fails after freeing memory");
	free(p);
}

static void small_as(void)
{
	if (getenv("FT_SMALL_AS_CHILD")) {
		/* the child, under the limit */
		void *v[64];
		for (int i = 0; i < 64; i++) {
			size_t n = (size_t)1 << (i % 17); /* 1 B .. 64 KiB */
			v[i] = malloc(n);
			CHECK(v[i] != NULL, "malloc(%zu) under a 24 MiB address-space limit: errno %d", n, errno);
			memset(v[i], i, n);
		}
		void *c = calloc(1, MiB);
		CHECK(c != NULL && t_all_bytes(c, MiB, 0), "calloc(1 MiB) under a 24 MiB address-space limit");
		free(c);
		for (int i = 0; i < 64; i++)
			free(v[i]);
		return;
	}
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		struct rlimit rl = {(rlim_t)24 << 20, (rlim_t)24 << 20};
		setenv("FT_SMALL_AS_CHILD", "1", 1);
		if (setrlimit(RLIMIT_AS, &rl) == 0) {
			char *args[] = {"oom", "small_as", NULL};
			execv("/proc/self/exe", args);
		}
		_exit(99);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "a program under a 24 MiB address-space limit failed (status %#x; see its message above)", st);
}

static void reservation(void)
{
	enum { N = 300000 };
	static unsigned char *v[N];
	static size_t vn[N];
	uint64_t rs = 5;

	free(malloc(16));
	void *r = mmap(NULL, (size_t)8 << 40, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (r == MAP_FAILED) {
		t_info(1, "# reservation: mmap of 8 TiB refused (%s): nothing to test\n", strerror(errno));
		return;
	}
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			vn[i] = t_range(&rs, 16, 2000);
			v[i] = malloc(vn[i]);
			CHECK(v[i] != NULL, "malloc(%zu) #%d returned NULL after the reservation", vn[i], i);
			t_fill_sparse(v[i], vn[i], (uintptr_t)v[i]);
		}
		for (int i = 0; i < N; i += 97) {
			CHECK(malloc_usable_size(v[i]) >= vn[i], "usable size %zu < %zu",
			      malloc_usable_size(v[i]), vn[i]);
			uintptr_t seed = (uintptr_t)v[i];
			unsigned char *q = realloc(v[i], vn[i] + 3000);
			CHECK(q != NULL, "realloc after the reservation returned NULL");
			CHECK(t_check_sparse(q, vn[i], seed), "realloc lost the contents");
			t_fill_sparse(q, vn[i], (uintptr_t)q);
			v[i] = q;
		}
		unsigned char *d = malloc(100);
		CHECK(d != NULL, "malloc(100) returned NULL");
		free(d);
		free(d); /* ignored */
		for (int i = 0; i < N; i++) {
			CHECK(t_check_sparse(v[i], vn[i], (uintptr_t)v[i]),
			      "block %d corrupted after the reservation", i);
			free(v[i]);
		}
	}
	munmap(r, (size_t)8 << 40);
}

T_MAIN(T(oom_large), T(oom_small), T(oom_tiny), T(oom_apis), T(small_as), T(reservation))
