/* dp_ipsec — see dp_ipsec.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_spinlock.h>

#include "../common/errf.h"
#include "../ipsec/ipsec_ah.h"
#include "dp_ipsec.h"
#include "dp_pkt.h"
#include "dp_worker.h"

_Static_assert(sizeof(((struct dp_sa *)0)->lock) == sizeof(rte_spinlock_t), "dp_sa.lock holds an rte_spinlock_t");

#define STORE(slot, v) __atomic_store_n(&(slot), (v), __ATOMIC_RELEASE)

/* ---- deferred destruction ---- */

enum { RET_FREE, RET_SA };
struct dp_ipsec_retired {
	void *p;
	int kind;
	uint64_t token;
};

static void sa_free(struct dp_sa *s)
{
	if (!s)
		return;
	ipsec_esp_sa_destroy(s->esp);
	ipsec_ah_sa_destroy(s->ah);
	free(s);
}

static void destroy_one(struct dp_ipsec_retired *r)
{
	if (r->kind == RET_SA)
		sa_free(r->p);
	else
		free(r->p);
}

void dp_ipsec_reclaim(struct dp_tables *t, bool wait)
{
	struct dp_ipsec *x = t->ipsec;
	if (!x)
		return;
	uint32_t keep = 0;
	for (uint32_t i = 0; i < x->nretired; i++) {
		struct dp_ipsec_retired r = x->retired[i];
		if (x->rcu && !rcu_qsbr_token_done(x->rcu, r.token)) {
			if (!wait) {
				x->retired[keep++] = r;
				continue;
			}
			rcu_qsbr_token_wait(x->rcu, r.token);
		}
		destroy_one(&r);
	}
	x->nretired = keep;
}

static void retire(struct dp_ipsec *x, void *p, int kind)
{
	if (!p)
		return;
	struct dp_ipsec_retired r = {p, kind, x->rcu ? rcu_qsbr_token_start(x->rcu) : 0};
	if (x->nretired == x->capretired) {
		uint32_t cap = x->capretired ? x->capretired * 2 : 32;
		struct dp_ipsec_retired *n = realloc(x->retired, cap * sizeof *n);
		if (!n) { /* cannot defer: wait out a grace period rather than leak */
			if (x->rcu)
				rcu_qsbr_token_wait(x->rcu, r.token);
			destroy_one(&r);
			return;
		}
		x->retired = n;
		x->capretired = cap;
	}
	x->retired[x->nretired++] = r;
}

#define PUBLISH(x, slot, n, kind)             \
	do {                                      \
		void *old_ = (slot);                  \
		STORE(slot, n);                       \
		retire((x), old_, (kind));            \
	} while (0)

int dp_ipsec_attach(struct dp_tables *t, struct ipsec_crypto *c)
{
	if (t->ipsec)
		return DP_EBUSY;
	struct dp_ipsec *x = calloc(1, sizeof *x);
	if (!x)
		return DP_ENOMEM;
	x->crypto = c;
	x->rcu = t->rcu;
	x->ike_port[0] = 500;
	x->ike_port[1] = 4500;
	STORE(t->ipsec, x);
	return DP_OK;
}

int dp_ipsec_set_ike_ports(struct dp_tables *t, uint16_t ike, uint16_t natt)
{
	if (!t->ipsec)
		return DP_ENOENT;
	if (ike == 0 || natt == 0 || ike == natt)
		return DP_EINVAL;
	t->ipsec->ike_port[0] = ike;
	t->ipsec->ike_port[1] = natt;
	return DP_OK;
}

void dp_ipsec_detach(struct dp_tables *t)
{
	struct dp_ipsec *x = t->ipsec;
	if (!x)
		return;
	t->ipsec = NULL;
	for (uint32_t i = 0; i < x->nretired; i++)
		destroy_one(&x->retired[i]);
	free(x->retired);
	for (unsigned i = 0; i < DP_MAX_SAS; i++)
		sa_free(x->sa[i]);
	for (unsigned i = 0; i < DP_MAX_TUNNELS; i++)
		free(x->tun[i]);
	free(x->in_map);
	free(x->spd[0]);
	free(x->spd[1]);
	free(x);
}

/* Rebuilds the inbound map from the SA slots, with `with` in slot `id` (NULL: empty). */
static int rebuild_in_map(struct dp_ipsec *x, uint16_t id, struct dp_sa *with)
{
	unsigned n = 0;
	for (unsigned i = 0; i < DP_MAX_SAS; i++) {
		const struct dp_sa *s = i == id ? with : x->sa[i];
		n += s && s->inbound;
	}
	struct dp_spi_map *m = NULL;
	if (n) {
		uint32_t size = 16;
		while (size < 2 * n)
			size <<= 1;
		m = calloc(1, sizeof *m + size * sizeof(struct dp_spi_ent));
		if (!m)
			return DP_ENOMEM;
		m->mask = size - 1;
		for (unsigned i = 0; i < DP_MAX_SAS; i++) {
			const struct dp_sa *s = i == id ? with : x->sa[i];
			if (!s || !s->inbound)
				continue;
			uint32_t h = dp_spi_hash(s->spi, s->proto) & m->mask;
			while (m->e[h].used)
				h = (h + 1) & m->mask;
			m->e[h] = (struct dp_spi_ent){s->spi, (uint16_t)i, s->proto, 1};
		}
	}
	PUBLISH(x, x->in_map, m, RET_FREE);
	return DP_OK;
}

static const char *proto_name(uint8_t p) { return p == 50 ? "ESP" : "AH"; }

int dp_sa_add(struct dp_tables *t, uint16_t id, const struct dp_sa_spec *s, char *err, size_t errlen)
{
	struct dp_ipsec *x = t->ipsec;
	if (!x)
		return errf(err, errlen, "IPsec is not enabled in this dataplane"), DP_EINVAL;
	if (id >= DP_MAX_SAS)
		return errf(err, errlen, "SA id %u out of range (max %u)", id, DP_MAX_SAS - 1), DP_EINVAL;
	if (x->sa[id])
		return errf(err, errlen, "SA id %u is in use", id), DP_EBUSY;
	if (s->proto != 50 && s->proto != 51)
		return errf(err, errlen, "protocol %u is neither ESP (50) nor AH (51)", s->proto), DP_EINVAL;
	if (s->tunnel != DP_ID_NONE && s->tunnel >= DP_MAX_TUNNELS)
		return errf(err, errlen, "tunnel id %u out of range", s->tunnel), DP_EINVAL;
	const struct ipsec_sa_conf *c = &s->conf;
	if (c->outer_family != 4 && c->outer_family != 6)
		return errf(err, errlen, "outer family must be 4 or 6"), DP_EINVAL;
	if (c->inbound) {
		for (unsigned i = 0; i < DP_MAX_SAS; i++) {
			const struct dp_sa *o = x->sa[i];
			if (o && o->inbound && o->spi == c->spi && o->proto == s->proto)
				return errf(err, errlen, "an inbound %s SA with SPI 0x%08x exists (SA %u)", proto_name(s->proto),
				            c->spi, i),
				       DP_EBUSY;
		}
	}
	struct dp_sa *n = calloc(1, sizeof *n);
	if (!n)
		return errf(err, errlen, "out of memory"), DP_ENOMEM;
	rte_spinlock_init((rte_spinlock_t *)&n->lock);
	n->id = id;
	n->tunnel = s->tunnel;
	n->spi = c->spi;
	n->proto = s->proto;
	n->inbound = c->inbound;
	n->is_tunnel = c->tunnel;
	n->natt = c->natt;
	n->natt_port = c->natt_dport ? c->natt_dport : 4500;
	n->outer_family = c->outer_family;
	n->inner_family = c->inner_family;
	memcpy(n->dst, c->dst, 16);
	int rc = s->proto == 50 ? ipsec_esp_sa_create(x->crypto, c, &n->esp, err, errlen)
	                        : ipsec_ah_sa_create(x->crypto, c, &n->ah, err, errlen);
	if (rc != 0) {
		free(n);
		return DP_EINVAL;
	}
	if (n->inbound && rebuild_in_map(x, id, n) != DP_OK) {
		sa_free(n);
		return errf(err, errlen, "out of memory"), DP_ENOMEM;
	}
	STORE(x->sa[id], n);
	return DP_OK;
}

int dp_sa_delete(struct dp_tables *t, uint16_t id, char *err, size_t errlen)
{
	struct dp_ipsec *x = t->ipsec;
	if (!x)
		return errf(err, errlen, "IPsec is not enabled in this dataplane"), DP_EINVAL;
	if (id >= DP_MAX_SAS || !x->sa[id])
		return errf(err, errlen, "no SA %u", id), DP_ENOENT;
	for (unsigned i = 0; i < DP_MAX_TUNNELS; i++) {
		const struct dp_tunnel *u = x->tun[i];
		if (u && (u->out_sa[0] == id || u->out_sa[1] == id))
			return errf(err, errlen, "SA %u is tunnel %u's outbound SA", id, i), DP_EBUSY;
	}
	if (x->sa[id]->inbound && rebuild_in_map(x, id, NULL) != DP_OK)
		return errf(err, errlen, "out of memory"), DP_ENOMEM;
	PUBLISH(x, x->sa[id], NULL, RET_SA);
	return DP_OK;
}

int dp_sa_expire(struct dp_tables *t, uint16_t id)
{
	struct dp_ipsec *x = t->ipsec;
	if (!x || id >= DP_MAX_SAS || !x->sa[id])
		return DP_ENOENT;
	__atomic_store_n(&x->sa[id]->dead, 1, __ATOMIC_RELEASE);
	return DP_OK;
}

int dp_sa_stats(struct dp_tables *t, uint16_t id, struct ipsec_sa_stats *out)
{
	struct dp_ipsec *x = t->ipsec;
	if (!x || id >= DP_MAX_SAS || !x->sa[id])
		return DP_ENOENT;
	const struct dp_sa *s = x->sa[id];
	if (s->esp)
		ipsec_esp_sa_stats(s->esp, out);
	else
		ipsec_ah_sa_stats(s->ah, out);
	if (s->dead)
		out->hard_expired = true;
	return DP_OK;
}

int dp_sa_set_life(struct dp_tables *t, uint16_t id, const struct ipsec_life *life)
{
	struct dp_ipsec *x = t->ipsec;
	if (!x || id >= DP_MAX_SAS || !x->sa[id])
		return DP_ENOENT;
	struct dp_sa *s = x->sa[id];
	if (s->esp)
		ipsec_esp_sa_set_life(s->esp, life);
	else
		ipsec_ah_sa_set_life(s->ah, life);
	return DP_OK;
}

int dp_tunnel_set(struct dp_tables *t, uint16_t id, const struct dp_tunnel *tun, char *err, size_t errlen)
{
	struct dp_ipsec *x = t->ipsec;
	if (!x)
		return errf(err, errlen, "IPsec is not enabled in this dataplane"), DP_EINVAL;
	if (id >= DP_MAX_TUNNELS)
		return errf(err, errlen, "tunnel id %u out of range (max %u)", id, DP_MAX_TUNNELS - 1), DP_EINVAL;
	if (tun->mtu[0] < 576 && tun->mtu[0] != 0)
		return errf(err, errlen, "tunnel MTU %u for IPv4 is below 576", tun->mtu[0]), DP_EINVAL;
	if (tun->mtu[1] < 1280 && tun->mtu[1] != 0)
		return errf(err, errlen, "tunnel MTU %u for IPv6 is below 1280", tun->mtu[1]), DP_EINVAL;
	for (int f = 0; f < 2; f++) {
		uint16_t sa = tun->out_sa[f];
		if (sa == DP_ID_NONE)
			continue;
		const struct dp_sa *s = sa < DP_MAX_SAS ? x->sa[sa] : NULL;
		if (!s)
			return errf(err, errlen, "no SA %u", sa), DP_ENOENT;
		if (s->inbound)
			return errf(err, errlen, "SA %u is inbound", sa), DP_EINVAL;
		if (s->inner_family != (f ? 6 : 4))
			return errf(err, errlen, "SA %u carries IPv%u, not IPv%u", sa, s->inner_family, f ? 6 : 4), DP_EINVAL;
	}
	struct dp_tunnel *n = malloc(sizeof *n);
	if (!n)
		return errf(err, errlen, "out of memory"), DP_ENOMEM;
	*n = *tun;
	for (int f = 0; f < 2; f++)
		if (!n->mtu[f])
			n->mtu[f] = 1400;
	PUBLISH(x, x->tun[id], n, RET_FREE);
	return DP_OK;
}

int dp_tunnel_delete(struct dp_tables *t, uint16_t id)
{
	struct dp_ipsec *x = t->ipsec;
	if (!x || id >= DP_MAX_TUNNELS || !x->tun[id])
		return DP_ENOENT;
	PUBLISH(x, x->tun[id], NULL, RET_FREE);
	return DP_OK;
}

static bool prefix_clean(const uint8_t *a, unsigned len, unsigned bytes)
{
	if (len > bytes * 8)
		return false;
	for (unsigned b = len; b < bytes * 8; b++)
		if (a[b / 8] & (0x80 >> (b % 8)))
			return false;
	return true;
}


static struct dp_sp_match sp_match(const struct dp_sp *p)
{
	struct dp_sp_match m = {.family = p->family, .proto = p->proto_any ? 0 : p->proto, .pmask = p->proto_any ? 0 : 0xFF};
	m.ports_any = p->sport_lo == 0 && p->sport_hi == 0xFFFF && p->dport_lo == 0 && p->dport_hi == 0xFFFF;
	if (p->family == 4) {
		m.smask4 = dp_mask4(p->src_len);
		m.src4 = dp_rd32(p->src) & m.smask4;
		m.dmask4 = dp_mask4(p->dst_len);
		m.dst4 = dp_rd32(p->dst) & m.dmask4;
	} else {
		m.src4 = 1; /* under mask 0: never an IPv4 match */
	}
	return m;
}

/* Sets the bits of the first octets an IPv4 prefix covers. */
static void octets_cover(uint64_t bits[4], const uint8_t *a, unsigned len)
{
	unsigned lo = len >= 8 ? a[0] : a[0] & (0xFF00u >> len), hi = len >= 8 ? a[0] : lo | (0xFFu >> len);
	for (unsigned o = lo; o <= hi; o++)
		bits[o >> 6] |= 1ull << (o & 63);
}

int dp_spd_set(struct dp_tables *t, int dir, const struct dp_sp *sp, unsigned n, char *err, size_t errlen)
{
	struct dp_ipsec *x = t->ipsec;
	if (!x)
		return errf(err, errlen, "IPsec is not enabled in this dataplane"), DP_EINVAL;
	if (dir != DP_SP_IN && dir != DP_SP_OUT)
		return errf(err, errlen, "direction must be in or out"), DP_EINVAL;
	if (n > DP_MAX_SPS)
		return errf(err, errlen, "%u policies, at most %u per direction", n, DP_MAX_SPS), DP_EINVAL;
	for (unsigned i = 0; i < n; i++) {
		const struct dp_sp *p = &sp[i];
		unsigned bytes = p->family == 4 ? 4 : 16;
		if (p->id >= DP_MAX_SPS)
			return errf(err, errlen, "policy id %u out of range", p->id), DP_EINVAL;
		if (p->family != 4 && p->family != 6)
			return errf(err, errlen, "policy %u: family must be 4 or 6", p->id), DP_EINVAL;
		if (!prefix_clean(p->src, p->src_len, bytes) || !prefix_clean(p->dst, p->dst_len, bytes))
			return errf(err, errlen, "policy %u: prefix length out of range or host bits set", p->id), DP_EINVAL;
		if (p->action > DP_SP_PROTECT)
			return errf(err, errlen, "policy %u: unknown action %u", p->id, p->action), DP_EINVAL;
		if (p->action == DP_SP_PROTECT && p->tunnel >= DP_MAX_TUNNELS)
			return errf(err, errlen, "policy %u: tunnel id %u out of range", p->id, p->tunnel), DP_EINVAL;
		if (p->sport_lo > p->sport_hi || p->dport_lo > p->dport_hi)
			return errf(err, errlen, "policy %u: empty port range", p->id), DP_EINVAL;
	}
	struct dp_spd *s = NULL;
	if (n) {
		s = malloc(sizeof *s + n * (sizeof(struct dp_sp) + sizeof(struct dp_sp_match)));
		if (!s)
			return errf(err, errlen, "out of memory"), DP_ENOMEM;
		s->n = (uint16_t)n;
		memcpy(s->sp, sp, n * sizeof *sp);
		struct dp_sp_match *mt = (struct dp_sp_match *)&s->sp[n];
		memset(s->src8, 0, sizeof s->src8);
		memset(s->dst8, 0, sizeof s->dst8);
		for (unsigned i = 0; i < n; i++) {
			mt[i] = sp_match(&sp[i]);
			if (sp[i].family == 4) {
				octets_cover(s->src8, sp[i].src, sp[i].src_len);
				octets_cover(s->dst8, sp[i].dst, sp[i].dst_len);
			}
		}
		s->mt = mt;
	}
	PUBLISH(x, x->spd[dir], s, RET_FREE);
	return DP_OK;
}
