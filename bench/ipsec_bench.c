/*
 * ipsec_bench — ESP tunnel mode through srcfib's packet loop on one lcore,
 * against the raw cryptodev throughput of the same device, algorithms, key
 * sizes and data lengths, in one process.
 *
 *   ipsec_bench [options]
 *     --seconds S   wall time per figure (default 1)
 *     --reps N      figures per cell, best kept; loop and raw interleave (default 3)
 *     --sizes LIST  payloads in bytes, comma separated (default 64,512,1420; 28..1438)
 *     --mem MB      EAL memory (default 1024)
 *     --alg gcm|cbc, --dir encrypt|decrypt   only these cells (for profiling)
 *     --ops         the loop's ESP uses crypto operations (enqueue/dequeue) even where the
 *                   device has a synchronous interface (the default then uses that)
 *     --no-raw      the loop only, for profiling (the raw figures and ratios are then 0)
 *
 * Algorithms: AES-GCM-128 (RFC 4106, 16-byte ICV) and AES-CBC-128 with
 * HMAC-SHA-256-128 (RFC 4868), each encrypt (outbound) and decrypt (inbound).
 *
 * payload: the inner IP packet (IPv4 + UDP), in bytes: what the SA protects.
 * Mpps counts inner packets and Gbps payload bits (payload * 8 per packet),
 * for the loop and for raw alike; Ethernet, outer header and ESP overhead
 * are not counted.
 *
 * Loop: two net_ring ports, dataplane port 0 ("in", where packets are fed)
 * and port 1 ("out"); the source selector's default binding (FIB 0), routes,
 * two adjacencies on port 1.  Tunnel 1 (AES-GCM) and tunnel 2 (AES-CBC +
 * HMAC) run between our 192.0.2.1 and the peers 198.51.100.2 / .3; outbound
 * policies 10.1.0.0/16 -> 172.16.0.0/16 (tunnel 1) and -> 172.17.0.0/16
 * (tunnel 2) PROTECT, inbound policies their mirror images, one outbound and
 * one inbound SA per tunnel (anti-replay window 64).  Encrypt: plaintext
 * 10.1.0.x -> 172.1[67].x.1 frames arrive on port 0, are encrypted and the
 * ESP packets routed out of port 1 by their outer destination.  Decrypt: ESP
 * frames from the peer arrive on port 0, are decrypted, and the inner packets
 * routed out of port 1.
 * Per burst of 32: the feed (allocating fresh mbufs and copying plaintext
 * frames in; for decrypt also encrypting them with a standalone peer SA, so
 * every sequence number is new) and the drain (dequeuing port 1's tx ring,
 * checking the count, freeing) are not timed; rte_eth_rx_burst +
 * dp_worker_rx + dp_worker_flush is, with rte_rdtsc.
 *
 * Sharing the core: a burst during which the thread is switched out would
 * count the other process's time.  Bursts run in chunks of 8; the thread's
 * context switches (getrusage RUSAGE_THREAD, voluntary + involuntary) are read
 * before and after each chunk, outside the timed part, and a chunk during
 * which any happened is discarded (counted: "discarded_bursts").
 *
 * Raw: 32 preformed mbufs laid out as the ESP packet would be (outer IPv4 20,
 * ESP header 8, IV, ciphertext, ICV; the GCM AAD in the tailroom after the
 * ICV, where rte_ipsec puts it).  Per burst, the mbufs' bytes are restored
 * from a pristine image (not timed: decrypt needs valid ciphertext each time);
 * timed: rte_crypto_op_bulk_alloc, per op attach session + offsets + IV (+AAD)
 * + digest, enqueue/dequeue until all 32 are back (ipsec_crypto_run, the loop
 * ESP uses), status check, ops back to their pool.  The lengths are ESP's for
 * that payload:
 *   AES-GCM:  cipher len(payload + 2 rounded up to 4), AAD 8 (SPI, sequence
 *             number), IV 8 in the packet (12 with the salt), ICV 16;
 *   AES-CBC:  cipher len(payload + 2 rounded up to 16), IV 16, HMAC over
 *             ESP header + IV + ciphertext (24 + cipher len), ICV 16.
 *
 * SA alone: the same frames as the loop's, fed the same way, but each burst goes straight to the
 * SA's ipsec_esp_process (our ESP step: replay window, lifetimes, checksums, over rte_ipsec and
 * the device), after rte_eth_rx_burst and the Ethernet header off (not timed): the cost of ESP
 * without reception, parsing, policies, lookups and transmission.  The loop's figure minus this
 * one is what forwarding around ESP costs; this one minus raw is rte_ipsec's and ours in ESP.
 *
 * Checks in passing: every packet fed comes out of port 1 (per burst, else it
 * dies), nothing out of port 0, no drop counter moves, the SA counters count
 * every packet; the first burst of each figure is opened (encrypt: by the
 * peer's inbound SA) or compared (decrypt) against what was sent; raw
 * decrypt verifies each ICV and the first burst's plaintext.
 * Prints one JSON object on stdout (last line); progress on stderr.
 */
#define _GNU_SOURCE
#define ALLOW_EXPERIMENTAL_API 1 /* rte_cryptodev_sym_cpu_crypto_process */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <rte_byteorder.h>
#include <rte_crypto.h>
#include <rte_cryptodev.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_version.h>

#include "bench_common.h"
#include "dp_ipsec.h"
#include "dp_worker.h"

#define BURST 32
#define CHUNK 8 /* bursts between context-switch checks */
#define MAX_SIZES 8
#define TUN_MTU 1438 /* 1438 + worst-case ESP (CBC: 20 + 8 + 16 + 2 rounded + 16) = 1500 */
#define REPLAY_WINDOW 64
#define TARGET_RATIO 0.70
#define TARGET_PAYLOAD 1420

static struct {
	unsigned reps, mem_mb, nsizes;
	unsigned sizes[MAX_SIZES];
	double seconds;
	int alg, dir; /* -1: all */
	bool ops;     /* ESP through crypto operations even where the device is synchronous */
	bool no_raw;  /* the loop only (profiling): no raw figures, no ratios */
} opt = {3, 1024, 3, {64, 512, 1420}, 1.0, -1, -1, false, false};

static void parse_sizes(const char *v)
{
	opt.nsizes = 0;
	char *s = strdup(v), *save = NULL;
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (opt.nsizes == MAX_SIZES)
			die("at most %d sizes", MAX_SIZES);
		char *end;
		unsigned long x = strtoul(tok, &end, 10);
		if (*end || x < 28 || x > TUN_MTU)
			die("size %s out of range (28..%d: an IPv4 + UDP packet within the tunnel MTU)", tok, TUN_MTU);
		opt.sizes[opt.nsizes++] = (unsigned)x;
	}
	free(s);
	if (!opt.nsizes)
		die("--sizes needs at least one size");
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--seconds") && v)
			opt.seconds = atof(v), i++;
		else if (!strcmp(a, "--reps") && v)
			opt.reps = (unsigned)atoi(v), i++;
		else if (!strcmp(a, "--sizes") && v)
			parse_sizes(v), i++;
		else if (!strcmp(a, "--mem") && v)
			opt.mem_mb = (unsigned)atoi(v), i++;
		else if (!strcmp(a, "--alg") && v && (!strcmp(v, "gcm") || !strcmp(v, "cbc")))
			opt.alg = !strcmp(v, "cbc"), i++;
		else if (!strcmp(a, "--dir") && v && (!strcmp(v, "encrypt") || !strcmp(v, "decrypt")))
			opt.dir = !strcmp(v, "decrypt"), i++;
		else if (!strcmp(a, "--ops"))
			opt.ops = true;
		else if (!strcmp(a, "--no-raw"))
			opt.no_raw = true;
		else
			die("unknown or incomplete option %s (see the comment at the top of bench/ipsec_bench.c)", a);
	}
	if (opt.reps < 1 || opt.reps > 100 || opt.seconds <= 0 || opt.seconds > 60 || opt.mem_mb < 128)
		die("option out of range (reps 1..100, seconds (0, 60], mem >= 128)");
}

/* ---- the set-up ---- */

enum alg { GCM, CBC, NALGS };
static const char *alg_name[NALGS] = {"aes-gcm-128", "aes-cbc-128-hmac-sha256-128"};
enum dir { ENC, DEC, NDIRS };
static const char *dir_name[NDIRS] = {"encrypt", "decrypt"};

static const uint8_t MAC_IN[6] = {2, 0x5f, 0, 0, 0, 1};     /* port 0 */
static const uint8_t MAC_OUT[6] = {2, 0x5f, 0, 0, 0, 2};    /* port 1 */
static const uint8_t MAC_ISP[6] = {2, 0x5f, 0, 0, 1, 1};    /* adjacency 1: towards the peers */
static const uint8_t MAC_LAN[6] = {2, 0x5f, 0, 0, 1, 2};    /* adjacency 2: towards 10.1.0.0/16 */
static const uint8_t MAC_SENDER[6] = {2, 0x5f, 0, 0, 2, 1}; /* who sends into port 0 */

static struct ipsec_crypto cr;
static bool dev_sync; /* the device has a synchronous interface */
static struct rte_mempool *mp, *mpi;
static struct rte_ring *in_rx, *in_tx, *out_rx, *out_tx;
static uint16_t in_port, out_port;
static struct dp_tables *T;
static struct dp_counters *C;
static struct dp_worker W;

struct algctx {
	uint16_t tunnel, out_sa, in_sa;     /* our SA ids */
	uint8_t peer[4];                    /* the peer's address */
	struct ipsec_esp_sa *peer_out;      /* makes what the peer sends (SPI of our in_sa) */
	struct ipsec_esp_sa *peer_in;       /* opens what we send (SPI of our out_sa) */
	void *raw_sess[NDIRS];
	struct rte_crypto_sym_xform xf[NDIRS][2];
	uint8_t key[16], auth_key[32], salt[4];
};
static struct algctx A[NALGS];

static const uint8_t OUR_ADDR[4] = {192, 0, 2, 1};

static void sa_conf(struct ipsec_sa_conf *c, enum alg a, uint32_t spi, bool inbound, const uint8_t *src,
                    const uint8_t *dst, uint8_t keybyte, uint32_t window)
{
	memset(c, 0, sizeof *c);
	c->spi = spi;
	c->inbound = inbound;
	c->tunnel = true;
	c->outer_family = 4;
	c->inner_family = 4;
	memcpy(c->src, src, 4);
	memcpy(c->dst, dst, 4);
	memset(c->key, keybyte, 16);
	c->key_len = 16;
	if (a == GCM) {
		c->cipher = IPSEC_CIPHER_AES_GCM;
		c->auth = IPSEC_AUTH_NONE;
		memcpy(c->salt, "salt", 4);
	} else {
		c->cipher = IPSEC_CIPHER_AES_CBC;
		c->auth = IPSEC_AUTH_HMAC_SHA256_128;
		memset(c->auth_key, keybyte ^ 0x5a, 32);
		c->auth_key_len = 32;
	}
	c->replay_window = window;
}

static void sp4(struct dp_sp *p, uint32_t id, const uint8_t src[4], unsigned sl, const uint8_t dst[4], unsigned dl,
                uint16_t tunnel)
{
	memset(p, 0, sizeof *p);
	p->id = id;
	p->family = 4;
	memcpy(p->src, src, 4);
	p->src_len = (uint8_t)sl;
	memcpy(p->dst, dst, 4);
	p->dst_len = (uint8_t)dl;
	p->proto_any = 1;
	p->action = DP_SP_PROTECT;
	p->tunnel = tunnel;
	p->sport_hi = p->dport_hi = 0xFFFF;
}

static uint16_t ring_port(const char *name, struct rte_ring **rx, struct rte_ring **tx)
{
	char n[32];
	snprintf(n, sizeof n, "%s_rx", name);
	*rx = rte_ring_create(n, 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(n, sizeof n, "%s_tx", name);
	*tx = rte_ring_create(n, 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!*rx || !*tx)
		die("rte_ring_create: %s", rte_strerror(rte_errno));
	int p = rte_eth_from_rings(name, rx, 1, tx, 1, 0);
	if (p < 0)
		die("rte_eth_from_rings: %s", rte_strerror(rte_errno));
	struct rte_eth_conf conf = {0};
	if (rte_eth_dev_configure((uint16_t)p, 1, 1, &conf) || rte_eth_rx_queue_setup((uint16_t)p, 0, 1024, 0, NULL, mp) ||
	    rte_eth_tx_queue_setup((uint16_t)p, 0, 1024, 0, NULL) || rte_eth_dev_start((uint16_t)p))
		die("ring port %s setup failed", name);
	return (uint16_t)p;
}

static uint32_t be32(const uint8_t a[4])
{
	return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

static void route4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, unsigned len, uint32_t nhg)
{
	uint8_t x[4] = {a, b, c, d};
	int st = 0;
	if (dp_route_set(T, 0, 4, x, len, nhg, &st) != DP_OK)
		die("dp_route_set %u.%u.%u.%u/%u: %s", a, b, c, d, len, lpm_strerror(st));
}

static void setup_tables(void)
{
	char err[256];
	T = dp_tables_create(NULL); /* one thread: no rcu domain */
	if (!T)
		die("dp_tables_create");
	struct dp_port_conf pc = {.dpdk_port = in_port, .tap_port = DP_ID_NONE, .mtu = 1500, .has_ip4 = 1,
	                          .ip4 = be32(OUR_ADDR)};
	memcpy(pc.mac, MAC_IN, 6);
	if (dp_port_set(T, 0, &pc))
		die("dp_port_set 0");
	pc.dpdk_port = out_port;
	pc.ip4 = 0x0A0100FE; /* 10.1.0.254 */
	memcpy(pc.mac, MAC_OUT, 6);
	if (dp_port_set(T, 1, &pc))
		die("dp_port_set 1");
	for (uint16_t a = 1; a <= 2; a++) {
		struct dp_adj adj = {.port = 1, .mtu = 1500, .resolved = 1};
		memcpy(adj.dst_mac, a == 1 ? MAC_ISP : MAC_LAN, 6);
		memcpy(adj.src_mac, MAC_OUT, 6);
		uint16_t w1 = 1;
		if (dp_adj_set(T, a, &adj) || dp_nhg_set(T, a, DP_NHG_FORWARD, 1, &a, &w1))
			die("dp_adj_set/dp_nhg_set %u", a);
	}
	if (dp_nhg_set(T, 10, DP_NHG_LOCAL, 0, NULL, NULL))
		die("dp_nhg_set local");
	if (dp_fib_base_set(T, 0, 0, NULL, 0) || dp_binding_default(T, 4, 0))
		die("dp_fib_base_set / dp_binding_default");
	route4(0, 0, 0, 0, 0, 1);         /* default: towards the peers */
	route4(198, 51, 100, 0, 24, 1);   /* the peers */
	route4(10, 1, 0, 0, 16, 2);       /* the protected LAN */
	route4(192, 0, 2, 1, 32, 10);     /* our tunnel address is local */

	if (dp_ipsec_attach(T, &cr) != DP_OK)
		die("dp_ipsec_attach");
	struct dp_sp out[NALGS], in[NALGS];
	static const uint8_t lan[4] = {10, 1, 0, 0};
	for (int a = 0; a < NALGS; a++) {
		struct algctx *x = &A[a];
		x->tunnel = (uint16_t)(1 + a);
		x->out_sa = (uint16_t)(10 + a);
		x->in_sa = (uint16_t)(20 + a);
		memcpy(x->peer, (uint8_t[4]){198, 51, 100, (uint8_t)(2 + a)}, 4);
		uint32_t spi_out = 0x1000u + (uint32_t)a, spi_in = 0x2000u + (uint32_t)a;
		uint8_t key_out = (uint8_t)(0x11 + a), key_in = (uint8_t)(0x22 + a);
		struct dp_sa_spec s = {.proto = 50, .tunnel = x->tunnel};
		sa_conf(&s.conf, (enum alg)a, spi_out, false, OUR_ADDR, x->peer, key_out, REPLAY_WINDOW);
		if (dp_sa_add(T, x->out_sa, &s, err, sizeof err) != DP_OK)
			die("dp_sa_add out: %s", err);
		sa_conf(&s.conf, (enum alg)a, spi_in, true, x->peer, OUR_ADDR, key_in, REPLAY_WINDOW);
		if (dp_sa_add(T, x->in_sa, &s, err, sizeof err) != DP_OK)
			die("dp_sa_add in: %s", err);
		struct dp_tunnel tun = {.mtu = {TUN_MTU, TUN_MTU}, .out_sa = {x->out_sa, DP_ID_NONE}};
		if (dp_tunnel_set(T, x->tunnel, &tun, err, sizeof err) != DP_OK)
			die("dp_tunnel_set: %s", err);
		/* the peer's SAs: standalone ipsec_esp SAs */
		struct ipsec_sa_conf c;
		sa_conf(&c, (enum alg)a, spi_in, false, x->peer, OUR_ADDR, key_in, REPLAY_WINDOW);
		if (ipsec_esp_sa_create(&cr, &c, &x->peer_out, err, sizeof err))
			die("peer out SA: %s", err);
		sa_conf(&c, (enum alg)a, spi_out, true, OUR_ADDR, x->peer, key_out, 0); /* a checker: no window */
		if (ipsec_esp_sa_create(&cr, &c, &x->peer_in, err, sizeof err))
			die("peer in SA: %s", err);
		uint8_t remote[4] = {172, (uint8_t)(16 + a), 0, 0};
		sp4(&out[a], (uint32_t)(1 + a), lan, 16, remote, 16, x->tunnel);
		sp4(&in[a], (uint32_t)(1 + a), remote, 16, lan, 16, x->tunnel);
		/* raw sessions: the same algorithms and key sizes as the SAs (the keys of our outbound SA) */
		memset(x->key, key_out, 16);
		memset(x->auth_key, key_out ^ 0x5a, 32);
		memcpy(x->salt, "salt", 4);
		for (int d = 0; d < NDIRS; d++) {
			struct rte_crypto_sym_xform *f = x->xf[d];
			memset(f, 0, 2 * sizeof *f);
			if (a == GCM) {
				f[0].type = RTE_CRYPTO_SYM_XFORM_AEAD;
				f[0].aead.op = d == ENC ? RTE_CRYPTO_AEAD_OP_ENCRYPT : RTE_CRYPTO_AEAD_OP_DECRYPT;
				f[0].aead.algo = RTE_CRYPTO_AEAD_AES_GCM;
				f[0].aead.key.data = x->key;
				f[0].aead.key.length = 16;
				f[0].aead.iv.offset = IPSEC_IV_OFFSET;
				f[0].aead.iv.length = 12;
				f[0].aead.digest_length = 16;
				f[0].aead.aad_length = 8;
			} else {
				/* as ESP chains them: encrypt then generate, verify then decrypt */
				struct rte_crypto_sym_xform *ci = &f[d == ENC ? 0 : 1], *au = &f[d == ENC ? 1 : 0];
				ci->type = RTE_CRYPTO_SYM_XFORM_CIPHER;
				ci->cipher.op = d == ENC ? RTE_CRYPTO_CIPHER_OP_ENCRYPT : RTE_CRYPTO_CIPHER_OP_DECRYPT;
				ci->cipher.algo = RTE_CRYPTO_CIPHER_AES_CBC;
				ci->cipher.key.data = x->key;
				ci->cipher.key.length = 16;
				ci->cipher.iv.offset = IPSEC_IV_OFFSET;
				ci->cipher.iv.length = 16;
				au->type = RTE_CRYPTO_SYM_XFORM_AUTH;
				au->auth.op = d == ENC ? RTE_CRYPTO_AUTH_OP_GENERATE : RTE_CRYPTO_AUTH_OP_VERIFY;
				au->auth.algo = RTE_CRYPTO_AUTH_SHA256_HMAC;
				au->auth.key.data = x->auth_key;
				au->auth.key.length = 32;
				au->auth.digest_length = 16;
				f[0].next = &f[1];
			}
			x->raw_sess[d] = rte_cryptodev_sym_session_create(cr.dev_id, f, cr.sess_pool);
			if (!x->raw_sess[d])
				die("%s refused the raw %s %s session: %s", cr.driver, alg_name[a], dir_name[d],
				    rte_strerror(rte_errno));
		}
	}
	if (dp_spd_set(T, DP_SP_OUT, out, NALGS, err, sizeof err) || dp_spd_set(T, DP_SP_IN, in, NALGS, err, sizeof err))
		die("dp_spd_set: %s", err);
}

/* ---- packets ---- */

static void ip4_cksum_set(uint8_t *ip)
{
	ip[10] = ip[11] = 0;
	uint16_t ck = (uint16_t)~dp_cksum(ip, 20, 0);
	ip[10] = (uint8_t)(ck >> 8);
	ip[11] = (uint8_t)ck;
}

/* Inner packet k of a flow set: IPv4 (DF) + UDP, len bytes. Encrypt: 10.1.0.(k+1) ->
 * 172.(16+a).k.1; decrypt: the other way round. */
static void inner_packet(uint8_t *ip, unsigned len, enum alg a, enum dir d, unsigned k)
{
	memset(ip, 0, 28);
	uint8_t lan[4] = {10, 1, 0, (uint8_t)(k + 1)}, rem[4] = {172, (uint8_t)(16 + a), (uint8_t)k, 1};
	ip[0] = 0x45;
	ip[2] = (uint8_t)(len >> 8), ip[3] = (uint8_t)len;
	ip[4] = 0x12, ip[5] = (uint8_t)k;
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, d == ENC ? lan : rem, 4);
	memcpy(ip + 16, d == ENC ? rem : lan, 4);
	ip4_cksum_set(ip);
	uint16_t sport = (uint16_t)(20000 + k), dport = 5001, ulen = (uint16_t)(len - 20);
	ip[20] = (uint8_t)(sport >> 8), ip[21] = (uint8_t)sport;
	ip[22] = (uint8_t)(dport >> 8), ip[23] = (uint8_t)dport;
	ip[24] = (uint8_t)(ulen >> 8), ip[25] = (uint8_t)ulen;
	for (unsigned i = 28; i < len; i++)
		ip[i] = (uint8_t)(i * 7 + k);
}

static void eth_header(uint8_t *e, const uint8_t dst[6], const uint8_t src[6])
{
	memcpy(e, dst, 6);
	memcpy(e + 6, src, 6);
	e[12] = 0x08, e[13] = 0x00;
}

static unsigned align_up(unsigned x, unsigned a) { return (x + a - 1) / a * a; }

/* ESP's lengths for an inner packet of `payload` bytes (tunnel mode, IPv4 outer) */
struct esp_len {
	unsigned iv, clen, icv, auth_len, aad, outer; /* outer: the whole ESP packet */
};
static struct esp_len esp_len(enum alg a, unsigned payload)
{
	struct esp_len l;
	l.iv = a == GCM ? 8 : 16;
	l.clen = align_up(payload + 2, a == GCM ? 4 : 16);
	l.icv = 16;
	l.aad = a == GCM ? 8 : 0;
	l.auth_len = a == GCM ? 0 : 8 + l.iv + l.clen;
	l.outer = 20 + 8 + l.iv + l.clen + l.icv;
	return l;
}

static void dump_drops(void)
{
	for (int d = 0; d < DP_DROP_MAX; d++)
		if (C->drop[d])
			LOG("  drops %s: %lu\n", dp_drop_names[d], (unsigned long)C->drop[d]);
}

static uint64_t total_drops(void)
{
	uint64_t s = 0;
	for (int d = 0; d < DP_DROP_MAX; d++)
		s += C->drop[d];
	return s;
}

/* the inner templates of the current figure: BURST packets */
static uint8_t tmpl[BURST][2048];

/* Feeds one burst into port 0's rx ring (not timed). */
static void feed(const struct algctx *x, enum dir d, unsigned payload)
{
	struct rte_mbuf *mb[BURST];
	if (rte_pktmbuf_alloc_bulk(mp, mb, BURST))
		die("out of mbufs");
	if (d == ENC) {
		for (unsigned k = 0; k < BURST; k++) {
			uint8_t *f = (uint8_t *)rte_pktmbuf_append(mb[k], (uint16_t)(14 + payload));
			eth_header(f, MAC_IN, MAC_SENDER);
			memcpy(f + 14, tmpl[k], payload);
		}
	} else {
		for (unsigned k = 0; k < BURST; k++)
			memcpy(rte_pktmbuf_append(mb[k], (uint16_t)payload), tmpl[k], payload);
		uint8_t why[BURST];
		uint16_t ok = ipsec_esp_process(&cr, 0, x->peer_out, mb, BURST, why);
		if (ok != BURST)
			die("the peer's SA encrypted %u of %u packets (why %u)", ok, BURST, why[ok]);
		for (unsigned k = 0; k < BURST; k++) {
			uint8_t *e = (uint8_t *)rte_pktmbuf_prepend(mb[k], 14);
			if (!e)
				die("no headroom");
			eth_header(e, MAC_IN, MAC_SENDER);
		}
	}
	if (rte_ring_enqueue_bulk(in_rx, (void **)mb, BURST, NULL) != BURST)
		die("rx ring full");
}

/* An inner packet as it should leave: TTL 63, checksum valid, the rest as sent. */
static void check_inner(const uint8_t *ip, unsigned len, unsigned payload, unsigned k, const char *what)
{
	if (len != payload)
		die("%s: inner packet %u is %u bytes, %u sent", what, k, len, payload);
	if (ip[8] != 63 || dp_cksum(ip, 20, 0) != 0xFFFF)
		die("%s: inner packet %u: TTL %u (want 63) or bad header checksum", what, k, ip[8]);
	if (memcmp(ip, tmpl[k], 8) || memcmp(ip + 9, tmpl[k] + 9, 1) || memcmp(ip + 12, tmpl[k] + 12, payload - 12))
		die("%s: inner packet %u differs from what was sent", what, k);
}

/* The first burst of a figure, as it came out of port 1. */
static void check_out(const struct algctx *x, enum alg a, enum dir d, unsigned payload, struct rte_mbuf **m)
{
	struct esp_len l = esp_len(a, payload);
	if (d == DEC) {
		for (unsigned k = 0; k < BURST; k++) {
			const uint8_t *f = rte_pktmbuf_mtod(m[k], const uint8_t *);
			if (memcmp(f, MAC_LAN, 6) || memcmp(f + 6, MAC_OUT, 6) || f[12] != 8 || f[13] != 0)
				die("decrypt: frame %u has the wrong Ethernet header", k);
			check_inner(f + 14, m[k]->pkt_len - 14, payload, k, "decrypt");
		}
		return;
	}
	struct rte_mbuf *cp[BURST];
	if (rte_pktmbuf_alloc_bulk(mp, cp, BURST))
		die("out of mbufs");
	for (unsigned k = 0; k < BURST; k++) {
		const uint8_t *f = rte_pktmbuf_mtod(m[k], const uint8_t *);
		if (m[k]->pkt_len != 14 + l.outer)
			die("encrypt: ESP frame %u is %u bytes, %u expected", k, m[k]->pkt_len, 14 + l.outer);
		if (memcmp(f, MAC_ISP, 6) || memcmp(f + 6, MAC_OUT, 6) || f[14 + 9] != 50 ||
		    memcmp(f + 14 + 12, OUR_ADDR, 4) || memcmp(f + 14 + 16, x->peer, 4) || dp_cksum(f + 14, 20, 0) != 0xFFFF)
			die("encrypt: ESP frame %u has the wrong headers", k);
		memcpy(rte_pktmbuf_append(cp[k], (uint16_t)l.outer), f + 14, l.outer);
	}
	uint8_t why[BURST];
	uint16_t ok = ipsec_esp_process(&cr, 0, x->peer_in, cp, BURST, why);
	if (ok != BURST)
		die("encrypt: the peer opened %u of %u ESP packets (why %u)", ok, BURST, why[ok]);
	for (unsigned k = 0; k < BURST; k++)
		check_inner(rte_pktmbuf_mtod(cp[k], const uint8_t *), cp[k]->pkt_len, payload, k, "encrypt");
	rte_pktmbuf_free_bulk(cp, BURST);
}

struct fig {
	uint64_t pkts, cycles;
	uint64_t kept, discarded; /* bursts */
};

static uint64_t bursts_kept, bursts_discarded;

static long ctx_switches(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_THREAD, &ru))
		die("getrusage failed");
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

/* Adds a chunk to a figure unless the thread was switched out during it. */
static void chunk_done(struct fig *f, long cs0, uint64_t pkts, uint64_t cycles, unsigned bursts)
{
	if (ctx_switches() != cs0) {
		f->discarded += bursts;
		bursts_discarded += bursts;
		return;
	}
	f->pkts += pkts;
	f->cycles += cycles;
	f->kept += bursts;
	bursts_kept += bursts;
}

/* Whether a figure is done: its wall time is up and it kept something (it gives up, loudly,
 * after 20 times its time without one undisturbed chunk). */
static bool fig_over(const struct fig *f, uint64_t now, uint64_t end, uint64_t start)
{
	if (now < end)
		return false;
	if (f->kept)
		return true;
	if (now - start > 20 * (end - start))
		die("no chunk of %d bursts ran without a context switch: the core is too busy to measure", CHUNK);
	return false;
}

static uint64_t checked_pkts, loop_fed;

static struct fig run_loop(enum alg a, enum dir d, unsigned payload)
{
	struct algctx *x = &A[a];
	for (unsigned k = 0; k < BURST; k++)
		inner_packet(tmpl[k], payload, a, d, k);
	uint16_t sa = d == ENC ? x->out_sa : x->in_sa;
	uint64_t sa0 = C->sa[sa].pkts, tx0 = C->port[1].tx_pkts;
	uint64_t hz = rte_get_tsc_hz(), start = rte_rdtsc(), end = start + (uint64_t)(opt.seconds * (double)hz);
	struct fig f = {0, 0, 0, 0};
	uint64_t fed = 0;
	struct rte_mbuf *m[BURST], *out[2 * BURST];
	for (bool first = true;; first = false) {
		uint64_t pkts = 0, cycles = 0, t1 = 0;
		long cs0 = ctx_switches();
		for (unsigned b = 0; b < CHUNK; b++) {
			feed(x, d, payload);
			uint64_t t0 = rte_rdtsc();
			uint16_t n = rte_eth_rx_burst(in_port, 0, m, BURST);
			dp_worker_rx(&W, 0, m, n);
			dp_worker_flush(&W);
			t1 = rte_rdtsc();
			cycles += t1 - t0;
			pkts += n;
			fed += BURST;
			unsigned got = rte_ring_dequeue_burst(out_tx, (void **)out, 2 * BURST, NULL);
			if (n != BURST || got != BURST) {
				dump_drops();
				die("%s %s %u B: %u fed, %u received by the loop, %u out of the tx port", alg_name[a],
				    dir_name[d], payload, BURST, n, got);
			}
			if (first && b == 0) {
				check_out(x, a, d, payload, out);
				checked_pkts += BURST;
			}
			rte_pktmbuf_free_bulk(out, got);
		}
		chunk_done(&f, cs0, pkts, cycles, CHUNK);
		if (fig_over(&f, t1, end, start))
			break;
	}
	loop_fed += fed;
	if (total_drops() || rte_ring_count(in_tx) || C->port[0].tx_pkts || C->sa[sa].pkts - sa0 != fed ||
	    C->port[1].tx_pkts - tx0 != fed) {
		dump_drops();
		die("%s %s %u B: counters do not add up (SA %u counted %lu, port 1 sent %lu, of %lu; %u on port 0's tx)",
		    alg_name[a], dir_name[d], payload, sa, (unsigned long)(C->sa[sa].pkts - sa0),
		    (unsigned long)(C->port[1].tx_pkts - tx0), (unsigned long)fed, rte_ring_count(in_tx));
	}
	return f;
}

/* The SA alone (see the header): ipsec_esp_process of the SA the loop uses on the same frames. */
static struct fig run_sa_only(enum alg a, enum dir d, unsigned payload)
{
	struct algctx *x = &A[a];
	for (unsigned k = 0; k < BURST; k++)
		inner_packet(tmpl[k], payload, a, d, k);
	const struct dp_sa *sa = DP_LOAD(T->ipsec->sa[d == ENC ? x->out_sa : x->in_sa]);
	uint64_t hz = rte_get_tsc_hz(), start = rte_rdtsc(), end = start + (uint64_t)(opt.seconds * (double)hz);
	struct fig f = {0, 0, 0, 0};
	struct rte_mbuf *m[BURST];
	uint8_t why[BURST];
	for (;;) {
		uint64_t pkts = 0, cycles = 0, t1 = 0;
		long cs0 = ctx_switches();
		for (unsigned b = 0; b < CHUNK; b++) {
			feed(x, d, payload);
			uint16_t n = rte_eth_rx_burst(in_port, 0, m, BURST);
			for (unsigned k = 0; k < n; k++)
				rte_pktmbuf_adj(m[k], 14);
			uint64_t t0 = rte_rdtsc();
			uint16_t ok = ipsec_esp_process(&cr, 0, sa->esp, m, n, why);
			t1 = rte_rdtsc();
			if (n != BURST || ok != n)
				die("%s %s %u B, SA alone: %u of %u passed (why %u)", alg_name[a], dir_name[d], payload, ok, n,
				    ok < n ? why[ok] : 0);
			cycles += t1 - t0;
			pkts += n;
			rte_pktmbuf_free_bulk(m, n);
		}
		chunk_done(&f, cs0, pkts, cycles, CHUNK);
		if (fig_over(&f, t1, end, start))
			break;
	}
	return f;
}

/* ---- raw cryptodev ---- */

static uint8_t raw_img[NDIRS][BURST][2048];
static struct rte_mbuf *raw_mb[BURST];

/* A raw ESP packet p (outer IPv4 20, ESP header 8, IV, ...): a fresh sequence number and IV, as
 * ESP writes them for encryption. */
static inline void raw_fresh_seq(uint8_t *p, enum alg a, uint32_t *seq)
{
	uint32_t sq = rte_cpu_to_be_32(++*seq);
	uint64_t ivq = rte_cpu_to_be_64(*seq);
	memcpy(p + 24, &sq, 4);
	memcpy(p + 28, &ivq, 8);
	if (a == CBC)
		memcpy(p + 36, &ivq, 8);
}

/* AES-GCM for raw ESP packet p: the 16-byte counter block (salt, the packet's IV, 1) into iv,
 * and the AAD (SPI, sequence number) after the ICV at p + dig, where rte_ipsec puts it. */
static inline void raw_gcm_nonce_aad(uint8_t *iv, const struct algctx *x, uint8_t *p, uint32_t dig)
{
	uint32_t one = rte_cpu_to_be_32(1);
	memcpy(iv, x->salt, 4);
	memcpy(iv + 4, p + 28, 8);
	memcpy(iv + 12, &one, 4);
	memcpy(p + dig + 16, p + 20, 8);
}

/* Sets up and runs one burst of raw operations on raw_mb[] (timed by the caller).  Returns
 * how many did not succeed. */
static inline unsigned raw_burst(const struct algctx *x, enum alg a, enum dir d, const struct esp_len *l,
                                 uint32_t *seq)
{
	struct rte_crypto_op *ops[BURST], *done[BURST];
	if (rte_crypto_op_bulk_alloc(cr.op_pool, RTE_CRYPTO_OP_TYPE_SYMMETRIC, ops, BURST) != BURST)
		die("out of crypto operations");
	const uint32_t doff = 20 + 8 + l->iv, dig = doff + l->clen;
	for (unsigned k = 0; k < BURST; k++) {
		struct rte_crypto_op *op = ops[k];
		struct rte_mbuf *mb = raw_mb[k];
		struct rte_crypto_sym_op *s = op->sym;
		uint8_t *p = rte_pktmbuf_mtod(mb, uint8_t *);
		uint8_t *iv = rte_crypto_op_ctod_offset(op, uint8_t *, IPSEC_IV_OFFSET);
		s->m_src = mb;
		rte_crypto_op_attach_sym_session(op, x->raw_sess[d]);
		if (d == ENC)
			raw_fresh_seq(p, a, seq);
		if (a == GCM) {
			raw_gcm_nonce_aad(iv, x, p, dig);
			s->aead.data.offset = doff;
			s->aead.data.length = l->clen;
			s->aead.digest.data = p + dig;
			s->aead.digest.phys_addr = rte_pktmbuf_iova_offset(mb, dig);
			s->aead.aad.data = p + dig + 16;
			s->aead.aad.phys_addr = rte_pktmbuf_iova_offset(mb, dig + 16);
		} else {
			memcpy(iv, p + 28, 16);
			s->cipher.data.offset = doff;
			s->cipher.data.length = l->clen;
			s->auth.data.offset = 20;
			s->auth.data.length = l->auth_len;
			s->auth.digest.data = p + dig;
			s->auth.digest.phys_addr = rte_pktmbuf_iova_offset(mb, dig);
		}
	}
	uint16_t got = ipsec_crypto_run(&cr, 0, ops, BURST, done);
	unsigned bad = BURST - got;
	for (uint16_t i = 0; i < got; i++)
		bad += done[i]->status != RTE_CRYPTO_OP_STATUS_SUCCESS;
	rte_mempool_put_bulk(cr.op_pool, (void **)done, got);
	return bad;
}

/* The same burst through the device's synchronous interface (rte_cryptodev_sym_cpu_crypto_process:
 * no operations, no queue pair), where it has one.  Returns how many did not succeed. */
static inline unsigned raw_burst_sync(const struct algctx *x, enum alg a, enum dir d, const struct esp_len *l,
                                      uint32_t *seq)
{
	struct rte_crypto_vec seg[BURST];
	struct rte_crypto_sgl sgl[BURST];
	struct rte_crypto_va_iova_ptr iv[BURST], dig[BURST], aad[BURST];
	uint8_t ivbuf[BURST][16];
	int32_t st[BURST];
	const uint32_t doff = 20 + 8 + l->iv, dg = doff + l->clen;
	union rte_crypto_sym_ofs ofs = {.raw = 0};
	if (a == CBC)
		ofs.ofs.cipher.head = (uint16_t)(8 + l->iv); /* the vector starts at the ESP header */
	for (unsigned k = 0; k < BURST; k++) {
		uint8_t *p = rte_pktmbuf_mtod(raw_mb[k], uint8_t *);
		if (d == ENC)
			raw_fresh_seq(p, a, seq);
		if (a == GCM) {
			raw_gcm_nonce_aad(ivbuf[k], x, p, dg);
			seg[k] = (struct rte_crypto_vec){.base = p + doff, .iova = rte_pktmbuf_iova_offset(raw_mb[k], doff), .len = l->clen, .tot_len = l->clen};
			iv[k].va = ivbuf[k];
			aad[k].va = p + dg + 16;
		} else {
			seg[k] = (struct rte_crypto_vec){.base = p + 20, .iova = rte_pktmbuf_iova_offset(raw_mb[k], 20), .len = l->auth_len, .tot_len = l->auth_len};
			iv[k].va = p + 28;
			aad[k].va = NULL;
		}
		dig[k].va = p + dg;
		sgl[k] = (struct rte_crypto_sgl){.vec = &seg[k], .num = 1};
	}
	struct rte_crypto_sym_vec v = {.num = BURST, .src_sgl = sgl, .iv = iv, .digest = dig, .status = st};
	v.aad = aad;
	uint32_t ok = rte_cryptodev_sym_cpu_crypto_process(cr.dev_id, x->raw_sess[d], ofs, &v);
	return BURST - ok;
}

static void raw_restore(enum dir d, unsigned len)
{
	for (unsigned k = 0; k < BURST; k++)
		memcpy(rte_pktmbuf_mtod(raw_mb[k], uint8_t *), raw_img[d][k], len);
}

/* Builds the pristine images of a raw figure: [d][k] plaintext (ENC) or ESP's ciphertext +
 * ICV of it (DEC, made by the raw encrypt session and checked to decrypt back). */
static void raw_prepare(const struct algctx *x, enum alg a, unsigned payload, const struct esp_len *l, uint32_t *seq)
{
	unsigned len = l->outer;
	for (unsigned k = 0; k < BURST; k++) {
		uint8_t *p = raw_img[ENC][k];
		memset(p, 0, len + l->aad);
		uint8_t outer[20];
		ipsec_outer_header(4, OUR_ADDR, x->peer, 64, 50, outer);
		memcpy(p, outer, 20);
		uint32_t spi = rte_cpu_to_be_32(0x1000u + (uint32_t)a);
		memcpy(p + 20, &spi, 4);
		uint8_t *pt = p + 20 + 8 + l->iv;
		inner_packet(pt, payload, a, ENC, k);
		unsigned pad = l->clen - payload - 2;
		for (unsigned i = 0; i < pad; i++)
			pt[payload + i] = (uint8_t)(i + 1);
		pt[payload + pad] = (uint8_t)pad;
		pt[payload + pad + 1] = 4; /* next header: IPv4 */
		rte_pktmbuf_reset(raw_mb[k]);
		if (!rte_pktmbuf_append(raw_mb[k], (uint16_t)(len + l->aad)) || rte_pktmbuf_trim(raw_mb[k], (uint16_t)l->aad))
			die("raw mbuf too small");
	}
	raw_restore(ENC, len);
	if (raw_burst(x, a, ENC, l, seq))
		die("raw %s encrypt failed", alg_name[a]);
	for (unsigned k = 0; k < BURST; k++)
		memcpy(raw_img[DEC][k], rte_pktmbuf_mtod(raw_mb[k], uint8_t *), len);
	raw_restore(DEC, len);
	if (raw_burst(x, a, DEC, l, seq))
		die("raw %s decrypt of its own encryption failed", alg_name[a]);
	for (unsigned k = 0; k < BURST; k++)
		if (memcmp(rte_pktmbuf_mtod(raw_mb[k], uint8_t *) + 20 + 8 + l->iv, raw_img[ENC][k] + 20 + 8 + l->iv,
		           l->clen))
			die("raw %s: decrypt did not give the plaintext back", alg_name[a]);
}

static struct fig run_raw(enum alg a, enum dir d, unsigned payload, bool sync)
{
	const struct algctx *x = &A[a];
	struct esp_len l = esp_len(a, payload);
	static uint32_t seq;
	raw_prepare(x, a, payload, &l, &seq);
	uint64_t hz = rte_get_tsc_hz(), start = rte_rdtsc(), end = start + (uint64_t)(opt.seconds * (double)hz);
	struct fig f = {0, 0, 0, 0};
	for (bool first = true;; first = false) {
		uint64_t pkts = 0, cycles = 0, t1 = 0;
		long cs0 = ctx_switches();
		for (unsigned b = 0; b < CHUNK; b++) {
			raw_restore(d, l.outer);
			uint64_t t0 = rte_rdtsc();
			unsigned bad = sync ? raw_burst_sync(x, a, d, &l, &seq) : raw_burst(x, a, d, &l, &seq);
			t1 = rte_rdtsc();
			cycles += t1 - t0;
			pkts += BURST;
			if (bad)
				die("raw %s %s %s %u B: %u of %u operations failed", sync ? "synchronous" : "operations",
				    alg_name[a], dir_name[d], payload, bad, BURST);
			if (first && b == 0 && d == DEC)
				for (unsigned k = 0; k < BURST; k++)
					if (memcmp(rte_pktmbuf_mtod(raw_mb[k], uint8_t *) + 20 + 8 + l.iv,
					           raw_img[ENC][k] + 20 + 8 + l.iv, payload))
						die("raw %s decrypt: wrong plaintext", alg_name[a]);
		}
		chunk_done(&f, cs0, pkts, cycles, CHUNK);
		if (fig_over(&f, t1, end, start))
			break;
	}
	return f;
}

/* ---- main ---- */

struct cell {
	enum alg a;
	enum dir d;
	unsigned payload;
	double mpps[100], raw_mpps[2][100]; /* raw: [0] operations, [1] synchronous */
	double sa_mpps[100];
	struct fig best, best_raw[2], best_sa;
};

static double mpps_of(struct fig f, uint64_t hz) { return f.cycles ? (double)f.pkts * (double)hz / (double)f.cycles / 1e6 : 0; }
static double cycles_per_packet(struct fig f) { return f.pkts ? (double)f.cycles / (double)f.pkts : 0; }

/* The CPU's model name, with the characters JSON would need escaped replaced by ' (it is printed raw). */
static void cpu_name(char *out, size_t n)
{
	bench_cpu_model(out, n);
	for (char *c = out; *c; c++)
		if (*c == '"' || *c == '\\')
			*c = '\'';
}

static void print_reps(const double *v, unsigned n)
{
	printf("[");
	for (unsigned i = 0; i < n; i++)
		printf("%s%.4f", i ? "," : "", v[i]);
	printf("]");
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	char eal_args[256];
	bench_eal_init(argv[0], 0, opt.mem_mb, eal_args, sizeof eal_args);
	char err[256];
	if (ipsec_crypto_init(&cr, NULL, 1, 64, err, sizeof err))
		die("no crypto device: %s", err);
	dev_sync = cr.sync != 0;
	if (opt.ops)
		cr.sync = 0; /* before the SAs are made */
	LOG("ipsec_bench: crypto device %s (%s; ESP uses %s)%s%s\n", cr.driver,
	    dev_sync ? "has a synchronous interface" : "operations only", cr.sync ? "it synchronously" : "operations",
	    cr.why_not[0] ? " - " : "", cr.why_not);

	mp = rte_pktmbuf_pool_create("mp", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	mpi = rte_pktmbuf_pool_create("mpi", 1023, 32, 0, 0, 0);
	if (!mp || !mpi)
		die("mempool: %s", rte_strerror(rte_errno));
	in_port = ring_port("in", &in_rx, &in_tx);
	out_port = ring_port("out", &out_rx, &out_tx);
	if (rte_pktmbuf_alloc_bulk(mp, raw_mb, BURST))
		die("out of mbufs");
	setup_tables();
	C = aligned_alloc(64, sizeof(*C));
	if (!C)
		die("out of memory");
	memset(C, 0, sizeof(*C));
	dp_worker_init(&W, T, C, mp, mpi, 0);

	unsigned ncells = NALGS * NDIRS * opt.nsizes;
	struct cell *cells = calloc(ncells, sizeof *cells);
	if (!cells)
		die("out of memory");
	unsigned ci = 0;
	for (int a = 0; a < NALGS; a++)
		for (int d = 0; d < NDIRS; d++)
			for (unsigned s = 0; s < opt.nsizes; s++)
				if ((opt.alg < 0 || opt.alg == a) && (opt.dir < 0 || opt.dir == d))
					cells[ci++] = (struct cell){.a = (enum alg)a, .d = (enum dir)d, .payload = opt.sizes[s]};
	ncells = ci;
	const unsigned nways = opt.no_raw ? 0 : dev_sync ? 2 : 1;
	uint64_t hz = rte_get_tsc_hz();
	double t_start = now_s();
	for (unsigned r = 0; r < opt.reps; r++) {
		for (unsigned i = 0; i < ncells; i++) {
			struct cell *c = &cells[i];
			struct fig lf = run_loop(c->a, c->d, c->payload);
			c->mpps[r] = mpps_of(lf, hz);
			if (c->mpps[r] > mpps_of(c->best, hz))
				c->best = lf;
			struct fig sf = run_sa_only(c->a, c->d, c->payload);
			c->sa_mpps[r] = mpps_of(sf, hz);
			if (c->sa_mpps[r] > mpps_of(c->best_sa, hz))
				c->best_sa = sf;
			unsigned long disc[2] = {0, 0};
			for (unsigned w = 0; w < nways; w++) {
				struct fig rf = run_raw(c->a, c->d, c->payload, w == 1);
				c->raw_mpps[w][r] = mpps_of(rf, hz);
				if (c->raw_mpps[w][r] > mpps_of(c->best_raw[w], hz))
					c->best_raw[w] = rf;
				disc[w] = (unsigned long)rf.discarded;
			}
			double raw = c->raw_mpps[0][r] > c->raw_mpps[1][r] ? c->raw_mpps[0][r] : c->raw_mpps[1][r];
			LOG("  rep %u %-28s %-7s %4u B: loop %6.3f Mpps %6.2f Gbps; SA alone %6.3f; raw operations %6.3f, synchronous"
			    " %6.3f Mpps (loop/faster raw %.0f%%); discarded %lu+%lu+%lu bursts\n",
			    r + 1, alg_name[c->a], dir_name[c->d], c->payload, c->mpps[r], c->mpps[r] * c->payload * 8 / 1e3,
			    c->sa_mpps[r], c->raw_mpps[0][r], c->raw_mpps[1][r], raw > 0 ? 100 * c->mpps[r] / raw : 0,
			    (unsigned long)lf.discarded, disc[0], disc[1]);
		}
	}
	double t_total = now_s() - t_start;
	if (total_drops()) {
		dump_drops();
		die("packets were dropped");
	}

	char cpu[128];
	cpu_name(cpu, sizeof cpu);
	printf("{\"results\":[");
	for (unsigned i = 0; i < ncells; i++) {
		const struct cell *c = &cells[i];
		struct esp_len l = esp_len(c->a, c->payload);
		double mpps = mpps_of(c->best, hz), rw[2] = {mpps_of(c->best_raw[0], hz), mpps_of(c->best_raw[1], hz)};
		unsigned fw = rw[1] > rw[0] ? 1 : 0; /* the baseline: the faster way to drive the device */
		double raw = rw[fw];
		double gbps = mpps * c->payload * 8 / 1e3, raw_gbps = raw * c->payload * 8 / 1e3;
		printf("%s{\"alg\":\"%s\",\"dir\":\"%s\",\"payload\":%u,\"gbps\":%.4f,\"mpps\":%.4f,\"raw_gbps\":%.4f,"
		       "\"raw_mpps\":%.4f,\"raw_way\":\"%s\",\"raw_ops_mpps\":%.4f,\"raw_sync_mpps\":",
		       i ? "," : "", alg_name[c->a], dir_name[c->d], c->payload, gbps, mpps, raw_gbps, raw,
		       fw ? "synchronous" : "operations", rw[0]);
		if (nways == 2)
			printf("%.4f", rw[1]);
		else
			printf("null");
		printf(",\"ratio\":%.4f,\"cycles_per_packet\":%.1f,\"raw_cycles_per_packet\":%.1f,"
		       "\"esp_packet_bytes\":%u,\"cipher_bytes\":%u,\"auth_bytes\":%u,\"aad_bytes\":%u,\"packets\":%lu,"
		       "\"raw_packets\":%lu,\"discarded_bursts\":%lu,\"raw_discarded_bursts\":%lu,\"mpps_reps\":",
		       raw > 0 ? mpps / raw : 0, cycles_per_packet(c->best),
		       cycles_per_packet(c->best_raw[fw]), l.outer, l.clen,
		       c->a == GCM ? l.clen : l.auth_len, l.aad, (unsigned long)c->best.pkts,
		       (unsigned long)c->best_raw[fw].pkts, (unsigned long)c->best.discarded,
		       (unsigned long)c->best_raw[fw].discarded);
		print_reps(c->mpps, opt.reps);
		double sa = mpps_of(c->best_sa, hz);
		printf(",\"sa_mpps\":%.4f,\"sa_cycles_per_packet\":%.1f,\"sa_ratio\":%.4f,\"sa_mpps_reps\":", sa,
		       cycles_per_packet(c->best_sa), raw > 0 ? sa / raw : 0);
		print_reps(c->sa_mpps, opt.reps);
		printf(",\"raw_mpps_reps\":");
		print_reps(c->raw_mpps[fw], opt.reps);
		printf(",\"raw_ops_mpps_reps\":");
		print_reps(c->raw_mpps[0], opt.reps);
		if (nways == 2) {
			printf(",\"raw_sync_mpps_reps\":");
			print_reps(c->raw_mpps[1], opt.reps);
		}
		if (c->payload == TARGET_PAYLOAD)
			printf(",\"target_met\":%s", raw > 0 && mpps / raw >= TARGET_RATIO ? "true" : "false");
		printf("}");
	}
	printf("],\"esp_crypto\":\"%s\",\"device\":\"%s\",\"device_why_not\":\"%s\",\"cpu\":\"%s\",\"burst\":%d,\"replay_window\":%d,"
	       "\"tunnel_mtu\":%d,\"target_ratio\":%.2f,\"target_payload\":%d,\"seconds_per_figure\":%.2f,\"reps\":%u,"
	       "\"chunk_bursts\":%d,\"bursts_kept\":%lu,\"bursts_discarded\":%lu,\"loop_packets\":%lu,\"checked_packets\":%lu,\"dropped\":%lu,\"wall_seconds\":%.1f,\"tsc_hz\":%lu,"
	       "\"dpdk\":\"%s\",\"eal_args\":\"%s\"}\n",
	       cr.sync ? "synchronous" : "operations", cr.driver, cr.why_not, cpu, BURST, REPLAY_WINDOW, TUN_MTU, TARGET_RATIO, TARGET_PAYLOAD, opt.seconds,
	       opt.reps, CHUNK, (unsigned long)bursts_kept, (unsigned long)bursts_discarded, (unsigned long)loop_fed, (unsigned long)checked_pkts, (unsigned long)total_drops(), t_total,
	       (unsigned long)hz, rte_version(), eal_args);
	fflush(stdout);

	rte_pktmbuf_free_bulk(raw_mb, BURST);
	for (int a = 0; a < NALGS; a++) {
		ipsec_esp_sa_destroy(A[a].peer_out);
		ipsec_esp_sa_destroy(A[a].peer_in);
		for (int d = 0; d < NDIRS; d++)
			rte_cryptodev_sym_session_free(cr.dev_id, A[a].raw_sess[d]);
	}
	dp_ipsec_detach(T);
	dp_tables_destroy(T);
	ipsec_crypto_fini(&cr);
	free(C);
	free(cells);
	rte_eal_cleanup();
	return 0;
}
