/* rss_decay: how fast does freed memory go back to the OS?
 * Allocates PEAK MiB in small blocks (64..256 B), frees them all, then does
 * light allocation activity (small malloc/free pairs, a few hundred live)
 * for 2 s, printing the resident set size every 100 ms.
 * Output: "# peak_rss_kb N" then "t_ms rss_kb" lines, t measured from the
 * moment the last block was freed (t = 0 is right after the free).
 * usage: rss_decay [peak_mib=1024] [duration_ms=2000] */
#include "common.h"
#include <sys/mman.h>
#include <unistd.h>

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) { if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0; fclose(f); }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv) {
    size_t peak = (size_t)arg_long(argc, argv, 1, 1024) << 20;
    long dur = arg_long(argc, argv, 2, 2000);
    size_t maxn = peak / 64 + 1;
    /* the pointer array comes straight from mmap so it does not disturb the allocator */
    void **ptr = mmap(NULL, maxn * sizeof *ptr, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ptr == MAP_FAILED) die("mmap");
    rng_t r; rng_seed(&r, 5);
    size_t total = 0, n = 0;
    while (total < peak) {
        size_t s = rng_range(&r, 64, 256);
        char *p = xmalloc(s);
        memset(p, 1, s);
        ptr[n++] = p; total += s;
    }
    long peak_kb = rss_kb() - (long)(n * sizeof *ptr / 1024);  /* minus the pointer array */
    /* free in allocation order, except every other block first, then the rest */
    for (size_t i = 0; i < n; i += 2) free(ptr[i]);
    for (size_t i = 1; i < n; i += 2) free(ptr[i]);
    munmap(ptr, maxn * sizeof *ptr);
    printf("# peak_rss_kb %ld\n", peak_kb);
    double t0 = now_s();
    void *small[256] = {0};
    long next = 0;
    for (;;) {
        double el = (now_s() - t0) * 1000.0;
        if (el >= next) {
            printf("%ld %ld\n", next, rss_kb());
            fflush(stdout);
            next += 100;
            if (next > dur) break;
        }
        /* light activity: ~1000 small malloc/free pairs per ms at most, then a nap */
        for (int k = 0; k < 1000; k++) {
            int i = (int)rng_below(&r, 256);
            free(small[i]);
            size_t s = rng_range(&r, 16, 256);
            small[i] = xmalloc(s);
            memset(small[i], 2, s);
        }
        usleep(1000);
    }
    for (int i = 0; i < 256; i++) free(small[i]);
    return 0;
}
