/*
 * pipeline_bench — 64-byte packets through srcfib's full forwarding pipeline
 * on one lcore, against an rx/tx-only loop and destination-only forwarding,
 * in one process on the same packets.
 *
 *   pipeline_bench [options] PREFIX_FILE
 *     --packets N   packets circulating (default 8192)
 *     --seconds S   measuring time per figure (default 2)
 *     --reps N      figures per mode, best kept; modes interleave (default 3)
 *     --fibs N      FIBs chosen by source, each holding the full IPv4 table
 *                   with its own next hops (default 2)
 *     --mem MB      EAL memory (default 1024)
 *
 * Feed: a net_ring port whose rx and tx are the same rte_ring, preloaded with
 * the packets, so each packet transmitted comes back as a received one and the
 * feed costs next to nothing.  Every adjacency rewrites the destination MAC to
 * the port's own, so a forwarded packet is valid input again; a packet whose
 * TTL fell below 2 gets TTL 64 back (one byte compare per packet, a rewrite
 * once per 63 trips).
 *
 * Packets: Ethernet + IPv4 + UDP, 60 bytes (64 on the wire with the FCS);
 * destinations drawn uniformly from the table's prefixes with random host
 * bits; sources spread over the FIBs' source bindings (10.F.0.0/16 -> FIB F).
 *
 * Modes: io_only (rx burst, tx burst), dst_only (the pipeline with the source
 * selector skipped: every packet in the default FIB), src_dst (the pipeline).
 * Prints one JSON object on stdout; progress on stderr.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_version.h>

#include "bench_common.h"
#include "dp_worker.h"

static struct {
	unsigned packets, reps, fibs, mem_mb;
	double seconds;
	const char *prefixes;
} opt = {8192, 3, 2, 1024, 2.0, NULL};

static const uint8_t PORT_MAC[6] = {2, 0x5f, 0, 0, 0, 1};

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--packets") && v)
			opt.packets = (unsigned)atoi(v), i++;
		else if (!strcmp(a, "--seconds") && v)
			opt.seconds = atof(v), i++;
		else if (!strcmp(a, "--reps") && v)
			opt.reps = (unsigned)atoi(v), i++;
		else if (!strcmp(a, "--fibs") && v)
			opt.fibs = (unsigned)atoi(v), i++;
		else if (!strcmp(a, "--mem") && v)
			opt.mem_mb = (unsigned)atoi(v), i++;
		else if (a[0] != '-' && !opt.prefixes)
			opt.prefixes = a;
		else
			die("unknown or incomplete option %s (see the comment at the top of bench/pipeline_bench.c)", a);
	}
	if (!opt.prefixes)
		die("usage: pipeline_bench [--packets N] [--seconds S] [--reps N] [--fibs N] PREFIX_FILE");
	if (opt.packets < 64 || opt.packets > 16384 || opt.fibs < 1 || opt.fibs > 200 || opt.reps < 1 ||
	    opt.seconds <= 0)
		die("option out of range (packets 64..16384, fibs 1..200)");
}

static void ip4_cksum_set(uint8_t *ip)
{
	ip[10] = ip[11] = 0;
	uint16_t ck = (uint16_t)~dp_cksum(ip, 20, 0);
	ip[10] = (uint8_t)(ck >> 8);
	ip[11] = (uint8_t)ck;
}

enum mode { IO_ONLY, DST_ONLY, SRC_DST, NMODES };
static const char *mode_name[NMODES] = {"io_only", "dst_only", "src_dst"};

struct result {
	double mpps, cycles;
};

static struct result run_mode(enum mode md, uint16_t port, struct dp_worker *w)
{
	struct rte_mbuf *m[DP_BURST];
	uint64_t pkts = 0, hz = rte_get_tsc_hz();
	uint64_t t0 = rte_rdtsc(), end = t0 + (uint64_t)(opt.seconds * (double)hz);
	uint64_t now = t0;
	w->dst_only = md == DST_ONLY;
	while (now < end) {
		for (int it = 0; it < 256; it++) {
			uint16_t n = rte_eth_rx_burst(port, 0, m, DP_BURST);
			pkts += n;
			if (md == IO_ONLY) {
				uint16_t s = rte_eth_tx_burst(port, 0, m, n);
				for (uint16_t i = s; i < n; i++)
					rte_pktmbuf_free(m[i]);
				continue;
			}
			for (uint16_t i = 0; i < n; i++) {
				uint8_t *ip = rte_pktmbuf_mtod(m[i], uint8_t *) + 14;
				if (ip[8] < 2) {
					ip[8] = 64;
					ip4_cksum_set(ip);
				}
			}
			dp_worker_rx(w, 0, m, n);
			dp_worker_flush(w);
		}
		now = rte_rdtsc();
	}
	double secs = (double)(now - t0) / (double)hz;
	return (struct result){pkts / secs / 1e6, (double)(now - t0) / (double)pkts};
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	char eal_args[256];
	bench_eal_init(argv[0], 0, opt.mem_mb, eal_args, sizeof eal_args);

	bench_nh_count = 500;
	load_prefixes(opt.prefixes);
	if (n4 == 0)
		die("no IPv4 prefixes in %s", opt.prefixes);

	struct rte_mempool *mp = rte_pktmbuf_pool_create("mp", 2 * opt.packets + 4096, 256, 0,
	                                                 RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	struct rte_mempool *mpi = rte_pktmbuf_pool_create("mpi", 1023, 32, 0, 0, 0);
	struct rte_ring *ring = rte_ring_create("feed", 32768, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!mp || !mpi || !ring)
		die("mempool/ring: %s", rte_strerror(rte_errno));
	int p = rte_eth_from_rings("feed", &ring, 1, &ring, 1, 0);
	if (p < 0)
		die("rte_eth_from_rings: %s", rte_strerror(rte_errno));
	uint16_t port = (uint16_t)p;
	struct rte_eth_conf conf = {0};
	if (rte_eth_dev_configure(port, 1, 1, &conf) || rte_eth_rx_queue_setup(port, 0, 1024, 0, NULL, mp) ||
	    rte_eth_tx_queue_setup(port, 0, 1024, 0, NULL) || rte_eth_dev_start(port))
		die("ring port setup failed");

	/* tables: one port, 16 adjacencies, 500 groups, opt.fibs full tables */
	struct dp_tables *t = dp_tables_create(NULL);
	if (!t)
		die("dp_tables_create");
	struct dp_port_conf pc = {.dpdk_port = port, .tap_port = DP_ID_NONE, .mtu = 1500, .has_ip4 = 1,
	                          .ip4 = 0x0A630001};
	memcpy(pc.mac, PORT_MAC, 6);
	if (dp_port_set(t, 0, &pc))
		die("dp_port_set");
	for (uint16_t a = 0; a < 16; a++) {
		struct dp_adj adj = {.port = 0, .mtu = 1500, .resolved = 1};
		memcpy(adj.dst_mac, PORT_MAC, 6);
		memcpy(adj.src_mac, PORT_MAC, 6);
		adj.src_mac[5] = (uint8_t)(0x10 + a);
		if (dp_adj_set(t, a, &adj))
			die("dp_adj_set");
	}
	for (uint32_t g = 0; g < 500; g++) {
		uint16_t a = (uint16_t)(g % 16), wt = 1;
		if (dp_nhg_set(t, g, DP_NHG_FORWARD, 1, &a, &wt))
			die("dp_nhg_set");
	}
	uint8_t *addrs = xmalloc(n4 * 4), *lens = xmalloc(n4);
	uint32_t *nhs = xmalloc(n4 * 4);
	double t_build = 0;
	for (unsigned f = 0; f < opt.fibs; f++) {
		for (size_t i = 0; i < n4; i++) {
			uint32_t be = htonl(tab4[i].addr);
			memcpy(addrs + 4 * i, &be, 4);
			lens[i] = tab4[i].len;
			nhs[i] = (tab4[i].nh + 37 * f) % 500; /* each FIB its own next hops */
		}
		double t0 = now_s();
		int st = 0;
		if (dp_subfib_load(t, (uint16_t)f, 4, n4, addrs, lens, nhs, &st))
			die("dp_subfib_load: %s", lpm_strerror(st));
		t_build += now_s() - t0;
		if (dp_fib_base_set(t, (uint16_t)f, (uint16_t)f, NULL, 0))
			die("dp_fib_base_set");
		uint8_t src[4] = {10, (uint8_t)f, 0, 0};
		if (dp_binding_set(t, 4, src, 16, (uint16_t)f))
			die("dp_binding_set");
	}
	dp_binding_default(t, 4, 0);
	LOG("pipeline_bench: %u FIBs x %zu IPv4 routes loaded in %.2f s\n", opt.fibs, n4, t_build);

	/* packets */
	rng_seed(42);
	for (unsigned i = 0; i < opt.packets; i++) {
		struct rte_mbuf *mb = rte_pktmbuf_alloc(mp);
		uint8_t *f = mb ? (uint8_t *)rte_pktmbuf_append(mb, 60) : NULL;
		if (!f)
			die("cannot allocate packet %u", i);
		memset(f, 0, 60);
		memcpy(f, PORT_MAC, 6);
		f[6] = 2, f[11] = 0x99;
		f[12] = 0x08;
		uint8_t *ip = f + 14;
		ip[0] = 0x45;
		ip[3] = 46;
		ip[8] = 64;
		ip[9] = 17;
		uint32_t src = (10u << 24) | ((i % opt.fibs) << 16) | (uint32_t)rng_below(65536);
		const struct pfx4 *pf = &tab4[rng_below(n4)];
		uint32_t dst = pf->addr | ((uint32_t)rng_next() & ~mask4(pf->len));
		uint32_t sb = htonl(src), db = htonl(dst);
		memcpy(ip + 12, &sb, 4);
		memcpy(ip + 16, &db, 4);
		ip4_cksum_set(ip);
		uint16_t sp = (uint16_t)rng_next(), dp = 53;
		ip[20] = (uint8_t)(sp >> 8), ip[21] = (uint8_t)sp, ip[22] = (uint8_t)(dp >> 8), ip[23] = (uint8_t)dp;
		ip[25] = 26;
		if (rte_ring_enqueue(ring, mb))
			die("ring full");
	}

	struct dp_counters *c = aligned_alloc(64, sizeof(*c));
	memset(c, 0, sizeof(*c));
	struct dp_worker *w = aligned_alloc(64, sizeof(*w));
	dp_worker_init(w, t, c, mp, mpi, 0);

	struct result best[NMODES] = {0};
	for (unsigned r = 0; r < opt.reps; r++) {
		for (int md = 0; md < NMODES; md++) {
			struct result x = run_mode((enum mode)md, port, w);
			LOG("  rep %u %-8s %6.2f Mpps %6.1f cycles/packet\n", r + 1, mode_name[md], x.mpps, x.cycles);
			if (x.mpps > best[md].mpps)
				best[md] = x;
		}
	}
	uint64_t dropped = 0;
	for (int d = 0; d < DP_DROP_MAX; d++) {
		if (c->drop[d])
			LOG("  drops %s: %lu\n", dp_drop_names[d], (unsigned long)c->drop[d]);
		dropped += c->drop[d];
	}
	uint64_t per_fib_min = UINT64_MAX;
	for (unsigned f = 0; f < opt.fibs; f++)
		per_fib_min = c->fib_pkts[f] < per_fib_min ? c->fib_pkts[f] : per_fib_min;
	if (dropped)
		die("%lu packets were dropped: the benchmark would not measure forwarding", (unsigned long)dropped);
	if (rte_ring_count(ring) + 64 < opt.packets)
		LOG("  note: %u of %u packets in the ring at the end\n", rte_ring_count(ring), opt.packets);

	printf("{\"io_only_mpps\":%.3f,\"dst_only_mpps\":%.3f,\"src_dst_mpps\":%.3f,\"cycles_per_packet\":%.1f,"
	       "\"io_only_cycles_per_packet\":%.1f,\"dst_only_cycles_per_packet\":%.1f,"
	       "\"source_overhead\":%.4f,\"fibs\":%u,\"routes_per_fib\":%zu,\"packets\":%u,\"frame_bytes\":60,"
	       "\"wire_bytes\":64,\"seconds_per_figure\":%.2f,\"reps\":%u,\"tsc_hz\":%lu,\"forwarded\":%lu,"
	       "\"min_packets_per_fib\":%lu,\"dropped\":%lu,\"dpdk\":\"%s\","
	       "\"eal_args\":\"%s\"}\n",
	       best[IO_ONLY].mpps, best[DST_ONLY].mpps, best[SRC_DST].mpps, best[SRC_DST].cycles, best[IO_ONLY].cycles,
	       best[DST_ONLY].cycles, best[SRC_DST].cycles / best[DST_ONLY].cycles - 1, opt.fibs, n4, opt.packets,
	       opt.seconds, opt.reps, (unsigned long)rte_get_tsc_hz(), (unsigned long)c->port[0].tx_pkts,
	       (unsigned long)per_fib_min, (unsigned long)dropped, rte_version(), eal_args);
	dp_tables_destroy(t);
	rte_eal_cleanup();
	return 0;
}
