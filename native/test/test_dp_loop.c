/*
 * test_dp_loop — the running dataplane on real DPDK devices: two pcap ports
 * (one with a kernel TAP), one worker lcore, a bounded run, clean teardown.
 *
 * in0.pcap carries valid IPv4 and IPv6 frames for the network behind port 1,
 * frames with a broken IPv4 checksum, and ARP requests.  Checks that the
 * valid ones come out of port 1 (out1.pcap) rewritten, the broken ones are
 * counted under ip4_checksum, the ARP ones go up the TAP, the TAP exists in
 * the kernel while running (needs root: fails, never skips, without it) and
 * is gone after dp_loop_destroy().
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <net/if.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>

#include "dp_loop.h"
#include "dp_pkt.h"
#include "test_util.h"

static const uint8_t MAC0[6] = {2, 0x5f, 0, 0, 0, 0x10}, MAC1[6] = {2, 0x5f, 0, 0, 0, 0x11};
static const uint8_t PEER1[6] = {2, 0x5f, 0, 0, 1, 0x11};

static void pcap_header(FILE *f)
{
	uint32_t h[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
	fwrite(h, 4, 6, f);
}

static void pcap_frame(FILE *f, const uint8_t *b, uint32_t len)
{
	uint32_t h[4] = {1, 0, len, len};
	fwrite(h, 4, 4, f);
	fwrite(b, 1, len, f);
}

static uint32_t frame4(uint8_t *b, bool bad_cksum, unsigned i)
{
	memset(b, 0, 60);
	memcpy(b, MAC0, 6);
	b[6] = 2, b[11] = 0x77;
	b[12] = 0x08;
	uint8_t *ip = b + 14;
	ip[0] = 0x45, ip[3] = 46, ip[8] = 64, ip[9] = 17;
	inet_pton(AF_INET, "198.51.100.9", ip + 12);
	inet_pton(AF_INET, "10.1.0.5", ip + 16);
	ip[19] = (uint8_t)i;
	uint16_t ck = (uint16_t)~dp_cksum(ip, 20, 0);
	ip[10] = (uint8_t)(ck >> 8), ip[11] = (uint8_t)ck;
	if (bad_cksum)
		ip[11] ^= 1;
	return 60;
}

static uint32_t frame6(uint8_t *b, unsigned i)
{
	memset(b, 0, 62);
	memcpy(b, MAC0, 6);
	b[6] = 2, b[11] = 0x77;
	b[12] = 0x86, b[13] = 0xDD;
	uint8_t *ip = b + 14;
	ip[0] = 0x60, ip[5] = 8, ip[6] = 17, ip[7] = 64;
	inet_pton(AF_INET6, "2001:db8::9", ip + 8);
	inet_pton(AF_INET6, "fd01::5", ip + 24);
	ip[39] = (uint8_t)i;
	return 62;
}

static uint32_t frame_arp(uint8_t *b)
{
	memset(b, 0, 42);
	memset(b, 0xFF, 6);
	b[6] = 2, b[11] = 0x77;
	b[12] = 0x08, b[13] = 0x06;
	return 42;
}

static unsigned pcap_count(const char *path, unsigned *rewritten)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	uint32_t h[6], r[4];
	unsigned n = 0;
	*rewritten = 0;
	if (fread(h, 4, 6, f) == 6) {
		uint8_t b[2048];
		while (fread(r, 4, 4, f) == 4 && r[2] <= sizeof b && fread(b, 1, r[2], f) == r[2]) {
			n++;
			if (!memcmp(b, PEER1, 6) && !memcmp(b + 6, MAC1, 6))
				(*rewritten)++;
		}
	}
	fclose(f);
	return n;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	(void)argc;
	if (geteuid() != 0) {
		fprintf(stderr, "test_dp_loop: FAILED: needs root (a kernel TAP is part of the test); run as root\n");
		return 1;
	}
	char dir[] = "/tmp/srcfib-test-dp-loop-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char in0[128], in1[128], out0[128], out1[128];
	snprintf(in0, sizeof in0, "%s/in0.pcap", dir);
	snprintf(in1, sizeof in1, "%s/in1.pcap", dir);
	snprintf(out0, sizeof out0, "%s/out0.pcap", dir);
	snprintf(out1, sizeof out1, "%s/out1.pcap", dir);
	FILE *f = fopen(in0, "wb");
	pcap_header(f);
	uint8_t b[128];
	unsigned n4 = 0, n6 = 0, nbad = 0, narp = 0;
	for (unsigned i = 0; i < 100; i++) {
		uint32_t len;
		if (i % 10 == 3)
			len = frame4(b, true, i), nbad++;
		else if (i % 10 == 7)
			len = frame_arp(b), narp++;
		else if (i % 3 == 0)
			len = frame6(b, i), n6++;
		else
			len = frame4(b, false, i), n4++;
		pcap_frame(f, b, len);
	}
	fclose(f);
	f = fopen(in1, "wb");
	pcap_header(f);
	fclose(f);

	char *eal[] = {argv[0], "-l", "0,1", "--no-huge", "--no-shconf", "-m", "512", "--no-pci", "--no-telemetry",
	               "--log-level=error", NULL};
	char err[512];
	if (dp_eal_init(10, eal, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct dp_loop_config c = {.nports = 2, .nworkers = 1};
	snprintf(c.port[0].devargs, sizeof c.port[0].devargs, "net_pcap0,rx_pcap=%s,tx_pcap=%s", in0, out0);
	snprintf(c.port[1].devargs, sizeof c.port[1].devargs, "net_pcap1,rx_pcap=%s,tx_pcap=%s", in1, out1);
	snprintf(c.port[0].tap_name, sizeof c.port[0].tap_name, "sftest%d", (int)(getpid() % 10000));
	memcpy(c.port[0].mac, MAC0, 6);
	memcpy(c.port[1].mac, MAC1, 6);

	/* bad configurations are refused with a message, and leave nothing behind */
	struct dp_loop_config bad = c;
	bad.nworkers = 5;
	CHECK(dp_loop_create(&bad, err, sizeof err) == NULL && strstr(err, "workers") != NULL);
	bad = c;
	snprintf(bad.port[1].devargs, sizeof bad.port[1].devargs, "net_nosuchdriver0");
	CHECK(dp_loop_create(&bad, err, sizeof err) == NULL && strstr(err, "net_nosuchdriver0") != NULL);
	CHECK(if_nametoindex(c.port[0].tap_name) == 0);

	struct dp_loop *l = dp_loop_create(&c, err, sizeof err);
	if (!l) {
		fprintf(stderr, "dp_loop_create: %s\n", err);
		return 1;
	}
	struct dp_tables *t = dp_loop_tables(l);
	for (unsigned p = 0; p < 2; p++) {
		struct dp_port_conf pc = {.dpdk_port = dp_loop_dpdk_port(l, p), .tap_port = dp_loop_tap_port(l, p),
		                          .mtu = 1500, .has_ip4 = 1, .ip4 = 0x0A000001 + p};
		dp_loop_port_mac(l, p, pc.mac);
		CHECK(dp_port_set(t, (uint16_t)p, &pc) == DP_OK);
	}
	CHECK(dp_loop_tap_port(l, 0) != DP_ID_NONE && dp_loop_tap_port(l, 1) == DP_ID_NONE);
	struct dp_adj a = {.port = 1, .mtu = 1500, .resolved = 1};
	memcpy(a.dst_mac, PEER1, 6);
	memcpy(a.src_mac, MAC1, 6);
	CHECK(dp_adj_set(t, 0, &a) == DP_OK);
	uint16_t adj = 0, w = 1;
	CHECK(dp_nhg_set(t, 0, DP_NHG_FORWARD, 1, &adj, &w) == DP_OK);
	uint8_t z[16] = {0};
	CHECK(dp_route_set(t, 0, 4, z, 0, 0, NULL) == DP_OK);
	CHECK(dp_route_set(t, 0, 6, z, 0, 0, NULL) == DP_OK);
	CHECK(dp_fib_base_set(t, 0, 0, NULL, 0) == DP_OK);
	CHECK(dp_binding_default(t, 4, 0) == DP_OK && dp_binding_default(t, 6, 0) == DP_OK);

	if (dp_loop_start(l, err, sizeof err) != 0) {
		fprintf(stderr, "dp_loop_start: %s\n", err);
		return 1;
	}
	CHECK(if_nametoindex(c.port[0].tap_name) != 0); /* the kernel sees the TAP */
	struct dp_counters *sum = malloc(sizeof(*sum));
	double t0 = now();
	do {
		usleep(10000);
		dp_loop_counters(l, sum);
	} while (sum->port[0].rx_pkts < 100 && now() - t0 < 10);
	usleep(50000);
	/* a route change while running: the v6 default becomes a blackhole */
	CHECK(dp_nhg_set(t, 1, DP_NHG_BLACKHOLE, 0, NULL, NULL) == DP_OK);
	CHECK(dp_route_set(t, 0, 6, z, 0, 1, NULL) == DP_OK);
	dp_loop_stop(l);
	dp_loop_counters(l, sum);
	printf("rx %lu, port 1 tx %lu, ip4_checksum drops %lu, punted %lu (+%lu punt_full)\n",
	       (unsigned long)sum->port[0].rx_pkts, (unsigned long)sum->port[1].tx_pkts,
	       (unsigned long)sum->drop[DP_DROP_IP4_CHECKSUM], (unsigned long)sum->port[0].punt_pkts,
	       (unsigned long)sum->drop[DP_DROP_PUNT_FULL]);
	CHECK(sum->port[0].rx_pkts == 100);
	CHECK(sum->port[1].tx_pkts == n4 + n6);
	CHECK(sum->drop[DP_DROP_IP4_CHECKSUM] == nbad);
	CHECK(sum->port[0].punt_pkts == narp);
	char tap[16];
	memcpy(tap, c.port[0].tap_name, sizeof tap);
	dp_loop_destroy(l);
	CHECK(if_nametoindex(tap) == 0); /* the TAP went with the dataplane */
	unsigned rewritten = 0, out = pcap_count(out1, &rewritten);
	CHECK(out == n4 + n6 && rewritten == out);
	free(sum);
	unlink(in0), unlink(in1), unlink(out0), unlink(out1), rmdir(dir);
	rte_eal_cleanup();
	return test_summary("test_dp_loop");
}
