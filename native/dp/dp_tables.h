/*
 * dp_tables — the forwarding state the packet loop reads.
 *
 * What a packet meets, in order (ARCHITECTURE §1):
 *
 *   source selector   LPM per family: source prefix -> FIB base id (a
 *                     "source binding"; the interface it names is the
 *                     control layer's business).  No match: the family's
 *                     default binding, or a counted drop when there is none.
 *   FIB base N        an immutable object: its ordered sub-FIB rules and the
 *                     sub-FIB (N.0) used when no rule matches.
 *   sub-FIB N.M       LPM per family: destination prefix -> nexthop group id.
 *   nexthop group     an immutable object: a kind (forward, blackhole,
 *                     unreachable, prohibit, local) and, to forward, a table of
 *                     weighted ECMP buckets holding adjacency ids.
 *                     (or, kind IPSEC, a tunnel: see dp_ipsec.h).
 *   adjacency         an immutable object: egress port, MTU, and the Ethernet
 *                     header to write (or "unresolved").
 *
 * Ids are dense small integers chosen by the control layer.  Every slot is a
 * pointer the writer replaces with one release store; the old object is
 * retired through rcu_qsbr and freed only after every worker has passed a
 * quiescent state, so a worker may hold any object for the length of a burst.
 * (Slots are plain pointers accessed with __atomic builtins so that C++ can
 * include this header.)
 * Changing a nexthop group or an adjacency is therefore one pointer store, no
 * matter how many routes use it.
 *
 * Threads: one writer (the control thread) for every function here except the
 * dp_tables_rt accessors, which workers call.  Writer functions validate
 * their arguments and return 0 or a negative DP_E* code, and on error change
 * nothing.
 */
#ifndef SRCFIB_DP_TABLES_H
#define SRCFIB_DP_TABLES_H

#include <stdbool.h>
#include <stdint.h>

#include "dp_limits.h"
#include "lpm.h"
#include "rcu_qsbr.h"

#ifdef __cplusplus
extern "C" {
#endif

enum dp_err {
	DP_OK = 0,
	DP_EINVAL = -1,  /* an argument out of range */
	DP_ENOENT = -2,  /* no such object */
	DP_ENOMEM = -3,
	DP_EBUSY = -4,   /* still referenced */
	DP_ELPM = -5,    /* the LPM refused (see the lpm status) */
};
const char *dp_strerror(int err);

enum dp_nhg_kind {
	DP_NHG_FORWARD = 0,
	DP_NHG_BLACKHOLE,   /* drop silently (counted) */
	DP_NHG_UNREACHABLE, /* drop, ICMP destination unreachable (host unreachable / no route) */
	DP_NHG_PROHIBIT,    /* drop, ICMP administratively prohibited */
	DP_NHG_LOCAL,       /* for us: up the ingress port's TAP */
	DP_NHG_IPSEC,       /* into an IPsec tunnel (route-based IPsec): bucket[0] is the tunnel id */
};

#define DP_ID_NONE 0xFFFFu
#define DP_ANY_PORT 0xFFFFu
#define DP_ANY_DSCP 0xFFu

/* A sub-FIB rule.  Fields that do not constrain take their "any" value:
 * src_len 0, in_port DP_ANY_PORT, dscp DP_ANY_DSCP, proto_any, port ranges
 * 0..65535.  A rule with port ranges only matches packets that carry ports. */
struct dp_rule {
	uint32_t id;         /* for counters and Explain */
	uint16_t subfib;     /* the sub-FIB it selects */
	uint16_t in_port;
	uint8_t family;      /* 0: both, else 4 or 6 */
	uint8_t src_len;
	uint8_t dscp;
	uint8_t proto;
	uint8_t proto_any;
	uint8_t src[16];     /* network order, host bits zero */
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
};

struct dp_fib_base {
	uint16_t id;
	uint16_t default_subfib;
	uint16_t nrules;
	struct dp_rule rules[];
};

struct dp_nhg {
	uint8_t kind;
	uint16_t nbuckets;
	uint16_t bucket[]; /* adjacency ids; hash -> bucket[(hash * nbuckets) >> 32] */
};

struct dp_adj {
	uint16_t port;
	uint16_t mtu;        /* largest IP datagram on this link */
	uint8_t resolved;
	uint8_t dst_mac[6];
	uint8_t src_mac[6];
};

struct dp_port_conf {
	uint16_t dpdk_port;  /* the DPDK port id of the port */
	uint16_t tap_port;   /* the DPDK port id of its TAP, or DP_ID_NONE */
	uint16_t mtu;
	uint16_t mru;        /* largest IP datagram accepted on receive; 0: the MTU */
	uint8_t mac[6];
	uint8_t has_ip4, has_ip6;
	uint32_t ip4;        /* host order: source of ICMP errors sent from this port */
	uint8_t ip6[16];
};

struct dp_subfib {
	lpm_t *lpm[2]; /* [0] IPv4, [1] IPv6; NULL: empty */
};

struct dp_ipsec;

struct dp_tables {
	rcu_qsbr_t *rcu;
	struct dp_ipsec *ipsec;                 /* NULL: no IPsec (dp_ipsec_attach) */
	lpm_t *src[2];                          /* source selector per family */
	uint16_t src_default[2];        /* FIB base id or DP_ID_NONE */
	struct dp_fib_base *base[DP_MAX_FIBS];
	struct dp_subfib sub[DP_MAX_SUBFIBS];
	struct dp_nhg *nhg[DP_MAX_NHGS];
	struct dp_adj *adj[DP_MAX_ADJS];
	struct dp_port_conf *port[DP_MAX_PORTS];
	/* writer only */
	struct dp_retired *retired;
	uint32_t nretired, capretired;
	uint32_t refs_adj[DP_MAX_ADJS];         /* nexthop groups using each adjacency */
};

struct dp_tables *dp_tables_create(rcu_qsbr_t *rcu);
void dp_tables_destroy(struct dp_tables *t);
/* Frees retired objects whose grace period has passed (wait: block until all are). */
void dp_tables_reclaim(struct dp_tables *t, bool wait);

/* A grace period the writer keeps for its own bookkeeping: the control plane gives an object's id
 * back only when every worker has passed a quiescent state after the object went, so that no
 * packet of the old owner is counted under the id of the new one.  The token (0 when there are no
 * workers), and whether it is done (never blocks). */
uint64_t dp_tables_grace_start(struct dp_tables *t);
bool dp_tables_grace_done(const struct dp_tables *t, uint64_t token);

int dp_port_set(struct dp_tables *t, uint16_t port, const struct dp_port_conf *c);
int dp_port_clear(struct dp_tables *t, uint16_t port);

/* Source bindings: prefix -> FIB base.  fib DP_ID_NONE as default: no default. */
int dp_binding_set(struct dp_tables *t, int family, const uint8_t *addr, unsigned len, uint16_t fib);
int dp_binding_delete(struct dp_tables *t, int family, const uint8_t *addr, unsigned len);
int dp_binding_default(struct dp_tables *t, int family, uint16_t fib);

/* FIB bases: replaces the whole rule list at once. */
int dp_fib_base_set(struct dp_tables *t, uint16_t fib, uint16_t default_subfib, const struct dp_rule *rules,
                    unsigned nrules);
int dp_fib_base_delete(struct dp_tables *t, uint16_t fib);

/* Sub-FIB routes: destination prefix -> nexthop group id.  The LPM of a
 * sub-FIB is created on its first route. */
int dp_route_set(struct dp_tables *t, uint16_t subfib, int family, const uint8_t *addr, unsigned len,
                 uint32_t nhg, int *lpm_status);
int dp_route_delete(struct dp_tables *t, uint16_t subfib, int family, const uint8_t *addr, unsigned len,
                    int *lpm_status);
/* Applies n changes to a sub-FIB's routes of one family as one update
 * (lpm_routes_apply): nhgs[i] is the new nexthop group of prefix i, or
 * DP_ROUTE_DELETE to remove it (a prefix that is not there is no error).
 * old[i] receives the group it had, or LPM_MISS.  All or nothing: *done is n
 * on success and 0 on any error. */
#define DP_ROUTE_DELETE 0xFFFFFFFFu
int dp_routes_apply(struct dp_tables *t, uint16_t subfib, int family, size_t n, const uint8_t *addrs,
                    const uint8_t *lens, const uint32_t *nhgs, uint32_t *old, size_t *done, int *lpm_status);
/* Replaces a sub-FIB's routes of one family with n routes, built beside the
 * old table (see lpm_table_build). */
int dp_subfib_load(struct dp_tables *t, uint16_t subfib, int family, size_t n, const uint8_t *addrs,
                   const uint8_t *lens, const uint32_t *nhgs, int *lpm_status);
/* Publishes a table built elsewhere (lpm_table_build on a detached table with
 * no readers, e.g. on another thread) as the sub-FIB's routes of its family.
 * Takes ownership of fresh (destroyed on every path). */
int dp_subfib_adopt(struct dp_tables *t, uint16_t subfib, int family, lpm_t *fresh, int *lpm_status);
lpm_t *dp_subfib_lpm(struct dp_tables *t, uint16_t subfib, int family, bool create);

/* Nexthop groups.  Forward groups name 1..64 adjacencies with weights
 * 1..65535; the buckets approximate the weights to within 1/1024.  An IPSEC
 * group names one tunnel id (adj[0], < DP_MAX_TUNNELS; the tunnel may come
 * later: until then its packets are dropped as ipsec_no_out_sa). */
int dp_nhg_set(struct dp_tables *t, uint32_t id, enum dp_nhg_kind kind, unsigned n, const uint16_t *adj,
               const uint16_t *weight);
int dp_nhg_delete(struct dp_tables *t, uint32_t id);

int dp_adj_set(struct dp_tables *t, uint16_t id, const struct dp_adj *a);
int dp_adj_delete(struct dp_tables *t, uint16_t id);

/* Reader side: slots are read with acquire loads (the writer publishes with
 * release stores). */
#define DP_LOAD(slot) __atomic_load_n(&(slot), __ATOMIC_ACQUIRE)

#ifdef __cplusplus
}
#endif
#endif
