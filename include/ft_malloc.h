/*
 * ft_malloc — a malloc replacement that lets you see your heap.
 *
 * The standard functions (malloc, free, realloc, calloc, posix_memalign, aligned_alloc) are
 * declared by <stdlib.h>; this header declares the others that libft_malloc.so exports.
 * Link with -lft_malloc, or preload: LD_PRELOAD=./libft_malloc.so program.
 */
#ifndef FT_MALLOC_H
#define FT_MALLOC_H

#include <stddef.h>
#include <stdlib.h>
#include <malloc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Requests up to FT_MALLOC_TINY_MAX bytes come from TINY zones, up to FT_MALLOC_SMALL_MAX from
 * SMALL zones; larger requests get a mapping of their own (LARGE). */
#define FT_MALLOC_TINY_MAX  512
#define FT_MALLOC_SMALL_MAX 32768

/* malloc free realloc calloc reallocarray posix_memalign aligned_alloc valloc come from
 * <stdlib.h>; memalign pvalloc malloc_usable_size from <malloc.h>. libft_malloc.so exports all
 * of them. (memalign rounds an alignment up to a power of two; valloc aligns to a page;
 * pvalloc also rounds the size up to whole pages; malloc_usable_size returns 0 for NULL or a
 * pointer that is not a live block of ours.) malloc_trim, malloc_stats, mallinfo, mallinfo2
 * and malloc_info (<malloc.h>) are ours too: malloc_trim gives back at once the calling thread's free pages,
 * its empty segments and the cache of freed LARGE mappings (other threads give theirs back
 * after the purge delay), and returns 1 if it gave back anything. glibc's internal names
 * (__libc_malloc, __libc_free, __libc_calloc, __libc_realloc, __libc_memalign, __libc_valloc,
 * __libc_pvalloc) and the old cfree are exported as aliases, so that a program that wraps
 * malloc and calls "the real one" under those names stays on one allocator. */

/* realloc that frees ptr when it fails (BSD). */
void   *reallocf(void *ptr, size_t size);

/* C23's sized frees (older C libraries, glibc 2.36 among them, declare neither): free(ptr),
 * ptr being a block of size bytes (from aligned_alloc(alignment, size) for the second). */
void    free_sized(void *ptr, size_t size);
void    free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* Prints every zone and its live blocks by increasing address, then the total, on standard
 * output, in the 42 subject's format:
 *   TINY : 0xA0000
 *   0xA0020 - 0xA004A : 42 bytes
 *   Total : 42 bytes
 * Allocates nothing; safe to call while other threads allocate. */
void    show_alloc_mem(void);

/* show_alloc_mem with every zone's detail (class, blocks used / capacity, bytes requested /
 * mapped, an occupancy bar), free and never-used blocks, a hexdump -C style dump of each live
 * block's first 32 bytes, and the last operations when FT_MALLOC_HISTORY=n is set. */
void    show_alloc_mem_ex(void);
/* The whole live block at ptr, dumped in the hexdump -C style (nothing for a pointer not ours). */
void    show_alloc_mem_ex_dump(void *ptr);

/* What ft_malloc_stats() reports. Call counts and requested totals are kept only while a debug
 * variable is set (FT_MALLOC_STATS=1 is enough); the rest is always available. */
struct ft_malloc_stats {
    size_t malloc_calls, calloc_calls, realloc_calls, free_calls, aligned_calls;
    size_t bytes_requested_total;   /* sum of every size asked for */
    size_t peak_requested;          /* most requested bytes live at once */
    size_t misuses;                 /* double frees, foreign pointers, overflows detected */
    size_t live_blocks, live_requested, live_usable;
    size_t tiny_zones, small_zones, large_blocks;  /* zones holding live blocks */
    size_t zone_bytes;              /* bytes those zones and LARGE mappings span */
    size_t mapped, peak_mapped;     /* bytes mapped from the system, now and at most */
    size_t mmap_calls, munmap_calls, madvise_calls;
};
/* Fills *out; returns 0 (-1 for NULL). Walks the zones; allocates nothing. */
int     ft_malloc_stats(struct ft_malloc_stats *out);

/* Writes a self-contained HTML page (statistics and an SVG map of every zone, details on
 * hover) to path; FT_MALLOC_REPORT=path.html writes one at exit. Returns 0, or -1 with errno
 * set. Allocates nothing from the heap it describes. */
int     ft_malloc_report(const char *path);

#ifdef __cplusplus
}
#endif

#endif
