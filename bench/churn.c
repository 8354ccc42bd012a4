/* churn: single-threaded churn of small objects with a cfrac/espresso-like
 * size mix (70% <= 64 B, 25% <= 512 B, 5% <= 4 KiB) and roughly 1000-10000
 * live objects: the live set slowly breathes between the two bounds, and
 * every so often a burst of short-lived temporaries is made and dropped.
 * usage: churn [ops_millions=20] */
#include "common.h"

#define SLOTS 10000

static size_t pick_size(rng_t *r) {
    uint64_t x = rng_below(r, 100);
    if (x < 70) return rng_range(r, 8, 64);
    if (x < 95) return rng_range(r, 65, 512);
    return rng_range(r, 513, 4096);
}

int main(int argc, char **argv) {
    long ops = arg_long(argc, argv, 1, 20) * 1000000L;
    static void *slot[SLOTS];
    static uint32_t len[SLOTS];
    rng_t r; rng_seed(&r, 42);
    uint64_t sum = 0;
    long live = 0, done = 0;
    double t0 = now_s();
    while (done < ops) {
        /* target occupancy swings 10% .. 100% of SLOTS over ~400k ops */
        long phase = (done / 4000) % 100;
        long target = 1000 + (SLOTS - 1000) * (phase < 50 ? phase : 100 - phase) / 50;
        for (int k = 0; k < 1000; k++, done++) {
            uint32_t i = (uint32_t)rng_below(&r, SLOTS);
            if (slot[i] && (live > target || rng_below(&r, 2))) {
                check(slot[i], len[i]);
                if (len[i] >= 24 && ((char *)slot[i])[len[i] / 2] != (char)len[i]) die("churn: middle byte changed");
                sum += len[i];
                free(slot[i]); slot[i] = NULL; live--;
            } else if (!slot[i]) {
                size_t n = pick_size(&r);
                char *p = xmalloc(n);
                memset(p, (int)(n & 0xff), n < 64 ? n : 64);
                p[n / 2] = (char)n;
                stamp(p, n);
                slot[i] = p; len[i] = (uint32_t)n; live++;
            }
        }
        /* temporaries: a burst of small objects that die immediately (LIFO) */
        void *tmp[32];
        int nt = (int)rng_range(&r, 1, 32);
        for (int k = 0; k < nt; k++) { size_t n = pick_size(&r); tmp[k] = xmalloc(n); stamp(tmp[k], n); }
        for (int k = nt - 1; k >= 0; k--) free(tmp[k]);
        done += 2 * nt;
    }
    for (int i = 0; i < SLOTS; i++) if (slot[i]) { check(slot[i], len[i]); free(slot[i]); }
    double t = now_s() - t0;
    printf("churn ok sum=%llu\n", (unsigned long long)sum);
    printf("throughput: %.0f ops/s\n", ops / t);
    return 0;
}
