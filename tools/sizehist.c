/*
 * sizehist.c - LD_PRELOAD shim that records the distribution of allocation
 * request sizes of a program, to size ft_malloc's TINY/SMALL/LARGE bounds.
 *
 * Build:  gcc -O2 -shared -fPIC -o tools/build/sizehist.so tools/sizehist.c -ldl
 * Use:    SIZEHIST_OUT=/tmp/h.txt [SIZEHIST_LABEL=name] \
 *           LD_PRELOAD=$PWD/tools/build/sizehist.so  some-program ...
 *
 * Every request (malloc, calloc, realloc with a non-null result wanted,
 * posix_memalign, aligned_alloc, memalign, valloc, pvalloc) is counted by its
 * requested size (calloc: nmemb*size) into
 *   - log2 buckets: bucket k holds sizes in (2^(k-1), 2^k], bucket 0 holds 0..1;
 *   - bands: <=128, <=512, <=1024, <=4096, <=32768, <=131072, >131072
 *     (disjoint: "<=512" means 129..512), with request and byte counts.
 * At exit (a destructor) each process appends one block of lines, all prefixed
 * "SH <pid>", to the file named by SIZEHIST_OUT (one write(2) with O_APPEND).
 * Counters are atomics (relaxed).  Counters are reset in fork children so a
 * child only reports its own requests.  Processes leaving through _exit(2) or
 * exec report nothing (the exec'd image, preloaded again, reports itself).
 *
 * dlsym(RTLD_NEXT, ...) may itself allocate (calloc for dlerror state); those
 * early requests are served from a static buffer that is never handed to the
 * real allocator.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- real functions ---------------------------------------------------- */
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);

/* ---- bootstrap buffer -------------------------------------------------- */
#define BOOT_SIZE (64 * 1024)
static _Alignas(16) unsigned char boot_buf[BOOT_SIZE];
static size_t boot_used; /* guarded by being single-threaded during init */
static int initializing;

static int is_boot(const void *p)
{
    return (const unsigned char *)p >= boot_buf &&
           (const unsigned char *)p < boot_buf + BOOT_SIZE;
}

/* 16-byte header holding the size, so realloc of a boot block can copy. */
static void *boot_alloc(size_t n)
{
    size_t need = ((n + 15) & ~(size_t)15) + 16;
    size_t off = __atomic_fetch_add(&boot_used, need, __ATOMIC_RELAXED);
    if (off + need > BOOT_SIZE)
        return NULL;
    *(size_t *)(boot_buf + off) = n;
    return boot_buf + off + 16; /* static storage is already zero */
}

static size_t boot_size(const void *p)
{
    return *(const size_t *)((const unsigned char *)p - 16);
}

static void init(void)
{
    if (real_malloc || initializing)
        return;
    initializing = 1;
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    real_free = dlsym(RTLD_NEXT, "free");
    real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = dlsym(RTLD_NEXT, "memalign");
    real_valloc = dlsym(RTLD_NEXT, "valloc");
    real_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
    void *m = dlsym(RTLD_NEXT, "malloc");
    __atomic_store_n(&real_malloc, m, __ATOMIC_RELEASE); /* last: marks ready */
    initializing = 0;
}

/* ---- counters ---------------------------------------------------------- */
enum { OP_MALLOC, OP_CALLOC, OP_REALLOC, OP_ALIGNED, OP_FREE, OP_N };
static const char *op_name[OP_N] = {"malloc", "calloc", "realloc", "aligned", "free"};
static const size_t band_max[] = {128, 512, 1024, 4096, 32768, 131072, SIZE_MAX};
#define NBAND 7
static const char *band_name[NBAND] = {"le128", "le512", "le1024", "le4096",
                                       "le32768", "le131072", "gt131072"};
#define NLOG 65

static uint64_t ops[OP_N];
static uint64_t band_n[NBAND], band_b[NBAND];
static uint64_t log_n[NLOG], log_b[NLOG];
static uint64_t zero_req;      /* requests of size 0 */
static uint64_t big_align;     /* aligned requests with alignment > 4096 */
static uint64_t max_req;


/* ---- LARGE-path simulation --------------------------------------------
 * Replays every request against a model of ft_malloc's LARGE path
 * (src/large.rs: page-rounded mapping per block, 8-slot / 64 MiB cache of
 * freed mappings, reuse when cached len is in [need, 2*need], trimming the
 * surplus; realloc in place when the page-rounded size fits, shrinking when
 * under half is used, else one mmap attempt to grow at the end, assumed to
 * succeed).  It runs twice: with the SMALL bound at 32 KiB (current) and at
 * 128 KiB, counting mmap/munmap calls.  Live blocks are found by address in
 * one open-addressing table shared by both models.  Approximate: a realloc
 * racing with another thread's malloc of the same address can confuse it. */
#define NSIM 2
static const size_t sim_bound[NSIM] = {32768, 131072};
#define SIM_CAP (1u << 20)
#define PAGE 4096
struct sim_ent { uintptr_t addr; size_t len[NSIM]; };
static struct sim_ent sim_tab[SIM_CAP];
static size_t sim_count;
static int sim_overflow;
struct sim_cache { size_t len[8]; int n; size_t bytes; };
static struct sim_cache sim_c[NSIM];
enum { S_LARGE, S_HIT, S_MAP, S_UNMAP, S_GROW, S_INPLACE, S_N };
static const char *sim_name[S_N] = {"large", "hit", "mmap", "munmap", "grow", "inplace"};
static uint64_t sim_ctr[NSIM][S_N];
static int sim_lock_word;

static void sim_lock(void)
{
    while (__atomic_exchange_n(&sim_lock_word, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&sim_lock_word, __ATOMIC_RELAXED))
            __builtin_ia32_pause();
}
static void sim_unlock(void) { __atomic_store_n(&sim_lock_word, 0, __ATOMIC_RELEASE); }

static size_t sim_hash(uintptr_t a) { return (size_t)(((a >> 4) * 0x9E3779B97F4A7C15ull) >> 44) & (SIM_CAP - 1); }

static size_t page_round(size_t n) { return n > SIZE_MAX - PAGE ? SIZE_MAX & ~(size_t)(PAGE - 1) : (n + PAGE - 1) & ~(size_t)(PAGE - 1); }

/* Removes addr; fills len[] (zeros when absent). */
static void sim_take(uintptr_t a, size_t *len)
{
    for (int m = 0; m < NSIM; m++)
        len[m] = 0;
    if (!sim_count)
        return;
    size_t i = sim_hash(a);
    while (sim_tab[i].addr && sim_tab[i].addr != a)
        i = (i + 1) & (SIM_CAP - 1);
    if (!sim_tab[i].addr)
        return;
    memcpy(len, sim_tab[i].len, sizeof sim_tab[i].len);
    sim_tab[i].addr = 0;
    sim_count--;
    /* backward-shift deletion */
    size_t j = i;
    for (;;) {
        j = (j + 1) & (SIM_CAP - 1);
        if (!sim_tab[j].addr)
            break;
        size_t h = sim_hash(sim_tab[j].addr);
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            sim_tab[i] = sim_tab[j];
            sim_tab[j].addr = 0;
            i = j;
        }
    }
}

static void sim_put(uintptr_t a, const size_t *len)
{
    int any = 0;
    for (int m = 0; m < NSIM; m++)
        any |= len[m] != 0;
    if (!any || !a)
        return;
    if (sim_count >= SIM_CAP / 2) {
        sim_overflow = 1;
        return;
    }
    size_t i = sim_hash(a);
    while (sim_tab[i].addr)
        i = (i + 1) & (SIM_CAP - 1);
    sim_tab[i].addr = a;
    memcpy(sim_tab[i].len, len, sizeof sim_tab[i].len);
    sim_count++;
}

/* A fresh LARGE block of `need` page-rounded bytes in model m. */
static size_t sim_alloc(int m, size_t n, size_t align)
{
    struct sim_cache *c = &sim_c[m];
    size_t need = page_round(n ? n : 1);
    sim_ctr[m][S_LARGE]++;
    if (align <= PAGE) {
        int best = -1;
        for (int k = 0; k < c->n; k++)
            if (c->len[k] >= need && c->len[k] <= 2 * need && (best < 0 || c->len[k] < c->len[best]))
                best = k;
        if (best >= 0) {
            size_t l = c->len[best];
            memmove(&c->len[best], &c->len[best + 1], (size_t)(c->n - best - 1) * sizeof c->len[0]);
            c->n--;
            c->bytes -= l;
            sim_ctr[m][S_HIT]++;
            if (l > need)
                sim_ctr[m][S_UNMAP]++;
            return need;
        }
        sim_ctr[m][S_MAP]++;
    } else {
        sim_ctr[m][S_MAP]++;
        sim_ctr[m][S_UNMAP] += 2;
    }
    return need;
}

static void sim_free_one(int m, size_t len)
{
    struct sim_cache *c = &sim_c[m];
    if (len > (64u << 20) / 2) {
        sim_ctr[m][S_UNMAP]++;
        return;
    }
    while (c->n == 8 || c->bytes + len > (64u << 20)) {
        c->bytes -= c->len[0];
        memmove(&c->len[0], &c->len[1], (size_t)(c->n - 1) * sizeof c->len[0]);
        c->n--;
        sim_ctr[m][S_UNMAP]++;
    }
    c->len[c->n++] = len;
    c->bytes += len;
}

/* A new block q of n bytes (align: 0 for plain). */
static void sim_on_alloc(void *q, size_t n, size_t align)
{
    if (!q)
        return;
    int want = 0;
    for (int m = 0; m < NSIM; m++)
        want |= n > sim_bound[m] || align > PAGE;
    if (!want)
        return;
    size_t len[NSIM];
    sim_lock();
    for (int m = 0; m < NSIM; m++)
        len[m] = (n > sim_bound[m] || align > PAGE) ? sim_alloc(m, n, align) : 0;
    sim_put((uintptr_t)q, len);
    sim_unlock();
}

static void sim_on_free(void *p)
{
    if (!__atomic_load_n(&sim_count, __ATOMIC_RELAXED))
        return;
    size_t len[NSIM];
    sim_lock();
    sim_take((uintptr_t)p, len);
    for (int m = 0; m < NSIM; m++)
        if (len[m])
            sim_free_one(m, len[m]);
    sim_unlock();
}

/* realloc(p, n) returned q (p, q non-null, n > 0). */
static void sim_on_realloc(void *p, void *q, size_t n)
{
    if (!q)
        return;
    size_t old[NSIM], len[NSIM];
    sim_lock();
    sim_take((uintptr_t)p, old);
    for (int m = 0; m < NSIM; m++) {
        len[m] = 0;
        if (old[m] && n > sim_bound[m]) {
            size_t need = page_round(n);
            if (need <= old[m]) {
                sim_ctr[m][S_INPLACE]++;
                len[m] = old[m];
                if (need < old[m] / 2) {
                    sim_ctr[m][S_UNMAP]++;
                    len[m] = need;
                }
            } else {
                sim_ctr[m][S_GROW]++;
                sim_ctr[m][S_MAP]++;
                len[m] = need;
            }
        } else if (old[m]) {
            sim_free_one(m, old[m]);
        } else if (n > sim_bound[m]) {
            len[m] = sim_alloc(m, n, 0);
        }
    }
    sim_put((uintptr_t)q, len);
    sim_unlock();
}

/* exact sizes in (32768, 131072], rounded up to 16 */
#define MID_N ((131072 - 32768) / 16)
static uint64_t mid_n[MID_N];

static void count(int op, size_t n)
{
    if (n > 32768 && n <= 131072)
        __atomic_fetch_add(&mid_n[(n - 32768 - 1) / 16], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&ops[op], 1, __ATOMIC_RELAXED);
    int b = 0;
    while (n > band_max[b])
        b++;
    __atomic_fetch_add(&band_n[b], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&band_b[b], n, __ATOMIC_RELAXED);
    int k = n <= 1 ? 0 : 64 - __builtin_clzll((unsigned long long)(n - 1));
    __atomic_fetch_add(&log_n[k], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&log_b[k], n, __ATOMIC_RELAXED);
    if (n == 0)
        __atomic_fetch_add(&zero_req, 1, __ATOMIC_RELAXED);
    uint64_t cur = __atomic_load_n(&max_req, __ATOMIC_RELAXED);
    while (n > cur && !__atomic_compare_exchange_n(&max_req, &cur, n, 1,
                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static void count_aligned(size_t align, size_t n)
{
    if (align > 4096)
        __atomic_fetch_add(&big_align, 1, __ATOMIC_RELAXED);
    count(OP_ALIGNED, n);
}

static void reset_child(void)
{
    memset(ops, 0, sizeof ops);
    memset(band_n, 0, sizeof band_n);
    memset(band_b, 0, sizeof band_b);
    memset(log_n, 0, sizeof log_n);
    memset(log_b, 0, sizeof log_b);
    zero_req = big_align = max_req = 0;
    memset(sim_ctr, 0, sizeof sim_ctr);
    memset(mid_n, 0, sizeof mid_n);
}

/* ---- interposed API ---------------------------------------------------- */
#define READY() (__atomic_load_n(&real_malloc, __ATOMIC_ACQUIRE) != NULL)

void *malloc(size_t n)
{
    if (!READY()) {
        init();
        if (!READY())
            return boot_alloc(n);
    }
    count(OP_MALLOC, n);
    void *q = real_malloc(n);
    sim_on_alloc(q, n, 0);
    return q;
}

void *calloc(size_t nm, size_t sz)
{
    if (!READY()) {
        init();
        if (!READY()) {
            size_t t;
            if (__builtin_mul_overflow(nm, sz, &t))
                return NULL;
            return boot_alloc(t);
        }
    }
    size_t t;
    int ov = __builtin_mul_overflow(nm, sz, &t);
    count(OP_CALLOC, ov ? SIZE_MAX : t);
    void *q = real_calloc(nm, sz);
    if (!ov)
        sim_on_alloc(q, t, 0);
    return q;
}

void free(void *p)
{
    if (p == NULL || is_boot(p))
        return;
    if (!READY())
        init();
    __atomic_fetch_add(&ops[OP_FREE], 1, __ATOMIC_RELAXED);
    sim_on_free(p);
    real_free(p);
}

void *realloc(void *p, size_t n)
{
    if (!READY()) {
        init();
        if (!READY()) {
            void *q = boot_alloc(n);
            if (q && p)
                memcpy(q, p, boot_size(p) < n ? boot_size(p) : n);
            return q;
        }
    }
    if (p && is_boot(p)) {
        count(OP_REALLOC, n);
        void *q = real_malloc(n);
        sim_on_alloc(q, n, 0);
        if (q)
            memcpy(q, p, boot_size(p) < n ? boot_size(p) : n);
        return q;
    }
    if (p && n == 0) { /* glibc: frees, returns NULL */
        __atomic_fetch_add(&ops[OP_FREE], 1, __ATOMIC_RELAXED);
        sim_on_free(p);
        return real_realloc(p, n);
    }
    count(OP_REALLOC, n);
    void *q = real_realloc(p, n);
    if (p)
        sim_on_realloc(p, q, n);
    else
        sim_on_alloc(q, n, 0);
    return q;
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (!READY())
        init();
    count_aligned(align, n);
    int r = real_posix_memalign(out, align, n);
    if (r == 0)
        sim_on_alloc(*out, n, align);
    return r;
}

void *aligned_alloc(size_t align, size_t n)
{
    if (!READY())
        init();
    count_aligned(align, n);
    void *q = real_aligned_alloc(align, n);
    sim_on_alloc(q, n, align);
    return q;
}

void *memalign(size_t align, size_t n)
{
    if (!READY())
        init();
    count_aligned(align, n);
    void *q = real_memalign(align, n);
    sim_on_alloc(q, n, align);
    return q;
}

void *valloc(size_t n)
{
    if (!READY())
        init();
    count_aligned(4096, n);
    void *q = real_valloc(n);
    sim_on_alloc(q, n, 4096);
    return q;
}

void *pvalloc(size_t n)
{
    if (!READY())
        init();
    count_aligned(4096, n);
    void *q = real_pvalloc(n);
    sim_on_alloc(q, n, 4096);
    return q;
}

/* ---- report ------------------------------------------------------------ */
static char out_buf[16384];
static size_t out_len;

static void put(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(out_buf + out_len, sizeof out_buf - out_len, fmt, ap);
    va_end(ap);
    if (w > 0)
        out_len += (size_t)w < sizeof out_buf - out_len ? (size_t)w : sizeof out_buf - out_len - 1;
}

static uint64_t ld(uint64_t *v) { return __atomic_load_n(v, __ATOMIC_RELAXED); }

__attribute__((constructor)) static void sizehist_ctor(void)
{
    init();
    pthread_atfork(NULL, NULL, reset_child);
}

__attribute__((destructor)) static void sizehist_dtor(void)
{
    const char *path = getenv("SIZEHIST_OUT");
    if (!path || !*path)
        return;
    const char *label = getenv("SIZEHIST_LABEL");
    int pid = (int)getpid();
    out_len = 0;
    put("SH %d begin comm=%s label=%s ppid=%d\n", pid, program_invocation_short_name,
        label && *label ? label : "-", (int)getppid());
    put("SH %d ops", pid);
    for (int i = 0; i < OP_N; i++)
        put(" %s=%llu", op_name[i], (unsigned long long)ld(&ops[i]));
    put(" zero=%llu bigalign=%llu max=%llu boot=%llu\n", (unsigned long long)ld(&zero_req),
        (unsigned long long)ld(&big_align), (unsigned long long)ld(&max_req),
        (unsigned long long)ld((uint64_t *)&boot_used));
    put("SH %d band_n", pid);
    for (int i = 0; i < NBAND; i++)
        put(" %s=%llu", band_name[i], (unsigned long long)ld(&band_n[i]));
    put("\nSH %d band_b", pid);
    for (int i = 0; i < NBAND; i++)
        put(" %s=%llu", band_name[i], (unsigned long long)ld(&band_b[i]));
    put("\nSH %d log2_n", pid);
    for (int k = 0; k < NLOG; k++)
        if (ld(&log_n[k]))
            put(" %d=%llu", k, (unsigned long long)ld(&log_n[k]));
    put("\nSH %d log2_b", pid);
    for (int k = 0; k < NLOG; k++)
        if (ld(&log_n[k]))
            put(" %d=%llu", k, (unsigned long long)ld(&log_b[k]));
    for (int m = 0; m < NSIM; m++) {
        put("\nSH %d sim%zu", pid, sim_bound[m]);
        for (int i = 0; i < S_N; i++)
            put(" %s=%llu", sim_name[i], (unsigned long long)sim_ctr[m][i]);
        put(" overflow=%d", sim_overflow);
    }
    put("\nSH %d mid", pid);
    for (int t = 0; t < 12; t++) { /* top 12 exact sizes in (32K, 128K] */
        int best = -1;
        for (int i = 0; i < MID_N; i++)
            if (mid_n[i] && (best < 0 || mid_n[i] > mid_n[best]))
                best = i;
        if (best < 0)
            break;
        put(" %d=%llu", 32768 + 16 * (best + 1), (unsigned long long)mid_n[best]);
        mid_n[best] = 0;
    }
    put("\nSH %d end\n", pid);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    ssize_t r = write(fd, out_buf, out_len);
    (void)r;
    close(fd);
}
