/*
 * dp_worker — the per-lcore forwarding engine (ARCHITECTURE §5).
 *
 * A worker owns its counters, its transmit buffers and its ICMP rate limiter,
 * and reads dp_tables without locks.  The lcore loop (dp_loop.c) feeds it
 * received bursts and flushes it; tests and benchmarks may drive it directly.
 *
 * dp_worker_rx() takes ownership of every mbuf: each one is transmitted,
 * punted, or freed under exactly one drop reason.  Transmission is buffered
 * per egress port and happens in dp_worker_flush(), which the loop calls once
 * per iteration (so a burst never waits for a timer).
 *
 * The worker must be registered with the tables' rcu domain, online while it
 * holds table pointers, and report a quiescent state between bursts
 * (dp_loop does that).
 */
#ifndef SRCFIB_DP_WORKER_H
#define SRCFIB_DP_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_mbuf.h>

#include "dp_counters.h"
#include "dp_ipsec.h"
#include "dp_pkt.h"
#include "dp_tables.h"

#define DP_TX_BUF 64

struct dp_txbuf {
	uint16_t n;
	struct rte_mbuf *m[DP_TX_BUF];
};

struct dp_worker {
	struct dp_tables *t;
	struct dp_counters *c;        /* this worker's counters (cache-aligned, its own) */
	struct rte_mempool *mp;       /* for ICMP errors and fragments */
	struct rte_mempool *mp_indirect;
	uint16_t txq;                 /* the transmit queue this worker owns on every port */
	bool dst_only;                /* skip the source selector: every packet uses the
	                                 default binding (destination-only forwarding, the
	                                 baseline bench:pipeline compares against) */
	/* ICMP error rate limit: a token bucket in TSC units */
	uint64_t icmp_rate, icmp_burst; /* errors per second; bucket depth */
	uint64_t icmp_tokens, icmp_last_tsc, tsc_hz;
	/* next hops whose link-layer address is wanted: the control thread reads
	 * and clears these and asks the kernel to resolve them */
	uint8_t want_resolve[DP_MAX_ADJS];
	struct dp_txbuf tx[DP_MAX_PORTS];   /* by dataplane port index */
	struct dp_txbuf punt[DP_MAX_PORTS]; /* to the port's TAP */
};

/* Initialises a worker; counters must be zeroed, cache-line aligned memory. */
void dp_worker_init(struct dp_worker *w, struct dp_tables *t, struct dp_counters *c, struct rte_mempool *mp,
                    struct rte_mempool *mp_indirect, uint16_t txq);

/* Forwards a burst received on dataplane port `port`. */
void dp_worker_rx(struct dp_worker *w, uint16_t port, struct rte_mbuf **m, uint16_t n);
/* Frames the kernel wrote on port `port`'s TAP: out of the port as they are, unless an outbound
 * IPsec policy selects them (the router's own traffic is protected like forwarded traffic). */
void dp_worker_inject(struct dp_worker *w, uint16_t port, struct rte_mbuf **m, uint16_t n);
/* Transmits everything buffered. */
void dp_worker_flush(struct dp_worker *w);

/* ICMP errors (dp_icmp.c).  Returns true when an error was queued. */
bool dp_icmp_error(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p, const struct dp_port_conf *in,
                   uint8_t type, uint8_t code, uint32_t info);
/* The same for a packet the kernel wrote on p->in_port's TAP: up that TAP, from p's destination. */
bool dp_icmp_error_local(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p, uint8_t type, uint8_t code,
                         uint32_t info);

/* 5-tuple flow hash used for ECMP (symmetric in nothing: a flow is one direction). */
uint32_t dp_flow_hash(const struct dp_pkt *p);

/* Selector pieces shared by sub-FIB rules and IPsec policies (dp_ipsec.c). */
static inline uint32_t dp_mask4(unsigned len) { return len == 0 ? 0 : len >= 32 ? 0xFFFFFFFFu : ~(0xFFFFFFFFu >> len); }

static inline bool dp_prefix4_match(uint32_t addr, const uint8_t *pfx, unsigned len) /* addr: host order */
{
	return (addr & dp_mask4(len)) == dp_rd32(pfx);
}

static inline bool dp_prefix6_match(const uint8_t *addr, const uint8_t *pfx, unsigned len)
{
	unsigned full = len / 8, rest = len % 8;
	if (memcmp(addr, pfx, full) != 0)
		return false;
	return !rest || !((addr[full] ^ pfx[full]) & (uint8_t)(0xFF00u >> rest));
}

/* Port ranges: all four at their "any" values match everything; else only packets with ports. */
static inline bool dp_ports_match(const struct dp_pkt *p, uint16_t slo, uint16_t shi, uint16_t dlo, uint16_t dhi)
{
	if (slo == 0 && shi == 0xFFFF && dlo == 0 && dhi == 0xFFFF)
		return true;
	return (p->flags & DP_PKT_F_PORTS) && p->sport >= slo && p->sport <= shi && p->dport >= dlo && p->dport <= dhi;
}

/* Whether a sub-FIB rule matches a parsed packet (shared by the loop and Explain). */
static inline bool dp_rule_match(const struct dp_rule *r, const struct dp_pkt *p, int family)
{
	if (r->family && r->family != family)
		return false;
	if (r->in_port != DP_ANY_PORT && r->in_port != p->in_port)
		return false;
	if (r->dscp != DP_ANY_DSCP && r->dscp != p->dscp)
		return false;
	if (!r->proto_any && r->proto != p->proto)
		return false;
	if (!dp_ports_match(p, r->sport_lo, r->sport_hi, r->dport_lo, r->dport_hi))
		return false;
	if (r->src_len)
		return family == 4 ? dp_prefix4_match(p->src4, r->src, r->src_len) : dp_prefix6_match(p->src6, r->src, r->src_len);
	return true;
}

/* The first policy of a direction that selects p (family 4 or 6), or NULL.  A non-first fragment
 * carries no ports (they are OPAQUE, RFC 4301 section 4.4.1.1): only policies without port
 * ranges select it. */
static inline const struct dp_sp *dp_ipsec_rt_spd(const struct dp_spd *spd, const struct dp_pkt *p, int family)
{
	const struct dp_sp_match *mt = spd->mt, *k = mt, *end = mt + spd->n;
	if (family == 4) {
		const uint32_t src = p->src4, dst = p->dst4, proto = p->proto;
		/* no IPv4 policy covers the source's or the destination's first octet: none selects it */
		if (!((spd->src8[src >> 30] >> ((src >> 24) & 63)) & (spd->dst8[dst >> 30] >> ((dst >> 24) & 63)) & 1))
			return NULL;
		for (; k < end; k++) {
			if (((src & k->smask4) ^ k->src4) | ((dst & k->dmask4) ^ k->dst4) | ((proto & k->pmask) ^ k->proto))
				continue;
			const struct dp_sp *r = &spd->sp[k - mt];
			if (k->ports_any || dp_ports_match(p, r->sport_lo, r->sport_hi, r->dport_lo, r->dport_hi))
				return r;
		}
		return NULL;
	}
	for (; k < end; k++) {
		const struct dp_sp *r = &spd->sp[k - mt];
		if (k->family != 6 || (p->proto & k->pmask) != k->proto || !dp_prefix6_match(p->src6, r->src, r->src_len) ||
		    !dp_prefix6_match(p->dst6, r->dst, r->dst_len))
			continue;
		if (k->ports_any || dp_ports_match(p, r->sport_lo, r->sport_hi, r->dport_lo, r->dport_hi))
			return r;
	}
	return NULL;
}

/* IKE between the router and its peers is not made to go through the tunnels it keys, as an IKE
 * daemon's socket policies keep it out of the kernel's: a protect policy that covers the gateways'
 * own addresses (host to host, transport mode) would otherwise hold back the very packets that key
 * it.  Out: the router's own UDP from an IKE port (dp_ike_from, on inject) is not protected.  In:
 * plaintext UDP to an IKE port that a protect policy refuses is delivered if it is for us, else
 * refused as before (dp_ike_to, DP_PKT_F_LOCAL_ONLY).  A discard policy still discards it.  IKE
 * is UDP to or from the daemon's IKE port (x->ike_port[0], 500: RFC 7296), or its NAT-T port
 * ([1], 4500: RFC 3948) with the non-ESP marker (four zero octets) or a NAT-keepalive (the one
 * octet 0xFF): ESP in UDP is no IKE (to an SA of ours, it was taken before the SPD).  frame: the
 * frame p was parsed from; NULL takes the payload to be IKE (Explain). */
static inline bool dp_ike_port(const struct dp_ipsec *x, const struct dp_pkt *p, const uint8_t *frame, uint16_t port)
{
	if (p->proto != 17 || !(p->flags & DP_PKT_F_PORTS))
		return false;
	if (port == x->ike_port[0])
		return true;
	if (port != x->ike_port[1])
		return false;
	if (!frame)
		return true;
	uint32_t off = (uint32_t)p->l4_off + 8, end = (uint32_t)p->l2_len + p->l3_len;
	return off + 1 == end ? frame[off] == 0xFF : off + 4 <= end && dp_rd32(frame + off) == 0;
}
static inline bool dp_ike_from(const struct dp_ipsec *x, const struct dp_pkt *p, const uint8_t *frame)
{
	return dp_ike_port(x, p, frame, p->sport);
}
static inline bool dp_ike_to(const struct dp_ipsec *x, const struct dp_pkt *p, const uint8_t *frame)
{
	return dp_ike_port(x, p, frame, p->dport);
}

/* The inbound SA for (spi, proto), or NULL. */
static inline const struct dp_sa *dp_ipsec_rt_in_sa(const struct dp_ipsec *x, uint32_t spi, uint8_t proto)
{
	const struct dp_spi_map *m = DP_LOAD(x->in_map);
	if (!m)
		return NULL;
	for (uint32_t h = dp_spi_hash(spi, proto) & m->mask;; h = (h + 1) & m->mask) {
		const struct dp_spi_ent *e = &m->e[h];
		if (!e->used)
			return NULL;
		if (e->spi == spi && e->proto == proto)
			return DP_LOAD(x->sa[e->sa]);
	}
}

#endif
