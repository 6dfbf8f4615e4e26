/*
 * lpm_bench — srcfib's LPM trie (native/lookup/lpm.h) against DPDK's rte_fib
 * (DIR-24-8, 4-byte next hops) for IPv4 and rte_fib6 (TRIE, 4-byte next hops)
 * for IPv6: one process, one table, the same address arrays for both engines.
 *
 *   lpm_bench [options] PREFIX_FILE
 *     --json FILE        also write the result JSON to FILE (it is always the
 *                        last line of stdout; progress goes to stderr)
 *     --lookups N        addresses per lookup measurement (default 8388608)
 *     --batch N          bulk lookup batch size (default 32, max 256)
 *     --reps N           repetitions per measurement, best one kept (default 3)
 *     --updates N        absent prefixes inserted then deleted (default 100000)
 *     --seed N           RNG seed for addresses and update prefixes (default 1)
 *     --family 4|6|46    families to run (default 46)
 *     --tbl8-v4 N        force rte_fib num_tbl8 (default: sized from the table)
 *     --tbl8-v6 N        force rte_fib6 num_tbl8 (default: sized from the table)
 *     --mem MB           EAL memory (-m), default 2048
 *     --lcore N          EAL lcore (-l), default 0
 *     --no-thp           prctl(PR_SET_THP_DISABLE): keep srcfib's arenas (which
 *                        madvise MADV_HUGEPAGE) on 4 KiB pages like DPDK's
 *                        --no-huge memory, for a same-page-size comparison
 *
 * PREFIX_FILE: one CIDR per line, gzip'd or plain (read through `zcat -f`).
 * Next hop of each prefix: FNV-1a-32 over the address bytes (network order)
 * and the length byte, mod 500.
 *
 * What is measured, per family and engine (best of --reps):
 *  - build_s: srcfib: lpm_table_create + lpm_table_build(all routes);
 *             rte_fib: rte_fib_create (zeroes tbl24/tbl8) + rte_fib_add of
 *             every route in sorted (address, length) order.
 *  - bytes:   srcfib: lpm_stats_t.bytes (lookup structure only);
 *             rte_fib: the DPDK heap delta (heap_allocsz_bytes) of
 *             create + all adds, minus the delta of a standalone rte_rib with
 *             the same node pool (the RIB is rte_fib's control half, as
 *             rib_bytes is ours).  The formula (tbl24 + (num_tbl8+1) groups +
 *             tbl8 bookkeeping) is reported beside it in "meta".
 *  - lookup_single_mlps: one call per address over the table-drawn
 *             addresses: lpm4_lookup / lpm6_lookup vs rte_fib_lookup_bulk /
 *             rte_fib6_lookup_bulk with n = 1 (DPDK has no single lookup).
 *  - lookup_random_mlps: bulk lookups in batches of --batch over uniformly
 *             random addresses (IPv6: uniformly random within 2000::/3;
 *             random 128-bit addresses would nearly all miss at the top).
 *  - lookup_table_mlps: bulk lookups over addresses drawn from the table:
 *             a uniformly chosen prefix with random host bits.
 *  - updates_per_s: --updates prefixes absent from the table (IPv4: random
 *             /24s; IPv6: random /48s in 2000::/3) inserted one by one, then
 *             deleted one by one; 2 * updates / (insert time + delete time).
 *
 * Correctness: the bulk results of both engines are compared for every
 * address of both arrays (rte_fib's default next hop maps to LPM_MISS), the
 * single-lookup results against the bulk ones, the results over addresses
 * inside the update prefixes while they are installed, and the table array
 * again after all updates were deleted.  Any difference prints MISMATCH and
 * exits with status 2.
 */
#define _GNU_SOURCE
#define ALLOW_EXPERIMENTAL_API /* rte_vect_{get,set}_max_simd_bitwidth */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cpuflags.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_memory.h>
#include <rte_rib.h>
#include <rte_rib6.h>
#include <rte_vect.h>
#include <rte_version.h>

#include "bench_common.h"
#include "lpm.h"

#define NH_COUNT 500u
/* DIR24_8 / TRIE with 4-byte entries keep 1 bit for the "extended" flag:
 * the largest next hop is 2^31 - 1; use it as the miss value. */
#define RTE_DEF_NH 0x7FFFFFFFull
#define MAX_BATCH 256u

/* ------------------------------------------------------------------ */
/* options */

static struct {
	const char *prefix_file;
	const char *json_file;
	size_t lookups;
	unsigned batch;
	unsigned reps;
	size_t updates;
	uint64_t seed;
	bool do4, do6;
	uint32_t tbl8_v4, tbl8_v6;
	unsigned mem_mb;
	unsigned lcore;
	bool no_thp;
} opt = {
	.lookups = 8u << 20,
	.batch = 32,
	.reps = 3,
	.updates = 100000,
	.seed = 1,
	.do4 = true,
	.do6 = true,
	.mem_mb = 2048,
	.lcore = 0,
};

static char eal_args_str[512];

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--json FILE] [--lookups N] [--batch N] [--reps N] [--updates N]\n"
		"          [--seed N] [--family 4|6|46] [--tbl8-v4 N] [--tbl8-v6 N] [--mem MB]\n"
		"          [--lcore N] [--no-thp] PREFIX_FILE\n",
		prog);
	exit(1);
}

static unsigned long long parse_num(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end) {
		fprintf(stderr, "lpm_bench: bad %s: %s\n", what, s);
		exit(1);
	}
	return v;
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
#define NEXT() (i + 1 < argc ? argv[++i] : (usage(argv[0]), (char *)NULL))
		if (!strcmp(a, "--json"))
			opt.json_file = NEXT();
		else if (!strcmp(a, "--lookups"))
			opt.lookups = parse_num(NEXT(), a);
		else if (!strcmp(a, "--batch"))
			opt.batch = parse_num(NEXT(), a);
		else if (!strcmp(a, "--reps"))
			opt.reps = parse_num(NEXT(), a);
		else if (!strcmp(a, "--updates"))
			opt.updates = parse_num(NEXT(), a);
		else if (!strcmp(a, "--seed"))
			opt.seed = parse_num(NEXT(), a);
		else if (!strcmp(a, "--tbl8-v4"))
			opt.tbl8_v4 = parse_num(NEXT(), a);
		else if (!strcmp(a, "--tbl8-v6"))
			opt.tbl8_v6 = parse_num(NEXT(), a);
		else if (!strcmp(a, "--mem"))
			opt.mem_mb = parse_num(NEXT(), a);
		else if (!strcmp(a, "--lcore"))
			opt.lcore = parse_num(NEXT(), a);
		else if (!strcmp(a, "--no-thp"))
			opt.no_thp = true;
		else if (!strcmp(a, "--family")) {
			const char *f = NEXT();
			opt.do4 = strchr(f, '4') != NULL;
			opt.do6 = strchr(f, '6') != NULL;
			if (!opt.do4 && !opt.do6)
				usage(argv[0]);
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			usage(argv[0]);
		else if (a[0] == '-')
			usage(argv[0]);
		else if (!opt.prefix_file)
			opt.prefix_file = a;
		else
			usage(argv[0]);
#undef NEXT
	}
	if (!opt.prefix_file)
		usage(argv[0]);
	if (opt.batch == 0 || opt.batch > MAX_BATCH) {
		fprintf(stderr, "lpm_bench: --batch must be 1..%u\n", MAX_BATCH);
		exit(1);
	}
	if (opt.reps == 0)
		opt.reps = 1;
	opt.lookups -= opt.lookups % opt.batch;
	if (opt.lookups == 0) {
		fprintf(stderr, "lpm_bench: --lookups too small\n");
		exit(1);
	}
}

/* ------------------------------------------------------------------ */
/* helpers */


/* AnonHugePages of this process (THP-backed anonymous memory), bytes */
static uint64_t anon_huge_bytes(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	if (!f)
		return 0;
	char line[256];
	uint64_t kb = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %" SCNu64 " kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static size_t heap_alloc_bytes(void)
{
	struct rte_malloc_socket_stats st;
	if (rte_malloc_get_socket_stats((int)rte_socket_id(), &st) != 0)
		return 0;
	return st.heap_allocsz_bytes;
}

/* ------------------------------------------------------------------ */
/* prefixes */

struct eng_res {
	uint64_t routes;
	double build_s;
	uint64_t bytes;
	double single_mlps, random_mlps, table_mlps;
	double updates_per_s;
};

/* extra facts for "meta" */
struct our_meta {
	lpm_stats_t st;          /* after build */
	lpm_stats_t st_after;    /* after updates + reclaim(wait) */
	uint64_t thp_bytes;      /* process AnonHugePages after the build */
	double insert_per_s, delete_per_s;
};

struct rte_meta {
	uint32_t num_tbl8;       /* configured for the measured table */
	uint32_t num_tbl8_upd;   /* configured for the update run */
	int64_t tbl8_reserved;   /* -1: unknown */
	int64_t tbl8_used;
	uint32_t tbl8_lower_bound; /* distinct tbl8 groups the routes occupy (what a
	                              tbl8 allocator without reservations would need) */
	unsigned sizing_attempts;
	int max_routes;
	uint64_t heap_delta_total;
	uint64_t rib_bytes;
	uint64_t bytes_formula;
	double create_s;
	double insert_per_s, delete_per_s;
	int64_t tbl8_reserved_after_cycle; /* after the first insert+delete of the update set; -1 unknown */
	unsigned upd_recreated;  /* update-run instances rebuilt because of leaked reservations */
	bool avx512;             /* AVX-512 lookup measured */
	double avx512_random_mlps, avx512_table_mlps;
};

struct fam_res {
	bool run;
	struct eng_res our, rte;
	struct our_meta om;
	struct rte_meta rm;
	size_t update_prefixes;
	const char *update_desc;
};

static struct fam_res R4, R6;
static unsigned long long mismatches;

#define BEST_RATE(best, n, dt) do { double r_ = (double)(n) / (dt); if (r_ > (best)) (best) = r_; } while (0)

static void report_mismatch(const char *what, const char *addr, uint32_t ours, uint64_t theirs)
{
	if (mismatches < 20)
		fprintf(stderr, "MISMATCH [%s] %s: srcfib=%s%" PRIu32 " rte=%s%" PRIu64 "\n", what, addr,
			ours == LPM_MISS ? "MISS/" : "", ours, theirs == RTE_DEF_NH ? "MISS/" : "", theirs);
	mismatches++;
}

static inline uint32_t rte_to_lpm(uint64_t v)
{
	return v == RTE_DEF_NH ? LPM_MISS : (uint32_t)v;
}

/* whether the private dataplane struct of DIR24_8 / TRIE starts with
 * {number_tbl8s, rsvd_tbl8s, cur_tbl8s} as in DPDK 20.11 .. 24.x; checked by
 * comparing number_tbl8s with what we configured. */
struct dp_head {
	uint32_t number_tbl8s;
	uint32_t rsvd_tbl8s;
	uint32_t cur_tbl8s;
};

static bool peek_tbl8(const void *dp, uint32_t configured, uint32_t *rsvd, uint32_t *cur)
{
	if (!dp)
		return false;
	const struct dp_head *h = dp;
	if (h->number_tbl8s != configured || h->rsvd_tbl8s > configured || h->cur_tbl8s > configured)
		return false;
	*rsvd = h->rsvd_tbl8s;
	*cur = h->cur_tbl8s;
	return true;
}

static uint32_t align64(uint64_t v)
{
	return (uint32_t)((v + 63) & ~63ull);
}

/* ------------------------------------------------------------------ */
/* IPv4 */

static struct rte_fib *rte4_create(uint32_t num_tbl8, int max_routes)
{
	static unsigned seq;
	char name[32];
	snprintf(name, sizeof(name), "bench4_%u", seq++);
	struct rte_fib_conf c;
	memset(&c, 0, sizeof(c));
	c.type = RTE_FIB_DIR24_8;
	c.default_nh = RTE_DEF_NH;
	c.max_routes = max_routes;
	c.rib_ext_sz = 0;
	c.dir24_8.nh_sz = RTE_FIB_DIR24_8_4B;
	c.dir24_8.num_tbl8 = num_tbl8;
	struct rte_fib *f = rte_fib_create(name, SOCKET_ID_ANY, &c);
	if (!f)
		die("rte_fib_create(num_tbl8=%u, max_routes=%d): %s", num_tbl8, max_routes,
		    rte_strerror(rte_errno));
	return f;
}

/* returns 0, or the failing rte_fib_add status (-ENOSPC when out of tbl8s) */
static int rte4_add_all(struct rte_fib *f)
{
	for (size_t i = 0; i < n4; i++) {
		int rc = rte_fib_add(f, tab4[i].addr, tab4[i].len, tab4[i].nh);
		if (rc) {
			if (rc != -ENOSPC)
				die("rte_fib_add %08x/%u: %d", tab4[i].addr, tab4[i].len, rc);
			return rc;
		}
	}
	return 0;
}

static uint64_t rib4_bytes(int max_routes)
{
	struct rte_rib_conf rc = {.ext_sz = 0, .max_nodes = max_routes * 2};
	size_t before = heap_alloc_bytes();
	struct rte_rib *rib = rte_rib_create("bench4_rib_probe", SOCKET_ID_ANY, &rc);
	if (!rib)
		die("rte_rib_create: %s", rte_strerror(rte_errno));
	size_t after = heap_alloc_bytes();
	rte_rib_free(rib);
	return after - before;
}

static void fmt4(char *buf, size_t n, uint32_t a)
{
	struct in_addr ia = {.s_addr = htonl(a)};
	inet_ntop(AF_INET, &ia, buf, (socklen_t)n);
}

static void compare4(const char *what, const uint32_t *addrs, const uint32_t *ours, const uint64_t *theirs,
		     size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ours[i] != rte_to_lpm(theirs[i])) {
			char b[32];
			fmt4(b, sizeof(b), addrs[i]);
			report_mismatch(what, b, ours[i], theirs[i]);
		}
	}
}

static void verify4(const char *what, const lpm_t *t, struct rte_fib *f, uint32_t *addrs, size_t n,
		    uint32_t *o_out, uint64_t *r_out)
{
	for (size_t i = 0; i < n; i += opt.batch) {
		unsigned b = (unsigned)RTE_MIN((size_t)opt.batch, n - i);
		lpm4_lookup_bulk(t, addrs + i, o_out + i, b);
		rte_fib_lookup_bulk(f, addrs + i, r_out + i, (int)b);
	}
	compare4(what, addrs, o_out, r_out, n);
}

static double t_our4_single(const lpm_t *t, const uint32_t *a, size_t n)
{
	uint64_t s = 0;
	double t0 = now_s();
	for (size_t i = 0; i < n; i++)
		s += lpm4_lookup(t, a[i]);
	double dt = now_s() - t0;
	g_sink += s;
	return dt;
}

static double t_rte4_single(struct rte_fib *f, uint32_t *a, size_t n)
{
	uint64_t s = 0, nh;
	double t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		rte_fib_lookup_bulk(f, a + i, &nh, 1);
		s += nh;
	}
	double dt = now_s() - t0;
	g_sink += s;
	return dt;
}

static double t_our4_bulk(const lpm_t *t, const uint32_t *a, size_t n)
{
	uint32_t buf[MAX_BATCH];
	const unsigned b = opt.batch;
	uint64_t s = 0;
	double t0 = now_s();
	for (size_t i = 0; i < n; i += b) {
		lpm4_lookup_bulk(t, a + i, buf, b);
		for (unsigned j = 0; j < b; j++)
			s += buf[j];
	}
	double dt = now_s() - t0;
	g_sink += s;
	return dt;
}

static double t_rte4_bulk(struct rte_fib *f, uint32_t *a, size_t n)
{
	uint64_t buf[MAX_BATCH];
	const unsigned b = opt.batch;
	uint64_t s = 0;
	double t0 = now_s();
	for (size_t i = 0; i < n; i += b) {
		rte_fib_lookup_bulk(f, a + i, buf, (int)b);
		for (unsigned j = 0; j < b; j++)
			s += buf[j];
	}
	double dt = now_s() - t0;
	g_sink += s;
	return dt;
}

static void bench_v4(void)
{
	struct fam_res *R = &R4;
	const size_t N = opt.lookups;
	R->run = true;
	LOG("== IPv4: %zu routes\n", n4);

	/* --- address arrays (fixed seed) --- */
	rng_seed(opt.seed * 1000003u + 4);
	uint32_t *a_rand = xmalloc(N * sizeof(uint32_t));
	uint32_t *a_tab = xmalloc(N * sizeof(uint32_t));
	for (size_t i = 0; i < N; i++)
		a_rand[i] = (uint32_t)rng_next();
	for (size_t i = 0; i < N; i++) {
		const struct pfx4 *p = &tab4[rng_below(n4)];
		a_tab[i] = p->addr | ((uint32_t)rng_next() & ~mask4(p->len));
	}

	/* --- update prefixes: random /24s that are not in the table --- */
	size_t nu = opt.updates;
	struct pfx4 *upd = xmalloc((nu + 1) * sizeof(*upd));
	{
		size_t have = 0;
		struct pfx4 *cand = NULL;
		while (have < nu) {
			size_t want = (nu - have) + (nu - have) / 8 + 16;
			cand = xrealloc(cand, (have + want) * sizeof(*cand));
			memcpy(cand, upd, have * sizeof(*cand));
			for (size_t i = 0; i < want; i++) {
				cand[have + i].addr = (uint32_t)rng_next() & 0xFFFFFF00u;
				cand[have + i].len = 24;
			}
			size_t m = have + want;
			qsort(cand, m, sizeof(*cand), cmp4);
			size_t w = 0;
			for (size_t i = 0; i < m; i++) {
				if (w && !cmp4(&upd[w - 1], &cand[i]))
					continue;
				if (in_tab4(cand[i].addr, cand[i].len))
					continue;
				if (w == nu)
					break;
				upd[w++] = cand[i];
			}
			have = w;
		}
		free(cand);
		for (size_t i = nu; i > 1; i--) { /* shuffle: insert in random order */
			size_t j = rng_below(i);
			struct pfx4 t = upd[i - 1];
			upd[i - 1] = upd[j];
			upd[j] = t;
		}
		for (size_t i = 0; i < nu; i++)
			upd[i].nh = nh4(upd[i].addr, upd[i].len);
	}
	R->update_prefixes = nu;
	R->update_desc = "random /24 not in the table, inserted in random order, then deleted in the same order";
	uint32_t *a_upd = xmalloc((nu ? nu : 1) * sizeof(uint32_t));
	for (size_t i = 0; i < nu; i++)
		a_upd[i] = upd[i].addr | ((uint32_t)rng_next() & 0xFFu);

	/* --- srcfib build --- */
	uint8_t *b_addr = xmalloc(n4 * 4);
	uint8_t *b_len = xmalloc(n4);
	uint32_t *b_nh = xmalloc(n4 * sizeof(uint32_t));
	for (size_t i = 0; i < n4; i++) {
		uint32_t be = htonl(tab4[i].addr);
		memcpy(b_addr + 4 * i, &be, 4);
		b_len[i] = tab4[i].len;
		b_nh[i] = tab4[i].nh;
	}
	lpm_t *ours = NULL;
	R->our.build_s = 1e30;
	for (unsigned r = 0; r < opt.reps; r++) {
		if (ours)
			lpm_table_destroy(ours);
		double t0 = now_s();
		ours = lpm_table_create(4, NULL);
		if (!ours)
			die("lpm_table_create(4) failed");
		int rc = lpm_table_build(ours, n4, b_addr, b_len, b_nh);
		double dt = now_s() - t0;
		if (rc != LPM_OK)
			die("lpm_table_build(v4): %s", lpm_strerror(rc));
		if (dt < R->our.build_s)
			R->our.build_s = dt;
	}
	lpm_table_stats(ours, &R->om.st);
	R->om.thp_bytes = anon_huge_bytes();
	R->our.routes = R->om.st.routes;
	R->our.bytes = R->om.st.bytes;
	LOG("srcfib  v4 build %.3f s, %" PRIu64 " routes, %" PRIu64 " bytes (reserved %" PRIu64
	    ", rib %" PRIu64 ", nodes %" PRIu64 ", leaves %" PRIu64 "); process THP %" PRIu64 " kB\n",
	    R->our.build_s, R->our.routes, R->our.bytes, R->om.st.bytes_reserved, R->om.st.rib_bytes,
	    R->om.st.nodes, R->om.st.leaves, R->om.thp_bytes >> 10);
	if (R->our.routes != n4)
		die("srcfib v4 table reports %" PRIu64 " routes, expected %zu", R->our.routes, n4);

	/* --- rte_fib sizing: lower bound = distinct /24s holding a route longer than /24 --- */
	struct rte_meta *M = &R->rm;
	{
		uint32_t lb = 0, last = 0;
		bool any = false;
		for (size_t i = 0; i < n4; i++) {
			if (tab4[i].len <= 24)
				continue;
			uint32_t k = tab4[i].addr >> 8;
			if (!any || k != last)
				lb++;
			last = k;
			any = true;
		}
		M->tbl8_lower_bound = lb;
	}
	M->max_routes = (int)(n4 + nu + 1024);
	M->tbl8_reserved = M->tbl8_used = -1;
	uint32_t num = opt.tbl8_v4 ? opt.tbl8_v4 : align64(M->tbl8_lower_bound + 64);
	for (;;) {
		M->sizing_attempts++;
		struct rte_fib *f = rte4_create(num, M->max_routes);
		int rc = rte4_add_all(f);
		uint32_t rsvd = 0, cur = 0;
		bool ok = peek_tbl8(rte_fib_get_dp(f), num, &rsvd, &cur);
		rte_fib_free(f);
		if (rc == -ENOSPC) {
			if (opt.tbl8_v4)
				die("rte_fib: --tbl8-v4 %u is too small for the table", num);
			num = align64((uint64_t)num * 3 / 2 + 64);
			continue;
		}
		if (!opt.tbl8_v4 && ok)
			num = align64((uint64_t)rsvd + rsvd / 100 + 64);
		break;
	}
	M->num_tbl8 = num;

	/* --- rte_fib build (timed: create + all adds) --- */
	struct rte_fib *fib = NULL;
	R->rte.build_s = 1e30;
	M->create_s = 1e30;
	for (unsigned r = 0; r < opt.reps; r++) {
		if (fib)
			rte_fib_free(fib);
		size_t h0 = heap_alloc_bytes();
		double t0 = now_s();
		fib = rte4_create(num, M->max_routes);
		double t1 = now_s();
		int rc = rte4_add_all(fib);
		double t2 = now_s();
		size_t h1 = heap_alloc_bytes();
		if (rc)
			die("rte_fib_add: out of tbl8 groups with num_tbl8=%u", num);
		if (t2 - t0 < R->rte.build_s)
			R->rte.build_s = t2 - t0;
		if (t1 - t0 < M->create_s)
			M->create_s = t1 - t0;
		M->heap_delta_total = h1 - h0;
	}
	{
		uint32_t rsvd, cur;
		if (peek_tbl8(rte_fib_get_dp(fib), num, &rsvd, &cur)) {
			M->tbl8_reserved = rsvd;
			M->tbl8_used = cur;
		}
	}
	M->rib_bytes = rib4_bytes(M->max_routes);
	R->rte.bytes = M->heap_delta_total - M->rib_bytes;
	/* dir24_8_create: header (64) + 2^24 * 4, (num_tbl8 + 1) * 256 * 4, bitmap of num_tbl8 bits (64-aligned) */
	M->bytes_formula = 64 + (1ull << 24) * 4 + (uint64_t)(num + 1) * 256 * 4 + (((uint64_t)num + 63) / 64) * 8;
	R->rte.routes = n4;
	LOG("rte_fib v4 build %.3f s (create %.3f s), num_tbl8 %u (groups needed %u, reserved %" PRId64
	    ", used %" PRId64 "), dataplane %" PRIu64 " bytes (formula %" PRIu64 "), rib %" PRIu64 " bytes\n",
	    R->rte.build_s, M->create_s, num, M->tbl8_lower_bound, M->tbl8_reserved, M->tbl8_used, R->rte.bytes,
	    M->bytes_formula, M->rib_bytes);
	if ((double)R->rte.bytes < 0.95 * (double)M->bytes_formula || (double)R->rte.bytes > 1.05 * (double)M->bytes_formula)
		LOG("warning: rte_fib heap delta differs from the formula by more than 5%%\n");

	/* --- correctness before timing --- */
	uint32_t *o_out = xmalloc(N * sizeof(uint32_t));
	uint64_t *r_out = xmalloc(N * sizeof(uint64_t));
	verify4("v4 random", ours, fib, a_rand, N, o_out, r_out);
	verify4("v4 table", ours, fib, a_tab, N, o_out, r_out);
	{
		/* single lookups agree with the bulk ones (table array is in o_out/r_out now) */
		for (size_t i = 0; i < N; i++) {
			uint32_t s = lpm4_lookup(ours, a_tab[i]);
			uint64_t nh;
			rte_fib_lookup_bulk(fib, a_tab + i, &nh, 1);
			if (s != o_out[i] || nh != r_out[i]) {
				char b[32];
				fmt4(b, sizeof(b), a_tab[i]);
				report_mismatch("v4 single vs bulk", b, s, nh);
			}
		}
	}
	if (mismatches)
		return;
	LOG("v4 correctness: %zu random + %zu table addresses agree\n", N, N);

	/* --- lookups: interleave engines, best of reps --- */
	for (unsigned r = 0; r < opt.reps; r++) {
		BEST_RATE(R->our.single_mlps, N / 1e6, t_our4_single(ours, a_tab, N));
		BEST_RATE(R->rte.single_mlps, N / 1e6, t_rte4_single(fib, a_tab, N));
	}
	for (unsigned r = 0; r < opt.reps; r++) {
		BEST_RATE(R->our.random_mlps, N / 1e6, t_our4_bulk(ours, a_rand, N));
		BEST_RATE(R->rte.random_mlps, N / 1e6, t_rte4_bulk(fib, a_rand, N));
	}
	for (unsigned r = 0; r < opt.reps; r++) {
		BEST_RATE(R->our.table_mlps, N / 1e6, t_our4_bulk(ours, a_tab, N));
		BEST_RATE(R->rte.table_mlps, N / 1e6, t_rte4_bulk(fib, a_tab, N));
	}
	LOG("v4 lookups Mlps  single %.1f / %.1f  random %.1f / %.1f  table %.1f / %.1f  (srcfib / rte_fib)\n",
	    R->our.single_mlps, R->rte.single_mlps, R->our.random_mlps, R->rte.random_mlps, R->our.table_mlps,
	    R->rte.table_mlps);

	/* --- rte_fib AVX-512 lookup (not DPDK's default; needs max SIMD width 512) --- */
	if (rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512F) > 0) {
		uint16_t old = rte_vect_get_max_simd_bitwidth();
		if (rte_vect_set_max_simd_bitwidth(RTE_VECT_SIMD_512) == 0 &&
		    rte_fib_select_lookup(fib, RTE_FIB_LOOKUP_DIR24_8_VECTOR_AVX512) == 0) {
			M->avx512 = true;
			verify4("v4 random avx512", ours, fib, a_rand, N, o_out, r_out);
			verify4("v4 table avx512", ours, fib, a_tab, N, o_out, r_out);
			for (unsigned r = 0; r < opt.reps; r++) {
				BEST_RATE(M->avx512_random_mlps, N / 1e6, t_rte4_bulk(fib, a_rand, N));
				BEST_RATE(M->avx512_table_mlps, N / 1e6, t_rte4_bulk(fib, a_tab, N));
			}
			LOG("v4 rte_fib AVX-512 lookup Mlps: random %.1f table %.1f\n", M->avx512_random_mlps,
			    M->avx512_table_mlps);
		}
		rte_vect_set_max_simd_bitwidth(old);
		if (rte_fib_select_lookup(fib, RTE_FIB_LOOKUP_DEFAULT) != 0)
			die("rte_fib_select_lookup(DEFAULT) failed");
	}

	/* --- updates (same table, same prefixes for both) --- */
	double best_o = 0, best_r = 0, best_oi = 0, best_od = 0, best_ri = 0, best_rd = 0;
	uint32_t *uo = xmalloc((nu ? nu : 1) * sizeof(uint32_t));
	uint64_t *ur = xmalloc((nu ? nu : 1) * sizeof(uint64_t));
	for (unsigned r = 0; r < opt.reps && nu; r++) {
		double t0 = now_s();
		for (size_t i = 0; i < nu; i++) {
			uint32_t be = htonl(upd[i].addr), old;
			int rc = lpm_route_add(ours, (const uint8_t *)&be, upd[i].len, upd[i].nh, &old);
			if (rc != LPM_OK || old != LPM_MISS)
				die("lpm_route_add v4 update %zu: %s (old %u)", i, lpm_strerror(rc), old);
		}
		double t1 = now_s();
		for (size_t i = 0; i < nu; i++) {
			int rc = rte_fib_add(fib, upd[i].addr, upd[i].len, upd[i].nh);
			if (rc)
				die("rte_fib_add v4 update %zu: %d", i, rc);
		}
		double t2 = now_s();
		if (r == 0) {
			verify4("v4 with updates installed", ours, fib, a_upd, nu, uo, ur);
			verify4("v4 table with updates installed", ours, fib, a_tab, N, o_out, r_out);
		}
		double t3 = now_s();
		for (size_t i = 0; i < nu; i++) {
			uint32_t be = htonl(upd[i].addr), old;
			int rc = lpm_route_delete(ours, (const uint8_t *)&be, upd[i].len, &old);
			if (rc != LPM_OK || old != upd[i].nh)
				die("lpm_route_delete v4 update %zu: %s (old %u)", i, lpm_strerror(rc), old);
		}
		double t4 = now_s();
		for (size_t i = 0; i < nu; i++) {
			int rc = rte_fib_delete(fib, upd[i].addr, upd[i].len);
			if (rc)
				die("rte_fib_delete v4 update %zu: %d", i, rc);
		}
		double t5 = now_s();
		uint32_t rs = 0, cu = 0;
		if (r == 0 && peek_tbl8(rte_fib_get_dp(fib), num, &rs, &cu))
			M->tbl8_reserved_after_cycle = rs;
		BEST_RATE(best_o, 2.0 * nu, (t1 - t0) + (t4 - t3));
		BEST_RATE(best_r, 2.0 * nu, (t2 - t1) + (t5 - t4));
		BEST_RATE(best_oi, nu, t1 - t0);
		BEST_RATE(best_od, nu, t4 - t3);
		BEST_RATE(best_ri, nu, t2 - t1);
		BEST_RATE(best_rd, nu, t5 - t4);
	}
	R->our.updates_per_s = best_o;
	R->rte.updates_per_s = best_r;
	R->om.insert_per_s = best_oi;
	R->om.delete_per_s = best_od;
	M->insert_per_s = best_ri;
	M->delete_per_s = best_rd;
	M->num_tbl8_upd = num;
	lpm_table_reclaim(ours, 1);
	lpm_table_stats(ours, &R->om.st_after);
	verify4("v4 table after updates", ours, fib, a_tab, N, o_out, r_out);
	if (R->om.st_after.routes != n4)
		die("srcfib v4: %" PRIu64 " routes after the update run, expected %zu", R->om.st_after.routes, n4);
	LOG("v4 updates/s %.0f / %.0f (srcfib / rte_fib); srcfib bytes after %" PRIu64 "\n", best_o, best_r,
	    R->om.st_after.bytes);

	rte_fib_free(fib);
	lpm_table_destroy(ours);
	free(a_rand);
	free(a_tab);
	free(a_upd);
	free(upd);
	free(uo);
	free(ur);
	free(o_out);
	free(r_out);
	free(b_addr);
	free(b_len);
	free(b_nh);
}

/* ------------------------------------------------------------------ */
/* IPv6 */

typedef uint8_t addr6_t[16];

static struct rte_fib6 *rte6_create(uint32_t num_tbl8, int max_routes)
{
	static unsigned seq;
	char name[32];
	snprintf(name, sizeof(name), "bench6_%u", seq++);
	struct rte_fib6_conf c;
	memset(&c, 0, sizeof(c));
	c.type = RTE_FIB6_TRIE;
	c.default_nh = RTE_DEF_NH;
	c.max_routes = max_routes;
	c.rib_ext_sz = 0;
	c.trie.nh_sz = RTE_FIB6_TRIE_4B;
	c.trie.num_tbl8 = num_tbl8;
	struct rte_fib6 *f = rte_fib6_create(name, SOCKET_ID_ANY, &c);
	if (!f)
		die("rte_fib6_create(num_tbl8=%u, max_routes=%d): %s", num_tbl8, max_routes,
		    rte_strerror(rte_errno));
	return f;
}

static int rte6_add_all(struct rte_fib6 *f)
{
	for (size_t i = 0; i < n6; i++) {
		int rc = rte_fib6_add(f, tab6[i].addr, tab6[i].len, tab6[i].nh);
		if (rc) {
			if (rc != -ENOSPC)
				die("rte_fib6_add #%zu: %d", i, rc);
			return rc;
		}
	}
	return 0;
}

static uint64_t rib6_bytes(int max_routes)
{
	struct rte_rib6_conf rc = {.ext_sz = 0, .max_nodes = max_routes * 2};
	size_t before = heap_alloc_bytes();
	struct rte_rib6 *rib = rte_rib6_create("bench6_rib_probe", SOCKET_ID_ANY, &rc);
	if (!rib)
		die("rte_rib6_create: %s", rte_strerror(rte_errno));
	size_t after = heap_alloc_bytes();
	rte_rib6_free(rib);
	return after - before;
}

static void compare6(const char *what, addr6_t *addrs, const uint32_t *ours, const uint64_t *theirs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ours[i] != rte_to_lpm(theirs[i])) {
			char b[64];
			inet_ntop(AF_INET6, addrs[i], b, sizeof(b));
			report_mismatch(what, b, ours[i], theirs[i]);
		}
	}
}

static void verify6(const char *what, const lpm_t *t, struct rte_fib6 *f, addr6_t *addrs, size_t n,
		    uint32_t *o_out, uint64_t *r_out)
{
	for (size_t i = 0; i < n; i += opt.batch) {
		unsigned b = (unsigned)RTE_MIN((size_t)opt.batch, n - i);
		lpm6_lookup_bulk(t, (const uint8_t(*)[16])(addrs + i), o_out + i, b);
		rte_fib6_lookup_bulk(f, addrs + i, r_out + i, (int)b);
	}
	compare6(what, addrs, o_out, r_out, n);
}

static double t_our6_single(const lpm_t *t, addr6_t *a, size_t n)
{
	uint64_t s = 0;
	double t0 = now_s();
	for (size_t i = 0; i < n; i++)
		s += lpm6_lookup(t, a[i]);
	double dt = now_s() - t0;
	g_sink += s;
	return dt;
}

static double t_rte6_single(struct rte_fib6 *f, addr6_t *a, size_t n)
{
	uint64_t s = 0, nh;
	double t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		rte_fib6_lookup_bulk(f, a + i, &nh, 1);
		s += nh;
	}
	double dt = now_s() - t0;
	g_sink += s;
	return dt;
}

static double t_our6_bulk(const lpm_t *t, addr6_t *a, size_t n)
{
	uint32_t buf[MAX_BATCH];
	const unsigned b = opt.batch;
	uint64_t s = 0;
	double t0 = now_s();
	for (size_t i = 0; i < n; i += b) {
		lpm6_lookup_bulk(t, (const uint8_t(*)[16])(a + i), buf, b);
		for (unsigned j = 0; j < b; j++)
			s += buf[j];
	}
	double dt = now_s() - t0;
	g_sink += s;
	return dt;
}

static double t_rte6_bulk(struct rte_fib6 *f, addr6_t *a, size_t n)
{
	uint64_t buf[MAX_BATCH];
	const unsigned b = opt.batch;
	uint64_t s = 0;
	double t0 = now_s();
	for (size_t i = 0; i < n; i += b) {
		rte_fib6_lookup_bulk(f, a + i, buf, (int)b);
		for (unsigned j = 0; j < b; j++)
			s += buf[j];
	}
	double dt = now_s() - t0;
	g_sink += s;
	return dt;
}

static void rand6(uint8_t a[16])
{
	uint64_t x = rng_next(), y = rng_next();
	memcpy(a, &x, 8);
	memcpy(a + 8, &y, 8);
}

/* distinct (address truncated to d bits, d) for d = 24, 32, ..., < len over all
 * routes: the tbl8 groups the trie needs at the least */
static uint32_t tbl8_lower_bound6(void)
{
	size_t cap = 1 << 16, n = 0;
	struct pfx6 *k = xmalloc(cap * sizeof(*k));
	for (size_t i = 0; i < n6; i++) {
		for (unsigned d = 24; d < tab6[i].len; d += 8) {
			if (n == cap)
				k = xrealloc(k, (cap *= 2) * sizeof(*k));
			memcpy(k[n].addr, tab6[i].addr, 16);
			mask6(k[n].addr, d);
			k[n].len = (uint8_t)d;
			n++;
		}
	}
	qsort(k, n, sizeof(*k), cmp6);
	uint32_t c = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || cmp6(&k[i - 1], &k[i]))
			c++;
	free(k);
	return c;
}

static void bench_v6(void)
{
	struct fam_res *R = &R6;
	const size_t N = opt.lookups;
	R->run = true;
	LOG("== IPv6: %zu routes\n", n6);

	rng_seed(opt.seed * 1000003u + 6);
	addr6_t *a_rand = xmalloc(N * sizeof(addr6_t));
	addr6_t *a_tab = xmalloc(N * sizeof(addr6_t));
	for (size_t i = 0; i < N; i++) {
		rand6(a_rand[i]);
		a_rand[i][0] = (uint8_t)((a_rand[i][0] & 0x1F) | 0x20); /* 2000::/3 */
	}
	for (size_t i = 0; i < N; i++) {
		const struct pfx6 *p = &tab6[rng_below(n6)];
		uint8_t h[16];
		rand6(h);
		for (unsigned j = 0; j < 16; j++) {
			unsigned bits = p->len >= 8 * (j + 1) ? 8 : (p->len > 8 * j ? p->len - 8 * j : 0);
			uint8_t m = (uint8_t)(0xFF00u >> bits);
			a_tab[i][j] = (uint8_t)(p->addr[j] | (h[j] & ~m));
		}
	}

	/* --- update prefixes: random /48s in 2000::/3 that are not in the table --- */
	size_t nu = opt.updates;
	struct pfx6 *upd = xmalloc((nu + 1) * sizeof(*upd));
	{
		size_t have = 0;
		struct pfx6 *cand = NULL;
		while (have < nu) {
			size_t want = (nu - have) + (nu - have) / 8 + 16;
			cand = xrealloc(cand, (have + want) * sizeof(*cand));
			memcpy(cand, upd, have * sizeof(*cand));
			for (size_t i = 0; i < want; i++) {
				struct pfx6 *c = &cand[have + i];
				rand6(c->addr);
				c->addr[0] = (uint8_t)((c->addr[0] & 0x1F) | 0x20);
				mask6(c->addr, 48);
				c->len = 48;
			}
			size_t m = have + want;
			qsort(cand, m, sizeof(*cand), cmp6);
			size_t w = 0;
			for (size_t i = 0; i < m; i++) {
				if (w && !cmp6(&upd[w - 1], &cand[i]))
					continue;
				if (in_tab6(cand[i].addr, cand[i].len))
					continue;
				if (w == nu)
					break;
				upd[w++] = cand[i];
			}
			have = w;
		}
		free(cand);
		for (size_t i = nu; i > 1; i--) {
			size_t j = rng_below(i);
			struct pfx6 t = upd[i - 1];
			upd[i - 1] = upd[j];
			upd[j] = t;
		}
		for (size_t i = 0; i < nu; i++)
			upd[i].nh = nh6(upd[i].addr, upd[i].len);
	}
	R->update_prefixes = nu;
	R->update_desc = "random /48 in 2000::/3 not in the table, inserted in random order, then deleted in the same order";
	addr6_t *a_upd = xmalloc((nu ? nu : 1) * sizeof(addr6_t));
	for (size_t i = 0; i < nu; i++) {
		uint8_t h[16];
		rand6(h);
		memcpy(a_upd[i], upd[i].addr, 6);
		memcpy(a_upd[i] + 6, h + 6, 10);
	}

	/* --- srcfib build --- */
	uint8_t *b_addr = xmalloc(n6 * 16);
	uint8_t *b_len = xmalloc(n6);
	uint32_t *b_nh = xmalloc(n6 * sizeof(uint32_t));
	for (size_t i = 0; i < n6; i++) {
		memcpy(b_addr + 16 * i, tab6[i].addr, 16);
		b_len[i] = tab6[i].len;
		b_nh[i] = tab6[i].nh;
	}
	lpm_t *ours = NULL;
	R->our.build_s = 1e30;
	for (unsigned r = 0; r < opt.reps; r++) {
		if (ours)
			lpm_table_destroy(ours);
		double t0 = now_s();
		ours = lpm_table_create(6, NULL);
		if (!ours)
			die("lpm_table_create(6) failed");
		int rc = lpm_table_build(ours, n6, b_addr, b_len, b_nh);
		double dt = now_s() - t0;
		if (rc != LPM_OK)
			die("lpm_table_build(v6): %s", lpm_strerror(rc));
		if (dt < R->our.build_s)
			R->our.build_s = dt;
	}
	lpm_table_stats(ours, &R->om.st);
	R->om.thp_bytes = anon_huge_bytes();
	R->our.routes = R->om.st.routes;
	R->our.bytes = R->om.st.bytes;
	LOG("srcfib  v6 build %.3f s, %" PRIu64 " routes, %" PRIu64 " bytes (reserved %" PRIu64
	    ", rib %" PRIu64 ", nodes %" PRIu64 ", leaves %" PRIu64 "); process THP %" PRIu64 " kB\n",
	    R->our.build_s, R->our.routes, R->our.bytes, R->om.st.bytes_reserved, R->om.st.rib_bytes,
	    R->om.st.nodes, R->om.st.leaves, R->om.thp_bytes >> 10);
	if (R->our.routes != n6)
		die("srcfib v6 table reports %" PRIu64 " routes, expected %zu", R->our.routes, n6);

	/* --- rte_fib6 sizing --- */
	struct rte_meta *M = &R->rm;
	M->tbl8_lower_bound = tbl8_lower_bound6();
	M->max_routes = (int)(n6 + nu + 1024);
	M->tbl8_reserved = M->tbl8_used = -1;
	uint32_t num = opt.tbl8_v6 ? opt.tbl8_v6 : align64((uint64_t)M->tbl8_lower_bound * 5 / 4 + 64);
	uint32_t rsvd_table = 0;
	bool rsvd_known = false;
	for (;;) {
		M->sizing_attempts++;
		struct rte_fib6 *f = rte6_create(num, M->max_routes);
		int rc = rte6_add_all(f);
		uint32_t rsvd = 0, cur = 0;
		bool ok = peek_tbl8(rte_fib6_get_dp(f), num, &rsvd, &cur);
		rte_fib6_free(f);
		if (rc == -ENOSPC) {
			if (opt.tbl8_v6)
				die("rte_fib6: --tbl8-v6 %u is too small for the table", num);
			num = align64((uint64_t)num * 3 / 2 + 64);
			continue;
		}
		if (ok) {
			rsvd_table = rsvd;
			rsvd_known = true;
		}
		if (!opt.tbl8_v6 && ok)
			num = align64((uint64_t)rsvd + rsvd / 100 + 64);
		break;
	}
	M->num_tbl8 = num;

	struct rte_fib6 *fib = NULL;
	R->rte.build_s = 1e30;
	M->create_s = 1e30;
	for (unsigned r = 0; r < opt.reps; r++) {
		if (fib)
			rte_fib6_free(fib);
		size_t h0 = heap_alloc_bytes();
		double t0 = now_s();
		fib = rte6_create(num, M->max_routes);
		double t1 = now_s();
		int rc = rte6_add_all(fib);
		double t2 = now_s();
		size_t h1 = heap_alloc_bytes();
		if (rc)
			die("rte_fib6_add: out of tbl8 groups with num_tbl8=%u", num);
		if (t2 - t0 < R->rte.build_s)
			R->rte.build_s = t2 - t0;
		if (t1 - t0 < M->create_s)
			M->create_s = t1 - t0;
		M->heap_delta_total = h1 - h0;
	}
	{
		/* the trie keeps its in-use count elsewhere (cur_tbl8s stays 0):
		 * report only the reservation; tbl8_groups_needed is the usage */
		uint32_t rsvd = 0, cur = 0;
		if (peek_tbl8(rte_fib6_get_dp(fib), num, &rsvd, &cur))
			M->tbl8_reserved = rsvd;
	}
	M->rib_bytes = rib6_bytes(M->max_routes);
	R->rte.bytes = M->heap_delta_total - M->rib_bytes;
	/* trie_create: header (128) + 2^24 * 4 + 4, (num_tbl8 + 1) * 256 * 4, tbl8 pool num_tbl8 * 4 */
	M->bytes_formula = 128 + (1ull << 24) * 4 + 4 + (uint64_t)(num + 1) * 256 * 4 + (uint64_t)num * 4;
	R->rte.routes = n6;
	LOG("rte_fib6 build %.3f s (create %.3f s), num_tbl8 %u (groups needed %u, reserved %" PRId64
	    ", used %" PRId64 "), dataplane %" PRIu64 " bytes (formula %" PRIu64 "), rib %" PRIu64 " bytes\n",
	    R->rte.build_s, M->create_s, num, M->tbl8_lower_bound, M->tbl8_reserved, M->tbl8_used, R->rte.bytes,
	    M->bytes_formula, M->rib_bytes);
	if ((double)R->rte.bytes < 0.95 * (double)M->bytes_formula || (double)R->rte.bytes > 1.05 * (double)M->bytes_formula)
		LOG("warning: rte_fib6 heap delta differs from the formula by more than 5%%\n");

	uint32_t *o_out = xmalloc(N * sizeof(uint32_t));
	uint64_t *r_out = xmalloc(N * sizeof(uint64_t));
	verify6("v6 random", ours, fib, a_rand, N, o_out, r_out);
	verify6("v6 table", ours, fib, a_tab, N, o_out, r_out);
	for (size_t i = 0; i < N; i++) {
		uint32_t s = lpm6_lookup(ours, a_tab[i]);
		uint64_t nh;
		rte_fib6_lookup_bulk(fib, a_tab + i, &nh, 1);
		if (s != o_out[i] || nh != r_out[i]) {
			char b[64];
			inet_ntop(AF_INET6, a_tab[i], b, sizeof(b));
			report_mismatch("v6 single vs bulk", b, s, nh);
		}
	}
	if (mismatches)
		return;
	LOG("v6 correctness: %zu random + %zu table addresses agree\n", N, N);

	for (unsigned r = 0; r < opt.reps; r++) {
		BEST_RATE(R->our.single_mlps, N / 1e6, t_our6_single(ours, a_tab, N));
		BEST_RATE(R->rte.single_mlps, N / 1e6, t_rte6_single(fib, a_tab, N));
	}
	for (unsigned r = 0; r < opt.reps; r++) {
		BEST_RATE(R->our.random_mlps, N / 1e6, t_our6_bulk(ours, a_rand, N));
		BEST_RATE(R->rte.random_mlps, N / 1e6, t_rte6_bulk(fib, a_rand, N));
	}
	for (unsigned r = 0; r < opt.reps; r++) {
		BEST_RATE(R->our.table_mlps, N / 1e6, t_our6_bulk(ours, a_tab, N));
		BEST_RATE(R->rte.table_mlps, N / 1e6, t_rte6_bulk(fib, a_tab, N));
	}
	LOG("v6 lookups Mlps  single %.1f / %.1f  random %.1f / %.1f  table %.1f / %.1f  (srcfib / rte_fib6)\n",
	    R->our.single_mlps, R->rte.single_mlps, R->our.random_mlps, R->rte.random_mlps, R->our.table_mlps,
	    R->rte.table_mlps);

	if (rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512F) > 0) {
		uint16_t old = rte_vect_get_max_simd_bitwidth();
		if (rte_vect_set_max_simd_bitwidth(RTE_VECT_SIMD_512) == 0 &&
		    rte_fib6_select_lookup(fib, RTE_FIB6_LOOKUP_TRIE_VECTOR_AVX512) == 0) {
			M->avx512 = true;
			verify6("v6 random avx512", ours, fib, a_rand, N, o_out, r_out);
			verify6("v6 table avx512", ours, fib, a_tab, N, o_out, r_out);
			for (unsigned r = 0; r < opt.reps; r++) {
				BEST_RATE(M->avx512_random_mlps, N / 1e6, t_rte6_bulk(fib, a_rand, N));
				BEST_RATE(M->avx512_table_mlps, N / 1e6, t_rte6_bulk(fib, a_tab, N));
			}
			LOG("v6 rte_fib6 AVX-512 lookup Mlps: random %.1f table %.1f\n", M->avx512_random_mlps,
			    M->avx512_table_mlps);
		}
		rte_vect_set_max_simd_bitwidth(old);
		if (rte_fib6_select_lookup(fib, RTE_FIB6_LOOKUP_DEFAULT) != 0)
			die("rte_fib6_select_lookup(DEFAULT) failed");
	}

	/* --- updates: the trie reserves tbl8 groups per route (a /48 in empty
	 * space needs 3), so the update run uses an instance sized for the
	 * table plus the update set; the measured instance above is sized for
	 * the table alone. --- */
	if (nu && !opt.tbl8_v6) {
		uint32_t need = (uint32_t)(rsvd_known ? rsvd_table : num) + 3u * (uint32_t)nu;
		uint32_t unum = align64((uint64_t)need + need / 100 + 64);
		if (unum > num) {
			rte_fib6_free(fib);
			fib = rte6_create(unum, M->max_routes);
			if (rte6_add_all(fib))
				die("rte_fib6_add: out of tbl8 groups with num_tbl8=%u (update instance)", unum);
			num = unum;
		}
	}
	M->num_tbl8_upd = num;

	double best_o = 0, best_r = 0, best_oi = 0, best_od = 0, best_ri = 0, best_rd = 0;
	uint32_t *uo = xmalloc((nu ? nu : 1) * sizeof(uint32_t));
	uint64_t *ur = xmalloc((nu ? nu : 1) * sizeof(uint64_t));
	for (unsigned r = 0; r < opt.reps && nu; r++) {
		/* DPDK 22.11's trie does not give back the tbl8 reservation of a
		 * deleted route (its delete path finds the route itself under
		 * ALIGN_FLOOR(depth, 8) and computes depth_diff = 0), so each
		 * insert+delete cycle leaks up to 3 reservations per /48: start
		 * each repetition from a fresh instance when the next cycle would
		 * not fit (untimed). */
		uint32_t rs = 0, cu = 0;
		if (r > 0 && peek_tbl8(rte_fib6_get_dp(fib), num, &rs, &cu) && (uint64_t)rs + 3u * nu > num) {
			rte_fib6_free(fib);
			fib = rte6_create(num, M->max_routes);
			if (rte6_add_all(fib))
				die("rte_fib6_add: out of tbl8 groups with num_tbl8=%u (update instance)", num);
			M->upd_recreated++;
		}
		double t0 = now_s();
		for (size_t i = 0; i < nu; i++) {
			uint32_t old;
			int rc = lpm_route_add(ours, upd[i].addr, upd[i].len, upd[i].nh, &old);
			if (rc != LPM_OK || old != LPM_MISS)
				die("lpm_route_add v6 update %zu: %s (old %u)", i, lpm_strerror(rc), old);
		}
		double t1 = now_s();
		for (size_t i = 0; i < nu; i++) {
			int rc = rte_fib6_add(fib, upd[i].addr, upd[i].len, upd[i].nh);
			if (rc) {
				peek_tbl8(rte_fib6_get_dp(fib), num, &rs, &cu);
				die("rte_fib6_add v6 update %zu: %d (num_tbl8 %u, reserved %u)", i, rc, num, rs);
			}
		}
		double t2 = now_s();
		if (r == 0) {
			verify6("v6 with updates installed", ours, fib, a_upd, nu, uo, ur);
			verify6("v6 table with updates installed", ours, fib, a_tab, N, o_out, r_out);
		}
		double t3 = now_s();
		for (size_t i = 0; i < nu; i++) {
			uint32_t old;
			int rc = lpm_route_delete(ours, upd[i].addr, upd[i].len, &old);
			if (rc != LPM_OK || old != upd[i].nh)
				die("lpm_route_delete v6 update %zu: %s (old %u)", i, lpm_strerror(rc), old);
		}
		double t4 = now_s();
		for (size_t i = 0; i < nu; i++) {
			int rc = rte_fib6_delete(fib, upd[i].addr, upd[i].len);
			if (rc)
				die("rte_fib6_delete v6 update %zu: %d", i, rc);
		}
		double t5 = now_s();
		if (r == 0 && peek_tbl8(rte_fib6_get_dp(fib), num, &rs, &cu))
			M->tbl8_reserved_after_cycle = rs;
		BEST_RATE(best_o, 2.0 * nu, (t1 - t0) + (t4 - t3));
		BEST_RATE(best_r, 2.0 * nu, (t2 - t1) + (t5 - t4));
		BEST_RATE(best_oi, nu, t1 - t0);
		BEST_RATE(best_od, nu, t4 - t3);
		BEST_RATE(best_ri, nu, t2 - t1);
		BEST_RATE(best_rd, nu, t5 - t4);
	}
	R->our.updates_per_s = best_o;
	R->rte.updates_per_s = best_r;
	R->om.insert_per_s = best_oi;
	R->om.delete_per_s = best_od;
	M->insert_per_s = best_ri;
	M->delete_per_s = best_rd;
	if (M->tbl8_reserved_after_cycle > 0 && rsvd_known)
		LOG("rte_fib6: tbl8 reservation %u before, %" PRId64 " after one insert+delete cycle of the update set\n",
		    rsvd_table, M->tbl8_reserved_after_cycle);
	lpm_table_reclaim(ours, 1);
	lpm_table_stats(ours, &R->om.st_after);
	verify6("v6 table after updates", ours, fib, a_tab, N, o_out, r_out);
	if (R->om.st_after.routes != n6)
		die("srcfib v6: %" PRIu64 " routes after the update run, expected %zu", R->om.st_after.routes, n6);
	LOG("v6 updates/s %.0f / %.0f (srcfib / rte_fib6); srcfib bytes after %" PRIu64 "\n", best_o, best_r,
	    R->om.st_after.bytes);

	rte_fib6_free(fib);
	lpm_table_destroy(ours);
	free(a_rand);
	free(a_tab);
	free(a_upd);
	free(upd);
	free(uo);
	free(ur);
	free(o_out);
	free(r_out);
	free(b_addr);
	free(b_len);
	free(b_nh);
}

/* ------------------------------------------------------------------ */
/* JSON */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (v != v || v > 1e300 || v < -1e300)
		fputs("null", f);
	else if (v == (double)(int64_t)v && v < 9e15 && v > -9e15)
		fprintf(f, "%" PRId64, (int64_t)v);
	else
		fprintf(f, "%.6g", v);
}

static void json_eng(FILE *f, const struct eng_res *e)
{
	fprintf(f, "{\"routes\":%" PRIu64 ",\"build_s\":", e->routes);
	json_num(f, e->build_s);
	fprintf(f, ",\"bytes\":%" PRIu64 ",\"lookup_single_mlps\":", e->bytes);
	json_num(f, e->single_mlps);
	fputs(",\"lookup_random_mlps\":", f);
	json_num(f, e->random_mlps);
	fputs(",\"lookup_table_mlps\":", f);
	json_num(f, e->table_mlps);
	fputs(",\"updates_per_s\":", f);
	json_num(f, e->updates_per_s);
	fputc('}', f);
}

static void json_stats(FILE *f, const lpm_stats_t *s)
{
	fprintf(f,
		"{\"routes\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"bytes_reserved\":%" PRIu64 ",\"rib_bytes\":%" PRIu64
		",\"nodes\":%" PRIu64 ",\"leaves\":%" PRIu64 ",\"next_hops\":%" PRIu64 ",\"pending_blocks\":%" PRIu64 "}",
		s->routes, s->bytes, s->bytes_reserved, s->rib_bytes, s->nodes, s->leaves, s->next_hops,
		s->pending_blocks);
}

static void json_fam_meta(FILE *f, const struct fam_res *R, int fam)
{
	const struct rte_meta *M = &R->rm;
	fputs("{\"srcfib\":{\"stats_after_build\":", f);
	json_stats(f, &R->om.st);
	fputs(",\"stats_after_updates\":", f);
	json_stats(f, &R->om.st_after);
	fputs(",\"insert_per_s\":", f);
	json_num(f, R->om.insert_per_s);
	fputs(",\"delete_per_s\":", f);
	json_num(f, R->om.delete_per_s);
	fprintf(f, ",\"process_anon_huge_bytes_after_build\":%" PRIu64, R->om.thp_bytes);
	fputs(",\"rcu\":null},", f);
	fprintf(f, "\"%s\":{", fam == 4 ? "rte_fib" : "rte_fib6");
	fprintf(f, "\"type\":\"%s\",\"nh_sz\":\"%s\",\"default_nh\":%llu,", fam == 4 ? "RTE_FIB_DIR24_8" : "RTE_FIB6_TRIE",
		fam == 4 ? "RTE_FIB_DIR24_8_4B" : "RTE_FIB6_TRIE_4B", (unsigned long long)RTE_DEF_NH);
	fprintf(f, "\"num_tbl8\":%u,\"num_tbl8_update_run\":%u,\"tbl8_groups_needed\":%u,", M->num_tbl8,
		M->num_tbl8_upd, M->tbl8_lower_bound);
	fputs("\"tbl8_reserved\":", f);
	json_num(f, M->tbl8_reserved < 0 ? 0.0 / 0.0 : (double)M->tbl8_reserved);
	fputs(",\"tbl8_used\":", f);
	json_num(f, M->tbl8_used < 0 ? 0.0 / 0.0 : (double)M->tbl8_used);
	fprintf(f, ",\"sizing_builds\":%u,\"max_routes\":%d,\"heap_delta_total\":%" PRIu64 ",\"rib_bytes\":%" PRIu64
		",\"bytes_formula\":%" PRIu64 ",\"create_s\":",
		M->sizing_attempts, M->max_routes, M->heap_delta_total, M->rib_bytes, M->bytes_formula);
	json_num(f, M->create_s);
	fputs(",\"tbl8_reserved_after_update_cycle\":", f);
	json_num(f, M->tbl8_reserved_after_cycle <= 0 ? 0.0 / 0.0 : (double)M->tbl8_reserved_after_cycle);
	fprintf(f, ",\"update_instances_rebuilt\":%u", M->upd_recreated);
	fputs(",\"insert_per_s\":", f);
	json_num(f, M->insert_per_s);
	fputs(",\"delete_per_s\":", f);
	json_num(f, M->delete_per_s);
	fprintf(f, ",\"lookup\":\"%s (scalar at the default max SIMD width)\"",
		fam == 4 ? "RTE_FIB_LOOKUP_DEFAULT" : "RTE_FIB6_LOOKUP_DEFAULT");
	fputs(",\"avx512\":", f);
	if (M->avx512) {
		fputs("{\"lookup_random_mlps\":", f);
		json_num(f, M->avx512_random_mlps);
		fputs(",\"lookup_table_mlps\":", f);
		json_num(f, M->avx512_table_mlps);
		fputc('}', f);
	} else {
		fputs("null", f);
	}
	fputs("},\"updates\":{\"prefixes\":", f);
	json_num(f, (double)R->update_prefixes);
	fputs(",\"how\":", f);
	json_str(f, R->update_desc ? R->update_desc : "");
	fputs("}}", f);
}

static void read_first_line(const char *path, char *buf, size_t n)
{
	snprintf(buf, n, "unknown");
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(buf, (int)n, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

static char *make_json(void)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		die("open_memstream");
	fputc('{', f);
	bool first = true;
	if (R4.run) {
		fputs("\"v4\":{\"srcfib\":", f);
		json_eng(f, &R4.our);
		fputs(",\"rte_fib\":", f);
		json_eng(f, &R4.rte);
		fputc('}', f);
		first = false;
	}
	if (R6.run) {
		if (!first)
			fputc(',', f);
		fputs("\"v6\":{\"srcfib\":", f);
		json_eng(f, &R6.our);
		fputs(",\"rte_fib\":", f);
		json_eng(f, &R6.rte);
		fputc('}', f);
		first = false;
	}
	if (!first)
		fputc(',', f);

	char cpu[256], date[64], thp[128], thp_shmem[128], tun[256];
	bench_cpu_model(cpu, sizeof(cpu));
	time_t t = time(NULL);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	read_first_line("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof(thp));
	read_first_line("/sys/kernel/mm/transparent_hugepage/shmem_enabled", thp_shmem, sizeof(thp_shmem));
	const char *gt = getenv("GLIBC_TUNABLES");
	snprintf(tun, sizeof(tun), "%s", gt ? gt : "");

	fputs("\"meta\":{\"cpu\":", f);
	json_str(f, cpu);
	fputs(",\"date\":", f);
	json_str(f, date);
	fputs(",\"dpdk\":", f);
	json_str(f, rte_version());
	fputs(",\"eal_args\":", f);
	json_str(f, eal_args_str);
	fprintf(f, ",\"lcore\":%u,\"batch\":%u,\"lookups\":%zu,\"reps\":%u,\"seed\":%" PRIu64 ",\"updates\":%zu",
		opt.lcore, opt.batch, opt.lookups, opt.reps, opt.seed, opt.updates);
	fputs(",\"prefix_file\":", f);
	json_str(f, opt.prefix_file);
	fprintf(f, ",\"prefixes\":{\"lines\":%zu,\"v4\":%zu,\"v6\":%zu,\"bad\":%zu,\"host_bits_masked\":%zu,"
		   "\"duplicates_v4\":%zu,\"duplicates_v6\":%zu}",
		n_lines, n4, n6, n_bad, n_masked, n_dup4, n_dup6);
	fprintf(f, ",\"next_hops\":%u,\"next_hop_hash\":\"fnv1a32(addr bytes, len) %% %u\"", NH_COUNT, NH_COUNT);
	fputs(",\"thp\":", f);
	json_str(f, thp);
	fputs(",\"thp_shmem\":", f);
	json_str(f, thp_shmem);
	fprintf(f, ",\"thp_disabled\":%s", opt.no_thp ? "true" : "false");
	fputs(",\"glibc_tunables\":", f);
	json_str(f, tun);
	fprintf(f, ",\"max_simd_bitwidth\":%u", (unsigned)rte_vect_get_max_simd_bitwidth());
	fputs(",\"method\":{"
	      "\"build_s\":\"srcfib: lpm_table_create + lpm_table_build(all); rte_fib: rte_fib_create + rte_fib_add per route in sorted order\","
	      "\"bytes\":\"srcfib: lpm_stats_t.bytes; rte_fib: DPDK heap_allocsz delta of create+adds minus a standalone rte_rib with the same pool (see bytes_formula, rib_bytes)\","
	      "\"lookup_single_mlps\":\"one call per table-drawn address; rte_fib via rte_fib_lookup_bulk(n=1), DPDK has no single lookup\","
	      "\"lookup_random_mlps\":\"bulk, uniformly random addresses (IPv6: random within 2000::/3)\","
	      "\"lookup_table_mlps\":\"bulk, random prefix of the table + random host bits\","
	      "\"updates_per_s\":\"2*updates / (insert all + delete all), absent prefixes\","
	      "\"repeat\":\"best of reps; engines interleaved\"}", f);
	fputs(",\"families\":{", f);
	first = true;
	if (R4.run) {
		fputs("\"v4\":", f);
		json_fam_meta(f, &R4, 4);
		first = false;
	}
	if (R6.run) {
		if (!first)
			fputc(',', f);
		fputs("\"v6\":", f);
		json_fam_meta(f, &R6, 6);
	}
	fputs("}}}", f);
	fclose(f);
	return out;
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	if (opt.no_thp && prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0)
		die("prctl(PR_SET_THP_DISABLE): %s", strerror(errno));
	load_prefixes(opt.prefix_file);
	if (opt.do4 && n4 == 0)
		die("no IPv4 prefixes in %s", opt.prefix_file);
	if (opt.do6 && n6 == 0)
		die("no IPv6 prefixes in %s", opt.prefix_file);

	bench_eal_init(argv[0], opt.lcore, opt.mem_mb, eal_args_str, sizeof eal_args_str);
	LOG("EAL: %s; lcore %u; batch %u; %zu lookups x %u reps; %zu updates\n", eal_args_str, rte_lcore_id(),
	    opt.batch, opt.lookups, opt.reps, opt.updates);

	if (opt.do4 && !mismatches)
		bench_v4();
	if (opt.do6 && !mismatches)
		bench_v6();

	if (mismatches) {
		fprintf(stderr,
			"\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
			"!!! MISMATCH: srcfib and rte_fib disagree on %llu lookups; no results !!!\n"
			"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
			mismatches);
		rte_eal_cleanup();
		return 2;
	}

	char *json = make_json();
	if (opt.json_file) {
		FILE *f = fopen(opt.json_file, "w");
		if (!f || fprintf(f, "%s\n", json) < 0 || fclose(f) != 0)
			die("cannot write %s", opt.json_file);
	}
	printf("%s\n", json);
	fflush(stdout);
	free(json);
	rte_eal_cleanup();
	return 0;
}
