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

/* Whether a 20-byte IPv4 header's checksum is right: dp_cksum(h, 20, 0) == 0xFFFF, without
 * the call and the loop (five 32-bit loads; the sum of the native words is the byte-swapped
 * sum of the network-order ones, and 0xFFFF is its own swap). */
static inline bool dp_ip4_hdr20_ok(const uint8_t *h)
{
	uint32_t w0, w1, w2, w3, w4; /* not an array: that goes through the stack */
	__builtin_memcpy(&w0, h, 4);
	__builtin_memcpy(&w1, h + 4, 4);
	__builtin_memcpy(&w2, h + 8, 4);
	__builtin_memcpy(&w3, h + 12, 4);
	__builtin_memcpy(&w4, h + 16, 4);
	uint64_t s = (uint64_t)w0 + w1 + w2 + w3 + w4;
	s = (s & 0xFFFFFFFFu) + (s >> 32);
	s = (s & 0xFFFF) + (s >> 16);
	s = (s & 0xFFFF) + (s >> 16);
	s = (s & 0xFFFF) + (s >> 16);
	return s == 0xFFFF;
}

/* Upper-layer protocols whose first four bytes are source and destination port: TCP, UDP,
 * SCTP, UDP-Lite. */
static inline bool dp_proto_has_ports(uint8_t proto) { return proto == 6 || proto == 17 || proto == 132 || proto == 136; }

static inline uint16_t dp_rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t dp_rd32(const uint8_t *p) /* compilers make this one byte-swapping load */
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* dp_pkt_parse's result for the frame most traffic is, inline: untagged, to port_mac (never
 * multicast), IPv4 with a 20-byte header and a valid checksum (unless hw_cksum_good), not a
 * fragment, source and destination below 224.0.0.0 (the source not in 127/8), TCP, UDP,
 * SCTP or UDP-Lite with its ports, or any other protocol but ICMP, ICMPv6 and AH.  Returns
 * false, p untouched, for anything else: the caller then runs dp_pkt_parse, which decides.
 * Where it returns true, p is what dp_pkt_parse gives, field for field (test_dp_fwd checks
 * that on mutated frames). */
static inline bool dp_pkt_parse_fast4(struct dp_pkt *p, const uint8_t *f, uint32_t len, const uint8_t port_mac[6],
                                      uint32_t max_l3, bool hw_cksum_good)
{
	if (len < 14 + 20)
		return false;
	uint32_t d0, m0;
	uint16_t d1, m1;
	__builtin_memcpy(&d0, f, 4);
	__builtin_memcpy(&d1, f + 4, 2);
	__builtin_memcpy(&m0, port_mac, 4);
	__builtin_memcpy(&m1, port_mac + 4, 2);
	uint32_t e = (uint32_t)f[12] | (uint32_t)f[13] << 8 | (uint32_t)f[14] << 16; /* ethertype, version/IHL */
	/* bitwise, not short-circuit: one branch for the lot */
	if ((d0 ^ m0) | (uint32_t)(d1 ^ m1) | (f[0] & 1u) | (e ^ (0x08u | 0x45u << 16)))
		return false;
	const uint8_t *h = f + 14;
	uint32_t tot = dp_rd16(h + 2);
	uint16_t frag = dp_rd16(h + 6);
	uint8_t proto = h[9];
	uint32_t src = dp_rd32(h + 12), dst = dp_rd32(h + 16);
	uint32_t room = len - 14 < max_l3 ? len - 14 : max_l3;
	if ((tot < 20) | (tot > room) | ((frag & 0x3FFF) != 0) | (proto == 1) | (proto == 51) | (proto == 58))
		return false;
	/* multicast, class E and broadcast (dp_pkt_parse forwards class E destinations: it decides) */
	if ((dst >= 0xE0000000u) | (src >= 0xE0000000u) | ((src >> 24) == 127))
		return false;
	if (!hw_cksum_good && !dp_ip4_hdr20_ok(h))
		return false;
	__builtin_memset(p, 0, sizeof *p);
	p->l2_len = 14;
	p->l3_len = (uint16_t)tot;
	p->l4_off = 14 + 20;
	p->dscp = h[1] >> 2;
	p->ttl = h[8];
	p->proto = proto;
	p->src4 = src;
	p->dst4 = dst;
	p->flags = (frag & 0x4000) ? DP_PKT_F_DF : 0;
	if (dp_proto_has_ports(proto) && tot >= 24) {
		p->sport = dp_rd16(h + 20);
		p->dport = dp_rd16(h + 22);
		p->flags |= DP_PKT_F_PORTS;
	}
	p->cls = DP_PKT_IP4;
	return true;
}

#endif
