/*
 * dp_limits — compile-time sizes of the dataplane's tables.
 *
 * Ids are small dense integers the control layer assigns (src/fib); the
 * tables are arrays indexed by them, so the hot path never hashes.  The
 * limits are generous for one server and cheap: an empty slot costs one
 * pointer (and one counter per lcore).
 */
#ifndef SRCFIB_DP_LIMITS_H
#define SRCFIB_DP_LIMITS_H

#define DP_MAX_PORTS 16        /* dataplane ports (each with a TAP for the kernel) */
#define DP_MAX_FIBS 256        /* FIB bases (FIB N) */
#define DP_MAX_SUBFIBS 1024    /* sub-FIBs (N.M) over all bases */
#define DP_MAX_RULES 64        /* sub-FIB rules per FIB base */
#define DP_MAX_RULE_IDS 4096   /* rule ids (for counters) */
#define DP_MAX_NHGS 65536      /* nexthop groups (route values) */
#define DP_MAX_ADJS 4096       /* adjacencies */
#define DP_MAX_ECMP_BUCKETS 1024 /* weighted ECMP resolution of a group */
#define DP_MAX_WORKERS 8       /* worker lcores */
#define DP_BURST 32
#define DP_MAX_SAS 1024        /* IPsec SAs (each one direction) */
#define DP_MAX_TUNNELS 256     /* IPsec tunnels (an SA group: a CHILD_SA's reqid) */
#define DP_MAX_SPS 256         /* security policies per direction */

#endif
