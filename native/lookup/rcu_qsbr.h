/*
 * rcu_qsbr — quiescent-state-based reclamation for one writer and many readers.
 *
 * Readers (DPDK lcores, test threads) never take locks: they look up tables
 * through pointers or indices that the writer publishes with a release store.
 * The writer never frees memory that a reader may still hold.  Instead it
 * retires the memory with a token (rcu_qsbr_token_start) and frees it once
 * every reader that is online has reported a quiescent state after that token
 * (rcu_qsbr_token_done).  A reader reports a quiescent state between packet
 * bursts (rcu_qsbr_quiescent), i.e. at a point where it holds no reference
 * into any table.  A reader that goes offline (rcu_qsbr_offline) is ignored
 * until it comes back online.
 *
 * This is the same contract as DPDK's rte_rcu_qsbr; we keep our own because
 * the tables must also work without an initialised EAL (unit tests, the
 * Node addon before the dataplane starts), and rte_rcu_qsbr's defer queue
 * needs rte_ring memory from the EAL heap.
 */
#ifndef SRCFIB_RCU_QSBR_H
#define SRCFIB_RCU_QSBR_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RCU_QSBR_MAX_READERS 128

typedef struct rcu_qsbr rcu_qsbr_t;

rcu_qsbr_t *rcu_qsbr_create(void);
void rcu_qsbr_destroy(rcu_qsbr_t *rcu);

/* Returns a reader id in [0, RCU_QSBR_MAX_READERS), or -1 when all are taken.
 * A registered reader starts offline. */
int rcu_qsbr_reader_register(rcu_qsbr_t *rcu);
void rcu_qsbr_reader_unregister(rcu_qsbr_t *rcu, int id);

/* Reader side: cheap, lock-free. */
void rcu_qsbr_online(rcu_qsbr_t *rcu, int id);
void rcu_qsbr_offline(rcu_qsbr_t *rcu, int id);
void rcu_qsbr_quiescent(rcu_qsbr_t *rcu, int id);

/* Writer side: call after unpublishing memory; the token says when it is
 * safe to free.  rcu_qsbr_token_done never blocks; rcu_qsbr_token_wait spins
 * (with a short sleep) until it is done. */
uint64_t rcu_qsbr_token_start(rcu_qsbr_t *rcu);
bool rcu_qsbr_token_done(const rcu_qsbr_t *rcu, uint64_t token);
void rcu_qsbr_token_wait(const rcu_qsbr_t *rcu, uint64_t token);

#ifdef __cplusplus
}
#endif
#endif
