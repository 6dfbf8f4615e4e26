/* rcu_qsbr — see rcu_qsbr.h for the contract. */
#include "rcu_qsbr.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One reader per cache line so that readers reporting quiescent states do not
 * bounce each other's lines. seen == 0 means offline. */
struct rcu_reader {
	uint64_t seen;
	uint8_t used;
	uint8_t pad[64 - sizeof(uint64_t) - 1];
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct rcu_reader) == 64, "one reader per cache line");

struct rcu_qsbr {
	uint64_t epoch; /* starts at 1; the writer bumps it */
	uint8_t pad[56];
	struct rcu_reader readers[RCU_QSBR_MAX_READERS];
} __attribute__((aligned(64)));

rcu_qsbr_t *rcu_qsbr_create(void)
{
	rcu_qsbr_t *rcu = aligned_alloc(64, sizeof(*rcu));
	if (rcu == NULL)
		return NULL;
	memset(rcu, 0, sizeof(*rcu));
	rcu->epoch = 1;
	return rcu;
}

void rcu_qsbr_destroy(rcu_qsbr_t *rcu)
{
	free(rcu);
}

int rcu_qsbr_reader_register(rcu_qsbr_t *rcu)
{
	for (int i = 0; i < RCU_QSBR_MAX_READERS; i++) {
		uint8_t expect = 0;
		if (__atomic_compare_exchange_n(&rcu->readers[i].used, &expect, 1, 0, __ATOMIC_ACQ_REL,
		                                __ATOMIC_RELAXED)) {
			__atomic_store_n(&rcu->readers[i].seen, 0, __ATOMIC_RELEASE);
			return i;
		}
	}
	return -1;
}

void rcu_qsbr_reader_unregister(rcu_qsbr_t *rcu, int id)
{
	__atomic_store_n(&rcu->readers[id].seen, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&rcu->readers[id].used, 0, __ATOMIC_RELEASE);
}

void rcu_qsbr_online(rcu_qsbr_t *rcu, int id)
{
	/* Going online must be visible before the reader's first table access:
	 * a full fence orders the store before the loads that follow. */
	__atomic_store_n(&rcu->readers[id].seen, __atomic_load_n(&rcu->epoch, __ATOMIC_ACQUIRE),
	                 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void rcu_qsbr_offline(rcu_qsbr_t *rcu, int id)
{
	__atomic_store_n(&rcu->readers[id].seen, 0, __ATOMIC_RELEASE);
}

void rcu_qsbr_quiescent(rcu_qsbr_t *rcu, int id)
{
	/* Release: every table load before this point happens before the writer
	 * can observe the new epoch and free what those loads pointed into. */
	__atomic_store_n(&rcu->readers[id].seen, __atomic_load_n(&rcu->epoch, __ATOMIC_ACQUIRE),
	                 __ATOMIC_RELEASE);
}

uint64_t rcu_qsbr_token_start(rcu_qsbr_t *rcu)
{
	/* seq_cst: the unpublishing stores before this call are ordered before the
	 * new epoch, and the epoch before our later reads of the readers. */
	return __atomic_add_fetch(&rcu->epoch, 1, __ATOMIC_SEQ_CST);
}

bool rcu_qsbr_token_done(const rcu_qsbr_t *rcu, uint64_t token)
{
	/* Pairs with the fence in rcu_qsbr_online: either we see the reader
	 * online, or the reader sees everything unpublished before the token. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (int i = 0; i < RCU_QSBR_MAX_READERS; i++) {
		if (!__atomic_load_n(&rcu->readers[i].used, __ATOMIC_ACQUIRE))
			continue;
		uint64_t seen = __atomic_load_n(&rcu->readers[i].seen, __ATOMIC_ACQUIRE);
		if (seen != 0 && seen < token)
			return false;
	}
	return true;
}

void rcu_qsbr_token_wait(const rcu_qsbr_t *rcu, uint64_t token)
{
	struct timespec ts = {0, 20000};
	while (!rcu_qsbr_token_done(rcu, token))
		nanosleep(&ts, NULL);
}
