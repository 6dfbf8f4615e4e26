/* dp_parse — see dp_pkt.h.  No DPDK dependency: unit tests feed byte arrays. */
#include <string.h>

#include "dp_counters.h"
#include "dp_pkt.h"

/* dp_pkt.h: which protocols carry ports, and which the fast parse leaves to dp_pkt_parse */
const uint8_t dp_fast_proto[256] = {
	[1] = DP_FAST_DECLINE, [51] = DP_FAST_DECLINE, [58] = DP_FAST_DECLINE,
	[6] = DP_FAST_PORTS, [17] = DP_FAST_PORTS, [132] = DP_FAST_PORTS, [136] = DP_FAST_PORTS,
};

#define ETH_HLEN 14
#define ETHERTYPE_IP4 0x0800
#define ETHERTYPE_IP6 0x86DD
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88A8
#define IP6_HLEN 40
#define IP6_MAX_EXT 16 /* bounds the extension walk; longer chains count as truncated */

uint16_t dp_cksum(const void *buf, uint32_t len, uint32_t sum)
{
	/* 32-bit loads summed in memory order into 64 bits; the one's-complement sum of the
	 * native 16-bit words is the byte-swapped sum of the network-order ones (RFC 1071, 2.B) */
	const uint8_t *b = buf;
	uint64_t s = 0;
	for (; len >= 4; b += 4, len -= 4) {
		uint32_t w;
		memcpy(&w, b, 4);
		s += w;
	}
	if (len >= 2) {
		uint16_t w;
		memcpy(&w, b, 2);
		s += w;
		b += 2;
		len -= 2;
	}
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (len)
		s += b[0]; /* the odd byte, padded with a zero: the low byte of a native word */
	s = (s & 0xFFFFFFFFu) + (s >> 32);
	s = (s & 0xFFFF) + (s >> 16);
	s = (s & 0xFFFF) + (s >> 16);
	s = (s & 0xFFFF) + (s >> 16);
	sum += __builtin_bswap16((uint16_t)s);
#else
	if (len)
		s += (uint32_t)b[0] << 8;
	s = (s & 0xFFFFFFFFu) + (s >> 32);
	s = (s & 0xFFFF) + (s >> 16);
	s = (s & 0xFFFF) + (s >> 16);
	s = (s & 0xFFFF) + (s >> 16);
	sum += (uint32_t)s;
#endif
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)sum;
}

static inline void set_drop(struct dp_pkt *p, enum dp_drop why)
{
	p->cls = DP_PKT_DROP;
	p->drop = (uint8_t)why;
}

static void l4_ports(struct dp_pkt *p, const uint8_t *frame)
{
	uint32_t l4_avail = (uint32_t)p->l2_len + p->l3_len - p->l4_off;
	if (p->flags & DP_PKT_F_FRAG_LATER)
		return;
	if (dp_proto_has_ports(p->proto)) {
		if (l4_avail >= 4) {
			p->sport = dp_rd16(frame + p->l4_off);
			p->dport = dp_rd16(frame + p->l4_off + 2);
			p->flags |= DP_PKT_F_PORTS;
		}
		return;
	}
	switch (p->proto) {
	case 1: /* ICMP errors: unreachable, source quench, redirect, time exceeded, parameter problem */
		if (l4_avail >= 1) {
			uint8_t t = frame[p->l4_off];
			if (t == 3 || t == 4 || t == 5 || t == 11 || t == 12)
				p->flags |= DP_PKT_F_ICMP_ERROR;
		}
		break;
	case 58:
		if (l4_avail >= 1 && frame[p->l4_off] < 128)
			p->flags |= DP_PKT_F_ICMP_ERROR;
		break;
	}
}

static void parse_ip4(struct dp_pkt *p, const uint8_t *frame, uint32_t len, uint32_t max_l3, bool hw_ok)
{
	const uint8_t *h = frame + p->l2_len;
	uint32_t avail = len - p->l2_len;
	if (avail < 20)
		return set_drop(p, DP_DROP_IP4_TRUNCATED);
	if ((h[0] >> 4) != 4)
		return set_drop(p, DP_DROP_IP4_VERSION);
	uint32_t ihl = (uint32_t)(h[0] & 0xF) * 4;
	if (ihl < 20 || ihl > avail)
		return set_drop(p, DP_DROP_IP4_IHL);
	uint32_t tot = dp_rd16(h + 2);
	if (tot < ihl || tot > avail)
		return set_drop(p, DP_DROP_IP4_TOTAL_LENGTH);
	if (tot > max_l3)
		return set_drop(p, DP_DROP_RX_OVER_MTU);
	if (!hw_ok && (ihl == 20 ? !dp_ip4_hdr20_ok(h) : dp_cksum(h, ihl, 0) != 0xFFFF))
		return set_drop(p, DP_DROP_IP4_CHECKSUM);
	p->l3_len = (uint16_t)tot;
	p->l4_off = (uint16_t)(p->l2_len + ihl);
	p->dscp = h[1] >> 2;
	p->ttl = h[8];
	p->proto = h[9];
	p->src4 = dp_rd32(h + 12);
	p->dst4 = dp_rd32(h + 16);
	uint16_t frag = dp_rd16(h + 6);
	if (frag & 0x4000)
		p->flags |= DP_PKT_F_DF;
	if (frag & 0x3FFF) {
		p->flags |= DP_PKT_F_FRAG;
		if (frag & 0x1FFF)
			p->flags |= DP_PKT_F_FRAG_LATER;
	}
	/* Multicast and limited broadcast are the kernel's (routing protocols,
	 * DHCP, IGMP); this dataplane does not forward multicast. */
	if ((p->dst4 >> 28) == 0xE || p->dst4 == 0xFFFFFFFFu) {
		p->cls = DP_PKT_PUNT;
		return;
	}
	if ((p->src4 >> 28) == 0xE || p->src4 == 0xFFFFFFFFu || (p->src4 >> 24) == 127)
		return set_drop(p, DP_DROP_IP4_BAD_SOURCE);
	if (p->proto == 51)
		p->ah_off = p->l4_off;
	l4_ports(p, frame);
	p->cls = DP_PKT_IP4;
}

static void parse_ip6(struct dp_pkt *p, const uint8_t *frame, uint32_t len, uint32_t max_l3)
{
	const uint8_t *h = frame + p->l2_len;
	uint32_t avail = len - p->l2_len;
	if (avail < IP6_HLEN)
		return set_drop(p, DP_DROP_IP6_TRUNCATED);
	if ((h[0] >> 4) != 6)
		return set_drop(p, DP_DROP_IP6_VERSION);
	uint32_t tot = IP6_HLEN + dp_rd16(h + 4);
	if (tot > avail)
		return set_drop(p, DP_DROP_IP6_PAYLOAD_LENGTH);
	if (tot > max_l3)
		return set_drop(p, DP_DROP_RX_OVER_MTU);
	p->l3_len = (uint16_t)tot;
	p->dscp = (uint8_t)(((h[0] & 0xF) << 2) | (h[1] >> 6));
	p->ttl = h[7];
	p->src6 = h + 8;
	p->dst6 = h + 24;
	if (p->dst6[0] == 0xFF || dp_ip6_link_local(p->dst6)) {
		p->cls = DP_PKT_PUNT; /* multicast (ND, MLD, routing protocols) and link-local */
		return;
	}
	static const uint8_t loopback[16] = {[15] = 1};
	if (p->src6[0] == 0xFF || memcmp(p->src6, loopback, 16) == 0)
		return set_drop(p, DP_DROP_IP6_BAD_SOURCE);
	if (dp_ip6_link_local(p->src6))
		p->flags |= DP_PKT_F_SRC_LL;

	/* Walk the extension chain within the datagram. */
	uint8_t nh = h[6];
	uint32_t off = IP6_HLEN;
	for (unsigned n = 0;; n++) {
		if (n == IP6_MAX_EXT)
			return set_drop(p, DP_DROP_IP6_EXT_TRUNCATED);
		uint32_t hl;
		if (nh == 0 || nh == 43 || nh == 60 || nh == 135 || nh == 139 || nh == 140) {
			if (off + 8 > tot)
				return set_drop(p, DP_DROP_IP6_EXT_TRUNCATED);
			hl = ((uint32_t)h[off + 1] + 1) * 8;
		} else if (nh == 51) { /* AH: length in 4-octet units, minus 2 */
			if (off + 8 > tot)
				return set_drop(p, DP_DROP_IP6_EXT_TRUNCATED);
			hl = ((uint32_t)h[off + 1] + 2) * 4;
			if (!p->ah_off)
				p->ah_off = (uint16_t)(p->l2_len + off);
		} else if (nh == 44) {
			if (off + 8 > tot)
				return set_drop(p, DP_DROP_IP6_EXT_TRUNCATED);
			hl = 8;
			p->flags |= DP_PKT_F_FRAG;
			if (dp_rd16(h + off + 2) & 0xFFF8) {
				p->flags |= DP_PKT_F_FRAG_LATER;
				p->proto = h[off];
				p->l4_off = (uint16_t)(p->l2_len + off + hl);
				p->cls = DP_PKT_IP6;
				return;
			}
		} else {
			break; /* upper layer, ESP (50) or no next header (59) */
		}
		if (off + hl > tot)
			return set_drop(p, DP_DROP_IP6_EXT_TRUNCATED);
		nh = h[off];
		off += hl;
	}
	p->proto = nh;
	p->l4_off = (uint16_t)(p->l2_len + off);
	l4_ports(p, frame);
	p->cls = DP_PKT_IP6;
}

void dp_pkt_parse(struct dp_pkt *p, const uint8_t *frame, uint32_t len, const uint8_t port_mac[6],
                  uint32_t max_l3, bool hw_cksum_good)
{
	memset(p, 0, sizeof(*p));
	if (len < ETH_HLEN)
		return set_drop(p, DP_DROP_RUNT);
	if (frame[0] & 1)
		p->flags |= DP_PKT_F_L2_MULTI;
	else if (memcmp(frame, port_mac, 6) != 0)
		return set_drop(p, DP_DROP_L2_OTHER_HOST);
	uint32_t off = 12;
	uint16_t et = dp_rd16(frame + off);
	for (unsigned tags = 0; (et == ETHERTYPE_VLAN || et == ETHERTYPE_QINQ) && tags < 2; tags++) {
		if (len < off + 4 + 2)
			return set_drop(p, DP_DROP_VLAN_TRUNCATED);
		off += 4;
		et = dp_rd16(frame + off);
	}
	p->l2_len = (uint8_t)(off + 2);
	/* Ports are untagged interfaces; tagged frames belong to VLAN devices the
	 * kernel may have on the TAP. */
	if (off != 12)
		p->cls = DP_PKT_PUNT;
	else if (et == ETHERTYPE_IP4)
		parse_ip4(p, frame, len, max_l3, hw_cksum_good);
	else if (et == ETHERTYPE_IP6)
		parse_ip6(p, frame, len, max_l3);
	else
		p->cls = DP_PKT_PUNT; /* ARP, LLDP, anything else: the kernel decides */
}
