#define ALLOW_EXPERIMENTAL_API 1 /* rte_cryptodev_sym_session_pool_create */
#include "ipsec_crypto.h"
#include "../common/errf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_bus_vdev.h>
#include <rte_crypto.h>
#include <rte_cryptodev.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

/* Operations in flight per queue pair, and in the pool. */
#define QP_DESCRIPTORS 2048u
#define OPS_PER_QP 4096u

static int bring_up(struct ipsec_crypto *c, const char *name, unsigned nqp, unsigned max_sessions, char *err,
                    size_t errlen)
{
	int rc = rte_vdev_init(name, NULL);
	if (rc != 0 && rc != -EEXIST) {
		errf(err, errlen, "%s: cannot create the device: %s", name, rte_strerror(-rc));
		return -1;
	}
	int id = rte_cryptodev_get_dev_id(name);
	if (id < 0) {
		errf(err, errlen, "%s: created but not found", name);
		return -1;
	}
	struct rte_cryptodev_info info;
	rte_cryptodev_info_get((uint8_t)id, &info);
	if (info.max_nb_queue_pairs < nqp) {
		errf(err, errlen, "%s: %u queue pairs, %u wanted", name, info.max_nb_queue_pairs, nqp);
		return -1;
	}
	int socket = (int)rte_socket_id();
	struct rte_cryptodev_config conf = {
		.socket_id = socket,
		.nb_queue_pairs = (uint16_t)nqp,
		.ff_disable = RTE_CRYPTODEV_FF_ASYMMETRIC_CRYPTO | RTE_CRYPTODEV_FF_SECURITY,
	};
	rc = rte_cryptodev_configure((uint8_t)id, &conf);
	if (rc != 0) {
		errf(err, errlen, "%s: configure: %s", name, rte_strerror(-rc));
		return -1;
	}
	char pname[RTE_MEMPOOL_NAMESIZE];
	snprintf(pname, sizeof pname, "sf_sess%d", id);
	unsigned sess_size = rte_cryptodev_sym_get_private_session_size((uint8_t)id);
	c->sess_pool = rte_cryptodev_sym_session_pool_create(pname, max_sessions, sess_size, 0, 0, socket);
	if (c->sess_pool == NULL) {
		errf(err, errlen, "%s: session pool of %u: %s", name, max_sessions, rte_strerror(rte_errno));
		return -1;
	}
	for (unsigned q = 0; q < nqp; q++) {
		struct rte_cryptodev_qp_conf qc = {.nb_descriptors = QP_DESCRIPTORS, .mp_session = c->sess_pool};
		rc = rte_cryptodev_queue_pair_setup((uint8_t)id, (uint16_t)q, &qc, socket);
		if (rc != 0) {
			errf(err, errlen, "%s: queue pair %u: %s", name, q, rte_strerror(-rc));
			goto fail;
		}
	}
	snprintf(pname, sizeof pname, "sf_cop%d", id);
	c->op_pool = rte_crypto_op_pool_create(pname, RTE_CRYPTO_OP_TYPE_SYMMETRIC, OPS_PER_QP * nqp, 64,
	                                       IPSEC_COP_PRIV, socket);
	if (c->op_pool == NULL) {
		errf(err, errlen, "%s: operation pool: %s", name, rte_strerror(rte_errno));
		goto fail;
	}
	rc = rte_cryptodev_start((uint8_t)id);
	if (rc != 0) {
		errf(err, errlen, "%s: start: %s", name, rte_strerror(-rc));
		goto fail;
	}
	c->dev_id = (uint8_t)id;
	c->nqp = nqp;
	c->sync = (info.feature_flags & RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO) != 0;
	c->started = 1;
	snprintf(c->driver, sizeof c->driver, "%s", name);
	return 0;
fail:
	rte_mempool_free(c->op_pool);
	rte_mempool_free(c->sess_pool);
	c->op_pool = c->sess_pool = NULL;
	return -1;
}

int ipsec_crypto_init(struct ipsec_crypto *c, const char *only, unsigned nqp, unsigned max_sessions, char *err,
                      size_t errlen)
{
	memset(c, 0, sizeof *c);
	if (nqp == 0 || max_sessions == 0) {
		errf(err, errlen, "need at least one queue pair and one session");
		return -1;
	}
	if (only != NULL)
		return bring_up(c, only, nqp, max_sessions, err, errlen);
	if (bring_up(c, "crypto_aesni_mb", nqp, max_sessions, c->why_not, sizeof c->why_not) == 0)
		return 0;
	if (bring_up(c, "crypto_openssl", nqp, max_sessions, err, errlen) == 0)
		return 0;
	size_t l = strlen(err);
	snprintf(err + l, errlen > l ? errlen - l : 0, " (and %s)", c->why_not);
	return -1;
}

void ipsec_crypto_fini(struct ipsec_crypto *c)
{
	if (c->started) {
		rte_cryptodev_stop(c->dev_id);
		rte_cryptodev_close(c->dev_id);
	}
	rte_mempool_free(c->op_pool);
	rte_mempool_free(c->sess_pool);
	memset(c, 0, sizeof *c);
}

uint16_t ipsec_crypto_run(struct ipsec_crypto *c, uint16_t qp, struct rte_crypto_op *ops[], uint16_t n,
                          struct rte_crypto_op *done[])
{
	uint16_t sent = 0, got = 0;
	for (unsigned spins = 0; (sent < n || got < sent) && spins < 10000000u; spins++) {
		if (sent < n)
			sent += rte_cryptodev_enqueue_burst(c->dev_id, qp, &ops[sent], (uint16_t)(n - sent));
		got += rte_cryptodev_dequeue_burst(c->dev_id, qp, &done[got], (uint16_t)(sent - got));
	}
	return got;
}

uint16_t ipsec_burst_result(struct rte_mbuf *mb[], uint8_t *why, struct rte_mbuf *const ok[], uint16_t nok,
                            struct rte_mbuf *const bad[], const uint8_t *badwhy, uint16_t nbad)
{
	memmove(mb, ok, nok * sizeof *mb);
	memmove(mb + nok, bad, nbad * sizeof *mb);
	if (why != NULL) {
		memset(why, 0, nok);
		memcpy(why + nok, badwhy, nbad);
	}
	return nok;
}

uint8_t ipsec_outer_header(uint8_t family, const uint8_t *src, const uint8_t *dst, uint8_t ttl, uint8_t proto,
                           uint8_t *out)
{
	if (family == 4) {
		struct rte_ipv4_hdr *h = (struct rte_ipv4_hdr *)out;
		memset(h, 0, sizeof *h);
		h->version_ihl = 0x45;
		h->time_to_live = ttl;
		h->next_proto_id = proto;
		memcpy(&h->src_addr, src, 4);
		memcpy(&h->dst_addr, dst, 4);
		return sizeof *h;
	}
	struct rte_ipv6_hdr *h = (struct rte_ipv6_hdr *)out;
	memset(h, 0, sizeof *h);
	h->vtc_flow = rte_cpu_to_be_32(6u << 28);
	h->hop_limits = ttl;
	h->proto = proto;
	memcpy(h->src_addr, src, 16);
	memcpy(h->dst_addr, dst, 16);
	return sizeof *h;
}

void ipsec_wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;
	while (n--)
		*v++ = 0;
}
