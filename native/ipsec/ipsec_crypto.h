/*
 * ipsec_crypto — the crypto device behind ESP.
 *
 * One software cryptodev, chosen when the dataplane starts: crypto_aesni_mb (Intel's
 * multi-buffer library: AES-NI, AVX) when it comes up, else crypto_openssl. Which one was
 * chosen, and why the first was not, is reported to the caller; nothing falls back silently
 * later. The device gets one queue pair per worker (a worker only ever uses its own), a pool
 * of sessions (one per SA) and a pool of crypto operations (rte_ipsec puts each packet's IV and
 * AAD in the operation's private area).
 */
#ifndef SRCFIB_IPSEC_CRYPTO_H
#define SRCFIB_IPSEC_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rte_mempool;

struct ipsec_crypto {
	uint8_t dev_id;
	char driver[32];       /* "crypto_aesni_mb" or "crypto_openssl" */
	char why_not[160];     /* why the preferred device was not used ("" when it was) */
	unsigned nqp;
	struct rte_mempool *sess_pool;
	struct rte_mempool *op_pool;
	int started;
};

/* Private area of each crypto operation: where rte_ipsec writes the IV (16
 * bytes for AES-GCM: salt, IV, counter; the AAD goes in the packet tailroom). */
#define IPSEC_COP_PRIV 64u
/* Offset of that area from the start of an operation: where IVs go (the
 * crypto transforms' iv.offset). */
#define IPSEC_IV_OFFSET (sizeof(struct rte_crypto_op) + sizeof(struct rte_crypto_sym_op))

/* Brings a device up: `only` names one driver ("crypto_aesni_mb",
 * "crypto_openssl") or is NULL for the first of them that works.  nqp queue
 * pairs, room for max_sessions SAs.  EAL must be up.  0, or -1 with err. */
int ipsec_crypto_init(struct ipsec_crypto *c, const char *only, unsigned nqp, unsigned max_sessions, char *err,
                      size_t errlen);
void ipsec_crypto_fini(struct ipsec_crypto *c);

#ifdef __cplusplus
}
#endif
#endif
