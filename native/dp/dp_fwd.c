/* dp_fwd — the forwarding steps of ARCHITECTURE §1 over one burst; see dp_worker.h. */
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_hash_crc.h>
#include <rte_ip_frag.h>
#include <rte_prefetch.h>

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

void dp_worker_rx(struct dp_worker *w, uint16_t port, struct rte_mbuf **m, uint16_t n)
{
	struct dp_tables *t = w->t;
	struct dp_counters *c = w->c;
	const struct dp_port_conf *pc = DP_LOAD(t->port[port]);
	if (!pc) {
		for (uint16_t i = 0; i < n; i++)
			drop(w, m[i], DP_DROP_PORT_DOWN);
		return;
	}
	struct dp_pkt pk[DP_BURST];
	uint16_t v4[DP_BURST], v6[DP_BURST], n4 = 0, n6 = 0;
	uint32_t addr4[DP_BURST], fib[DP_BURST];
	uint8_t addr6[DP_BURST][16];

	for (uint16_t i = 0; i < n && i < 4; i++)
		rte_prefetch0(rte_pktmbuf_mtod(m[i], void *));
	/* 1. parse and classify */
	for (uint16_t i = 0; i < n; i++) {
		if (i + 4 < n)
			rte_prefetch0(rte_pktmbuf_mtod(m[i + 4], void *));
		struct rte_mbuf *mb = m[i];
		c->port[port].rx_pkts++;
		c->port[port].rx_bytes += mb->pkt_len;
		struct dp_pkt *p = &pk[i];
		if (mb->nb_segs > 1 && rte_pktmbuf_linearize(mb) != 0) {
			p->cls = DP_PKT_DROP;
			p->drop = DP_DROP_HDR_SPLIT;
		} else {
			bool hw_ok = (mb->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
			dp_pkt_parse(p, rte_pktmbuf_mtod(mb, const uint8_t *), mb->data_len, pc->mac, pc->mru ? pc->mru : pc->mtu, hw_ok);
		}
		p->in_port = port;
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
		if (!b) {
			drop(w, m[i], DP_DROP_NO_SOURCE_BINDING);
			m[i] = NULL;
			continue;
		}
		c->fib_pkts[b->id]++;
		int family = p->cls == DP_PKT_IP4 ? 4 : 6;
		uint16_t sub = b->default_subfib;
		for (uint16_t r = 0; r < b->nrules; r++) {
			if (dp_rule_match(&b->rules[r], p, family)) {
				sub = b->rules[r].subfib;
				c->rule_hits[b->rules[r].id]++;
				break;
			}
		}
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

	/* 5. next hop, 6. rewrite and queue */
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *mb = m[i];
		if (!mb)
			continue;
		struct dp_pkt *p = &pk[i];
		int v4fam = p->cls == DP_PKT_IP4;
		if (nhg[i] == NO_ROUTE_NHG) {
			dp_icmp_error(w, mb, p, pc, v4fam ? 3 : 1, 0, 0);
			drop(w, mb, DP_DROP_NO_ROUTE);
			continue;
		}
		const struct dp_nhg *g = nhg[i] < DP_MAX_NHGS ? DP_LOAD(t->nhg[nhg[i]]) : NULL;
		if (!g) {
			drop(w, mb, DP_DROP_ADJ_MISSING);
			continue;
		}
		switch (g->kind) {
		case DP_NHG_LOCAL:
			punt(w, port, mb);
			continue;
		case DP_NHG_BLACKHOLE:
			drop(w, mb, DP_DROP_BLACKHOLE);
			continue;
		case DP_NHG_UNREACHABLE:
			dp_icmp_error(w, mb, p, pc, v4fam ? 3 : 1, v4fam ? 1 : 3, 0);
			drop(w, mb, DP_DROP_UNREACHABLE);
			continue;
		case DP_NHG_PROHIBIT:
			dp_icmp_error(w, mb, p, pc, v4fam ? 3 : 1, v4fam ? 13 : 1, 0);
			drop(w, mb, DP_DROP_PROHIBIT);
			continue;
		default:
			break;
		}
		if (p->flags & DP_PKT_F_SRC_LL) { /* link-local sources never leave the link */
			drop(w, mb, DP_DROP_IP6_BAD_SOURCE);
			continue;
		}
		if (p->ttl <= 1) {
			dp_icmp_error(w, mb, p, pc, v4fam ? 11 : 3, 0, 0);
			drop(w, mb, DP_DROP_TTL_EXPIRED);
			continue;
		}
		uint16_t adj_id = g->nbuckets == 1 ? g->bucket[0]
		                                   : g->bucket[((uint64_t)dp_flow_hash(p) * g->nbuckets) >> 32];
		const struct dp_adj *a = DP_LOAD(t->adj[adj_id]);
		if (!a) {
			drop(w, mb, DP_DROP_ADJ_MISSING);
			continue;
		}
		if (!a->resolved) {
			w->want_resolve[adj_id] = 1;
			drop(w, mb, DP_DROP_ADJ_UNRESOLVED);
			continue;
		}
		const struct dp_port_conf *out = DP_LOAD(t->port[a->port]);
		if (!out) {
			drop(w, mb, DP_DROP_PORT_DOWN);
			continue;
		}
		uint8_t *f = rte_pktmbuf_mtod(mb, uint8_t *);
		uint8_t *ip = f + p->l2_len;
		/* strip Ethernet padding */
		uint32_t want = (uint32_t)p->l2_len + p->l3_len;
		if (mb->pkt_len > want)
			rte_pktmbuf_trim(mb, (uint16_t)(mb->pkt_len - want));
		if (p->l3_len > a->mtu) {
			if (!v4fam || (p->flags & DP_PKT_F_DF)) {
				dp_icmp_error(w, mb, p, pc, v4fam ? 3 : 2, v4fam ? 4 : 0, a->mtu);
				drop(w, mb, DP_DROP_TOO_BIG);
				continue;
			}
			ip4_ttl_dec(ip);
			fragment_and_send(w, mb, p, a, adj_id);
			continue;
		}
		if (v4fam)
			ip4_ttl_dec(ip);
		else
			ip[7]--;
		memcpy(f, a->dst_mac, 6);
		memcpy(f + 6, a->src_mac, 6);
		c->adj[adj_id].pkts++;
		c->adj[adj_id].bytes += mb->pkt_len;
		txbuf_put(w, &w->tx[a->port], mb, DP_DROP_TX_FULL);
	}
}

void dp_worker_inject(struct dp_worker *w, uint16_t port, struct rte_mbuf **m, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		w->c->port[port].inject_pkts++;
		txbuf_put(w, &w->tx[port], m[i], DP_DROP_TX_FULL);
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
