/*
 * dp_pkt — parsing a received frame into the facts forwarding needs.
 *
 * The parser trusts nothing: every length is checked against the bytes
 * actually received before it is used, and a frame that fails a check is
 * classified with the drop reason that names the check (dp_counters.h).
 * The result points into the frame; it is valid while the mbuf is.
 *
 * Layers: Ethernet with up to two 802.1Q/802.1ad tags; IPv4 with options
 * (header checksum verified unless the NIC already did); IPv6 with its
 * extension header chain walked to the upper-layer protocol (hop-by-hop,
 * routing, fragment, destination options, AH; ESP and no-next-header end
 * the chain).  L4 ports are read for TCP, UDP, SCTP and UDP-Lite when the
 * packet is not a non-first fragment and the ports are present.
 */
#ifndef SRCFIB_DP_PKT_H
#define SRCFIB_DP_PKT_H

#include <stdbool.h>
#include <stdint.h>

enum dp_pkt_class {
	DP_PKT_DROP = 0,  /* malformed: see dp_pkt.drop */
	DP_PKT_IP4,       /* forwardable IPv4 */
	DP_PKT_IP6,       /* forwardable IPv6 */
	DP_PKT_PUNT,      /* ARP, other ethertypes, link-local / multicast IP, etc.: to the kernel */
};

enum {
	DP_PKT_F_FRAG = 1,          /* a fragment (any) */
	DP_PKT_F_FRAG_LATER = 2,    /* a fragment other than the first: no L4 header */
	DP_PKT_F_DF = 4,            /* IPv4 don't fragment */
	DP_PKT_F_PORTS = 8,         /* sport/dport valid */
	DP_PKT_F_ICMP_ERROR = 16,   /* an ICMP/ICMPv6 error message: never answered with one */
	DP_PKT_F_L2_MULTI = 32,     /* Ethernet multicast/broadcast destination */
	DP_PKT_F_SRC_LL = 64,       /* IPv6 link-local source: deliverable locally, never forwarded */
};

struct dp_pkt {
	uint16_t l4_off;   /* offset of the upper-layer header (after IPv6 extensions) */
	uint16_t l3_len;   /* IP datagram length per its header (frame padding excluded) */
	uint8_t cls;       /* enum dp_pkt_class */
	uint8_t drop;      /* enum dp_drop when cls == DP_PKT_DROP */
	uint8_t proto;     /* upper-layer protocol */
	uint8_t dscp;
	uint8_t ttl;       /* TTL / hop limit */
	uint8_t flags;     /* DP_PKT_F_* */
	uint8_t l2_len;    /* Ethernet header incl. VLAN tags = offset of the IP header */
	uint16_t sport, dport; /* host order, when DP_PKT_F_PORTS */
	uint16_t in_port;
	uint16_t ah_off;   /* offset of the first AH header (IPv4: the upper layer; IPv6: in the chain), 0: none */
	uint32_t src4, dst4;   /* IPv4, host order */
	const uint8_t *src6, *dst6; /* IPv6, into the frame */
};

/* Parses frame[0..len).  hw_cksum_good: the NIC verified the IPv4 checksum.
 * port_mac: the receiving port's MAC (unicast to any other MAC is dropped).
 * max_l3: the largest IP datagram the port accepts (its MTU). */
void dp_pkt_parse(struct dp_pkt *p, const uint8_t *frame, uint32_t len, const uint8_t port_mac[6],
                  uint32_t max_l3, bool hw_cksum_good);

/* Internet checksum helpers (RFC 1071), host-order results. */
uint16_t dp_cksum(const void *buf, uint32_t len, uint32_t initial);

#endif
