/*
 * ESP through ipsec_esp (rte_ipsec + a cryptodev) and AH through ipsec_ah, checked against an
 * independent implementation: scapy's SecurityAssociation (esp_oracle.py, Debian's python3-scapy) decrypts
 * what srcfib encrypts and encrypts what srcfib must decrypt, for every algorithm, IPv4 and IPv6
 * tunnels, ESN and NAT-T, on each crypto device this machine has (crypto_aesni_mb and
 * crypto_openssl). Replayed packets and packets with a flipped bit are refused with their reason.
 * A second oracle, tshark (Wireshark's ESP dissector with an esp_sa table), decrypts every
 * ESP packet srcfib encrypted without ESN or NAT-T and reports its ICV good.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "ipsec_ah.h"
#include "ipsec_crypto.h"
#include "ipsec_esp.h"
#include "test_util.h"
#include "test_eal.h"

static struct rte_mempool *mp;

/* For tshark: srcfib's ESP packets in a pcap (raw IP), and an esp_sa entry for each. */
static FILE *pcap;
static char pcap_path[] = "/tmp/srcfib-test-esp-XXXXXX";
static char uat[32768];
static size_t uat_len;
struct captured {
	uint32_t spi;
	char label[128];
};
static struct captured caps[128];
static unsigned ncaps;
static uint32_t next_spi = 0x1000;

static void pcap_open(void)
{
	int fd = mkstemp(pcap_path);
	pcap = fd < 0 ? NULL : fdopen(fd, "wb");
	CHECK(pcap != NULL);
	if (pcap == NULL)
		return;
	const uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 101 /* LINKTYPE_RAW */};
	fwrite(hdr, sizeof hdr, 1, pcap);
}

static void pcap_add(const uint8_t *p, uint32_t len)
{
	const uint32_t rec[4] = {ncaps, 0, len, len};
	fwrite(rec, sizeof rec, 1, pcap);
	fwrite(p, len, 1, pcap);
}

struct alg {
	const char *name; /* esp_oracle.py's */
	uint8_t cipher, auth, key_len, auth_len;
};
static const struct alg ALGS[] = {
	{"gcm", IPSEC_CIPHER_AES_GCM, IPSEC_AUTH_NONE, 16, 0},
	{"gcm", IPSEC_CIPHER_AES_GCM, IPSEC_AUTH_NONE, 32, 0},
	{"cbc-sha256", IPSEC_CIPHER_AES_CBC, IPSEC_AUTH_HMAC_SHA256_128, 16, 32},
	{"cbc-sha256", IPSEC_CIPHER_AES_CBC, IPSEC_AUTH_HMAC_SHA256_128, 32, 32},
	{"cbc-sha1", IPSEC_CIPHER_AES_CBC, IPSEC_AUTH_HMAC_SHA1_96, 16, 20},
	{"cbc-sha1", IPSEC_CIPHER_AES_CBC, IPSEC_AUTH_HMAC_SHA1_96, 32, 20},
	{"ah-sha256", 0, IPSEC_AUTH_HMAC_SHA256_128, 0, 32}, /* [6]: AH */
	{"ah-sha1", 0, IPSEC_AUTH_HMAC_SHA1_96, 0, 20},
};

/* ESP and AH behind one face, for run_case */
static int sa_create(const struct alg *a, struct ipsec_crypto *c, const struct ipsec_sa_conf *conf, void **out,
                     char *err, size_t errlen)
{
	if (a->cipher == 0)
		return ipsec_ah_sa_create(c, conf, (struct ipsec_ah_sa **)out, err, errlen);
	return ipsec_esp_sa_create(c, conf, (struct ipsec_esp_sa **)out, err, errlen);
}
static void sa_destroy(const struct alg *a, void *sa)
{
	if (a->cipher == 0)
		ipsec_ah_sa_destroy(sa);
	else
		ipsec_esp_sa_destroy(sa);
}
static uint16_t sa_process(const struct alg *a, struct ipsec_crypto *c, void *sa, struct rte_mbuf **m, uint8_t *why)
{
	return a->cipher == 0 ? ipsec_ah_process(c, 0, sa, m, 1, why) : ipsec_esp_process(c, 0, sa, m, 1, why);
}

static void tohex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = 0;
}

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	unsigned v;
	while (n < max && sscanf(s + 2 * n, "%2x", &v) == 1)
		out[n++] = (uint8_t)v;
	return n;
}

/* Runs esp_oracle.py; its one line of output goes to out.  0 on success. */
static int oracle(char *out, size_t outlen, const char *fmt, ...)
{
	char cmd[16384];
	int k = snprintf(cmd, sizeof cmd, "/usr/bin/python3 test/esp_oracle.py ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd + k, sizeof cmd - (size_t)k, fmt, ap);
	va_end(ap);
	FILE *f = popen(cmd, "r");
	if (f == NULL)
		return -1;
	out[0] = 0;
	if (fgets(out, (int)outlen, f) == NULL)
		out[0] = 0;
	out[strcspn(out, "\n")] = 0;
	return pclose(f) == 0 && out[0] != 0 ? 0 : -1;
}

static struct rte_mbuf *mbuf_of(const uint8_t *b, size_t n)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	CHECK(m != NULL);
	memcpy(rte_pktmbuf_append(m, (uint16_t)n), b, n);
	return m;
}

/* An inner IPv4 or IPv6 / UDP packet with `payload` bytes of `tag`. */
static size_t inner_packet(int family, unsigned payload, uint8_t tag, uint8_t *b)
{
	size_t ip = family == 4 ? 20 : 40, len = ip + 8 + payload;
	memset(b, 0, len);
	if (family == 4) {
		struct rte_ipv4_hdr *h = (struct rte_ipv4_hdr *)b;
		h->version_ihl = 0x45;
		h->total_length = rte_cpu_to_be_16((uint16_t)len);
		h->time_to_live = 64;
		h->next_proto_id = IPPROTO_UDP;
		h->src_addr = rte_cpu_to_be_32(0x0a000001);
		h->dst_addr = rte_cpu_to_be_32(0x0a000002);
		h->hdr_checksum = rte_ipv4_cksum(h);
	} else {
		struct rte_ipv6_hdr *h = (struct rte_ipv6_hdr *)b;
		h->vtc_flow = rte_cpu_to_be_32(6u << 28);
		h->payload_len = rte_cpu_to_be_16((uint16_t)(8 + payload));
		h->proto = IPPROTO_UDP;
		h->hop_limits = 64;
		h->src_addr[0] = 0xfd, h->src_addr[15] = 1;
		h->dst_addr[0] = 0xfd, h->dst_addr[15] = 2;
	}
	struct rte_udp_hdr *u = (struct rte_udp_hdr *)(b + ip);
	u->src_port = rte_cpu_to_be_16(1234);
	u->dst_port = rte_cpu_to_be_16(5678);
	u->dgram_len = rte_cpu_to_be_16((uint16_t)(8 + payload));
	memset(b + ip + 8, tag, payload);
	if (family == 4)
		u->dgram_cksum = rte_ipv4_udptcp_cksum((struct rte_ipv4_hdr *)b, u);
	else
		u->dgram_cksum = rte_ipv6_udptcp_cksum((struct rte_ipv6_hdr *)b, u);
	return len;
}

static const char *SRC4 = "192.0.2.1", *DST4 = "198.51.100.1", *SRC6 = "2001:db8::1", *DST6 = "2001:db8:1::1";

/* outer 0: transport mode */
static void conf_for(struct ipsec_sa_conf *c, const struct alg *a, bool inbound, int outer, int inner, bool esn,
                     bool natt)
{
	memset(c, 0, sizeof *c);
	c->spi = next_spi;
	c->inbound = inbound;
	c->tunnel = outer != 0;
	c->outer_family = (uint8_t)outer;
	c->inner_family = (uint8_t)inner;
	if (outer == 4) {
		inet_pton(AF_INET, SRC4, c->src);
		inet_pton(AF_INET, DST4, c->dst);
	} else if (outer == 6) {
		inet_pton(AF_INET6, SRC6, c->src);
		inet_pton(AF_INET6, DST6, c->dst);
	}
	c->cipher = a->cipher;
	c->auth = a->auth;
	c->key_len = a->key_len;
	for (unsigned i = 0; i < a->key_len; i++)
		c->key[i] = (uint8_t)(0x10 + i);
	memcpy(c->salt, (uint8_t[]){0xca, 0xfe, 0xba, 0xbe}, 4);
	c->auth_key_len = a->auth_len;
	for (unsigned i = 0; i < a->auth_len; i++)
		c->auth_key[i] = (uint8_t)(0x40 + i);
	c->replay_window = 64;
	c->esn = esn;
	c->natt = natt;
	c->natt_sport = c->natt_dport = 4500;
}

/* The oracle's arguments for an SA: ALG KEY AUTHKEY SPI SRC DST ESN NATT */
static void oracle_args(const struct ipsec_sa_conf *c, const struct alg *a, char *out)
{
	char key[80], akey[80];
	uint8_t km[36];
	memcpy(km, c->key, c->key_len);
	memcpy(km + c->key_len, c->salt, 4);
	tohex(km, c->key_len + (a->cipher == IPSEC_CIPHER_AES_GCM ? 4u : 0u), key);
	tohex(c->auth_key, c->auth_key_len, akey);
	bool v6 = c->outer_family == 6;
	sprintf(out, "%s %s %s 0x%x %s %s %d %d", a->name, key[0] ? key : "-", a->auth_len ? akey : "-", c->spi,
	        !c->tunnel ? "-" : v6 ? SRC6 : SRC4, !c->tunnel ? "-" : v6 ? DST6 : DST4, c->esn, c->natt);
}

static void run_case(struct ipsec_crypto *cr, const struct alg *a, int outer, int inner, bool esn, bool natt)
{
	char label[128];
	char name[32];
	snprintf(name, sizeof name, a->key_len ? "%s-%u" : "%s", a->name, a->key_len * 8u);
	if (outer == 0)
		snprintf(label, sizeof label, "%s %s IPv%d transport%s", name, cr->driver, inner, esn ? " ESN" : "");
	else
		snprintf(label, sizeof label, "%s %s IPv%d-in-IPv%d%s%s", name, cr->driver, inner, outer, esn ? " ESN" : "",
		         natt ? " NAT-T" : "");
	struct ipsec_sa_conf co, ci;
	conf_for(&co, a, false, outer, inner, esn, natt);
	conf_for(&ci, a, true, outer, inner, esn, natt);
	next_spi++; /* one SPI per case: tshark tells them apart */
	void *out = NULL, *in = NULL;
	char err[256];
	if (sa_create(a, cr, &co, &out, err, sizeof err) != 0 || sa_create(a, cr, &ci, &in, err, sizeof err) != 0) {
		FAIL("%s: SA: %s", label, err);
		sa_destroy(a, out);
		return;
	}
	const bool ah = a->cipher == 0;
	char args[256];
	oracle_args(&co, a, args);
	static char hx[8192], res[8192];
	uint8_t orig[2048], got[2048];
	uint8_t why[4];

	/* 1. srcfib encrypts; scapy decrypts to the same inner packet */
	size_t olen = inner_packet(inner, 300, 0x5a, orig);
	struct rte_mbuf *m = mbuf_of(orig, olen);
	if (sa_process(a, cr, out, &m, why) != 1) {
		FAIL("%s: outbound failed (%u)", label, why[0]);
		rte_pktmbuf_free(m);
		goto done;
	}
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	int fam = outer ? outer : inner; /* the family of the header in front of ESP */
	size_t elen = rte_pktmbuf_pkt_len(m), hl = fam == 4 ? 20 : 40;
	if (outer == 0) /* transport: the packet's own addresses */
		CHECK(memcmp(p + (fam == 4 ? 12 : 8), orig + (fam == 4 ? 12 : 8), fam == 4 ? 8 : 32) == 0);
	uint8_t esp_proto = ah ? IPPROTO_AH : natt ? IPPROTO_UDP : IPPROTO_ESP;
	if (fam == 4) {
		const struct rte_ipv4_hdr *h = (const struct rte_ipv4_hdr *)p;
		CHECK(h->next_proto_id == esp_proto && rte_be_to_cpu_16(h->total_length) == elen);
		CHECK(rte_ipv4_cksum(h) == 0 || rte_ipv4_cksum(h) == 0xffff); /* a correct header sums to all ones */
	} else {
		const struct rte_ipv6_hdr *h = (const struct rte_ipv6_hdr *)p;
		CHECK(h->proto == esp_proto && rte_be_to_cpu_16(h->payload_len) == elen - 40);
	}
	if (natt) {
		const struct rte_udp_hdr *u = (const struct rte_udp_hdr *)(p + hl);
		CHECK(rte_be_to_cpu_16(u->src_port) == 4500 && rte_be_to_cpu_16(u->dst_port) == 4500);
		hl += 8;
	}
	if (ah) { /* AH: next header, length, reserved, then SPI and sequence number */
		CHECK(p[hl] == (outer == 0 ? IPPROTO_UDP : inner == 4 ? IPPROTO_IPIP : IPPROTO_IPV6));
		CHECK((p[hl + 1] + 2u) * 4 == 12u + (a->auth == IPSEC_AUTH_HMAC_SHA256_128 ? (fam == 6 ? 20u : 16u) : 12u));
		hl += 4;
	}
	CHECK(p[hl] == 0 && p[hl + 1] == 0 && p[hl + 2] == (uint8_t)(co.spi >> 8) && p[hl + 3] == (uint8_t)co.spi); /* SPI */
	CHECK(p[hl + 4] == 0 && p[hl + 5] == 0 && p[hl + 6] == 0 && p[hl + 7] == 1);   /* sequence number 1 */
	uint8_t esp1[2048];
	memcpy(esp1, p, elen);
	if (!ah && !esn && !natt && pcap != NULL && ncaps < sizeof caps / sizeof caps[0]) {
		char key[80], akey[80];
		uint8_t km[36];
		memcpy(km, co.key, co.key_len);
		memcpy(km + co.key_len, co.salt, 4);
		bool gcm = a->cipher == IPSEC_CIPHER_AES_GCM;
		tohex(km, co.key_len + (gcm ? 4u : 0u), key);
		tohex(co.auth_key, co.auth_key_len, akey);
		uat_len += (size_t)snprintf(uat + uat_len, sizeof uat - uat_len,
		                            " -o 'uat:esp_sa:\"IPv%d\",\"*\",\"*\",\"0x%08x\",\"%s\",\"0x%s\",\"%s\",\"%s%s\"'", fam,
		                            co.spi, gcm ? "AES-GCM with 16 octet ICV [RFC4106]" : "AES-CBC [RFC3602]", key,
		                            gcm ? "NULL" : a->auth == IPSEC_AUTH_HMAC_SHA256_128 ? "HMAC-SHA-256-128 [RFC4868]" : "HMAC-SHA-1-96 [RFC2404]",
		                            gcm ? "" : "0x", gcm ? "" : akey);
		caps[ncaps].spi = co.spi;
		snprintf(caps[ncaps].label, sizeof caps[ncaps].label, "%s", label);
		pcap_add(p, (uint32_t)elen);
		ncaps++;
	}
	tohex(p, elen, hx);
	if (oracle(res, sizeof res, "decrypt %s %s", args, hx) != 0)
		FAIL("%s: scapy could not decrypt srcfib's packet: %s", label, res);
	else
		CHECK(unhex(res, got, sizeof got) == olen && memcmp(got, orig, olen) == 0);
	rte_pktmbuf_free(m);

	/* 2. srcfib decrypts its own packet, then refuses it again (replay) */
	for (int k = 0; k < 2; k++) {
		m = mbuf_of(esp1, elen);
		uint16_t ok = sa_process(a, cr, in, &m, why);
		if (k == 0) {
			CHECK(ok == 1);
			if (ok == 1)
				CHECK(rte_pktmbuf_pkt_len(m) == olen && memcmp(rte_pktmbuf_mtod(m, void *), orig, olen) == 0);
		} else {
			CHECK(ok == 0 && why[0] == IPSEC_FAIL_REPLAY);
		}
		rte_pktmbuf_free(m);
	}

	/* 3. scapy encrypts (sequence 2); srcfib decrypts to the same inner packet */
	olen = inner_packet(inner, 77, 0xa5, orig);
	tohex(orig, olen, hx);
	if (oracle(res, sizeof res, "encrypt %s 2 %s", args, hx) != 0) {
		FAIL("%s: scapy could not encrypt: %s", label, res);
		goto done;
	}
	size_t slen = unhex(res, got, sizeof got);
	m = mbuf_of(got, slen);
	if (sa_process(a, cr, in, &m, why) != 1)
		FAIL("%s: srcfib could not decrypt scapy's packet (reason %u)", label, why[0]);
	else
		CHECK(rte_pktmbuf_pkt_len(m) == olen && memcmp(rte_pktmbuf_mtod(m, void *), orig, olen) == 0);
	rte_pktmbuf_free(m);

	/* 4. one flipped bit in scapy's packet of sequence 3: refused, as an ICV failure */
	if (oracle(res, sizeof res, "encrypt %s 3 %s", args, hx) == 0) {
		slen = unhex(res, got, sizeof got);
		got[slen - 20] ^= 0x08;
		m = mbuf_of(got, slen);
		CHECK(sa_process(a, cr, in, &m, why) == 0 && why[0] == IPSEC_FAIL_AUTH);
		rte_pktmbuf_free(m);
	} else {
		FAIL("%s: scapy could not encrypt: %s", label, res);
	}
done:
	sa_destroy(a, out);
	sa_destroy(a, in);
	printf("  %s: done\n", label);
}

/* Refusals that need no device work. */
static void test_bad_conf(struct ipsec_crypto *cr)
{
	struct ipsec_sa_conf c;
	struct ipsec_esp_sa *s = NULL;
	char err[256];
	conf_for(&c, &ALGS[0], false, 4, 4, false, false);
	c.key_len = 24;
	CHECK(ipsec_esp_sa_create(cr, &c, &s, err, sizeof err) == -1 && s == NULL && strstr(err, "16 or 32") != NULL);
	conf_for(&c, &ALGS[2], false, 4, 4, false, false);
	c.auth_key_len = 20;
	CHECK(ipsec_esp_sa_create(cr, &c, &s, err, sizeof err) == -1 && strstr(err, "32-byte key") != NULL);
	conf_for(&c, &ALGS[0], false, 4, 4, false, false);
	c.spi = 7;
	CHECK(ipsec_esp_sa_create(cr, &c, &s, err, sizeof err) == -1 && strstr(err, "reserved") != NULL);
	c.spi = 0x1234;
	c.replay_window = 5000;
	CHECK(ipsec_esp_sa_create(cr, &c, &s, err, sizeof err) == -1 && strstr(err, "4096") != NULL);
	/* no key byte in any message */
	CHECK(strstr(err, "10111213") == NULL);
	/* AH: no UDP encapsulation (it covers the outer addresses), and an integrity algorithm */
	struct ipsec_ah_sa *ah = NULL;
	conf_for(&c, &ALGS[6], false, 4, 4, false, true);
	CHECK(ipsec_ah_sa_create(cr, &c, &ah, err, sizeof err) == -1 && ah == NULL && strstr(err, "UDP") != NULL);
	conf_for(&c, &ALGS[6], false, 4, 4, false, false);
	c.auth = IPSEC_AUTH_NONE;
	CHECK(ipsec_ah_sa_create(cr, &c, &ah, err, sizeof err) == -1 && strstr(err, "HMAC") != NULL);
	conf_for(&c, &ALGS[7], false, 4, 4, false, false);
	c.auth_key_len = 32;
	CHECK(ipsec_ah_sa_create(cr, &c, &ah, err, sizeof err) == -1 && strstr(err, "20-byte key") != NULL);
}

/* Lifetimes: a packet limit is exact, soft before hard, and past hard the SA refuses. */
static void test_lifetimes(struct ipsec_crypto *cr)
{
	struct ipsec_sa_conf c;
	struct ipsec_esp_sa *esp = NULL;
	char err[256];
	uint8_t b[256], why[8];
	struct ipsec_sa_stats st;
	conf_for(&c, &ALGS[0], false, 4, 4, false, false);
	c.life.soft_packets = 2;
	c.life.hard_packets = 3;
	CHECK(ipsec_esp_sa_create(cr, &c, &esp, err, sizeof err) == 0);
	for (unsigned k = 1; k <= 4; k++) {
		struct rte_mbuf *m = mbuf_of(b, inner_packet(4, 50, (uint8_t)k, b));
		uint16_t ok = ipsec_esp_process(cr, 0, esp, &m, 1, why);
		ipsec_esp_sa_stats(esp, &st);
		CHECK(ok == (k <= 3));
		CHECK(st.soft_expired == (k >= 2) && st.hard_expired == (k >= 3) && st.packets == (k <= 3 ? k : 3));
		if (k == 4)
			CHECK(why[0] == IPSEC_FAIL_EXPIRED);
		rte_pktmbuf_free(m);
	}
	ipsec_esp_sa_destroy(esp);
	/* a burst running into the limit: exactly the room passes */
	next_spi++;
	conf_for(&c, &ALGS[2], false, 6, 4, false, false);
	c.life.hard_packets = 3;
	CHECK(ipsec_esp_sa_create(cr, &c, &esp, err, sizeof err) == 0);
	struct rte_mbuf *ms[5];
	for (unsigned k = 0; k < 5; k++)
		ms[k] = mbuf_of(b, inner_packet(4, 60, (uint8_t)k, b));
	CHECK(ipsec_esp_process(cr, 0, esp, ms, 5, why) == 3 && why[3] == IPSEC_FAIL_EXPIRED && why[4] == IPSEC_FAIL_EXPIRED);
	for (unsigned k = 0; k < 5; k++)
		rte_pktmbuf_free(ms[k]);
	ipsec_esp_sa_destroy(esp);
	/* AH inbound with a byte limit: the packet reaching it passes, the next is refused */
	next_spi++;
	struct ipsec_ah_sa *ao = NULL, *ai = NULL;
	conf_for(&c, &ALGS[6], false, 4, 4, false, false);
	CHECK(ipsec_ah_sa_create(cr, &c, &ao, err, sizeof err) == 0);
	conf_for(&c, &ALGS[6], true, 4, 4, false, false);
	size_t len = inner_packet(4, 72, 1, b); /* 100 bytes */
	c.life.soft_bytes = 150;
	c.life.hard_bytes = 200;
	CHECK(ipsec_ah_sa_create(cr, &c, &ai, err, sizeof err) == 0);
	for (unsigned k = 1; k <= 3; k++) {
		struct rte_mbuf *m = mbuf_of(b, len);
		CHECK(ipsec_ah_process(cr, 0, ao, &m, 1, why) == 1);
		uint16_t ok = ipsec_ah_process(cr, 0, ai, &m, 1, why);
		ipsec_ah_sa_stats(ai, &st);
		CHECK(ok == (k <= 2) && st.bytes == (k <= 2 ? k : 2) * len);
		CHECK(st.soft_expired == (k >= 2) && st.hard_expired == (k >= 2));
		if (k == 3)
			CHECK(why[0] == IPSEC_FAIL_EXPIRED);
		rte_pktmbuf_free(m);
	}
	ipsec_ah_sa_destroy(ao);
	ipsec_ah_sa_destroy(ai);
}

/* tshark decrypts each captured packet (the inner UDP source port comes out) and checks its ICV. */
static void check_with_tshark(void)
{
	fclose(pcap);
	pcap = NULL;
	char *cmd = malloc(sizeof uat + 512);
	snprintf(cmd, sizeof uat + 512,
	         "tshark -r %s -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE%s "
	         "-T fields -e esp.spi -e esp.icv_good -e udp.srcport -E separator=, 2>/dev/null",
	         pcap_path, uat);
	FILE *f = popen(cmd, "r");
	free(cmd);
	CHECK(f != NULL);
	char line[256];
	unsigned k = 0;
	while (f != NULL && fgets(line, sizeof line, f) != NULL && k < ncaps) {
		unsigned spi = 0, good = 0, sport = 0;
		if (sscanf(line, "0x%x,%u,%u", &spi, &good, &sport) != 3 || spi != caps[k].spi || good != 1 || sport != 1234)
			FAIL("tshark on %s (SPI 0x%x): %s", caps[k].label, caps[k].spi, line);
		else
			test_passed++;
		k++;
	}
	if (f != NULL)
		CHECK(pclose(f) == 0);
	CHECK(k == ncaps);
	printf("tshark decrypted and authenticated %u of %u packets\n", k, ncaps);
	unlink(pcap_path);
}

int main(int argc, char **argv)
{
	(void)argc;
	if (test_eal_init(argv[0], "512") != 0)
		return 1;
	mp = rte_pktmbuf_pool_create("mp", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	CHECK(mp != NULL);
	pcap_open();
	const char *drivers[] = {"crypto_aesni_mb", "crypto_openssl"};
	/* the automatic choice takes aesni_mb here */
	struct ipsec_crypto cr;
	char err[256];
	CHECK(ipsec_crypto_init(&cr, NULL, 1, 64, err, sizeof err) == 0);
	CHECK(strcmp(cr.driver, "crypto_aesni_mb") == 0);
	ipsec_crypto_fini(&cr);
	for (unsigned d = 0; d < 2; d++) {
		if (ipsec_crypto_init(&cr, drivers[d], 1, 64, err, sizeof err) != 0) {
			FAIL("%s: %s", drivers[d], err);
			continue;
		}
		printf("%s\n", cr.driver);
		test_bad_conf(&cr);
		test_lifetimes(&cr);
		for (unsigned i = 0; i < 6; i++) /* the ESP ones */
			run_case(&cr, &ALGS[i], 4, 4, false, false);
		run_case(&cr, &ALGS[0], 6, 6, false, false);
		run_case(&cr, &ALGS[2], 6, 4, false, false);
		run_case(&cr, &ALGS[0], 4, 6, false, false);
		run_case(&cr, &ALGS[0], 4, 4, true, false);
		run_case(&cr, &ALGS[2], 4, 4, true, false);
		run_case(&cr, &ALGS[0], 4, 4, false, true);
		run_case(&cr, &ALGS[0], 0, 4, false, false);
		run_case(&cr, &ALGS[3], 0, 4, false, false);
		run_case(&cr, &ALGS[0], 0, 6, false, false);
		run_case(&cr, &ALGS[4], 0, 6, true, false);
		/* AH: tunnel and transport, IPv4 and IPv6, both integrity algorithms, ESN */
		run_case(&cr, &ALGS[6], 4, 4, false, false);
		run_case(&cr, &ALGS[7], 4, 4, false, false);
		run_case(&cr, &ALGS[6], 6, 6, false, false);
		run_case(&cr, &ALGS[7], 6, 4, false, false);
		run_case(&cr, &ALGS[6], 0, 4, false, false);
		run_case(&cr, &ALGS[7], 0, 6, false, false);
		run_case(&cr, &ALGS[6], 4, 4, true, false);
		ipsec_crypto_fini(&cr);
	}
	if (pcap != NULL)
		check_with_tshark();
	rte_eal_cleanup();
	return test_summary("test_ipsec");
}
