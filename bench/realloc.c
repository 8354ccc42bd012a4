/* realloc: (a) vectors that double from 16 B to 1 MiB through realloc,
 * several growing at once so they cannot simply extend in place;
 * (b) many strings that grow by a few bytes at a time (append-style),
 * round-robin, up to a few KiB. Contents are verified after every move.
 * usage: realloc [rounds=30] */
#include "common.h"

#define NVEC 8
#define NSTR 2000

int main(int argc, char **argv) {
    long rounds = arg_long(argc, argv, 1, 30);
    rng_t r; rng_seed(&r, 3);
    uint64_t sum = 0;
    double t0 = now_s();
    for (long round = 0; round < rounds; round++) {
        /* (a) doubling vectors, interleaved */
        for (int rep = 0; rep < 4; rep++) {
            unsigned char *v[NVEC]; size_t cap[NVEC];
            for (int i = 0; i < NVEC; i++) { cap[i] = 16; v[i] = xmalloc(16); memset(v[i], i, 16); }
            while (cap[0] < (1u << 20)) {
                for (int i = 0; i < NVEC; i++) {
                    size_t nc = cap[i] * 2;
                    unsigned char *nv = realloc(v[i], nc);
                    if (!nv) die("realloc NULL");
                    if (nv[0] != (unsigned char)i || nv[cap[i] - 1] != (unsigned char)i) die("realloc lost vector contents");
                    memset(nv + cap[i], i, nc - cap[i]);
                    v[i] = nv; cap[i] = nc;
                }
            }
            for (int i = 0; i < NVEC; i++) { sum += v[i][cap[i] / 2]; free(v[i]); }
        }
        /* (b) strings growing by 1..16 bytes, round-robin */
        char *s[NSTR]; size_t len[NSTR];
        for (int i = 0; i < NSTR; i++) { len[i] = 0; s[i] = NULL; }
        size_t limit = 256 + rng_below(&r, 3840);
        for (int pass = 0; ; pass++) {
            int grew = 0;
            for (int i = 0; i < NSTR; i++) {
                if (len[i] >= limit) continue;
                size_t add = rng_range(&r, 1, 16);
                char *ns = realloc(s[i], len[i] + add + 1);
                if (!ns) die("realloc NULL");
                if (len[i] && (ns[0] != (char)('a' + i % 26) || ns[len[i] - 1] != (char)('a' + (i + len[i] - 1) % 26)))
                    die("realloc lost string contents");
                for (size_t k = 0; k < add; k++) ns[len[i] + k] = (char)('a' + (i + len[i] + k) % 26);
                len[i] += add; ns[len[i]] = 0;
                s[i] = ns; grew = 1;
            }
            if (!grew) break;
        }
        for (int i = 0; i < NSTR; i++) { sum += len[i]; free(s[i]); }
    }
    double t = now_s() - t0;
    printf("realloc ok sum=%llu\n", (unsigned long long)sum);
    printf("throughput: %.2f rounds/s\n", rounds / t);
    return 0;
}
