/*
 * dp_ipsec — the SAD, the SPD and tunnels as the packet loop sees them (ARCHITECTURE §7).
 *
 * SAs (security associations) sit in slots by a dense id the control layer chooses, like
 * nexthop groups. Each wraps one ESP (ipsec_esp) or AH (ipsec_ah) SA and is one direction.
 *
 *   inbound SAs   are found by (SPI, protocol): an ESP or AH packet (or, for a NAT-T SA,
 *                 ESP in UDP to port 4500) whose outer destination is the SA's destination
 *                 is decrypted/verified before any lookup, and the inner packet re-enters
 *                 forwarding: the source selector and the FIBs apply to it.  (SPI, protocol)
 *                 is unique among inbound SAs.
 *   tunnels       group SAs, like an IKE CHILD_SA's reqid: a tunnel names its current
 *                 outbound SA per inner family and any number of inbound SAs name their
 *                 tunnel, so during a rekey the old and the new inbound SA both decrypt.
 *   SPD           two ordered policy lists (inbound, outbound), first match wins, each
 *                 policy BYPASS, DISCARD or PROTECT (a tunnel).  Outbound: a forwarded
 *                 packet that a PROTECT policy selects is encrypted with the tunnel's
 *                 outbound SA, without a route lookup of its own destination; the ESP/AH
 *                 packet is then routed (its source address selects its FIB).  Inbound: a
 *                 plaintext packet that a PROTECT policy selects is dropped (it should have
 *                 come protected), and a decrypted packet a policy selects must have been
 *                 decrypted by an SA of that policy's tunnel.  A decrypted packet no policy
 *                 selects is accepted: route-based tunnels need no policies.
 *   routes        a nexthop group of kind DP_NHG_IPSEC sends what routes to it into a
 *                 tunnel (route-based IPsec).
 *
 * Each SA is run by one worker at a time (a spinlock per SA: the sequence number, the replay
 * window and the lifetime counters are the SA's state); different SAs run in parallel.
 * Replacing an SA is delete + add (a fresh SA object and session).  Deleted SAs are destroyed
 * (keys zeroed) once every worker has been quiescent.
 *
 * Threads: the control thread calls everything except the dp_ipsec_rt_* readers, which the
 * workers use.  Writers validate and return 0 or a negative DP_E* code and change nothing on
 * error; err gets a message that never contains key material.
 */
#ifndef SRCFIB_DP_IPSEC_H
#define SRCFIB_DP_IPSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_limits.h"
#include "dp_tables.h"
#include "../ipsec/ipsec_esp.h"

#ifdef __cplusplus
extern "C" {
#endif

enum dp_sp_action { DP_SP_BYPASS = 0, DP_SP_DISCARD = 1, DP_SP_PROTECT = 2 };
enum { DP_SP_IN = 0, DP_SP_OUT = 1 };

/* A security policy.  Selectors that do not constrain: a prefix length 0, proto_any, port
 * ranges 0..65535 (a policy with port ranges selects only packets that carry ports). */
struct dp_sp {
	uint32_t id;          /* for counters: < DP_MAX_SPS */
	uint8_t family;       /* 4 or 6 */
	uint8_t src_len, dst_len;
	uint8_t proto, proto_any;
	uint8_t action;       /* enum dp_sp_action */
	uint16_t tunnel;      /* PROTECT: the tunnel */
	uint8_t src[16], dst[16]; /* network order, host bits zero */
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
};

struct dp_sa_spec {
	uint8_t proto;        /* 50 (ESP) or 51 (AH) */
	uint16_t tunnel;      /* the tunnel it belongs to (inbound: whose policies accept what it
	                         decrypts), or DP_ID_NONE */
	struct ipsec_sa_conf conf; /* conf.src/dst: the outer addresses in both modes (transport:
	                              the packets' own), conf.outer_family their family */
};

struct dp_tunnel {
	uint16_t mtu[2];      /* largest inner packet sent into the tunnel, IPv4 [0] and IPv6 [1] (each
	                         its outbound SA's); larger IPv4 with DF and IPv6 get ICMP "too big"
	                         with it.  0: 1400; IPv4 at least 576, IPv6 at least 1280 (RFC 8200
	                         5: hosts ignore a smaller one) */
	uint16_t out_sa[2];   /* current outbound SA for inner IPv4 [0] and IPv6 [1], or DP_ID_NONE */
};

struct dp_sa {
	uint32_t lock;        /* rte_spinlock_t's int, kept plain so C++ can include this header */
	uint16_t id, tunnel;
	uint32_t spi;
	uint8_t proto, inbound, is_tunnel, natt;
	uint8_t outer_family, inner_family;
	uint16_t natt_port;   /* inbound NAT-T: the UDP destination port (4500) */
	uint8_t dst[16];      /* outer destination */
	uint8_t dead;         /* hard-expired by the control plane's clock: refuse packets */
	struct ipsec_esp_sa *esp;
	struct ipsec_ah_sa *ah;
};

/* (SPI, protocol) -> inbound SA: an immutable open-addressing table, rebuilt and republished
 * on every inbound SA change (SAs change at IKE pace, packets at line rate). */
struct dp_spi_ent {
	uint32_t spi;
	uint16_t sa;
	uint8_t proto;
	uint8_t used;
};
struct dp_spi_map {
	uint32_t mask;
	struct dp_spi_ent e[];
};
static inline uint32_t dp_spi_hash(uint32_t spi, uint8_t proto) { return (spi ^ (uint32_t)proto << 24) * 2654435761u; }

/* A policy's selector as the worker tests it, in one test for IPv4: a packet matches when
 * (src & smask4) == src4, (dst & dmask4) == dst4 and (proto & pmask) == proto (host order;
 * pmask 0 for any protocol), and then its ports.  An IPv6 policy has smask4 0 and src4 1,
 * which no IPv4 packet matches. */
struct dp_sp_match {
	uint32_t src4, smask4, dst4, dmask4;
	uint8_t family, proto, pmask, ports_any;
};
struct dp_spd {
	/* IPv4: bit o of src8 (dst8) is set when some IPv4 policy's source (destination) prefix covers
	 * addresses whose first octet is o; a packet whose octets are not both set matches none */
	uint64_t src8[4], dst8[4];
	uint16_t n;
	const struct dp_sp_match *mt; /* mt[i] is sp[i]'s, in the same allocation */
	struct dp_sp sp[];
};

struct dp_ipsec_retired;

struct dp_ipsec {
	struct ipsec_crypto *crypto;
	struct dp_sa *sa[DP_MAX_SAS];
	struct dp_spi_map *in_map;        /* (SPI, proto) -> inbound SA id */
	struct dp_spd *spd[2];            /* [DP_SP_IN], [DP_SP_OUT]; NULL when empty */
	struct dp_tunnel *tun[DP_MAX_TUNNELS];
	/* the IKE daemon's UDP ports (dp_ike_port): [0] IKE (500), [1] NAT-T (4500), where ESP in
	 * UDP comes too; set before the workers start */
	uint16_t ike_port[2];
	/* writer only */
	rcu_qsbr_t *rcu;
	struct dp_ipsec_retired *retired;
	uint32_t nretired, capretired;
};

/* Attaches IPsec to the tables (t->ipsec), with SAs on crypto device c (not owned). */
int dp_ipsec_attach(struct dp_tables *t, struct ipsec_crypto *c);
/* Sets the IKE daemon's ports (both 1-65535, different; attach sets 500 and 4500), before any
 * worker runs. */
int dp_ipsec_set_ike_ports(struct dp_tables *t, uint16_t ike, uint16_t natt);
/* Detaches and frees everything (no worker may be running). */
void dp_ipsec_detach(struct dp_tables *t);
/* Destroys deleted SAs whose grace period has passed (wait: all of them). */
void dp_ipsec_reclaim(struct dp_tables *t, bool wait);

int dp_sa_add(struct dp_tables *t, uint16_t id, const struct dp_sa_spec *s, char *err, size_t errlen);
/* DP_EBUSY when a tunnel still uses it as its outbound SA. */
int dp_sa_delete(struct dp_tables *t, uint16_t id, char *err, size_t errlen);
/* Marks an SA hard-expired (a time lifetime): it passes no further packet. */
int dp_sa_expire(struct dp_tables *t, uint16_t id);
int dp_sa_stats(struct dp_tables *t, uint16_t id, struct ipsec_sa_stats *out);
/* Changes an SA's traffic lifetimes in place (a new SA would restart its sequence numbers). */
int dp_sa_set_life(struct dp_tables *t, uint16_t id, const struct ipsec_life *life);

/* A tunnel's outbound SAs must exist, be outbound and carry the family of their slot. */
int dp_tunnel_set(struct dp_tables *t, uint16_t id, const struct dp_tunnel *tun, char *err, size_t errlen);
int dp_tunnel_delete(struct dp_tables *t, uint16_t id);

/* Replaces one direction's policies with sp[0 .. n), in match order. */
int dp_spd_set(struct dp_tables *t, int dir, const struct dp_sp *sp, unsigned n, char *err, size_t errlen);

/* ---- workers ---- */

/* dp_ipsec_rt_in_sa (the inbound SA for an SPI and protocol) and dp_ipsec_rt_spd (the first
 * policy of a direction that selects a packet) are in dp_worker.h, inline beside the sub-FIB
 * rule matcher: they run for every packet. */

#ifdef __cplusplus
}
#endif
#endif
