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
	DP_PKT_F_LOCAL_ONLY = 128,  /* for us only, else dropped for dp_pkt.drop (IKE, ESP or AH that
	                               an inbound IPsec policy would refuse: see dp_fwd.c) */
};

struct dp_pkt {
	uint16_t l4_off;   /* offset of the upper-layer header (after IPv6 extensions) */
	uint16_t l3_len;   /* IP datagram length per its header (frame padding excluded) */
	uint8_t cls;       /* enum dp_pkt_class */
	uint8_t drop;      /* enum dp_drop when cls == DP_PKT_DROP, or with DP_PKT_F_LOCAL_ONLY */
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
 * the call and the loop.  w0 .. w4 are the header's five 32-bit words as loaded (host order).
 * Their sum S, taken mod 65535, is the 16-bit one's-complement sum of the header's halves (2^16
 * is 1 mod 65535), and byte order does not matter for it (swapping a half multiplies it by 256
 * mod 65535, which is invertible).  The folded sum is 0xFFFF exactly when S is a non-zero
 * multiple of 65535 (S is never 0: the version byte is in it), and for odd 65535 that is one
 * multiplication: S * 65535^-1 mod 2^64 <= (2^64 - 1) / 65535. */
static inline bool dp_ip4_sum20_ok(uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3, uint32_t w4)
{
	uint64_t s = (uint64_t)w0 + w1 + w2 + w3 + w4;
	return s * 0xFFFEFFFEFFFEFFFFull <= 0x0001000100010001ull;
}

static inline bool dp_ip4_hdr20_ok(const uint8_t *h)
{
	uint32_t w0, w1, w2, w3, w4; /* not an array: that goes through the stack */
	__builtin_memcpy(&w0, h, 4);
	__builtin_memcpy(&w1, h + 4, 4);
	__builtin_memcpy(&w2, h + 8, 4);
	__builtin_memcpy(&w3, h + 12, 4);
	__builtin_memcpy(&w4, h + 16, 4);
	return dp_ip4_sum20_ok(w0, w1, w2, w3, w4);
}

/* Per upper-layer protocol (dp_parse.c): DP_FAST_PORTS, its first four bytes are source and
 * destination port (TCP, UDP, SCTP, UDP-Lite); DP_FAST_DECLINE, the fast parse leaves it to
 * dp_pkt_parse (ICMP, AH, ICMPv6: errors, AH offsets, ICMPv6 in IPv4). */
enum { DP_FAST_DECLINE = 1, DP_FAST_PORTS = 2 };
extern const uint8_t dp_fast_proto[256];

static inline bool dp_proto_has_ports(uint8_t proto) { return dp_fast_proto[proto] & DP_FAST_PORTS; }

static inline uint16_t dp_rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
/* Whether an IPv6 address is link-local (fe80::/10). */
static inline bool dp_ip6_link_local(const uint8_t *a) { return a[0] == 0xFE && (a[1] & 0xC0) == 0x80; }
static inline uint32_t dp_rd32(const uint8_t *p) /* compilers make this one byte-swapping load */
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The IPv4 part of the fast parse, the header at h with len bytes from it (see below). */
static inline __attribute__((always_inline)) bool dp_pkt_fast4_ip(struct dp_pkt *p, const uint8_t *h, uint32_t len,
                                                                  uint32_t max_l3, bool hw_cksum_good, uint8_t l2_len)
{
	uint32_t w0, w1, w2, w3, w4; /* the header's words as loaded: little-endian halves of it */
	__builtin_memcpy(&w0, h, 4);
	__builtin_memcpy(&w1, h + 4, 4);
	__builtin_memcpy(&w2, h + 8, 4);
	__builtin_memcpy(&w3, h + 12, 4);
	__builtin_memcpy(&w4, h + 16, 4);
	uint32_t tot = __builtin_bswap16((uint16_t)(w0 >> 16));
	uint32_t src = __builtin_bswap32(w3), dst = __builtin_bswap32(w4);
	uint8_t proto = (uint8_t)(w2 >> 8), pf = dp_fast_proto[proto]; /* both questions, one load */
	uint32_t room = len < max_l3 ? len : max_l3;
	if (tot < 20 || tot > room)
		return false;
	if ((w1 & 0xFF3F0000u) || (pf & DP_FAST_DECLINE)) /* MF or a fragment offset; see dp_fast_proto */
		return false;
	/* multicast, class E and broadcast (dp_pkt_parse forwards class E destinations: it decides),
	 * sources in 127/8 */
	if (dst >= 0xE0000000u || src >= 0xE0000000u || (src >> 24) == 127)
		return false;
	if (!hw_cksum_good && !dp_ip4_sum20_ok(w0, w1, w2, w3, w4))
		return false;
	__builtin_memset(p, 0, sizeof *p);
	p->l2_len = l2_len;
	p->l3_len = (uint16_t)tot;
	p->l4_off = (uint16_t)(l2_len + 20);
	p->dscp = (uint8_t)((w0 >> 10) & 0x3F);
	p->ttl = (uint8_t)w2;
	p->proto = proto;
	p->src4 = src;
	p->dst4 = dst;
	uint8_t fl = (w1 & 0x00400000u) ? DP_PKT_F_DF : 0;
	if ((pf & DP_FAST_PORTS) && tot >= 24) {
		uint32_t pw;
		__builtin_memcpy(&pw, h + 20, 4);
		p->sport = __builtin_bswap16((uint16_t)pw);
		p->dport = __builtin_bswap16((uint16_t)(pw >> 16));
		fl |= DP_PKT_F_PORTS;
	}
	p->flags = fl;
	p->cls = DP_PKT_IP4;
	return true;
}

/* The same for an IP packet with no link-layer header in front (h: its first byte, len bytes):
 * what dp_pkt_parse_fast4 gives for it behind an Ethernet header, with l2_len 0 and l4_off 20.
 * Decrypted inner packets re-enter forwarding this way (dp_fwd.c). */
static inline bool dp_pkt_parse_fast4_l3(struct dp_pkt *p, const uint8_t *h, uint32_t len, uint32_t max_l3,
                                         bool hw_cksum_good)
{
	if (len < 20 || h[0] != 0x45)
		return false;
	return dp_pkt_fast4_ip(p, h, len, max_l3, hw_cksum_good, 0);
}

/* dp_pkt_parse's result for the frame most traffic is, inline: untagged, to port_mac (never
 * multicast), IPv4 with a 20-byte header and a valid checksum (unless hw_cksum_good), not a
 * fragment, source and destination below 224.0.0.0 (the source not in 127/8), TCP, UDP,
 * SCTP or UDP-Lite with its ports, or any other protocol but ICMP, ICMPv6 and AH.  Returns
 * false, p untouched, for anything else: the caller then runs dp_pkt_parse, which decides.
 * Where it returns true, p is what dp_pkt_parse gives, field for field (test_dp_fwd checks
 * that on mutated frames).  Written for few instructions: the loop runs at a high IPC. */
static inline bool dp_pkt_parse_fast4(struct dp_pkt *p, const uint8_t *f, uint32_t len, const uint8_t port_mac[6],
                                      uint32_t max_l3, bool hw_cksum_good)
{
	if (len < 14 + 20)
		return false;
	uint32_t d0, m0, e;
	uint16_t d1, m1;
	__builtin_memcpy(&d0, f, 4);
	__builtin_memcpy(&d1, f + 4, 2);
	__builtin_memcpy(&m0, port_mac, 4);
	__builtin_memcpy(&m1, port_mac + 4, 2);
	__builtin_memcpy(&e, f + 12, 4); /* ethertype, version/IHL */
	if ((d0 ^ m0) | (uint32_t)(d1 ^ m1) | (d0 & 1u) | ((e & 0xFFFFFFu) ^ (0x08u | 0x45u << 16)))
		return false;
	return dp_pkt_fast4_ip(p, f + 14, len - 14, max_l3, hw_cksum_good, 14);
}

#endif
