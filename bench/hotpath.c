/* hotpath: malloc+free pairs for counting instructions under callgrind.
 * Build with -fno-builtin so the compiler cannot elide or merge the calls;
 * malloc/free are called through the PLT like in any program.
 *   a: p = malloc(32); free(p);                        (same block reused)
 *   b: ~1000 live blocks of 16..512 B, a random one is freed and replaced
 *   c: ~1000 live blocks of 16..512 B, freed in FIFO order
 * usage: hotpath a|b|c pairs real|base [warm=200000]
 * Both modes do the same setup and warm-up (allocator initialised, 1000
 * blocks live, `warm` real pairs); then "real" does `pairs` more malloc+free
 * pairs while "base" runs the same loop (same generator, same stores) with
 * the malloc/free calls left out. Net cost per pair =
 * (Ir(real) - Ir(base)) / pairs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE 1000

static void *slot[LIVE];
static void *volatile sink;
static uint64_t state = 88172645463325252ull;

static inline uint64_t gen(void) {          /* xorshift64 */
    uint64_t x = state;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return state = x;
}
static inline size_t gen_size(uint64_t x) { return 16 + (size_t)((x >> 8) % 497); }  /* 16..512 */

__attribute__((noinline)) static void loop_a(long n, int real) {
    if (real) for (long i = 0; i < n; i++) { void *p = malloc(32); sink = p; free(p); }
    else      for (long i = 0; i < n; i++) { void *p = &slot[i & 7]; sink = p; }
}
__attribute__((noinline)) static void loop_b(long n, int real) {
    if (real) for (long i = 0; i < n; i++) { uint64_t x = gen(); size_t j = x % LIVE; free(slot[j]); slot[j] = malloc(gen_size(x)); }
    else      for (long i = 0; i < n; i++) { uint64_t x = gen(); size_t j = x % LIVE; sink = slot[j]; slot[j] = (void *)gen_size(x); }
}
static size_t head;
__attribute__((noinline)) static void loop_c(long n, int real) {
    if (real) for (long i = 0; i < n; i++) { uint64_t x = gen(); free(slot[head]); slot[head] = malloc(gen_size(x)); head = head + 1 == LIVE ? 0 : head + 1; }
    else      for (long i = 0; i < n; i++) { uint64_t x = gen(); sink = slot[head]; slot[head] = (void *)gen_size(x); head = head + 1 == LIVE ? 0 : head + 1; }
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: hotpath a|b|c pairs real|base [warm]\n"); return 1; }
    char pat = argv[1][0];
    long n = strtol(argv[2], NULL, 10);
    int real = strcmp(argv[3], "real") == 0;
    long warm = argc > 4 ? strtol(argv[4], NULL, 10) : 200000;
    void (*loop)(long, int) = pat == 'a' ? loop_a : pat == 'b' ? loop_b : loop_c;
    if (pat != 'a') for (int i = 0; i < LIVE; i++) slot[i] = malloc(gen_size(gen()));
    loop(pat == 'a' ? 1000 : warm, 1);      /* warm-up, identical in both modes */
    void *saved[LIVE];
    if (!real && pat != 'a') memcpy(saved, slot, sizeof slot);
    loop(n, real);
    if (!real && pat != 'a') memcpy(slot, saved, sizeof slot);
    if (pat != 'a') for (int i = 0; i < LIVE; i++) free(slot[i]);
    puts("hotpath ok");
    return 0;
}
