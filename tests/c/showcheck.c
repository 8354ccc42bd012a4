/*
 * showcheck.c - validates show_alloc_mem() output (not preloaded).
 *
 *   showcheck OUTPUT EXPECT
 *
 * OUTPUT: what show_alloc_mem printed.  Every line must match one of
 *   ^(TINY|SMALL|LARGE) : 0x[0-9A-F]+$
 *   ^0x[0-9A-F]+ - 0x[0-9A-F]+ : [0-9]+ bytes$
 *   ^Total : [0-9]+ bytes$        (exactly once, last)
 * Zone headers are in strictly increasing address order, blocks in
 * increasing, non-overlapping order, each block after its zone header and
 * before the next one, END - START == N, and the zone kind matches N
 * (TINY <= FT_MALLOC_TINY_MAX < SMALL <= FT_MALLOC_SMALL_MAX < LARGE).
 * EXPECT: lines "EXPECT <n>" (one per live block) and "EXPECT_TOTAL <sum>";
 * other lines are ignored.  The listed sizes must be exactly the expected
 * multiset and Total must equal their sum.
 * Prints nothing and exits 0 when fine, else one line saying what is wrong.
 */
#define _GNU_SOURCE
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include("ft_malloc.h")
#include "ft_malloc.h"
#endif
#endif
#ifndef FT_MALLOC_TINY_MAX
#define FT_MALLOC_TINY_MAX 512
#endif
#ifndef FT_MALLOC_SMALL_MAX
#define FT_MALLOC_SMALL_MAX 32768
#endif

static int lineno;

#define BAD(...)                                                              \
	do {                                                                  \
		printf("show_alloc_mem output line %d: ", lineno);            \
		printf(__VA_ARGS__);                                          \
		printf("\n");                                                 \
		exit(1);                                                      \
	} while (0)

static int cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

static const char *kind_for(size_t n)
{
	return n <= (size_t)(FT_MALLOC_TINY_MAX) ? "TINY"
	       : n <= (size_t)(FT_MALLOC_SMALL_MAX) ? "SMALL"
						  : "LARGE";
}

int main(int argc, char **argv)
{
	regex_t re_zone, re_block, re_total;
	regmatch_t m[4];
	char line[4096];
	size_t *want = NULL, *got = NULL, nwant = 0, ngot = 0, cap_w = 0, cap_g = 0;
	size_t want_total = (size_t)-1, listed_sum = 0, total = 0;
	int have_total = 0, have_zone = 0, zones = 0;
	uintptr_t zone_addr = 0, last_end = 0;
	char zone_kind[8] = "";
	FILE *f;

	if (argc != 3) {
		fprintf(stderr, "usage: showcheck OUTPUT EXPECT\n");
		return 2;
	}
	regcomp(&re_zone, "^(TINY|SMALL|LARGE) : 0x([0-9A-F]+)$", REG_EXTENDED);
	regcomp(&re_block, "^0x([0-9A-F]+) - 0x([0-9A-F]+) : ([0-9]+) bytes$", REG_EXTENDED);
	regcomp(&re_total, "^Total : ([0-9]+) bytes$", REG_EXTENDED);

	if (!(f = fopen(argv[2], "r"))) {
		printf("cannot open %s\n", argv[2]);
		return 1;
	}
	while (fgets(line, sizeof line, f)) {
		size_t v;
		if (sscanf(line, "EXPECT %zu", &v) == 1) {
			if (nwant == cap_w)
				want = realloc(want, (cap_w = cap_w * 2 + 64) * sizeof *want);
			want[nwant++] = v;
		} else if (sscanf(line, "EXPECT_TOTAL %zu", &v) == 1)
			want_total = v;
	}
	fclose(f);
	if (want_total == (size_t)-1) {
		printf("no EXPECT_TOTAL line: the test program failed before show_alloc_mem\n");
		return 1;
	}

	if (!(f = fopen(argv[1], "r"))) {
		printf("cannot open %s\n", argv[1]);
		return 1;
	}
	while (fgets(line, sizeof line, f)) {
		size_t len = strlen(line);
		lineno++;
		if (len == 0 || line[len - 1] != '\n')
			BAD("missing newline at the end of the output");
		line[--len] = 0;
		if (have_total)
			BAD("\"%s\" after the Total line", line);
		if (regexec(&re_zone, line, 3, m, 0) == 0) {
			uintptr_t a = strtoull(line + m[2].rm_so, NULL, 16);
			if (have_zone && a <= zone_addr)
				BAD("zone %#lx not after the previous zone %#lx", (unsigned long)a,
				    (unsigned long)zone_addr);
			if (a < last_end)
				BAD("zone %#lx starts before the end of the previous block %#lx",
				    (unsigned long)a, (unsigned long)last_end);
			zone_addr = a;
			have_zone = 1;
			zones++;
			memcpy(zone_kind, line + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
			zone_kind[m[1].rm_eo - m[1].rm_so] = 0;
		} else if (regexec(&re_block, line, 4, m, 0) == 0) {
			uintptr_t s = strtoull(line + m[1].rm_so, NULL, 16);
			uintptr_t e = strtoull(line + m[2].rm_so, NULL, 16);
			size_t n = strtoull(line + m[3].rm_so, NULL, 10);
			if (!have_zone)
				BAD("block before any zone header");
			if (e - s != n || e < s)
				BAD("\"%s\": END - START = %ld, not %zu", line, (long)(e - s), n);
			if (s < zone_addr)
				BAD("block %#lx lies before its zone header %#lx", (unsigned long)s,
				    (unsigned long)zone_addr);
			if (ngot > 0 && s < last_end)
				BAD("block %#lx not after the previous block's end %#lx", (unsigned long)s,
				    (unsigned long)last_end);
			if (strcmp(kind_for(n), zone_kind) != 0)
				BAD("a %zu-byte block is listed under %s, want %s", n, zone_kind, kind_for(n));
			last_end = e > s ? e : s + 1;
			listed_sum += n;
			if (ngot == cap_g)
				got = realloc(got, (cap_g = cap_g * 2 + 64) * sizeof *got);
			got[ngot++] = n;
		} else if (regexec(&re_total, line, 2, m, 0) == 0) {
			total = strtoull(line + m[1].rm_so, NULL, 10);
			have_total = 1;
		} else {
			BAD("\"%.200s\" does not match the required format", line);
		}
	}
	fclose(f);
	if (!have_total)
		BAD("no \"Total : N bytes\" line at the end");
	if (total != listed_sum)
		BAD("Total %zu != %zu, the sum of the listed blocks", total, listed_sum);
	if (total != want_total)
		BAD("Total %zu != %zu, the sum of the live allocations", total, want_total);
	qsort(want, nwant, sizeof *want, cmp);
	qsort(got, ngot, sizeof *got, cmp);
	for (size_t i = 0, j = 0; i < nwant || j < ngot;) {
		if (j == ngot || (i < nwant && want[i] < got[j])) {
			printf("a live %zu-byte block is not listed (%zu listed, %zu expected)\n", want[i],
			       ngot, nwant);
			return 1;
		}
		if (i == nwant || got[j] < want[i]) {
			printf("a %zu-byte block is listed that is not live (freed, or allocated "
			       "behind the program's back)\n",
			       got[j]);
			return 1;
		}
		i++;
		j++;
	}
	return 0;
}
