/* dp_loop — see dp_loop.h. */
#define _GNU_SOURCE /* CPU_SET, pthread_setaffinity_np */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "dp_loop.h"
#include "dp_ipsec.h"
#include "../common/errf.h"
#include "dp_worker.h"

#define RX_DESC 1024
#define TX_DESC 1024

struct rx_assign {
	uint16_t dpdk_port, queue, port;
	bool tap;
};

struct dp_loop {
	struct dp_loop_config cfg;
	struct rte_mempool *mp, *mp_ind;
	rcu_qsbr_t *rcu;
	struct dp_tables *t;
	uint16_t dpdk_port[DP_MAX_PORTS], tap_port[DP_MAX_PORTS];
	struct rte_device *dev[DP_MAX_PORTS], *tap_dev[DP_MAX_PORTS];
	bool started[DP_MAX_PORTS], tap_started[DP_MAX_PORTS];
	uint8_t mac[DP_MAX_PORTS][6];
	unsigned nworkers;
	unsigned lcore[DP_MAX_WORKERS];
	struct dp_worker *w[DP_MAX_WORKERS];
	struct dp_counters *c[DP_MAX_WORKERS];
	int rcu_id[DP_MAX_WORKERS];
	struct rx_assign rx[DP_MAX_WORKERS][2 * DP_MAX_PORTS];
	unsigned nrx[DP_MAX_WORKERS];
	volatile int stop;
	bool running;
	bool crypto_up;
	struct ipsec_crypto crypto;
};

struct worker_arg {
	struct dp_loop *l;
	unsigned idx;
};
static struct worker_arg worker_args[DP_MAX_WORKERS];

int dp_eal_init(int argc, char **argv, char *err, size_t errlen)
{
	static int done;
	if (done) {
		errf(err, errlen, "EAL is already initialised in this process");
		return -1;
	}
	if (rte_eal_init(argc, argv) < 0) {
		errf(err, errlen, "rte_eal_init failed: %s", rte_strerror(rte_errno));
		return -1;
	}
	done = 1;
	/* rte_eal_init pinned this thread (the control thread) to the main lcore,
	 * and threads it creates later inherit that.  Give it every CPU that no
	 * worker lcore runs on instead, so the control plane can use the spare
	 * cores and never competes with a worker. */
	cpu_set_t ctl;
	CPU_ZERO(&ctl);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	for (long c = 0; c < ncpu && c < CPU_SETSIZE; c++)
		CPU_SET((int)c, &ctl);
	unsigned lc;
	RTE_LCORE_FOREACH_WORKER(lc)
	{
		rte_cpuset_t ws = rte_lcore_cpuset(lc);
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &ws))
				CPU_CLR(c, &ctl);
	}
	if (CPU_COUNT(&ctl) > 0)
		pthread_setaffinity_np(pthread_self(), sizeof ctl, &ctl);
	return 0;
}

static int find_port(const char *devargs, uint16_t *pid)
{
	struct rte_dev_iterator it;
	uint16_t p;
	RTE_ETH_FOREACH_MATCHING_DEV(p, devargs, &it)
	{
		*pid = p;
		rte_eth_iterator_cleanup(&it);
		return 0;
	}
	return -1;
}

static int probe(const char *devargs, uint16_t *pid, struct rte_device **dev, char *err, size_t errlen)
{
	int rc = rte_dev_probe(devargs);
	if (rc < 0 && rc != -EEXIST) {
		errf(err, errlen, "cannot probe device \"%s\": %s", devargs, rte_strerror(-rc));
		return -1;
	}
	if (find_port(devargs, pid) != 0) {
		errf(err, errlen, "device \"%s\" has no ethernet port", devargs);
		return -1;
	}
	struct rte_eth_dev_info info;
	if (rte_eth_dev_info_get(*pid, &info) == 0)
		*dev = info.device;
	return 0;
}

static int port_setup(struct dp_loop *l, uint16_t pid, uint16_t rxq, uint16_t txq, uint16_t mtu, const uint8_t *mac,
                      bool promisc, char *err, size_t errlen, const char *what)
{
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(pid, &info);
	if (rc != 0) {
		errf(err, errlen, "%s: cannot read device info: %s", what, rte_strerror(-rc));
		return -1;
	}
	if (info.max_tx_queues < txq) {
		errf(err, errlen,
		     "%s: %u workers need %u tx queues, the device has %u (af_packet: add qpairs=%u to its devargs, "
		     "or run fewer workers)",
		     what, txq, txq, info.max_tx_queues, txq);
		return -1;
	}
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	if (rxq > 1) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
	}
	if ((rc = rte_eth_dev_configure(pid, rxq, txq, &conf)) != 0) {
		errf(err, errlen, "%s: configure failed: %s", what, rte_strerror(-rc));
		return -1;
	}
	uint16_t nrx = RX_DESC, ntx = TX_DESC;
	rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrx, &ntx);
	int socket = rte_eth_dev_socket_id(pid);
	for (uint16_t q = 0; q < rxq; q++)
		if ((rc = rte_eth_rx_queue_setup(pid, q, nrx, (unsigned)socket, NULL, l->mp)) != 0) {
			errf(err, errlen, "%s: rx queue %u: %s", what, q, rte_strerror(-rc));
			return -1;
		}
	for (uint16_t q = 0; q < txq; q++)
		if ((rc = rte_eth_tx_queue_setup(pid, q, ntx, (unsigned)socket, NULL)) != 0) {
			errf(err, errlen, "%s: tx queue %u: %s", what, q, rte_strerror(-rc));
			return -1;
		}
	if (mtu) {
		rc = rte_eth_dev_set_mtu(pid, mtu);
		if (rc != 0 && rc != -ENOTSUP) {
			errf(err, errlen, "%s: cannot set MTU %u: %s", what, mtu, rte_strerror(-rc));
			return -1;
		}
	}
	/* An af_packet port shares its interface with the kernel, and its PMD sets
	 * a MAC by changing the kernel interface's: the kernel would then take our
	 * frames as its own (answer, and route, them a second time).  Leave the
	 * interface's MAC alone; the port is promiscuous and the parser filters by
	 * the configured MAC. */
	if (mac && strcmp(info.driver_name, "net_af_packet") != 0) {
		struct rte_ether_addr ea;
		memcpy(ea.addr_bytes, mac, 6);
		rc = rte_eth_dev_default_mac_addr_set(pid, &ea);
		if (rc != 0 && rc != -ENOTSUP) {
			errf(err, errlen, "%s: cannot set MAC: %s", what, rte_strerror(-rc));
			return -1;
		}
	}
	if (promisc)
		rte_eth_promiscuous_enable(pid); /* not every PMD has it; the parser filters by MAC anyway */
	return 0;
}

static bool mac_zero(const uint8_t *m) { return !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]); }

struct dp_loop *dp_loop_create(const struct dp_loop_config *c, char *err, size_t errlen)
{
	if (c->nports == 0 || c->nports > DP_MAX_PORTS) {
		errf(err, errlen, "between 1 and %u ports, not %u", DP_MAX_PORTS, c->nports);
		return NULL;
	}
	unsigned avail = rte_lcore_count() - 1;
	if (c->nworkers == 0 || c->nworkers > DP_MAX_WORKERS || c->nworkers > avail) {
		errf(err, errlen, "%u workers asked, %u worker lcores available to EAL (max %u)", c->nworkers, avail,
		     DP_MAX_WORKERS);
		return NULL;
	}
	struct dp_loop *l = calloc(1, sizeof(*l));
	if (!l) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	l->cfg = *c;
	l->nworkers = c->nworkers;
	for (unsigned p = 0; p < DP_MAX_PORTS; p++)
		l->dpdk_port[p] = l->tap_port[p] = DP_ID_NONE;
	unsigned mbufs = c->mbufs ? c->mbufs : (c->nports * 2 * (RX_DESC + TX_DESC) * c->nworkers + 8192);
	l->mp = rte_pktmbuf_pool_create("srcfib_mp", mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	l->mp_ind = rte_pktmbuf_pool_create("srcfib_mpi", 4095, 64, 0, 0, (int)rte_socket_id());
	l->rcu = rcu_qsbr_create();
	if (!l->mp || !l->mp_ind || !l->rcu) {
		errf(err, errlen, "cannot allocate %u mbufs: %s (give EAL more memory with -m)", mbufs,
		     rte_strerror(rte_errno));
		goto fail;
	}
	l->t = dp_tables_create(l->rcu);
	if (!l->t) {
		errf(err, errlen, "out of memory for the tables");
		goto fail;
	}
	for (unsigned p = 0; p < c->nports; p++) {
		const struct dp_port_spec *ps = &c->port[p];
		char what[600];
		snprintf(what, sizeof what, "port %u (%s)", p, ps->devargs);
		if (probe(ps->devargs, &l->dpdk_port[p], &l->dev[p], err, errlen) != 0)
			goto fail;
		for (unsigned q = 0; q < p; q++)
			if (l->dpdk_port[q] == l->dpdk_port[p]) {
				errf(err, errlen, "ports %u and %u name the same device", q, p);
				l->dev[p] = NULL; /* owned by q */
				goto fail;
			}
		struct rte_eth_dev_info info;
		rte_eth_dev_info_get(l->dpdk_port[p], &info);
		uint16_t rxq = (info.max_rx_queues >= l->nworkers && l->nworkers > 1) ? (uint16_t)l->nworkers : 1;
		bool own_mac = !mac_zero(ps->mac);
		if (port_setup(l, l->dpdk_port[p], rxq, (uint16_t)l->nworkers, ps->mtu ? ps->mtu : 1500,
		               own_mac ? ps->mac : NULL, true, err, errlen, what) != 0)
			goto fail;
		if (own_mac) {
			memcpy(l->mac[p], ps->mac, 6);
		} else {
			struct rte_ether_addr ea;
			rte_eth_macaddr_get(l->dpdk_port[p], &ea);
			memcpy(l->mac[p], ea.addr_bytes, 6);
		}
		for (unsigned w = 0; w < l->nworkers; w++) {
			if (rxq > 1)
				l->rx[w][l->nrx[w]++] = (struct rx_assign){l->dpdk_port[p], (uint16_t)w, (uint16_t)p, false};
			else if (w == p % l->nworkers)
				l->rx[w][l->nrx[w]++] = (struct rx_assign){l->dpdk_port[p], 0, (uint16_t)p, false};
		}
		if (ps->tap_name[0]) {
			char targs[128];
			const uint8_t *m = l->mac[p];
			snprintf(targs, sizeof targs, "net_tap_srcfib%u,iface=%s,mac=%02x:%02x:%02x:%02x:%02x:%02x", p,
			         ps->tap_name, m[0], m[1], m[2], m[3], m[4], m[5]);
			snprintf(what, sizeof what, "TAP %s of port %u", ps->tap_name, p);
			if (probe(targs, &l->tap_port[p], &l->tap_dev[p], err, errlen) != 0)
				goto fail;
			/* net_tap wants as many rx as tx queues (one kernel queue fd each);
			 * the kernel spreads what it writes over them, so every worker
			 * polls its own. */
			if (port_setup(l, l->tap_port[p], (uint16_t)l->nworkers, (uint16_t)l->nworkers, ps->mtu ? ps->mtu : 1500,
			               NULL, false, err, errlen, what) != 0)
				goto fail;
			for (unsigned w = 0; w < l->nworkers; w++)
				l->rx[w][l->nrx[w]++] = (struct rx_assign){l->tap_port[p], (uint16_t)w, (uint16_t)p, true};
		}
	}
	if (c->ipsec) {
		char cerr[256];
		if (ipsec_crypto_init(&l->crypto, c->crypto_only[0] ? c->crypto_only : NULL, l->nworkers, DP_MAX_SAS, cerr,
		                      sizeof cerr) != 0) {
			errf(err, errlen, "IPsec: %s (turn IPsec off with ipsec.enabled: false)", cerr);
			goto fail;
		}
		l->crypto_up = true;
		if (dp_ipsec_attach(l->t, &l->crypto) != DP_OK) {
			errf(err, errlen, "out of memory for IPsec");
			goto fail;
		}
		if (c->ike_port[0] &&
		    dp_ipsec_set_ike_ports(l->t, c->ike_port[0], c->ike_port[1]) != DP_OK) {
			errf(err, errlen, "IPsec: IKE ports %u and %u: want two different ports 1-65535", c->ike_port[0],
			     c->ike_port[1]);
			goto fail;
		}
	}
	for (unsigned w = 0; w < l->nworkers; w++) {
		l->c[w] = rte_zmalloc("srcfib_counters", sizeof(struct dp_counters), 64);
		l->w[w] = rte_zmalloc("srcfib_worker", sizeof(struct dp_worker), 64);
		l->rcu_id[w] = rcu_qsbr_reader_register(l->rcu);
		if (!l->c[w] || !l->w[w] || l->rcu_id[w] < 0) {
			errf(err, errlen, "out of memory for worker %u", w);
			goto fail;
		}
		dp_worker_init(l->w[w], l->t, l->c[w], l->mp, l->mp_ind, (uint16_t)w);
	}
	return l;
fail:
	dp_loop_destroy(l);
	return NULL;
}

static int worker_main(void *arg)
{
	struct worker_arg *a = arg;
	struct dp_loop *l = a->l;
	unsigned me = a->idx;
	struct dp_worker *w = l->w[me];
	struct rte_mbuf *m[DP_BURST];
	const unsigned sleep_us = l->cfg.idle_sleep_us;
	unsigned idle = 0;
	rcu_qsbr_online(l->rcu, l->rcu_id[me]);
	while (!__atomic_load_n(&l->stop, __ATOMIC_RELAXED)) {
		bool got = false;
		for (unsigned i = 0; i < l->nrx[me]; i++) {
			const struct rx_assign *r = &l->rx[me][i];
			uint16_t n = rte_eth_rx_burst(r->dpdk_port, r->queue, m, DP_BURST);
			if (!n)
				continue;
			got = true;
			if (r->tap)
				dp_worker_inject(w, r->port, m, n);
			else
				dp_worker_rx(w, r->port, m, n);
		}
		dp_worker_flush(w);
		rcu_qsbr_quiescent(l->rcu, l->rcu_id[me]);
		if (sleep_us == 0 || got) {
			idle = 0;
		} else if (++idle >= DP_IDLE_ROUNDS) {
			idle = DP_IDLE_ROUNDS;
			struct timespec ts = {0, (long)sleep_us * 1000};
			nanosleep(&ts, NULL);
		}
	}
	rcu_qsbr_offline(l->rcu, l->rcu_id[me]);
	return 0;
}

int dp_loop_start(struct dp_loop *l, char *err, size_t errlen)
{
	if (l->running) {
		errf(err, errlen, "already running");
		return -1;
	}
	for (unsigned p = 0; p < l->cfg.nports; p++) {
		int rc = rte_eth_dev_start(l->dpdk_port[p]);
		if (rc != 0) {
			errf(err, errlen, "port %u (%s): start failed: %s", p, l->cfg.port[p].devargs, rte_strerror(-rc));
			dp_loop_stop(l);
			return -1;
		}
		l->started[p] = true;
		if (l->tap_port[p] != DP_ID_NONE) {
			rc = rte_eth_dev_start(l->tap_port[p]);
			if (rc != 0) {
				errf(err, errlen, "TAP of port %u: start failed: %s", p, rte_strerror(-rc));
				dp_loop_stop(l);
				return -1;
			}
			l->tap_started[p] = true;
		}
	}
	l->stop = 0;
	unsigned w = 0, lc;
	RTE_LCORE_FOREACH_WORKER(lc)
	{
		if (w == l->nworkers)
			break;
		worker_args[w] = (struct worker_arg){l, w};
		l->lcore[w] = lc;
		if (rte_eal_remote_launch(worker_main, &worker_args[w], lc) != 0) {
			errf(err, errlen, "cannot launch worker on lcore %u", lc);
			l->running = w > 0;
			dp_loop_stop(l);
			return -1;
		}
		w++;
	}
	l->running = true;
	return 0;
}

void dp_loop_stop(struct dp_loop *l)
{
	if (l->running) {
		__atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
		for (unsigned w = 0; w < l->nworkers; w++)
			rte_eal_wait_lcore(l->lcore[w]);
		l->running = false;
	}
	for (unsigned p = 0; p < DP_MAX_PORTS; p++) {
		if (l->started[p])
			rte_eth_dev_stop(l->dpdk_port[p]);
		if (l->tap_started[p])
			rte_eth_dev_stop(l->tap_port[p]);
		l->started[p] = l->tap_started[p] = false;
	}
	if (l->t)
		dp_tables_reclaim(l->t, false);
}

static void close_port(uint16_t pid, struct rte_device *dev)
{
	if (pid == DP_ID_NONE)
		return;
	rte_eth_dev_close(pid);
	if (dev)
		rte_dev_remove(dev);
}

void dp_loop_destroy(struct dp_loop *l)
{
	if (!l)
		return;
	dp_loop_stop(l);
	for (unsigned p = 0; p < DP_MAX_PORTS; p++) {
		close_port(l->tap_port[p], l->tap_dev[p]);
		close_port(l->dpdk_port[p], l->dev[p]);
	}
	for (unsigned w = 0; w < DP_MAX_WORKERS; w++) {
		rte_free(l->w[w]);
		rte_free(l->c[w]);
	}
	if (l->t)
		dp_ipsec_detach(l->t);
	if (l->crypto_up)
		ipsec_crypto_fini(&l->crypto);
	dp_tables_destroy(l->t);
	if (l->rcu)
		rcu_qsbr_destroy(l->rcu);
	rte_mempool_free(l->mp);
	rte_mempool_free(l->mp_ind);
	free(l);
}

struct dp_tables *dp_loop_tables(struct dp_loop *l) { return l->t; }
uint16_t dp_loop_dpdk_port(const struct dp_loop *l, unsigned port)
{
	return port < DP_MAX_PORTS ? l->dpdk_port[port] : DP_ID_NONE;
}
uint16_t dp_loop_tap_port(const struct dp_loop *l, unsigned port)
{
	return port < DP_MAX_PORTS ? l->tap_port[port] : DP_ID_NONE;
}
void dp_loop_port_mac(const struct dp_loop *l, unsigned port, uint8_t mac[6])
{
	memcpy(mac, l->mac[port < DP_MAX_PORTS ? port : 0], 6);
}

void dp_loop_counters(const struct dp_loop *l, struct dp_counters *out)
{
	_Static_assert(sizeof(struct dp_counters) % sizeof(uint64_t) == 0, "counters are u64 only");
	uint64_t *o = (uint64_t *)out;
	size_t n = sizeof(*out) / sizeof(uint64_t);
	memset(out, 0, sizeof(*out));
	for (unsigned w = 0; w < l->nworkers; w++) {
		const volatile uint64_t *s = (const volatile uint64_t *)l->c[w];
		if (!s)
			continue;
		for (size_t i = 0; i < n; i++)
			o[i] += s[i];
	}
}

unsigned dp_loop_nworkers(const struct dp_loop *l) { return l->nworkers; }

const struct ipsec_crypto *dp_loop_crypto(const struct dp_loop *l) { return l->crypto_up ? &l->crypto : NULL; }

uint64_t dp_loop_worker_rx(const struct dp_loop *l, unsigned worker)
{
	if (worker >= l->nworkers || !l->c[worker])
		return 0;
	const volatile struct dp_counters *c = l->c[worker];
	uint64_t n = 0;
	for (unsigned p = 0; p < DP_MAX_PORTS; p++)
		n += c->port[p].rx_pkts + c->port[p].inject_pkts;
	return n;
}

unsigned dp_loop_take_resolve(struct dp_loop *l, uint16_t *ids, unsigned max)
{
	unsigned k = 0;
	for (unsigned a = 0; a < DP_MAX_ADJS && k < max; a++) {
		bool want = false;
		for (unsigned w = 0; w < l->nworkers; w++) {
			volatile uint8_t *f = &l->w[w]->want_resolve[a];
			if (*f) {
				*f = 0;
				want = true;
			}
		}
		if (want)
			ids[k++] = (uint16_t)a;
	}
	return k;
}
