/* medium: threads that use buffers: each of T threads keeps 100 live blocks of
 * random size 16 B..256 KiB (three quarters of them LARGE for ft_malloc) and
 * replaces a random one per step, writing a word into every page of the new
 * block. Stresses the path of blocks above the small classes under threads.
 * Blocks are stamped and checked; each thread's checksum is summed.
 * usage: medium [steps_thousands_per_thread=200] [threads=2] [live=100] [max=262144] */
#include "common.h"
#include <pthread.h>

static long steps, live;
static size_t max_size;

static void *worker(void *arg) {
    rng_t r; rng_seed(&r, 1000 + (uint64_t)(uintptr_t)arg);
    void **slot = calloc((size_t)live, sizeof *slot);
    size_t *len = calloc((size_t)live, sizeof *len);
    if (!slot || !len) die("medium alloc");
    uint64_t sum = 0;
    for (long k = 0; k < steps; k++) {
        long j = (long)rng_below(&r, (uint64_t)live);
        if (slot[j]) { check(slot[j], len[j]); sum += len[j]; free(slot[j]); }
        size_t s = rng_range(&r, 16, max_size);
        char *q = xmalloc(s);
        for (size_t o = 0; o < s; o += 4096) q[o] = (char)o;
        stamp(q, s);
        slot[j] = q; len[j] = s;
    }
    for (long j = 0; j < live; j++) if (slot[j]) { check(slot[j], len[j]); free(slot[j]); }
    free(slot); free(len);
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv) {
    steps = arg_long(argc, argv, 1, 200) * 1000L;
    long nt = arg_long(argc, argv, 2, 2);
    live = arg_long(argc, argv, 3, 100);
    max_size = (size_t)arg_long(argc, argv, 4, 262144);
    if (nt < 1 || nt > 256 || live < 1 || max_size < 16) die("bad arguments");
    pthread_t th[256];
    double t0 = now_s();
    for (long i = 0; i < nt; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i)) die("pthread_create");
    uint64_t sum = 0;
    for (long i = 0; i < nt; i++) { void *v; pthread_join(th[i], &v); sum += (uint64_t)(uintptr_t)v; }
    double t = now_s() - t0;
    printf("medium ok sum=%llu\n", (unsigned long long)sum);
    printf("throughput: %.0f ops/s\n", (double)steps * (double)nt / t);
    return 0;
}
