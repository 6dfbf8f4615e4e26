/*
 * ipsec_crypto — the crypto device behind ESP.
 *
 * One software cryptodev, chosen when the dataplane starts: crypto_aesni_mb (Intel's
 * multi-buffer library: AES-NI, AVX) when it comes up, else crypto_openssl. Which one was
 * chosen, and why the first was not, is reported to the caller; nothing falls back silently
 * later. ESP uses the device synchronously where it can (see `sync`). The device gets one
 * queue pair per worker (a worker only ever uses its own), a pool
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
	/* The device does crypto synchronously in the caller's thread
	 * (rte_cryptodev_sym_cpu_crypto_process; crypto_aesni_mb does, crypto_openssl does
	 * not): ESP SAs created while this is set skip crypto operations and the queue pair
	 * altogether.  Set by ipsec_crypto_init from the device's features; a caller may clear
	 * it (tests run both paths). */
	int sync;
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

struct rte_crypto_op;
struct rte_mbuf;

/* Enqueues n operations on queue pair qp and collects them as the device finishes them (a
 * software device: promptly; bounded in spins).  Returns how many came back, in done[]. */
uint16_t ipsec_crypto_run(struct ipsec_crypto *c, uint16_t qp, struct rte_crypto_op *ops[], uint16_t n,
                          struct rte_crypto_op *done[]);

/* Writes a burst's outcome back: mb[] = ok[0 .. nok) then bad[0 .. nbad), why[] = 0 for each ok
 * one then badwhy[] (why may be NULL).  Returns nok. */
uint16_t ipsec_burst_result(struct rte_mbuf *mb[], uint8_t *why, struct rte_mbuf *const ok[], uint16_t nok,
                            struct rte_mbuf *const bad[], const uint8_t *badwhy, uint16_t nbad);

/* The outer IPv4 or IPv6 header of a tunnel (lengths and checksum left 0) into out; its length. */
uint8_t ipsec_outer_header(uint8_t family, const uint8_t *src, const uint8_t *dst, uint8_t ttl, uint8_t proto,
                           uint8_t *out);

/* Zeroes memory with stores the compiler keeps (keys). */
void ipsec_wipe(void *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
