/*
 * test_dp_fwd — the forwarding engine on real DPDK mbufs and ring ports.
 *
 * A miniature of the seed-003 site: port 0 faces ISP-A, port 1 ISP-B, port 2
 * the server LAN.  Sources in 192.0.2.0/24 (addr A) are bound to FIB 1, whose
 * default route leaves via ISP-A; sources in 203.0.113.0/24 (addr B) to FIB 2
 * (via ISP-B); everything else to FIB 0, whose best default is via ISP-B.
 * Each port's "TAP" is another ring port so punts can be inspected.
 *
 * Checks what leaves which port with which headers, every drop reason the
 * malformed cases must hit, ICMP errors byte by byte (types, codes, MTU,
 * checksums), IPv4 fragmentation, weighted ECMP over 20,480 flows, and that
 * the counters account for every packet.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_eth_ring.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "../ipsec/ipsec_ah.h"
#include "dp_ipsec.h"
#include "dp_worker.h"
#include "test_pkt.h"
#include "test_ports.h"
#include "test_util.h"
#include "test_eal.h"

#define NPORT TEST_NPORT
static struct test_port P[NPORT];
static struct rte_mempool *mp, *mp_ind;
static struct dp_tables *T;
static struct dp_counters *C;
static struct dp_worker W;

static const uint8_t MAC_PORT[NPORT][6] = {{2, 0, 0, 0, 0, 0xA}, {2, 0, 0, 0, 0, 0xB}, {2, 0, 0, 0, 0, 0xC}};
static const uint8_t MAC_PEER[NPORT][6] = {{2, 0, 0, 0, 1, 0xA}, {2, 0, 0, 0, 1, 0xB}, {2, 0, 0, 0, 1, 0xC}};

static void setup_ports(void)
{
	for (int i = 0; i < NPORT; i++)
		test_port_make(&P[i], "", i, mp, 4096);
}

static void ip4(uint8_t *a, const char *s) { inet_pton(AF_INET, s, a); }
static void ip6(uint8_t *a, const char *s) { inet_pton(AF_INET6, s, a); }
static uint32_t ip4h(const char *s)
{
	uint8_t a[4];
	ip4(a, s);
	return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

static void route4(uint16_t sub, const char *pfx, unsigned len, uint32_t nhg)
{
	uint8_t a[4];
	ip4(a, pfx);
	CHECK(dp_route_set(T, sub, 4, a, len, nhg, NULL) == DP_OK);
}
static void route6(uint16_t sub, const char *pfx, unsigned len, uint32_t nhg)
{
	uint8_t a[16];
	ip6(a, pfx);
	CHECK(dp_route_set(T, sub, 6, a, len, nhg, NULL) == DP_OK);
}

static void setup_tables(void)
{
	T = dp_tables_create(NULL); /* the test is the only thread: no rcu domain */
	for (int i = 0; i < NPORT; i++) {
		struct dp_port_conf pc = {.dpdk_port = P[i].eth, .tap_port = P[i].tap, .mtu = 1500,
		                          .has_ip4 = 1, .has_ip6 = 1};
		memcpy(pc.mac, MAC_PORT[i], 6);
		char a[64];
		snprintf(a, sizeof a, "10.0.%d.1", i);
		pc.ip4 = ip4h(a);
		snprintf(a, sizeof a, "fd00:%d::1", i);
		ip6(pc.ip6, a);
		CHECK(dp_port_set(T, (uint16_t)i, &pc) == DP_OK);
		struct dp_adj adj = {.port = (uint16_t)i, .mtu = 1500, .resolved = 1};
		memcpy(adj.dst_mac, MAC_PEER[i], 6);
		memcpy(adj.src_mac, MAC_PORT[i], 6);
		CHECK(dp_adj_set(T, (uint16_t)(i + 1), &adj) == DP_OK);
		uint16_t id = (uint16_t)(i + 1), w1 = 1;
		CHECK(dp_nhg_set(T, (uint32_t)(i + 1), DP_NHG_FORWARD, 1, &id, &w1) == DP_OK);
	}
	/* a small-MTU link to the server LAN for the MTU cases: adjacency 4 */
	struct dp_adj small = {.port = 2, .mtu = 1280, .resolved = 1};
	memcpy(small.dst_mac, MAC_PEER[2], 6);
	memcpy(small.src_mac, MAC_PORT[2], 6);
	CHECK(dp_adj_set(T, 4, &small) == DP_OK);
	uint16_t a4 = 4, w1 = 1;
	CHECK(dp_nhg_set(T, 4, DP_NHG_FORWARD, 1, &a4, &w1) == DP_OK);
	struct dp_adj unres = {.port = 2, .mtu = 1500, .resolved = 0};
	CHECK(dp_adj_set(T, 5, &unres) == DP_OK);
	uint16_t a5 = 5;
	CHECK(dp_nhg_set(T, 5, DP_NHG_FORWARD, 1, &a5, &w1) == DP_OK);
	CHECK(dp_nhg_set(T, 10, DP_NHG_LOCAL, 0, NULL, NULL) == DP_OK);
	CHECK(dp_nhg_set(T, 11, DP_NHG_BLACKHOLE, 0, NULL, NULL) == DP_OK);
	CHECK(dp_nhg_set(T, 12, DP_NHG_UNREACHABLE, 0, NULL, NULL) == DP_OK);
	CHECK(dp_nhg_set(T, 13, DP_NHG_PROHIBIT, 0, NULL, NULL) == DP_OK);
	uint16_t ecmp_adj[2] = {1, 2}, ecmp_w[2] = {1, 3};
	CHECK(dp_nhg_set(T, 20, DP_NHG_FORWARD, 2, ecmp_adj, ecmp_w) == DP_OK);

	/* sub-FIBs: 0 = FIB 0 (default), 10 = FIB 1.0, 11 = FIB 1.1, 20 = FIB 2.0, 30 = FIB 3.0 */
	for (uint16_t s = 0; s <= 30; s += 10) {
		route4(s, "10.0.0.1", 32, 10); /* our own addresses are local everywhere */
		route4(s, "10.0.2.0", 24, 3);  /* server LAN */
		route4(s, "10.0.2.128", 25, 4); /* behind the small-MTU hop */
		route6(s, "fd00:2::", 64, 3);
		route6(s, "fd00:2:0:1::", 64, 4);
	}
	route4(0, "0.0.0.0", 0, 2);  /* FIB 0: best default via ISP-B */
	route4(10, "0.0.0.0", 0, 1); /* FIB 1: via ISP-A */
	route4(11, "0.0.0.0", 0, 2); /* FIB 1.1: DNS via ISP-B */
	route4(20, "0.0.0.0", 0, 2); /* FIB 2: via ISP-B */
	route4(0, "198.18.0.0", 15, 20); /* ECMP 1:3 */
	route4(0, "198.51.100.0", 24, 11);
	route4(0, "198.51.101.0", 24, 12);
	route4(0, "198.51.102.0", 24, 13);
	route4(0, "198.51.103.0", 24, 5);
	route6(0, "::", 0, 2);
	route6(10, "::", 0, 1);
	route4(30, "1.0.0.0", 8, 1); /* FIB 3: no default route */
	route6(30, "2001:db8::", 32, 1);

	struct dp_rule dns = {.id = 7, .subfib = 11, .in_port = DP_ANY_PORT, .family = 4, .dscp = DP_ANY_DSCP,
	                      .proto = 17, .sport_lo = 0, .sport_hi = 0xFFFF, .dport_lo = 53, .dport_hi = 53};
	CHECK(dp_fib_base_set(T, 0, 0, NULL, 0) == DP_OK);
	CHECK(dp_fib_base_set(T, 1, 10, &dns, 1) == DP_OK);
	CHECK(dp_fib_base_set(T, 2, 20, NULL, 0) == DP_OK);
	CHECK(dp_fib_base_set(T, 3, 30, NULL, 0) == DP_OK);
	uint8_t a[16];
	ip4(a, "192.0.2.0");
	CHECK(dp_binding_set(T, 4, a, 24, 1) == DP_OK);
	ip4(a, "203.0.113.0");
	CHECK(dp_binding_set(T, 4, a, 24, 2) == DP_OK);
	ip4(a, "100.64.0.0");
	CHECK(dp_binding_set(T, 4, a, 10, 3) == DP_OK);
	ip6(a, "2001:db8:a::");
	CHECK(dp_binding_set(T, 6, a, 48, 1) == DP_OK);
	ip6(a, "2001:db8:c::");
	CHECK(dp_binding_set(T, 6, a, 48, 3) == DP_OK);
	CHECK(dp_binding_default(T, 4, 0) == DP_OK);
	CHECK(dp_binding_default(T, 6, 0) == DP_OK);

	/* bad writer input changes nothing */
	CHECK(dp_route_set(T, 0, 4, (uint8_t[]){10, 0, 0, 1}, 24, 1, NULL) == DP_EINVAL); /* host bits */
	CHECK(dp_route_set(T, DP_MAX_SUBFIBS, 4, a, 0, 1, NULL) == DP_EINVAL);
	CHECK(dp_nhg_set(T, 30, DP_NHG_FORWARD, 1, (uint16_t[]){99}, &w1) == DP_ENOENT); /* no adjacency 99 */
	CHECK(dp_nhg_set(T, 30, DP_NHG_FORWARD, 1, &a4, (uint16_t[]){0}) == DP_EINVAL);  /* weight 0 */
	CHECK(dp_adj_delete(T, 1) == DP_EBUSY);                                            /* used by groups */
	struct dp_rule bad = dns;
	bad.sport_lo = 10, bad.sport_hi = 5;
	CHECK(dp_fib_base_set(T, 1, 10, &bad, 1) == DP_EINVAL);
	CHECK(DP_LOAD(T->base[1])->rules[0].sport_lo == 0);
}

/* ---- frames ---- */
struct frame {
	uint8_t b[2048];
	uint32_t len;
};

static void eth_hdr(struct frame *f, int port, uint16_t type)
{
	memcpy(f->b, MAC_PORT[port], 6);
	memcpy(f->b + 6, MAC_PEER[port], 6);
	f->b[12] = (uint8_t)(type >> 8);
	f->b[13] = (uint8_t)type;
	f->len = 14;
}

/* IPv4 + UDP (proto 17) or any proto with 8 bytes of "L4" and payload bytes */
static void mk4(struct frame *f, int port, const char *src, const char *dst, uint8_t ttl, uint8_t proto,
                uint16_t sport, uint16_t dport, uint32_t payload, bool df)
{
	eth_hdr(f, port, 0x0800);
	uint8_t *ip = f->b + 14;
	uint32_t tot = 20 + 8 + payload;
	memset(ip, 0, tot);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[4] = 0x12;
	ip[6] = df ? 0x40 : 0;
	ip[8] = ttl;
	ip[9] = proto;
	ip4(ip + 12, src);
	ip4(ip + 16, dst);
	uint16_t ck = (uint16_t)~dp_cksum(ip, 20, 0);
	ip[10] = (uint8_t)(ck >> 8);
	ip[11] = (uint8_t)ck;
	ip[20] = (uint8_t)(sport >> 8);
	ip[21] = (uint8_t)sport;
	ip[22] = (uint8_t)(dport >> 8);
	ip[23] = (uint8_t)dport;
	for (uint32_t i = 0; i < payload; i++)
		ip[28 + i] = (uint8_t)i;
	f->len = 14 + tot;
}

static void mk6(struct frame *f, int port, const char *src, const char *dst, uint8_t hlim, uint32_t payload)
{
	eth_hdr(f, port, 0x86DD);
	uint8_t *ip = f->b + 14;
	memset(ip, 0, 48 + payload);
	ip[0] = 0x60;
	uint32_t pl = 8 + payload;
	ip[4] = (uint8_t)(pl >> 8);
	ip[5] = (uint8_t)pl;
	ip[6] = 17;
	ip[7] = hlim;
	ip6(ip + 8, src);
	ip6(ip + 24, dst);
	ip[40] = 0x30, ip[41] = 0x39, ip[42] = 0, ip[43] = 80;
	f->len = 14 + 40 + pl;
}

static struct rte_mbuf *to_mbuf(const struct frame *f)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	if (!m) {
		fprintf(stderr, "out of mbufs\n");
		exit(1);
	}
	memcpy(rte_pktmbuf_append(m, (uint16_t)f->len), f->b, f->len);
	return m;
}

/* in on a port (tap: written by the kernel on the port's TAP) */
static void run_via(int port, const struct frame *f, unsigned nf, struct test_out *o, bool tap)
{
	memset(o, 0, sizeof(*o));
	struct rte_mbuf *m[DP_BURST];
	for (unsigned base = 0; base < nf; base += DP_BURST) {
		unsigned k = nf - base < DP_BURST ? nf - base : DP_BURST;
		for (unsigned i = 0; i < k; i++)
			m[i] = to_mbuf(&f[base + i]);
		if (tap)
			dp_worker_inject(&W, (uint16_t)port, m, (uint16_t)k);
		else
			dp_worker_rx(&W, (uint16_t)port, m, (uint16_t)k);
		dp_worker_flush(&W);
		test_out_take(o, P);
	}
}

static void run(int port, const struct frame *f, unsigned nf, struct test_out *o) { run_via(port, f, nf, o, false); }

/* A frame as the kernel writes it on a port's TAP: from the port's MAC to the next hop's. */
static void as_kernel(struct frame *f, int port)
{
	memcpy(f->b, MAC_PEER[port], 6);
	memcpy(f->b + 6, MAC_PORT[port], 6);
}

static uint64_t drops(enum dp_drop d) { return C->drop[d]; }

static const uint8_t *data(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, const uint8_t *); }

static void test_source_aware(void)
{
	struct frame f;
	struct test_out o;
	/* addr(A) -> via ISP-A, even though FIB 0's best default is via ISP-B */
	mk4(&f, 2, "192.0.2.10", "8.8.8.8", 64, 6, 443, 50000, 10, false);
	run(2, &f, 1, &o);
	CHECK(o.n[0] == 1 && o.n[1] == 0);
	if (o.n[0] == 1) {
		const uint8_t *d = data(o.m[0][0]);
		CHECK(memcmp(d, MAC_PEER[0], 6) == 0 && memcmp(d + 6, MAC_PORT[0], 6) == 0);
		CHECK(d[14 + 8] == 63);
		CHECK(dp_cksum(d + 14, 20, 0) == 0xFFFF); /* incremental checksum still valid */
		CHECK(o.m[0][0]->pkt_len == f.len);
	}
	test_out_free(&o);
	/* addr(B) -> via ISP-B */
	mk4(&f, 2, "203.0.113.10", "8.8.8.8", 64, 6, 443, 50000, 10, false);
	run(2, &f, 1, &o);
	CHECK(o.n[1] == 1 && o.n[0] == 0);
	test_out_free(&o);
	/* an unbound source uses the default binding (FIB 0: via ISP-B) */
	mk4(&f, 2, "10.0.2.77", "8.8.8.8", 64, 6, 443, 50000, 10, false);
	run(2, &f, 1, &o);
	CHECK(o.n[1] == 1 && o.n[0] == 0);
	test_out_free(&o);
	/* sub-FIB rule: UDP to port 53 from addr(A) uses FIB 1.1 (via ISP-B) */
	uint64_t hits = C->rule_hits[7];
	mk4(&f, 2, "192.0.2.10", "8.8.8.8", 64, 17, 5353, 53, 10, false);
	run(2, &f, 1, &o);
	CHECK(o.n[1] == 1 && o.n[0] == 0);
	CHECK(C->rule_hits[7] == hits + 1);
	test_out_free(&o);
	/* the same flow to another port is not DNS: FIB 1.0 */
	mk4(&f, 2, "192.0.2.10", "8.8.8.8", 64, 17, 5353, 54, 10, false);
	run(2, &f, 1, &o);
	CHECK(o.n[0] == 1);
	test_out_free(&o);
	/* IPv6: source in FIB 1's binding goes via ISP-A, others via ISP-B */
	mk6(&f, 2, "2001:db8:a::5", "2001:4860::8888", 64, 20);
	run(2, &f, 1, &o);
	CHECK(o.n[0] == 1);
	if (o.n[0] == 1)
		CHECK(data(o.m[0][0])[14 + 7] == 63);
	test_out_free(&o);
	mk6(&f, 2, "2001:db8:b::5", "2001:4860::8888", 64, 20);
	run(2, &f, 1, &o);
	CHECK(o.n[1] == 1);
	test_out_free(&o);
	/* a burst mixing all of them keeps each decision */
	struct frame fs[4];
	mk4(&fs[0], 2, "192.0.2.10", "8.8.8.8", 64, 6, 1, 2, 0, false);
	mk4(&fs[1], 2, "203.0.113.10", "8.8.8.8", 64, 6, 1, 2, 0, false);
	mk6(&fs[2], 2, "2001:db8:a::5", "2001:4860::8888", 64, 0);
	mk4(&fs[3], 2, "192.0.2.11", "10.0.2.5", 64, 6, 1, 2, 0, false);
	run(2, fs, 4, &o);
	CHECK(o.n[0] == 2 && o.n[1] == 1 && o.n[2] == 1);
	test_out_free(&o);
}

static void check_icmp4(struct rte_mbuf *m, int port, uint8_t type, uint8_t code, uint16_t mtu, const char *to)
{
	const uint8_t *d = data(m);
	CHECK(memcmp(d, MAC_PEER[port], 6) == 0 && memcmp(d + 6, MAC_PORT[port], 6) == 0);
	const uint8_t *ip = d + 14;
	CHECK(ip[9] == 1 && dp_cksum(ip, 20, 0) == 0xFFFF);
	uint8_t want[4];
	ip4(want, to);
	CHECK(memcmp(ip + 16, want, 4) == 0);
	char src[32];
	snprintf(src, sizeof src, "10.0.%d.1", port);
	ip4(want, src);
	CHECK(memcmp(ip + 12, want, 4) == 0);
	uint16_t tot = (uint16_t)(ip[2] << 8 | ip[3]);
	CHECK(tot + 14u == m->pkt_len && tot <= 576);
	const uint8_t *ic = ip + 20;
	CHECK(ic[0] == type && ic[1] == code);
	CHECK(dp_cksum(ic, tot - 20u, 0) == 0xFFFF);
	CHECK((uint16_t)(ic[6] << 8 | ic[7]) == mtu);
	CHECK(ic[8] == 0x45); /* quotes the original header */
}

static void test_icmp_errors(void)
{
	struct frame f;
	struct test_out o;
	uint64_t ttl0 = drops(DP_DROP_TTL_EXPIRED);
	mk4(&f, 0, "198.51.100.7", "10.0.2.5", 1, 17, 1000, 33434, 20, false);
	run(0, &f, 1, &o);
	CHECK(drops(DP_DROP_TTL_EXPIRED) == ttl0 + 1);
	CHECK(o.n[0] == 1 && o.n[2] == 0);
	if (o.n[0] == 1)
		check_icmp4(o.m[0][0], 0, 11, 0, 0, "198.51.100.7");
	test_out_free(&o);
	/* the same in a run of packets to the same next hop (step 5 reuses the adjacency of the packet
	 * before): the middle one expires, the others are forwarded */
	struct frame run3[3];
	mk4(&run3[0], 0, "198.51.100.7", "10.0.2.5", 64, 17, 1000, 33434, 20, false);
	mk4(&run3[1], 0, "198.51.100.7", "10.0.2.5", 1, 17, 1000, 33434, 20, false);
	mk4(&run3[2], 0, "198.51.100.7", "10.0.2.6", 64, 17, 1000, 33434, 20, false);
	run(0, run3, 3, &o);
	CHECK(drops(DP_DROP_TTL_EXPIRED) == ttl0 + 2);
	CHECK(o.n[0] == 1 && o.n[2] == 2);
	if (o.n[0] == 1)
		check_icmp4(o.m[0][0], 0, 11, 0, 0, "198.51.100.7");
	for (unsigned k = 0; k < o.n[2] && k < 2; k++)
		CHECK(data(o.m[2][k])[14 + 8] == 63 && data(o.m[2][k])[14 + 19] == (k ? 6 : 5) &&
		      memcmp(data(o.m[2][k]), MAC_PEER[2], 6) == 0);
	test_out_free(&o);
	/* TTL 1 to our own address is delivered, not expired */
	mk4(&f, 0, "198.51.100.7", "10.0.0.1", 1, 17, 1000, 33434, 20, false);
	run(0, &f, 1, &o);
	CHECK(o.ntap[0] == 1 && o.n[0] == 0);
	test_out_free(&o);
	/* no route: FIB 3 (sources in 100.64/10) has no default */
	uint64_t nr = drops(DP_DROP_NO_ROUTE);
	mk4(&f, 2, "100.64.0.9", "8.8.8.8", 64, 6, 1000, 80, 0, false);
	run(2, &f, 1, &o);
	CHECK(drops(DP_DROP_NO_ROUTE) == nr + 1 && o.n[2] == 1);
	if (o.n[2] == 1)
		check_icmp4(o.m[2][0], 2, 3, 0, 0, "100.64.0.9");
	test_out_free(&o);
	/* prohibit -> code 13; unreachable -> code 1; blackhole -> nothing */
	mk4(&f, 2, "10.0.2.9", "198.51.102.1", 64, 6, 1000, 80, 0, false);
	run(2, &f, 1, &o);
	CHECK(o.n[2] == 1);
	if (o.n[2] == 1)
		check_icmp4(o.m[2][0], 2, 3, 13, 0, "10.0.2.9");
	test_out_free(&o);
	mk4(&f, 2, "10.0.2.9", "198.51.101.1", 64, 6, 1000, 80, 0, false);
	run(2, &f, 1, &o);
	CHECK(o.n[2] == 1);
	if (o.n[2] == 1)
		check_icmp4(o.m[2][0], 2, 3, 1, 0, "10.0.2.9");
	test_out_free(&o);
	uint64_t bh = drops(DP_DROP_BLACKHOLE);
	mk4(&f, 2, "10.0.2.9", "198.51.100.1", 64, 6, 1000, 80, 0, false);
	run(2, &f, 1, &o);
	CHECK(drops(DP_DROP_BLACKHOLE) == bh + 1 && o.n[0] + o.n[1] + o.n[2] == 0);
	test_out_free(&o);
	/* over the MTU with DF: fragmentation needed carrying the next-hop MTU */
	uint64_t tb = drops(DP_DROP_TOO_BIG);
	mk4(&f, 0, "198.51.100.7", "10.0.2.200", 64, 17, 1, 2, 1400, true);
	run(0, &f, 1, &o);
	CHECK(drops(DP_DROP_TOO_BIG) == tb + 1 && o.n[0] == 1 && o.n[2] == 0);
	if (o.n[0] == 1)
		check_icmp4(o.m[0][0], 0, 3, 4, 1280, "198.51.100.7");
	test_out_free(&o);
	/* without DF: fragmented to fit, payload preserved */
	mk4(&f, 0, "198.51.100.7", "10.0.2.200", 64, 17, 1, 2, 1400, false);
	run(0, &f, 1, &o);
	CHECK(o.n[2] == 2);
	uint32_t total = 0;
	for (unsigned i = 0; i < o.n[2]; i++) {
		const uint8_t *ip = data(o.m[2][i]) + 14;
		uint16_t tot = (uint16_t)(ip[2] << 8 | ip[3]);
		CHECK(tot <= 1280 && dp_cksum(ip, 20, 0) == 0xFFFF && ip[8] == 63);
		total += tot - 20u;
	}
	CHECK(total == 1408);
	test_out_free(&o);
	/* IPv6: hop limit 1 -> time exceeded; over the MTU -> packet too big */
	mk6(&f, 1, "2001:db8:b::5", "fd00:2::5", 1, 20);
	run(1, &f, 1, &o);
	CHECK(o.n[1] == 1);
	if (o.n[1] == 1) {
		const uint8_t *ip = data(o.m[1][0]) + 14;
		uint16_t pl = (uint16_t)(ip[4] << 8 | ip[5]);
		uint32_t sum = dp_cksum(ip + 8, 32, 0) + pl + 58;
		CHECK(ip[6] == 58 && ip[40] == 3 && ip[41] == 0 && dp_cksum(ip + 40, pl, sum) == 0xFFFF);
	}
	test_out_free(&o);
	mk6(&f, 1, "2001:db8:b::5", "fd00:2:0:1::5", 64, 1300);
	run(1, &f, 1, &o);
	CHECK(o.n[1] == 1);
	if (o.n[1] == 1) {
		const uint8_t *ip = data(o.m[1][0]) + 14;
		uint16_t pl = (uint16_t)(ip[4] << 8 | ip[5]);
		CHECK(ip[40] == 2 && (uint32_t)(ip[44] << 24 | ip[45] << 16 | ip[46] << 8 | ip[47]) == 1280);
		CHECK(40u + pl <= 1280);
	}
	test_out_free(&o);
	/* never an error in answer to an ICMP error */
	uint64_t sent = C->port[0].icmp_sent;
	mk4(&f, 0, "198.51.100.7", "10.0.2.5", 1, 1, 0, 0, 20, false);
	f.b[14 + 20] = 3; /* ICMP type 3 */
	run(0, &f, 1, &o);
	CHECK(C->port[0].icmp_sent == sent && o.n[0] == 0);
	test_out_free(&o);
}

static void test_punt_and_resolution(void)
{
	struct frame f;
	struct test_out o;
	eth_hdr(&f, 0, 0x0806); /* ARP */
	memset(f.b + 14, 0, 28);
	f.len = 42;
	f.b[0] = 0xFF; /* broadcast */
	run(0, &f, 1, &o);
	CHECK(o.ntap[0] == 1);
	test_out_free(&o);
	mk6(&f, 0, "fe80::1", "ff02::1:ff00:1", 255, 24); /* ND solicitation to a multicast group */
	run(0, &f, 1, &o);
	CHECK(o.ntap[0] == 1);
	test_out_free(&o);
	uint64_t ur = drops(DP_DROP_ADJ_UNRESOLVED);
	mk4(&f, 0, "198.51.100.7", "198.51.103.9", 64, 6, 1, 2, 0, false);
	run(0, &f, 1, &o);
	CHECK(drops(DP_DROP_ADJ_UNRESOLVED) == ur + 1 && W.want_resolve[5] == 1);
	test_out_free(&o);
	/* kernel frames written on a TAP go out of its port unchanged */
	struct rte_mbuf *m = to_mbuf(&f);
	dp_worker_inject(&W, 1, &m, 1);
	dp_worker_flush(&W);
	struct rte_mbuf *got = NULL;
	CHECK(rte_ring_dequeue(P[1].tx, (void **)&got) == 0 && got && got->pkt_len == f.len);
	rte_pktmbuf_free(got);
}

static void test_malformed(void)
{
	struct frame f, good;
	struct test_out o;
	mk4(&good, 0, "198.51.100.7", "10.0.2.5", 64, 17, 1, 2, 20, false);
	struct {
		const char *what;
		enum dp_drop why;
	} cases[] = {
		{"runt", DP_DROP_RUNT},
		{"other host", DP_DROP_L2_OTHER_HOST},
		{"ip4 truncated", DP_DROP_IP4_TRUNCATED},
		{"ihl 4", DP_DROP_IP4_IHL},
		{"ihl past frame", DP_DROP_IP4_IHL},
		{"total length short", DP_DROP_IP4_TOTAL_LENGTH},
		{"total length long", DP_DROP_IP4_TOTAL_LENGTH},
		{"checksum", DP_DROP_IP4_CHECKSUM},
		{"version", DP_DROP_IP4_VERSION},
		{"ip6 truncated", DP_DROP_IP6_TRUNCATED},
		{"ip6 payload length", DP_DROP_IP6_PAYLOAD_LENGTH},
		{"ip6 ext cut", DP_DROP_IP6_EXT_TRUNCATED},
		{"ip6 ext loop", DP_DROP_IP6_EXT_TRUNCATED},
		{"over mtu", DP_DROP_RX_OVER_MTU},
		{"multicast source", DP_DROP_IP4_BAD_SOURCE},
	};
	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		f = good;
		uint8_t *ip = f.b + 14;
		switch (c) {
		case 0: f.len = 10; break;
		case 1: f.b[5] = 0x99; break;
		case 2: f.len = 14 + 19; break;
		case 3: ip[0] = 0x44; break;
		case 4: ip[0] = 0x4F; f.len = 14 + 48; ip[2] = 0; ip[3] = 48; break;
		case 5: ip[2] = 0; ip[3] = 19; break;
		case 6: ip[2] = 0x05; ip[3] = 0xDC; break;
		case 7: ip[10] ^= 0x55; break;
		case 8: ip[0] = 0x55; break;
		case 9: mk6(&f, 0, "2001:db8:b::5", "fd00:2::5", 64, 0); f.len = 14 + 39; break;
		case 10: mk6(&f, 0, "2001:db8:b::5", "fd00:2::5", 64, 0); f.b[14 + 4] = 0x10; break;
		case 11: /* hop-by-hop header claiming 16 bytes in an 8-byte payload */
			mk6(&f, 0, "2001:db8:b::5", "fd00:2::5", 64, 0);
			f.b[14 + 6] = 0;
			f.b[14 + 40] = 17;
			f.b[14 + 41] = 1;
			break;
		case 12: /* 17 destination-options headers chained */
			mk6(&f, 0, "2001:db8:b::5", "fd00:2::5", 64, 17 * 8);
			f.b[14 + 6] = 60;
			for (unsigned k = 0; k < 18; k++) {
				f.b[14 + 40 + 8 * k] = 60;
				f.b[14 + 41 + 8 * k] = 0;
			}
			break;
		case 13: mk4(&f, 0, "198.51.100.7", "10.0.2.5", 64, 17, 1, 2, 1500, false); break;
		case 14: mk4(&f, 0, "224.1.1.1", "10.0.2.5", 64, 17, 1, 2, 0, false); break;
		}
		uint64_t before = drops(cases[c].why);
		struct frame burst[3] = {good, f, good};
		run(0, burst, 3, &o);
		if (drops(cases[c].why) != before + 1)
			FAIL("malformed case '%s': %s went %lu -> %lu", cases[c].what, dp_drop_names[cases[c].why],
			     (unsigned long)before, (unsigned long)drops(cases[c].why));
		CHECK(o.n[2] == 2); /* the good frames around it still go through */
		test_out_free(&o);
	}
}

static void test_ecmp(void)
{
	enum { FLOWS = 20480 }; /* a multiple of the 128-frame runs */
	static struct frame f[FLOWS];
	for (unsigned i = 0; i < FLOWS; i++)
		mk4(&f[i], 2, "10.0.2.50", "198.18.1.1", 64, 6, (uint16_t)(1024 + i % 60000), (uint16_t)(80 + i / 60000), 0, false);
	unsigned a = 0, b = 0;
	struct test_out o;
	for (unsigned base = 0; base < FLOWS; base += 128) {
		run(2, f + base, 128, &o);
		a += o.n[0];
		b += o.n[1];
		test_out_free(&o);
	}
	double share_b = (double)b / (a + b);
	printf("ECMP 1:3 over %u flows: %u via A, %u via B (%.2f%% via B, want 75%%)\n", FLOWS, a, b, 100 * share_b);
	CHECK(a + b == FLOWS);
	CHECK(share_b > 0.75 * 0.95 && share_b < 0.75 * 1.05);
	/* the same flow always takes the same path */
	run(2, f, 1, &o);
	unsigned first = o.n[0] ? 0 : 1;
	test_out_free(&o);
	for (int k = 0; k < 5; k++) {
		run(2, f, 1, &o);
		CHECK(o.n[first] == 1);
		test_out_free(&o);
	}
}

/* Random damage to valid frames (bit flips, truncation, extension), through
 * the engine in bursts: nothing crashes (the ASan build checks every byte
 * read), and the accounting below still adds up. */
static void test_mutations(void)
{
	enum { N = 20000 };
	static struct frame f[128];
	struct test_out o;
	rnd_seed(7);
	const char *dst4[] = {"8.8.8.8", "10.0.2.5", "10.0.2.200", "198.18.3.4", "198.51.101.1", "10.0.0.1"};
	for (unsigned base = 0; base < N; base += 128) {
		for (unsigned i = 0; i < 128; i++) {
			if (rnd() % 2)
				mk4(&f[i], 2, rnd() % 2 ? "192.0.2.10" : "10.0.2.7", dst4[rnd() % 6], (uint8_t)(rnd() % 4),
				    (uint8_t)(rnd() % 3 ? 17 : 1), 1, 2, rnd() % 1500, rnd() % 2);
			else
				mk6(&f[i], 2, rnd() % 2 ? "2001:db8:a::1" : "fe80::1", rnd() % 2 ? "2001:4860::1" : "fd00:2:0:1::9",
				    (uint8_t)(rnd() % 4), rnd() % 1400);
			unsigned flips = rnd() % 4;
			for (unsigned k = 0; k < flips; k++)
				f[i].b[rnd() % f[i].len] ^= (uint8_t)(1u << (rnd() % 8));
			if (rnd() % 4 == 0)
				f[i].len = rnd() % f[i].len + 1;
			else if (rnd() % 8 == 0 && f[i].len < 1900)
				f[i].len += rnd() % 100;
		}
		run(2, f, 128, &o);
		test_out_free(&o);
	}
	CHECK(rte_mempool_avail_count(mp) + 0u >= 8191u - 64u); /* no mbuf leaked */
}

static void test_accounting(void)
{
	/* every received packet is transmitted, punted or dropped exactly once
	 * (ICMP errors and fragments are extra transmissions, counted apart) */
	uint64_t rx = 0, tx = 0, punt = 0, dropped = 0, icmp = 0;
	for (int p = 0; p < NPORT; p++) {
		rx += C->port[p].rx_pkts;
		tx += C->port[p].tx_pkts;
		punt += C->port[p].punt_pkts;
		icmp += C->port[p].icmp_sent;
		tx -= C->port[p].inject_pkts;
		tx -= C->port[p].frag_created - C->port[p].frag_pkts; /* extra transmissions */
	}
	for (int d = 0; d < DP_DROP_MAX; d++)
		dropped += C->drop[d];
	printf("accounting: rx %lu = tx %lu (less extra fragments) - icmp %lu + punt %lu + dropped %lu\n",
	       (unsigned long)rx, (unsigned long)tx, (unsigned long)icmp, (unsigned long)punt, (unsigned long)dropped);
	CHECK(rx == tx - icmp + punt + dropped);
}

/* dp_routes_apply: many changes in one call, the groups they replaced, a missing delete is no
 * error, and a bad entry stops the batch with the ones before it applied. */
static void test_routes_apply(void)
{
	const uint16_t sub = DP_MAX_SUBFIBS - 1;
	uint8_t a[3 * 4] = {10, 0, 0, 0, 10, 1, 0, 0, 192, 0, 2, 0};
	uint8_t lens[3] = {8, 16, 24};
	uint32_t nh[3] = {5, 6, 7}, old[3];
	size_t done = 99;
	CHECK(dp_routes_apply(T, sub, 4, 3, a, lens, nh, old, &done, NULL) == DP_OK);
	CHECK(done == 3 && old[0] == LPM_MISS && old[1] == LPM_MISS && old[2] == LPM_MISS);
	lpm_t *l = dp_subfib_lpm(T, sub, 4, false);
	CHECK(l != NULL && lpm4_lookup(l, 0x0a010203) == 6 && lpm4_lookup(l, 0x0a020304) == 5);
	/* replace one, delete one, delete one that is not there */
	uint8_t b[3 * 4] = {10, 0, 0, 0, 10, 1, 0, 0, 172, 16, 0, 0};
	uint8_t blens[3] = {8, 16, 12};
	uint32_t bnh[3] = {9, DP_ROUTE_DELETE, DP_ROUTE_DELETE};
	CHECK(dp_routes_apply(T, sub, 4, 3, b, blens, bnh, old, &done, NULL) == DP_OK);
	CHECK(done == 3 && old[0] == 5 && old[1] == 6 && old[2] == LPM_MISS);
	CHECK(lpm4_lookup(l, 0x0a010203) == 9 && lpm4_lookup(l, 0xc0000201) == 7);
	/* entry 1 has host bits: nothing is applied */
	uint8_t c[3 * 4] = {10, 2, 0, 0, 10, 3, 0, 1, 10, 4, 0, 0};
	uint8_t clens[3] = {16, 16, 16};
	uint32_t cnh[3] = {1, 2, 3};
	CHECK(dp_routes_apply(T, sub, 4, 3, c, clens, cnh, old, &done, NULL) == DP_EINVAL);
	CHECK(done == 0 && lpm4_lookup(l, 0x0a020001) == 9 && lpm4_lookup(l, 0x0a040001) == 9);
	c[7] = 0; /* now all three are good */
	CHECK(dp_routes_apply(T, sub, 4, 3, c, clens, cnh, old, &done, NULL) == DP_OK && done == 3);
	CHECK(lpm4_lookup(l, 0x0a020001) == 1 && lpm4_lookup(l, 0x0a030001) == 2 && lpm4_lookup(l, 0x0a040001) == 3);
	/* IPv6, and a nexthop id out of range */
	uint8_t d[16] = {0x20, 0x01, 0x0d, 0xb8};
	uint8_t dlen = 32;
	uint32_t dnh = 4, bad = DP_MAX_NHGS;
	CHECK(dp_routes_apply(T, sub, 6, 1, d, &dlen, &dnh, old, &done, NULL) == DP_OK && done == 1);
	CHECK(dp_routes_apply(T, sub, 6, 1, d, &dlen, &bad, old, &done, NULL) == DP_EINVAL && done == 0);
	CHECK(lpm6_lookup(dp_subfib_lpm(T, sub, 6, false), d) == 4);
	/* clean up: the sub-FIB is empty again */
	uint8_t e[5 * 4] = {10, 0, 0, 0, 192, 0, 2, 0, 10, 2, 0, 0, 10, 4, 0, 0, 10, 3, 0, 0};
	uint8_t elens[5] = {8, 24, 16, 16, 16};
	uint32_t enh[5] = {DP_ROUTE_DELETE, DP_ROUTE_DELETE, DP_ROUTE_DELETE, DP_ROUTE_DELETE, DP_ROUTE_DELETE};
	uint32_t eold[5];
	CHECK(dp_routes_apply(T, sub, 4, 5, e, elens, enh, eold, &done, NULL) == DP_OK && done == 5);
	CHECK(eold[0] == 9 && eold[1] == 7 && eold[2] == 1 && eold[3] == 3 && eold[4] == 2);
	CHECK(lpm4_lookup(l, 0x0a000001) == LPM_MISS);
	CHECK(dp_routes_apply(T, sub, 6, 1, d, &dlen, enh, old, &done, NULL) == DP_OK && old[0] == 4);
}


/* ---- IPsec in the packet loop (dp_ipsec) ----
 *
 * Tunnel 1 runs between our 192.0.2.1 (an address of ISP-A's block: the source selector sends
 * its ESP packets out of port 0, although FIB 0's best default is ISP-B) and the peer
 * 198.51.200.2; the peer's end is played by standalone ESP/AH SAs of ipsec_esp/ipsec_ah (checked
 * against scapy and tshark in test_ipsec): they make the packets the peer would send and open
 * the ones we send. */
static struct ipsec_crypto CR;

static void sa_conf(struct ipsec_sa_conf *c, uint32_t spi, bool inbound, const char *src, const char *dst, uint8_t key)
{
	memset(c, 0, sizeof *c);
	c->spi = spi;
	c->inbound = inbound;
	c->tunnel = true;
	c->outer_family = 4;
	c->inner_family = 4;
	ip4(c->src, src);
	ip4(c->dst, dst);
	c->cipher = IPSEC_CIPHER_AES_GCM;
	c->auth = IPSEC_AUTH_NONE;
	memset(c->key, key, 16);
	c->key_len = 16;
	memcpy(c->salt, "salt", 4);
	c->replay_window = 64;
}

static int add_sa(uint16_t id, uint8_t proto, uint16_t tunnel, const struct ipsec_sa_conf *c)
{
	struct dp_sa_spec s = {.proto = proto, .tunnel = tunnel, .conf = *c};
	char err[256];
	int rc = dp_sa_add(T, id, &s, err, sizeof err);
	if (rc != DP_OK)
		printf("dp_sa_add(%u): %s\n", id, err);
	return rc;
}

/* The peer sends: the IP packet of `inner` through a standalone SA, framed for port 0. */
static void peer_send(void *sa, bool ah, const struct frame *inner, struct frame *out)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	memcpy(rte_pktmbuf_append(m, (uint16_t)(inner->len - 14)), inner->b + 14, inner->len - 14);
	uint8_t why = 0;
	uint16_t ok = ah ? ipsec_ah_process(&CR, 0, sa, &m, 1, &why) : ipsec_esp_process(&CR, 0, sa, &m, 1, &why);
	CHECK(ok == 1);
	eth_hdr(out, 0, 0x0800);
	out->len = 14 + m->pkt_len;
	memcpy(out->b + 14, rte_pktmbuf_mtod(m, uint8_t *), m->pkt_len);
	rte_pktmbuf_free(m);
}

/* The peer receives: opens an ESP frame we sent; the inner IP packet in `inner` (0: refused). */
static uint32_t peer_open(void *sa, struct rte_mbuf *frame, uint8_t *inner)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	memcpy(rte_pktmbuf_append(m, (uint16_t)(frame->pkt_len - 14)), data(frame) + 14, frame->pkt_len - 14);
	uint8_t why = 0;
	uint32_t len = 0;
	if (ipsec_esp_process(&CR, 0, sa, &m, 1, &why) == 1) {
		len = m->pkt_len;
		memcpy(inner, rte_pktmbuf_mtod(m, uint8_t *), len);
	}
	rte_pktmbuf_free(m);
	return len;
}

static void sp4(struct dp_sp *p, uint32_t id, const char *src, unsigned sl, const char *dst, unsigned dl, uint8_t action,
                uint16_t tunnel)
{
	memset(p, 0, sizeof *p);
	p->id = id;
	p->family = 4;
	ip4(p->src, src);
	p->src_len = (uint8_t)sl;
	ip4(p->dst, dst);
	p->dst_len = (uint8_t)dl;
	p->proto_any = 1;
	p->action = action;
	p->tunnel = tunnel;
	p->sport_hi = p->dport_hi = 0xFFFF;
}

static void test_ipsec_path(void)
{
	char err[256];
	if (ipsec_crypto_init(&CR, NULL, 1, 64, err, sizeof err) != 0) {
		FAIL("no crypto device: %s", err);
		return;
	}
	printf("ipsec: crypto device %s%s%s\n", CR.driver, CR.why_not[0] ? " - " : "", CR.why_not);
	CHECK(dp_ipsec_attach(T, &CR) == DP_OK);
	for (uint16_t s = 0; s <= 30; s += 10)
		route4(s, "192.0.2.1", 32, 10); /* our tunnel address is local */

	struct ipsec_sa_conf c;
	/* ours: 1 out (tunnel 1), 2 in (tunnel 1) */
	sa_conf(&c, 0x1001, false, "192.0.2.1", "198.51.200.2", 0x11);
	CHECK(add_sa(1, 50, 1, &c) == DP_OK);
	sa_conf(&c, 0x2002, true, "198.51.200.2", "192.0.2.1", 0x22);
	CHECK(add_sa(2, 50, 1, &c) == DP_OK);
	struct dp_tunnel tun = {.mtu = {1400, 1400}, .out_sa = {1, DP_ID_NONE}};
	CHECK(dp_tunnel_set(T, 1, &tun, err, sizeof err) == DP_OK);
	/* the peer's */
	struct ipsec_esp_sa *peer_out, *peer_in;
	sa_conf(&c, 0x2002, false, "198.51.200.2", "192.0.2.1", 0x22);
	CHECK(ipsec_esp_sa_create(&CR, &c, &peer_out, err, sizeof err) == 0);
	sa_conf(&c, 0x1001, true, "192.0.2.1", "198.51.200.2", 0x11);
	CHECK(ipsec_esp_sa_create(&CR, &c, &peer_in, err, sizeof err) == 0);

	/* policies: out, 10.0.2.0/24 -> 172.16.0.0/16 protected by tunnel 1 (but 172.16.9.0/24 passes
	 * in the clear, and 172.16.66.0/24 is discarded); in, the mirror image */
	struct dp_sp out[3], in[1];
	sp4(&out[0], 3, "0.0.0.0", 0, "172.16.9.0", 24, DP_SP_BYPASS, 0);
	sp4(&out[1], 4, "0.0.0.0", 0, "172.16.66.0", 24, DP_SP_DISCARD, 0);
	sp4(&out[2], 5, "10.0.2.0", 24, "172.16.0.0", 16, DP_SP_PROTECT, 1);
	sp4(&in[0], 6, "172.16.0.0", 16, "10.0.2.0", 24, DP_SP_PROTECT, 1);
	CHECK(dp_spd_set(T, DP_SP_OUT, out, 3, err, sizeof err) == DP_OK);
	CHECK(dp_spd_set(T, DP_SP_IN, in, 1, err, sizeof err) == DP_OK);

	struct frame f, e;
	struct test_out o;
	uint8_t inner[2048];

	/* 1. outbound: encrypted, out of port 0 (ISP-A, chosen by the outer source), the peer opens it */
	mk4(&f, 2, "10.0.2.9", "172.16.5.5", 64, 17, 1234, 5678, 100, false);
	run(2, &f, 1, &o);
	CHECK(o.n[0] == 1 && o.n[1] == 0 && o.n[2] == 0);
	if (o.n[0] == 1) {
		const uint8_t *d = data(o.m[0][0]);
		CHECK(memcmp(d, MAC_PEER[0], 6) == 0);
		CHECK(d[14 + 9] == 50 && d[14 + 8] == 64);     /* ESP, TTL of a packet we made */
		CHECK(dp_cksum(d + 14, 20, 0) == 0xFFFF);
		CHECK(d[14 + 12] == 192 && d[14 + 19] == 2);    /* 192.0.2.1 -> 198.51.200.2 */
		CHECK(d[34] == 0 && d[35] == 0 && d[36] == 0x10 && d[37] == 0x01); /* SPI */
		uint32_t n = peer_open(peer_in, o.m[0][0], inner);
		CHECK(n == f.len - 14);
		if (n == f.len - 14) {
			CHECK(inner[8] == 63);                      /* a forwarding hop for the inner packet */
			CHECK(memcmp(inner + 20, f.b + 34, n - 20) == 0);
			CHECK(dp_cksum(inner, 20, 0) == 0xFFFF);
		}
	}
	CHECK(C->sa[1].pkts == 1 && C->sp_hits[DP_SP_OUT][5] == 1);
	test_out_free(&o);

	/* 2. inbound: the peer's ESP to 192.0.2.1 on port 0 is decrypted and the inner packet
	 * forwarded to the LAN (port 2) with its TTL decremented */
	mk4(&f, 0, "172.16.5.5", "10.0.2.9", 64, 17, 5678, 1234, 200, false);
	peer_send(peer_out, false, &f, &e);
	run(0, &e, 1, &o);
	CHECK(o.n[2] == 1 && o.n[0] == 0 && o.n[1] == 0);
	if (o.n[2] == 1) {
		const uint8_t *d = data(o.m[2][0]);
		CHECK(o.m[2][0]->pkt_len == f.len);
		CHECK(memcmp(d, MAC_PEER[2], 6) == 0 && d[14 + 8] == 63);
		CHECK(memcmp(d + 34, f.b + 34, f.len - 34) == 0);
	}
	CHECK(C->sa[2].pkts == 1 && C->sp_hits[DP_SP_IN][6] == 1);
	test_out_free(&o);

	/* 3. the same ESP packet again: a replay */
	uint64_t replay = drops(DP_DROP_IPSEC_REPLAY);
	run(0, &e, 1, &o);
	CHECK(o.n[2] == 0 && drops(DP_DROP_IPSEC_REPLAY) == replay + 1 && C->sa[2].replay == 1);
	test_out_free(&o);
	/* 4. one flipped bit */
	uint64_t auth = drops(DP_DROP_IPSEC_AUTH);
	mk4(&f, 0, "172.16.5.5", "10.0.2.9", 64, 17, 5678, 1234, 200, false);
	peer_send(peer_out, false, &f, &e);
	e.b[e.len - 20] ^= 0x04;
	run(0, &e, 1, &o);
	CHECK(o.n[2] == 0 && drops(DP_DROP_IPSEC_AUTH) == auth + 1 && C->sa[2].auth == 1);
	test_out_free(&o);

	/* 4b. every one of 40 packets (sequence numbers 4..43: DPDK 22.11's own window forgets the ones
	 * with n % 64 >= 32) is refused when it comes again */
	static struct frame forty[40];
	for (int i = 0; i < 40; i++)
		peer_send(peer_out, false, &f, &forty[i]);
	run(0, forty, 40, &o);
	CHECK(o.n[2] == 40);
	test_out_free(&o);
	replay = drops(DP_DROP_IPSEC_REPLAY);
	run(0, forty, 40, &o);
	CHECK(o.n[2] == 0 && drops(DP_DROP_IPSEC_REPLAY) == replay + 40);
	test_out_free(&o);

	/* 4c. a forged packet (the SA's SPI, a far-ahead sequence number, a ciphertext length the
	 * cipher cannot have: refused before decryption) in the same burst as genuine ones must not
	 * lend them its sequence number (which would slam the window shut for the real ones) */
	struct frame trio[3], next;
	peer_send(peer_out, false, &f, &trio[1]);
	peer_send(peer_out, false, &f, &trio[2]);
	trio[0] = trio[1];
	trio[0].b[14 + 20 + 4] = 0xFF, trio[0].b[14 + 20 + 5] = 0xFF, trio[0].b[14 + 20 + 6] = 0xFF, trio[0].b[14 + 20 + 7] = 0xF0;
	trio[0].b[trio[0].len++] = 0x5A; /* one more byte: not a whole number of 4-byte words */
	{
		uint8_t *ip = trio[0].b + 14;
		uint16_t tot = (uint16_t)(trio[0].len - 14);
		ip[2] = (uint8_t)(tot >> 8), ip[3] = (uint8_t)tot, ip[10] = ip[11] = 0;
		uint16_t ck = (uint16_t)~dp_cksum(ip, 20, 0);
		ip[10] = (uint8_t)(ck >> 8), ip[11] = (uint8_t)ck;
	}
	run(0, trio, 3, &o);
	CHECK(o.n[2] == 2);
	test_out_free(&o);
	peer_send(peer_out, false, &f, &next);
	run(0, &next, 1, &o);
	CHECK(o.n[2] == 1);
	test_out_free(&o);

	/* 5. ESP to our address with an SPI nobody has: counted, not punted */
	uint64_t nosa = drops(DP_DROP_IPSEC_NO_SA);
	mk4(&f, 0, "198.51.200.2", "192.0.2.1", 64, 50, 0x7777, 0x0001, 40, false);
	run(0, &f, 1, &o);
	CHECK(o.ntap[0] == 0 && drops(DP_DROP_IPSEC_NO_SA) == nosa + 1);
	test_out_free(&o);
	/* 6. transit ESP (not to us) with an SPI of ours is forwarded untouched */
	mk4(&f, 0, "198.51.200.2", "10.0.2.50", 64, 50, 0, 0x2002, 40, false);
	run(0, &f, 1, &o);
	CHECK(o.n[2] == 1 && C->sa[2].pkts == 44);
	test_out_free(&o);

	/* 7. inbound policy: the same inner packet in the clear is refused */
	uint64_t pol = drops(DP_DROP_IPSEC_POLICY);
	mk4(&f, 0, "172.16.5.5", "10.0.2.9", 64, 17, 5678, 1234, 200, false);
	run(0, &f, 1, &o);
	CHECK(o.n[2] == 0 && drops(DP_DROP_IPSEC_POLICY) == pol + 1);
	test_out_free(&o);
	/* ... and so is one decrypted by an SA of another tunnel (SA 3, tunnel 2) */
	sa_conf(&c, 0x3003, true, "198.51.200.3", "192.0.2.1", 0x33);
	CHECK(add_sa(3, 50, 2, &c) == DP_OK);
	struct ipsec_esp_sa *peer3;
	sa_conf(&c, 0x3003, false, "198.51.200.3", "192.0.2.1", 0x33);
	CHECK(ipsec_esp_sa_create(&CR, &c, &peer3, err, sizeof err) == 0);
	peer_send(peer3, false, &f, &e);
	run(0, &e, 1, &o);
	CHECK(o.n[2] == 0 && drops(DP_DROP_IPSEC_POLICY) == pol + 2 && C->sa[3].pkts == 1);
	test_out_free(&o);

	/* 8. bypass and discard policies above the protect one */
	mk4(&f, 2, "10.0.2.9", "172.16.9.9", 64, 17, 1, 2, 10, false);
	run(2, &f, 1, &o);
	CHECK(o.n[1] == 1 && data(o.m[1][0])[14 + 9] == 17); /* in the clear, FIB 0's default */
	test_out_free(&o);
	uint64_t disc = drops(DP_DROP_IPSEC_DISCARD);
	mk4(&f, 2, "10.0.2.9", "172.16.66.1", 64, 17, 1, 2, 10, false);
	run(2, &f, 1, &o);
	CHECK(o.n[0] + o.n[1] + o.n[2] == 0 && drops(DP_DROP_IPSEC_DISCARD) == disc + 1);
	test_out_free(&o);

	/* 9. route-based: a route to an IPSEC nexthop group (tunnel 1) */
	uint16_t t1 = 1;
	CHECK(dp_nhg_set(T, 40, DP_NHG_IPSEC, 1, &t1, NULL) == DP_OK);
	route4(0, "172.20.0.0", 16, 40);
	mk4(&f, 2, "10.0.9.9", "172.20.1.1", 64, 6, 1, 2, 10, false);
	run(2, &f, 1, &o);
	CHECK(o.n[0] == 1 && C->sa[1].pkts == 2);
	if (o.n[0] == 1)
		CHECK(peer_open(peer_in, o.m[0][0], inner) == f.len - 14);
	test_out_free(&o);
	/* 10. no outbound SA for IPv6 in tunnel 1 */
	uint64_t noout = drops(DP_DROP_IPSEC_NO_OUT_SA);
	uint8_t a6[16];
	ip6(a6, "2001:db8:77::");
	CHECK(dp_route_set(T, 0, 6, a6, 48, 40, NULL) == DP_OK);
	mk6(&f, 2, "fd00:2::9", "2001:db8:77::1", 64, 10);
	run(2, &f, 1, &o);
	CHECK(o.n[0] == 0 && drops(DP_DROP_IPSEC_NO_OUT_SA) == noout + 1);
	test_out_free(&o);

	/* 11. TTL 1 and the tunnel's MTU: ICMP errors to the sender, nothing encrypted */
	uint64_t ttl = drops(DP_DROP_TTL_EXPIRED), big = drops(DP_DROP_TOO_BIG);
	mk4(&f, 2, "10.0.2.9", "172.16.5.5", 1, 17, 1, 2, 10, false);
	run(2, &f, 1, &o);
	CHECK(o.n[0] == 0 && o.n[2] == 1 && drops(DP_DROP_TTL_EXPIRED) == ttl + 1);
	if (o.n[2] == 1)
		check_icmp4(o.m[2][0], 2, 11, 0, 0, "10.0.2.9");
	test_out_free(&o);
	mk4(&f, 2, "10.0.2.9", "172.16.5.5", 64, 17, 1, 2, 1400, true);
	run(2, &f, 1, &o);
	CHECK(o.n[0] == 0 && o.n[2] == 1 && drops(DP_DROP_TOO_BIG) == big + 1);
	if (o.n[2] == 1)
		check_icmp4(o.m[2][0], 2, 3, 4, 1400, "10.0.2.9");
	test_out_free(&o);

	/* 11b. the encrypted packets' own forwarding (one decision per burst, tunnel_out): it follows
	 * the tables, and what it cannot settle -- an unresolved neighbour, a packet over the link's
	 * MTU -- gets full forwarding */
	route4(10, "198.51.200.2", 32, 5); /* the peer via an unresolved adjacency */
	uint64_t unres = drops(DP_DROP_ADJ_UNRESOLVED), sa1 = C->sa[1].pkts;
	struct frame pair[2];
	for (int i = 0; i < 2; i++)
		mk4(&pair[i], 2, "10.0.2.9", "172.16.5.5", 64, 17, 1, 2, 10, false);
	W.want_resolve[5] = 0;
	run(2, pair, 2, &o);
	CHECK(o.n[0] + o.n[1] + o.n[2] == 0 && drops(DP_DROP_ADJ_UNRESOLVED) == unres + 2 && C->sa[1].pkts == sa1 + 2);
	CHECK(W.want_resolve[5] == 1);
	test_out_free(&o);
	route4(10, "198.51.200.2", 32, 4); /* ... via the 1280-byte link: a small and a large one */
	uint64_t adj4 = C->adj[4].pkts, fib1 = C->fib_pkts[1];
	mk4(&pair[0], 2, "10.0.2.9", "172.16.5.5", 64, 17, 1, 2, 100, false);
	mk4(&pair[1], 2, "10.0.2.9", "172.16.5.5", 64, 17, 1, 2, 1300, false);
	run(2, pair, 2, &o);
	CHECK(o.n[0] == 0 && o.n[2] == 3); /* the small one whole, the large one in two fragments */
	if (o.n[2] == 3) {
		CHECK(peer_open(peer_in, o.m[2][0], inner) == pair[0].len - 14);
		for (int i = 1; i < 3; i++)
			CHECK(o.m[2][i]->pkt_len - 14 <= 1280 && data(o.m[2][i])[14 + 9] == 50);
	}
	/* the inner packets' pass (FIB 0) and the outer packets' (FIB 1) are both counted */
	CHECK(C->adj[4].pkts >= adj4 + 1 && C->fib_pkts[1] == fib1 + 2);
	test_out_free(&o);
	uint8_t peer_a[4];
	ip4(peer_a, "198.51.200.2");
	CHECK(dp_route_delete(T, 10, 4, peer_a, 32, NULL) == DP_OK);

	/* 12. rekey: a second inbound SA of tunnel 1; both decrypt until the old one goes */
	sa_conf(&c, 0x2004, true, "198.51.200.2", "192.0.2.1", 0x44);
	CHECK(add_sa(4, 50, 1, &c) == DP_OK);
	struct ipsec_esp_sa *peer4;
	sa_conf(&c, 0x2004, false, "198.51.200.2", "192.0.2.1", 0x44);
	CHECK(ipsec_esp_sa_create(&CR, &c, &peer4, err, sizeof err) == 0);
	struct frame burst[4];
	mk4(&f, 0, "172.16.5.5", "10.0.2.9", 64, 17, 5678, 1234, 64, false);
	peer_send(peer_out, false, &f, &burst[0]);
	peer_send(peer4, false, &f, &burst[1]);
	peer_send(peer_out, false, &f, &burst[2]);
	peer_send(peer4, false, &f, &burst[3]);
	run(0, burst, 4, &o);
	CHECK(o.n[2] == 4 && C->sa[2].pkts == 46 && C->sa[4].pkts == 2);
	test_out_free(&o);

	/* 12b. decrypted packets re-enter at L3 and get their Ethernet header when they leave: one the
	 * fast parse declines (ICMP inside) is forwarded like the rest; ones for us are punted with the
	 * source MAC of the frame that carried them in -- each its own, also when a packet before it
	 * in the burst fails (the batch closes up behind it) */
	mk4(&f, 0, "172.16.5.5", "10.0.2.9", 64, 1, 0x0800, 0x0001, 56, false);
	peer_send(peer_out, false, &f, &e);
	run(0, &e, 1, &o);
	CHECK(o.n[2] == 1);
	if (o.n[2] == 1) {
		const uint8_t *d = data(o.m[2][0]);
		CHECK(o.m[2][0]->pkt_len == f.len);
		CHECK(memcmp(d, MAC_PEER[2], 6) == 0 && memcmp(d + 6, MAC_PORT[2], 6) == 0 && d[12] == 0x08 && d[13] == 0);
		CHECK(d[14 + 8] == 63 && dp_cksum(d + 14, 20, 0) == 0xFFFF && memcmp(d + 34, f.b + 34, f.len - 34) == 0);
	}
	test_out_free(&o);
	static const uint8_t smac[3][6] = {{2, 0, 0, 0, 0, 0xA1}, {2, 0, 0, 0, 0, 0xA2}, {2, 0, 0, 0, 0, 0xA3}};
	struct frame local_in[3], local_esp[3];
	mk4(&local_in[0], 0, "172.16.5.5", "192.0.2.1", 64, 17, 5678, 1234, 30, false);
	mk4(&local_in[1], 0, "172.16.5.5", "192.0.2.1", 64, 17, 5679, 1234, 30, false);
	mk4(&local_in[2], 0, "172.16.5.5", "192.0.2.1", 64, 1, 0x0800, 0x0001, 30, false);
	for (int i = 0; i < 3; i++) {
		peer_send(peer_out, false, &local_in[i], &local_esp[i]);
		memcpy(local_esp[i].b + 6, smac[i], 6);
	}
	local_esp[1].b[local_esp[1].len - 20] ^= 0x04; /* fails its ICV */
	auth = drops(DP_DROP_IPSEC_AUTH);
	run(0, local_esp, 3, &o);
	CHECK(o.ntap[0] == 2 && o.n[0] + o.n[1] + o.n[2] == 0 && drops(DP_DROP_IPSEC_AUTH) == auth + 1);
	for (unsigned k = 0; k < o.ntap[0] && k < 2; k++) {
		const uint8_t *d = data(o.tap[0][k]);
		unsigned from = k ? 2 : 0;
		CHECK(memcmp(d, MAC_PORT[0], 6) == 0 && memcmp(d + 6, smac[from], 6) == 0 && d[12] == 0x08 && d[13] == 0);
		CHECK(o.tap[0][k]->pkt_len == local_in[from].len &&
		      memcmp(d + 14, local_in[from].b + 14, local_in[from].len - 14) == 0);
	}
	test_out_free(&o);
	/* 12c. hub and spoke: a packet decrypted from tunnel 2 that an outbound policy sends into
	 * tunnel 1 is encrypted again (one hop: TTL - 1) and leaves toward tunnel 1's peer */
	uint64_t sa1_before = C->sa[1].pkts, sa3_before = C->sa[3].pkts;
	struct frame hub, hub_esp;
	mk4(&hub, 0, "10.0.2.77", "172.16.5.5", 64, 17, 4000, 4001, 100, false);
	peer_send(peer3, false, &hub, &hub_esp);
	run(0, &hub_esp, 1, &o);
	CHECK(o.n[0] == 1 && o.n[1] + o.n[2] == 0 && C->sa[3].pkts == sa3_before + 1 && C->sa[1].pkts == sa1_before + 1);
	if (o.n[0] == 1) {
		uint32_t got = peer_open(peer_in, o.m[0][0], inner);
		CHECK(got == hub.len - 14);
		if (got == hub.len - 14)
			CHECK(inner[8] == 63 && dp_cksum(inner, 20, 0) == 0xFFFF && memcmp(inner + 20, hub.b + 34, hub.len - 34) == 0);
	}
	test_out_free(&o);

	/* 12d. the router's own packets, written by the kernel on a TAP, meet the outbound policies
	 * like forwarded ones: a protected one leaves encrypted, by the port the ESP packet's own route
	 * picks whichever TAP it came down, and it is not a hop (TTL 1 goes, and stays 1); its IKE
	 * (port 500, or 4500 with the non-ESP marker) is not protected (the policy counts it as
	 * selected), but UDP 4500 without the marker is; a discarded one is dropped, IKE or not; one
	 * no policy selects, and ARP, leave as they came */
	struct frame own[8];
	mk4(&own[0], 2, "10.0.2.1", "172.16.5.5", 1, 17, 33000, 7, 100, false);
	mk4(&own[1], 2, "10.0.2.1", "172.16.5.5", 64, 17, 500, 500, 300, false);   /* IKE */
	mk4(&own[2], 2, "10.0.2.1", "172.16.66.1", 64, 17, 33000, 7, 10, false);
	mk4(&own[3], 2, "10.0.2.1", "10.0.2.9", 64, 17, 33000, 7, 10, false);
	mk4(&own[4], 2, "10.0.2.1", "172.16.5.5", 64, 17, 4500, 4500, 40, false);  /* ESP in UDP: no IKE */
	mk4(&own[5], 2, "10.0.2.1", "172.16.5.5", 64, 17, 4500, 4500, 40, false);
	memset(own[5].b + 42, 0, 4);                                                  /* IKE: non-ESP marker */
	mk4(&own[6], 2, "10.0.2.1", "172.16.66.1", 64, 17, 500, 500, 10, false);    /* IKE, discarded */
	eth_hdr(&own[7], 2, 0x0806);                                                  /* ARP */
	memset(own[7].b + 14, 0, 28);
	own[7].len = 42;
	for (int i = 0; i < 8; i++)
		as_kernel(&own[i], 2);
	uint64_t sa1_own = C->sa[1].pkts, hit5 = C->sp_hits[DP_SP_OUT][5], inj = C->port[2].inject_pkts;
	disc = drops(DP_DROP_IPSEC_DISCARD);
	run_via(2, own, 8, &o, true);
	CHECK(o.n[0] == 2 && o.n[1] == 0 && o.n[2] == 4 && o.ntap[2] == 0);
	if (o.n[0] == 2) {
		for (int k = 0; k < 2; k++) {
			const struct frame *want = &own[k ? 4 : 0];
			CHECK(data(o.m[0][k])[14 + 9] == 50 && memcmp(data(o.m[0][k]), MAC_PEER[0], 6) == 0);
			uint32_t got = peer_open(peer_in, o.m[0][k], inner);
			CHECK(got == want->len - 14 && memcmp(inner, want->b + 14, want->len - 14) == 0);
		}
	}
	static const int clear[4] = {1, 3, 5, 7};
	for (unsigned k = 0; k < o.n[2] && k < 4; k++)
		CHECK(o.m[2][k]->pkt_len == own[clear[k]].len && memcmp(data(o.m[2][k]), own[clear[k]].b, own[clear[k]].len) == 0);
	CHECK(C->sa[1].pkts == sa1_own + 2 && C->sp_hits[DP_SP_OUT][5] == hit5 + 4);
	CHECK(drops(DP_DROP_IPSEC_DISCARD) == disc + 2 && C->port[2].inject_pkts == inj + 8);
	test_out_free(&o);
	/* down another port's TAP: the same; over the tunnel's MTU without DF: encrypted too; with DF:
	 * "too big" up the TAP it came down, from its destination to the kernel's MAC (its source) */
	struct frame own_big[3];
	mk4(&own_big[0], 1, "10.0.2.1", "172.16.5.5", 64, 17, 33000, 7, 100, false);
	mk4(&own_big[1], 1, "10.0.2.1", "172.16.5.5", 64, 17, 33000, 7, 1400, false);
	mk4(&own_big[2], 1, "10.0.2.1", "172.16.5.5", 64, 17, 33000, 7, 1400, true);
	for (int i = 0; i < 3; i++)
		as_kernel(&own_big[i], 1);
	big = drops(DP_DROP_TOO_BIG);
	run_via(1, own_big, 3, &o, true);
	CHECK(o.n[0] == 2 && o.n[1] == 0 && o.n[2] == 0 && o.ntap[1] == 1 && drops(DP_DROP_TOO_BIG) == big + 1);
	for (unsigned k = 0; k < o.n[0] && k < 2; k++)
		CHECK(peer_open(peer_in, o.m[0][k], inner) == own_big[k].len - 14);
	if (o.ntap[1] == 1) {
		const uint8_t *d = data(o.tap[1][0]);
		const uint8_t *ip = d + 14, *ic = ip + 20;
		uint16_t tot = (uint16_t)(ip[2] << 8 | ip[3]);
		CHECK(memcmp(d, MAC_PORT[1], 6) == 0 && memcmp(d + 6, MAC_PEER[1], 6) == 0 && d[12] == 0x08);
		CHECK(ip[9] == 1 && dp_cksum(ip, 20, 0) == 0xFFFF && tot + 14u == o.tap[1][0]->pkt_len);
		CHECK(memcmp(ip + 12, own_big[2].b + 14 + 16, 4) == 0 && memcmp(ip + 16, own_big[2].b + 14 + 12, 4) == 0);
		CHECK(ic[0] == 3 && ic[1] == 4 && (ic[6] << 8 | ic[7]) == 1400 && dp_cksum(ic, tot - 20u, 0) == 0xFFFF);
		CHECK(memcmp(ic + 8, own_big[2].b + 14, 28) == 0); /* quotes the packet as it was sent */
	}
	test_out_free(&o);

	/* more than a burst written at once: every one encrypted */
	{
		struct frame one;
		mk4(&one, 2, "10.0.2.1", "172.16.5.5", 64, 17, 33000, 7, 20, false);
		as_kernel(&one, 2);
		struct rte_mbuf *many[40], *got[64];
		for (int i = 0; i < 40; i++)
			many[i] = to_mbuf(&one);
		uint64_t sa1_many = C->sa[1].pkts;
		dp_worker_inject(&W, 2, many, 40);
		dp_worker_flush(&W);
		unsigned k = rte_ring_dequeue_burst(P[0].tx, (void **)got, 64, NULL);
		CHECK(k == 40 && C->sa[1].pkts == sa1_many + 40);
		for (unsigned i = 0; i < k; i++) {
			CHECK(data(got[i])[14 + 9] == 50);
			rte_pktmbuf_free(got[i]);
		}
	}

	/* 12d'. the same for IPv6 (an IPv6 SA in tunnel 1, an IPv6 protect policy): encrypted with its
	 * hop limit as sent; over the tunnel's MTU, ICMPv6 "packet too big" up the TAP from its
	 * destination; a link-local source is not sent into the tunnel */
	sa_conf(&c, 0x1008, false, "192.0.2.1", "198.51.200.2", 0x88);
	c.inner_family = 6;
	CHECK(add_sa(8, 50, 1, &c) == DP_OK);
	struct ipsec_esp_sa *peer_in6;
	sa_conf(&c, 0x1008, true, "192.0.2.1", "198.51.200.2", 0x88);
	c.inner_family = 6;
	CHECK(ipsec_esp_sa_create(&CR, &c, &peer_in6, err, sizeof err) == 0);
	struct dp_tunnel tun6 = {.mtu = {1400, 1280 - 1}, .out_sa = {1, 8}};
	CHECK(dp_tunnel_set(T, 1, &tun6, err, sizeof err) == DP_EINVAL && strstr(err, "IPv6 is below 1280"));
	tun6.mtu[1] = 1350; /* each family its own: IPv4 1400, IPv6 1350 */
	CHECK(dp_tunnel_set(T, 1, &tun6, err, sizeof err) == DP_OK);
	struct dp_sp out6[4];
	memcpy(out6, out, sizeof out);
	memset(&out6[3], 0, sizeof out6[3]);
	out6[3].id = 8;
	out6[3].family = 6;
	ip6(out6[3].dst, "2001:db8:77::"); /* from anywhere (link-local sources too) */
	out6[3].dst_len = 48;
	out6[3].proto_any = 1;
	out6[3].action = DP_SP_PROTECT;
	out6[3].tunnel = 1;
	out6[3].sport_hi = out6[3].dport_hi = 0xFFFF;
	CHECK(dp_spd_set(T, DP_SP_OUT, out6, 4, err, sizeof err) == DP_OK);
	struct frame own6[3];
	mk6(&own6[0], 2, "fd00:2::1", "2001:db8:77::5", 1, 100);
	mk6(&own6[1], 2, "fd00:2::1", "2001:db8:77::5", 64, 1400);
	mk6(&own6[2], 2, "fe80::1", "2001:db8:77::5", 64, 10);
	for (int i = 0; i < 3; i++)
		as_kernel(&own6[i], 2);
	big = drops(DP_DROP_TOO_BIG);
	uint64_t ll_own = drops(DP_DROP_IP6_BAD_SOURCE);
	run_via(2, own6, 3, &o, true);
	CHECK(o.n[0] == 1 && o.n[1] + o.n[2] == 0 && o.ntap[2] == 1 && C->sa[8].pkts == 1);
	CHECK(drops(DP_DROP_TOO_BIG) == big + 1 && drops(DP_DROP_IP6_BAD_SOURCE) == ll_own + 1);
	if (o.n[0] == 1) {
		uint32_t got = peer_open(peer_in6, o.m[0][0], inner);
		CHECK(got == own6[0].len - 14 && memcmp(inner, own6[0].b + 14, own6[0].len - 14) == 0);
	}
	if (o.ntap[2] == 1) {
		const uint8_t *d = data(o.tap[2][0]);
		const uint8_t *ip = d + 14, *ic = ip + 40;
		uint16_t pl = (uint16_t)(ip[4] << 8 | ip[5]);
		CHECK(memcmp(d, MAC_PORT[2], 6) == 0 && memcmp(d + 6, MAC_PEER[2], 6) == 0 && d[12] == 0x86 && d[13] == 0xDD);
		CHECK(ip[6] == 58 && 14u + 40 + pl == o.tap[2][0]->pkt_len && pl <= 1280 - 40);
		CHECK(memcmp(ip + 8, own6[1].b + 14 + 24, 16) == 0 && memcmp(ip + 24, own6[1].b + 14 + 8, 16) == 0);
		uint32_t sum = dp_cksum(ip + 8, 32, 0) + pl + 58;
		CHECK(ic[0] == 2 && ic[1] == 0 && (uint32_t)(ic[4] << 24 | ic[5] << 16 | ic[6] << 8 | ic[7]) == 1350);
		CHECK(dp_cksum(ic, pl, sum) == 0xFFFF && memcmp(ic + 8, own6[1].b + 14, 48) == 0);
	}
	test_out_free(&o);
	/* IPv4 keeps its own 1400: 1368 bytes with DF go through */
	mk4(&own6[0], 2, "10.0.2.1", "172.16.5.5", 64, 17, 33000, 7, 1340, true);
	as_kernel(&own6[0], 2);
	run_via(2, own6, 1, &o, true);
	CHECK(o.n[0] == 1 && o.ntap[2] == 0);
	test_out_free(&o);
	/* a forwarded one from a link-local source is not sent into the tunnel either */
	ll_own = drops(DP_DROP_IP6_BAD_SOURCE);
	uint64_t sa8 = C->sa[8].pkts;
	mk6(&own6[0], 2, "fe80::9", "2001:db8:77::5", 64, 10);
	run(2, own6, 1, &o);
	CHECK(o.n[0] + o.n[1] + o.n[2] == 0 && drops(DP_DROP_IP6_BAD_SOURCE) == ll_own + 1 && C->sa[8].pkts == sa8);
	test_out_free(&o);
	CHECK(dp_spd_set(T, DP_SP_OUT, out, 3, err, sizeof err) == DP_OK);
	CHECK(dp_tunnel_set(T, 1, &tun, err, sizeof err) == DP_OK);
	CHECK(dp_sa_delete(T, 8, err, sizeof err) == DP_OK);
	ipsec_esp_sa_destroy(peer_in6);

	/* 12e. IKE in the clear to us passes the inbound policy that refuses the same packet to anyone
	 * else -- also right behind a packet that went to the same next hop (the adjacency run) --
	 * but not UDP 4500 without the non-ESP marker, nor any other port to us */
	route4(0, "10.0.2.1", 32, 10);
	struct frame ike[5];
	mk4(&ike[0], 0, "172.17.0.1", "10.0.2.8", 64, 17, 1, 2, 10, false);        /* no policy */
	mk4(&ike[1], 0, "172.16.5.5", "10.0.2.9", 64, 17, 500, 500, 10, false);    /* IKE, not to us */
	mk4(&ike[2], 0, "172.16.5.5", "10.0.2.1", 64, 17, 4500, 4500, 10, false);  /* IKE to us */
	memset(ike[2].b + 42, 0, 4);                                                /* non-ESP marker */
	mk4(&ike[3], 0, "172.16.5.5", "10.0.2.1", 64, 17, 500, 501, 10, false);    /* not IKE, to us */
	mk4(&ike[4], 0, "172.16.5.5", "10.0.2.1", 64, 17, 4500, 4500, 10, false);  /* no marker: no IKE */
	pol = drops(DP_DROP_IPSEC_POLICY);
	run(0, ike, 5, &o);
	CHECK(o.n[2] == 1 && o.ntap[0] == 1 && o.n[0] + o.n[1] == 0 && drops(DP_DROP_IPSEC_POLICY) == pol + 3);
	if (o.ntap[0] == 1)
		CHECK(o.tap[0][0]->pkt_len == ike[2].len && memcmp(data(o.tap[0][0]), ike[2].b, ike[2].len) == 0);
	if (o.n[2] == 1)
		CHECK(data(o.m[2][0])[14 + 19] == 8);
	test_out_free(&o);
	/* ESP and AH to us that no SA has are no plaintext for the policy: counted as ipsec_no_sa
	 * (the SA is what is missing), and not punted; to another host the policy refuses them */
	struct frame esp[3];
	mk4(&esp[0], 0, "172.16.5.5", "10.0.2.1", 64, 50, 0x4242, 0x0001, 40, false);
	mk4(&esp[1], 0, "172.16.5.5", "10.0.2.1", 64, 51, 0x0404, 0x4242, 40, false);
	esp[1].b[14 + 20 + 1] = 4; /* AH payload length: a 24-byte header */
	mk4(&esp[2], 0, "172.16.5.5", "10.0.2.9", 64, 50, 0x4242, 0x0001, 40, false);
	nosa = drops(DP_DROP_IPSEC_NO_SA);
	pol = drops(DP_DROP_IPSEC_POLICY);
	run(0, esp, 3, &o);
	CHECK(o.ntap[0] == 0 && o.n[0] + o.n[1] + o.n[2] == 0);
	CHECK(drops(DP_DROP_IPSEC_NO_SA) == nosa + 2 && drops(DP_DROP_IPSEC_POLICY) == pol + 1);
	test_out_free(&o);
	/* ... and a discard policy discards IKE to us too */
	struct dp_sp in2[2];
	sp4(&in2[0], 7, "172.16.66.0", 24, "0.0.0.0", 0, DP_SP_DISCARD, 0);
	in2[1] = in[0];
	CHECK(dp_spd_set(T, DP_SP_IN, in2, 2, err, sizeof err) == DP_OK);
	mk4(&ike[0], 0, "172.16.66.6", "10.0.2.1", 64, 17, 500, 500, 10, false);
	disc = drops(DP_DROP_IPSEC_DISCARD);
	run(0, ike, 1, &o);
	CHECK(o.ntap[0] == 0 && drops(DP_DROP_IPSEC_DISCARD) == disc + 1);
	test_out_free(&o);
	CHECK(dp_spd_set(T, DP_SP_IN, in, 1, err, sizeof err) == DP_OK);
	/* an IKE daemon on other ports: those are IKE now, 500 is not */
	CHECK(dp_ipsec_set_ike_ports(T, 4600, 4600) == DP_EINVAL && dp_ipsec_set_ike_ports(T, 0, 4600) == DP_EINVAL);
	CHECK(dp_ipsec_set_ike_ports(T, 600, 4600) == DP_OK);
	mk4(&ike[0], 0, "172.16.5.5", "10.0.2.1", 64, 17, 600, 600, 10, false);
	mk4(&ike[1], 0, "172.16.5.5", "10.0.2.1", 64, 17, 500, 500, 10, false);
	pol = drops(DP_DROP_IPSEC_POLICY);
	run(0, ike, 2, &o);
	CHECK(o.ntap[0] == 1 && drops(DP_DROP_IPSEC_POLICY) == pol + 1);
	if (o.ntap[0] == 1)
		CHECK(memcmp(data(o.tap[0][0]), ike[0].b, ike[0].len) == 0);
	test_out_free(&o);
	mk4(&ike[0], 2, "10.0.2.1", "172.16.5.5", 64, 17, 600, 600, 10, false);
	mk4(&ike[1], 2, "10.0.2.1", "172.16.5.5", 64, 17, 500, 500, 10, false);
	as_kernel(&ike[0], 2);
	as_kernel(&ike[1], 2);
	run_via(2, ike, 2, &o, true);
	CHECK(o.n[2] == 1 && o.n[0] == 1); /* 600 in the clear, 500 encrypted */
	if (o.n[2] == 1)
		CHECK(memcmp(data(o.m[2][0]), ike[0].b, ike[0].len) == 0);
	test_out_free(&o);
	CHECK(dp_ipsec_set_ike_ports(T, 500, 4500) == DP_OK);
	/* 12f. a link-local source is not sent into a tunnel (the route of step 10) either */
	uint64_t ll = drops(DP_DROP_IP6_BAD_SOURCE);
	struct frame ll6;
	mk6(&ll6, 2, "fe80::9", "2001:db8:77::1", 64, 10);
	run(2, &ll6, 1, &o);
	CHECK(o.n[0] + o.n[1] + o.n[2] == 0 && drops(DP_DROP_IP6_BAD_SOURCE) == ll + 1);
	test_out_free(&o);

	CHECK(dp_sa_delete(T, 2, err, sizeof err) == DP_OK);
	nosa = drops(DP_DROP_IPSEC_NO_SA);
	peer_send(peer_out, false, &f, &burst[0]);
	peer_send(peer4, false, &f, &burst[1]);
	run(0, burst, 2, &o);
	CHECK(o.n[2] == 1 && drops(DP_DROP_IPSEC_NO_SA) == nosa + 1 && C->sa[4].pkts == 3);
	test_out_free(&o);

	/* 13. AH inbound (tunnel 1): the parser finds the AH header, the SA verifies it */
	sa_conf(&c, 0x5005, true, "198.51.200.2", "192.0.2.1", 0);
	c.cipher = 0;
	c.auth = IPSEC_AUTH_HMAC_SHA256_128;
	memset(c.auth_key, 0x55, 32);
	c.auth_key_len = 32;
	CHECK(add_sa(5, 51, 1, &c) == DP_OK);
	struct ipsec_ah_sa *peer_ah;
	c.inbound = false;
	CHECK(ipsec_ah_sa_create(&CR, &c, &peer_ah, err, sizeof err) == 0);
	peer_send(peer_ah, true, &f, &e);
	CHECK(e.b[14 + 9] == 51);
	run(0, &e, 1, &o);
	CHECK(o.n[2] == 1 && C->sa[5].pkts == 1);
	if (o.n[2] == 1)
		CHECK(memcmp(data(o.m[2][0]) + 34, f.b + 34, f.len - 34) == 0);
	test_out_free(&o);

	/* 14. lifetimes: the control plane's clock expires SA 4; a packet limit on a new outbound SA */
	CHECK(dp_sa_expire(T, 4) == DP_OK);
	uint64_t exp = drops(DP_DROP_IPSEC_EXPIRED);
	peer_send(peer4, false, &f, &e);
	run(0, &e, 1, &o);
	CHECK(o.n[2] == 0 && drops(DP_DROP_IPSEC_EXPIRED) == exp + 1);
	test_out_free(&o);
	struct ipsec_sa_stats st;
	CHECK(dp_sa_stats(T, 4, &st) == DP_OK && st.hard_expired && st.packets == 3);
	sa_conf(&c, 0x1006, false, "192.0.2.1", "198.51.200.2", 0x66);
	c.life.hard_packets = 2;
	CHECK(add_sa(6, 50, 1, &c) == DP_OK);
	tun.out_sa[0] = 6;
	CHECK(dp_tunnel_set(T, 1, &tun, err, sizeof err) == DP_OK);
	struct frame three[3];
	for (int i = 0; i < 3; i++)
		mk4(&three[i], 2, "10.0.2.9", "172.16.5.5", 64, 17, 1, 2, 10, false);
	run(2, three, 3, &o);
	CHECK(o.n[0] == 2 && drops(DP_DROP_IPSEC_EXPIRED) == exp + 2 && C->sa[6].pkts == 2 && C->sa[6].other == 1);
	test_out_free(&o);

	/* 15. bad writer input changes nothing */
	CHECK(dp_sa_delete(T, 6, err, sizeof err) == DP_EBUSY);  /* tunnel 1's outbound SA */
	CHECK(strstr(err, "tunnel 1") != NULL);
	sa_conf(&c, 0x2004, true, "198.51.200.9", "192.0.2.1", 0x77);
	CHECK(add_sa(7, 50, 1, &c) == DP_EBUSY);                 /* inbound SPI 0x2004 is SA 4's */
	CHECK(add_sa(4, 50, 1, &c) == DP_EBUSY);                 /* id in use */
	c.spi = 0x7007;
	c.key_len = 15;
	CHECK(add_sa(7, 50, 1, &c) == DP_EINVAL && DP_LOAD(T->ipsec->sa[7]) == NULL);
	struct dp_tunnel bad = {.mtu = {1400, 1400}, .out_sa = {4, DP_ID_NONE}};   /* inbound SA as outbound */
	CHECK(dp_tunnel_set(T, 2, &bad, err, sizeof err) == DP_EINVAL);
	bad.out_sa[0] = DP_ID_NONE, bad.out_sa[1] = 6;                     /* IPv4 SA in the IPv6 slot */
	CHECK(dp_tunnel_set(T, 2, &bad, err, sizeof err) == DP_EINVAL && DP_LOAD(T->ipsec->tun[2]) == NULL);
	struct dp_sp bad_sp;
	sp4(&bad_sp, 9, "10.0.2.1", 24, "0.0.0.0", 0, DP_SP_DISCARD, 0);   /* host bits */
	CHECK(dp_spd_set(T, DP_SP_OUT, &bad_sp, 1, err, sizeof err) == DP_EINVAL);
	CHECK(DP_LOAD(T->ipsec->spd[DP_SP_OUT])->n == 3);

	ipsec_esp_sa_destroy(peer_out);
	ipsec_esp_sa_destroy(peer_in);
	ipsec_esp_sa_destroy(peer3);
	ipsec_esp_sa_destroy(peer4);
	ipsec_ah_sa_destroy(peer_ah);
}

/* dp_cksum (word-wise) against RFC 1071's definition, byte pair by byte pair: every length from
 * 0 to 97 at every alignment 0..7, random bytes and starting sums, plus all-zero and all-0xFF */
static void test_cksum(void)
{
	static uint8_t buf[128];
	unsigned bad = 0, n = 0;
	for (int round = 0; round < 3; round++) {
		for (unsigned i = 0; i < sizeof buf; i++)
			buf[i] = round == 0 ? 0 : round == 1 ? 0xFF : (uint8_t)rnd();
		for (unsigned off = 0; off < 8; off++) {
			for (unsigned len = 0; len <= 97; len++) {
				uint32_t init = round == 2 ? (uint32_t)rnd() % 0x30000u : round == 1 ? 0xFFFF : 0;
				uint32_t ref = init;
				for (unsigned k = 0; k + 1 < len; k += 2)
					ref += (uint32_t)buf[off + k] << 8 | buf[off + k + 1];
				if (len & 1)
					ref += (uint32_t)buf[off + len - 1] << 8;
				while (ref >> 16)
					ref = (ref & 0xFFFF) + (ref >> 16);
				bad += dp_cksum(buf + off, len, init) != ref;
				n++;
			}
		}
	}
	CHECK(bad == 0);
	printf("cksum: %u of %u sums differ from the definition\n", bad, n);
}

/* dp_ip4_hdr20_ok (one multiplication) against dp_cksum on 20-byte IPv4 headers: valid ones,
 * ones with a bit or a byte changed, random ones, and the sums next to multiples of 65535 (all
 * 0xFF but the version byte, a header summing to 0xFFFF with every word but one zero); and the
 * protocol table against the protocols that carry ports and the ones the fast parse declines. */
static void test_hdr20(void)
{
	unsigned n = 0, bad = 0, valid = 0;
	for (unsigned round = 0; round < 1000000; round++) {
		uint8_t h[20];
		for (unsigned i = 0; i < 20; i++)
			h[i] = (uint8_t)rnd();
		h[0] = 0x45;
		if (round % 5 == 1)
			memset(h + 1, 0xFF, 19);
		if (round % 5 == 2) {
			memset(h + 1, 0, 19);
			h[10] = (uint8_t)rnd(), h[11] = (uint8_t)rnd();
		}
		if (round % 5 != 4) { /* make it valid, then maybe break it */
			h[10] = h[11] = 0;
			uint16_t ck = (uint16_t)~dp_cksum(h, 20, 0);
			h[10] = (uint8_t)(ck >> 8), h[11] = (uint8_t)ck;
			if (round % 3 == 1)
				h[1 + rnd() % 19] ^= (uint8_t)(1u << (rnd() % 8));
			else if (round % 3 == 2)
				h[1 + rnd() % 19] = (uint8_t)rnd();
		}
		bool ref = dp_cksum(h, 20, 0) == 0xFFFF;
		valid += ref;
		bad += dp_ip4_hdr20_ok(h) != ref;
		n++;
	}
	CHECK(bad == 0);
	CHECK(valid > 200000 && valid < n); /* both outcomes, many times */
	unsigned tbl = 0;
	for (unsigned pr = 0; pr < 256; pr++) {
		bool decl = pr == 1 || pr == 51 || pr == 58, ports = pr == 6 || pr == 17 || pr == 132 || pr == 136;
		tbl += dp_proto_has_ports((uint8_t)pr) != ports || !!(dp_fast_proto[pr] & DP_FAST_DECLINE) != decl;
	}
	CHECK(tbl == 0);
	printf("hdr20: %u of %u header checks differ from dp_cksum (%u valid); %u protocol table entries wrong\n", bad, n,
	       valid, tbl);
}

/* dp_pkt_parse_fast4 against dp_pkt_parse: on valid frames of every kind and on mutations of
 * them, the fast path either declines (leaving p as it was) or gives dp_pkt_parse's result
 * field for field; it must take the plain IPv4 frames it exists for. */
static void test_parse_fast(void)
{
	static const uint8_t protos[] = {17, 6, 132, 136, 1, 58, 50, 51, 47, 4};
	const uint8_t *mac = MAC_PORT[0];
	unsigned taken = 0, declined = 0, plain = 0, plain_taken = 0, diff = 0, touched = 0;
	unsigned l3_taken = 0, l3_diff = 0, l3_touched = 0;
	for (unsigned round = 0; round < 200000; round++) {
		uint8_t f[128];
		memset(f, 0, sizeof f);
		memcpy(f, mac, 6);
		memcpy(f + 6, MAC_PEER[0], 6);
		f[12] = 0x08;
		uint8_t *h = f + 14;
		uint32_t tot = 20 + rnd() % 60;
		uint8_t proto = protos[rnd() % sizeof protos];
		h[0] = 0x45;
		h[1] = (uint8_t)rnd();
		h[2] = (uint8_t)(tot >> 8), h[3] = (uint8_t)tot;
		h[6] = rnd() % 2 ? 0x40 : 0;
		h[8] = (uint8_t)rnd();
		h[9] = proto;
		uint32_t src = 0x0A000000u | (rnd() & 0xFFFFFF), dst = 0xC0000000u | (rnd() & 0xFFFFFF);
		for (int b = 0; b < 4; b++)
			h[12 + b] = (uint8_t)(src >> (24 - 8 * b)), h[16 + b] = (uint8_t)(dst >> (24 - 8 * b));
		for (unsigned b = 20; b < tot; b++)
			h[b] = (uint8_t)rnd();
		uint16_t ck = (uint16_t)~dp_cksum(h, 20, 0);
		h[10] = (uint8_t)(ck >> 8), h[11] = (uint8_t)ck;
		uint32_t len = 14 + tot + rnd() % 8; /* Ethernet padding */
		uint32_t max_l3 = rnd() % 8 ? 1500 : 20 + rnd() % 80;
		bool hw_ok = rnd() % 4 == 0;
		bool mutated = round % 4 != 0;
		if (mutated) { /* a few bytes anywhere in the headers, or the length */
			for (unsigned k = 1 + rnd() % 3; k; k--) {
				unsigned at = rnd() % 40;
				if (rnd() % 2)
					f[at] ^= (uint8_t)(1u << (rnd() % 8));
				else
					f[at] = (uint8_t)rnd();
			}
			if (rnd() % 8 == 0)
				len = rnd() % (14 + tot + 1);
		}
		struct dp_pkt ref, fast;
		dp_pkt_parse(&ref, f, len, mac, max_l3, hw_ok);
		memset(&fast, 0xA5, sizeof fast);
		struct dp_pkt untouched;
		memset(&untouched, 0xA5, sizeof untouched);
		bool ok = dp_pkt_parse_fast4(&fast, f, len, mac, max_l3, hw_ok);
		bool is_plain = !mutated && ref.cls == DP_PKT_IP4 && proto != 1 && proto != 58 && proto != 51 && tot <= max_l3;
		/* the L3 form (decrypted packets) on the same IP bytes, against the full parse of them
		 * behind a clean Ethernet header */
		if (len >= 14) {
			uint8_t g[128];
			memcpy(g, f, sizeof g);
			memcpy(g, mac, 6);
			memcpy(g + 6, MAC_PEER[0], 6);
			g[12] = 0x08, g[13] = 0x00;
			struct dp_pkt ref3, l3;
			dp_pkt_parse(&ref3, g, len, mac, max_l3, hw_ok);
			memset(&l3, 0xA5, sizeof l3);
			if (dp_pkt_parse_fast4_l3(&l3, f + 14, len - 14, max_l3, hw_ok)) {
				l3_taken++;
				l3.l2_len = (uint8_t)(l3.l2_len + 14);
				l3.l4_off = (uint16_t)(l3.l4_off + 14);
				l3_diff += !pkt_same(&ref3, &l3);
			} else {
				l3_diff += is_plain; /* a plain packet must be taken at L3 too */
				l3_touched += memcmp(&l3, &untouched, sizeof l3) != 0;
			}
		}
		plain += is_plain;
		if (ok) {
			taken++;
			plain_taken += is_plain;
			if (!pkt_same(&ref, &fast))
				diff++;
		} else {
			declined++;
			if (memcmp(&fast, &untouched, sizeof fast) != 0)
				touched++;
		}
	}
	CHECK(diff == 0);
	CHECK(touched == 0);
	CHECK(plain > 10000 && plain_taken == plain); /* it takes every plain frame... */
	CHECK(declined > 50000);                       /* ...and declines the rest */
	CHECK(l3_diff == 0 && l3_touched == 0 && l3_taken > taken);
	printf("parse fast path at L3: %u packets taken, %u differ from dp_pkt_parse or a plain one declined, %u declined "
	       "but wrote\n",
	       l3_taken, l3_diff, l3_touched);
	printf("parse fast path: %u frames taken (%u of %u plain ones), %u declined; %u differ from dp_pkt_parse, %u declined "
	       "but wrote\n",
	       taken, plain_taken, plain, declined, diff, touched);
}

/* The compiled policy matcher (dp_ipsec_rt_spd over dp_spd_set's dp_sp_match) against the
 * definition of a selector, on random policy sets and packets drawn near their prefixes. */
static bool bits_match(const uint8_t *a, const uint8_t *pfx, unsigned len)
{
	for (unsigned b = 0; b < len; b++)
		if (((a[b / 8] ^ pfx[b / 8]) >> (7 - b % 8)) & 1)
			return false;
	return true;
}

static const struct dp_sp *spd_ref(const struct dp_sp *sp, unsigned n, const struct dp_pkt *p, int family,
                                   const uint8_t *src, const uint8_t *dst)
{
	for (unsigned i = 0; i < n; i++) {
		const struct dp_sp *r = &sp[i];
		if (r->family != family || (!r->proto_any && r->proto != p->proto))
			continue;
		bool any_ports = r->sport_lo == 0 && r->sport_hi == 0xFFFF && r->dport_lo == 0 && r->dport_hi == 0xFFFF;
		/* a packet without ports (a non-first fragment: OPAQUE) only by policies without ranges */
		if (!any_ports && (!(p->flags & DP_PKT_F_PORTS) || p->sport < r->sport_lo || p->sport > r->sport_hi ||
		                   p->dport < r->dport_lo || p->dport > r->dport_hi))
			continue;
		if (!bits_match(src, r->src, r->src_len) || !bits_match(dst, r->dst, r->dst_len))
			continue;
		return r;
	}
	return NULL;
}

static void random_prefix(uint8_t *a, unsigned bytes, unsigned len)
{
	for (unsigned i = 0; i < bytes; i++)
		a[i] = (uint8_t)rnd();
	for (unsigned b = len; b < bytes * 8; b++)
		a[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
}

static void test_spd_match(void)
{
	struct dp_tables *t = dp_tables_create(NULL);
	CHECK(t && dp_ipsec_attach(t, &CR) == DP_OK);
	if (!t)
		return;
	static const uint8_t protos[] = {6, 17, 1, 50};
	char err[128];
	unsigned checked = 0, wrong = 0, matched = 0;
	for (unsigned set = 0; set < 300; set++) {
		struct dp_sp sp[12];
		unsigned n = 1 + rnd() % 12;
		for (unsigned i = 0; i < n; i++) {
			struct dp_sp *r = &sp[i];
			memset(r, 0, sizeof *r);
			r->id = i;
			r->family = rnd() % 3 ? 4 : 6;
			unsigned bytes = r->family == 4 ? 4 : 16, bits = bytes * 8;
			r->src_len = (uint8_t)(rnd() % 3 ? rnd() % (bits + 1) : 0);
			r->dst_len = (uint8_t)(rnd() % (bits + 1));
			random_prefix(r->src, bytes, r->src_len);
			random_prefix(r->dst, bytes, r->dst_len);
			r->proto_any = rnd() % 2;
			r->proto = protos[rnd() % sizeof protos];
			r->action = (uint8_t)(rnd() % 3);
			r->sport_hi = r->dport_hi = 0xFFFF;
			if (rnd() % 3 == 0) {
				r->sport_lo = (uint16_t)(rnd() % 3 ? 0 : rnd() % 2000);
				r->sport_hi = (uint16_t)(r->sport_lo + rnd() % 3000);
				r->dport_lo = (uint16_t)(rnd() % 2000);
				r->dport_hi = (uint16_t)(r->dport_lo + rnd() % 100);
			}
		}
		if (dp_spd_set(t, DP_SP_OUT, sp, n, err, sizeof err) != DP_OK) {
			FAIL("dp_spd_set: %s", err);
			break;
		}
		const struct dp_spd *spd = DP_LOAD(t->ipsec->spd[DP_SP_OUT]);
		for (unsigned k = 0; k < 200; k++) {
			const struct dp_sp *near = &sp[rnd() % n];
			int family = rnd() % 8 ? near->family : near->family == 4 ? 6 : 4;
			unsigned bytes = family == 4 ? 4 : 16;
			uint8_t src[16], dst[16];
			for (unsigned b = 0; b < 16; b++)
				src[b] = (uint8_t)rnd(), dst[b] = (uint8_t)rnd();
			if (family == near->family) { /* inside its prefixes, but for a bit flipped now and then */
				for (unsigned b = 0; b < near->src_len; b++)
					src[b / 8] = (uint8_t)((src[b / 8] & ~(0x80 >> (b % 8))) | (near->src[b / 8] & (0x80 >> (b % 8))));
				for (unsigned b = 0; b < near->dst_len; b++)
					dst[b / 8] = (uint8_t)((dst[b / 8] & ~(0x80 >> (b % 8))) | (near->dst[b / 8] & (0x80 >> (b % 8))));
				if (rnd() % 4 == 0)
					(rnd() % 2 ? src : dst)[rnd() % bytes] ^= (uint8_t)(1u << (rnd() % 8));
			}
			struct dp_pkt p;
			memset(&p, 0, sizeof p);
			p.cls = family == 4 ? DP_PKT_IP4 : DP_PKT_IP6;
			p.proto = rnd() % 2 ? near->proto : protos[rnd() % sizeof protos];
			if (rnd() % 4) {
				p.flags = DP_PKT_F_PORTS;
				p.sport = (uint16_t)(rnd() % 2 ? near->sport_lo + rnd() % 50 : rnd());
				p.dport = (uint16_t)(rnd() % 2 ? near->dport_lo + rnd() % 50 : rnd());
			} else if (rnd() % 2) {
				p.flags = DP_PKT_F_FRAG | DP_PKT_F_FRAG_LATER;
			}
			if (family == 4) {
				p.src4 = (uint32_t)src[0] << 24 | (uint32_t)src[1] << 16 | (uint32_t)src[2] << 8 | src[3];
				p.dst4 = (uint32_t)dst[0] << 24 | (uint32_t)dst[1] << 16 | (uint32_t)dst[2] << 8 | dst[3];
			} else {
				p.src6 = src;
				p.dst6 = dst;
			}
			const struct dp_sp *want = spd_ref(sp, n, &p, family, src, dst);
			const struct dp_sp *got = dp_ipsec_rt_spd(spd, &p, family);
			checked++;
			matched += want != NULL;
			if ((want ? (int)want->id : -1) != (got ? (int)got->id : -1))
				wrong++;
		}
	}
	CHECK(wrong == 0);
	CHECK(matched > checked / 5 && matched < checked); /* the draw reaches both outcomes */
	printf("policy matcher: %u packets against 300 random policy sets, %u matched a policy, %u differ from the "
	       "definition\n",
	       checked, matched, wrong);
	dp_ipsec_detach(t);
	dp_tables_destroy(t);
}

/* The writer's own grace periods (for ids it gives back): not done while a worker that was online
 * has not been quiescent since the token; done after; an offline worker holds nothing up, and
 * tables without workers are always done. */
static void test_grace(void)
{
	rcu_qsbr_t *rcu = rcu_qsbr_create();
	struct dp_tables *t = dp_tables_create(rcu);
	int r = rcu_qsbr_reader_register(rcu);
	CHECK(t && r >= 0);
	if (!t || r < 0)
		return;
	rcu_qsbr_online(rcu, r);
	uint64_t tok = dp_tables_grace_start(t);
	CHECK(tok != 0 && !dp_tables_grace_done(t, tok));
	rcu_qsbr_quiescent(rcu, r);
	CHECK(dp_tables_grace_done(t, tok));
	uint64_t tok2 = dp_tables_grace_start(t);
	CHECK(tok2 > tok && !dp_tables_grace_done(t, tok2));
	rcu_qsbr_offline(rcu, r);
	CHECK(dp_tables_grace_done(t, tok2));
	rcu_qsbr_reader_unregister(rcu, r);
	dp_tables_destroy(t);
	rcu_qsbr_destroy(rcu);
	CHECK(dp_tables_grace_start(T) == 0 && dp_tables_grace_done(T, 0)); /* no rcu domain */
}

int main(int argc, char **argv)
{
	(void)argc;
	if (test_eal_init(argv[0], "256") != 0)
		return 1;
	mp = rte_pktmbuf_pool_create("mp", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	mp_ind = rte_pktmbuf_pool_create("mpi", 1023, 32, 0, 0, 0);
	if (!mp || !mp_ind) {
		fprintf(stderr, "mempool: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	setup_ports();
	setup_tables();
	C = aligned_alloc(64, sizeof(*C));
	memset(C, 0, sizeof(*C));
	dp_worker_init(&W, T, C, mp, mp_ind, 0);
	W.icmp_burst = W.icmp_tokens = 1000;

	test_cksum();
	test_hdr20();
	test_source_aware();
	test_icmp_errors();
	test_punt_and_resolution();
	test_malformed();
	test_ecmp();
	test_mutations();
	test_accounting();
	test_routes_apply();
	test_ipsec_path();
	test_accounting();
	test_parse_fast();
	test_spd_match();

	test_grace();

	dp_ipsec_detach(T);
	dp_tables_destroy(T);
	ipsec_crypto_fini(&CR);
	free(C);
	rte_eal_cleanup();
	return test_summary("test_dp_fwd");
}
