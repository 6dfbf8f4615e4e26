/*
 * Exhaustive IPv4 check: every one of the 2^32 addresses looked up in the
 * trie and compared with an obviously correct structure — a flat array with
 * one 16-bit entry per address (8 GiB), painted with every prefix in order of
 * increasing length, so that a longer prefix overwrites the shorter ones it
 * sits in.  Run once on the full table (npm run check:exhaustive); it is not
 * part of the test suite because it needs 9 GiB of memory and ~1 minute.
 *
 *   lpm4_exhaustive PREFIX_FILE.gz [--after-updates]
 *
 * With --after-updates the trie is not bulk built but filled by inserting
 * every prefix, deleting a third of them and re-inserting those, so the
 * incremental update path is checked exhaustively as well.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "lpm.h"

struct p4 {
	uint32_t addr;
	uint8_t len;
	uint16_t nh;
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int by_len(const void *a, const void *b)
{
	const struct p4 *x = a, *y = b;
	return (int)x->len - (int)y->len;
}

static uint16_t hash_nh(const char *s)
{
	uint32_t h = 0x811c9dc5u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x01000193u;
	return (uint16_t)(h % 500);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PREFIX_FILE.gz [--after-updates]\n", argv[0]);
		return 2;
	}
	int after_updates = argc > 2 && strcmp(argv[2], "--after-updates") == 0;
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "zcat '%s'", argv[1]);
	FILE *f = popen(cmd, "r");
	if (f == NULL) {
		perror("zcat");
		return 2;
	}
	size_t n = 0, cap = 1 << 20;
	struct p4 *v = malloc(cap * sizeof(*v));
	char line[256];
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\r\n")] = 0;
		char *slash = strchr(line, '/');
		if (slash == NULL || strchr(line, ':') != NULL)
			continue;
		uint16_t nh = hash_nh(line);
		*slash = 0;
		struct in_addr a;
		if (inet_pton(AF_INET, line, &a) != 1) {
			fprintf(stderr, "bad prefix %s\n", line);
			return 2;
		}
		if (n == cap)
			v = realloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = (struct p4){ntohl(a.s_addr), (uint8_t)atoi(slash + 1), nh};
	}
	pclose(f);
	printf("IPv4 prefixes: %zu\n", n);

	double t0 = now();
	lpm_t *lpm = lpm_table_create(4, NULL);
	if (!after_updates) {
		uint8_t *addrs = malloc(n * 4), *lens = malloc(n);
		uint32_t *nhs = malloc(n * 4);
		for (size_t i = 0; i < n; i++) {
			uint32_t be = htonl(v[i].addr);
			memcpy(addrs + 4 * i, &be, 4);
			lens[i] = v[i].len;
			nhs[i] = v[i].nh;
		}
		if (lpm_table_build(lpm, n, addrs, lens, nhs) != LPM_OK) {
			fprintf(stderr, "build failed\n");
			return 1;
		}
		free(addrs);
		free(lens);
		free(nhs);
	} else {
		for (int pass = 0; pass < 3; pass++)
			for (size_t i = 0; i < n; i++) {
				if (pass > 0 && i % 3 != 0)
					continue;
				uint32_t be = htonl(v[i].addr);
				int rc = pass == 1 ? lpm_route_delete(lpm, (uint8_t *)&be, v[i].len, NULL)
				                   : lpm_route_add(lpm, (uint8_t *)&be, v[i].len, v[i].nh, NULL);
				if (rc != LPM_OK) {
					fprintf(stderr, "update failed: %s\n", lpm_strerror(rc));
					return 1;
				}
			}
	}
	printf("trie %s in %.2f s\n", after_updates ? "filled by insert/delete/re-insert" : "built", now() - t0);

	t0 = now();
	size_t space = (size_t)1 << 32;
	uint16_t *flat = mmap(NULL, space * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (flat == MAP_FAILED) {
		perror("mmap 8 GiB");
		return 2;
	}
	memset(flat, 0xFF, space * 2); /* 0xFFFF: no route */
	qsort(v, n, sizeof(*v), by_len);
	for (size_t i = 0; i < n; i++) {
		size_t first = v[i].addr, count = (size_t)1 << (32 - v[i].len);
		for (size_t a = first; a < first + count; a++)
			flat[a] = v[i].nh;
	}
	printf("flat reference painted in %.2f s\n", now() - t0);

	t0 = now();
	uint64_t wrong = 0, routed = 0;
	uint32_t addrs[256], out[256];
	for (uint64_t base = 0; base < space; base += 256) {
		for (unsigned i = 0; i < 256; i++)
			addrs[i] = (uint32_t)(base + i);
		lpm4_lookup_bulk(lpm, addrs, out, 256);
		for (unsigned i = 0; i < 256; i++) {
			uint32_t want = flat[base + i] == 0xFFFF ? LPM_MISS : flat[base + i];
			routed += want != LPM_MISS;
			if (out[i] != want && wrong++ < 10)
				fprintf(stderr, "MISMATCH %u.%u.%u.%u: trie %u, reference %u\n", addrs[i] >> 24,
				        (addrs[i] >> 16) & 255, (addrs[i] >> 8) & 255, addrs[i] & 255, out[i], want);
		}
	}
	printf("checked all %llu addresses in %.1f s: %llu with a route, %llu mismatches\n",
	       (unsigned long long)space, now() - t0, (unsigned long long)routed, (unsigned long long)wrong);
	printf("%s\n", wrong == 0 ? "EXHAUSTIVE CHECK PASSED" : "EXHAUSTIVE CHECK FAILED");
	lpm_table_destroy(lpm);
	munmap(flat, space * 2);
	free(v);
	return wrong == 0 ? 0 : 1;
}
