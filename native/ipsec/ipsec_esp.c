#define ALLOW_EXPERIMENTAL_API 1
#include "ipsec_esp.h"
#include "ipsec_replay.h"
#include "../common/errf.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_crypto.h>
#include <rte_cryptodev.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_ipsec.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

struct ipsec_esp_sa {
	struct rte_ipsec_session ss; /* first: cache aligned */
	struct rte_ipsec_sa *sa;
	void *cses;
	uint8_t dev_id;
	bool inbound, tunnel, natt;
	uint8_t outer_family, inner_family;
	uint16_t min_esp; /* inbound: ESP header + IV + pad length + next header + ICV */
	struct ipsec_usage use;
	struct ipsec_replay rp;        /* inbound: ours, over rte_ipsec's (see ipsec_replay.h) */
	struct rte_crypto_sym_xform xf[2];
	uint8_t key[32], auth_key[32]; /* what xf points at; zeroed on destroy */
	uint8_t hdr[64];               /* outbound tunnel header template */
	uint32_t hdr_sum;              /* outbound IPv4 tunnel: one's-complement sum of the template */
};

static int check_conf(const struct ipsec_sa_conf *c, char *err, size_t errlen)
{
	if (c->cipher == IPSEC_CIPHER_AES_GCM) {
		if (c->auth != IPSEC_AUTH_NONE)
			return errf(err, errlen, "AES-GCM authenticates itself: no separate integrity algorithm"), -1;
	} else if (c->cipher == IPSEC_CIPHER_AES_CBC) {
		if (c->auth == IPSEC_AUTH_HMAC_SHA256_128 && c->auth_key_len != 32)
			return errf(err, errlen, "HMAC-SHA-256-128 needs a 32-byte key, got %u", c->auth_key_len), -1;
		if (c->auth == IPSEC_AUTH_HMAC_SHA1_96 && c->auth_key_len != 20)
			return errf(err, errlen, "HMAC-SHA1-96 needs a 20-byte key, got %u", c->auth_key_len), -1;
		if (c->auth != IPSEC_AUTH_HMAC_SHA256_128 && c->auth != IPSEC_AUTH_HMAC_SHA1_96)
			return errf(err, errlen, "AES-CBC needs an integrity algorithm (HMAC-SHA-256-128 or HMAC-SHA1-96)"), -1;
	} else {
		return errf(err, errlen, "unknown cipher %u", c->cipher), -1;
	}
	if (c->key_len != 16 && c->key_len != 32)
		return errf(err, errlen, "AES keys are 16 or 32 bytes, got %u", c->key_len), -1;
	if (c->spi < 256)
		return errf(err, errlen, "SPI %u is reserved (0-255, RFC 4303)", c->spi), -1;
	if (c->replay_window > 4096)
		return errf(err, errlen, "replay window %u is above 4096", c->replay_window), -1;
	if ((c->tunnel && c->outer_family != 4 && c->outer_family != 6) || (c->inner_family != 4 && c->inner_family != 6))
		return errf(err, errlen, "families must be 4 or 6"), -1;
	if (c->natt && !c->tunnel)
		return errf(err, errlen, "UDP encapsulation needs tunnel mode"), -1;
	return 0;
}

int ipsec_esp_sa_create(struct ipsec_crypto *c, const struct ipsec_sa_conf *conf, struct ipsec_esp_sa **out,
                        char *err, size_t errlen)
{
	*out = NULL;
	if (check_conf(conf, err, errlen) != 0)
		return -1;
	struct ipsec_esp_sa *s = rte_zmalloc("srcfib_esp_sa", sizeof *s, RTE_CACHE_LINE_SIZE);
	if (s == NULL)
		return errf(err, errlen, "out of memory"), -1;
	s->inbound = conf->inbound;
	s->tunnel = conf->tunnel;
	s->natt = conf->natt;
	s->outer_family = conf->outer_family;
	s->inner_family = conf->inner_family;
	s->dev_id = c->dev_id;
	s->use.life = conf->life;
	s->rp.win = conf->replay_window;
	s->rp.esn = conf->esn;
	s->min_esp = conf->cipher == IPSEC_CIPHER_AES_GCM ? 8 + 8 + 2 + 16
	                                                  : 8 + 16 + 2 + (conf->auth == IPSEC_AUTH_HMAC_SHA256_128 ? 16 : 12);
	memcpy(s->key, conf->key, conf->key_len);
	memcpy(s->auth_key, conf->auth_key, conf->auth_key_len);

	/* crypto transforms: GCM alone; CBC + HMAC chained in the order rte_ipsec wants
	 * (outbound encrypt then generate, inbound verify then decrypt) */
	struct rte_crypto_sym_xform *first;
	if (conf->cipher == IPSEC_CIPHER_AES_GCM) {
		struct rte_crypto_sym_xform *x = &s->xf[0];
		x->type = RTE_CRYPTO_SYM_XFORM_AEAD;
		x->aead.op = conf->inbound ? RTE_CRYPTO_AEAD_OP_DECRYPT : RTE_CRYPTO_AEAD_OP_ENCRYPT;
		x->aead.algo = RTE_CRYPTO_AEAD_AES_GCM;
		x->aead.key.data = s->key;
		x->aead.key.length = conf->key_len;
		x->aead.iv.offset = IPSEC_IV_OFFSET;
		x->aead.iv.length = 12;
		x->aead.digest_length = 16;
		x->aead.aad_length = conf->esn ? 12 : 8;
		first = x;
	} else {
		struct rte_crypto_sym_xform *ci = &s->xf[0], *au = &s->xf[1];
		ci->type = RTE_CRYPTO_SYM_XFORM_CIPHER;
		ci->cipher.op = conf->inbound ? RTE_CRYPTO_CIPHER_OP_DECRYPT : RTE_CRYPTO_CIPHER_OP_ENCRYPT;
		ci->cipher.algo = RTE_CRYPTO_CIPHER_AES_CBC;
		ci->cipher.key.data = s->key;
		ci->cipher.key.length = conf->key_len;
		ci->cipher.iv.offset = IPSEC_IV_OFFSET;
		ci->cipher.iv.length = 16;
		au->type = RTE_CRYPTO_SYM_XFORM_AUTH;
		au->auth.op = conf->inbound ? RTE_CRYPTO_AUTH_OP_VERIFY : RTE_CRYPTO_AUTH_OP_GENERATE;
		au->auth.algo = conf->auth == IPSEC_AUTH_HMAC_SHA256_128 ? RTE_CRYPTO_AUTH_SHA256_HMAC : RTE_CRYPTO_AUTH_SHA1_HMAC;
		au->auth.key.data = s->auth_key;
		au->auth.key.length = conf->auth_key_len;
		au->auth.digest_length = conf->auth == IPSEC_AUTH_HMAC_SHA256_128 ? 16 : 12;
		if (conf->inbound) {
			au->next = ci;
			first = au;
		} else {
			ci->next = au;
			first = ci;
		}
	}

	struct rte_ipsec_sa_prm prm;
	memset(&prm, 0, sizeof prm);
	prm.crypto_xform = first;
	struct rte_security_ipsec_xform *ix = &prm.ipsec_xform;
	ix->spi = conf->spi;
	if (conf->cipher == IPSEC_CIPHER_AES_GCM)
		memcpy(&ix->salt, conf->salt, 4); /* the wire bytes, as RFC 4106's nonce starts */
	ix->direction = conf->inbound ? RTE_SECURITY_IPSEC_SA_DIR_INGRESS : RTE_SECURITY_IPSEC_SA_DIR_EGRESS;
	ix->proto = RTE_SECURITY_IPSEC_SA_PROTO_ESP;
	ix->mode = conf->tunnel ? RTE_SECURITY_IPSEC_SA_MODE_TUNNEL : RTE_SECURITY_IPSEC_SA_MODE_TRANSPORT;
	/* the anti-replay window is ours (ipsec_replay.h); rte_ipsec keeps one too only where ESN
	 * needs it to rebuild the high half of the sequence number it authenticates */
	ix->replay_win_sz = conf->esn ? conf->replay_window : 0;
	ix->options.esn = conf->esn;
	/* inbound NAT-T: see the header comment (the UDP header is stripped with the outer one) */
	ix->options.udp_encap = conf->natt && !conf->inbound;
	if (ix->options.udp_encap) {
		ix->udp.sport = conf->natt_sport;
		ix->udp.dport = conf->natt_dport;
	}
	uint8_t inner_proto = conf->inner_family == 4 ? IPPROTO_IPIP : IPPROTO_IPV6;
	if (conf->tunnel) {
		ix->tunnel.type = conf->outer_family == 4 ? RTE_SECURITY_IPSEC_TUNNEL_IPV4 : RTE_SECURITY_IPSEC_TUNNEL_IPV6;
		prm.tun.next_proto = inner_proto;
		if (!conf->inbound) {
			prm.tun.hdr_len = ipsec_outer_header(conf->outer_family, conf->src, conf->dst, conf->ttl ? conf->ttl : 64,
			                                     conf->natt ? IPPROTO_UDP : IPPROTO_ESP, s->hdr);
			prm.tun.hdr_l3_off = 0;
			prm.tun.hdr = s->hdr;
			if (conf->outer_family == 4)
				s->hdr_sum = rte_raw_cksum(s->hdr, sizeof(struct rte_ipv4_hdr)); /* length, id, checksum 0 */
		}
	} else {
		prm.trs.proto = inner_proto; /* the IP version, for rte_ipsec */
	}

	int size = rte_ipsec_sa_size(&prm);
	if (size < 0) {
		errf(err, errlen, "SA parameters refused by rte_ipsec: %s", rte_strerror(-size));
		goto fail;
	}
	s->sa = rte_zmalloc("srcfib_rte_ipsec_sa", (size_t)size, RTE_CACHE_LINE_SIZE);
	if (s->sa == NULL) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	int rc = rte_ipsec_sa_init(s->sa, &prm, (uint32_t)size);
	if (rc < 0 || (rte_ipsec_sa_type(s->sa) & RTE_IPSEC_SATP_PROTO_MASK) != RTE_IPSEC_SATP_PROTO_ESP) {
		errf(err, errlen, "SA parameters refused by rte_ipsec: %s", rc < 0 ? rte_strerror(-rc) : "not set up");
		goto fail;
	}
	s->cses = rte_cryptodev_sym_session_create(c->dev_id, first, c->sess_pool);
	if (s->cses == NULL) {
		errf(err, errlen, "%s refused the session: %s", c->driver, rte_strerror(rte_errno));
		goto fail;
	}
	s->ss.sa = s->sa;
	s->ss.type = c->sync ? RTE_SECURITY_ACTION_TYPE_CPU_CRYPTO : RTE_SECURITY_ACTION_TYPE_NONE;
	s->ss.crypto.ses = s->cses;
	s->ss.crypto.dev_id = c->dev_id;
	rc = rte_ipsec_session_prepare(&s->ss);
	if (rc != 0) {
		errf(err, errlen, "rte_ipsec session: %s", rte_strerror(-rc));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	ipsec_esp_sa_destroy(s);
	return -1;
}

void ipsec_esp_sa_destroy(struct ipsec_esp_sa *s)
{
	if (s == NULL)
		return;
	if (s->cses != NULL)
		rte_cryptodev_sym_session_free(s->dev_id, s->cses); /* the library zeroes the session's key schedule */
	if (s->sa != NULL) {
		rte_ipsec_sa_fini(s->sa);
		rte_free(s->sa);
	}
	ipsec_wipe(s, sizeof *s);
	rte_free(s);
}

uint64_t ipsec_usage_room(const struct ipsec_usage *u)
{
	if (u->st.hard_expired)
		return 0;
	return u->life.hard_packets ? u->life.hard_packets - u->st.packets : UINT64_MAX;
}

void ipsec_usage_count(struct ipsec_usage *u, uint32_t len)
{
	u->st.packets++;
	u->st.bytes += len;
	const struct ipsec_life *l = &u->life;
	if ((l->soft_packets && u->st.packets >= l->soft_packets) || (l->soft_bytes && u->st.bytes >= l->soft_bytes))
		u->st.soft_expired = true;
	if ((l->hard_packets && u->st.packets >= l->hard_packets) || (l->hard_bytes && u->st.bytes >= l->hard_bytes))
		u->st.hard_expired = true;
}

void ipsec_esp_sa_stats(const struct ipsec_esp_sa *sa, struct ipsec_sa_stats *out)
{
	*out = sa->use.st;
}

void ipsec_usage_set_life(struct ipsec_usage *u, const struct ipsec_life *l)
{
	u->life = *l;
	/* a raised limit revives nothing: expiry is final (the events were sent) */
}

void ipsec_esp_sa_set_life(struct ipsec_esp_sa *sa, const struct ipsec_life *l) { ipsec_usage_set_life(&sa->use, l); }

/* The offset of the ESP header in an inbound packet that starts at its outer IP header, or 0. */
static uint32_t esp_offset(const struct ipsec_esp_sa *s, const struct rte_mbuf *m)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m), off;
	if (len < 20)
		return 0;
	uint8_t next;
	if ((p[0] >> 4) == 4) {
		off = (uint32_t)(p[0] & 15) * 4;
		next = p[9];
		if (off < 20 || (((uint32_t)p[6] << 8 | p[7]) & 0x3FFF)) /* bad header length; a fragment */
			return 0;
	} else if ((p[0] >> 4) == 6 && len >= 40) {
		off = 40; /* extension headers before ESP: not supported here */
		next = p[6];
	} else {
		return 0;
	}
	if (s->natt) {
		if (next != IPPROTO_UDP)
			return 0;
		off += 8;
	} else if (next != IPPROTO_ESP) {
		return 0;
	}
	return off + 8 <= len ? off : 0;
}

#define MAX_BURST 64

/* The sequence number recorded for mbuf m (one of qm[0 .. n)).  The crypto and process steps
 * keep the packets that pass in their order, so the search starts where the last one ended. */
static uint64_t seq_of(struct rte_mbuf *const qm[], const uint64_t q[], uint16_t n, const struct rte_mbuf *m,
                       uint16_t *cur)
{
	uint16_t i = *cur < n ? *cur : 0;
	for (uint16_t k = 0; k < n; k++, i = (uint16_t)(i + 1 == n ? 0 : i + 1)) { /* no division */
		if (qm[i] == m) {
			*cur = (uint16_t)(i + 1);
			return q[i];
		}
	}
	return 0; /* not reached: every processed mbuf was prepared */
}

/* Writes l2_len = 0 and l3_len at once: setting the bit-fields one by one makes the compiler
 * store a byte and load the word back, which stalls on store forwarding. */
static inline void set_l3_len(struct rte_mbuf *m, uint32_t l3)
{
	m->tx_offload = (m->tx_offload & ~(uint64_t)0xFFFF) | ((uint64_t)l3 << RTE_MBUF_L2_LEN_BITS);
}

/* The outer IPv4 header of a tunnel packet, as rte_ipsec left it: our template with the total
 * length and identification filled in.  Its checksum is the template's sum plus those two
 * words, read with loads the size of the stores that wrote them (a wider read, like a
 * vectorised checksum, waits for the stores to retire). */
static inline void outer4_cksum(const struct ipsec_esp_sa *s, struct rte_ipv4_hdr *h)
{
	uint16_t len, id;
	memcpy(&len, &h->total_length, 2);
	memcpy(&id, &h->packet_id, 2);
	uint32_t sum = s->hdr_sum + len + id;
	sum = (sum & 0xFFFF) + (sum >> 16);
	sum = (sum & 0xFFFF) + (sum >> 16);
	h->hdr_checksum = (uint16_t)~sum;
}

/* The asynchronous path: one crypto operation per packet through queue pair qp.  good[0 .. ng)
 * are prepared and run; returns how many came back, reordered to the front of good[] in the
 * order they came back, each flagged RTE_MBUF_F_RX_SEC_OFFLOAD(_FAILED) by its status.  The
 * rest are appended to bad[]/badwhy[]. */
static uint16_t esp_crypto_ops(struct ipsec_crypto *c, uint16_t qp, struct ipsec_esp_sa *s, struct rte_mbuf *good[],
                               uint16_t ng, struct rte_mbuf *bad[], uint8_t badwhy[], uint16_t *nb)
{
	struct rte_crypto_op *cop[MAX_BURST];
	if (rte_crypto_op_bulk_alloc(c->op_pool, RTE_CRYPTO_OP_TYPE_SYMMETRIC, cop, ng) == 0) {
		for (uint16_t i = 0; i < ng; i++) {
			bad[*nb] = good[i];
			badwhy[(*nb)++] = IPSEC_FAIL_CRYPTO;
		}
		return 0;
	}
	/* prepare: failures (malformed) go after the prepared ones */
	uint16_t np = rte_ipsec_pkt_crypto_prepare(&s->ss, good, cop, ng);
	for (uint16_t i = np; i < ng; i++) {
		bad[*nb] = good[i];
		badwhy[(*nb)++] = IPSEC_FAIL_PREPARE;
	}
	if (np < ng)
		rte_mempool_put_bulk(c->op_pool, (void **)&cop[np], ng - np);
	/* the device: enqueue all, then collect all (a software device finishes them promptly) */
	struct rte_crypto_op *done[MAX_BURST];
	uint16_t got = ipsec_crypto_run(c, qp, cop, np, done);
	struct rte_mbuf *back[MAX_BURST];
	for (uint16_t i = 0; i < got; i++) {
		struct rte_mbuf *m = done[i]->sym->m_src;
		m->ol_flags |= RTE_MBUF_F_RX_SEC_OFFLOAD;
		if (done[i]->status != RTE_CRYPTO_OP_STATUS_SUCCESS)
			m->ol_flags |= RTE_MBUF_F_RX_SEC_OFFLOAD_FAILED;
		back[i] = m;
	}
	if (got > 0)
		rte_mempool_put_bulk(c->op_pool, (void **)done, got);
	/* Never came back (a stuck device; a software one always returns them): fail those
	 * packets.  Their operations stay with the device, not in the pool. */
	for (uint16_t i = 0; got < np && i < np; i++) {
		uint16_t j = 0;
		while (j < got && back[j] != good[i])
			j++;
		if (j == got) {
			bad[*nb] = good[i];
			badwhy[(*nb)++] = IPSEC_FAIL_CRYPTO;
		}
	}
	memcpy(good, back, got * sizeof *good);
	return got;
}

uint16_t ipsec_esp_process(struct ipsec_crypto *c, uint16_t qp, struct ipsec_esp_sa *s, struct rte_mbuf *mb[],
                           uint16_t n, uint8_t *why)
{
	struct rte_mbuf *good[MAX_BURST], *bad[MAX_BURST];
	/* inbound: each good packet's full sequence number, by mbuf (qm: rte_ipsec_pkt_crypto_prepare
	 * reorders good[] — the packets it refuses go to the end — so the pairs are kept apart) */
	struct rte_mbuf *qm[MAX_BURST];
	uint64_t q[MAX_BURST];
	uint8_t badwhy[MAX_BURST];
	uint16_t ng = 0, nb = 0;
	if (n > MAX_BURST)
		n = MAX_BURST; /* callers pass bursts; the rest stays where it is, untouched */

	/* header lengths the library reads */
	uint64_t room = ipsec_usage_room(&s->use);
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = mb[i];
		if (i >= room) {
			bad[nb] = m;
			badwhy[nb++] = IPSEC_FAIL_EXPIRED;
			continue;
		}
		m->ol_flags &= ~(RTE_MBUF_F_RX_SEC_OFFLOAD | RTE_MBUF_F_RX_SEC_OFFLOAD_FAILED);
		if (s->inbound) {
			uint32_t off = esp_offset(s, m);
			if (off == 0 || rte_pktmbuf_pkt_len(m) < off + s->min_esp) {
				bad[nb] = m;
				badwhy[nb++] = IPSEC_FAIL_PREPARE;
				continue;
			}
			uint32_t lo;
			memcpy(&lo, rte_pktmbuf_mtod_offset(m, const uint8_t *, off + 4), 4); /* not 4-byte aligned */
			lo = rte_be_to_cpu_32(lo);
			q[ng] = ipsec_replay_full(&s->rp, lo);
			qm[ng] = m;
			if (!ipsec_replay_ok(&s->rp, q[ng])) {
				bad[nb] = m;
				badwhy[nb++] = IPSEC_FAIL_REPLAY;
				continue;
			}
			set_l3_len(m, off);
		} else {
			const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
			set_l3_len(m, (p[0] >> 4) == 4 ? (uint32_t)(p[0] & 15) * 4 : 40);
		}
		good[ng++] = m;
	}

	const uint16_t ng0 = ng;
	/* proc[0 .. got): the packets the crypto step finished with, in the order the process step
	 * gets them; those it refused (RTE_MBUF_F_RX_SEC_OFFLOAD_FAILED) are dropped there. */
	struct rte_mbuf **proc = good;
	uint16_t got = 0;
	if (s->ss.type == RTE_SECURITY_ACTION_TYPE_CPU_CRYPTO) {
		/* synchronous: prepare and crypto in one call, failures at the end of good[] */
		got = ng > 0 ? rte_ipsec_pkt_cpu_prepare(&s->ss, good, ng) : 0;
		for (uint16_t i = got; i < ng; i++) { /* replays were caught above */
			bad[nb] = good[i];
			badwhy[nb++] = IPSEC_FAIL_PREPARE;
		}
	} else if (ng > 0) {
		got = esp_crypto_ops(c, qp, s, good, ng, bad, badwhy, &nb);
	}
	uint16_t ok = got > 0 ? rte_ipsec_pkt_process(&s->ss, proc, got) : 0;
	uint16_t cur = 0;
	for (uint16_t i = ok; i < got; i++) {
		bad[nb] = proc[i];
		badwhy[nb++] = (proc[i]->ol_flags & RTE_MBUF_F_RX_SEC_OFFLOAD_FAILED) ? IPSEC_FAIL_AUTH
		               : s->inbound && !ipsec_replay_ok(&s->rp, seq_of(qm, q, ng0, proc[i], &cur))
		                   ? IPSEC_FAIL_REPLAY
		                   : IPSEC_FAIL_PROCESS;
	}
	cur = 0;
	/* authentic: the replay window moves (a duplicate within this burst loses); IPv4 header
	 * checksums rte_ipsec leaves to us; lifetimes */
	uint16_t kept = 0;
	for (uint16_t i = 0; i < ok; i++) {
		struct rte_mbuf *m = proc[i];
		if (s->inbound) {
			uint64_t sq = seq_of(qm, q, ng0, m, &cur);
			if (!ipsec_replay_ok(&s->rp, sq)) {
				bad[nb] = m;
				badwhy[nb++] = IPSEC_FAIL_REPLAY;
				continue;
			}
			ipsec_replay_take(&s->rp, sq);
		}
		ipsec_usage_count(&s->use, rte_pktmbuf_pkt_len(m));
		m->ol_flags &= ~(RTE_MBUF_F_RX_SEC_OFFLOAD | RTE_MBUF_F_RX_SEC_OFFLOAD_FAILED);
		if (!s->inbound && s->tunnel && s->outer_family == 4) {
			outer4_cksum(s, rte_pktmbuf_mtod(m, struct rte_ipv4_hdr *));
		} else if (!s->tunnel && s->inner_family == 4) { /* transport: the header rte_ipsec edited */
			struct rte_ipv4_hdr *h = rte_pktmbuf_mtod(m, struct rte_ipv4_hdr *);
			h->hdr_checksum = 0;
			h->hdr_checksum = rte_ipv4_cksum(h);
		}
		proc[kept++] = m;
	}
	ok = kept;
	return ipsec_burst_result(mb, why, proc, ok, bad, badwhy, nb);
}
