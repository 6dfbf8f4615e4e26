/*
 * lpm_rib — the control half of an lpm table: a path-compressed binary radix
 * tree holding every prefix exactly, with its next hop and dictionary code.
 *
 * Keys are 128-bit, most significant bit first; IPv4 addresses sit in the top
 * 32 bits so that one implementation serves both families.  Nodes live in a
 * growable pool addressed by 32-bit indices (0 is "none"), which halves the
 * memory of pointer links and lets the pool grow with realloc.  Glue nodes
 * (has_route == 0) exist only where two subtrees branch.
 *
 * Only the writer thread touches a RIB; readers use the compiled trie.
 */
#ifndef SRCFIB_LPM_RIB_H
#define SRCFIB_LPM_RIB_H

#include <stdint.h>
#include <stddef.h>

typedef unsigned __int128 u128;

/* 32 bytes, two to a cache line: walks from the root are what updates spend
 * their time on.  The next hop itself lives in the table's dictionary. */
struct rib_node {
	u128 key;
	uint32_t child[2];
	uint32_t parent;
	uint16_t code; /* dictionary code of the route's next hop (see lpm.c) */
	uint8_t len;
	uint8_t has_route;
};
_Static_assert(sizeof(struct rib_node) == 32, "rib node layout");

struct lpm_rib {
	struct rib_node *pool;
	uint32_t cap;
	uint32_t top;       /* next never-used index */
	uint32_t free_head; /* free list through child[0] */
	uint32_t root;
	uint64_t routes;
	uint64_t nodes;
};

static inline u128 rib_mask(unsigned len)
{
	return len == 0 ? (u128)0 : ~(u128)0 << (128 - len);
}

static inline unsigned rib_bit(u128 key, unsigned i)
{
	return (unsigned)(key >> (127 - i)) & 1u;
}

int lpm_rib_init(struct lpm_rib *rib, uint32_t initial_cap);
void lpm_rib_free(struct lpm_rib *rib);

/* Exact match; returns the node index or 0. */
uint32_t lpm_rib_find(const struct lpm_rib *rib, u128 key, unsigned len);
/* Returns the node for (key, len), created (without a route) if needed; 0 on ENOMEM. */
uint32_t lpm_rib_insert(struct lpm_rib *rib, u128 key, unsigned len);
/* Clears the route of node idx and removes the nodes that are no longer needed. */
void lpm_rib_route_clear(struct lpm_rib *rib, uint32_t idx);
/* The topmost node whose prefix lies inside (key, len) (node len >= len), or 0. */
uint32_t lpm_rib_subtree(const struct lpm_rib *rib, u128 key, unsigned len);
/* The same, searching from `from` instead of the root: from must be the root
 * or the topmost node of a region that contains (key, len). */
uint32_t lpm_rib_subtree_from(const struct lpm_rib *rib, uint32_t from, u128 key, unsigned len);
/* Node index of the longest route covering key with length <= maxlen, or 0. */
uint32_t lpm_rib_match_upto(const struct lpm_rib *rib, u128 key, unsigned maxlen);
/* Does any route lie strictly inside (key, len), i.e. with a longer length? */
int lpm_rib_has_longer(const struct lpm_rib *rib, u128 key, unsigned len);

#endif
