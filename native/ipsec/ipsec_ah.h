/*
 * ipsec_ah — AH security associations (RFC 4302), written here: DPDK 22.11's rte_ipsec refuses
 * AH. The ICV (HMAC-SHA-256-128 or HMAC-SHA1-96) is computed by the same crypto device as ESP,
 * over the packet with its mutable fields (IPv4: TOS, fragment field, TTL, checksum; IPv6: traffic
 * class, flow label, hop limit) and the ICV zeroed, plus the high half of the sequence number
 * with ESN. Tunnel mode (a new outer IPv4/IPv6 header) and transport mode (AH after the packet's
 * own header; IPv4 options and IPv6 extension headers are not supported and are refused). The
 * configuration is ipsec_esp.h's struct ipsec_sa_conf; its cipher fields are ignored.
 */
#ifndef SRCFIB_IPSEC_AH_H
#define SRCFIB_IPSEC_AH_H

#include "ipsec_esp.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ipsec_ah_sa;

int ipsec_ah_sa_create(struct ipsec_crypto *c, const struct ipsec_sa_conf *conf, struct ipsec_ah_sa **out, char *err,
                       size_t errlen);
void ipsec_ah_sa_destroy(struct ipsec_ah_sa *sa);
/* As ipsec_esp_process, for AH (why: enum ipsec_fail). */
uint16_t ipsec_ah_process(struct ipsec_crypto *c, uint16_t qp, struct ipsec_ah_sa *sa, struct rte_mbuf *mb[], uint16_t n,
                          uint8_t *why);
void ipsec_ah_sa_stats(const struct ipsec_ah_sa *sa, struct ipsec_sa_stats *out);
void ipsec_ah_sa_set_life(struct ipsec_ah_sa *sa, const struct ipsec_life *l);

#ifdef __cplusplus
}
#endif
#endif
