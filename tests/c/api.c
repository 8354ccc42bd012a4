/*
 * api.c - conformance of the C allocation API (run with LD_PRELOAD).
 *
 *  malloc_zero        malloc(0) gives unique, freeable, non-NULL pointers
 *  alignment          sizes 0..70000: 16-aligned, also below 16 bytes (glibc's
 *                     tst-mallocalign1)
 *  calloc_zero        calloc returns zeroed memory, all size classes
 *  calloc_reuse       calloc zeroes memory that was dirtied (0xFF) and freed
 *  realloc_null       realloc(NULL, n) behaves like malloc(n)
 *  realloc_zero       realloc(p, 0) returns NULL and frees p (no leak under RLIMIT_AS)
 *  realloc_content    content kept while growing/shrinking TINY/SMALL/LARGE (1 B..4 MiB)
 *  realloc_boundary   a block of 33,000 B (LARGE) resized to 32,000 (a SMALL size
 *                     that uses most of its mapping) and back stays where it is,
 *                     contents kept; resized to 100 B, it moves to a zone (its
 *                     usable size then well under a page)
 *  realloc_doubling   a vector doubled by realloc from 16 B to 1 MiB, freed, 40 times
 *                     over: from the second time on, its LARGE steps (64 KiB and up)
 *                     move it at most 8 times in all (the old cache moved it once a
 *                     time, at 512 KiB -> 1 MiB), contents kept at every step
 *  reallocarray_basic reallocarray use and overflow (NULL/ENOMEM, old block intact)
 *  reallocf_basic     reallocf use; on failure returns NULL and frees (no leak)
 *  posix_memalign_ok  alignments 8..4 MiB: aligned, writable over the full size
 *  realloc_aligned    posix_memalign blocks keep content through realloc
 *  posix_memalign_einval  bad alignments -> EINVAL, *memptr untouched
 *  aligned_alloc_ok, memalign_ok, valloc_ok, pvalloc_ok
 *  usable_size        malloc_usable_size(p) >= n, whole usable area writable
 *                     without touching other blocks, malloc_usable_size(NULL) == 0
 *  large_reuse        LARGE blocks made from freed ranges (split, joined, extended by
 *                     a fresh mapping next to them): live neighbours keep their
 *                     contents, calloc'ed ones read as zeros, sizes 64 KiB..24 MiB
 *  aligned_many       30,000 live posix_memalign blocks of 100 B aligned to 8 KiB and
 *                     64 KiB: aligned, distinct, contents kept, and at most a few
 *                     hundred more lines in /proc/self/maps (a mapping per block would
 *                     run into the kernel's limit on mappings)
 *  sized_free         C23's free_sized and free_aligned_sized (dlsym'd) give the block
 *                     back (its usable size then 0), sizes 1 B..1 MiB
 *  malloc_info_xml    malloc_info(0, stream) writes glibc's XML layout with this heap's
 *                     figures: the free blocks of a class in use as a <size> line, the
 *                     LARGE blocks as the mmap total, the bytes mapped; options != 0 and
 *                     a null stream give -1 and EINVAL (glibc's own malloc_info would
 *                     print its unused arena: all zeros)
 *  libc_names         glibc's internal names (__libc_malloc, __libc_free, ...) and
 *                     cfree reach this allocator: blocks from malloc freed with
 *                     __libc_free and the other way round, each block ours
 *                     (malloc_usable_size >= the size asked for)
 */
#include "t.h"

static size_t page(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static void malloc_zero(void)
{
	enum { N = 1000 };
	static t_span sp[N];
	void *p[N];

	for (int i = 0; i < N; i++) {
		p[i] = malloc(t_opaque(0));
		CHECK(p[i] != NULL, "malloc(0) #%d returned NULL", i);
		CHECK(((uintptr_t)p[i] & 15) == 0, "malloc(0) = %p not 16-aligned", p[i]);
		sp[i].addr = (uintptr_t)p[i];
		sp[i].size = 0;
	}
	t_no_overlap(sp, N, "malloc(0)");
	for (int i = 0; i < N; i++)
		free(p[i]);
	/* and a few more once freed, interleaved with real blocks */
	for (int i = 0; i < 100; i++) {
		void *a = malloc(0), *b = malloc(16), *c = malloc(0);
		CHECK(a && b && c && a != c && a != b && b != c,
		      "malloc(0)/malloc(16) returned NULL or duplicate pointers");
		memset(b, 0x11, 16);
		free(a);
		free(c);
		CHECK(t_all_bytes(b, 16, 0x11), "freeing malloc(0) blocks corrupted a neighbour");
		free(b);
	}
}

static void alignment(void)
{
	enum { LIVE = 64 };
	void *ring[LIVE] = {0};
	size_t ringsz[LIVE] = {0};
	static const size_t edges[] = {511,   512,   513,   1023,  1024,  1025,
				       4095,  4096,  4097,  32767, 32768, 32769,
				       65535, 65536, 65537, 69999, 70000};
	static size_t sizes[1101 + 720 + sizeof edges / sizeof *edges];
	size_t ns = 0;

	for (size_t s = 0; s <= 1100; s++)
		sizes[ns++] = s;
	for (size_t s = 1101; s <= 70000; s += 97)
		sizes[ns++] = s;
	for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
		sizes[ns++] = edges[i];

	for (size_t k = 0; k < ns; k++) {
		size_t n = sizes[k], slot = k % LIVE;
		if (ring[slot]) {
			CHECK(t_check(ring[slot], ringsz[slot], (uintptr_t)ring[slot]) == (size_t)-1,
			      "block of %zu bytes corrupted", ringsz[slot]);
			free(ring[slot]);
		}
		void *p = malloc(t_opaque(n));
		CHECK(p != NULL, "malloc(%zu) returned NULL", n);
		CHECK(t_aligned_for(p, n), "malloc(%zu) = %p: want 16-byte alignment", n, p);
		t_fill(p, n, (uintptr_t)p);
		ring[slot] = p;
		ringsz[slot] = n;
	}
	for (int i = 0; i < LIVE; i++)
		free(ring[i]);
}

static const size_t class_sizes[] = {
    1,      2,      7,      8,      15,     16,      17,       24,       32,
    48,     100,    255,    256,    500,    511,     512,      513,      1000,
    1024,   2048,   3725,   4000,   4096,   10000,   20000,    32767,    32768,
    32769,  40000,  48847,  65536,  100000, 200000,  1 << 20,  (1 << 20) + 1,
    4 << 20};
#define N_CLASS_SIZES (sizeof class_sizes / sizeof *class_sizes)

static void calloc_zero(void)
{
	for (size_t i = 0; i < N_CLASS_SIZES; i++) {
		size_t n = class_sizes[i];
		for (size_t nmemb = 1; nmemb <= 4; nmemb *= 2) {
			unsigned char *p = calloc(t_opaque(nmemb), n);
			CHECK(p != NULL, "calloc(%zu, %zu) returned NULL", nmemb, n);
			CHECK(t_aligned_for(p, nmemb * n), "calloc(%zu, %zu) = %p misaligned", nmemb,
			      n, (void *)p);
			CHECK(t_all_bytes(p, nmemb * n, 0), "calloc(%zu, %zu) not zeroed", nmemb, n);
			memset(p, 0xFF, nmemb * n);
			free(p);
		}
	}
	void *z = calloc(t_opaque(0), 10);
	CHECK(z != NULL, "calloc(0, 10) returned NULL");
	free(z);
}

static void calloc_reuse(void)
{
	void *p[N_CLASS_SIZES];

	/* 1: same slot right away */
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < N_CLASS_SIZES; i++) {
			size_t n = class_sizes[i];
			unsigned char *a = malloc(n);
			CHECK(a != NULL, "malloc(%zu) returned NULL", n);
			memset(a, 0xFF, n);
			free(a);
			unsigned char *b = calloc(1, n);
			CHECK(b != NULL, "calloc(1, %zu) returned NULL", n);
			CHECK(t_all_bytes(b, n, 0), "calloc(1, %zu) after free of a dirty block is not zeroed (a=%p b=%p)",
			      n, (void *)a, (void *)b);
			memset(b, 0xFF, n);
			free(b);
		}
	}
	/* 2: many dirty blocks freed, then calloc'ed back in the other order */
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < N_CLASS_SIZES; i++) {
			p[i] = malloc(class_sizes[i]);
			CHECK(p[i] != NULL, "malloc(%zu) returned NULL", class_sizes[i]);
			memset(p[i], 0xFF, class_sizes[i]);
		}
		for (size_t i = 0; i < N_CLASS_SIZES; i++)
			free(p[round ? i : N_CLASS_SIZES - 1 - i]);
		for (size_t i = 0; i < N_CLASS_SIZES; i++) {
			size_t j = round ? N_CLASS_SIZES - 1 - i : i;
			p[j] = calloc(class_sizes[j], 1);
			CHECK(p[j] != NULL, "calloc(%zu, 1) returned NULL", class_sizes[j]);
			CHECK(t_all_bytes(p[j], class_sizes[j], 0), "calloc(%zu, 1) after reuse is not zeroed",
			      class_sizes[j]);
			memset(p[j], 0xFF, class_sizes[j]);
		}
		for (size_t i = 0; i < N_CLASS_SIZES; i++)
			free(p[i]);
	}
	/* 3: realloc-shrunk dirty blocks and a fragmented TINY/SMALL heap */
	enum { M = 2000 };
	static void *q[M];
	uint64_t rs = 7;
	for (int i = 0; i < M; i++) {
		size_t n = t_range(&rs, 1, 5000);
		q[i] = malloc(n);
		CHECK(q[i] != NULL, "malloc(%zu) returned NULL", n);
		memset(q[i], 0xFF, n);
	}
	for (int i = 0; i < M; i += 2)
		free(q[i]);
	for (int i = 0; i < M; i += 2) {
		size_t n = t_range(&rs, 1, 5000);
		q[i] = calloc(n, 1);
		CHECK(q[i] != NULL, "calloc(%zu, 1) returned NULL", n);
		CHECK(t_all_bytes(q[i], n, 0), "calloc(%zu, 1) into a fragmented heap is not zeroed", n);
	}
	for (int i = 0; i < M; i++)
		free(q[i]);
}

static void realloc_null(void)
{
	for (size_t i = 0; i < N_CLASS_SIZES; i++) {
		size_t n = class_sizes[i];
		void *p = realloc(NULL, n);
		CHECK(p != NULL, "realloc(NULL, %zu) returned NULL", n);
		CHECK(t_aligned_for(p, n), "realloc(NULL, %zu) = %p misaligned", n, p);
		CHECK(malloc_usable_size(p) >= n, "realloc(NULL, %zu): usable size %zu", n,
		      malloc_usable_size(p));
		t_fill(p, n, 3);
		CHECK(t_check(p, n, 3) == (size_t)-1, "realloc(NULL, %zu) block not writable", n);
		free(p);
	}
	void *p = realloc(NULL, t_opaque(0));
	CHECK(p != NULL, "realloc(NULL, 0) returned NULL (want malloc(0) behaviour)");
	free(p);
}

static void realloc_zero(void)
{
	for (size_t i = 0; i < N_CLASS_SIZES; i++) {
		void *p = malloc(class_sizes[i]);
		CHECK(p != NULL, "malloc(%zu) returned NULL", class_sizes[i]);
		void *q = realloc(p, t_opaque(0));
		CHECK(q == NULL, "realloc(p, 0) of a %zu-byte block returned %p, want NULL",
		      class_sizes[i], q);
	}
	/* If realloc(p, 0) did not free p, these loops exhaust 256 MiB. */
	t_limit_as((size_t)256 << 20);
	for (int i = 0; i < 1000; i++) {
		char *p = malloc((size_t)1 << 20);
		CHECK(p != NULL, "LARGE iteration %d: malloc failed: realloc(p, 0) leaks", i);
		p[0] = p[(1 << 20) - 1] = 1;
		CHECK(realloc(p, t_opaque(0)) == NULL, "realloc(p, 0) != NULL");
	}
	for (int i = 0; i < 20000; i++) {
		char *p = malloc(20000);
		CHECK(p != NULL, "SMALL iteration %d: malloc failed: realloc(p, 0) leaks", i);
		p[0] = p[19999] = 1;
		CHECK(realloc(p, t_opaque(0)) == NULL, "realloc(p, 0) != NULL");
	}
	for (int i = 0; i < 3000000; i++) {
		char *p = malloc(128);
		CHECK(p != NULL, "TINY iteration %d: malloc failed: realloc(p, 0) leaks", i);
		p[0] = 1;
		CHECK(realloc(p, t_opaque(0)) == NULL, "realloc(p, 0) != NULL");
	}
}

static void realloc_content(void)
{
	void *blockers[2 * N_CLASS_SIZES];
	int nb = 0;
	size_t old;
	char *p;

	/* grow 1 B -> 4 MiB, then shrink back, keeping a blocker after each
	 * step so that not every realloc can be done in place */
	p = malloc(class_sizes[0]);
	CHECK(p != NULL, "malloc(1) failed");
	t_fill(p, class_sizes[0], 42);
	old = class_sizes[0];
	for (size_t i = 1; i < N_CLASS_SIZES; i++) {
		size_t n = class_sizes[i];
		blockers[nb] = malloc(old);
		CHECK(blockers[nb] != NULL, "malloc(%zu) failed", old);
		nb++;
		char *q = realloc(p, n);
		CHECK(q != NULL, "realloc(%zu -> %zu) returned NULL", old, n);
		CHECK(t_aligned_for(q, n), "realloc(%zu -> %zu) = %p misaligned", old, n, (void *)q);
		size_t off = t_check(q, old, 42);
		CHECK(off == (size_t)-1, "realloc(%zu -> %zu) lost content at offset %zu", old, n, off);
		t_fill(q, n, 42);
		p = q;
		old = n;
	}
	for (size_t i = N_CLASS_SIZES - 1; i-- > 0;) {
		size_t n = class_sizes[i];
		char *q = realloc(p, n);
		CHECK(q != NULL, "realloc(%zu -> %zu) returned NULL", old, n);
		CHECK(t_aligned_for(q, n), "realloc(%zu -> %zu) = %p misaligned", old, n, (void *)q);
		size_t off = t_check(q, n, 42);
		CHECK(off == (size_t)-1, "realloc(%zu -> %zu) lost content at offset %zu", old, n, off);
		blockers[nb] = malloc(n);
		CHECK(blockers[nb] != NULL, "malloc(%zu) failed", n);
		nb++;
		p = q;
		old = n;
	}
	free(p);
	for (int i = 0; i < nb; i++)
		free(blockers[i]);

	/* every pair of sizes, from a fresh block */
	for (size_t i = 0; i < N_CLASS_SIZES; i++) {
		for (size_t j = 0; j < N_CLASS_SIZES; j++) {
			size_t a = class_sizes[i], b = class_sizes[j];
			uint64_t seed = i * 100 + j;
			char *x = malloc(a);
			CHECK(x != NULL, "malloc(%zu) failed", a);
			t_fill(x, a, seed);
			void *other = malloc(a); /* neighbour that must stay intact */
			CHECK(other != NULL, "malloc(%zu) failed", a);
			t_fill(other, a, ~seed);
			char *y = realloc(x, b);
			CHECK(y != NULL, "realloc(%zu -> %zu) returned NULL", a, b);
			size_t keep = a < b ? a : b;
			size_t off = t_check(y, keep, seed);
			CHECK(off == (size_t)-1, "realloc(%zu -> %zu) lost content at offset %zu", a, b, off);
			CHECK(malloc_usable_size(y) >= b, "realloc(%zu -> %zu): usable size %zu", a, b,
			      malloc_usable_size(y));
			memset(y, 0x5A, b);
			off = t_check(other, a, ~seed);
			CHECK(off == (size_t)-1, "realloc(%zu -> %zu) + write corrupted another block at offset %zu",
			      a, b, off);
			free(y);
			free(other);
		}
	}
}

static void realloc_boundary(void)
{
	unsigned char *p = malloc(33000);
	CHECK(p != NULL, "malloc(33000) failed");
	t_fill(p, 33000, 3);
	for (int r = 0; r < 4; r++) {
		size_t to = r % 2 ? 33000 : 32000;
		unsigned char *q = realloc(p, to);
		CHECK(q != NULL, "realloc(%zu) failed", to);
		CHECK(q == p, "realloc(%zu) moved the block (%p -> %p)", to, (void *)p, (void *)q);
		CHECK(t_check(q, 32000, 3) == (size_t)-1, "contents lost at realloc(%zu)", to);
		CHECK(malloc_usable_size(q) >= to, "usable size %zu < %zu", malloc_usable_size(q), to);
		memset(q + 32000, 3, to - 32000);
	}
	unsigned char *q = realloc(p, 100);
	CHECK(q != NULL, "realloc(100) failed");
	CHECK(t_check(q, 100, 3) == (size_t)-1, "contents lost at realloc(100)");
	CHECK(malloc_usable_size(q) < 4096, "a block shrunk to 100 B still offers %zu B", malloc_usable_size(q));
	free(q);
}

static void realloc_doubling(void)
{
	int moves = 0;
	for (int r = 0; r < 40; r++) {
		unsigned char *p = malloc(16);
		CHECK(p != NULL, "malloc(16) failed");
		memset(p, r, 16);
		for (size_t n = 16; n < (1u << 20); n *= 2) {
			unsigned char *q = realloc(p, 2 * n);
			CHECK(q != NULL, "realloc(%zu) failed", 2 * n);
			CHECK(q[0] == (unsigned char)r && q[n - 1] == (unsigned char)r && q[n / 2] == (unsigned char)r,
			      "contents lost at realloc(%zu)", 2 * n);
			if (r > 0 && n >= 65536 && q != p)
				moves++;
			memset(q + n, r, n);
			p = q;
		}
		free(p);
	}
	CHECK(moves <= 8, "the LARGE steps of a doubling vector moved %d times in 39 rounds", moves);
}

static void reallocarray_basic(void)
{
	char *p = reallocarray(NULL, 10, 16);
	CHECK(p != NULL, "reallocarray(NULL, 10, 16) returned NULL");
	CHECK(malloc_usable_size(p) >= 160, "usable size %zu < 160", malloc_usable_size(p));
	t_fill(p, 160, 5);
	char *q = reallocarray(p, 1000, 16);
	CHECK(q != NULL, "reallocarray(p, 1000, 16) returned NULL");
	CHECK(t_check(q, 160, 5) == (size_t)-1, "reallocarray grow lost content");
	t_fill(q, 16000, 6);
	p = reallocarray(q, 3, 16);
	CHECK(p != NULL, "reallocarray(p, 3, 16) returned NULL");
	CHECK(t_check(p, 48, 6) == (size_t)-1, "reallocarray shrink lost content");
	p = reallocarray(p, 10000, 100);
	CHECK(p != NULL, "reallocarray(p, 10000, 100) returned NULL");
	CHECK(t_check(p, 48, 6) == (size_t)-1, "reallocarray to LARGE lost content");
	t_fill(p, 1000000, 7);

	errno = 0;
	q = reallocarray(p, t_opaque(SIZE_MAX / 2 + 1), 2);
	CHECK(q == NULL, "reallocarray(p, SIZE_MAX/2+1, 2) = %p, want NULL", (void *)q);
	CHECK(errno == ENOMEM, "reallocarray overflow: errno %d, want ENOMEM", errno);
	errno = 0;
	q = reallocarray(p, t_opaque((size_t)1 << 32), (size_t)1 << 32);
	CHECK(q == NULL, "reallocarray(p, 2^32, 2^32) = %p, want NULL", (void *)q);
	CHECK(errno == ENOMEM, "reallocarray overflow: errno %d, want ENOMEM", errno);
	errno = 0;
	q = reallocarray(NULL, t_opaque(SIZE_MAX), t_opaque(SIZE_MAX));
	CHECK(q == NULL && errno == ENOMEM, "reallocarray(NULL, SIZE_MAX, SIZE_MAX): %p errno %d",
	      (void *)q, errno);
	CHECK(t_check(p, 1000000, 7) == (size_t)-1, "failed reallocarray damaged the old block");
	free(p);
}

static void reallocf_basic(void)
{
	CHECK(reallocf != NULL, "reallocf is not exported by the library");
	char *p = malloc(100);
	CHECK(p != NULL, "malloc(100) failed");
	t_fill(p, 100, 9);
	p = reallocf(p, 200000);
	CHECK(p != NULL, "reallocf(p, 200000) returned NULL");
	CHECK(t_check(p, 100, 9) == (size_t)-1, "reallocf grow lost content");
	t_fill(p, 200000, 10);
	p = reallocf(p, 50);
	CHECK(p != NULL, "reallocf(p, 50) returned NULL");
	CHECK(t_check(p, 50, 10) == (size_t)-1, "reallocf shrink lost content");
	p = reallocf(p, 3000);
	CHECK(p != NULL, "reallocf(p, 3000) returned NULL");
	CHECK(t_check(p, 50, 10) == (size_t)-1, "reallocf to SMALL lost content");
	errno = 0;
	void *q = reallocf(p, t_opaque(SIZE_MAX));
	CHECK(q == NULL, "reallocf(p, SIZE_MAX) = %p, want NULL", q);
	CHECK(errno == ENOMEM, "reallocf(p, SIZE_MAX): errno %d, want ENOMEM", errno);
	q = reallocf(NULL, 10);
	CHECK(q != NULL, "reallocf(NULL, 10) returned NULL");
	free(q);

	/* A failed reallocf frees the block: 1000 x 1 MiB must fit in 256 MiB. */
	t_limit_as((size_t)256 << 20);
	for (int i = 0; i < 1000; i++) {
		char *r = malloc((size_t)1 << 20);
		CHECK(r != NULL, "iteration %d: malloc(1 MiB) failed: reallocf leaks on failure", i);
		r[0] = 1;
		CHECK(reallocf(r, t_opaque(SIZE_MAX - 4096)) == NULL, "reallocf(huge) != NULL");
	}
	for (int i = 0; i < 50000; i++) {
		char *r = malloc(10000);
		CHECK(r != NULL, "iteration %d: malloc(10000) failed: reallocf leaks on failure", i);
		r[0] = 1;
		CHECK(reallocf(r, t_opaque(SIZE_MAX - 4096)) == NULL, "reallocf(huge) != NULL");
	}
}

static void posix_memalign_ok(void)
{
	static const size_t sizes[] = {1, 8, 100, 512, 4000, 40000, 300000};
	void *prev = NULL;
	size_t prevn = 0;

	for (size_t al = 8; al <= ((size_t)4 << 20); al *= 2) {
		for (size_t i = 0; i <= sizeof sizes / sizeof *sizes; i++) {
			size_t n = i < sizeof sizes / sizeof *sizes ? sizes[i] : al + 1;
			void *p = (void *)0x1;
			int rc = posix_memalign(&p, al, n);
			CHECK(rc == 0, "posix_memalign(al=%zu, n=%zu) = %d", al, n, rc);
			CHECK(p != NULL && p != (void *)0x1, "posix_memalign(al=%zu, n=%zu) gave %p", al, n, p);
			CHECK((uintptr_t)p % al == 0, "posix_memalign(al=%zu, n=%zu) = %p misaligned", al, n, p);
			CHECK(malloc_usable_size(p) >= n, "posix_memalign(al=%zu, n=%zu): usable %zu", al, n,
			      malloc_usable_size(p));
			t_fill(p, n, al + n);
			if (prev) {
				size_t off = t_check(prev, prevn, (uintptr_t)prev);
				CHECK(off == (size_t)-1, "aligned block %p corrupted at %zu", prev, off);
				free(prev);
			}
			CHECK(t_check(p, n, al + n) == (size_t)-1, "aligned block not writable");
			t_fill(p, n, (uintptr_t)p);
			prev = p;
			prevn = n;
		}
	}
	free(prev);
}

static void realloc_aligned(void)
{
	static const size_t sizes[] = {1, 100, 600, 5000, 40000, 300000, 3 << 20};
	for (size_t al = 16; al <= ((size_t)1 << 20); al *= 4) {
		for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
			for (size_t j = 0; j < sizeof sizes / sizeof *sizes; j++) {
				size_t a = sizes[i], b = sizes[j];
				void *p = NULL;
				CHECK(posix_memalign(&p, al, a) == 0, "posix_memalign(%zu, %zu) failed", al, a);
				t_fill(p, a, al ^ a);
				char *q = realloc(p, b);
				CHECK(q != NULL, "realloc(aligned %zu/%zu -> %zu) returned NULL", al, a, b);
				size_t keep = a < b ? a : b;
				size_t off = t_check(q, keep, al ^ a);
				CHECK(off == (size_t)-1, "realloc(aligned %zu/%zu -> %zu) lost content at %zu", al,
				      a, b, off);
				CHECK(malloc_usable_size(q) >= b, "realloc(aligned -> %zu): usable %zu", b,
				      malloc_usable_size(q));
				memset(q, 0x77, b);
				free(q);
			}
		}
	}
}

static void posix_memalign_einval(void)
{
	static const size_t bad[] = {0, 1, 2, 3, 4, 12, 24, 48, 4097, (1 << 20) + 8};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		void *p = (void *)0x1234;
		int rc = posix_memalign(&p, t_opaque(bad[i]), 64);
		CHECK(rc == EINVAL, "posix_memalign(alignment=%zu) = %d, want EINVAL", bad[i], rc);
		CHECK(p == (void *)0x1234, "posix_memalign(alignment=%zu) modified *memptr", bad[i]);
	}
}

static void aligned_alloc_ok(void)
{
	for (size_t al = 1; al <= ((size_t)2 << 20); al *= 2) {
		size_t ns[] = {al, 3 * al, 1};
		for (int i = 0; i < 3; i++) {
			size_t n = ns[i];
			void *p = aligned_alloc(al, n);
			CHECK(p != NULL, "aligned_alloc(%zu, %zu) returned NULL", al, n);
			CHECK((uintptr_t)p % al == 0, "aligned_alloc(%zu, %zu) = %p misaligned", al, n, p);
			CHECK(malloc_usable_size(p) >= n, "aligned_alloc(%zu, %zu): usable %zu", al, n,
			      malloc_usable_size(p));
			t_fill(p, n, n);
			CHECK(t_check(p, n, n) == (size_t)-1, "aligned_alloc block not writable");
			free(p);
		}
	}
}

static void memalign_ok(void)
{
	static const size_t sizes[] = {1, 100, 5000, 70000};
	void *keep[4 * 22];
	int nk = 0;

	for (size_t al = 1; al <= ((size_t)2 << 20); al *= 2) {
		for (int i = 0; i < 4; i++) {
			void *p = memalign(al, sizes[i]);
			CHECK(p != NULL, "memalign(%zu, %zu) returned NULL", al, sizes[i]);
			CHECK((uintptr_t)p % al == 0, "memalign(%zu, %zu) = %p misaligned", al, sizes[i], p);
			CHECK(t_aligned_for(p, sizes[i]), "memalign(%zu, %zu) = %p below malloc alignment", al,
			      sizes[i], p);
			t_fill(p, sizes[i], (uintptr_t)p);
			keep[nk++] = p;
		}
	}
	nk = 0;
	for (size_t al = 1; al <= ((size_t)2 << 20); al *= 2)
		for (int i = 0; i < 4; i++, nk++) {
			CHECK(t_check(keep[nk], sizes[i], (uintptr_t)keep[nk]) == (size_t)-1,
			      "memalign(%zu, %zu) block corrupted", al, sizes[i]);
			free(keep[nk]);
		}
}

static void valloc_ok(void)
{
	static const size_t sizes[] = {1, 100, 4095, 4096, 4097, 40000, 1 << 20};
	void *keep[7];
	for (int i = 0; i < 7; i++) {
		void *p = valloc(sizes[i]);
		CHECK(p != NULL, "valloc(%zu) returned NULL", sizes[i]);
		CHECK((uintptr_t)p % page() == 0, "valloc(%zu) = %p not page aligned", sizes[i], p);
		CHECK(malloc_usable_size(p) >= sizes[i], "valloc(%zu): usable %zu", sizes[i],
		      malloc_usable_size(p));
		t_fill(p, sizes[i], (uintptr_t)p);
		keep[i] = p;
	}
	for (int i = 0; i < 7; i++) {
		CHECK(t_check(keep[i], sizes[i], (uintptr_t)keep[i]) == (size_t)-1,
		      "valloc(%zu) block corrupted", sizes[i]);
		free(keep[i]);
	}
}

static void pvalloc_ok(void)
{
	static const size_t sizes[] = {1, 100, 4095, 4096, 4097, 40000, 1 << 20};
	void *keep[7];
	size_t us[7];
	for (int i = 0; i < 7; i++) {
		size_t want = (sizes[i] + page() - 1) / page() * page();
		void *p = pvalloc(sizes[i]);
		CHECK(p != NULL, "pvalloc(%zu) returned NULL", sizes[i]);
		CHECK((uintptr_t)p % page() == 0, "pvalloc(%zu) = %p not page aligned", sizes[i], p);
		us[i] = malloc_usable_size(p);
		CHECK(us[i] >= want, "pvalloc(%zu): usable size %zu < %zu", sizes[i], us[i], want);
		CHECK(us[i] % page() == 0, "pvalloc(%zu): usable size %zu not a multiple of the page size",
		      sizes[i], us[i]);
		t_fill(p, us[i], (uintptr_t)p);
		keep[i] = p;
	}
	for (int i = 0; i < 7; i++) {
		CHECK(t_check(keep[i], us[i], (uintptr_t)keep[i]) == (size_t)-1,
		      "pvalloc(%zu) block corrupted", sizes[i]);
		free(keep[i]);
	}
}

static void usable_size(void)
{
	enum { N = 2200 };
	static void *p[N];
	static size_t us[N];
	size_t n[N];

	CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu",
	      malloc_usable_size(NULL));
	for (int i = 0; i < N; i++) {
		n[i] = i < 2000 ? (size_t)i : class_sizes[(i - 2000) % N_CLASS_SIZES];
		p[i] = malloc(n[i]);
		CHECK(p[i] != NULL, "malloc(%zu) returned NULL", n[i]);
		us[i] = malloc_usable_size(p[i]);
		CHECK(us[i] >= n[i], "malloc_usable_size(malloc(%zu)) = %zu", n[i], us[i]);
		CHECK(us[i] <= n[i] + ((size_t)64 << 10) + n[i] / 4,
		      "malloc_usable_size(malloc(%zu)) = %zu is implausibly large", n[i], us[i]);
	}
	/* fill the whole usable area of each block: another block's area must
	 * not be overwritten */
	for (int i = 0; i < N; i++)
		t_fill(p[i], us[i], (uintptr_t)p[i]);
	for (int i = 0; i < N; i++) {
		size_t off = t_check(p[i], us[i], (uintptr_t)p[i]);
		CHECK(off == (size_t)-1,
		      "block %p (malloc(%zu), usable %zu) overwritten at offset %zu by a neighbour's usable area",
		      p[i], n[i], us[i], off);
		CHECK(malloc_usable_size(p[i]) == us[i], "malloc_usable_size changed for %p", p[i]);
		free(p[i]);
	}
}

static void large_reuse(void)
{
	enum { LIVE = 6, ROUNDS = 300 };
	void *p[LIVE] = {0};
	size_t n[LIVE] = {0};
	uint64_t rs = 11;
	for (int r = 0; r < ROUNDS; r++) {
		int i = (int)t_range(&rs, 0, LIVE - 1);
		if (p[i]) {
			size_t off = t_check(p[i], n[i], (uintptr_t)p[i] ^ n[i]);
			CHECK(off == (size_t)-1, "round %d: LARGE block %p (%zu bytes) changed at offset %zu",
			      r, p[i], n[i], off);
			free(p[i]);
		}
		/* log-uniform-ish sizes: 64 KiB << 0..8, plus a few pages */
		n[i] = ((size_t)64 << 10 << t_range(&rs, 0, 8)) + t_range(&rs, 0, 7) * page();
		int zero = r % 3 == 0;
		p[i] = zero ? calloc(1, n[i]) : malloc(n[i]);
		CHECK(p[i] != NULL, "round %d: %s(%zu) returned NULL", r, zero ? "calloc" : "malloc", n[i]);
		CHECK(malloc_usable_size(p[i]) >= n[i], "round %d: usable size %zu < %zu", r,
		      malloc_usable_size(p[i]), n[i]);
		if (zero)
			CHECK(t_all_bytes(p[i], n[i], 0), "round %d: calloc(1, %zu) from reused ranges is not zeroed",
			      r, n[i]);
		t_fill(p[i], n[i], (uintptr_t)p[i] ^ n[i]);
	}
	/* doubling sizes: each request misses the cache, whose freed range covers half of it */
	for (int r = 0; r < 24; r++) {
		size_t m = (size_t)64 << 10 << (r % 9);
		int zero = r % 2;
		unsigned char *q = zero ? calloc(1, m) : malloc(m);
		CHECK(q != NULL, "doubling %d: %s(%zu) returned NULL", r, zero ? "calloc" : "malloc", m);
		if (zero)
			CHECK(t_all_bytes(q, m, 0), "doubling %d: calloc(1, %zu) is not zeroed", r, m);
		t_fill(q, m, m);
		for (int i = 0; i < LIVE; i++) {
			if (!p[i])
				continue;
			size_t off = t_check(p[i], n[i], (uintptr_t)p[i] ^ n[i]);
			CHECK(off == (size_t)-1, "doubling %d: live block %p (%zu bytes) changed at offset %zu",
			      r, p[i], n[i], off);
		}
		free(q);
	}
	for (int i = 0; i < LIVE; i++) {
		if (!p[i])
			continue;
		size_t off = t_check(p[i], n[i], (uintptr_t)p[i] ^ n[i]);
		CHECK(off == (size_t)-1, "LARGE block %p (%zu bytes) changed at offset %zu", p[i], n[i], off);
		free(p[i]);
	}
}

void *__libc_malloc(size_t);
void __libc_free(void *);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void *__libc_valloc(size_t);
void *__libc_pvalloc(size_t);

/* The value of attribute `name` in the first line of `xml` that starts with `head`, or -1. */
static long xml_attr(const char *xml, const char *head, const char *name)
{
	for (const char *l = xml; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, head, strlen(head)) != 0)
			continue;
		char key[64];
		snprintf(key, sizeof key, " %s=\"", name);
		const char *end = strchr(l, '\n'), *a = strstr(l, key);
		if (!a || (end && a > end))
			return -1;
		return strtol(a + strlen(key), NULL, 10);
	}
	return -1;
}

static void malloc_info_xml(void)
{
	enum { N = 64 };
	void *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = malloc(t_opaque(2000));
		CHECK(p[i] != NULL, "malloc(2000) returned NULL");
	}
	for (int i = 0; i < N; i += 2)
		free(p[i]);
	void *big = malloc(t_opaque(300000));
	CHECK(big != NULL, "malloc(300000) returned NULL");
	char *xml = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&xml, &len);
	CHECK(f != NULL, "open_memstream failed");
	CHECK(malloc_info(0, f) == 0, "malloc_info(0, stream) failed");
	CHECK(fclose(f) == 0 && xml != NULL, "fclose of the memstream failed");
	CHECK(strncmp(xml, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n", 42) == 0,
	      "malloc_info does not start as glibc's does: %.200s", xml);
	CHECK(len > 9 && strcmp(xml + len - 10, "</malloc>\n") == 0, "malloc_info does not end with </malloc>");
	/* the class of 2000-byte blocks: 32 of them free at least (more if its zone is not full) */
	long count = -1, total = -1, from, to;
	for (const char *l = strstr(xml, "  <size "); l; l = strstr(l + 1, "  <size ")) {
		from = xml_attr(l, "  <size", "from");
		to = xml_attr(l, "  <size", "to");
		if (from <= 2000 && 2000 <= to) {
			count = xml_attr(l, "  <size", "count");
			total = xml_attr(l, "  <size", "total");
			CHECK(total == count * to, "<size> of %ld..%ld: total %ld != %ld blocks of %ld", from, to,
			      total, count, to);
			break;
		}
	}
	CHECK(count >= N / 2, "no <size> line with 32+ free blocks of 2000 bytes (count %ld): %.600s", count,
	      xml);
	const char *tail = strstr(xml, "</heap>\n");
	CHECK(tail != NULL, "no </heap>");
	CHECK(xml_attr(tail, "<total type=\"mmap\"", "count") >= 1, "the LARGE block is not in the mmap total");
	CHECK(xml_attr(tail, "<total type=\"mmap\"", "size") >= 300000, "mmap total under 300000 bytes");
	long current = xml_attr(tail, "<system type=\"current\"", "size");
	CHECK(current >= 300000 + N / 2 * 2000, "system current %ld: less than what is live", current);
	CHECK(xml_attr(tail, "<system type=\"max\"", "size") >= current, "system max < current");
	CHECK(xml_attr(tail, "<total type=\"rest\"", "count") >= count, "rest total below one class's free blocks");
	free(xml);
	f = open_memstream(&xml, &len);
	CHECK(f != NULL, "open_memstream failed");
	errno = 0;
	CHECK(malloc_info(1, f) == -1 && errno == EINVAL, "malloc_info(1, stream): want -1 and EINVAL");
	fclose(f);
	free(xml);
	errno = 0;
	CHECK(malloc_info(0, NULL) == -1 && errno == EINVAL, "malloc_info(0, NULL): want -1 and EINVAL");
	for (int i = 1; i < N; i += 2)
		free(p[i]);
	free(big);
}

static void libc_names(void)
{
	/* cfree is only a compatibility symbol of glibc (no link-time definition) */
	void (*cfree_fn)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
	CHECK(cfree_fn != NULL, "cfree not found");
	for (size_t n = 1; n <= ((size_t)1 << 20); n *= 3) {
		char *a = malloc(n), *b = __libc_malloc(n), *c = __libc_calloc(1, n);
		char *d = __libc_memalign(64, n), *e = __libc_valloc(n), *f = __libc_pvalloc(n);
		CHECK(a && b && c && d && e && f, "a block of %zu bytes was NULL", n);
		CHECK(((uintptr_t)d & 63) == 0 && ((uintptr_t)e & (page() - 1)) == 0 &&
		      ((uintptr_t)f & (page() - 1)) == 0, "%zu bytes: misaligned", n);
		char *all[] = {a, b, c, d, e, f};
		for (int i = 0; i < 6; i++)
			CHECK(malloc_usable_size(all[i]) >= n, "block %d of %zu bytes: usable size %zu (not ours?)",
			      i, n, malloc_usable_size(all[i]));
		for (size_t k = 0; k < n; k++)
			CHECK(c[k] == 0, "__libc_calloc(1, %zu): byte %zu not zero", n, k);
		memset(a, 'a', n);
		b = __libc_realloc(b, n * 2);
		CHECK(b && malloc_usable_size(b) >= n * 2, "__libc_realloc to %zu bytes", n * 2);
		__libc_free(a); /* from malloc */
		free(b);        /* from __libc_realloc */
		cfree_fn(c);
		__libc_free(d);
		__libc_free(e);
		free(f);
	}
}

static void sized_free(void)
{
	/* C23's sized frees; glibc 2.36 has neither, so they are looked up (ours, preloaded) */
	void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
	void (*fas)(void *, size_t, size_t) =
		(void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
	CHECK(fs != NULL && fas != NULL, "free_sized or free_aligned_sized not found");
	for (size_t n = 1; n <= ((size_t)1 << 20); n *= 5) {
		char *a = malloc(n), *b = aligned_alloc(256, (n + 255) & ~(size_t)255);
		CHECK(a && b, "a block of %zu bytes was NULL", n);
		memset(a, 1, n);
		fs(a, n);
		CHECK(malloc_usable_size(a) == 0, "free_sized(%p, %zu) left the block live", (void *)a, n);
		fas(b, 256, (n + 255) & ~(size_t)255);
		CHECK(malloc_usable_size(b) == 0, "free_aligned_sized left the block of %zu bytes live", n);
		fs(NULL, 0);
	}
}

static int maps_lines(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL, "cannot open /proc/self/maps");
	int n = 0, c;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void aligned_many(void)
{
	enum { N = 30000 };
	static void *v[N];
	const size_t aligns[] = {8192, 65536};
	for (size_t k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
		size_t al = aligns[k];
		int before = maps_lines();
		for (size_t i = 0; i < N; i++) {
			CHECK(posix_memalign(&v[i], al, 100) == 0, "posix_memalign(%zu, 100) #%zu failed", al, i);
			CHECK((uintptr_t)v[i] % al == 0, "posix_memalign(%zu) = %p misaligned", al, v[i]);
			memset(v[i], (int)(i & 0xFF), 100);
		}
		int during = maps_lines();
		t_info(1, "# aligned_many: align %zu: %d -> %d lines in /proc/self/maps\n", al, before, during);
		CHECK(during - before < 500, "%d more mappings for %d live blocks aligned to %zu", during - before, N,
		      al);
		for (size_t i = 0; i < N; i++) {
			const unsigned char *c = v[i];
			CHECK(c[0] == (i & 0xFF) && c[99] == (i & 0xFF), "aligned block %zu overwritten", i);
			free(v[i]);
		}
	}
}

T_MAIN(T(malloc_zero), T(alignment), T(calloc_zero), T(calloc_reuse), T(realloc_null),
       T(realloc_zero), T(realloc_content), T(realloc_boundary), T(realloc_doubling), T(reallocarray_basic), T(reallocf_basic),
       T(posix_memalign_ok), T(realloc_aligned), T(posix_memalign_einval), T(aligned_alloc_ok), T(memalign_ok),
       T(valloc_ok), T(pvalloc_ok), T(usable_size), T(large_reuse), T(aligned_many), T(malloc_info_xml), T(libc_names), T(sized_free))
