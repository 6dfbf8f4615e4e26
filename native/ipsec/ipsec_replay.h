/*
 * ipsec_replay — the inbound anti-replay window (RFC 4303 3.4.3; appendix A for ESN), shared by
 * ESP and AH.
 *
 * ESP keeps its own window on top of rte_ipsec's: DPDK 22.11's window (lib/ipsec/ipsec_sqn.h)
 * records the bit of a sequence number in a 32-bit word, so a number n with n % 64 >= 32 is never
 * marked as seen and could be replayed while it stays in the window.  Here the bits are 64-bit
 * words, and the window moves only for packets that passed their integrity check.
 */
#ifndef SRCFIB_IPSEC_REPLAY_H
#define SRCFIB_IPSEC_REPLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define IPSEC_REPLAY_WORDS 64u /* 4096 bits: the largest window */

struct ipsec_replay {
	uint64_t top;   /* highest sequence number accepted (0: none yet) */
	uint32_t win;   /* packets; 0: no replay check */
	bool esn;
	uint64_t bits[IPSEC_REPLAY_WORDS]; /* bit (s % 4096) for s in (top - win, top] */
};

/* The full sequence number of a received low half (ESN: the high half inferred from the window,
 * RFC 4303 appendix A). */
static inline uint64_t ipsec_replay_full(const struct ipsec_replay *r, uint32_t lo)
{
	if (!r->esn)
		return lo;
	uint32_t tl = (uint32_t)r->top, th = (uint32_t)(r->top >> 32);
	uint32_t w = r->win ? r->win : 1;
	uint32_t bottom = tl - w + 1;
	if (tl >= w - 1)
		return ((uint64_t)(lo >= bottom ? th : th + 1) << 32) | lo;
	return ((uint64_t)(lo >= bottom ? th - 1 : th) << 32) | lo;
}

/* Whether q may be accepted: new, or inside the window and not seen. */
static inline bool ipsec_replay_ok(const struct ipsec_replay *r, uint64_t q)
{
	if (q == 0)
		return false;
	if (r->win == 0 || q > r->top)
		return true;
	if (r->top - q >= r->win)
		return false;
	return !(r->bits[(q / 64) % IPSEC_REPLAY_WORDS] & (1ull << (q % 64)));
}

/* Records an authentic q (check ipsec_replay_ok first). */
static inline void ipsec_replay_take(struct ipsec_replay *r, uint64_t q)
{
	if (q > r->top) {
		/* clear the words the window slides over */
		uint64_t from = r->top / 64 + 1, to = q / 64;
		if (to - from + 1 >= IPSEC_REPLAY_WORDS || r->top == 0)
			memset(r->bits, 0, sizeof r->bits);
		else
			for (uint64_t w = from; w <= to; w++)
				r->bits[w % IPSEC_REPLAY_WORDS] = 0;
		r->top = q;
	}
	r->bits[(q / 64) % IPSEC_REPLAY_WORDS] |= 1ull << (q % 64);
}

#endif
