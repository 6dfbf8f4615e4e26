/* dp_neigh — see dp_neigh.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "dp_neigh.h"
#include "../common/errf.h"

#define BUF_SIZE 65536

struct dp_neigh {
	int ev;          /* dump replies and multicast events */
	int req;         /* resolve requests, answered by an ack */
	uint32_t seq;
	/* the datagram being handed out (a datagram may hold more messages than
	 * the caller has room for) */
	size_t len, off;
	uint8_t buf[BUF_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
};

static int nl_socket(uint32_t groups, int flags)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | flags, NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = groups};
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct dp_neigh *dp_neigh_open(char *err, size_t errlen)
{
	struct dp_neigh *n = calloc(1, sizeof(*n));
	if (!n) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	n->ev = nl_socket(RTMGRP_NEIGH, SOCK_NONBLOCK);
	n->req = nl_socket(0, 0);
	if (n->ev < 0 || n->req < 0) {
		errf(err, errlen, "cannot open an rtnetlink socket: %s", strerror(errno));
		dp_neigh_close(n);
		return NULL;
	}
	int rcvbuf = 4 << 20;
	setsockopt(n->ev, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	struct timeval tv = {.tv_sec = 1};
	setsockopt(n->req, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	n->seq = 1;
	return n;
}

void dp_neigh_close(struct dp_neigh *n)
{
	if (!n)
		return;
	if (n->ev >= 0)
		close(n->ev);
	if (n->req >= 0)
		close(n->req);
	free(n);
}

int dp_neigh_dump(struct dp_neigh *n, char *err, size_t errlen)
{
	struct {
		struct nlmsghdr h;
		struct ndmsg nd;
	} r;
	memset(&r, 0, sizeof r);
	r.h.nlmsg_len = sizeof r;
	r.h.nlmsg_type = RTM_GETNEIGH;
	r.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	r.h.nlmsg_seq = n->seq++;
	r.nd.ndm_family = AF_UNSPEC;
	if (send(n->ev, &r, sizeof r, 0) != (ssize_t)sizeof r) {
		errf(err, errlen, "neighbour dump request: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Parses one message; returns 1 when it was a neighbour entry we report. */
static int parse(const struct nlmsghdr *h, struct dp_neigh_event *e)
{
	if (h->nlmsg_type != RTM_NEWNEIGH && h->nlmsg_type != RTM_DELNEIGH)
		return 0;
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ndmsg)))
		return 0;
	const struct ndmsg *nd = NLMSG_DATA(h);
	if (nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6)
		return 0;
	memset(e, 0, sizeof(*e));
	e->deleted = h->nlmsg_type == RTM_DELNEIGH;
	e->family = nd->ndm_family == AF_INET ? 4 : 6;
	e->state = nd->ndm_state;
	e->flags = nd->ndm_flags;
	e->ifindex = (uint32_t)nd->ndm_ifindex;
	bool have_dst = false;
	int alen = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*nd));
	for (const struct rtattr *a = (const struct rtattr *)((const char *)nd + NLMSG_ALIGN(sizeof(*nd)));
	     RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
		size_t pl = RTA_PAYLOAD(a);
		if (a->rta_type == NDA_DST && pl == (e->family == 4 ? 4u : 16u)) {
			memcpy(e->addr, RTA_DATA(a), pl);
			have_dst = true;
		} else if (a->rta_type == NDA_LLADDR && pl == 6) {
			memcpy(e->lladdr, RTA_DATA(a), 6);
			e->has_lladdr = 1;
		}
	}
	return have_dst;
}

int dp_neigh_read(struct dp_neigh *n, struct dp_neigh_event *ev, unsigned max, char *err, size_t errlen)
{
	unsigned k = 0;
	while (k < max) {
		if (n->off >= n->len) {
			ssize_t r = recv(n->ev, n->buf, sizeof n->buf, MSG_DONTWAIT);
			if (r < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					break;
				if (errno == ENOBUFS)
					return DP_NEIGH_OVERRUN;
				errf(err, errlen, "rtnetlink receive: %s", strerror(errno));
				return -1;
			}
			n->len = (size_t)r;
			n->off = 0;
		}
		while (n->off < n->len && k < max) {
			const struct nlmsghdr *h = (const struct nlmsghdr *)(n->buf + n->off);
			size_t left = n->len - n->off;
			if (left < sizeof(*h) || h->nlmsg_len < sizeof(*h) || h->nlmsg_len > left) {
				n->off = n->len; /* malformed tail: drop the rest of the datagram */
				break;
			}
			n->off += NLMSG_ALIGN(h->nlmsg_len);
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error != 0) {
					errf(err, errlen, "neighbour dump: %s", strerror(-e->error));
					return -1;
				}
				continue;
			}
			if (parse(h, &ev[k]))
				k++;
		}
	}
	return (int)k;
}

int dp_neigh_resolve(struct dp_neigh *n, int family, uint32_t ifindex, const uint8_t *addr, char *err,
                     size_t errlen)
{
	struct {
		struct nlmsghdr h;
		struct ndmsg nd;
		uint8_t attrs[64];
	} r;
	if (family != 4 && family != 6) {
		errf(err, errlen, "family must be 4 or 6");
		return -1;
	}
	memset(&r, 0, sizeof r);
	unsigned alen = family == 4 ? 4 : 16;
	r.h.nlmsg_type = RTM_NEWNEIGH;
	r.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK;
	r.h.nlmsg_seq = n->seq++;
	r.nd.ndm_family = family == 4 ? AF_INET : AF_INET6;
	r.nd.ndm_ifindex = (int)ifindex;
	r.nd.ndm_state = NUD_NONE;
	r.nd.ndm_flags = NTF_USE;
	struct rtattr *a = (struct rtattr *)r.attrs;
	a->rta_type = NDA_DST;
	a->rta_len = (unsigned short)RTA_LENGTH(alen);
	memcpy(RTA_DATA(a), addr, alen);
	r.h.nlmsg_len = (uint32_t)(NLMSG_ALIGN(NLMSG_LENGTH(sizeof(struct ndmsg))) + RTA_ALIGN(a->rta_len));
	if (send(n->req, &r, r.h.nlmsg_len, 0) != (ssize_t)r.h.nlmsg_len) {
		errf(err, errlen, "resolve request: %s", strerror(errno));
		return -1;
	}
	uint8_t buf[4096] __attribute__((aligned(NLMSG_ALIGNTO)));
	for (int tries = 0; tries < 8; tries++) {
		ssize_t got = recv(n->req, buf, sizeof buf, 0);
		if (got < 0) {
			errf(err, errlen, "resolve request: no answer from the kernel (%s)", strerror(errno));
			return -1;
		}
		for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)got);
		     h = NLMSG_NEXT(h, got)) {
			if (h->nlmsg_seq != r.h.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (e->error != 0) {
				errf(err, errlen, "the kernel refused to resolve on ifindex %u: %s", ifindex, strerror(-e->error));
				return -1;
			}
			return 0;
		}
	}
	errf(err, errlen, "resolve request: no acknowledgement");
	return -1;
}
