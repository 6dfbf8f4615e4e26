/*
 * Randomized differential test of lpm against a brute-force linear scan, for
 * both families: nested prefixes, edge lengths (/0, /32, /128), replace,
 * delete of covering prefixes, bulk build, and every error status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lpm.h"
#include "test_util.h"

struct ref_route {
	uint8_t addr[16];
	unsigned len;
	uint32_t nh;
	int live;
};

static struct ref_route *routes;
static size_t nroutes;

static int prefix_match(const uint8_t *p, unsigned len, const uint8_t *a)
{
	unsigned full = len / 8, rem = len % 8;
	if (memcmp(p, a, full) != 0)
		return 0;
	if (rem == 0)
		return 1;
	uint8_t m = (uint8_t)(0xFF << (8 - rem));
	return (p[full] & m) == (a[full] & m);
}

static uint32_t ref_lookup(const uint8_t *a)
{
	int best = -1;
	uint32_t nh = LPM_MISS;
	for (size_t i = 0; i < nroutes; i++)
		if (routes[i].live && (int)routes[i].len > best && prefix_match(routes[i].addr, routes[i].len, a)) {
			best = (int)routes[i].len;
			nh = routes[i].nh;
		}
	return nh;
}

static struct ref_route *ref_find(const uint8_t *p, unsigned len, unsigned nb)
{
	for (size_t i = 0; i < nroutes; i++)
		if (routes[i].live && routes[i].len == len && memcmp(routes[i].addr, p, nb) == 0)
			return &routes[i];
	return NULL;
}

static void mask_addr(uint8_t *a, unsigned len, unsigned nb)
{
	for (unsigned i = 0; i < nb; i++) {
		unsigned bits = len > 8 * i ? len - 8 * i : 0;
		if (bits >= 8)
			continue;
		a[i] &= (uint8_t)(bits == 0 ? 0 : 0xFF << (8 - bits));
	}
}

/* Random prefix, biased to sit inside an existing one so that nesting is deep. */
static void random_prefix(uint8_t *a, unsigned *len, unsigned nb)
{
	unsigned w = nb * 8;
	if (nroutes > 0 && rnd() % 3 != 0) {
		struct ref_route *r = &routes[rnd() % nroutes];
		memcpy(a, r->addr, nb);
		for (unsigned i = 0; i < nb; i++)
			if (8 * i + 8 > r->len)
				a[i] = (uint8_t)((a[i] & (r->len > 8 * i ? 0xFF << (8 - (r->len - 8 * i)) : 0)) |
				                 (rnd() & (r->len > 8 * i ? 0xFFu >> (r->len - 8 * i) : 0xFF)));
		unsigned extra = 1 + rnd() % 9;
		*len = r->len + extra > w ? w : r->len + extra;
	} else {
		for (unsigned i = 0; i < nb; i++)
			a[i] = (uint8_t)rnd();
		/* Keep IPv6 in a few /8s so that random probes hit routes. */
		if (nb == 16)
			a[0] = (uint8_t)(0x20 + rnd() % 3);
		unsigned pick = rnd() % 10;
		*len = pick == 0 ? rnd() % (w + 1) : (nb == 4 ? 8 + rnd() % 25 : 16 + rnd() % 49);
	}
	mask_addr(a, *len, nb);
}

#define PROBE_BATCH 100 /* not a multiple of the bulk group sizes */

static void check_probes(lpm_t *lpm, unsigned nb, unsigned nprobe)
{
	uint8_t a[16];
	/* Every probe is also looked up as part of one batch of mixed-depth
	 * addresses, so walks that end at different levels share a group. */
	uint8_t batch6[PROBE_BATCH][16];
	uint32_t batch4[PROBE_BATCH], want_b[PROBE_BATCH], got_b[PROBE_BATCH];
	unsigned nbatch = 0;
	for (unsigned p = 0; p < nprobe; p++) {
		/* Probe inside a route (first, last or random address) or anywhere. */
		if (nroutes > 0 && rnd() % 4 != 0) {
			struct ref_route *r = &routes[rnd() % nroutes];
			unsigned mode = rnd() % 3;
			for (unsigned i = 0; i < nb; i++) {
				uint8_t host = r->len > 8 * i ? (r->len >= 8 * i + 8 ? 0 : (uint8_t)(0xFFu >> (r->len - 8 * i))) : 0xFF;
				uint8_t hb = mode == 0 ? 0 : mode == 1 ? 0xFF : (uint8_t)rnd();
				a[i] = (uint8_t)((r->addr[i] & ~host) | (hb & host));
			}
		} else {
			for (unsigned i = 0; i < nb; i++)
				a[i] = (uint8_t)rnd();
			if (nb == 16)
				a[0] = (uint8_t)(0x20 + rnd() % 3);
		}
		uint32_t want = ref_lookup(a);
		uint32_t got, bulk, h = 0;
		if (nb == 4) {
			h = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
			got = lpm4_lookup(lpm, h);
			lpm4_lookup_bulk(lpm, &h, &bulk, 1);
		} else {
			got = lpm6_lookup(lpm, a);
			lpm6_lookup_bulk(lpm, (const uint8_t(*)[16])a, &bulk, 1);
		}
		if (got != want || bulk != want) {
			char buf[64];
			fmt_addr(buf, a, nb);
			FAIL("lookup %s: got %u bulk %u want %u", buf, got, bulk, want);
		}
		if (nb == 4)
			batch4[nbatch] = h;
		else
			memcpy(batch6[nbatch], a, 16);
		want_b[nbatch++] = want;
		if (nbatch == PROBE_BATCH || p + 1 == nprobe) {
			if (nb == 4)
				lpm4_lookup_bulk(lpm, batch4, got_b, nbatch);
			else
				lpm6_lookup_bulk(lpm, (const uint8_t(*)[16])batch6, got_b, nbatch);
			for (unsigned k = 0; k < nbatch; k++)
				if (got_b[k] != want_b[k])
					FAIL("batched lookup #%u of %u: got %u want %u", k, nbatch, got_b[k], want_b[k]);
			nbatch = 0;
		}
	}
}

/* A fresh bulk build of the reference's live routes: it must answer the same
 * and be exactly as compact as lpm (an incrementally maintained trie is). */
static void check_as_fresh_build(lpm_t *lpm, int family, unsigned nb)
{
	size_t live = 0;
	for (size_t i = 0; i < nroutes; i++)
		live += routes[i].live;
	uint8_t *addrs = malloc(live * nb + 1), *lens = malloc(live + 1);
	uint32_t *nhs = malloc((live + 1) * 4);
	size_t k = 0;
	for (size_t i = 0; i < nroutes; i++)
		if (routes[i].live) {
			memcpy(addrs + k * nb, routes[i].addr, nb);
			lens[k] = (uint8_t)routes[i].len;
			nhs[k++] = routes[i].nh;
		}
	lpm_t *bulk = lpm_table_create(family, NULL);
	CHECK(lpm_table_build(bulk, live, addrs, lens, nhs) == LPM_OK);
	check_probes(bulk, nb, 20000);
	lpm_stats_t bs, stats;
	lpm_table_stats(bulk, &bs);
	lpm_table_stats(lpm, &stats);
	CHECK(bs.routes == live && stats.routes == live);
	CHECK(bs.nodes == stats.nodes);
	CHECK(bs.leaves == stats.leaves);
	CHECK(bs.direct_bytes == stats.direct_bytes); /* the same blocks of the direct table live */
	lpm_table_destroy(bulk);
	free(addrs);
	free(lens);
	free(nhs);
}

static void run_family(int family, unsigned ops)
{
	unsigned nb = family == 4 ? 4 : 16;
	nroutes = 0;
	routes = calloc(ops + 16, sizeof(*routes));
	lpm_t *lpm = lpm_table_create(family, NULL);
	CHECK(lpm != NULL);

	/* Errors first: they must leave the empty table empty. */
	uint8_t z[16] = {0};
	CHECK(lpm_route_delete(lpm, z, 8, NULL) == LPM_ERR_NOENT);
	CHECK(lpm_route_add(lpm, z, nb * 8 + 1, 1, NULL) == LPM_ERR_INVAL);
	CHECK(lpm_route_add(lpm, z, 8, LPM_MISS, NULL) == LPM_ERR_INVAL);
	lpm_stats_t stats;
	lpm_table_stats(lpm, &stats);
	CHECK(stats.routes == 0);

	for (unsigned op = 0; op < ops; op++) {
		unsigned kind = rnd() % 10;
		uint8_t a[16];
		unsigned len;
		if (kind < 3 && nroutes > 0) {
			/* delete a live route (a covering one as often as any) */
			struct ref_route *r = &routes[rnd() % nroutes];
			if (!r->live)
				continue;
			uint32_t old;
			CHECK(lpm_route_delete(lpm, r->addr, r->len, &old) == LPM_OK);
			CHECK(old == r->nh);
			r->live = 0;
		} else if (kind < 4 && nroutes > 0) {
			/* replace */
			struct ref_route *r = &routes[rnd() % nroutes];
			if (!r->live)
				continue;
			uint32_t nh = rnd() % 64, old;
			CHECK(lpm_route_add(lpm, r->addr, r->len, nh, &old) == LPM_OK);
			CHECK(old == r->nh);
			r->nh = nh;
		} else {
			random_prefix(a, &len, nb);
			uint32_t nh = rnd() % 64, old;
			struct ref_route *r = ref_find(a, len, nb);
			CHECK(lpm_route_add(lpm, a, len, nh, &old) == LPM_OK);
			if (r != NULL) {
				CHECK(old == r->nh);
				r->nh = nh;
			} else {
				CHECK(old == LPM_MISS);
				r = &routes[nroutes++];
				memcpy(r->addr, a, nb);
				r->len = len;
				r->nh = nh;
				r->live = 1;
			}
		}
		if (op % 50 == 0)
			check_probes(lpm, nb, 200);
	}
	check_probes(lpm, nb, 20000);

	size_t live = 0;
	for (size_t i = 0; i < nroutes; i++)
		live += routes[i].live;
	lpm_table_stats(lpm, &stats);
	CHECK(stats.routes == live);

	check_as_fresh_build(lpm, family, nb);

	/* Delete everything: the table must be empty and answer miss everywhere. */
	for (size_t i = 0; i < nroutes; i++)
		if (routes[i].live) {
			CHECK(lpm_route_delete(lpm, routes[i].addr, routes[i].len, NULL) == LPM_OK);
			routes[i].live = 0;
		}
	check_probes(lpm, nb, 2000);
	lpm_table_reclaim(lpm, 1);
	lpm_table_stats(lpm, &stats);
	CHECK(stats.routes == 0 && stats.nodes == 0 && stats.leaves == 0 && stats.next_hops == 0);
	lpm_t *empty = lpm_table_create(family, NULL);
	lpm_stats_t es;
	lpm_table_stats(empty, &es);
	CHECK(stats.direct_bytes == es.direct_bytes); /* every IPv6 block collapsed again */
	lpm_table_destroy(empty);

	lpm_table_destroy(lpm);
	free(routes);
	printf("lpm random family %d: %u ops ok\n", family, ops);
}

/* lpm_routes_apply against the reference: random batches of adds, replaces and
 * deletes (of live and of missing prefixes, the same prefix twice in a batch),
 * then the errors that must change nothing: a bad entry, a full dictionary. */
static void run_batches(int family, unsigned batches)
{
	unsigned nb = family == 4 ? 4 : 16;
	nroutes = 0;
	routes = calloc(batches * 300 + 16, sizeof(*routes));
	lpm_t *lpm = lpm_table_create(family, NULL);
	CHECK(lpm != NULL);
	uint8_t *addrs = malloc(300 * 16);
	uint8_t lens[300];
	uint32_t nhs[300], old[300], want[300];
	for (unsigned b = 0; b < batches; b++) {
		unsigned n = 1 + rnd() % 300;
		for (unsigned i = 0; i < n; i++) {
			unsigned kind = rnd() % 10;
			uint8_t *a = addrs + i * nb;
			unsigned len;
			if (kind < 3 && nroutes > 0) { /* delete, live or not */
				struct ref_route *r = &routes[rnd() % nroutes];
				memcpy(a, r->addr, nb);
				len = r->len;
				nhs[i] = LPM_MISS;
			} else if (kind < 4 && i > 0) { /* the same prefix as an earlier entry */
				unsigned k = rnd() % i;
				memcpy(a, addrs + k * nb, nb);
				len = lens[k];
				nhs[i] = rnd() % 2 ? LPM_MISS : rnd() % 64;
			} else {
				random_prefix(a, &len, nb);
				nhs[i] = rnd() % 64;
			}
			lens[i] = (uint8_t)len;
			/* the reference, in order */
			struct ref_route *r = ref_find(a, len, nb);
			want[i] = r != NULL && r->live ? r->nh : LPM_MISS;
			if (nhs[i] == LPM_MISS) {
				if (r != NULL)
					r->live = 0;
			} else if (r != NULL) {
				r->nh = nhs[i];
				r->live = 1;
			} else {
				r = &routes[nroutes++];
				memcpy(r->addr, a, nb);
				r->len = len;
				r->nh = nhs[i];
				r->live = 1;
			}
		}
		CHECK(lpm_routes_apply(lpm, n, addrs, lens, nhs, old) == LPM_OK);
		for (unsigned i = 0; i < n; i++)
			CHECK(old[i] == want[i]);
		if (b % 10 == 0)
			check_probes(lpm, nb, 500);
	}
	check_probes(lpm, nb, 20000);
	size_t live = 0;
	for (size_t i = 0; i < nroutes; i++)
		live += routes[i].live;
	lpm_stats_t stats, before;
	lpm_table_stats(lpm, &stats);
	CHECK(stats.routes == live);

	/* A bad entry anywhere: nothing changes. */
	random_prefix(addrs, &(unsigned){0}, nb);
	lens[0] = 8;
	lens[1] = (uint8_t)(nb * 8 + 1);
	nhs[0] = nhs[1] = 7;
	lpm_table_stats(lpm, &before);
	CHECK(lpm_routes_apply(lpm, 2, addrs, lens, nhs, old) == LPM_ERR_INVAL);
	lpm_table_stats(lpm, &stats);
	CHECK(stats.routes == before.routes && stats.next_hops == before.next_hops);
	check_probes(lpm, nb, 2000);

	/* A batch needing more distinct values than the dictionary holds fails
	 * part-way through the RIB and is undone: the same answers as before. */
	size_t big = LPM_DISTINCT_NH_MAX + 10;
	uint8_t *ba = calloc(big, nb), *bl = malloc(big);
	uint32_t *bn = malloc(big * 4), *bo = malloc(big * 4);
	for (size_t i = 0; i < big; i++) {
		/* distinct host routes in 100.64.0.0/10 (IPv4) or fd00::/16 (IPv6), fresh values */
		if (nb == 4) {
			uint32_t v = 0x64400000u + (uint32_t)i;
			ba[i * 4] = (uint8_t)(v >> 24), ba[i * 4 + 1] = (uint8_t)(v >> 16), ba[i * 4 + 2] = (uint8_t)(v >> 8), ba[i * 4 + 3] = (uint8_t)v;
		} else {
			ba[i * 16] = 0xfd;
			ba[i * 16 + 12] = (uint8_t)(i >> 24), ba[i * 16 + 13] = (uint8_t)(i >> 16), ba[i * 16 + 14] = (uint8_t)(i >> 8), ba[i * 16 + 15] = (uint8_t)i;
		}
		bl[i] = (uint8_t)(nb * 8);
		bn[i] = 1000 + (uint32_t)i;
	}
	lpm_table_stats(lpm, &before);
	CHECK(lpm_routes_apply(lpm, big, ba, bl, bn, bo) == LPM_ERR_NH_FULL);
	lpm_table_reclaim(lpm, 1);
	lpm_table_stats(lpm, &stats);
	CHECK(stats.routes == before.routes && stats.next_hops == before.next_hops);
	check_probes(lpm, nb, 20000);

	/* And the result is as compact as a fresh build of the same routes. */
	check_as_fresh_build(lpm, family, nb);

	free(ba), free(bl), free(bn), free(bo), free(addrs);
	lpm_table_destroy(lpm);
	free(routes);
	printf("lpm random family %d: %u batches ok\n", family, batches);
}

static uint32_t look6(lpm_t *lpm, const char *hex)
{
	uint8_t a[16] = {0};
	for (unsigned i = 0; i < 16 && hex[2 * i]; i++)
		sscanf(hex + 2 * i, "%2hhx", &a[i]);
	uint32_t single = lpm6_lookup(lpm, a), bulk;
	lpm6_lookup_bulk(lpm, (const uint8_t(*)[16])a, &bulk, 1);
	if (single != bulk)
		FAIL("%s: single %u, bulk %u", hex, single, bulk);
	return single;
}

static uint64_t bytes_of(lpm_t *lpm)
{
	lpm_stats_t st;
	lpm_table_reclaim(lpm, 1);
	lpm_table_stats(lpm, &st);
	return st.direct_bytes;
}

/* The IPv6 direct table's blocks: one comes to life with the first route longer than /12 in
 * its region and collapses with the last; routes of /12 and shorter reach through the top
 * table into live blocks and around the others.  Single updates and batches. */
static void run_blocks(void)
{
	lpm_t *lpm = lpm_table_create(6, NULL);
	uint64_t empty = bytes_of(lpm), block = 0;
	const uint8_t p48[16] = {0x3f, 0xff, 0x00, 0x01, 0x00, 0x02}; /* 3fff:1:2::/48 */
	const uint8_t p4[16] = {0x30};                                /* 3000::/4 */
	const uint8_t p0[16] = {0};
	CHECK(lpm_route_add(lpm, p48, 48, 7, NULL) == LPM_OK);
	block = bytes_of(lpm) - empty;
	CHECK(block == 64 * 1024); /* one block live */
	CHECK(look6(lpm, "3fff0001000200000000000000000001") == 7);
	CHECK(look6(lpm, "3fff0001000300000000000000000001") == LPM_MISS);
	CHECK(look6(lpm, "3ff00000000000000000000000000001") == LPM_MISS);
	CHECK(lpm_route_add(lpm, p4, 4, 9, NULL) == LPM_OK); /* over 256 top entries, one live */
	CHECK(look6(lpm, "3fff0001000200000000000000000001") == 7);
	CHECK(look6(lpm, "3fff0001000300000000000000000001") == 9);
	CHECK(look6(lpm, "3ff00000000000000000000000000001") == 9);
	CHECK(look6(lpm, "3aaa0000000000000000000000000001") == 9);
	CHECK(look6(lpm, "4aaa0000000000000000000000000001") == LPM_MISS);
	CHECK(lpm_route_add(lpm, p0, 0, 3, NULL) == LPM_OK);
	CHECK(look6(lpm, "4aaa0000000000000000000000000001") == 3);
	CHECK(look6(lpm, "3fff0001000200000000000000000001") == 7);
	CHECK(lpm_route_delete(lpm, p48, 48, NULL) == LPM_OK); /* the block collapses into 3000::/4's code */
	CHECK(bytes_of(lpm) == empty);
	CHECK(look6(lpm, "3fff0001000200000000000000000001") == 9);
	CHECK(lpm_route_delete(lpm, p4, 4, NULL) == LPM_OK);
	CHECK(look6(lpm, "3fff0001000200000000000000000001") == 3);
	/* a batch: the block comes to life and a covering route changes in the same apply */
	uint8_t addrs[3 * 16] = {0};
	memcpy(addrs, p48, 16);
	memcpy(addrs + 16, p4, 16);
	uint8_t lens[3] = {48, 4, 0};
	uint32_t nhs[3] = {11, 12, LPM_MISS}, old[3];
	CHECK(lpm_routes_apply(lpm, 3, addrs, lens, nhs, old) == LPM_OK);
	CHECK(old[2] == 3);
	CHECK(bytes_of(lpm) - empty == block);
	CHECK(look6(lpm, "3fff0001000200000000000000000001") == 11);
	CHECK(look6(lpm, "3fff0001000300000000000000000001") == 12);
	CHECK(look6(lpm, "4aaa0000000000000000000000000001") == LPM_MISS);
	nhs[0] = nhs[1] = LPM_MISS;
	CHECK(lpm_routes_apply(lpm, 2, addrs, lens, nhs, old) == LPM_OK); /* both out: it collapses */
	CHECK(old[0] == 11 && old[1] == 12);
	CHECK(bytes_of(lpm) == empty);
	CHECK(look6(lpm, "3fff0001000200000000000000000001") == LPM_MISS);
	/* and back: the collapsed block's pages were given back and are filled again */
	CHECK(lpm_route_add(lpm, p4, 4, 5, NULL) == LPM_OK);
	CHECK(lpm_route_add(lpm, p48, 48, 6, NULL) == LPM_OK);
	CHECK(look6(lpm, "3fff0001000200000000000000000001") == 6);
	CHECK(look6(lpm, "3fff0001000200010000000000000001") == 6);
	CHECK(look6(lpm, "3fff0001000300000000000000000001") == 5);
	CHECK(look6(lpm, "3fff8000000000000000000000000001") == 5);
	CHECK(bytes_of(lpm) - empty == block);
	lpm_table_destroy(lpm);
	printf("lpm blocks: ok\n");
}

int main(int argc, char **argv)
{
	unsigned ops = argc > 1 ? (unsigned)atoi(argv[1]) : 6000;
	rnd_seed(argc > 2 ? strtoull(argv[2], NULL, 10) : 12345);
	run_family(4, ops);
	run_family(6, ops);
	run_batches(4, ops / 30);
	run_batches(6, ops / 30);
	run_blocks();
	return test_summary("test_lpm_random");
}
