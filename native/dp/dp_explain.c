#include "dp_explain.h"

#include <string.h>

#include "dp_counters.h"
#include "dp_pkt.h"
#include "dp_worker.h"

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* What becomes of a packet sent into tunnel tid (ipsec_held): the drop, or -1 (encrypted). */
static int into_tunnel(const struct dp_ipsec *x, uint16_t tid, const struct dp_pkt *p, int fi)
{
	if (p->flags & DP_PKT_F_SRC_LL)
		return DP_DROP_IP6_BAD_SOURCE;
	const struct dp_tunnel *tun = tid < DP_MAX_TUNNELS ? DP_LOAD(((struct dp_ipsec *)x)->tun[tid]) : NULL;
	uint16_t said = tun ? tun->out_sa[fi] : DP_ID_NONE;
	if (said >= DP_MAX_SAS || !DP_LOAD(((struct dp_ipsec *)x)->sa[said]))
		return DP_DROP_IPSEC_NO_OUT_SA;
	return -1;
}

void dp_explain(const struct dp_tables *t, const struct dp_explain_in *in, struct dp_explain_out *out)
{
	memset(out, 0, sizeof(*out));
	out->fib = DP_ID_NONE;
	out->rule = -1;
	out->subfib = DP_ID_NONE;
	out->nhg = LPM_MISS;
	out->kind = -1;
	out->adj = -1;
	out->drop = -1;
	out->sp_in = out->sp_out = -1;
	out->tunnel = DP_ID_NONE;

	struct dp_pkt p;
	memset(&p, 0, sizeof(p));
	p.cls = in->family == 4 ? DP_PKT_IP4 : DP_PKT_IP6;
	p.proto = in->proto;
	p.dscp = in->dscp;
	p.in_port = in->in_port;
	if (in->has_ports) {
		p.flags |= DP_PKT_F_PORTS;
		p.sport = in->sport;
		p.dport = in->dport;
	}
	int fi = in->family == 4 ? 0 : 1;
	if (in->family == 4) {
		p.src4 = be32(in->src);
		p.dst4 = be32(in->dst);
	} else {
		p.src6 = in->src;
		p.dst6 = in->dst;
		if (dp_ip6_link_local(in->src))
			p.flags |= DP_PKT_F_SRC_LL;
	}
	/* IPsec policies, as fwd() applies them to a plaintext packet from a port */
	const struct dp_ipsec *x = DP_LOAD(((struct dp_tables *)t)->ipsec);
	int local_only = -1;
	if (x) {
		const struct dp_spd *spd_in = DP_LOAD(((struct dp_ipsec *)x)->spd[DP_SP_IN]);
		const struct dp_sp *sp = spd_in ? dp_ipsec_rt_spd(spd_in, &p, in->family) : NULL;
		if (sp) {
			out->sp_in = sp->id;
			if (sp->action != DP_SP_BYPASS) {
				int d = sp->action == DP_SP_DISCARD ? DP_DROP_IPSEC_DISCARD : DP_DROP_IPSEC_POLICY;
				if (sp->action != DP_SP_PROTECT || !(p.proto == 50 || p.proto == 51 || dp_ike_to(x, &p, NULL))) {
					out->drop = d;
					return;
				}
				out->local_only = true;
				local_only = d;
			}
		}
		const struct dp_spd *spd_out = DP_LOAD(((struct dp_ipsec *)x)->spd[DP_SP_OUT]);
		sp = spd_out && local_only < 0 ? dp_ipsec_rt_spd(spd_out, &p, in->family) : NULL;
		if (sp) {
			out->sp_out = sp->id;
			if (sp->action == DP_SP_DISCARD) {
				out->drop = DP_DROP_IPSEC_DISCARD;
				return;
			}
			if (sp->action == DP_SP_PROTECT) {
				out->tunnel = sp->tunnel;
				out->drop = into_tunnel(x, sp->tunnel, &p, fi);
				return;
			}
		}
	}
	uint32_t fib = in->family == 4 ? lpm4_lookup(DP_LOAD(((struct dp_tables *)t)->src[0]), p.src4)
	                               : lpm6_lookup(DP_LOAD(((struct dp_tables *)t)->src[1]), in->src);
	if (fib == LPM_MISS) {
		fib = DP_LOAD(((struct dp_tables *)t)->src_default[fi]);
		out->by_default = true;
	}
	const struct dp_fib_base *b = fib < DP_MAX_FIBS ? DP_LOAD(((struct dp_tables *)t)->base[fib]) : NULL;
	if (!b) {
		out->drop = local_only >= 0 ? local_only : DP_DROP_NO_SOURCE_BINDING;
		return;
	}
	out->fib = b->id;
	uint16_t sub = b->default_subfib;
	for (uint16_t r = 0; r < b->nrules; r++) {
		if (dp_rule_match(&b->rules[r], &p, in->family)) {
			sub = b->rules[r].subfib;
			out->rule = b->rules[r].id;
			break;
		}
	}
	out->subfib = sub;
	const lpm_t *l = DP_LOAD(((struct dp_tables *)t)->sub[sub].lpm[fi]);
	uint32_t nh = !l ? LPM_MISS : in->family == 4 ? lpm4_lookup(l, p.dst4) : lpm6_lookup(l, in->dst);
	out->nhg = nh;
	const struct dp_nhg *g = nh < DP_MAX_NHGS ? DP_LOAD(((struct dp_tables *)t)->nhg[nh]) : NULL;
	if (g)
		out->kind = g->kind;
	if (local_only >= 0 && (!g || g->kind != DP_NHG_LOCAL)) { /* IKE, ESP or AH not for us */
		out->drop = local_only;
		return;
	}
	if (nh == LPM_MISS) {
		out->drop = DP_DROP_NO_ROUTE;
		return;
	}
	if (!g) {
		out->drop = DP_DROP_ADJ_MISSING;
		return;
	}
	switch (g->kind) {
	case DP_NHG_LOCAL:
		if (x && (p.proto == 50 || p.proto == 51)) /* ours would have been taken first */
			out->drop = DP_DROP_IPSEC_NO_SA;
		return;
	case DP_NHG_IPSEC:
		out->tunnel = g->bucket[0];
		out->drop = !x ? DP_DROP_IPSEC_NO_OUT_SA : into_tunnel(x, g->bucket[0], &p, fi);
		return;
	case DP_NHG_BLACKHOLE:
		out->drop = DP_DROP_BLACKHOLE;
		return;
	case DP_NHG_UNREACHABLE:
		out->drop = DP_DROP_UNREACHABLE;
		return;
	case DP_NHG_PROHIBIT:
		out->drop = DP_DROP_PROHIBIT;
		return;
	default:
		break;
	}
	if (p.flags & DP_PKT_F_SRC_LL) { /* link-local sources never leave the link */
		out->drop = DP_DROP_IP6_BAD_SOURCE;
		return;
	}
	uint16_t adj = g->nbuckets == 1 ? g->bucket[0] : g->bucket[((uint64_t)dp_flow_hash(&p) * g->nbuckets) >> 32];
	out->adj = adj;
	const struct dp_adj *a = DP_LOAD(((struct dp_tables *)t)->adj[adj]);
	if (!a) {
		out->drop = DP_DROP_ADJ_MISSING;
		return;
	}
	out->out_port = a->port;
	out->resolved = a->resolved;
	if (!a->resolved) {
		out->drop = DP_DROP_ADJ_UNRESOLVED;
		return;
	}
	if (!DP_LOAD(((struct dp_tables *)t)->port[a->port])) { /* the adjacency's port is not running */
		out->drop = DP_DROP_PORT_DOWN;
		return;
	}
	memcpy(out->mac, a->dst_mac, 6);
}
