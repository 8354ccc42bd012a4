/*
 * overflow.c - huge and overflowing sizes (run with LD_PRELOAD).
 *
 *  malloc_huge          malloc(SIZE_MAX), malloc(PTRDIFF_MAX+1), malloc(SIZE_MAX-4095)...
 *                       return NULL with errno == ENOMEM
 *  calloc_overflow      calloc(SIZE_MAX/2, 3) and friends: NULL / ENOMEM
 *  reallocarray_overflow  NULL / ENOMEM, old block intact
 *  realloc_huge         realloc(p, SIZE_MAX): NULL, ENOMEM, old block intact
 *                       (TINY, SMALL and LARGE p)
 *  memalign_huge        posix_memalign(&p, 4096, SIZE_MAX) == ENOMEM (errno too, as glibc),
 *                       aligned_alloc/memalign/valloc/pvalloc of huge sizes: NULL
 *  free_keeps_errno     free() never changes errno (TINY/SMALL/LARGE/aligned/NULL)
 */
#include "t.h"

static const size_t huge[] = {
    SIZE_MAX,          SIZE_MAX - 1,      SIZE_MAX - 15,          SIZE_MAX - 4095,
    SIZE_MAX - 4096,   SIZE_MAX - 65536,  (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX,
    SIZE_MAX / 2 + 2,  (size_t)1 << 63,
};
#define N_HUGE (sizeof huge / sizeof *huge)

static void malloc_huge(void)
{
	for (size_t i = 0; i < N_HUGE; i++) {
		errno = 0;
		void *p = malloc(t_opaque(huge[i]));
		CHECK(p == NULL, "malloc(%#zx) = %p, want NULL", huge[i], p);
		CHECK(errno == ENOMEM, "malloc(%#zx): errno %d, want ENOMEM", huge[i], errno);
	}
	void *p = malloc(100);
	CHECK(p != NULL, "malloc(100) failed after huge requests");
	free(p);
}

static void calloc_overflow(void)
{
	static const size_t pairs[][2] = {
	    {SIZE_MAX / 2, 3},
	    {3, SIZE_MAX / 2},
	    {SIZE_MAX, SIZE_MAX},
	    {(size_t)1 << 32, (size_t)1 << 32},
	    {((size_t)1 << 32) + 1, ((size_t)1 << 32) - 1},
	    {SIZE_MAX, 2},
	    {1, SIZE_MAX},
	    {SIZE_MAX - 100, 1},
	    {(size_t)1 << 62, 4},
	};
	for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
		errno = 0;
		void *p = calloc(t_opaque(pairs[i][0]), t_opaque(pairs[i][1]));
		CHECK(p == NULL, "calloc(%#zx, %#zx) = %p, want NULL", pairs[i][0], pairs[i][1], p);
		CHECK(errno == ENOMEM, "calloc(%#zx, %#zx): errno %d, want ENOMEM", pairs[i][0],
		      pairs[i][1], errno);
	}
}

static void reallocarray_overflow(void)
{
	char *p = malloc(300);
	CHECK(p != NULL, "malloc(300) failed");
	t_fill(p, 300, 1);
	errno = 0;
	void *q = reallocarray(p, t_opaque(SIZE_MAX / 2), t_opaque(3));
	CHECK(q == NULL && errno == ENOMEM, "reallocarray(p, SIZE_MAX/2, 3) = %p errno %d", q, errno);
	errno = 0;
	q = reallocarray(NULL, t_opaque(SIZE_MAX / 2), t_opaque(3));
	CHECK(q == NULL && errno == ENOMEM, "reallocarray(NULL, SIZE_MAX/2, 3) = %p errno %d", q, errno);
	errno = 0;
	q = reallocarray(p, t_opaque((size_t)1 << 40), t_opaque((size_t)1 << 40));
	CHECK(q == NULL && errno == ENOMEM, "reallocarray(p, 2^40, 2^40) = %p errno %d", q, errno);
	CHECK(t_check(p, 300, 1) == (size_t)-1, "failed reallocarray damaged the block");
	free(p);
}

static void realloc_huge(void)
{
	static const size_t from[] = {10, 300, 3000, 30000, 300000, 3 << 20};
	for (size_t i = 0; i < sizeof from / sizeof *from; i++) {
		size_t n = from[i];
		char *p = malloc(n);
		CHECK(p != NULL, "malloc(%zu) failed", n);
		t_fill(p, n, n);
		for (size_t j = 0; j < N_HUGE; j++) {
			errno = 0;
			void *q = realloc(p, t_opaque(huge[j]));
			CHECK(q == NULL, "realloc(%zu-byte block, %#zx) = %p, want NULL", n, huge[j], q);
			CHECK(errno == ENOMEM, "realloc(%zu-byte block, %#zx): errno %d, want ENOMEM", n,
			      huge[j], errno);
			size_t off = t_check(p, n, n);
			CHECK(off == (size_t)-1,
			      "failed realloc(%#zx) damaged the %zu-byte block at offset %zu", huge[j], n, off);
		}
		CHECK(malloc_usable_size(p) >= n, "block shrank after failed realloc");
		char *q = realloc(p, n + 1);
		CHECK(q != NULL, "block unusable after a failed realloc");
		CHECK(t_check(q, n, n) == (size_t)-1, "content lost");
		free(q);
	}
}

static void memalign_huge(void)
{
	for (size_t al = 16; al <= ((size_t)1 << 20); al <<= 4) {
		for (size_t j = 0; j < N_HUGE; j++) {
			void *p = (void *)0x1234;
			errno = 0;
			int rc = posix_memalign(&p, t_opaque(al), t_opaque(huge[j]));
			CHECK(rc == ENOMEM, "posix_memalign(&p, %zu, %#zx) = %d, want ENOMEM", al, huge[j], rc);
			/* as glibc: errno too (glibc's tst-malloc-thread-fail reads it) */
			CHECK(errno == ENOMEM, "posix_memalign(&p, %zu, %#zx): errno %d, want ENOMEM", al,
			      huge[j], errno);
			CHECK(p == (void *)0x1234, "posix_memalign(&p, %zu, %#zx) modified p on failure", al, huge[j]);
			errno = 0;
			p = memalign(t_opaque(al), t_opaque(huge[j]));
			CHECK(p == NULL && errno == ENOMEM, "memalign(%zu, %#zx) = %p errno %d", al, huge[j], p,
			      errno);
		}
	}
	int rc;
	void *p = (void *)0x1234;
	rc = posix_memalign(&p, 4096, t_opaque(SIZE_MAX));
	CHECK(rc == ENOMEM, "posix_memalign(&p, 4096, SIZE_MAX) = %d, want ENOMEM", rc);
	errno = 0;
	p = aligned_alloc(t_opaque((size_t)1 << 20), t_opaque(SIZE_MAX - 100));
	CHECK(p == NULL, "aligned_alloc(1 MiB, SIZE_MAX-100) = %p, want NULL", p);
	CHECK(errno == ENOMEM, "aligned_alloc(1 MiB, SIZE_MAX-100): errno %d, want ENOMEM", errno);
	errno = 0;
	p = aligned_alloc(t_opaque(4096), t_opaque(SIZE_MAX - 4095));
	CHECK(p == NULL && errno == ENOMEM, "aligned_alloc(4096, SIZE_MAX-4095) = %p errno %d", p, errno);
	errno = 0;
	p = valloc(t_opaque(SIZE_MAX - 100));
	CHECK(p == NULL && errno == ENOMEM, "valloc(SIZE_MAX-100) = %p errno %d", p, errno);
	errno = 0;
	p = pvalloc(t_opaque(SIZE_MAX - 100));
	CHECK(p == NULL && errno == ENOMEM, "pvalloc(SIZE_MAX-100) = %p errno %d", p, errno);
	errno = 0;
	p = valloc(t_opaque(SIZE_MAX));
	CHECK(p == NULL && errno == ENOMEM, "valloc(SIZE_MAX) = %p errno %d", p, errno);
}

static void free_keeps_errno(void)
{
	static const size_t sizes[] = {0, 1, 16, 100, 512, 513, 4000, 32768, 32769, 100000, 1 << 20,
				       16 << 20};
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
			void *p = malloc(sizes[i]);
			CHECK(p != NULL, "malloc(%zu) failed", sizes[i]);
			memset(p, 1, sizes[i]);
			errno = 1234;
			free(p);
			CHECK(errno == 1234, "free of a %zu-byte block changed errno to %d", sizes[i], errno);
		}
		void *a = NULL;
		CHECK(posix_memalign(&a, 65536, 70000) == 0, "posix_memalign failed");
		errno = 1234;
		free(a);
		CHECK(errno == 1234, "free of an aligned block changed errno to %d", errno);
		errno = 1234;
		free(NULL);
		CHECK(errno == 1234, "free(NULL) changed errno to %d", errno);
		/* many LARGE blocks: the library may give memory back to the system */
		void *big[64];
		for (int i = 0; i < 64; i++) {
			big[i] = malloc((size_t)(i + 1) << 16);
			CHECK(big[i] != NULL, "malloc failed");
		}
		for (int i = 0; i < 64; i++) {
			errno = 1234;
			free(big[i]);
			CHECK(errno == 1234, "free of a %d-byte block changed errno to %d", (i + 1) << 16, errno);
		}
		/* emptying whole TINY / SMALL zones */
		static void *many[20000];
		for (int i = 0; i < 20000; i++) {
			many[i] = malloc(i % 2 ? 64 : 3000);
			CHECK(many[i] != NULL, "malloc failed");
		}
		for (int i = 0; i < 20000; i++) {
			errno = 1234;
			free(many[i]);
			CHECK(errno == 1234, "free changed errno to %d (block %d)", errno, i);
		}
	}
}

T_MAIN(T(malloc_huge), T(calloc_overflow), T(reallocarray_overflow), T(realloc_huge),
       T(memalign_huge), T(free_keeps_errno))
