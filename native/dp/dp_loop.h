/*
 * dp_loop — the running dataplane: ports, TAPs, mempools, worker lcores.
 *
 * dp_loop_create() takes the ports as DPDK devargs (a PCI address, or a vdev
 * such as "net_af_packet0,iface=veth1", "net_pcap0,rx_pcap=in.pcap,tx_pcap=
 * out.pcap", "net_tap0", "net_ring0"), probes each, and optionally gives it a
 * TAP ("net_tap" with the port's MAC) through which the kernel sees the port:
 * punted frames go up the TAP, and what the kernel writes on the TAP leaves
 * through the port.  Every worker owns one tx queue on every port; a port
 * with as many rx queues as workers is spread by RSS, otherwise its rx is
 * polled by one worker.
 *
 * Workers are DPDK lcores running dp_loop_worker(): rx burst per assigned
 * port, dp_worker_rx() / dp_worker_inject(), flush, then one quiescent state
 * report, so the control thread's table updates never wait for more than one
 * loop iteration.  dp_loop_stop() raises a flag, waits for the lcores, and
 * stops the ports; dp_loop_destroy() closes and removes every port and TAP it
 * probed (so a TAP interface disappears from the kernel).
 *
 * EAL is initialised once per process (dp_eal_init); everything here runs on
 * the control thread except the worker function.
 */
#ifndef SRCFIB_DP_LOOP_H
#define SRCFIB_DP_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_counters.h"
#include "dp_tables.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dp_port_spec {
	char devargs[512];
	char tap_name[16];   /* kernel name of the port's TAP; "" = no TAP */
	uint8_t mac[6];      /* the port's MAC (also the TAP's); all zero: the device's own */
	uint16_t mtu;        /* largest IP datagram; 0: 1500 */
};

struct dp_loop_config {
	unsigned nports;
	struct dp_port_spec port[DP_MAX_PORTS];
	unsigned nworkers;   /* worker lcores (EAL must have been given that many beyond the main one) */
	unsigned mbufs;      /* mbufs in the pool; 0: a default sized for the ports */
	unsigned idle_sleep_us; /* 0: workers poll without pause (lowest latency, a core each);
	                           else a worker that found nothing DP_IDLE_ROUNDS rounds in a row
	                           sleeps this long between rounds until packets come again */
	bool ipsec;          /* bring up a crypto device (a queue pair per worker) and attach
	                        IPsec to the tables (dp_ipsec.h) */
	char crypto_only[32]; /* "" : crypto_aesni_mb, else crypto_openssl; or exactly this driver */
	uint16_t ike_port[2]; /* the IKE daemon's IKE and NAT-T ports (dp_ipsec_set_ike_ports); 0: 500,
	                         4500 */
};

#define DP_IDLE_ROUNDS 256

struct dp_loop;

/* Initialises EAL with the given arguments (argv[0] included); returns 0 or
 * -1 with a message in err.  Safe to call once per process.  Afterwards the
 * calling (control) thread may run on every CPU but the worker lcores'. */
int dp_eal_init(int argc, char **argv, char *err, size_t errlen);

struct dp_loop *dp_loop_create(const struct dp_loop_config *c, char *err, size_t errlen);
int dp_loop_start(struct dp_loop *l, char *err, size_t errlen);
void dp_loop_stop(struct dp_loop *l);
void dp_loop_destroy(struct dp_loop *l);

struct dp_tables *dp_loop_tables(struct dp_loop *l);
/* DPDK port ids of a dataplane port and of its TAP (DP_ID_NONE: none). */
uint16_t dp_loop_dpdk_port(const struct dp_loop *l, unsigned port);
uint16_t dp_loop_tap_port(const struct dp_loop *l, unsigned port);
/* The port's MAC (the configured one, or the device's). */
void dp_loop_port_mac(const struct dp_loop *l, unsigned port, uint8_t mac[6]);
/* Sums the workers' counters into out (readable while running). */
void dp_loop_counters(const struct dp_loop *l, struct dp_counters *out);
/* Worker lcores, and the packets each has received (all ports and TAPs). */
unsigned dp_loop_nworkers(const struct dp_loop *l);
uint64_t dp_loop_worker_rx(const struct dp_loop *l, unsigned worker);
/* The crypto device behind IPsec (which driver, and why not the preferred one), or NULL when
 * IPsec is off. */
struct ipsec_crypto;
const struct ipsec_crypto *dp_loop_crypto(const struct dp_loop *l);
/* Collects and clears the adjacencies workers want resolved; returns how many
 * ids were written to ids (at most max). */
unsigned dp_loop_take_resolve(struct dp_loop *l, uint16_t *ids, unsigned max);

#ifdef __cplusplus
}
#endif
#endif
