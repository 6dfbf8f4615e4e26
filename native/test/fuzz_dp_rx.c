/*
 * fuzz_dp_rx — libFuzzer target: arbitrary frames into the packet loop (dp_worker_rx, and
 * dp_worker_inject as if the kernel wrote them on a TAP), over real DPDK mbufs, ring ports and
 * a crypto device, with tables that reach every stage: source bindings, sub-FIB rules, ECMP,
 * local / blackhole / unreachable / prohibit routes, a small-MTU and an unresolved next hop,
 * IPsec policies in and out, inbound ESP (tunnel, IPv4 in IPv4), ESP in UDP (NAT-T, IPv6 in
 * IPv4), AH, and a route into a tunnel.
 *
 * Input: records, each [ctl][len lo][len hi][len bytes]: len is the low 12 bits (capped at what
 * is left and at FRAME_MAX), the top 4 choose the peer's SA of a sealed record.  ctl:
 *   bits 0-1  port 0..2 (3 is 0)
 *   bit 2     written by the kernel on the port's TAP (dp_worker_inject), else received
 *   bits 3-4  sealed by the peer: the bytes are the inner IP packet, made into ESP (1), ESP in
 *             UDP carrying IPv6 (2) or AH (3) with the peer's own SAs (genuine ICV, fresh
 *             sequence number) and received on port 0: the fuzzer reaches the decrypted path.
 *             ESP: AES-GCM IPv4 in IPv4, AES-CBC + HMAC-SHA-256 with ESN IPv4 in IPv6, or
 *             transport; AH: tunnel, or transport over IPv6 (len's top bits choose)
 *   bit 5     the bytes are an IP packet: an Ethernet header for the port is put in front
 *   bit 6     lengths and IPv4 header checksum fixed up first (so mutations get past them)
 *   bit 7     the frame is given as two chained segments
 * A record whose port and direction match the record before joins its burst (up to 32), so
 * runs of packets to one next hop, bursts of one SA and mixed bursts are reached.
 *
 * In fuzz_dp_ctl (the same source built with FUZZ_WRITER_CALLS=1), a record whose length field has
 * its top 4 bits all set (and is not sealed) is a writer call instead (writer_op): routes (one, or a batch), nexthop groups, adjacencies, bindings, FIB bases
 * with rules, policies and tunnels, with arguments from the bytes, good and bad.  They act on
 * ids of their own (FIBs 5-7, sub-FIBs 100-107, groups 100-131, adjacencies 10-17, tunnel 3) or
 * on ids past the limits, never on the scenario's objects, though they may point at them; the
 * packets after them in the input meet what they built (bindings send sources to FIBs 5-7).
 * A refused call must leave what Explain says of 18 probe packets as it was; at the end of the
 * input everything they made is taken down again, after which Explain must say what it said at
 * the start (so every input starts from the same tables, and a finding replays).
 *
 * After each burst, everything that left is taken off the rings and checked, and the target
 * aborts (a finding) when any of these fails:
 *   - accounting: every frame that came in was transmitted, punted or dropped exactly once
 *     (ICMP errors and extra fragments are counted apart);
 *   - no mbuf is leaked (both pools back to full once the rings are drained);
 *   - what leaves a port fits the port: no frame over MTU + 14, IPv4 header checksum right and
 *     total length within the frame, IPv6 payload length within the frame (after an injected
 *     burst: the frames the loop made, not those that left as the kernel wrote them);
 *   - a received plaintext frame sent alone that leaves by exactly one port (or goes up the
 *     TAP as local) went where dp_explain says it goes, and a frame dp_explain forwards is not
 *     dropped for a reason that Explain decides (route, binding, policy).
 * ASan and UBSan (abort on error) watch our code; DPDK's libraries are not instrumented.
 *
 *   make -C native fuzz                  # builds out/fuzz_dp_rx and out/fuzz_dp_ctl (clang)
 *   out/fuzz_dp_rx -max_total_time=60 CORPUS_DIR
 *   FUZZ_DP_RX_SEEDS=DIR out/fuzz_dp_rx -runs=0   # writes the seed corpus into DIR
 *   FUZZ_DP_RX_VERBOSE=1 out/fuzz_dp_rx FILE...   # what each burst of those inputs did
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_eth_ring.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "../ipsec/ipsec_ah.h"
#include "dp_explain.h"
#include "dp_ipsec.h"
#include "dp_worker.h"
#include "test_eal.h"
#include "test_pkt.h"
#include "test_ports.h"

/* Built twice: fuzz_dp_rx, frames only, and fuzz_dp_ctl (-DFUZZ_WRITER_CALLS=1), which also takes
 * writer calls (see writer_op); each table update costs the LPM far more than a packet costs the
 * loop, so the packets get a target of their own at full speed. */
#ifndef FUZZ_WRITER_CALLS
#define FUZZ_WRITER_CALLS 0
#endif
static const bool WRITER_CALLS = FUZZ_WRITER_CALLS;
#define NAME (WRITER_CALLS ? "fuzz_dp_ctl" : "fuzz_dp_rx")
#define NPORT TEST_NPORT
#define FRAME_MAX 1900 /* the inner packet of a sealed record: its ESP/AH packet fits a segment */
#define MAX_RECORDS 64

static struct test_port P[NPORT];
static struct rte_mempool *mp, *mp_ind;
static struct dp_tables *T;
static struct dp_counters *C;
static struct dp_worker W;
static struct ipsec_crypto CR;
/* the peer's ends of our inbound SAs, by seal kind (ESP, ESP in UDP, AH) and variant */
static struct ipsec_esp_sa *peer_esp[3], *peer_natt;
static struct ipsec_ah_sa *peer_ah[2];
static unsigned pool_full, pool_ind_full;
static bool verbose; /* FUZZ_DP_RX_VERBOSE: each burst's outcome on stderr */
/* how often each cross-check had something to compare (printed at exit) */
static unsigned long n_explain, n_fast4, n_fast4_l3, n_sent_checked;

static const uint8_t MAC_PORT[NPORT][6] = {{2, 0, 0, 0, 0, 0xA}, {2, 0, 0, 0, 0, 0xB}, {2, 0, 0, 0, 0, 0xC}};
static const uint8_t MAC_PEER[NPORT][6] = {{2, 0, 0, 0, 1, 0xA}, {2, 0, 0, 0, 1, 0xB}, {2, 0, 0, 0, 1, 0xC}};
static const uint16_t PORT_MTU[NPORT] = {1500, 1500, 1400};

#define DIE(...)                                                                                             \
	do {                                                                                                 \
		fprintf(stderr, "%s: ", NAME);                                                               \
		fprintf(stderr, __VA_ARGS__);                                                                \
		fputc('\n', stderr);                                                                         \
		abort();                                                                                     \
	} while (0)

/* writer calls (below) */
static struct dp_sp spd_base[2][5];
static unsigned spd_base_n[2];
static void probes_setup(void);
static void probes_read(struct dp_explain_out *out);
static void writer_op(const uint8_t *d, uint32_t len);
static void writer_reset(void);
#define NPROBE 18
static struct dp_explain_out probe_base[NPROBE];
static unsigned long n_ops, n_ops_ok;

static void ip4(uint8_t *a, const char *s) { inet_pton(AF_INET, s, a); }
static void ip6(uint8_t *a, const char *s) { inet_pton(AF_INET6, s, a); }

static void setup_ports(void)
{
	for (int i = 0; i < NPORT; i++)
		test_port_make(&P[i], "f", i, mp, 4096);
}

static void must(int rc, const char *what)
{
	if (rc != DP_OK)
		DIE("setup: %s: %d", what, rc);
}

static void route(uint16_t sub, int fam, const char *pfx, unsigned len, uint32_t nhg)
{
	uint8_t a[16];
	if (fam == 4)
		ip4(a, pfx);
	else
		ip6(a, pfx);
	must(dp_route_set(T, sub, fam, a, len, nhg, NULL), pfx);
}

static void sa_conf(struct ipsec_sa_conf *c, uint32_t spi, bool inbound, uint8_t inner, uint8_t key)
{
	memset(c, 0, sizeof *c);
	c->spi = spi;
	c->inbound = inbound;
	c->tunnel = true;
	c->outer_family = 4;
	c->inner_family = inner;
	ip4(c->src, inbound ? "198.51.200.2" : "192.0.2.1");
	ip4(c->dst, inbound ? "192.0.2.1" : "198.51.200.2");
	c->cipher = IPSEC_CIPHER_AES_GCM;
	c->auth = IPSEC_AUTH_NONE;
	memset(c->key, key, 16);
	c->key_len = 16;
	memcpy(c->salt, "salt", 4);
	c->replay_window = 128;
}

/* IPv6 endpoints, from the peer's 2001:db8:99::2 to our fd00::1 (for our inbound SA and the
 * peer's end of it alike), and for IPv4 inside the second algorithm set: AES-CBC-128 +
 * HMAC-SHA-256-128 with ESN */
static void v6_ends(struct ipsec_sa_conf *c)
{
	c->outer_family = 6;
	ip6(c->src, "2001:db8:99::2");
	ip6(c->dst, "fd00::1");
	if (c->inner_family == 4) {
		c->cipher = IPSEC_CIPHER_AES_CBC, c->auth = IPSEC_AUTH_HMAC_SHA256_128, c->esn = true;
		memset(c->auth_key, 0x44, 32), c->auth_key_len = 32;
	}
}

static void add_sa(uint16_t id, uint8_t proto, const struct ipsec_sa_conf *c)
{
	struct dp_sa_spec s = {.proto = proto, .tunnel = 1, .conf = *c};
	char err[256];
	if (dp_sa_add(T, id, &s, err, sizeof err) != DP_OK)
		DIE("dp_sa_add(%u): %s", id, err);
}

/* An inbound SA of ours (id, in tunnel 1) and the peer's end of it: the same SA, sending. */
static void add_in_sa(uint16_t id, uint8_t proto, struct ipsec_sa_conf *c, void **peer)
{
	add_sa(id, proto, c);
	c->inbound = false;
	char err[256];
	int rc = proto == 51 ? ipsec_ah_sa_create(&CR, c, (struct ipsec_ah_sa **)peer, err, sizeof err)
	                     : ipsec_esp_sa_create(&CR, c, (struct ipsec_esp_sa **)peer, err, sizeof err);
	if (rc != 0)
		DIE("the peer's end of SA %u: %s", id, err);
}

static void sp(struct dp_sp *p, uint32_t id, int fam, const char *src, unsigned sl, const char *dst, unsigned dl,
               uint8_t action)
{
	memset(p, 0, sizeof *p);
	p->id = id;
	p->family = (uint8_t)fam;
	if (fam == 4) {
		ip4(p->src, src);
		ip4(p->dst, dst);
	} else {
		ip6(p->src, src);
		ip6(p->dst, dst);
	}
	p->src_len = (uint8_t)sl;
	p->dst_len = (uint8_t)dl;
	p->proto_any = 1;
	p->action = action;
	p->tunnel = action == DP_SP_PROTECT ? 1 : 0;
	p->sport_hi = p->dport_hi = 0xFFFF;
}

/* Port 0 faces ISP-A (192.0.2.0/24 sources, FIB 1), port 1 ISP-B (203.0.113.0/24, FIB 2), port 2
 * the LAN (10.0.2.0/24, fd00:2::/64) with a smaller MTU.  Tunnel 1 runs from our 192.0.2.1 to the
 * peer 198.51.200.2 and protects 10.0.2.0/24 <-> 172.16.0.0/16 and fd00:2::/64 <-> fd00:99::/32. */
static void setup_tables(void)
{
	T = dp_tables_create(NULL);
	for (int i = 0; i < NPORT; i++) {
		struct dp_port_conf pc = {.dpdk_port = P[i].eth, .tap_port = P[i].tap, .mtu = PORT_MTU[i],
		                          .has_ip4 = 1, .has_ip6 = 1};
		memcpy(pc.mac, MAC_PORT[i], 6);
		pc.ip4 = 0x0A000001u | (uint32_t)i << 8; /* 10.0.i.1 */
		char a[64];
		snprintf(a, sizeof a, "fd00:%d::1", i);
		ip6(pc.ip6, a);
		must(dp_port_set(T, (uint16_t)i, &pc), "port");
		struct dp_adj adj = {.port = (uint16_t)i, .mtu = PORT_MTU[i], .resolved = 1};
		memcpy(adj.dst_mac, MAC_PEER[i], 6);
		memcpy(adj.src_mac, MAC_PORT[i], 6);
		must(dp_adj_set(T, (uint16_t)(i + 1), &adj), "adj");
		uint16_t id = (uint16_t)(i + 1), w1 = 1;
		must(dp_nhg_set(T, (uint32_t)(i + 1), DP_NHG_FORWARD, 1, &id, &w1), "nhg");
	}
	struct dp_adj small = {.port = 2, .mtu = 1280, .resolved = 1};
	memcpy(small.dst_mac, MAC_PEER[2], 6);
	memcpy(small.src_mac, MAC_PORT[2], 6);
	must(dp_adj_set(T, 4, &small), "adj 4");
	struct dp_adj unres = {.port = 2, .mtu = 1400, .resolved = 0};
	must(dp_adj_set(T, 5, &unres), "adj 5");
	uint16_t a4 = 4, a5 = 5, w1 = 1;
	must(dp_nhg_set(T, 4, DP_NHG_FORWARD, 1, &a4, &w1), "nhg 4");
	must(dp_nhg_set(T, 5, DP_NHG_FORWARD, 1, &a5, &w1), "nhg 5");
	must(dp_nhg_set(T, 10, DP_NHG_LOCAL, 0, NULL, NULL), "local");
	must(dp_nhg_set(T, 11, DP_NHG_BLACKHOLE, 0, NULL, NULL), "blackhole");
	must(dp_nhg_set(T, 12, DP_NHG_UNREACHABLE, 0, NULL, NULL), "unreachable");
	must(dp_nhg_set(T, 13, DP_NHG_PROHIBIT, 0, NULL, NULL), "prohibit");
	uint16_t ecmp_adj[2] = {1, 2}, ecmp_w[2] = {1, 3};
	must(dp_nhg_set(T, 20, DP_NHG_FORWARD, 2, ecmp_adj, ecmp_w), "ecmp");

	/* sub-FIBs 0 (FIB 0), 10 and 11 (FIB 1), 20 (FIB 2) */
	static const uint16_t subs[] = {0, 10, 11, 20};
	for (unsigned s = 0; s < sizeof subs / sizeof subs[0]; s++) {
		uint16_t x = subs[s];
		route(x, 4, "10.0.0.1", 32, 10);
		route(x, 4, "10.0.1.1", 32, 10);
		route(x, 4, "10.0.2.1", 32, 10);
		route(x, 4, "192.0.2.1", 32, 10);
		route(x, 4, "10.0.2.0", 24, 3);
		route(x, 4, "10.0.2.128", 25, 4);
		route(x, 4, "10.0.2.64", 26, 5);
		route(x, 6, "fd00:0::1", 128, 10);
		route(x, 6, "fd00:2::1", 128, 10);
		route(x, 6, "fd00:2::", 64, 3);
		route(x, 6, "fd00:2:0:1::", 64, 4);
	}
	route(0, 4, "0.0.0.0", 0, 2);
	route(10, 4, "0.0.0.0", 0, 1);
	route(11, 4, "0.0.0.0", 0, 2);
	route(20, 4, "0.0.0.0", 0, 2);
	route(0, 4, "198.18.0.0", 15, 20);
	route(0, 4, "198.51.100.0", 24, 11);
	route(0, 4, "198.51.101.0", 24, 12);
	route(0, 4, "198.51.102.0", 24, 13);
	route(0, 6, "::", 0, 2);
	route(10, 6, "::", 0, 1);
	route(0, 6, "2001:db8:dead::", 48, 12);

	struct dp_rule dns = {.id = 7, .subfib = 11, .in_port = DP_ANY_PORT, .family = 4, .dscp = DP_ANY_DSCP,
	                      .proto = 17, .sport_lo = 0, .sport_hi = 0xFFFF, .dport_lo = 53, .dport_hi = 53};
	must(dp_fib_base_set(T, 0, 0, NULL, 0), "fib 0");
	must(dp_fib_base_set(T, 1, 10, &dns, 1), "fib 1");
	must(dp_fib_base_set(T, 2, 20, NULL, 0), "fib 2");
	uint8_t a[16];
	ip4(a, "192.0.2.0");
	must(dp_binding_set(T, 4, a, 24, 1), "binding");
	ip4(a, "203.0.113.0");
	must(dp_binding_set(T, 4, a, 24, 2), "binding");
	ip6(a, "2001:db8:a::");
	must(dp_binding_set(T, 6, a, 48, 1), "binding");
	ip6(a, "fd00::");
	must(dp_binding_set(T, 6, a, 16, 0), "binding");
	ip6(a, "2001:db8:99::");
	must(dp_binding_set(T, 6, a, 48, 0), "binding");
	must(dp_binding_default(T, 4, 0), "default");
	/* IPv6: no default binding, so sources outside these three have none */

	char err[256];
	if (ipsec_crypto_init(&CR, NULL, 1, 64, err, sizeof err) != 0)
		DIE("no crypto device: %s", err);
	must(dp_ipsec_attach(T, &CR), "ipsec");
	struct ipsec_sa_conf c;
	sa_conf(&c, 0x1001, false, 4, 0x11); /* ours out, IPv4 */
	add_sa(1, 50, &c);
	sa_conf(&c, 0x1002, false, 6, 0x12); /* ours out, IPv6 */
	add_sa(2, 50, &c);
	sa_conf(&c, 0x2001, true, 4, 0x21); /* ours in: ESP */
	add_in_sa(3, 50, &c, (void **)&peer_esp[0]);
	sa_conf(&c, 0x2002, true, 6, 0x22); /* ESP in UDP */
	c.natt = true, c.natt_sport = 4500, c.natt_dport = 4500;
	add_in_sa(4, 50, &c, (void **)&peer_natt);
	sa_conf(&c, 0x2003, true, 4, 0x23); /* AH */
	c.cipher = 0, c.auth = IPSEC_AUTH_HMAC_SHA256_128, c.key_len = 0;
	memset(c.auth_key, 0x33, 32), c.auth_key_len = 32;
	add_in_sa(5, 51, &c, (void **)&peer_ah[0]);
	sa_conf(&c, 0x2004, true, 4, 0x24); /* ESP over IPv6: AES-CBC + HMAC-SHA-256, ESN */
	v6_ends(&c);
	add_in_sa(6, 50, &c, (void **)&peer_esp[1]);
	sa_conf(&c, 0x2005, true, 4, 0x25); /* ESP transport */
	c.tunnel = false;
	add_in_sa(7, 50, &c, (void **)&peer_esp[2]);
	sa_conf(&c, 0x2006, true, 6, 0x26); /* AH transport over IPv6 */
	v6_ends(&c);
	c.tunnel = false, c.cipher = 0, c.auth = IPSEC_AUTH_HMAC_SHA1_96, c.key_len = 0;
	memset(c.auth_key, 0x66, 20), c.auth_key_len = 20;
	add_in_sa(8, 51, &c, (void **)&peer_ah[1]);
	struct dp_tunnel tun = {.mtu = {1400, 1380}, .out_sa = {1, 2}};
	if (dp_tunnel_set(T, 1, &tun, err, sizeof err) != DP_OK)
		DIE("tunnel: %s", err);

	struct dp_sp out[5], in[3];
	sp(&out[0], 1, 4, "0.0.0.0", 0, "172.16.9.0", 24, DP_SP_BYPASS);
	sp(&out[1], 2, 4, "0.0.0.0", 0, "172.16.66.0", 24, DP_SP_DISCARD);
	sp(&out[2], 3, 4, "10.0.2.0", 24, "172.16.0.0", 16, DP_SP_PROTECT);
	sp(&out[3], 4, 6, "fd00:2::", 64, "fd00:99::", 32, DP_SP_PROTECT);
	sp(&out[4], 5, 4, "192.0.2.1", 32, "198.51.200.2", 32, DP_SP_PROTECT); /* host to host: IKE passes */
	sp(&in[0], 6, 4, "172.16.0.0", 16, "10.0.2.0", 24, DP_SP_PROTECT);
	sp(&in[1], 7, 6, "fd00:99::", 32, "fd00:2::", 64, DP_SP_PROTECT);
	sp(&in[2], 8, 4, "198.51.200.2", 32, "192.0.2.1", 32, DP_SP_PROTECT);
	if (dp_spd_set(T, DP_SP_OUT, out, 5, err, sizeof err) != DP_OK || dp_spd_set(T, DP_SP_IN, in, 3, err, sizeof err) != DP_OK)
		DIE("spd: %s", err);
	memcpy(spd_base[DP_SP_OUT], out, sizeof out), spd_base_n[DP_SP_OUT] = sizeof out / sizeof out[0];
	memcpy(spd_base[DP_SP_IN], in, sizeof in), spd_base_n[DP_SP_IN] = sizeof in / sizeof in[0];
	/* route-based: 10.77.0.0/16 into tunnel 1 */
	uint16_t tun1 = 1;
	must(dp_nhg_set(T, 30, DP_NHG_IPSEC, 1, &tun1, &w1), "ipsec nhg");
	route(0, 4, "10.77.0.0", 16, 30);
	route(10, 4, "10.77.0.0", 16, 30);
	route(20, 4, "10.77.0.0", 16, 30);
}

static void report(void)
{
	fprintf(stderr, "%s: %lu frames sent checked; compared with Explain %lu times, the fast parsers %lu + %lu times", NAME,
	        n_sent_checked, n_explain, n_fast4, n_fast4_l3);
	if (WRITER_CALLS)
		fprintf(stderr, "; %lu writer calls (%lu accepted)", n_ops, n_ops_ok);
	fputc('\n', stderr);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	atexit(report);
	(void)argc;
	if (test_eal_init((*argv)[0], "512") != 0)
		exit(1);
	mp = rte_pktmbuf_pool_create("fmp", 8191, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	mp_ind = rte_pktmbuf_pool_create("fmpi", 1023, 0, 0, 0, 0);
	if (!mp || !mp_ind)
		DIE("mempool: %s", rte_strerror(rte_errno));
	setup_ports();
	setup_tables();
	C = aligned_alloc(64, sizeof(*C));
	memset(C, 0, sizeof(*C));
	dp_worker_init(&W, T, C, mp, mp_ind, 0);
	W.icmp_rate = W.icmp_burst = W.icmp_tokens = 1000000000; /* every error is sent */
	probes_setup();
	probes_read(probe_base);
	pool_full = rte_mempool_avail_count(mp);
	pool_ind_full = rte_mempool_avail_count(mp_ind);
	verbose = getenv("FUZZ_DP_RX_VERBOSE") != NULL;
	const char *seeds = getenv("FUZZ_DP_RX_SEEDS");
	if (seeds) {
		extern void fuzz_write_seeds(const char *dir);
		fuzz_write_seeds(seeds);
	}
	return 0;
}

/* ---- one record into an mbuf ---- */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }

static void fix_ip(uint8_t *ip, uint32_t len)
{
	if (len >= 20 && ip[0] >> 4 == 4 && (ip[0] & 15) >= 5 && (uint32_t)(ip[0] & 15) * 4 <= len) {
		wr16(ip + 2, (uint16_t)len);
		ip[10] = ip[11] = 0;
		wr16(ip + 10, (uint16_t)~dp_cksum(ip, (uint32_t)(ip[0] & 15) * 4, 0));
	} else if (len >= 40 && ip[0] >> 4 == 6) {
		wr16(ip + 4, (uint16_t)(len - 40));
	}
}

static void eth(uint8_t *f, int port, bool kernel, uint16_t type)
{
	memcpy(f, kernel ? MAC_PEER[port] : MAC_PORT[port], 6);
	memcpy(f + 6, kernel ? MAC_PORT[port] : MAC_PEER[port], 6);
	wr16(f + 12, type);
}

/* The frame of a record in buf (returns its length, 0: none). */
static uint32_t build(uint8_t ctl, unsigned variant, const uint8_t *d, uint32_t len, uint8_t *buf, int *port)
{
	unsigned seal = (ctl >> 3) & 3;
	bool as_ip = (ctl & 0x20) || seal;
	bool kernel = (ctl & 4) && !seal;
	*port = seal ? 0 : (ctl & 3) % NPORT;
	if (!as_ip) {
		memcpy(buf, d, len);
		if ((ctl & 0x40) && len >= 14)
			fix_ip(buf + 14, len - 14);
		return len;
	}
	uint8_t *ip = buf + 14;
	memcpy(ip, d, len);
	if (ctl & 0x40)
		fix_ip(ip, len);
	uint16_t type = len && d[0] >> 4 == 6 ? 0x86DD : 0x0800;
	if (seal) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
		if (!m)
			DIE("out of mbufs sealing");
		char *room = rte_pktmbuf_append(m, (uint16_t)(len ? len : 1));
		if (!room)
			DIE("no room sealing %u", len);
		memcpy(room, ip, len ? len : 1);
		uint8_t why = 0;
		uint16_t ok = seal == 3 ? ipsec_ah_process(&CR, 0, peer_ah[variant % 2], &m, 1, &why)
		              : ipsec_esp_process(&CR, 0, seal == 1 ? peer_esp[variant % 3] : peer_natt, &m, 1, &why);
		if (ok != 1) { /* the peer's SA would not make it (AH wants an IP header it can read) */
			rte_pktmbuf_free(m);
			return 0;
		}
		if (m->pkt_len + 14 > 2048 || m->nb_segs != 1) {
			rte_pktmbuf_free(m);
			return 0;
		}
		memcpy(ip, rte_pktmbuf_mtod(m, uint8_t *), m->pkt_len);
		len = m->pkt_len;
		rte_pktmbuf_free(m);
		type = ip[0] >> 4 == 6 ? 0x86DD : 0x0800;
	}
	eth(buf, *port, kernel, type);
	return 14 + len;
}

static struct rte_mbuf *to_mbuf(const uint8_t *f, uint32_t len, bool split)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	if (!m)
		DIE("out of mbufs");
	uint32_t first = split ? len / 2 : len;
	memcpy(rte_pktmbuf_append(m, (uint16_t)first), f, first);
	if (split && len > first) {
		struct rte_mbuf *t = rte_pktmbuf_alloc(mp);
		if (!t)
			DIE("out of mbufs");
		memcpy(rte_pktmbuf_append(t, (uint16_t)(len - first)), f + first, len - first);
		if (rte_pktmbuf_chain(m, t) != 0)
			DIE("chain");
	}
	return m;
}

/* ---- checks ---- */

static uint64_t in_total(void)
{
	uint64_t n = 0;
	for (int p = 0; p < NPORT; p++)
		n += C->port[p].rx_pkts + C->port[p].inject_pkts;
	return n;
}

static uint64_t out_total(void)
{
	uint64_t n = 0;
	for (int p = 0; p < NPORT; p++) {
		const struct dp_port_counters *c = &C->port[p];
		n += c->tx_pkts + c->punt_pkts - c->icmp_sent - (c->frag_created - c->frag_pkts);
	}
	for (int d = 0; d < DP_DROP_MAX; d++)
		n += C->drop[d];
	return n;
}

/* Takes what left the ports and TAPs; a run never sends more than fits. */
static void drain(struct test_out *o)
{
	memset(o, 0, sizeof(*o));
	test_out_take(o, P);
	for (int p = 0; p < NPORT; p++)
		if (rte_ring_count(P[p].tx) || rte_ring_count(P[p].tap_tx))
			DIE("more than a burst's worth left port %d", p);
}

/* Whether m holds exactly one of the frames that went in (the kernel's, passed as written). */
static bool as_written(const struct rte_mbuf *m, uint8_t (*in)[2048], const uint32_t *inlen, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (m->pkt_len == inlen[i] && m->nb_segs == 1 && memcmp(rte_pktmbuf_mtod(m, const uint8_t *), in[i], inlen[i]) == 0)
			return true;
	return false;
}

/* The frames that left the ports; after an injected burst only those the loop made (ESP/AH of
 * the router's own packets): what the kernel wrote leaves as it was written. */
static void check_sent(const struct test_out *o, bool injected, uint8_t (*in)[2048], const uint32_t *inlen, unsigned n)
{
	for (int p = 0; p < NPORT; p++)
		for (unsigned k = 0; k < o->n[p]; k++) {
			/* a fragment is a header segment and its share of the payload: its length counts
			 * whole, its headers are in the first segment */
			const struct rte_mbuf *m = o->m[p][k];
			if (injected && as_written(m, in, inlen, n))
				continue;
			n_sent_checked++;
			const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
			uint32_t len = m->pkt_len;
			if (len > 14u + PORT_MTU[p])
				DIE("port %d sent a %u-byte frame (MTU %u)", p, len, PORT_MTU[p]);
			if (m->data_len < 34)
				continue;
			uint16_t type = rd16(f + 12);
			if (type == 0x0800) {
				const uint8_t *ip = f + 14;
				unsigned ihl = (ip[0] & 15u) * 4;
				if (ip[0] >> 4 != 4 || ihl < 20 || 14 + ihl > m->data_len)
					DIE("port %d sent IPv4 with a bad header (%02x)", p, ip[0]);
				if (dp_cksum(ip, ihl, 0) != 0xFFFF)
					DIE("port %d sent IPv4 with a wrong header checksum", p);
				if (rd16(ip + 2) < ihl || rd16(ip + 2) > len - 14)
					DIE("port %d sent IPv4 with total length %u in a %u-byte frame", p, rd16(ip + 2), len);
			} else if (type == 0x86DD && m->data_len >= 54) {
				if (f[14] >> 4 != 6 || 40u + rd16(f + 18) > len - 14)
					DIE("port %d sent IPv6 with payload length %u in a %u-byte frame", p, rd16(f + 18), len);
			}
		}
}

static void hexdump(const uint8_t *f, uint32_t len)
{
	for (uint32_t i = 0; i < len && i < 96; i++)
		fprintf(stderr, "%02x%s", f[i], i % 16 == 15 ? "\n" : " ");
	fputc('\n', stderr);
}

/* The inline fast parsers against dp_pkt_parse: where they take a frame, the same result. */
static void check_fast_parse(const uint8_t *f, uint32_t len, int port)
{
	struct dp_pkt a, b;
	dp_pkt_parse(&b, f, len, MAC_PORT[port], PORT_MTU[port], false);
	if (dp_pkt_parse_fast4(&a, f, len, MAC_PORT[port], PORT_MTU[port], false)) {
		n_fast4++;
		if (!pkt_same(&a, &b) && (hexdump(f, len), 1))
			DIE("dp_pkt_parse_fast4 and dp_pkt_parse disagree (class %u/%u, drop %u/%u)", a.cls, b.cls, a.drop, b.drop);
	}
	/* the L3 one, as decrypted packets use it: against dp_pkt_parse of the packet behind the
	 * port's own Ethernet header (what the loop gives it when the fast one declines) */
	if (len > 14 && dp_pkt_parse_fast4_l3(&a, f + 14, len - 14, PORT_MTU[port], false)) {
		static uint8_t g[2048];
		n_fast4_l3++;
		eth(g, port, false, 0x0800);
		memcpy(g + 14, f + 14, len - 14);
		dp_pkt_parse(&b, g, len, MAC_PORT[port], PORT_MTU[port], false);
		a.l2_len = 14, a.l4_off = (uint16_t)(a.l4_off + 14);
		if (a.src6 || a.dst6 || b.src6 || b.dst6)
			DIE("IPv6 addresses from an IPv4 parse");
		if (!pkt_same(&a, &b) && (hexdump(f, len), 1))
			DIE("dp_pkt_parse_fast4_l3 and dp_pkt_parse disagree (class %u/%u, drop %u/%u)", a.cls, b.cls, a.drop, b.drop);
	}
}

/* Reasons that depend on the packet itself (TTL, size, validity) or on the moment (queues,
 * buffers), which Explain does not consider: the loop may drop a packet Explain forwards. */
static bool packet_reason(int d)
{
	switch (d) {
	case DP_DROP_TTL_EXPIRED:
	case DP_DROP_TOO_BIG:
	case DP_DROP_FRAG_FAILED:
	case DP_DROP_ADJ_UNRESOLVED:
	case DP_DROP_TX_FULL:
	case DP_DROP_PUNT_FULL:
	case DP_DROP_NO_MBUF:
	case DP_DROP_IPSEC_REPLAY:
	case DP_DROP_IPSEC_AUTH:
	case DP_DROP_IPSEC_MALFORMED:
	case DP_DROP_IPSEC_CRYPTO:
	case DP_DROP_IPSEC_EXPIRED:
	case DP_DROP_IPSEC_NESTED:
		return true;
	default:
		return false;
	}
}

/* A plaintext frame received alone: where it went against what Explain says. */
static uint64_t sa_total(void)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < DP_MAX_SAS; i++)
		n += C->sa[i].pkts + C->sa[i].replay + C->sa[i].auth + C->sa[i].other;
	return n;
}

static void check_explain(const uint8_t *f, uint32_t len, int port, const struct test_out *o, const uint64_t *drop0,
                          uint64_t sa0)
{
	struct dp_pkt p;
	dp_pkt_parse(&p, f, len, MAC_PORT[port], PORT_MTU[port], false);
	if (p.cls != DP_PKT_IP4 && p.cls != DP_PKT_IP6)
		return;
	if ((p.proto == 50 || p.proto == 51 || p.ah_off || p.proto == 17) && sa_total() != sa0)
		return; /* one of our SAs took it: Explain takes every SPI as unknown */
	if (p.ah_off && p.proto != 51)
		return; /* IPv6 AH in the chain: Explain is given the upper protocol, the loop knows more */
	struct dp_explain_in in = {.family = p.cls == DP_PKT_IP4 ? 4 : 6, .in_port = (uint16_t)port, .proto = p.proto,
	                           .dscp = p.dscp, .has_ports = (p.flags & DP_PKT_F_PORTS) != 0, .sport = p.sport,
	                           .dport = p.dport};
	if (in.family == 4) {
		uint32_t s = htonl(p.src4), d = htonl(p.dst4);
		memcpy(in.src, &s, 4);
		memcpy(in.dst, &d, 4);
	} else {
		memcpy(in.src, p.src6, 16);
		memcpy(in.dst, p.dst6, 16);
	}
	struct dp_explain_out x;
	dp_explain(T, &in, &x);
	n_explain++;
	int dropped = -1, ndrops = 0;
	for (int d = 0; d < DP_DROP_MAX; d++)
		if (C->drop[d] != drop0[d]) {
			dropped = d;
			ndrops += (int)(C->drop[d] - drop0[d]);
		}
	unsigned sent = 0, punted = 0;
	int sent_port = -1;
	for (int q = 0; q < NPORT; q++) {
		sent += o->n[q];
		punted += o->ntap[q];
		if (o->n[q])
			sent_port = q;
	}
	if (ndrops == 0 && sent == 1 && punted == 0) {
		const uint8_t *g = rte_pktmbuf_mtod(o->m[sent_port][0], const uint8_t *);
		if (x.tunnel != DP_ID_NONE) {
			if (g[12] != 0x08 || g[13] != 0 || g[14 + 9] != 50)
				DIE("Explain sends it into tunnel %u; the loop sent it out of port %d in the clear", x.tunnel, sent_port);
			return;
		}
		if (x.drop != -1)
			DIE("Explain drops it (%s); the loop sent it out of port %d", dp_drop_names[x.drop], sent_port);
		if (x.out_port != sent_port || memcmp(x.mac, g, 6) != 0)
			DIE("Explain sends it out of port %u; the loop sent it out of port %d", x.out_port, sent_port);
	} else if (ndrops == 0 && sent == 0 && punted == 1) {
		if (x.drop != -1 || x.kind != DP_NHG_LOCAL)
			DIE("Explain: drop %d kind %d; the loop punted it", x.drop, x.kind);
	} else if (ndrops == 1 && !packet_reason(dropped)) {
		/* Explain takes UDP to the NAT-T port as IKE (it cannot see the marker): the loop may
		 * refuse what Explain lets through to us */
		bool natt_guess = x.local_only && p.proto == 17 && p.dport == 4500 && x.kind == DP_NHG_LOCAL;
		if (x.drop == -1 && !natt_guess)
			DIE("Explain: %s; the loop dropped it (%s)", x.tunnel != DP_ID_NONE ? "into a tunnel" : x.kind == DP_NHG_LOCAL ? "for us" : "forwarded",
			    dp_drop_names[dropped]);
		if (x.drop != -1 && x.drop != dropped)
			DIE("Explain drops it as %s; the loop as %s", dp_drop_names[x.drop], dp_drop_names[dropped]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frames[32][2048];
	static uint32_t flen[32];
	static struct test_out o;
	size_t off = 0;
	unsigned records = 0;
	while (off < size && records < MAX_RECORDS) {
		/* a burst: this record and the ones after it with the same port and direction */
		struct rte_mbuf *m[32];
		unsigned n = 0;
		int bport = -1;
		bool binject = false, bsealed = false;
		while (off < size && n < 32 && records < MAX_RECORDS) {
			uint8_t ctl = data[off];
			uint32_t lf = off + 3 <= size ? (uint32_t)(data[off + 1] | data[off + 2] << 8) : 0;
			uint32_t len = lf & 0x0FFF;
			size_t body = off + 3 <= size ? off + 3 : size;
			if (len > size - body)
				len = (uint32_t)(size - body);
			if (len > FRAME_MAX)
				len = FRAME_MAX;
			int port;
			if (WRITER_CALLS && !((ctl >> 3) & 3) && lf >> 12 == 0xF) { /* a writer call, between bursts */
				if (n)
					break;
				records++;
				off = body + len;
				writer_op(data + body, len);
				continue;
			}
			bool inject = (ctl & 4) && !((ctl >> 3) & 3);
			bool sealed = ((ctl >> 3) & 3) != 0;
			int want = sealed ? 0 : (ctl & 3) % NPORT;
			if (n && (want != bport || inject != binject))
				break;
			records++;
			off = body + len;
			uint32_t fl = build(ctl, lf >> 12, data + body, len, frames[n], &port);
			if (fl == 0)
				continue;
			flen[n] = fl;
			if (!inject)
				check_fast_parse(frames[n], fl, port);
			m[n] = to_mbuf(frames[n], fl, (ctl & 0x80) && fl > 1);
			n++;
			bport = port, binject = inject, bsealed |= sealed;
		}
		if (!n)
			continue;
		bool explain = n == 1 && !bsealed && !binject; /* a plaintext frame alone: Explain can say */
		uint64_t in0 = in_total(), out0 = out_total(), sa0 = explain ? sa_total() : 0;
		uint64_t drop0[DP_DROP_MAX];
		memcpy(drop0, C->drop, sizeof drop0);
		if (binject)
			dp_worker_inject(&W, (uint16_t)bport, m, (uint16_t)n);
		else
			dp_worker_rx(&W, (uint16_t)bport, m, (uint16_t)n);
		dp_worker_flush(&W);
		drain(&o);
		uint64_t in1 = in_total(), out1 = out_total();
		if (in1 - in0 != n)
			DIE("%u frames in, counted %llu", n, (unsigned long long)(in1 - in0));
		if (out1 - out0 != n)
			DIE("%u frames in, %llu accounted for", n, (unsigned long long)(out1 - out0));
		if (verbose) {
			fprintf(stderr, "burst: %u in on port %d%s%s:", n, bport, binject ? " (TAP)" : "", bsealed ? " sealed" : "");
			for (int q = 0; q < NPORT; q++)
				if (o.n[q] || o.ntap[q])
					fprintf(stderr, " port %d sent %u punted %u;", q, o.n[q], o.ntap[q]);
			for (int d = 0; d < DP_DROP_MAX; d++)
				if (C->drop[d] != drop0[d])
					fprintf(stderr, " %s %llu", dp_drop_names[d], (unsigned long long)(C->drop[d] - drop0[d]));
			fputc('\n', stderr);
		}
		check_sent(&o, binject, frames, flen, n);
		if (!binject) {
			if (explain)
				check_explain(frames[0], flen[0], bport, &o, drop0, sa0);
		}
		test_out_free(&o);
		memset(W.want_resolve, 0, sizeof W.want_resolve);
		if (rte_mempool_avail_count(mp) != pool_full || rte_mempool_avail_count(mp_ind) != pool_ind_full)
			DIE("mbufs leaked: %u of %u, indirect %u of %u", rte_mempool_avail_count(mp), pool_full,
			    rte_mempool_avail_count(mp_ind), pool_ind_full);
	}
	writer_reset();
	return 0;
}

/* ---- writer calls ---- */

struct rd {
	const uint8_t *b;
	uint32_t n, i;
};
static uint8_t u8(struct rd *r) { return r->i < r->n ? r->b[r->i++] : 0; }
static uint16_t u16(struct rd *r)
{
	uint16_t hi = u8(r);
	return (uint16_t)(hi << 8 | u8(r));
}
/* an id from a small range of our own, or now and then one past the limit */
static uint32_t own_id(struct rd *r, uint32_t first, uint32_t count, uint32_t limit)
{
	uint8_t v = u8(r);
	return v >= 250 ? limit + (v - 250u) : first + v % count;
}

/* a prefix: family, address, length (bit 7 of the length byte: host bits cleared) */
static int prefix(struct rd *r, uint8_t *a)
{
	int fam = u8(r) & 1 ? 6 : 4;
	unsigned bytes = fam == 4 ? 4 : 16;
	memset(a, 0, 16);
	for (unsigned k = 0; k < bytes; k++)
		a[k] = u8(r);
	uint8_t lb = u8(r);
	unsigned len = (lb & 0x7F) % (fam == 4 ? 36 : 132);
	if (lb & 0x80 && len <= bytes * 8) {
		for (unsigned k = 0; k < bytes; k++) {
			unsigned keep = len > k * 8 ? (len - k * 8 >= 8 ? 8 : len - k * 8) : 0;
			a[k] &= (uint8_t)(0xFF00u >> keep);
		}
	}
	return fam | (int)len << 8;
}

/* what the writer calls of this input made, to take it down at its end */
static struct {
	struct {
		uint16_t sub;
		int fam;
		uint8_t a[16];
		unsigned len;
	} route[4 * MAX_RECORDS];
	unsigned nroute;
	struct {
		int fam;
		uint8_t a[16];
		unsigned len;
	} bind[MAX_RECORDS];
	unsigned nbind;
	bool dirty;
} made;

static void remember_route(uint16_t sub, int fam, const uint8_t *a, unsigned len)
{
	if (made.nroute == sizeof made.route / sizeof made.route[0])
		DIE("more routes than records allow");
	made.route[made.nroute].sub = sub, made.route[made.nroute].fam = fam, made.route[made.nroute].len = len;
	memcpy(made.route[made.nroute++].a, a, 16);
}

static struct dp_explain_in probe[NPROBE];

static void probes_setup(void)
{
	static const struct { int fam; const char *src, *dst; uint8_t proto; uint16_t dport; int port; } p[NPROBE] = {
	    {4, "192.0.2.7", "8.8.8.8", 17, 53, 0},     {4, "192.0.2.7", "8.8.8.8", 6, 80, 0},
	    {4, "203.0.113.5", "10.0.2.9", 6, 443, 1},  {4, "1.2.3.4", "198.18.5.5", 17, 80, 0},
	    {4, "10.0.2.9", "172.16.5.5", 17, 80, 2},   {4, "172.16.5.5", "10.0.2.9", 17, 80, 0},
	    {4, "10.0.2.9", "10.77.1.1", 17, 80, 2},    {4, "1.2.3.4", "198.51.101.1", 17, 80, 0},
	    {4, "100.64.1.1", "9.9.9.9", 17, 80, 1},    {4, "5.5.5.5", "10.0.0.1", 1, 0, 0},
	    {6, "2001:db8:a::5", "2001:db8:ffff::1", 17, 80, 1}, {6, "2001:db8:b::5", "2001:db8:ffff::1", 17, 80, 1},
	    {6, "fd00:2::9", "fd00:99::1", 17, 80, 2},  {6, "2001:db8:a::5", "fd00:2:0:1::9", 6, 80, 0},
	    {6, "fd00::5", "2001:db8:dead::1", 17, 80, 0}, {6, "2001:db8:99::2", "fd00::1", 17, 80, 0},
	    {4, "10.60.0.1", "10.50.0.1", 17, 80, 2},   {6, "fd00:60::1", "fd00:50::1", 17, 80, 2}, /* the seed's */
	};
	for (int i = 0; i < NPROBE; i++) {
		struct dp_explain_in *q = &probe[i];
		memset(q, 0, sizeof *q);
		q->family = p[i].fam;
		if (p[i].fam == 4) {
			ip4(q->src, p[i].src);
			ip4(q->dst, p[i].dst);
		} else {
			ip6(q->src, p[i].src);
			ip6(q->dst, p[i].dst);
		}
		q->in_port = (uint16_t)p[i].port, q->proto = p[i].proto, q->has_ports = p[i].proto != 1;
		q->sport = 1234, q->dport = p[i].dport;
	}
}

static bool explain_same(const struct dp_explain_out *a, const struct dp_explain_out *b)
{
	return a->fib == b->fib && a->by_default == b->by_default && a->rule == b->rule && a->subfib == b->subfib &&
	       a->nhg == b->nhg && a->kind == b->kind && a->adj == b->adj && a->resolved == b->resolved &&
	       a->out_port == b->out_port && memcmp(a->mac, b->mac, 6) == 0 && a->drop == b->drop &&
	       a->sp_in == b->sp_in && a->sp_out == b->sp_out && a->local_only == b->local_only && a->tunnel == b->tunnel;
}

static void probes_read(struct dp_explain_out *out)
{
	for (int i = 0; i < NPROBE; i++) {
		memset(&out[i], 0, sizeof out[i]);
		dp_explain(T, &probe[i], &out[i]);
	}
}

static void probes_check(const struct dp_explain_out *want, const char *after)
{
	struct dp_explain_out now[NPROBE];
	probes_read(now);
	for (int i = 0; i < NPROBE; i++)
		if (!explain_same(&now[i], &want[i]))
			DIE("probe %d: Explain changed %s (drop %d -> %d, port %u -> %u, nhg %u -> %u)", i, after, want[i].drop,
			    now[i].drop, want[i].out_port, now[i].out_port, want[i].nhg, now[i].nhg);
}

/* One writer call from the bytes of a record. */
static void writer_op(const uint8_t *d, uint32_t len)
{
	struct rd r = {d, len, 0};
	struct dp_explain_out before[NPROBE];
	probes_read(before);
	made.dirty = true;
	uint8_t a[17];
	char err[256];
	int rc = DP_OK;
	unsigned op = u8(&r) % 13;
	switch (op) {
	case 0: { /* one route */
		uint16_t sub = (uint16_t)own_id(&r, 100, 8, DP_MAX_SUBFIBS);
		int pf = prefix(&r, a);
		uint8_t g = u8(&r);
		uint32_t nhg = g < 40 ? g : g < 200 ? 100 + g % 32 : DP_MAX_NHGS + g;
		rc = dp_route_set(T, sub, pf & 0xFF, a, (unsigned)pf >> 8, nhg, NULL);
		if (rc == DP_OK)
			remember_route(sub, pf & 0xFF, a, (unsigned)pf >> 8);
		break;
	}
	case 1: { /* a route gone */
		uint16_t sub = (uint16_t)own_id(&r, 100, 8, DP_MAX_SUBFIBS);
		int pf = prefix(&r, a);
		rc = dp_route_delete(T, sub, pf & 0xFF, a, (unsigned)pf >> 8, NULL);
		break;
	}
	case 2: { /* a batch: all or nothing */
		uint16_t sub = (uint16_t)own_id(&r, 100, 8, DP_MAX_SUBFIBS);
		unsigned n = 1 + u8(&r) % 4;
		int fam = u8(&r) & 1 ? 6 : 4;
		uint8_t addrs[4 * 16] = {0}, lens[4];
		uint32_t nhgs[4], old[4];
		for (unsigned k = 0; k < n; k++) {
			int pf = prefix(&r, a);
			memcpy(addrs + k * (fam == 4 ? 4 : 16), a, fam == 4 ? 4 : 16);
			lens[k] = (uint8_t)((unsigned)pf >> 8);
			uint8_t g = u8(&r);
			nhgs[k] = g < 200 ? g % 40 : g < 250 ? DP_ROUTE_DELETE : DP_MAX_NHGS + g;
		}
		size_t done = 0;
		rc = dp_routes_apply(T, sub, fam, n, addrs, lens, nhgs, old, &done, NULL);
		for (unsigned k = 0; rc == DP_OK && k < n; k++)
			if (nhgs[k] != DP_ROUTE_DELETE) {
				uint8_t full[16] = {0};
				memcpy(full, addrs + k * (fam == 4 ? 4 : 16), fam == 4 ? 4 : 16);
				remember_route(sub, fam, full, lens[k]);
			}
		if (rc != DP_OK && done != 0)
			DIE("dp_routes_apply refused (%d) with %zu of %u done", rc, done, n);
		break;
	}
	case 3: { /* a nexthop group */
		uint32_t id = own_id(&r, 100, 32, DP_MAX_NHGS);
		enum dp_nhg_kind kind = (enum dp_nhg_kind)(u8(&r) % 8);
		unsigned n = u8(&r) % 5;
		uint16_t adj[4], w[4];
		for (unsigned k = 0; k < 4; k++) {
			uint8_t v = u8(&r);
			adj[k] = v < 128 ? (uint16_t)(1 + v % 5) : v < 250 ? (uint16_t)(10 + v % 8) : (uint16_t)(DP_MAX_ADJS + v);
			w[k] = u16(&r);
		}
		rc = dp_nhg_set(T, id, kind, n, adj, w);
		break;
	}
	case 4:
		rc = dp_nhg_delete(T, own_id(&r, 100, 32, DP_MAX_NHGS));
		break;
	case 5: { /* an adjacency */
		uint16_t id = (uint16_t)own_id(&r, 10, 8, DP_MAX_ADJS);
		struct dp_adj x = {.port = (uint16_t)(u8(&r) % 5), .mtu = u16(&r), .resolved = u8(&r) & 1};
		for (int k = 0; k < 6; k++)
			x.dst_mac[k] = u8(&r), x.src_mac[k] = u8(&r);
		rc = dp_adj_set(T, id, &x);
		break;
	}
	case 6:
		rc = dp_adj_delete(T, (uint16_t)own_id(&r, 10, 8, DP_MAX_ADJS));
		break;
	case 7: { /* a binding to one of our FIBs (or one that is not there) */
		int pf = prefix(&r, a);
		uint8_t f = u8(&r);
		uint16_t fib = f < 200 ? (uint16_t)(5 + f % 3) : f < 250 ? (uint16_t)(f % 3) : (uint16_t)(DP_MAX_FIBS + f);
		rc = dp_binding_set(T, pf & 0xFF, a, (unsigned)pf >> 8, fib);
		if (rc == DP_OK) {
			made.bind[made.nbind].fam = pf & 0xFF, made.bind[made.nbind].len = (unsigned)pf >> 8;
			memcpy(made.bind[made.nbind++].a, a, 16);
		}
		break;
	}
	case 8: { /* a binding of ours gone (others are the scenario's) */
		if (!made.nbind)
			return;
		unsigned k = u8(&r) % made.nbind;
		rc = dp_binding_delete(T, made.bind[k].fam, made.bind[k].a, made.bind[k].len);
		if (rc == DP_OK)
			made.bind[k] = made.bind[--made.nbind];
		break;
	}
	case 9: { /* a FIB base of ours with rules */
		uint16_t fib = (uint16_t)own_id(&r, 5, 3, DP_MAX_FIBS);
		uint16_t def = (uint16_t)(u8(&r) < 200 ? 100 + u8(&r) % 8 : u8(&r) % 21);
		unsigned n = u8(&r) % 3;
		struct dp_rule rules[2];
		for (unsigned k = 0; k < n; k++) {
			struct dp_rule *x = &rules[k];
			memset(x, 0, sizeof *x);
			static const uint8_t fams[4] = {0, 4, 6, 5}; /* 5: no family, refused */
			x->id = 100u + u8(&r) % 8;
			x->subfib = (uint16_t)(u8(&r) < 200 ? 100 + u8(&r) % 8 : DP_MAX_SUBFIBS + 1u);
			x->in_port = u8(&r) < 128 ? DP_ANY_PORT : (uint16_t)(u8(&r) % 5);
			x->family = fams[u8(&r) % 4];
			x->dscp = u8(&r) < 200 ? DP_ANY_DSCP : (uint8_t)(u8(&r) % 70);
			x->proto_any = u8(&r) & 1;
			x->proto = u8(&r);
			x->sport_lo = u16(&r), x->sport_hi = u16(&r), x->dport_lo = u16(&r), x->dport_hi = u16(&r);
			x->src_len = (uint8_t)(u8(&r) % 40);
			for (int b = 0; b < 16; b++)
				x->src[b] = b < 4 ? u8(&r) : 0;
		}
		rc = dp_fib_base_set(T, fib, def, rules, n);
		break;
	}
	case 10: { /* the policies of a direction (ours take the place of the scenario's) */
		int dir = u8(&r) & 1;
		unsigned n = u8(&r) % 4;
		struct dp_sp sps[3];
		for (unsigned k = 0; k < n; k++) {
			struct dp_sp *x = &sps[k];
			memset(x, 0, sizeof *x);
			x->id = u8(&r) < 240 ? u8(&r) % 16u : DP_MAX_SPS + 1u;
			x->family = u8(&r) & 1 ? 6 : 4;
			int pf = prefix(&r, a);
			memcpy(x->src, a, 16), x->src_len = (uint8_t)((unsigned)pf >> 8);
			pf = prefix(&r, a);
			memcpy(x->dst, a, 16), x->dst_len = (uint8_t)((unsigned)pf >> 8);
			x->proto_any = u8(&r) & 1, x->proto = u8(&r);
			x->action = (uint8_t)(u8(&r) % 4);
			x->tunnel = (uint16_t)(u8(&r) % 5);
			x->sport_lo = u16(&r), x->sport_hi = u16(&r), x->dport_lo = u16(&r), x->dport_hi = u16(&r);
		}
		rc = dp_spd_set(T, dir, sps, n, err, sizeof err);
		break;
	}
	case 11: { /* tunnel 3 */
		struct dp_tunnel tun;
		tun.mtu[0] = u16(&r);
		tun.mtu[1] = u16(&r);
		for (int k = 0; k < 2; k++) {
			uint8_t v = u8(&r);
			tun.out_sa[k] = v < 100 ? DP_ID_NONE : (uint16_t)(v % 10);
		}
		uint16_t id = (uint16_t)own_id(&r, 3, 1, DP_MAX_TUNNELS);
		rc = dp_tunnel_set(T, id, &tun, err, sizeof err);
		break;
	}
	default:
		rc = dp_tunnel_delete(T, (uint16_t)own_id(&r, 3, 1, DP_MAX_TUNNELS));
		break;
	}
	n_ops++;
	if (rc == DP_OK)
		n_ops_ok++;
	else
		probes_check(before, "after a refused writer call");
	if (verbose)
		fprintf(stderr, "writer call %u: %s\n", op, dp_strerror(rc));
}

/* Takes down everything writer calls made; Explain must then say what it said at the start. */
static void writer_reset(void)
{
	if (!made.dirty)
		return;
	for (unsigned k = 0; k < made.nbind; k++)
		dp_binding_delete(T, made.bind[k].fam, made.bind[k].a, made.bind[k].len);
	for (uint16_t f = 5; f < 8; f++)
		dp_fib_base_delete(T, f);
	for (unsigned k = 0; k < made.nroute; k++)
		dp_route_delete(T, made.route[k].sub, made.route[k].fam, made.route[k].a, made.route[k].len, NULL);
	char err[256];
	for (int dir = 0; dir < 2; dir++)
		if (dp_spd_set(T, dir, spd_base[dir], spd_base_n[dir], err, sizeof err) != DP_OK)
			DIE("restoring the policies: %s", err);
	dp_tunnel_delete(T, 3);
	for (uint32_t g = 100; g < 132; g++)
		dp_nhg_delete(T, g);
	for (uint16_t x = 10; x < 18; x++)
		if (dp_adj_delete(T, x) != DP_OK && T->adj[x])
			DIE("adjacency %u still in use after the reset", x);
	memset(&made, 0, sizeof made);
	dp_tables_reclaim(T, true);
	probes_check(probe_base, "from the start after the writer calls were undone");
}

/* ---- the seed corpus: one file per kind of frame the loop meets ---- */

static size_t rec(uint8_t *out, uint8_t ctl, const uint8_t *d, uint32_t len)
{
	out[0] = ctl;
	out[1] = (uint8_t)len, out[2] = (uint8_t)(len >> 8);
	memcpy(out + 3, d, len);
	return 3 + len;
}

static uint32_t mk4(uint8_t *ip, const char *src, const char *dst, uint8_t ttl, uint8_t proto, uint16_t dport,
                    uint32_t payload, bool df)
{
	uint32_t tot = 20 + 8 + payload;
	memset(ip, 0, tot);
	ip[0] = 0x45;
	wr16(ip + 2, (uint16_t)tot);
	ip[6] = df ? 0x40 : 0;
	ip[8] = ttl;
	ip[9] = proto;
	ip4(ip + 12, src);
	ip4(ip + 16, dst);
	wr16(ip + 10, (uint16_t)~dp_cksum(ip, 20, 0));
	wr16(ip + 20, 4321);
	wr16(ip + 22, dport);
	wr16(ip + 24, (uint16_t)(8 + payload));
	return tot;
}

static uint32_t mk6(uint8_t *ip, const char *src, const char *dst, uint8_t hlim, uint8_t proto, uint32_t payload)
{
	memset(ip, 0, 48 + payload);
	ip[0] = 0x60;
	wr16(ip + 4, (uint16_t)(8 + payload));
	ip[6] = proto;
	ip[7] = hlim;
	ip6(ip + 8, src);
	ip6(ip + 24, dst);
	wr16(ip + 40, 4321);
	wr16(ip + 42, 80);
	return 48 + payload;
}

static void put(const char *dir, const char *name, const uint8_t *b, size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0)
		DIE("writing %s: %s", path, strerror(errno));
}

void fuzz_write_seeds(const char *dir)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		DIE("mkdir %s: %s", dir, strerror(errno));
	static uint8_t b[65536], ip[2048];
	size_t n;
	uint32_t l;
	struct {
		const char *name, *src, *dst;
		uint8_t ttl, proto;
		uint16_t dport;
		uint32_t payload;
		bool df;
	} v4[] = {
	    {"v4_fib1", "192.0.2.7", "8.8.8.8", 64, 17, 80, 64, false},
	    {"v4_dns_rule", "192.0.2.7", "8.8.8.8", 64, 17, 53, 64, false},
	    {"v4_lan", "203.0.113.5", "10.0.2.9", 64, 6, 443, 100, false},
	    {"v4_small_mtu_df", "203.0.113.5", "10.0.2.200", 64, 17, 80, 1400, true},
	    {"v4_fragment", "203.0.113.5", "10.0.2.200", 64, 17, 80, 1400, false},
	    {"v4_unresolved", "203.0.113.5", "10.0.2.70", 64, 17, 80, 10, false},
	    {"v4_ttl1", "192.0.2.7", "8.8.8.8", 1, 17, 80, 10, false},
	    {"v4_local", "192.0.2.7", "10.0.0.1", 64, 1, 0, 10, false},
	    {"v4_blackhole", "192.0.2.7", "198.51.100.1", 64, 17, 80, 10, false},
	    {"v4_unreachable", "1.2.3.4", "198.51.101.1", 64, 17, 80, 10, false},
	    {"v4_prohibit", "1.2.3.4", "198.51.102.1", 64, 17, 80, 10, false},
	    {"v4_ecmp", "1.2.3.4", "198.18.5.5", 64, 6, 80, 10, false},
	    {"v4_protect", "10.0.2.9", "172.16.5.5", 64, 17, 80, 100, false},
	    {"v4_bypass", "10.0.2.9", "172.16.9.5", 64, 17, 80, 100, false},
	    {"v4_discard", "10.0.2.9", "172.16.66.5", 64, 17, 80, 100, false},
	    {"v4_route_tunnel", "10.0.2.9", "10.77.1.1", 64, 17, 80, 100, false},
	    {"v4_plain_refused", "172.16.5.5", "10.0.2.9", 64, 17, 80, 100, false},
	    {"v4_ike", "198.51.200.2", "192.0.2.1", 64, 17, 500, 100, false},
	    {"v4_esp_unknown", "198.51.200.2", "192.0.2.1", 64, 50, 0, 40, false},
	};
	for (unsigned i = 0; i < sizeof v4 / sizeof v4[0]; i++) {
		int port = v4[i].src[0] == '1' && v4[i].src[1] == '0' && v4[i].src[2] == '.' ? 2 : 0;
		l = mk4(ip, v4[i].src, v4[i].dst, v4[i].ttl, v4[i].proto, v4[i].dport, v4[i].payload, v4[i].df);
		n = rec(b, (uint8_t)(0x20 | port), ip, l);
		put(dir, v4[i].name, b, n);
	}
	struct {
		const char *name, *src, *dst;
		int port;
		uint8_t hlim;
		uint32_t payload;
	} v6[] = {
	    {"v6_fib1", "2001:db8:a::5", "2001:db8:ffff::1", 1, 64, 64},
	    {"v6_no_binding", "2001:db8:b::5", "2001:db8:ffff::1", 1, 64, 64},
	    {"v6_lan", "2001:db8:a::5", "fd00:2::9", 0, 64, 200},
	    {"v6_too_big", "2001:db8:a::5", "fd00:2:0:1::9", 0, 64, 1300},
	    {"v6_local", "2001:db8:a::5", "fd00:2::1", 2, 64, 8},
	    {"v6_protect", "fd00:2::9", "fd00:99::1", 2, 64, 100},
	    {"v6_link_local", "fe80::1", "2001:db8:ffff::1", 0, 64, 8},
	    {"v6_unreachable", "2001:db8:a::5", "2001:db8:dead::1", 0, 64, 8},
	};
	for (unsigned i = 0; i < sizeof v6 / sizeof v6[0]; i++) {
		l = mk6(ip, v6[i].src, v6[i].dst, v6[i].hlim, 17, v6[i].payload);
		n = rec(b, (uint8_t)(0x20 | v6[i].port), ip, l);
		put(dir, v6[i].name, b, n);
	}
	/* sealed by the peer: ESP (IPv4 inner), ESP in UDP (IPv6 inner), AH; a burst of each */
	l = mk4(ip, "172.16.5.5", "10.0.2.9", 64, 17, 80, 200, false);
	n = rec(b, 0x08, ip, l);
	put(dir, "sealed_esp", b, n);
	n = 0;
	for (int i = 0; i < 8; i++)
		n += rec(b + n, 0x08, ip, l);
	put(dir, "sealed_esp_burst", b, n);
	l = mk4(ip, "172.16.5.5", "10.0.2.9", 64, 17, 80, 200, false);
	n = rec(b, 0x18, ip, l);
	put(dir, "sealed_ah", b, n);
	l = mk6(ip, "fd00:99::5", "fd00:2::9", 64, 17, 200);
	n = rec(b, 0x10, ip, l);
	put(dir, "sealed_natt_v6", b, n);
	l = mk4(ip, "172.16.5.5", "10.0.2.9", 64, 17, 80, 1360, true);
	n = rec(b, 0x08 | 0x80, ip, l);
	put(dir, "sealed_esp_split", b, n);
	l = mk4(ip, "172.16.5.5", "10.0.2.9", 64, 17, 80, 300, false);
	n = rec(b, 0x08, ip, l);
	b[2] |= 0x10; /* variant 1: over IPv6, AES-CBC + HMAC-SHA-256, ESN */
	put(dir, "sealed_esp_v6_cbc", b, n);
	l = mk4(ip, "198.51.200.2", "192.0.2.1", 64, 17, 7, 100, false);
	n = rec(b, 0x08, ip, l);
	b[2] |= 0x20; /* variant 2: transport, to us */
	put(dir, "sealed_esp_transport", b, n);
	l = mk6(ip, "2001:db8:99::2", "fd00::1", 64, 17, 100);
	n = rec(b, 0x18, ip, l);
	b[2] |= 0x10; /* AH transport over IPv6 */
	put(dir, "sealed_ah_transport_v6", b, n);
	/* the router's own, through the TAP: protected, IKE, plain */
	l = mk4(ip, "192.0.2.1", "198.51.200.2", 64, 17, 5000, 100, false);
	n = rec(b, 0x20 | 0x04, ip, l);
	put(dir, "own_protected", b, n);
	l = mk4(ip, "192.0.2.1", "198.51.200.2", 64, 17, 500, 100, false);
	wr16(ip + 20, 500); /* the router's IKE goes from port 500 */
	n = rec(b, 0x20 | 0x04, ip, l);
	put(dir, "own_ike", b, n);
	l = mk4(ip, "192.0.2.1", "198.51.200.2", 64, 17, 5000, 1450, true);
	n = rec(b, 0x20 | 0x04, ip, l);
	put(dir, "own_too_big", b, n);
	/* ARP, a VLAN-tagged IPv4 frame, a runt */
	uint8_t arp[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 1, 0xA, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1};
	n = rec(b, 0x00, arp, sizeof arp);
	put(dir, "arp", b, n);
	uint8_t vl[14 + 4 + 128];
	eth(vl, 1, false, 0x8100);
	wr16(vl + 14, 7);
	wr16(vl + 16, 0x0800);
	l = mk4(vl + 18, "203.0.113.5", "10.0.2.9", 64, 17, 80, 100, false);
	n = rec(b, 0x01, vl, 18 + l);
	put(dir, "vlan", b, n);
	n = rec(b, 0x00, arp, 10);
	put(dir, "runt", b, n);
	/* a mixed burst on port 1: forwarded, local, to the small-MTU hop */
	n = 0;
	l = mk4(ip, "203.0.113.5", "10.0.2.9", 64, 17, 80, 100, false);
	n += rec(b + n, 0x21, ip, l);
	n += rec(b + n, 0x21, ip, l);
	l = mk4(ip, "203.0.113.5", "10.0.1.1", 64, 1, 0, 20, false);
	n += rec(b + n, 0x21, ip, l);
	l = mk4(ip, "203.0.113.5", "10.0.2.130", 64, 17, 80, 1300, false);
	n += rec(b + n, 0x21, ip, l);
	put(dir, "burst_mixed", b, n);
	/* writer calls, then packets through what they built: a route in sub-FIB 100 via a group of
	 * ours over an adjacency of ours, FIB 5 on it, 10.60.0.0/16 bound to FIB 5; and bad ones */
	static const uint8_t op_route[] = {0, 0, 0, 10, 50, 0, 0, 0x80 | 16, 128}; /* group 100 */
	static const uint8_t op_adj[] = {5, 0, 2, 0x05, 0xDC, 1, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0xC};
	static const uint8_t op_nhg[] = {3, 0, 0, 1, 128, 0, 1, 0, 0, 0, 0, 0, 0, 0}; /* forward, adjacency 10 */
	static const uint8_t op_fib[] = {9, 0, 0, 0, 0};
	static const uint8_t op_bind[] = {7, 0, 10, 60, 0, 0, 0x80 | 16, 0};
	static const uint8_t op_bad_route[] = {0, 0, 0, 10, 50, 0, 1, 16, 1};  /* host bits */
	static const uint8_t op_bad_nhg[] = {3, 0, 0, 2, 255, 0, 0, 0, 0};      /* weight 0, no adjacency */
	n = 0;
	n += rec(b + n, 0, op_adj, sizeof op_adj), b[n - sizeof op_adj - 1] |= 0xF0;
	n += rec(b + n, 0, op_nhg, sizeof op_nhg), b[n - sizeof op_nhg - 1] |= 0xF0;
	n += rec(b + n, 0, op_route, sizeof op_route), b[n - sizeof op_route - 1] |= 0xF0;
	n += rec(b + n, 0, op_fib, sizeof op_fib), b[n - sizeof op_fib - 1] |= 0xF0;
	n += rec(b + n, 0, op_bind, sizeof op_bind), b[n - sizeof op_bind - 1] |= 0xF0;
	n += rec(b + n, 0, op_bad_route, sizeof op_bad_route), b[n - sizeof op_bad_route - 1] |= 0xF0;
	n += rec(b + n, 0, op_bad_nhg, sizeof op_bad_nhg), b[n - sizeof op_bad_nhg - 1] |= 0xF0;
	l = mk4(ip, "10.60.0.1", "10.50.0.1", 64, 17, 80, 100, false);
	n += rec(b + n, 0x22, ip, l);
	put(dir, "writer_calls", b, n);
	fprintf(stderr, "%s: seeds written to %s\n", NAME, dir);
}
