/* cache-thrash / cache-scratch (after the Hoard benchmarks): false sharing.
 *  thrash:  each thread repeatedly mallocs a small object, writes it many
 *           times, frees it (active false sharing if the allocator puts
 *           different threads' objects on one cache line).
 *  scratch: the main thread mallocs one small object per thread and hands
 *           it over; each thread frees it first, then does the thrash loop
 *           (passive false sharing: freed memory reused by another thread).
 * usage: cache thrash|scratch [iterations=4000] [threads=2] [writes=10000] [objsize=8] */
#include "common.h"
#include <pthread.h>

static long iterations, writes;
static size_t objsize;

typedef struct { void *given; uint64_t sum; } targ_t;

static void *worker(void *arg) {
    targ_t *a = arg;
    if (a->given) free(a->given);
    for (long i = 0; i < iterations; i++) {
        volatile char *p = xmalloc(objsize);
        for (long w = 0; w < writes; w++) {
            for (size_t b = 0; b < objsize; b++) p[b] = (char)(p[b] + (char)w + 1);
        }
        a->sum += (unsigned char)p[0];
        free((void *)p);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) die("usage: cache thrash|scratch ...");
    int scratch = strcmp(argv[1], "scratch") == 0;
    iterations = arg_long(argc, argv, 2, 4000);
    int threads = (int)arg_long(argc, argv, 3, 2);
    writes = arg_long(argc, argv, 4, 10000);
    objsize = (size_t)arg_long(argc, argv, 5, 8);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    targ_t *ta = calloc((size_t)threads, sizeof *ta);
    double t0 = now_s();
    for (int t = 0; t < threads; t++) {
        if (scratch) ta[t].given = xmalloc(objsize);
        pthread_create(&th[t], NULL, worker, &ta[t]);
    }
    uint64_t sum = 0;
    for (int t = 0; t < threads; t++) { pthread_join(th[t], NULL); sum += ta[t].sum; }
    double t = now_s() - t0;
    printf("cache-%s ok sum=%llu\n", scratch ? "scratch" : "thrash", (unsigned long long)sum);
    printf("throughput: %.0f writes/s\n", (double)threads * iterations * writes / t);
    free(th); free(ta);
    return 0;
}
