/* dp_fwd — the forwarding steps of ARCHITECTURE §1 over one burst; see dp_worker.h. */
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_hash_crc.h>
#include <rte_ip_frag.h>
#include <rte_prefetch.h>

#include <rte_spinlock.h>

#include "../ipsec/ipsec_ah.h"
#include "dp_ipsec.h"
#include "dp_worker.h"

const char *const dp_drop_names[DP_DROP_MAX] = {
#define DP_X(name, str, help) [DP_DROP_##name] = str,
	DP_DROP_REASONS(DP_X)
#undef DP_X
};
const char *const dp_drop_help[DP_DROP_MAX] = {
#define DP_X(name, str, help) [DP_DROP_##name] = help,
	DP_DROP_REASONS(DP_X)
#undef DP_X
};

void dp_worker_init(struct dp_worker *w, struct dp_tables *t, struct dp_counters *c, struct rte_mempool *mp,
                    struct rte_mempool *mp_indirect, uint16_t txq)
{
	memset(w, 0, sizeof(*w));
	w->t = t;
	w->c = c;
	w->mp = mp;
	w->mp_indirect = mp_indirect;
	w->txq = txq;
	w->tsc_hz = rte_get_tsc_hz();
	w->icmp_rate = 1000;
	w->icmp_burst = 100;
	w->icmp_tokens = w->icmp_burst;
	w->icmp_last_tsc = rte_rdtsc();
}

static inline void drop(struct dp_worker *w, struct rte_mbuf *m, enum dp_drop why)
{
	w->c->drop[why]++;
	rte_pktmbuf_free(m);
}

static inline void txbuf_put(struct dp_worker *w, struct dp_txbuf *b, struct rte_mbuf *m, enum dp_drop full)
{
	if (b->n == DP_TX_BUF) { /* cannot happen with DP_BURST-sized bursts; stay safe */
		drop(w, m, full);
		return;
	}
	b->m[b->n++] = m;
}

static void punt(struct dp_worker *w, uint16_t port, struct rte_mbuf *m)
{
	txbuf_put(w, &w->punt[port], m, DP_DROP_PUNT_FULL);
}

uint32_t dp_flow_hash(const struct dp_pkt *p)
{
	uint32_t h;
	if (p->cls == DP_PKT_IP4) {
		h = rte_hash_crc_4byte(p->src4, 0x5ca1ab1e);
		h = rte_hash_crc_4byte(p->dst4, h);
	} else {
		h = rte_hash_crc(p->src6, 16, 0x5ca1ab1e);
		h = rte_hash_crc(p->dst6, 16, h);
	}
	uint32_t ports = (p->flags & DP_PKT_F_PORTS) ? ((uint32_t)p->sport << 16 | p->dport) : 0;
	h = rte_hash_crc_4byte(ports ^ ((uint32_t)p->proto << 24), h);
	/* crc32c's low bits are fine, but fold so both halves count */
	return h ^ (h >> 16) * 0x45d9f3bu;
}

/* RFC 1624 incremental update for a TTL decrement (the TTL is the high byte
 * of its 16-bit word). */
static inline void ip4_ttl_dec(uint8_t *ip)
{
	ip[8]--;
	uint32_t sum = (uint32_t)(ip[10] << 8 | ip[11]) + 0x0100;
	sum = (sum & 0xFFFF) + (sum >> 16);
	ip[10] = (uint8_t)(sum >> 8);
	ip[11] = (uint8_t)sum;
}

static void fragment_and_send(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p,
                              const struct dp_adj *a, uint16_t adj_id)
{
	/* rte_ipv4_fragment_packet wants the IP datagram alone */
	uint8_t eth[14];
	memcpy(eth, rte_pktmbuf_mtod(m, uint8_t *), 14);
	rte_pktmbuf_adj(m, p->l2_len);
	struct rte_mbuf *frags[DP_TX_BUF];
	uint16_t port = a->port;
	struct dp_txbuf *b = &w->tx[port];
	uint16_t room = (uint16_t)(DP_TX_BUF - b->n);
	int32_t nf = rte_ipv4_fragment_packet(m, frags, room, a->mtu, w->mp, w->mp_indirect);
	rte_pktmbuf_free(m);
	if (nf <= 0) {
		w->c->drop[DP_DROP_FRAG_FAILED]++;
		return;
	}
	w->c->port[port].frag_pkts++;
	w->c->port[port].frag_created += (uint64_t)nf;
	for (int32_t i = 0; i < nf; i++) {
		struct rte_mbuf *f = frags[i];
		uint8_t *h = (uint8_t *)rte_pktmbuf_prepend(f, 14);
		if (!h) {
			rte_pktmbuf_free(f);
			w->c->drop[DP_DROP_FRAG_FAILED]++;
			continue;
		}
		memcpy(h, eth, 14);
		memcpy(h, a->dst_mac, 6);
		memcpy(h + 6, a->src_mac, 6);
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(h + 14);
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		w->c->adj[adj_id].pkts++;
		w->c->adj[adj_id].bytes += f->pkt_len;
		b->m[b->n++] = f;
	}
}

#define NO_ROUTE_NHG 0xFFFFFFFFu

/* How a burst came to fwd(): from a port, or out of IPsec. */
enum {
	FWD_DECRYPTED = 1, /* inner packets of an inbound SA: no second decryption, the inbound
	                      policy check for protected traffic, no ICMP errors */
	FWD_ENCRYPTED = 2, /* ESP/AH packets we made: no policies, no TTL decrement, no ICMP errors,
	                      never into a tunnel again */
	FWD_LOCAL = 4,     /* (ipsec_held only) the router's own packets, from a TAP: not a hop (no TTL
	                      decrement), ICMP errors go up the TAP */
};

/* fwd() for each way in (flags and via_tunnel constants in each copy). */
static void fwd_rx(struct dp_worker *w, uint16_t port, const struct dp_port_conf *pc, struct rte_mbuf **m, uint16_t n);
static void fwd_decrypted(struct dp_worker *w, uint16_t port, const struct dp_port_conf *pc, struct rte_mbuf **m,
                          uint16_t n, uint16_t via_tunnel);
static void fwd_encrypted(struct dp_worker *w, uint16_t port, const struct dp_port_conf *pc, struct rte_mbuf **m,
                          uint16_t n);

static inline void icmp_err(struct dp_worker *w, unsigned flags, struct rte_mbuf *mb, const struct dp_pkt *p,
                            const struct dp_port_conf *pc, uint8_t type, uint8_t code, uint32_t info)
{
	if (!flags) /* re-entered packets: the error would have to be routed (and protected) back */
		dp_icmp_error(w, mb, p, pc, type, code, info);
}

/* Whether the packet is IPsec for an inbound SA of ours (and which). */
static const struct dp_sa *in_sa_of(const struct dp_ipsec *x, const uint8_t *f, const struct dp_pkt *p, int family)
{
	uint32_t end = (uint32_t)p->l2_len + p->l3_len, off;
	uint8_t proto = 50;
	bool natt = false;
	if (p->flags & DP_PKT_F_FRAG_LATER)
		return NULL;
	if (p->proto == 50) {
		off = p->l4_off;
	} else if (p->ah_off) {
		off = p->ah_off + 4u;
		proto = 51;
	} else if (p->proto == 17 && (p->flags & DP_PKT_F_PORTS) && p->dport == x->ike_port[1]) {
		off = p->l4_off + 8u;
		natt = true;
	} else {
		return NULL;
	}
	if (off + 4 > end)
		return NULL;
	uint32_t spi = dp_rd32(f + off);
	if (spi == 0) /* NAT-T's non-ESP marker: IKE, the kernel's */
		return NULL;
	const struct dp_sa *sa = dp_ipsec_rt_in_sa(x, spi, proto);
	if (!sa || sa->natt != natt || sa->outer_family != family || (natt && p->dport != sa->natt_port))
		return NULL;
	if (family == 4 ? dp_rd32(sa->dst) != p->dst4 : memcmp(sa->dst, p->dst6, 16) != 0)
		return NULL;
	return sa;
}

static inline bool is_ipsec_proto(const struct dp_pkt *p) { return p->proto == 50 || p->ah_off; }

/* Packets held back from a burst for IPsec: inbound to an SA, or outbound into a tunnel. */
struct held {
	uint16_t n;
	uint16_t idx[DP_BURST];            /* into the burst's pk[] */
	struct rte_mbuf *m[DP_BURST];
	const struct dp_sa *in[DP_BURST];  /* inbound: the SA; outbound: NULL */
	uint16_t tun[DP_BURST];            /* outbound: the tunnel */
};

static inline void hold(struct held *h, uint16_t i, struct rte_mbuf *mb, const struct dp_sa *sa, uint16_t tun)
{
	h->idx[h->n] = i;
	h->m[h->n] = mb;
	h->in[h->n] = sa;
	h->tun[h->n++] = tun;
}

/* The sub-FIB a FIB base sends a packet to: its first matching rule's, else the base's default.
 * *rule: the index of that rule, or -1. */
static inline uint16_t subfib_of(const struct dp_fib_base *b, const struct dp_pkt *p, int family, int *rule)
{
	for (uint16_t r = 0; r < b->nrules; r++) {
		if (dp_rule_match(&b->rules[r], p, family)) {
			*rule = r;
			return b->rules[r].subfib;
		}
	}
	*rule = -1;
	return b->default_subfib;
}

/* Sends a frame whose Ethernet header comes first in its data out of an adjacency: its MACs,
 * its counters, its port's tx buffer. */
static inline void send_adj(struct dp_worker *w, struct rte_mbuf *mb, const struct dp_adj *a, uint16_t adj_id)
{
	uint8_t *f = rte_pktmbuf_mtod(mb, uint8_t *);
	memcpy(f, a->dst_mac, 6);
	memcpy(f + 6, a->src_mac, 6);
	w->c->adj[adj_id].pkts++;
	w->c->adj[adj_id].bytes += mb->pkt_len;
	txbuf_put(w, &w->tx[a->port], mb, DP_DROP_TX_FULL);
}

/* The adjacency of a forwarding nexthop group for a packet (one, or one by the flow's hash). */
static inline uint16_t adj_of(const struct dp_nhg *g, const struct dp_pkt *p)
{
	return g->nbuckets == 1 ? g->bucket[0] : g->bucket[((uint64_t)dp_flow_hash(p) * g->nbuckets) >> 32];
}

static enum dp_drop fail_reason(uint8_t why)
{
	switch (why) {
	case IPSEC_FAIL_REPLAY: return DP_DROP_IPSEC_REPLAY;
	case IPSEC_FAIL_AUTH: return DP_DROP_IPSEC_AUTH;
	case IPSEC_FAIL_CRYPTO: return DP_DROP_IPSEC_CRYPTO;
	case IPSEC_FAIL_EXPIRED: return DP_DROP_IPSEC_EXPIRED;
	default: return DP_DROP_IPSEC_MALFORMED;
	}
}

/* Puts an Ethernet header (to the port's MAC, from src, the IP version's ethertype) in front of an
 * IP packet.  Returns the frame, or NULL (no headroom). */
static inline uint8_t *eth_in_front(struct rte_mbuf *mb, const struct dp_port_conf *pc, const void *src)
{
	uint8_t ver = *rte_pktmbuf_mtod(mb, uint8_t *) >> 4;
	uint8_t *e = (uint8_t *)rte_pktmbuf_prepend(mb, 14);
	if (!e)
		return NULL;
	memcpy(e, pc->mac, 6);
	memcpy(e + 6, src, 6);
	e[12] = ver == 4 ? 0x08 : 0x86;
	e[13] = ver == 4 ? 0x00 : 0xDD;
	return e;
}

/* Runs k packets (each an IP packet from its data offset) through an SA.  The ones that pass
 * are IP packets again: an inbound SA's stay so (fwd_decrypted parses them at L3 and gives them
 * an Ethernet header only when they leave), an outbound SA's get one to the port's MAC from
 * itself for tunnel_out and fwd_encrypted.  Returns how many passed: m[0 .. ok). */
static uint16_t run_sa(struct dp_worker *w, const struct dp_port_conf *pc, const struct dp_sa *sa,
                       struct rte_mbuf **m, uint16_t k)
{
	struct dp_counters *c = w->c;
	uint8_t why[DP_BURST];
	uint16_t ok = 0;
	rte_spinlock_t *lock = (rte_spinlock_t *)(uintptr_t)&sa->lock;
	rte_spinlock_lock(lock);
	if (__atomic_load_n(&sa->dead, __ATOMIC_ACQUIRE)) {
		for (uint16_t q = 0; q < k; q++)
			why[q] = IPSEC_FAIL_EXPIRED;
	} else if (sa->esp) {
		ok = ipsec_esp_process(w->t->ipsec->crypto, w->txq, sa->esp, m, k, why);
	} else {
		ok = ipsec_ah_process(w->t->ipsec->crypto, w->txq, sa->ah, m, k, why);
	}
	rte_spinlock_unlock(lock);
	for (uint16_t q = ok; q < k; q++) {
		enum dp_drop d = fail_reason(why[q]);
		if (d == DP_DROP_IPSEC_REPLAY)
			c->sa[sa->id].replay++;
		else if (d == DP_DROP_IPSEC_AUTH)
			c->sa[sa->id].auth++;
		else
			c->sa[sa->id].other++;
		drop(w, m[q], d);
	}
	uint16_t pass = 0;
	uint64_t bytes = 0;
	for (uint16_t q = 0; q < ok; q++) {
		struct rte_mbuf *mb = m[q];
		bytes += mb->pkt_len;
		uint8_t ver = *rte_pktmbuf_mtod(mb, uint8_t *) >> 4;
		if (ver != 4 && ver != 6) {
			drop(w, mb, DP_DROP_IPSEC_MALFORMED);
			continue;
		}
		mb->ol_flags &= ~RTE_MBUF_F_RX_IP_CKSUM_MASK;
		if (!sa->inbound && !eth_in_front(mb, pc, pc->mac)) {
			drop(w, mb, DP_DROP_NO_MBUF);
			continue;
		}
		m[pass++] = mb;
	}
	c->sa[sa->id].pkts += ok;
	c->sa[sa->id].bytes += bytes;
	return pass;
}

/* A decrypted packet's sender (the source MAC of the frame that carried it in), kept in the mbuf's
 * hash field from ipsec_held until the packet leaves: the batch is reordered and thinned on the
 * way, an array beside it would not follow.  Nothing reads the hash as the NIC's after that. */
static inline void smac_keep(struct rte_mbuf *mb, const uint8_t *frame)
{
	memcpy(&mb->hash, frame + 6, 6);
	mb->ol_flags &= ~(RTE_MBUF_F_RX_RSS_HASH | RTE_MBUF_F_RX_FDIR);
}

/* Gives a decrypted packet that fwd_decrypted parsed at L3 its Ethernet header: to the port's MAC
 * (send_adj and fragment_and_send overwrite both addresses), from its sender.  Returns the frame,
 * or NULL (no headroom). */
static inline uint8_t *add_l2(struct rte_mbuf *mb, const struct dp_port_conf *pc)
{
	return eth_in_front(mb, pc, &mb->hash);
}

/* Strips a held packet to its IP datagram (Ethernet header and padding off). */
static inline void to_l3(struct rte_mbuf *mb, const struct dp_pkt *p)
{
	uint32_t want = (uint32_t)p->l2_len + p->l3_len;
	if (mb->pkt_len > want)
		rte_pktmbuf_trim(mb, (uint16_t)(mb->pkt_len - want));
	rte_pktmbuf_adj(mb, p->l2_len);
}

/* Sends out the ESP/AH packets one outbound SA just made, m[0 .. n) (each with an Ethernet
 * header to our port), without forwarding each one: their outer headers are the SA's template
 * and differ only in length, identification and checksum, so the first one's forwarding
 * decision -- source selector, rules, destination lookup, adjacency -- is every one's.  That
 * decision is made here once per burst, from the same tables fwd() would read in this burst;
 * what it cannot settle as a plain send on a resolved adjacency (local delivery, a tunnel, a
 * blackhole, no route, a packet over the MTU, ...) is left to fwd(), which also does the
 * counting and the ICMP there.  Returns how many are left, moved to the front of m[]. */
static uint16_t tunnel_out(struct dp_worker *w, uint16_t port, const struct dp_port_conf *pc, struct rte_mbuf **m,
                           uint16_t n)
{
	const struct dp_tables *t = w->t;
	struct dp_pkt p;
	dp_pkt_parse(&p, rte_pktmbuf_mtod(m[0], const uint8_t *), m[0]->data_len, pc->mac, 0xFFFF, true);
	p.in_port = port;
	if ((p.cls != DP_PKT_IP4 && p.cls != DP_PKT_IP6) || (p.flags & DP_PKT_F_SRC_LL))
		return n;
	int v6 = p.cls == DP_PKT_IP6;
	uint32_t fib = v6 ? lpm6_lookup(t->src[1], p.src6) : lpm4_lookup(t->src[0], p.src4);
	if (fib == LPM_MISS)
		fib = DP_LOAD(t->src_default[v6]);
	const struct dp_fib_base *b = fib < DP_MAX_FIBS ? DP_LOAD(t->base[fib]) : NULL;
	if (!b)
		return n;
	int rule;
	uint16_t sub = subfib_of(b, &p, v6 ? 6 : 4, &rule);
	const lpm_t *l = DP_LOAD(t->sub[sub].lpm[v6]);
	uint32_t nhg = !l ? LPM_MISS : v6 ? lpm6_lookup(l, p.dst6) : lpm4_lookup(l, p.dst4);
	const struct dp_nhg *g = nhg < DP_MAX_NHGS ? DP_LOAD(t->nhg[nhg]) : NULL;
	if (!g || g->kind != DP_NHG_FORWARD)
		return n;
	uint16_t adj_id = adj_of(g, &p);
	const struct dp_adj *a = DP_LOAD(t->adj[adj_id]);
	if (!a || !a->resolved || !DP_LOAD(t->port[a->port]))
		return n;
	struct dp_counters *c = w->c;
	uint16_t left = 0;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *mb = m[i];
		if (mb->pkt_len - p.l2_len > a->mtu || mb->nb_segs > 1) {
			m[left++] = mb;
			continue;
		}
		c->fib_pkts[b->id]++;
		if (rule >= 0)
			c->rule_hits[b->rules[rule].id]++;
		c->subfib_pkts[sub]++;
		send_adj(w, mb, a, adj_id);
	}
	return left;
}

static void ipsec_held(struct dp_worker *w, uint16_t port, const struct dp_port_conf *pc, struct held *h,
                       struct dp_pkt *pk, unsigned flags)
{
	const struct dp_ipsec *x = w->t->ipsec;
	const bool local = flags & FWD_LOCAL;
	uint8_t done[DP_BURST] = {0};
	for (uint16_t i = 0; i < h->n; i++) {
		if (done[i])
			continue;
		struct rte_mbuf *batch[DP_BURST];
		uint16_t k = 0;
		if (h->in[i]) { /* inbound: everything for the same SA */
			const struct dp_sa *sa = h->in[i];
			for (uint16_t j = i; j < h->n; j++) {
				if (done[j] || h->in[j] != sa)
					continue;
				done[j] = 1;
				struct rte_mbuf *mb = h->m[j];
				smac_keep(mb, rte_pktmbuf_mtod(mb, uint8_t *));
				to_l3(mb, &pk[h->idx[j]]);
				batch[k++] = mb;
			}
			uint16_t ok = run_sa(w, pc, sa, batch, k);
			if (ok)
				fwd_decrypted(w, port, pc, batch, ok, sa->tunnel);
			continue;
		}
		/* outbound: everything for the same tunnel and inner family */
		uint16_t tid = h->tun[i];
		int fam = pk[h->idx[i]].cls == DP_PKT_IP6;
		const struct dp_tunnel *tun = DP_LOAD(x->tun[tid]);
		uint16_t said = tun ? tun->out_sa[fam] : DP_ID_NONE;
		const struct dp_sa *sa = said < DP_MAX_SAS ? DP_LOAD(x->sa[said]) : NULL;
		for (uint16_t j = i; j < h->n; j++) {
			if (done[j] || h->in[j] || h->tun[j] != tid || (pk[h->idx[j]].cls == DP_PKT_IP6) != fam)
				continue;
			done[j] = 1;
			struct rte_mbuf *mb = h->m[j];
			struct dp_pkt *p = &pk[h->idx[j]];
			if (p->flags & DP_PKT_F_SRC_LL) { /* link-local sources never leave the link */
				drop(w, mb, DP_DROP_IP6_BAD_SOURCE);
				continue;
			}
			if (!sa) {
				drop(w, mb, DP_DROP_IPSEC_NO_OUT_SA);
				continue;
			}
			/* a forwarding hop for the inner packet (not the router's own): TTL, then the
			 * tunnel's MTU */
			if (!local && p->ttl <= 1) {
				icmp_err(w, flags, mb, p, pc, fam ? 3 : 11, 0, 0);
				drop(w, mb, DP_DROP_TTL_EXPIRED);
				continue;
			}
			if (p->l3_len > tun->mtu[fam] && (fam || (p->flags & DP_PKT_F_DF))) {
				if (local)
					dp_icmp_error_local(w, mb, p, fam ? 2 : 3, fam ? 0 : 4, tun->mtu[fam]);
				else
					icmp_err(w, flags, mb, p, pc, fam ? 2 : 3, fam ? 0 : 4, tun->mtu[fam]);
				drop(w, mb, DP_DROP_TOO_BIG);
				continue;
			}
			if (!local) {
				uint8_t *ip = rte_pktmbuf_mtod(mb, uint8_t *) + p->l2_len;
				if (fam)
					ip[7]--;
				else
					ip4_ttl_dec(ip);
			}
			to_l3(mb, p);
			batch[k++] = mb;
		}
		uint16_t ok = k ? run_sa(w, pc, sa, batch, k) : 0;
		if (ok)
			ok = tunnel_out(w, port, pc, batch, ok);
		if (ok)
			fwd_encrypted(w, port, pc, batch, ok);
	}
}

void dp_worker_rx(struct dp_worker *w, uint16_t port, struct rte_mbuf **m, uint16_t n)
{
	const struct dp_port_conf *pc = DP_LOAD(w->t->port[port]);
	struct dp_port_counters *pcnt = &w->c->port[port];
	for (uint16_t i = 0; i < n; i++) {
		pcnt->rx_pkts++;
		pcnt->rx_bytes += m[i]->pkt_len;
	}
	if (!pc) {
		for (uint16_t i = 0; i < n; i++)
			drop(w, m[i], DP_DROP_PORT_DOWN);
		return;
	}
	fwd_rx(w, port, pc, m, n);
}

static inline __attribute__((always_inline)) void fwd(struct dp_worker *w, uint16_t port,
                                                      const struct dp_port_conf *pc, struct rte_mbuf **m,
                                                      uint16_t n, unsigned flags, uint16_t via_tunnel)
{
	struct dp_tables *t = w->t;
	struct dp_counters *c = w->c;
	const struct dp_ipsec *x = DP_LOAD(t->ipsec);
	const struct dp_spd *spd_in = x && flags != FWD_ENCRYPTED ? DP_LOAD(x->spd[DP_SP_IN]) : NULL;
	const struct dp_spd *spd_out = x && !(flags & FWD_ENCRYPTED) ? DP_LOAD(x->spd[DP_SP_OUT]) : NULL;
	struct held held;
	held.n = 0;
	struct dp_pkt pk[DP_BURST];
	uint16_t v4[DP_BURST], v6[DP_BURST], n4 = 0, n6 = 0;
	uint32_t addr4[DP_BURST], fib[DP_BURST];
	uint8_t addr6[DP_BURST][16];
	/* re-entered packets were made here: no MTU of a port applies yet, no NIC checked them */
	uint32_t max_l3 = flags ? 0xFFFF : pc->mru ? pc->mru : pc->mtu;

	for (uint16_t i = 0; i < n && i < 4; i++)
		rte_prefetch0(rte_pktmbuf_mtod(m[i], void *));
	/* 1. parse and classify; IPsec: inbound SAs, the policies */
	for (uint16_t i = 0; i < n; i++) {
		if (i + 4 < n)
			rte_prefetch0(rte_pktmbuf_mtod(m[i + 4], void *));
		struct rte_mbuf *mb = m[i];
		struct dp_pkt *p = &pk[i];
		if (mb->nb_segs > 1 && rte_pktmbuf_linearize(mb) != 0) {
			p->cls = DP_PKT_DROP;
			p->drop = DP_DROP_HDR_SPLIT;
		} else {
			/* the IPv4 checksum is known good when the NIC checked it, or when we just wrote it
			 * (the outer header of a packet we encrypted); a decrypted inner header is the
			 * peer's, and is checked like any other */
			bool hw_ok = (flags & FWD_ENCRYPTED) ||
			             (!flags && (mb->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD);
			const uint8_t *fr = rte_pktmbuf_mtod(mb, const uint8_t *);
			if (flags & FWD_DECRYPTED) { /* at L3 (run_sa); the full parser wants a frame */
				if (!dp_pkt_parse_fast4_l3(p, fr, mb->data_len, max_l3, false)) {
					fr = add_l2(mb, pc);
					if (fr) {
						dp_pkt_parse(p, fr, mb->data_len, pc->mac, max_l3, false);
					} else {
						p->cls = DP_PKT_DROP;
						p->drop = DP_DROP_NO_MBUF;
					}
				}
			} else if (!dp_pkt_parse_fast4(p, fr, mb->data_len, pc->mac, max_l3, hw_ok)) {
				dp_pkt_parse(p, fr, mb->data_len, pc->mac, max_l3, hw_ok);
			}
		}
		p->in_port = port;
		if (x && (p->cls == DP_PKT_IP4 || p->cls == DP_PKT_IP6)) {
			int family = p->cls == DP_PKT_IP4 ? 4 : 6;
			if (!flags) {
				const struct dp_sa *sa = in_sa_of(x, rte_pktmbuf_mtod(mb, const uint8_t *), p, family);
				if (sa) {
					hold(&held, i, mb, sa, 0);
					m[i] = NULL;
					continue;
				}
			}
			if (spd_in) {
				const struct dp_sp *sp = dp_ipsec_rt_spd(spd_in, p, family);
				if (sp) {
					c->sp_hits[DP_SP_IN][sp->id]++;
					bool pass = (flags & FWD_DECRYPTED) ? sp->action == DP_SP_PROTECT && sp->tunnel == via_tunnel
					                                    : sp->action == DP_SP_BYPASS;
					if (!pass) {
						enum dp_drop d = sp->action == DP_SP_DISCARD ? DP_DROP_IPSEC_DISCARD : DP_DROP_IPSEC_POLICY;
						/* IKE to us, and ESP/AH to us that no SA of ours has (it would have been
						 * taken above), are no plaintext for the policy to refuse: step 5 delivers
						 * the one and drops the other as ipsec_no_sa, if it is for us */
						if (flags || sp->action != DP_SP_PROTECT ||
						    !(is_ipsec_proto(p) || dp_ike_to(x, p, rte_pktmbuf_mtod(mb, const uint8_t *)))) {
							drop(w, mb, d);
							m[i] = NULL;
							continue;
						}
						p->flags |= DP_PKT_F_LOCAL_ONLY; /* for us only (step 5) */
						p->drop = (uint8_t)d;
					}
				}
			}
			if (spd_out && !(p->flags & DP_PKT_F_LOCAL_ONLY)) {
				const struct dp_sp *sp = dp_ipsec_rt_spd(spd_out, p, family);
				if (sp) {
					c->sp_hits[DP_SP_OUT][sp->id]++;
					if (sp->action == DP_SP_DISCARD) {
						drop(w, mb, DP_DROP_IPSEC_DISCARD);
						m[i] = NULL;
						continue;
					}
					if (sp->action == DP_SP_PROTECT) {
						hold(&held, i, mb, NULL, sp->tunnel);
						m[i] = NULL;
						continue;
					}
				}
			}
		}
		switch (p->cls) {
		case DP_PKT_DROP:
			drop(w, mb, (enum dp_drop)p->drop);
			m[i] = NULL;
			break;
		case DP_PKT_PUNT:
			punt(w, port, mb);
			m[i] = NULL;
			break;
		case DP_PKT_IP4:
			addr4[n4] = p->src4;
			v4[n4++] = i;
			break;
		case DP_PKT_IP6:
			memcpy(addr6[n6], p->src6, 16);
			v6[n6++] = i;
			break;
		}
	}

	if (n4 + n6 == 0) /* everything held for IPsec, dropped or punted: steps 2 to 6 have nothing */
		goto held_only;

	/* 2. source selector: source prefix -> FIB base, in bulk per family */
	uint32_t res[DP_BURST];
	if (w->dst_only) {
		uint16_t d4 = DP_LOAD(t->src_default[0]), d6 = DP_LOAD(t->src_default[1]);
		for (uint16_t k = 0; k < n4; k++)
			fib[v4[k]] = d4;
		for (uint16_t k = 0; k < n6; k++)
			fib[v6[k]] = d6;
		n4 = n6 = 0;
	}
	if (n4) {
		lpm4_lookup_bulk(t->src[0], addr4, res, n4);
		uint16_t def = DP_LOAD(t->src_default[0]);
		for (uint16_t k = 0; k < n4; k++)
			fib[v4[k]] = res[k] == LPM_MISS ? def : res[k];
	}
	if (n6) {
		lpm6_lookup_bulk(t->src[1], (const uint8_t(*)[16])addr6, res, n6);
		uint16_t def = DP_LOAD(t->src_default[1]);
		for (uint16_t k = 0; k < n6; k++)
			fib[v6[k]] = res[k] == LPM_MISS ? def : res[k];
	}

	/* 3. FIB base -> sub-FIB (first matching rule, else N.0) -> its LPM */
	const lpm_t *tab[DP_BURST];
	for (uint16_t i = 0; i < n; i++) {
		if (!m[i])
			continue;
		struct dp_pkt *p = &pk[i];
		const struct dp_fib_base *b = fib[i] < DP_MAX_FIBS ? DP_LOAD(t->base[fib[i]]) : NULL;
		if (!b) { /* IKE, ESP or AH a policy holds to "for us only": refused for the policy */
			drop(w, m[i], (p->flags & DP_PKT_F_LOCAL_ONLY) ? (enum dp_drop)p->drop : DP_DROP_NO_SOURCE_BINDING);
			m[i] = NULL;
			continue;
		}
		c->fib_pkts[b->id]++;
		int family = p->cls == DP_PKT_IP4 ? 4 : 6, rule;
		uint16_t sub = subfib_of(b, p, family, &rule);
		if (rule >= 0)
			c->rule_hits[b->rules[rule].id]++;
		c->subfib_pkts[sub]++;
		tab[i] = DP_LOAD(t->sub[sub].lpm[family == 4 ? 0 : 1]);
	}

	/* 4. destination LPM: bulk over the packets that share a table (usually
	 * the whole burst), single lookups never */
	uint32_t nhg[DP_BURST];
	uint8_t done[DP_BURST] = {0};
	for (uint16_t i = 0; i < n; i++) {
		if (!m[i] || done[i])
			continue;
		const lpm_t *l = tab[i];
		int v6fam = pk[i].cls == DP_PKT_IP6;
		uint16_t idx[DP_BURST], k = 0;
		for (uint16_t j = i; j < n; j++) {
			if (!m[j] || done[j] || tab[j] != l || (pk[j].cls == DP_PKT_IP6) != v6fam)
				continue;
			done[j] = 1;
			if (v6fam)
				memcpy(addr6[k], pk[j].dst6, 16);
			else
				addr4[k] = pk[j].dst4;
			idx[k++] = j;
		}
		if (!l) {
			for (uint16_t q = 0; q < k; q++)
				nhg[idx[q]] = NO_ROUTE_NHG;
			continue;
		}
		if (v6fam)
			lpm6_lookup_bulk(l, (const uint8_t(*)[16])addr6, res, k);
		else
			lpm4_lookup_bulk(l, addr4, res, k);
		for (uint16_t q = 0; q < k; q++)
			nhg[idx[q]] = res[q];
	}

	/* 5. next hop, 6. rewrite and queue.  Packets to the same nexthop group usually follow each
	 * other: when the one before went to a single-adjacency forwarding group, resolved, on a port
	 * that is up, this one goes to that adjacency without looking it up again (run_*). */
	uint32_t run_nhg = NO_ROUTE_NHG;
	const struct dp_adj *run_adj = NULL;
	uint16_t run_adj_id = 0;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *mb = m[i];
		if (!mb)
			continue;
		struct dp_pkt *p = &pk[i];
		int v4fam = p->cls == DP_PKT_IP4;
		bool hop = !(flags & FWD_ENCRYPTED); /* packets we made start here: no hop yet */
		const struct dp_adj *a;
		uint16_t adj_id;
		if (run_adj && nhg[i] == run_nhg) {
			if ((p->flags & (DP_PKT_F_SRC_LL | DP_PKT_F_LOCAL_ONLY)) || (hop && p->ttl <= 1))
				goto slow; /* dropped below, counted there */
			a = run_adj;
			adj_id = run_adj_id;
			goto rewrite;
		}
	slow:;
		const struct dp_nhg *g = nhg[i] < DP_MAX_NHGS ? DP_LOAD(t->nhg[nhg[i]]) : NULL;
		if ((p->flags & DP_PKT_F_LOCAL_ONLY) && (!g || g->kind != DP_NHG_LOCAL)) {
			drop(w, mb, (enum dp_drop)p->drop);
			continue;
		}
		if (nhg[i] == NO_ROUTE_NHG) {
			icmp_err(w, flags, mb, p, pc, v4fam ? 3 : 1, 0, 0);
			drop(w, mb, DP_DROP_NO_ROUTE);
			continue;
		}
		if (!g) {
			drop(w, mb, DP_DROP_ADJ_MISSING);
			continue;
		}
		switch (g->kind) {
		case DP_NHG_LOCAL:
			if (x && is_ipsec_proto(p)) { /* ours would have been taken in step 1 */
				drop(w, mb, flags & FWD_DECRYPTED ? DP_DROP_IPSEC_NESTED : DP_DROP_IPSEC_NO_SA);
				continue;
			}
			if ((flags & FWD_DECRYPTED) && !p->l2_len && !add_l2(mb, pc)) {
				drop(w, mb, DP_DROP_NO_MBUF);
				continue;
			}
			punt(w, port, mb);
			continue;
		case DP_NHG_IPSEC:
			if (!x || (flags & FWD_ENCRYPTED)) { /* no IPsec, or a tunnel routed into a tunnel */
				drop(w, mb, x ? DP_DROP_IPSEC_NESTED : DP_DROP_IPSEC_NO_OUT_SA);
				continue;
			}
			hold(&held, i, mb, NULL, g->bucket[0]);
			continue;
		case DP_NHG_BLACKHOLE:
			drop(w, mb, DP_DROP_BLACKHOLE);
			continue;
		case DP_NHG_UNREACHABLE:
			icmp_err(w, flags, mb, p, pc, v4fam ? 3 : 1, v4fam ? 1 : 3, 0);
			drop(w, mb, DP_DROP_UNREACHABLE);
			continue;
		case DP_NHG_PROHIBIT:
			icmp_err(w, flags, mb, p, pc, v4fam ? 3 : 1, v4fam ? 13 : 1, 0);
			drop(w, mb, DP_DROP_PROHIBIT);
			continue;
		default:
			break;
		}
		if (p->flags & DP_PKT_F_SRC_LL) { /* link-local sources never leave the link */
			drop(w, mb, DP_DROP_IP6_BAD_SOURCE);
			continue;
		}
		if (hop && p->ttl <= 1) {
			icmp_err(w, flags, mb, p, pc, v4fam ? 11 : 3, 0, 0);
			drop(w, mb, DP_DROP_TTL_EXPIRED);
			continue;
		}
		adj_id = adj_of(g, p);
		a = DP_LOAD(t->adj[adj_id]);
		if (!a) {
			drop(w, mb, DP_DROP_ADJ_MISSING);
			continue;
		}
		if (!a->resolved) {
			w->want_resolve[adj_id] = 1;
			drop(w, mb, DP_DROP_ADJ_UNRESOLVED);
			continue;
		}
		if (!DP_LOAD(t->port[a->port])) {
			drop(w, mb, DP_DROP_PORT_DOWN);
			continue;
		}
		if (g->nbuckets == 1) {
			run_nhg = nhg[i];
			run_adj = a;
			run_adj_id = adj_id;
		}
	rewrite:
		if ((flags & FWD_DECRYPTED) && !p->l2_len) {
			/* parsed at L3 (an IPv4 packet, the fast parse): room for the Ethernet header, whose
			 * addresses send_adj and fragment_and_send write */
			if (mb->data_off < 14) {
				drop(w, mb, DP_DROP_NO_MBUF);
				continue;
			}
			mb->data_off = (uint16_t)(mb->data_off - 14);
			mb->data_len = (uint16_t)(mb->data_len + 14);
			mb->pkt_len += 14;
			uint8_t *e = rte_pktmbuf_mtod(mb, uint8_t *);
			e[12] = 0x08;
			e[13] = 0x00;
			p->l2_len = 14;
		}
		uint8_t *f = rte_pktmbuf_mtod(mb, uint8_t *);
		uint8_t *ip = f + p->l2_len;
		/* strip Ethernet padding */
		uint32_t want = (uint32_t)p->l2_len + p->l3_len;
		if (mb->pkt_len > want)
			rte_pktmbuf_trim(mb, (uint16_t)(mb->pkt_len - want));
		if (p->l3_len > a->mtu) {
			if (!v4fam || (p->flags & DP_PKT_F_DF)) {
				icmp_err(w, flags, mb, p, pc, v4fam ? 3 : 2, v4fam ? 4 : 0, a->mtu);
				drop(w, mb, DP_DROP_TOO_BIG);
				continue;
			}
			if (hop)
				ip4_ttl_dec(ip);
			fragment_and_send(w, mb, p, a, adj_id);
			continue;
		}
		if (hop && v4fam)
			ip4_ttl_dec(ip);
		else if (hop)
			ip[7]--;
		send_adj(w, mb, a, adj_id);
	}

held_only:
	if (held.n)
		ipsec_held(w, port, pc, &held, pk, flags);
}

static __attribute__((noinline)) void fwd_rx(struct dp_worker *w, uint16_t port, const struct dp_port_conf *pc,
                                              struct rte_mbuf **m, uint16_t n)
{
	fwd(w, port, pc, m, n, 0, DP_ID_NONE);
}

static __attribute__((noinline)) void fwd_decrypted(struct dp_worker *w, uint16_t port, const struct dp_port_conf *pc,
                                                     struct rte_mbuf **m, uint16_t n, uint16_t via_tunnel)
{
	fwd(w, port, pc, m, n, FWD_DECRYPTED, via_tunnel);
}

static __attribute__((noinline)) void fwd_encrypted(struct dp_worker *w, uint16_t port, const struct dp_port_conf *pc,
                                                     struct rte_mbuf **m, uint16_t n)
{
	fwd(w, port, pc, m, n, FWD_ENCRYPTED, DP_ID_NONE);
}

/* The kernel's frames from a TAP against the outbound SPD: sent as they are, dropped (DISCARD),
 * or held for a tunnel (PROTECT), then encrypted like forwarded packets but without being a hop,
 * and the ESP/AH packet routed like any other (so it may leave by another port).  Frames that
 * are not unicast IP (ARP, ND, multicast, VLAN-tagged) no policy selects; the router's own IKE
 * passes (dp_ike_from); an IP frame that does not parse is refused, not let past the policies. */
static void inject_spd(struct dp_worker *w, uint16_t port, const struct dp_port_conf *pc, const struct dp_ipsec *x,
                       const struct dp_spd *spd, struct rte_mbuf **m, uint16_t n)
{
	struct held held;
	held.n = 0;
	struct dp_pkt pk[DP_BURST];
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *mb = m[i];
		struct dp_pkt *p = &pk[i];
		if (mb->nb_segs > 1 && rte_pktmbuf_linearize(mb) != 0) {
			drop(w, mb, DP_DROP_HDR_SPLIT);
			continue;
		}
		const uint8_t *f = rte_pktmbuf_mtod(mb, const uint8_t *);
		/* addressed to the next hop, not to us: the parser is given that address as the port's;
		 * the kernel wrote the IPv4 checksum */
		dp_pkt_parse(p, f, mb->data_len, f, 0xFFFF, true);
		p->in_port = port;
		if (p->cls == DP_PKT_DROP) {
			drop(w, mb, (enum dp_drop)p->drop);
			continue;
		}
		if (p->cls == DP_PKT_PUNT) {
			txbuf_put(w, &w->tx[port], mb, DP_DROP_TX_FULL);
			continue;
		}
		const struct dp_sp *sp = dp_ipsec_rt_spd(spd, p, p->cls == DP_PKT_IP4 ? 4 : 6);
		if (sp)
			w->c->sp_hits[DP_SP_OUT][sp->id]++; /* selected, even when IKE passes it */
		if (!sp || sp->action == DP_SP_BYPASS || (sp->action == DP_SP_PROTECT && dp_ike_from(x, p, f)))
			txbuf_put(w, &w->tx[port], mb, DP_DROP_TX_FULL);
		else if (sp->action == DP_SP_DISCARD)
			drop(w, mb, DP_DROP_IPSEC_DISCARD);
		else
			hold(&held, i, mb, NULL, sp->tunnel);
	}
	if (held.n)
		ipsec_held(w, port, pc, &held, pk, FWD_LOCAL);
}

void dp_worker_inject(struct dp_worker *w, uint16_t port, struct rte_mbuf **m, uint16_t n)
{
	w->c->port[port].inject_pkts += n;
	const struct dp_ipsec *x = DP_LOAD(w->t->ipsec);
	const struct dp_spd *spd = x ? DP_LOAD(x->spd[DP_SP_OUT]) : NULL;
	const struct dp_port_conf *pc = DP_LOAD(w->t->port[port]);
	if (!spd) {
		for (uint16_t i = 0; i < n; i++)
			txbuf_put(w, &w->tx[port], m[i], DP_DROP_TX_FULL);
	} else if (!pc) { /* policies, and no port to check the frames against: none leaves */
		for (uint16_t i = 0; i < n; i++)
			drop(w, m[i], DP_DROP_PORT_DOWN);
	} else {
		for (uint16_t i = 0; i < n; i += DP_BURST)
			inject_spd(w, port, pc, x, spd, m + i, n - i < DP_BURST ? n - i : DP_BURST);
	}
}

static void flush_one(struct dp_worker *w, struct dp_txbuf *b, uint16_t dpdk_port, uint16_t port, bool is_punt)
{
	uint16_t sent = 0;
	if (dpdk_port != DP_ID_NONE)
		sent = rte_eth_tx_burst(dpdk_port, w->txq, b->m, b->n);
	struct dp_port_counters *pc = &w->c->port[port];
	if (is_punt) {
		pc->punt_pkts += sent;
	} else {
		pc->tx_pkts += sent;
		for (uint16_t i = 0; i < sent; i++)
			pc->tx_bytes += b->m[i]->pkt_len;
	}
	for (uint16_t i = sent; i < b->n; i++)
		drop(w, b->m[i], is_punt ? DP_DROP_PUNT_FULL : DP_DROP_TX_FULL);
	b->n = 0;
}

void dp_worker_flush(struct dp_worker *w)
{
	for (uint16_t p = 0; p < DP_MAX_PORTS; p++) {
		if (!w->tx[p].n && !w->punt[p].n)
			continue;
		const struct dp_port_conf *pc = DP_LOAD(w->t->port[p]);
		if (w->tx[p].n)
			flush_one(w, &w->tx[p], pc ? pc->dpdk_port : DP_ID_NONE, p, false);
		if (w->punt[p].n)
			flush_one(w, &w->punt[p], pc ? pc->tap_port : DP_ID_NONE, p, true);
	}
}
