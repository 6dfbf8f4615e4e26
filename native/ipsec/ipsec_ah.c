#define ALLOW_EXPERIMENTAL_API 1
#include "ipsec_ah.h"
#include "ipsec_replay.h"
#include "../common/errf.h"

#include <netinet/in.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_crypto.h>
#include <rte_cryptodev.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#define AH_HDR 12u

struct ipsec_ah_sa {
	void *cses;
	uint8_t dev_id;
	bool inbound, tunnel, esn;
	uint8_t family;       /* of the header in front of AH */
	uint8_t inner_proto;  /* tunnel: 4 or 41 */
	uint8_t icv_len, ah_len;
	uint32_t spi;         /* host order */
	uint64_t seq;         /* outbound: last sent */
	struct ipsec_replay rp; /* inbound */
	uint8_t hdr[40];      /* tunnel: the outer header template */
	uint8_t hdr_len;
	struct ipsec_usage use;
	struct rte_crypto_sym_xform xf;
	uint8_t key[32];
};

int ipsec_ah_sa_create(struct ipsec_crypto *c, const struct ipsec_sa_conf *conf, struct ipsec_ah_sa **out, char *err,
                       size_t errlen)
{
	*out = NULL;
	unsigned want = conf->auth == IPSEC_AUTH_HMAC_SHA256_128 ? 32 : conf->auth == IPSEC_AUTH_HMAC_SHA1_96 ? 20 : 0;
	if (want == 0)
		return errf(err, errlen, "AH needs HMAC-SHA-256-128 or HMAC-SHA1-96"), -1;
	if (conf->auth_key_len != want)
		return errf(err, errlen, "%s needs a %u-byte key, got %u",
		            conf->auth == IPSEC_AUTH_HMAC_SHA256_128 ? "HMAC-SHA-256-128" : "HMAC-SHA1-96", want,
		            conf->auth_key_len), -1;
	if (conf->spi < 256)
		return errf(err, errlen, "SPI %u is reserved (0-255, RFC 4302)", conf->spi), -1;
	if (conf->replay_window > 4096)
		return errf(err, errlen, "replay window %u is above 4096", conf->replay_window), -1;
	if (conf->natt)
		return errf(err, errlen, "AH cannot be UDP-encapsulated (it covers the outer addresses)"), -1;
	uint8_t fam = conf->tunnel ? conf->outer_family : conf->inner_family;
	if ((fam != 4 && fam != 6) || (conf->inner_family != 4 && conf->inner_family != 6))
		return errf(err, errlen, "families must be 4 or 6"), -1;
	struct ipsec_ah_sa *s = rte_zmalloc("srcfib_ah_sa", sizeof *s, RTE_CACHE_LINE_SIZE);
	if (s == NULL)
		return errf(err, errlen, "out of memory"), -1;
	s->dev_id = c->dev_id;
	s->use.life = conf->life;
	s->inbound = conf->inbound;
	s->tunnel = conf->tunnel;
	s->esn = conf->esn;
	s->family = fam;
	s->inner_proto = conf->inner_family == 4 ? IPPROTO_IPIP : IPPROTO_IPV6;
	s->icv_len = conf->auth == IPSEC_AUTH_HMAC_SHA256_128 ? 16 : 12;
	unsigned align = fam == 4 ? 4 : 8; /* RFC 4302 2.2: 32-bit (IPv4) or 64-bit (IPv6) alignment */
	s->ah_len = (uint8_t)((AH_HDR + s->icv_len + align - 1) / align * align);
	s->spi = conf->spi;
	s->rp.win = conf->replay_window;
	s->rp.esn = conf->esn;
	memcpy(s->key, conf->auth_key, conf->auth_key_len);
	if (conf->tunnel)
		s->hdr_len = ipsec_outer_header(fam, conf->src, conf->dst, conf->ttl ? conf->ttl : 64, IPPROTO_AH, s->hdr);
	s->xf.type = RTE_CRYPTO_SYM_XFORM_AUTH;
	s->xf.auth.op = conf->inbound ? RTE_CRYPTO_AUTH_OP_VERIFY : RTE_CRYPTO_AUTH_OP_GENERATE;
	s->xf.auth.algo = conf->auth == IPSEC_AUTH_HMAC_SHA256_128 ? RTE_CRYPTO_AUTH_SHA256_HMAC : RTE_CRYPTO_AUTH_SHA1_HMAC;
	s->xf.auth.key.data = s->key;
	s->xf.auth.key.length = conf->auth_key_len;
	s->xf.auth.digest_length = s->icv_len;
	s->cses = rte_cryptodev_sym_session_create(c->dev_id, &s->xf, c->sess_pool);
	if (s->cses == NULL) {
		errf(err, errlen, "%s refused the session: %s", c->driver, rte_strerror(rte_errno));
		ipsec_ah_sa_destroy(s);
		return -1;
	}
	*out = s;
	return 0;
}

void ipsec_ah_sa_destroy(struct ipsec_ah_sa *s)
{
	if (s == NULL)
		return;
	if (s->cses != NULL)
		rte_cryptodev_sym_session_free(s->dev_id, s->cses);
	ipsec_wipe(s, sizeof *s);
	rte_free(s);
}

void ipsec_ah_sa_stats(const struct ipsec_ah_sa *sa, struct ipsec_sa_stats *out)
{
	*out = sa->use.st;
}

void ipsec_ah_sa_set_life(struct ipsec_ah_sa *sa, const struct ipsec_life *l) { ipsec_usage_set_life(&sa->use, l); }

/* ---- packets ---- */

struct mut {
	uint8_t b[4];
	uint8_t ttl;
	uint8_t frag[2];
	uint16_t ck;
};

/* Zeroes the mutable fields of the IP header at p, keeping them in m. */
static void mut_zero(uint8_t fam, uint8_t *p, struct mut *m)
{
	if (fam == 4) {
		m->b[0] = p[1];
		memcpy(m->frag, p + 6, 2);
		m->ttl = p[8];
		memcpy(&m->ck, p + 10, 2);
		p[1] = 0;
		memset(p + 6, 0, 2);
		p[8] = 0;
		memset(p + 10, 0, 2);
	} else {
		memcpy(m->b, p, 4);
		m->ttl = p[7];
		p[0] = 0x60;
		p[1] = p[2] = p[3] = 0;
		p[7] = 0;
	}
}

static void mut_restore(uint8_t fam, uint8_t *p, const struct mut *m)
{
	if (fam == 4) {
		p[1] = m->b[0];
		memcpy(p + 6, m->frag, 2);
		p[8] = m->ttl;
		memcpy(p + 10, &m->ck, 2);
	} else {
		memcpy(p, m->b, 4);
		p[7] = m->ttl;
	}
}

static void ipv4_cksum(uint8_t *p)
{
	struct rte_ipv4_hdr *h = (struct rte_ipv4_hdr *)p;
	h->hdr_checksum = 0;
	h->hdr_checksum = rte_ipv4_cksum(h);
}

/* Length of the plain IP header at p (no options, no extension headers), or 0. */
static unsigned plain_ip(uint8_t fam, const uint8_t *p, uint32_t len)
{
	if (fam == 4)
		return len >= 20 && p[0] == 0x45 ? 20 : 0;
	return len >= 40 && (p[0] >> 4) == 6 ? 40 : 0;
}

#define MAX_BURST 64

struct pending {
	struct rte_mbuf *m;
	struct mut mut;
	uint64_t q;
	bool esn_tail;
};

uint16_t ipsec_ah_process(struct ipsec_crypto *c, uint16_t qp, struct ipsec_ah_sa *s, struct rte_mbuf *mb[], uint16_t n,
                          uint8_t *why)
{
	if (n > MAX_BURST)
		n = MAX_BURST;
	struct rte_mbuf *bad[MAX_BURST], *okm[MAX_BURST];
	uint8_t badwhy[MAX_BURST];
	uint16_t nb = 0, nok = 0, np = 0;
	struct pending pd[MAX_BURST];
	struct rte_crypto_op *cop[MAX_BURST];
	if (rte_crypto_op_bulk_alloc(c->op_pool, RTE_CRYPTO_OP_TYPE_SYMMETRIC, cop, n) == 0) {
		for (uint16_t i = 0; i < n; i++)
			badwhy[i] = IPSEC_FAIL_CRYPTO;
		if (why)
			memcpy(why, badwhy, n);
		return 0;
	}
	uint64_t room = ipsec_usage_room(&s->use);
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = mb[i];
		if (i >= room) {
			bad[nb] = m;
			badwhy[nb++] = IPSEC_FAIL_EXPIRED;
			continue;
		}
		uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
		uint32_t len = rte_pktmbuf_pkt_len(m);
		struct pending *e = &pd[np];
		e->m = m;
		e->esn_tail = false;
		uint8_t *ip, *ah;
		if (!s->inbound) {
			unsigned hl = plain_ip(s->tunnel ? (uint8_t)((p[0] >> 4) == 4 ? 4 : 6) : s->family, p, len);
			if (hl == 0 || (!s->esn && s->seq == UINT32_MAX)) {
				bad[nb] = m;
				badwhy[nb++] = IPSEC_FAIL_PREPARE;
				continue;
			}
			uint64_t q = ++s->seq;
			if (s->tunnel) {
				uint8_t *h = (uint8_t *)rte_pktmbuf_prepend(m, (uint16_t)(s->hdr_len + s->ah_len));
				if (h == NULL) {
					s->seq--;
					bad[nb] = m;
					badwhy[nb++] = IPSEC_FAIL_PREPARE;
					continue;
				}
				memcpy(h, s->hdr, s->hdr_len);
				ip = h;
				ah = h + s->hdr_len;
				ah[0] = s->inner_proto;
			} else {
				uint8_t *h = (uint8_t *)rte_pktmbuf_prepend(m, s->ah_len);
				if (h == NULL) {
					s->seq--;
					bad[nb] = m;
					badwhy[nb++] = IPSEC_FAIL_PREPARE;
					continue;
				}
				memmove(h, h + s->ah_len, hl);
				ip = h;
				ah = h + hl;
				ah[0] = s->family == 4 ? ip[9] : ip[6];
				if (s->family == 4)
					ip[9] = IPPROTO_AH;
				else
					ip[6] = IPPROTO_AH;
			}
			uint32_t total = rte_pktmbuf_pkt_len(m);
			if (s->family == 4) {
				ip[2] = (uint8_t)(total >> 8), ip[3] = (uint8_t)total;
				if (s->tunnel)
					ip[4] = (uint8_t)(q >> 8), ip[5] = (uint8_t)q; /* identification */
			} else {
				ip[4] = (uint8_t)((total - 40) >> 8), ip[5] = (uint8_t)(total - 40);
			}
			ah[1] = (uint8_t)(s->ah_len / 4 - 2);
			ah[2] = ah[3] = 0;
			uint32_t spi = rte_cpu_to_be_32(s->spi), lo = rte_cpu_to_be_32((uint32_t)q);
			memcpy(ah + 4, &spi, 4);
			memcpy(ah + 8, &lo, 4);
			memset(ah + AH_HDR, 0, s->ah_len - AH_HDR);
			e->q = q;
		} else {
			unsigned hl = plain_ip(s->family, p, len);
			uint8_t next = hl == 0 ? 0 : s->family == 4 ? p[9] : p[6];
			ip = p;
			ah = p + hl;
			uint32_t spi;
			if (hl == 0 || next != IPPROTO_AH || len < hl + s->ah_len || ah[1] != s->ah_len / 4 - 2 ||
			    (memcpy(&spi, ah + 4, 4), rte_be_to_cpu_32(spi) != s->spi) ||
			    (s->tunnel && ah[0] != s->inner_proto)) {
				bad[nb] = m;
				badwhy[nb++] = IPSEC_FAIL_PREPARE;
				continue;
			}
			uint32_t lo;
			memcpy(&lo, ah + 8, 4);
			e->q = ipsec_replay_full(&s->rp, rte_be_to_cpu_32(lo));
			if (!ipsec_replay_ok(&s->rp, e->q)) {
				bad[nb] = m;
				badwhy[nb++] = IPSEC_FAIL_REPLAY;
				continue;
			}
		}
		/* the ICV input: mutable fields and the ICV zeroed (inbound: the received ICV goes to the
		 * op, where VERIFY compares), ESN's high half appended */
		struct rte_crypto_op *op = cop[np];
		uint8_t *icv = rte_crypto_op_ctod_offset(op, uint8_t *, IPSEC_IV_OFFSET);
		if (s->inbound) {
			memcpy(icv, ah + AH_HDR, s->icv_len);
			memset(ah + AH_HDR, 0, s->icv_len);
		}
		mut_zero(s->family, ip, &e->mut);
		uint32_t alen = rte_pktmbuf_pkt_len(m);
		if (s->esn) {
			uint8_t *t = (uint8_t *)rte_pktmbuf_append(m, 4);
			if (t == NULL) {
				mut_restore(s->family, ip, &e->mut);
				bad[nb] = m;
				badwhy[nb++] = IPSEC_FAIL_PREPARE;
				continue;
			}
			uint32_t hi = rte_cpu_to_be_32((uint32_t)(e->q >> 32));
			memcpy(t, &hi, 4);
			e->esn_tail = true;
			alen += 4;
		}
		op->type = RTE_CRYPTO_OP_TYPE_SYMMETRIC;
		op->status = RTE_CRYPTO_OP_STATUS_NOT_PROCESSED;
		rte_crypto_op_attach_sym_session(op, s->cses);
		op->sym->m_src = m;
		op->sym->auth.data.offset = 0;
		op->sym->auth.data.length = alen;
		op->sym->auth.digest.data = icv;
		op->sym->auth.digest.phys_addr = rte_crypto_op_ctophys_offset(op, IPSEC_IV_OFFSET);
		np++;
	}

	struct rte_crypto_op *done[MAX_BURST];
	uint16_t got = ipsec_crypto_run(c, qp, cop, np, done);
	for (uint16_t i = 0; i < got; i++) {
		struct rte_crypto_op *op = done[i];
		struct pending *e = NULL;
		for (uint16_t k = 0; k < np; k++)
			if (pd[k].m == op->sym->m_src)
				e = &pd[k];
		struct rte_mbuf *m = e->m;
		if (e->esn_tail)
			rte_pktmbuf_trim(m, 4);
		uint8_t *ip = rte_pktmbuf_mtod(m, uint8_t *);
		mut_restore(s->family, ip, &e->mut);
		unsigned hl = s->family == 4 ? 20 : 40;
		uint8_t *ah = ip + hl;
		if (op->status != RTE_CRYPTO_OP_STATUS_SUCCESS) {
			if (s->inbound) /* put the received ICV back: the packet is as it came */
				memcpy(ah + AH_HDR, rte_crypto_op_ctod_offset(op, uint8_t *, IPSEC_IV_OFFSET), s->icv_len);
			bad[nb] = m;
			badwhy[nb++] = op->status == RTE_CRYPTO_OP_STATUS_AUTH_FAILED ? IPSEC_FAIL_AUTH : IPSEC_FAIL_CRYPTO;
			continue;
		}
		if (!s->inbound) {
			memcpy(ah + AH_HDR, rte_crypto_op_ctod_offset(op, uint8_t *, IPSEC_IV_OFFSET), s->icv_len);
			if (s->family == 4)
				ipv4_cksum(ip);
		} else {
			/* replay state moves only for authentic packets (and a duplicate in this burst loses) */
			if (!ipsec_replay_ok(&s->rp, e->q)) {
				bad[nb] = m;
				badwhy[nb++] = IPSEC_FAIL_REPLAY;
				continue;
			}
			ipsec_replay_take(&s->rp, e->q);
			if (s->tunnel) {
				rte_pktmbuf_adj(m, (uint16_t)(hl + s->ah_len));
			} else {
				uint8_t next = ah[0];
				memmove(ip + s->ah_len, ip, hl);
				ip = (uint8_t *)rte_pktmbuf_adj(m, s->ah_len);
				uint32_t total = rte_pktmbuf_pkt_len(m);
				if (s->family == 4) {
					ip[9] = next;
					ip[2] = (uint8_t)(total >> 8), ip[3] = (uint8_t)total;
					ipv4_cksum(ip);
				} else {
					ip[6] = next;
					ip[4] = (uint8_t)((total - 40) >> 8), ip[5] = (uint8_t)(total - 40);
				}
			}
		}
		ipsec_usage_count(&s->use, rte_pktmbuf_pkt_len(m));
		okm[nok++] = m;
	}
	for (uint16_t k = 0; k < np; k++) { /* never came back from the device */
		bool back = false;
		for (uint16_t i = 0; i < got; i++)
			back |= done[i]->sym->m_src == pd[k].m;
		if (!back) {
			bad[nb] = pd[k].m;
			badwhy[nb++] = IPSEC_FAIL_CRYPTO;
		}
	}
	rte_mempool_put_bulk(c->op_pool, (void **)cop, n);
	return ipsec_burst_result(mb, why, okm, nok, bad, badwhy, nb);
}
