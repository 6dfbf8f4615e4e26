/* A dataplane port and its TAP as two started net_ring ports over four rings, for the C tests of
 * the packet loop and its fuzz target: frames go in on rx (or tap_rx), what the loop sends is on
 * tx (or tap_tx).  Names are tag + i, so that two users in one process do not collide. */
#ifndef SRCFIB_TEST_PORTS_H
#define SRCFIB_TEST_PORTS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_eth_ring.h>
#include <rte_ring.h>

struct test_port {
	struct rte_ring *rx, *tx, *tap_tx, *tap_rx;
	uint16_t eth, tap; /* DPDK port ids */
};

/* Exits with a message when DPDK refuses. */
static inline void test_port_make(struct test_port *p, const char *tag, int i, struct rte_mempool *mp, unsigned tx_size)
{
	char n[32];
	struct rte_ring **rings[4] = {&p->rx, &p->tx, &p->tap_tx, &p->tap_rx};
	static const char *const what[4] = {"rx", "tx", "taptx", "taprx"};
	for (int k = 0; k < 4; k++) {
		snprintf(n, sizeof n, "%s%s%d", tag, what[k], i);
		*rings[k] = rte_ring_create(n, k == 1 ? tx_size : 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!*rings[k]) {
			fprintf(stderr, "rte_ring_create %s failed\n", n);
			exit(1);
		}
	}
	snprintf(n, sizeof n, "%sport%d", tag, i);
	int e = rte_eth_from_rings(n, &p->rx, 1, &p->tx, 1, 0);
	snprintf(n, sizeof n, "%stap%d", tag, i);
	int t = rte_eth_from_rings(n, &p->tap_rx, 1, &p->tap_tx, 1, 0);
	if (e < 0 || t < 0) {
		fprintf(stderr, "rte_eth_from_rings failed\n");
		exit(1);
	}
	p->eth = (uint16_t)e;
	p->tap = (uint16_t)t;
	/* the fast-path functions are only installed by rte_eth_dev_start */
	struct rte_eth_conf conf = {0};
	for (int k = 0; k < 2; k++) {
		uint16_t id = k ? p->tap : p->eth;
		if (rte_eth_dev_configure(id, 1, 1, &conf) != 0 || rte_eth_rx_queue_setup(id, 0, 256, 0, NULL, mp) != 0 ||
		    rte_eth_tx_queue_setup(id, 0, 256, 0, NULL) != 0 || rte_eth_dev_start(id) != 0) {
			fprintf(stderr, "ring port %u setup failed\n", id);
			exit(1);
		}
	}
}

#define TEST_NPORT 3
#define TEST_OUT_MAX 512 /* frames one port may send during a run */
#define TEST_TAP_MAX 128

/* What left each port and TAP during a run. */
struct test_out {
	struct rte_mbuf *m[TEST_NPORT][TEST_OUT_MAX];
	unsigned n[TEST_NPORT];
	struct rte_mbuf *tap[TEST_NPORT][TEST_TAP_MAX];
	unsigned ntap[TEST_NPORT];
};

/* Adds to o what is on the ports' transmit and TAP rings now. */
static inline void test_out_take(struct test_out *o, const struct test_port *ports)
{
	for (int p = 0; p < TEST_NPORT; p++) {
		o->n[p] += rte_ring_dequeue_burst(ports[p].tx, (void **)&o->m[p][o->n[p]], TEST_OUT_MAX - o->n[p], NULL);
		o->ntap[p] += rte_ring_dequeue_burst(ports[p].tap_tx, (void **)&o->tap[p][o->ntap[p]], TEST_TAP_MAX - o->ntap[p], NULL);
	}
}

/* Frees every frame in o and empties it. */
static inline void test_out_free(struct test_out *o)
{
	for (int p = 0; p < TEST_NPORT; p++) {
		for (unsigned k = 0; k < o->n[p]; k++)
			rte_pktmbuf_free(o->m[p][k]);
		for (unsigned k = 0; k < o->ntap[p]; k++)
			rte_pktmbuf_free(o->tap[p][k]);
	}
	memset(o, 0, sizeof(*o));
}

#endif
