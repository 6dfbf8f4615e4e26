/*
 * dp_neigh — the kernel's neighbour table over rtnetlink.
 *
 * The routing OS side of srcfib is the kernel behind each port's TAP: it
 * answers and sends ARP and ND there, so its neighbour table is the truth
 * about which next hops are reachable at which MAC.  This object reads that
 * table (a dump, then the RTNLGRP_NEIGH multicast stream) and asks the kernel
 * to resolve an address (RTM_NEWNEIGH with NTF_USE, which starts ARP / ND
 * exactly as a packet waiting for the neighbour would).
 *
 * No DPDK here; no threads.  The socket is non-blocking: the control layer
 * polls it from its own timer.  A receive overrun (ENOBUFS: events were lost)
 * is reported so that the caller dumps the table again.
 */
#ifndef SRCFIB_DP_NEIGH_H
#define SRCFIB_DP_NEIGH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dp_neigh_event {
	uint8_t deleted;     /* RTM_DELNEIGH */
	uint8_t family;      /* 4 or 6 */
	uint8_t has_lladdr;
	uint8_t flags;       /* ndm_flags (NTF_*) */
	uint16_t state;      /* ndm_state (NUD_*) */
	uint32_t ifindex;
	uint8_t addr[16];    /* network order; IPv4 in the first 4 bytes */
	uint8_t lladdr[6];
};

struct dp_neigh;

/* Opens the socket, subscribed to IPv4 and IPv6 neighbour events. */
struct dp_neigh *dp_neigh_open(char *err, size_t errlen);
void dp_neigh_close(struct dp_neigh *n);
/* Asks for a dump of both families; the entries arrive through dp_neigh_read. */
int dp_neigh_dump(struct dp_neigh *n, char *err, size_t errlen);
/* Reads what is queued (never blocks): up to max events; returns how many,
 * DP_NEIGH_OVERRUN when the kernel dropped events (dump again), or -1 with
 * a message in err. */
#define DP_NEIGH_OVERRUN (-2)
int dp_neigh_read(struct dp_neigh *n, struct dp_neigh_event *ev, unsigned max, char *err, size_t errlen);
/* Asks the kernel to resolve addr on ifindex (creates the entry if needed and
 * sends ARP / NS).  Returns 0 or -1 with the kernel's reason in err. */
int dp_neigh_resolve(struct dp_neigh *n, int family, uint32_t ifindex, const uint8_t *addr, char *err,
                     size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
