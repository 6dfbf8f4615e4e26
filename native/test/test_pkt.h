/* Field-by-field equality of two parse results (struct dp_pkt has padding: no memcmp), for the
 * tests that hold the inline fast parsers to dp_pkt_parse (test_dp_fwd, fuzz_dp_rx). */
#ifndef SRCFIB_TEST_PKT_H
#define SRCFIB_TEST_PKT_H

#include <stdbool.h>

#include "dp_pkt.h"

static inline bool pkt_same(const struct dp_pkt *a, const struct dp_pkt *b)
{
	return a->l4_off == b->l4_off && a->l3_len == b->l3_len && a->cls == b->cls && a->drop == b->drop &&
	       a->proto == b->proto && a->dscp == b->dscp && a->ttl == b->ttl && a->flags == b->flags &&
	       a->l2_len == b->l2_len && a->sport == b->sport && a->dport == b->dport && a->in_port == b->in_port &&
	       a->ah_off == b->ah_off && a->src4 == b->src4 && a->dst4 == b->dst4 && a->src6 == b->src6 &&
	       a->dst6 == b->dst6;
}

#endif
