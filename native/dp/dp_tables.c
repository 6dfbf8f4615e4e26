/* dp_tables — see dp_tables.h. */
#include <stdlib.h>
#include <string.h>

#include "dp_ipsec.h"
#include "dp_tables.h"

struct dp_retired {
	void *p; /* malloc'd object, freed with free() */
	uint64_t token;
};

const char *dp_strerror(int err)
{
	switch (err) {
	case DP_OK: return "ok";
	case DP_EINVAL: return "invalid argument";
	case DP_ENOENT: return "no such object";
	case DP_ENOMEM: return "out of memory";
	case DP_EBUSY: return "still in use";
	case DP_ELPM: return "route table error";
	}
	return "unknown error";
}

#define STORE(slot, v) __atomic_store_n(&(slot), (v), __ATOMIC_RELEASE)


/* Frees retired objects whose grace period has passed (wait: all of them). */
static void reclaim_retired(struct dp_tables *t, bool wait)
{
	uint32_t keep = 0;
	for (uint32_t i = 0; i < t->nretired; i++) {
		struct dp_retired r = t->retired[i];
		if (t->rcu && !rcu_qsbr_token_done(t->rcu, r.token)) {
			if (!wait) {
				t->retired[keep++] = r;
				continue;
			}
			rcu_qsbr_token_wait(t->rcu, r.token);
		}
		free(r.p);
	}
	t->nretired = keep;
}

/* Unpublished objects are freed once every worker has been quiescent. */
static int retire(struct dp_tables *t, void *p)
{
	if (!p)
		return DP_OK;
	if (t->nretired == t->capretired) {
		uint32_t cap = t->capretired ? t->capretired * 2 : 64;
		struct dp_retired *r = realloc(t->retired, cap * sizeof(*r));
		if (!r) {
			/* Cannot defer: wait for a grace period instead of leaking. */
			if (t->rcu)
				rcu_qsbr_token_wait(t->rcu, rcu_qsbr_token_start(t->rcu));
			free(p);
			return DP_OK;
		}
		t->retired = r;
		t->capretired = cap;
	}
	t->retired[t->nretired++] = (struct dp_retired){p, t->rcu ? rcu_qsbr_token_start(t->rcu) : 0};
	/* Only our own list: the LPMs reclaim their blocks on their own updates. */
	reclaim_retired(t, false);
	return DP_OK;
}

/* Publishes n (or NULL) in a slot and retires what was there. */
#define PUBLISH(t, slot, n)                                   \
	({                                                        \
		void *old_ = (slot);                                  \
		STORE(slot, n);                                       \
		retire((t), old_);                                    \
	})

uint64_t dp_tables_grace_start(struct dp_tables *t) { return t->rcu ? rcu_qsbr_token_start(t->rcu) : 0; }

bool dp_tables_grace_done(const struct dp_tables *t, uint64_t token)
{
	return !t->rcu || rcu_qsbr_token_done(t->rcu, token);
}

void dp_tables_reclaim(struct dp_tables *t, bool wait)
{
	reclaim_retired(t, wait);
	dp_ipsec_reclaim(t, wait);
	for (unsigned s = 0; s < DP_MAX_SUBFIBS; s++)
		for (int f = 0; f < 2; f++)
			if (t->sub[s].lpm[f])
				lpm_table_reclaim(t->sub[s].lpm[f], wait);
	for (int f = 0; f < 2; f++)
		lpm_table_reclaim(t->src[f], wait);
}

struct dp_tables *dp_tables_create(rcu_qsbr_t *rcu)
{
	struct dp_tables *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->rcu = rcu;
	t->src[0] = lpm_table_create(4, rcu);
	t->src[1] = lpm_table_create(6, rcu);
	if (!t->src[0] || !t->src[1]) {
		dp_tables_destroy(t);
		return NULL;
	}
	t->src_default[0] = t->src_default[1] = DP_ID_NONE;
	return t;
}

void dp_tables_destroy(struct dp_tables *t)
{
	if (!t)
		return;
	/* No worker may be running: everything goes at once. */
	for (uint32_t i = 0; i < t->nretired; i++)
		free(t->retired[i].p);
	free(t->retired);
	for (int f = 0; f < 2; f++)
		lpm_table_destroy(t->src[f]);
	for (unsigned i = 0; i < DP_MAX_FIBS; i++)
		free(t->base[i]);
	for (unsigned i = 0; i < DP_MAX_SUBFIBS; i++)
		for (int f = 0; f < 2; f++)
			lpm_table_destroy(t->sub[i].lpm[f]);
	for (unsigned i = 0; i < DP_MAX_NHGS; i++)
		free(t->nhg[i]);
	for (unsigned i = 0; i < DP_MAX_ADJS; i++)
		free(t->adj[i]);
	for (unsigned i = 0; i < DP_MAX_PORTS; i++)
		free(t->port[i]);
	free(t);
}

static inline int fam_idx(int family) { return family == 4 ? 0 : family == 6 ? 1 : -1; }

static bool prefix_ok(int family, const uint8_t *addr, unsigned len)
{
	unsigned nb = family == 4 ? 4 : 16;
	if (len > nb * 8)
		return false;
	for (unsigned i = 0; i < nb; i++) {
		unsigned bits = len >= 8 * (i + 1) ? 8 : len > 8 * i ? len - 8 * i : 0;
		uint8_t host = (uint8_t)(bits == 8 ? 0 : 0xFFu >> bits);
		if (addr[i] & host)
			return false;
	}
	return true;
}

int dp_port_set(struct dp_tables *t, uint16_t port, const struct dp_port_conf *c)
{
	if (port >= DP_MAX_PORTS || c->mtu < 68)
		return DP_EINVAL;
	struct dp_port_conf *n = malloc(sizeof(*n));
	if (!n)
		return DP_ENOMEM;
	*n = *c;
	return PUBLISH(t, t->port[port], n);
}

int dp_port_clear(struct dp_tables *t, uint16_t port)
{
	if (port >= DP_MAX_PORTS)
		return DP_EINVAL;
	struct dp_port_conf *old = t->port[port];
	if (!old)
		return DP_ENOENT;
	return PUBLISH(t, t->port[port], NULL);
}

static int lpm_err(int st, int *lpm_status)
{
	if (lpm_status)
		*lpm_status = st;
	if (st == LPM_OK)
		return DP_OK;
	if (st == LPM_ERR_NOENT)
		return DP_ENOENT;
	if (st == LPM_ERR_NOMEM)
		return DP_ENOMEM;
	return DP_ELPM;
}

int dp_binding_set(struct dp_tables *t, int family, const uint8_t *addr, unsigned len, uint16_t fib)
{
	int f = fam_idx(family);
	if (f < 0 || fib >= DP_MAX_FIBS || !prefix_ok(family, addr, len))
		return DP_EINVAL;
	return lpm_err(lpm_route_add(t->src[f], addr, len, fib, NULL), NULL);
}

int dp_binding_delete(struct dp_tables *t, int family, const uint8_t *addr, unsigned len)
{
	int f = fam_idx(family);
	if (f < 0 || !prefix_ok(family, addr, len))
		return DP_EINVAL;
	return lpm_err(lpm_route_delete(t->src[f], addr, len, NULL), NULL);
}

int dp_binding_default(struct dp_tables *t, int family, uint16_t fib)
{
	int f = fam_idx(family);
	if (f < 0 || (fib >= DP_MAX_FIBS && fib != DP_ID_NONE))
		return DP_EINVAL;
	STORE(t->src_default[f], fib);
	return DP_OK;
}

static bool rule_ok(const struct dp_rule *r)
{
	if (r->subfib >= DP_MAX_SUBFIBS || r->id >= DP_MAX_RULE_IDS)
		return false;
	if (r->family == 0) {
		if (r->src_len != 0)
			return false;
	} else if (r->family != 4 && r->family != 6) {
		return false;
	} else if (!prefix_ok(r->family, r->src, r->src_len)) {
		return false;
	}
	if (r->dscp != DP_ANY_DSCP && r->dscp > 63)
		return false;
	if (r->in_port != DP_ANY_PORT && r->in_port >= DP_MAX_PORTS)
		return false;
	return r->sport_lo <= r->sport_hi && r->dport_lo <= r->dport_hi;
}

int dp_fib_base_set(struct dp_tables *t, uint16_t fib, uint16_t default_subfib, const struct dp_rule *rules,
                    unsigned nrules)
{
	if (fib >= DP_MAX_FIBS || default_subfib >= DP_MAX_SUBFIBS || nrules > DP_MAX_RULES)
		return DP_EINVAL;
	for (unsigned i = 0; i < nrules; i++)
		if (!rule_ok(&rules[i]))
			return DP_EINVAL;
	struct dp_fib_base *b = malloc(sizeof(*b) + nrules * sizeof(struct dp_rule));
	if (!b)
		return DP_ENOMEM;
	b->id = fib;
	b->default_subfib = default_subfib;
	b->nrules = (uint16_t)nrules;
	if (nrules)
		memcpy(b->rules, rules, nrules * sizeof(*rules));
	return PUBLISH(t, t->base[fib], b);
}

int dp_fib_base_delete(struct dp_tables *t, uint16_t fib)
{
	if (fib >= DP_MAX_FIBS)
		return DP_EINVAL;
	struct dp_fib_base *old = t->base[fib];
	if (!old)
		return DP_ENOENT;
	return PUBLISH(t, t->base[fib], NULL);
}

lpm_t *dp_subfib_lpm(struct dp_tables *t, uint16_t subfib, int family, bool create)
{
	int f = fam_idx(family);
	if (f < 0 || subfib >= DP_MAX_SUBFIBS)
		return NULL;
	lpm_t *l = t->sub[subfib].lpm[f];
	if (!l && create) {
		l = lpm_table_create(family, t->rcu);
		if (l)
			STORE(t->sub[subfib].lpm[f], l);
	}
	return l;
}

int dp_route_set(struct dp_tables *t, uint16_t subfib, int family, const uint8_t *addr, unsigned len,
                 uint32_t nhg, int *lpm_status)
{
	if (fam_idx(family) < 0 || subfib >= DP_MAX_SUBFIBS || nhg >= DP_MAX_NHGS || !prefix_ok(family, addr, len))
		return DP_EINVAL;
	lpm_t *l = dp_subfib_lpm(t, subfib, family, true);
	if (!l)
		return DP_ENOMEM;
	return lpm_err(lpm_route_add(l, addr, len, nhg, NULL), lpm_status);
}

int dp_route_delete(struct dp_tables *t, uint16_t subfib, int family, const uint8_t *addr, unsigned len,
                    int *lpm_status)
{
	if (fam_idx(family) < 0 || subfib >= DP_MAX_SUBFIBS || !prefix_ok(family, addr, len))
		return DP_EINVAL;
	lpm_t *l = dp_subfib_lpm(t, subfib, family, false);
	if (!l)
		return DP_ENOENT;
	return lpm_err(lpm_route_delete(l, addr, len, NULL), lpm_status);
}

int dp_routes_apply(struct dp_tables *t, uint16_t subfib, int family, size_t n, const uint8_t *addrs,
                    const uint8_t *lens, const uint32_t *nhgs, uint32_t *old, size_t *done, int *lpm_status)
{
	*done = 0;
	if (fam_idx(family) < 0 || subfib >= DP_MAX_SUBFIBS)
		return DP_EINVAL;
	size_t w = family == 4 ? 4 : 16;
	bool adds = false;
	for (size_t i = 0; i < n; i++) {
		if (!prefix_ok(family, addrs + i * w, lens[i]) || (nhgs[i] != DP_ROUTE_DELETE && nhgs[i] >= DP_MAX_NHGS))
			return DP_EINVAL;
		adds |= nhgs[i] != DP_ROUTE_DELETE;
	}
	lpm_t *l = dp_subfib_lpm(t, subfib, family, adds);
	if (!l && adds)
		return DP_ENOMEM;
	if (l) {
		int st = lpm_routes_apply(l, n, addrs, lens, nhgs, old);
		if (st != LPM_OK)
			return lpm_err(st, lpm_status);
	} else {
		for (size_t i = 0; i < n; i++)
			old[i] = LPM_MISS; /* deletes from a table that was never created */
	}
	*done = n;
	return DP_OK;
}

int dp_subfib_load(struct dp_tables *t, uint16_t subfib, int family, size_t n, const uint8_t *addrs,
                   const uint8_t *lens, const uint32_t *nhgs, int *lpm_status)
{
	if (fam_idx(family) < 0 || subfib >= DP_MAX_SUBFIBS)
		return DP_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (nhgs[i] >= DP_MAX_NHGS || !prefix_ok(family, addrs + i * (family == 4 ? 4 : 16), lens[i]))
			return DP_EINVAL;
	lpm_t *fresh = lpm_table_create(family, NULL);
	if (!fresh)
		return DP_ENOMEM;
	int st = lpm_table_build(fresh, n, addrs, lens, nhgs);
	if (st != LPM_OK) {
		lpm_table_destroy(fresh);
		return lpm_err(st, lpm_status);
	}
	return dp_subfib_adopt(t, subfib, family, fresh, lpm_status);
}

int dp_subfib_adopt(struct dp_tables *t, uint16_t subfib, int family, lpm_t *fresh, int *lpm_status)
{
	if (fam_idx(family) < 0 || subfib >= DP_MAX_SUBFIBS || lpm_table_family(fresh) != family) {
		lpm_table_destroy(fresh);
		return DP_EINVAL;
	}
	lpm_t *l = dp_subfib_lpm(t, subfib, family, true);
	if (!l) {
		lpm_table_destroy(fresh);
		return DP_ENOMEM;
	}
	return lpm_err(lpm_table_adopt(l, fresh), lpm_status); /* destroys fresh */
}

static unsigned fill_buckets(uint16_t *bucket, unsigned n, const uint16_t *adj, const uint16_t *weight)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += weight[i];
	unsigned nb = total <= DP_MAX_ECMP_BUCKETS ? (unsigned)total : DP_MAX_ECMP_BUCKETS;
	unsigned share[64], used = 0;
	uint64_t rem[64];
	for (unsigned i = 0; i < n; i++) {
		uint64_t x = (uint64_t)weight[i] * nb;
		share[i] = (unsigned)(x / total);
		rem[i] = x % total;
		used += share[i];
	}
	while (used < nb) { /* hand out the rest by largest remainder */
		unsigned best = 0;
		for (unsigned i = 1; i < n; i++)
			if (rem[i] > rem[best])
				best = i;
		share[best]++;
		rem[best] = 0;
		used++;
	}
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < share[i]; j++)
			bucket[k++] = adj[i];
	return nb;
}

static void adj_refs(struct dp_tables *t, const struct dp_nhg *g, int delta)
{
	if (!g || g->kind != DP_NHG_FORWARD)
		return;
	/* buckets repeat members; count each member once per bucket run */
	for (unsigned i = 0; i < g->nbuckets; i++)
		if (i == 0 || g->bucket[i] != g->bucket[i - 1])
			t->refs_adj[g->bucket[i]] += (uint32_t)delta;
}

int dp_nhg_set(struct dp_tables *t, uint32_t id, enum dp_nhg_kind kind, unsigned n, const uint16_t *adj,
               const uint16_t *weight)
{
	if (id >= DP_MAX_NHGS || kind > DP_NHG_IPSEC)
		return DP_EINVAL;
	unsigned nb = 0;
	if (kind == DP_NHG_FORWARD) {
		if (n == 0 || n > 64)
			return DP_EINVAL;
		for (unsigned i = 0; i < n; i++) {
			if (adj[i] >= DP_MAX_ADJS || weight[i] == 0)
				return DP_EINVAL;
			if (!t->adj[adj[i]])
				return DP_ENOENT;
			for (unsigned j = 0; j < i; j++)
				if (adj[j] == adj[i])
					return DP_EINVAL; /* a member twice: merge weights first */
		}
		nb = DP_MAX_ECMP_BUCKETS;
	} else if (kind == DP_NHG_IPSEC) {
		if (n != 1 || adj[0] >= DP_MAX_TUNNELS)
			return DP_EINVAL;
		nb = 1;
	} else if (n != 0) {
		return DP_EINVAL;
	}
	struct dp_nhg *g = malloc(sizeof(*g) + nb * sizeof(uint16_t));
	if (!g)
		return DP_ENOMEM;
	g->kind = (uint8_t)kind;
	g->nbuckets = kind == DP_NHG_FORWARD ? (uint16_t)fill_buckets(g->bucket, n, adj, weight) : 0;
	if (kind == DP_NHG_IPSEC) {
		g->nbuckets = 1;
		g->bucket[0] = adj[0];
	}
	adj_refs(t, g, +1);
	adj_refs(t, t->nhg[id], -1);
	return PUBLISH(t, t->nhg[id], g);
}

int dp_nhg_delete(struct dp_tables *t, uint32_t id)
{
	if (id >= DP_MAX_NHGS)
		return DP_EINVAL;
	struct dp_nhg *old = t->nhg[id];
	if (!old)
		return DP_ENOENT;
	adj_refs(t, old, -1);
	return PUBLISH(t, t->nhg[id], NULL);
}

int dp_adj_set(struct dp_tables *t, uint16_t id, const struct dp_adj *a)
{
	if (id >= DP_MAX_ADJS || a->port >= DP_MAX_PORTS || a->mtu < 68)
		return DP_EINVAL;
	struct dp_adj *n = malloc(sizeof(*n));
	if (!n)
		return DP_ENOMEM;
	*n = *a;
	return PUBLISH(t, t->adj[id], n);
}

int dp_adj_delete(struct dp_tables *t, uint16_t id)
{
	if (id >= DP_MAX_ADJS)
		return DP_EINVAL;
	struct dp_adj *old = t->adj[id];
	if (!old)
		return DP_ENOENT;
	if (t->refs_adj[id])
		return DP_EBUSY;
	return PUBLISH(t, t->adj[id], NULL);
}
