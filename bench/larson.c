/* larson: server simulation after Larson & Krishnan. T chains of threads;
 * each chain owns an array of S slots. A thread replaces random slots with
 * new blocks of random size 16..1024 B (freeing the old block, which was
 * usually allocated by an earlier, now dead, thread), then starts its
 * successor with the same array and exits. Reports ops/s.
 * usage: larson [rounds=200] [threads=4] [slots=2000] [ops_per_round=20000] */
#include "common.h"
#include <pthread.h>

/* A cache line of its own per chain: its thread updates r and sum on every operation (and
 * reloads slot and len after each malloc and free), so chains packed 48 bytes apart would share
 * lines between threads. That false sharing is the harness's, not the allocator's: at 16
 * threads it cost every allocator a cache miss per operation and hid their differences. */
typedef struct {
    _Alignas(64) void **slot; uint32_t *len;
    long rounds_left; long ops; rng_t r; uint64_t sum;
} chain_t;

static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int chains_running;
static long slots;

static void *worker(void *arg) {
    chain_t *c = arg;
    for (long k = 0; k < c->ops; k++) {
        long i = (long)rng_below(&c->r, (uint64_t)slots);
        check(c->slot[i], c->len[i]);
        c->sum += c->len[i];
        free(c->slot[i]);
        size_t s = rng_range(&c->r, 16, 1024);
        c->slot[i] = xmalloc(s); c->len[i] = (uint32_t)s; stamp(c->slot[i], s);
    }
    if (--c->rounds_left > 0) {
        pthread_t t; pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, worker, c) != 0) die("pthread_create");
        pthread_attr_destroy(&a);
    } else {
        pthread_mutex_lock(&done_mu);
        if (--chains_running == 0) pthread_cond_signal(&done_cv);
        pthread_mutex_unlock(&done_mu);
    }
    return NULL;
}

int main(int argc, char **argv) {
    long rounds = arg_long(argc, argv, 1, 200);
    int threads = (int)arg_long(argc, argv, 2, 4);
    slots = arg_long(argc, argv, 3, 2000);
    long ops = arg_long(argc, argv, 4, 20000);
    chain_t *c = NULL;
    if (posix_memalign((void **)&c, 64, (size_t)threads * sizeof *c) != 0) die("posix_memalign");
    memset(c, 0, (size_t)threads * sizeof *c);
    for (int t = 0; t < threads; t++) {
        c[t].slot = calloc((size_t)slots, sizeof(void *));
        c[t].len = calloc((size_t)slots, sizeof(uint32_t));
        rng_seed(&c[t].r, 100 + (uint64_t)t);
        c[t].rounds_left = rounds; c[t].ops = ops;
        for (long i = 0; i < slots; i++) {
            size_t s = rng_range(&c[t].r, 16, 1024);
            c[t].slot[i] = xmalloc(s); c[t].len[i] = (uint32_t)s; stamp(c[t].slot[i], s);
        }
    }
    chains_running = threads;
    double t0 = now_s();
    for (int t = 0; t < threads; t++) {
        pthread_t th; pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &a, worker, &c[t]) != 0) die("pthread_create");
        pthread_attr_destroy(&a);
    }
    pthread_mutex_lock(&done_mu);
    while (chains_running > 0) pthread_cond_wait(&done_cv, &done_mu);
    pthread_mutex_unlock(&done_mu);
    double t = now_s() - t0;
    uint64_t sum = 0;
    for (int k = 0; k < threads; k++) {
        for (long i = 0; i < slots; i++) { check(c[k].slot[i], c[k].len[i]); free(c[k].slot[i]); }
        free(c[k].slot); free(c[k].len); sum += c[k].sum;
    }
    free(c);
    printf("larson ok sum=%llu\n", (unsigned long long)sum);
    printf("throughput: %.0f ops/s\n", (double)rounds * threads * ops / t);
    return 0;
}
