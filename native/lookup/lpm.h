/*
 * lpm — longest-prefix-match tables for IPv4 and IPv6 (one object per table).
 *
 * A table has two halves, the RIB/FIB split of DPDK's lib/fib:
 *
 *  - the control half (writer only): a path-compressed binary radix tree of
 *    every prefix with its 32-bit next-hop value, and a dictionary that maps
 *    the distinct next-hop values to 16-bit leaf codes;
 *
 *  - the lookup half (readers): a compressed multibit trie in the spirit of
 *    Poptrie.  A direct table indexed by the top S bits of the address holds
 *    either a leaf code or the index of an internal node.  For IPv6 it is
 *    split: a 16 KiB top table on the first 12 bits holds one leaf code for
 *    its whole region, or says that the region's block of the 26-bit direct
 *    table is live (only regions with routes longer than /12 have one: ten in
 *    a full table).  Each internal node
 *    resolves 6 more bits with two 64-bit maps: `vector` marks the slots that
 *    continue into a child node, `leafvec` marks where a run of equal leaves
 *    starts.  Children and leaves of a node sit in contiguous blocks, so a
 *    slot's child or leaf is found with one popcount.  Runs of equal leaves
 *    collapse into one 2-byte leaf; that is what keeps a full IPv4 table in a
 *    few MB.  Leaves carry dictionary codes, not next hops: one more load from
 *    a small, hot array buys half the leaf memory.
 *
 * Updates: the writer changes the RIB, rebuilds only the part of the trie the
 * prefix covers (unaffected sibling subtrees are shared, not copied), copies
 * the path above it, and publishes the new path with one release store into
 * the direct table.  The replaced blocks are retired through rcu_qsbr and
 * reused only after every online reader has passed a quiescent state.
 *
 * Threads: exactly one writer at a time (all functions that are not lookups);
 * any number of concurrent readers, each registered with the table's rcu_qsbr
 * (or running on the writer's thread when the table has no rcu domain).
 *
 * Addresses: IPv4 in host byte order (like rte_fib); IPv6 as 16 bytes in
 * network order.  Next hops are 32-bit values in [0, LPM_NH_MAX];
 * LPM_MISS (0xFFFFFFFF) means no route.  A table holds at most
 * LPM_DISTINCT_NH_MAX distinct next-hop values at once.
 */
#ifndef SRCFIB_LPM_H
#define SRCFIB_LPM_H

#include <stddef.h>
#include <stdint.h>

#include "rcu_qsbr.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LPM_MISS 0xFFFFFFFFu
#define LPM_NH_MAX 0xFFFFFFFEu
#define LPM_DISTINCT_NH_MAX 65535u

enum lpm_status {
	LPM_OK = 0,
	LPM_ERR_NOENT = -1,    /* delete of a prefix that is not in the table */
	LPM_ERR_NOMEM = -2,    /* out of memory; the table is unchanged */
	LPM_ERR_NH_FULL = -3,  /* more than LPM_DISTINCT_NH_MAX distinct next hops */
	LPM_ERR_INVAL = -4,    /* bad family, length or next hop (callers validate first) */
};

typedef struct lpm lpm_t;

typedef struct lpm_stats {
	uint64_t routes;         /* prefixes in the table */
	uint64_t bytes;          /* lookup-structure memory: direct table, live nodes,
	                            live leaves, dictionary entries in use */
	uint64_t bytes_reserved; /* arena high-water marks incl. blocks waiting for reuse */
	uint64_t direct_bytes;   /* of bytes: the direct table's top table and live blocks */
	uint64_t rib_bytes;      /* control-half memory (radix tree + dictionary index) */
	uint64_t nodes;          /* live internal nodes */
	uint64_t leaves;         /* live compressed leaves */
	uint64_t next_hops;      /* distinct next-hop values in use */
	uint64_t pending_blocks; /* retired blocks waiting for a grace period */
} lpm_stats_t;

/* family is 4 or 6; rcu may be NULL when lookups only happen on the writer's thread. */
lpm_t *lpm_table_create(int family, rcu_qsbr_t *rcu);
void lpm_table_destroy(lpm_t *lpm);
int lpm_table_family(const lpm_t *lpm);

/* Insert or replace.  *old_nh (if not NULL) receives the previous value or LPM_MISS. */
int lpm_route_add(lpm_t *lpm, const uint8_t *addr, unsigned len, uint32_t nh, uint32_t *old_nh);
int lpm_route_delete(lpm_t *lpm, const uint8_t *addr, unsigned len, uint32_t *old_nh);
/* n changes as one update: nhs[i] is prefix i's new value, or LPM_MISS to
 * delete it (a prefix that is not there is no error).  old[i] receives the
 * value it had (LPM_MISS: none), counting earlier changes of the same call.
 * The RIB takes them all, then each direct-table entry they touch is rebuilt
 * once and published with one release store: cheaper than one update each
 * when changes cluster, as a table being loaded in order does.  All or
 * nothing: on error nothing changes. */
int lpm_routes_apply(lpm_t *lpm, size_t n, const uint8_t *addrs, const uint8_t *lens, const uint32_t *nhs,
                     uint32_t *old);
/* Exact-match read of the control half: LPM_OK and *nh, or LPM_ERR_NOENT. */
int lpm_route_get(const lpm_t *lpm, const uint8_t *addr, unsigned len, uint32_t *nh);

/* Replace the whole content with n routes (addresses packed 4 or 16 bytes
 * each, network order).  Later duplicates of a prefix win.  The new trie is
 * built beside the old one and published at once; on error nothing changes. */
int lpm_table_build(lpm_t *lpm, size_t n, const uint8_t *addrs, const uint8_t *lens,
                    const uint32_t *nhs);

/* Moves the content of src (typically built with lpm_table_build on another
 * thread, with no readers) into lpm, publishing it at once, and destroys src.
 * The families must match.  This is how a full table is built off the
 * control thread without ever racing its readers. */
int lpm_table_adopt(lpm_t *lpm, lpm_t *src);

/* Frees retired memory whose grace period has passed; wait != 0 blocks until
 * all of it is free.  Updates call this themselves (without waiting). */
void lpm_table_reclaim(lpm_t *lpm, int wait);

void lpm_table_stats(const lpm_t *lpm, lpm_stats_t *out);

/* Calls fn for every route in prefix order; stops early when fn returns non-zero. */
typedef int (*lpm_walk_fn)(void *ctx, const uint8_t *addr, unsigned len, uint32_t nh);
void lpm_table_walk(const lpm_t *lpm, lpm_walk_fn fn, void *ctx);

/* Lookups: safe from any registered reader. */
uint32_t lpm4_lookup(const lpm_t *lpm, uint32_t addr);
void lpm4_lookup_bulk(const lpm_t *lpm, const uint32_t *addrs, uint32_t *nhs, unsigned n);
uint32_t lpm6_lookup(const lpm_t *lpm, const uint8_t addr[16]);
void lpm6_lookup_bulk(const lpm_t *lpm, const uint8_t (*addrs)[16], uint32_t *nhs, unsigned n);

const char *lpm_strerror(int status);

#ifdef __cplusplus
}
#endif
#endif
