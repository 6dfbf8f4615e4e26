/*
 * ipsec_esp — ESP security associations over rte_ipsec (lookaside, no inline offload).
 *
 * One SA is one direction: an outbound SA turns inner IP packets into ESP packets (tunnel mode:
 * a new outer IPv4 or IPv6 header from the SA's endpoints; transport mode: ESP inserted after the
 * packet's own IP header), an inbound SA turns ESP packets back into IP packets, checking the ICV
 * and the anti-replay window. Keys are copied into the SA and zeroed when it is destroyed; nothing
 * here prints them.
 *
 * What rte_ipsec (DPDK 22.11) leaves to its caller, and this module does:
 *  - crypto status: a failed operation (ICV mismatch) is turned into the mbuf flag that
 *    rte_ipsec_pkt_process reads;
 *  - IPv4 header checksums (outer header outbound; the rewritten header in transport inbound);
 *  - inbound NAT-T: 22.11 accepts udp_encap on an inbound SA but leaves it half set up, so the
 *    SA is made without it and the UDP header is stripped as part of the outer header.
 */
#ifndef SRCFIB_IPSEC_ESP_H
#define SRCFIB_IPSEC_ESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipsec_crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rte_mbuf;

enum ipsec_cipher { IPSEC_CIPHER_AES_GCM = 1, IPSEC_CIPHER_AES_CBC = 2 };
enum ipsec_auth { IPSEC_AUTH_NONE = 0 /* AES-GCM */, IPSEC_AUTH_HMAC_SHA256_128 = 1, IPSEC_AUTH_HMAC_SHA1_96 = 2 };

/* Lifetimes in traffic (0: none). rte_ipsec does not enforce lifetimes; the packet path counts and
 * enforces these (time limits are the control plane's: it has the clock and the events). */
struct ipsec_life {
	uint64_t soft_bytes, hard_bytes;     /* bytes of the packets as they leave the SA (outbound: the
	                                        ESP/AH packets, inbound: the packets they carried) */
	uint64_t soft_packets, hard_packets;
};

/* An SA's traffic so far, and whether it crossed its limits. */
struct ipsec_sa_stats {
	uint64_t packets, bytes;
	bool soft_expired, hard_expired;
};

struct ipsec_sa_conf {
	uint32_t spi;
	bool inbound;
	bool tunnel;          /* else transport */
	uint8_t outer_family; /* tunnel: 4 or 6 (the endpoints) */
	uint8_t inner_family; /* tunnel: 4 or 6; transport: the packets' family */
	uint8_t src[16], dst[16]; /* tunnel endpoints, network order (4 or 16 bytes used) */
	uint8_t cipher;       /* enum ipsec_cipher */
	uint8_t auth;         /* enum ipsec_auth */
	uint8_t key[32];      /* AES key */
	uint8_t key_len;      /* 16 or 32 */
	uint8_t salt[4];      /* AES-GCM: the 4 bytes after the key in RFC 4106 key material */
	uint8_t auth_key[32]; /* HMAC key: 32 bytes (SHA-256) or 20 (SHA-1) */
	uint8_t auth_key_len;
	uint32_t replay_window; /* packets, 0: no anti-replay check; at most 4096 */
	bool esn;
	bool natt;            /* UDP encapsulation (tunnel mode), ports below */
	uint16_t natt_sport, natt_dport;
	uint8_t ttl;          /* tunnel: outer TTL / hop limit (0: 64) */
	struct ipsec_life life;
};

struct ipsec_esp_sa;

/* Creates an SA on c (its own crypto session).  0, or -1 with err (which never
 * contains key material). */
int ipsec_esp_sa_create(struct ipsec_crypto *c, const struct ipsec_sa_conf *conf, struct ipsec_esp_sa **out,
                        char *err, size_t errlen);
/* Destroys an SA: its crypto session is freed and every copy of its keys zeroed. */
void ipsec_esp_sa_destroy(struct ipsec_esp_sa *sa);

/* Why packets failed, per failed packet (for counters). */
enum ipsec_fail {
	IPSEC_FAIL_NONE = 0,
	IPSEC_FAIL_PREPARE, /* not an ESP packet of this SA's shape (too short, not ESP / UDP) */
	IPSEC_FAIL_REPLAY,  /* inbound: sequence number seen already or left of the window */
	IPSEC_FAIL_AUTH,    /* ICV mismatch */
	IPSEC_FAIL_CRYPTO,  /* no crypto operation to be had, or the device did not finish it */
	IPSEC_FAIL_PROCESS, /* rte_ipsec refused the result (e.g. bad padding after decryption) */
	IPSEC_FAIL_EXPIRED, /* the SA is past a hard lifetime */
};

/*
 * Runs n packets through an SA on queue pair qp and waits for the device.
 * Outbound: each mbuf holds an IP packet from its data offset (tunnel: the inner packet;
 * transport: the packet to protect), nothing before it.  Inbound: each mbuf holds the outer IP
 * packet with the ESP (or, NAT-T, UDP + ESP) after its header.  Returns how many succeeded:
 * mb[0 .. ok) are the results (inbound tunnel: the inner packets), mb[ok .. n) the failures, not
 * freed, with why[k] for each (why may be NULL).
 */
uint16_t ipsec_esp_process(struct ipsec_crypto *c, uint16_t qp, struct ipsec_esp_sa *sa, struct rte_mbuf *mb[],
                           uint16_t n, uint8_t *why);
void ipsec_esp_sa_stats(const struct ipsec_esp_sa *sa, struct ipsec_sa_stats *out);
/* Changes the traffic lifetimes (the control thread, while workers run: each limit is one
 * 64-bit store, read as old or new). */
void ipsec_esp_sa_set_life(struct ipsec_esp_sa *sa, const struct ipsec_life *l);

/* Lifetime accounting shared by ESP and AH (in ipsec_esp.c).  A packet limit is exact; a byte
 * limit may be overshot by the rest of the burst that reaches it. */
struct ipsec_usage {
	struct ipsec_life life;
	struct ipsec_sa_stats st;
};
/* How many more packets may be tried: 0 once a hard limit was reached. */
uint64_t ipsec_usage_room(const struct ipsec_usage *u);
/* Counts a packet that passed; marks soft / hard expiry when a limit is reached. */
void ipsec_usage_count(struct ipsec_usage *u, uint32_t len);
void ipsec_usage_set_life(struct ipsec_usage *u, const struct ipsec_life *l);

#ifdef __cplusplus
}
#endif
#endif
