/* ring: N live blocks of random size 8..8192 B kept in a ring; each step
 * frees a block picked at random from the oldest W (so blocks die out of
 * allocation order) and puts a new random-size block at the ring head.
 * Stresses fragmentation and size-class spread.
 * usage: ring [steps_millions=10] [live=20000] [window=1000] */
#include "common.h"

int main(int argc, char **argv) {
    long steps = arg_long(argc, argv, 1, 10) * 1000000L;
    long n = arg_long(argc, argv, 2, 20000);
    long w = arg_long(argc, argv, 3, 1000);
    if (w > n) w = n;
    void **ring = calloc((size_t)n, sizeof *ring);
    uint32_t *len = calloc((size_t)n, sizeof *len);
    if (!ring || !len) die("ring alloc");
    rng_t r; rng_seed(&r, 7);
    uint64_t sum = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        size_t s = rng_range(&r, 8, 8192);
        ring[i] = xmalloc(s); len[i] = (uint32_t)s; stamp(ring[i], s);
    }
    long head = 0; /* oldest block */
    for (long k = 0; k < steps; k++) {
        long j = (head + (long)rng_below(&r, (uint64_t)w)) % n;
        /* swap the victim to the head, free it, refill the slot (it becomes the newest) */
        void *p = ring[j]; uint32_t l = len[j];
        ring[j] = ring[head]; len[j] = len[head];
        check(p, l); sum += l;
        free(p);
        size_t s = rng_range(&r, 8, 8192);
        char *q = xmalloc(s);
        for (size_t o = 0; o < s; o += 4096) q[o] = 1; /* touch each page */
        stamp(q, s);
        ring[head] = q; len[head] = (uint32_t)s;
        head = (head + 1) % n;
    }
    for (long i = 0; i < n; i++) { check(ring[i], len[i]); free(ring[i]); }
    double t = now_s() - t0;
    free(ring); free(len);
    printf("ring ok sum=%llu\n", (unsigned long long)sum);
    printf("throughput: %.0f ops/s\n", steps / t);
    return 0;
}
