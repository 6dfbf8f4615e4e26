/*
 * dp_counters — per-lcore forwarding counters.
 *
 * Every worker lcore owns one struct dp_counters and is its only writer; the
 * control thread reads them without stopping the loop and sums over lcores.
 * The counters are plain 64-bit stores (a reader sees a value that was true
 * at some instant; on x86-64 aligned 64-bit loads and stores do not tear),
 * so the hot path never uses atomics.  Each lcore's block starts on its own
 * cache line so that no two writers share a line.
 *
 * Every packet the loop receives ends in exactly one place: transmitted,
 * punted to the kernel, consumed by an ICMP error, or dropped under exactly
 * one reason below.  Tests check that the counts add up.
 */
#ifndef SRCFIB_DP_COUNTERS_H
#define SRCFIB_DP_COUNTERS_H

#include <stdint.h>

#include "dp_limits.h"

/* X-macro: enum name, the counter's stable name (API, CLI), what it means. */
#define DP_DROP_REASONS(X)                                                                            \
	X(RUNT, "runt", "frame shorter than an Ethernet header")                                      \
	X(L2_OTHER_HOST, "l2_other_host", "unicast frame for another MAC address")                     \
	X(RX_OVER_MTU, "rx_over_mtu", "frame longer than the port's MTU allows")                       \
	X(VLAN_TRUNCATED, "vlan_truncated", "802.1Q tag cut short")                                    \
	X(HDR_SPLIT, "hdr_split", "headers not in the first segment")                                  \
	X(IP4_TRUNCATED, "ip4_truncated", "shorter than an IPv4 header")                               \
	X(IP4_VERSION, "ip4_version", "IPv4 ethertype but version is not 4")                           \
	X(IP4_IHL, "ip4_ihl", "IPv4 header length below 20 or past the frame")                         \
	X(IP4_TOTAL_LENGTH, "ip4_total_length", "IPv4 total length below the header or past the frame") \
	X(IP4_CHECKSUM, "ip4_checksum", "IPv4 header checksum wrong")                                  \
	X(IP4_BAD_SOURCE, "ip4_bad_source", "IPv4 source is multicast, broadcast or loopback")         \
	X(IP6_TRUNCATED, "ip6_truncated", "shorter than an IPv6 header")                               \
	X(IP6_VERSION, "ip6_version", "IPv6 ethertype but version is not 6")                           \
	X(IP6_PAYLOAD_LENGTH, "ip6_payload_length", "IPv6 payload length past the frame")              \
	X(IP6_EXT_TRUNCATED, "ip6_ext_truncated", "IPv6 extension header chain cut short")             \
	X(IP6_BAD_SOURCE, "ip6_bad_source", "IPv6 source is multicast or loopback")                    \
	X(NO_SOURCE_BINDING, "no_source_binding", "no source binding and no default for the source")   \
	X(NO_ROUTE, "no_route", "no route to the destination (ICMP unreachable sent if allowed)")      \
	X(BLACKHOLE, "blackhole", "blackhole route")                                                   \
	X(UNREACHABLE, "unreachable", "unreachable route (ICMP sent if allowed)")                      \
	X(PROHIBIT, "prohibit", "prohibit route (ICMP administratively prohibited sent if allowed)")   \
	X(TTL_EXPIRED, "ttl_expired", "TTL or hop limit exhausted (ICMP time exceeded sent if allowed)") \
	X(TOO_BIG, "too_big", "over the egress MTU (ICMP frag needed / packet too big if allowed)")    \
	X(FRAG_FAILED, "frag_failed", "IPv4 fragmentation failed (no buffers)")                        \
	X(ADJ_UNRESOLVED, "adj_unresolved", "next hop's link-layer address unknown; resolution asked") \
	X(ADJ_MISSING, "adj_missing", "route names a nexthop group or adjacency that is not installed") \
	X(PORT_DOWN, "port_down", "egress port not running")                                           \
	X(TX_FULL, "tx_full", "egress queue full")                                                     \
	X(PUNT_FULL, "punt_full", "kernel (TAP) queue full or no TAP")                                 \
	X(NO_MBUF, "no_mbuf", "no buffer for an ICMP error or fragment")                              \
	X(IPSEC_NO_SA, "ipsec_no_sa", "ESP/AH to a local address with an SPI no inbound SA has")      \
	X(IPSEC_REPLAY, "ipsec_replay", "IPsec sequence number replayed or left of the window")       \
	X(IPSEC_AUTH, "ipsec_auth", "IPsec integrity check (ICV) failed")                             \
	X(IPSEC_MALFORMED, "ipsec_malformed", "not a valid ESP/AH packet for its SA (length, padding, shape)") \
	X(IPSEC_CRYPTO, "ipsec_crypto", "crypto device out of operations or did not finish")           \
	X(IPSEC_EXPIRED, "ipsec_expired", "SA past its hard lifetime")                                 \
	X(IPSEC_POLICY, "ipsec_policy", "inbound policy check failed: plaintext where protection is required, or the wrong SA") \
	X(IPSEC_DISCARD, "ipsec_discard", "a security policy says discard")                            \
	X(IPSEC_NO_OUT_SA, "ipsec_no_out_sa", "protected or IPsec-routed packet whose tunnel has no outbound SA for its family") \
	X(IPSEC_NESTED, "ipsec_nested", "decrypted packet is IPsec for us again (one level only)")

enum dp_drop {
#define DP_X(name, str, help) DP_DROP_##name,
	DP_DROP_REASONS(DP_X)
#undef DP_X
	DP_DROP_MAX
};

struct dp_port_counters {
	uint64_t rx_pkts, rx_bytes;
	uint64_t tx_pkts, tx_bytes;     /* forwarded out of this port (incl. ICMP we generate) */
	uint64_t punt_pkts;             /* sent up this port's TAP */
	uint64_t inject_pkts;           /* written by the kernel on the TAP, sent out of the port */
	uint64_t icmp_sent, icmp_ratelimited;
	uint64_t frag_pkts, frag_created; /* IPv4 packets fragmented out of this port; fragments made */
};

struct dp_counters {
	uint64_t drop[DP_DROP_MAX];
	struct dp_port_counters port[DP_MAX_PORTS];
	uint64_t fib_pkts[DP_MAX_FIBS];       /* by FIB base (the source selector's choice) */
	uint64_t subfib_pkts[DP_MAX_SUBFIBS]; /* by sub-FIB (the table the destination was looked up in) */
	uint64_t rule_hits[DP_MAX_RULE_IDS];  /* by sub-FIB rule id */
	struct {
		uint64_t pkts, bytes;
	} adj[DP_MAX_ADJS];
	/* by SA id: packets and bytes that passed (outbound: the ESP/AH packets made; inbound: the
	 * packets decrypted), and the ones it refused by reason */
	struct {
		uint64_t pkts, bytes, replay, auth, other;
	} sa[DP_MAX_SAS];
	uint64_t sp_hits[2][DP_MAX_SPS];      /* by policy id, [DP_SP_IN] and [DP_SP_OUT] */
} __attribute__((aligned(64)));

extern const char *const dp_drop_names[DP_DROP_MAX];
extern const char *const dp_drop_help[DP_DROP_MAX];

#endif
