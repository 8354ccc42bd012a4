/* prodcons: producer/consumer with cross-thread frees (like xmalloc-test).
 * P producer threads allocate batches of 256 objects (16..512 B), hand
 * each batch to their consumer thread through a bounded mutex/condvar
 * queue, and the consumer checks and frees every object.
 * usage: prodcons [batches_per_pair_thousands=40] [pairs=2] */
#include "common.h"
#include <pthread.h>

#define BATCH 256
#define QCAP 16

typedef struct { void *p[BATCH]; uint32_t n[BATCH]; } batch_t;
/* Cache-line aligned, so that one pair's consumer, which adds to sum on every object, does not
 * share a line with the next pair's mutex (false sharing in the harness; see larson.c). */
typedef struct {
    _Alignas(64) pthread_mutex_t mu; pthread_cond_t not_empty, not_full;
    batch_t *q[QCAP]; int head, count;
    long batches; int id; uint64_t sum;
} pair_t;

static void *producer(void *arg) {
    pair_t *pr = arg;
    rng_t r; rng_seed(&r, 1000 + (uint64_t)pr->id);
    for (long b = 0; b < pr->batches; b++) {
        batch_t *bt = xmalloc(sizeof *bt);
        for (int i = 0; i < BATCH; i++) {
            size_t s = rng_range(&r, 16, 512);
            bt->p[i] = xmalloc(s); bt->n[i] = (uint32_t)s; stamp(bt->p[i], s);
        }
        pthread_mutex_lock(&pr->mu);
        while (pr->count == QCAP) pthread_cond_wait(&pr->not_full, &pr->mu);
        pr->q[(pr->head + pr->count) % QCAP] = bt; pr->count++;
        pthread_cond_signal(&pr->not_empty);
        pthread_mutex_unlock(&pr->mu);
    }
    return NULL;
}

static void *consumer(void *arg) {
    pair_t *pr = arg;
    for (long b = 0; b < pr->batches; b++) {
        pthread_mutex_lock(&pr->mu);
        while (pr->count == 0) pthread_cond_wait(&pr->not_empty, &pr->mu);
        batch_t *bt = pr->q[pr->head]; pr->head = (pr->head + 1) % QCAP; pr->count--;
        pthread_cond_signal(&pr->not_full);
        pthread_mutex_unlock(&pr->mu);
        for (int i = 0; i < BATCH; i++) { check(bt->p[i], bt->n[i]); pr->sum += bt->n[i]; free(bt->p[i]); }
        free(bt);
    }
    return NULL;
}

int main(int argc, char **argv) {
    long batches = arg_long(argc, argv, 1, 40) * 1000L;
    int pairs = (int)arg_long(argc, argv, 2, 2);
    pair_t *pr = NULL;
    if (posix_memalign((void **)&pr, 64, (size_t)pairs * sizeof *pr) != 0) die("posix_memalign");
    memset(pr, 0, (size_t)pairs * sizeof *pr);
    pthread_t *th = calloc((size_t)pairs * 2, sizeof *th);
    double t0 = now_s();
    for (int i = 0; i < pairs; i++) {
        pthread_mutex_init(&pr[i].mu, NULL);
        pthread_cond_init(&pr[i].not_empty, NULL); pthread_cond_init(&pr[i].not_full, NULL);
        pr[i].batches = batches; pr[i].id = i;
        pthread_create(&th[2 * i], NULL, producer, &pr[i]);
        pthread_create(&th[2 * i + 1], NULL, consumer, &pr[i]);
    }
    uint64_t sum = 0;
    for (int i = 0; i < 2 * pairs; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < pairs; i++) sum += pr[i].sum;
    double t = now_s() - t0;
    printf("prodcons ok sum=%llu\n", (unsigned long long)sum);
    printf("throughput: %.0f objects/s\n", (double)batches * BATCH * pairs / t);
    free(pr); free(th);
    return 0;
}
