/*
 * dp_explain — what the packet loop would do with one packet, step by step, read from the same
 * published tables the workers read (ARCHITECTURE §1): for a plaintext packet received on a port,
 * the IPsec policies (inbound, then outbound: a protect policy sends it into a tunnel before any
 * lookup), source binding, FIB base, sub-FIB rule, destination LPM, nexthop group (a route into a
 * tunnel, which needs an outbound SA of the family), ECMP choice by the same flow hash, adjacency;
 * a link-local IPv6 source goes neither out nor into a tunnel, and ESP/AH for the router is taken
 * to have an SPI no inbound SA has (one that has is decrypted first).  For the API's Explain call,
 * so that the answer is the dataplane's, not a model of it.
 *
 * Threads: any thread that may read the tables (the control thread).  TTL, MTU and packet
 * validity are not considered: it explains a well-formed packet.
 */
#ifndef SRCFIB_DP_EXPLAIN_H
#define SRCFIB_DP_EXPLAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "dp_tables.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dp_explain_in {
	int family; /* 4 or 6 */
	uint8_t src[16], dst[16]; /* network order (IPv4 in the first 4 bytes) */
	uint16_t in_port;
	uint8_t proto, dscp;
	bool has_ports;
	uint16_t sport, dport;
};

struct dp_explain_out {
	uint32_t fib;        /* FIB base id, DP_ID_NONE: none (dropped) */
	bool by_default;     /* the family's default binding chose it */
	int64_t rule;        /* the rule id that chose the sub-FIB, -1: none (N.0) */
	uint32_t subfib;
	uint32_t nhg;        /* LPM result; LPM_MISS: no route */
	int kind;            /* enum dp_nhg_kind, -1: no group */
	int64_t adj;         /* chosen adjacency id, -1: none */
	bool resolved;
	uint16_t out_port;
	uint8_t mac[6];
	int drop;            /* enum dp_drop the packet would be counted under, -1: none */
	int64_t sp_in;       /* the inbound policy that selects it, -1: none */
	int64_t sp_out;      /* the outbound policy that selects it, -1: none (not looked up when the
	                        inbound one refused it) */
	bool local_only;     /* IKE, or ESP/AH, that an inbound protect policy refuses unless it is for
	                        us (dp_ike_to; ESP/AH to us then count as ipsec_no_sa) */
	uint16_t tunnel;     /* into this tunnel (a protect policy, or a route), DP_ID_NONE: none */
};

void dp_explain(const struct dp_tables *t, const struct dp_explain_in *in, struct dp_explain_out *out);

#ifdef __cplusplus
}
#endif

#endif
