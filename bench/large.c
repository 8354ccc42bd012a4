/* large: blocks from 64 KiB to 32 MiB (log-uniform sizes), each page
 * touched once, with a few (up to 4) kept live and replaced at random.
 * usage: large [ops=3000] */
#include "common.h"

#define LIVE 4

int main(int argc, char **argv) {
    long ops = arg_long(argc, argv, 1, 3000);
    rng_t r; rng_seed(&r, 11);
    void *live[LIVE] = {0}; size_t len[LIVE] = {0};
    uint64_t sum = 0;
    double t0 = now_s();
    for (long k = 0; k < ops; k++) {
        int i = (int)rng_below(&r, LIVE);
        if (live[i]) {
            check(live[i], len[i]);
            sum += len[i];
            free(live[i]);
        }
        /* log-uniform between 2^16 and 2^25 */
        int sh = (int)rng_range(&r, 16, 24);
        size_t n = ((size_t)1 << sh) + rng_below(&r, (size_t)1 << sh);
        char *p = xmalloc(n);
        for (size_t o = 0; o < n; o += 4096) p[o] = (char)o;
        stamp(p, n);
        live[i] = p; len[i] = n;
    }
    for (int i = 0; i < LIVE; i++) if (live[i]) { check(live[i], len[i]); free(live[i]); }
    double t = now_s() - t0;
    printf("large ok sum=%llu\n", (unsigned long long)sum);
    printf("throughput: %.0f ops/s\n", ops / t);
    return 0;
}
