/* lpm_rib — see lpm_rib.h. */
#include "lpm_rib.h"

#include <stdlib.h>
#include <string.h>

int lpm_rib_init(struct lpm_rib *rib, uint32_t initial_cap)
{
	memset(rib, 0, sizeof(*rib));
	if (initial_cap < 64)
		initial_cap = 64;
	rib->pool = calloc(initial_cap, sizeof(struct rib_node));
	if (rib->pool == NULL)
		return -1;
	rib->cap = initial_cap;
	rib->top = 1; /* index 0 is "none" */
	return 0;
}

void lpm_rib_free(struct lpm_rib *rib)
{
	free(rib->pool);
	memset(rib, 0, sizeof(*rib));
}

static uint32_t rib_node_new(struct lpm_rib *rib, u128 key, unsigned len)
{
	uint32_t idx;
	if (rib->free_head != 0) {
		idx = rib->free_head;
		rib->free_head = rib->pool[idx].child[0];
	} else {
		if (rib->top == rib->cap) {
			if (rib->cap >= UINT32_MAX / 2)
				return 0;
			uint32_t ncap = rib->cap * 2;
			struct rib_node *np = realloc(rib->pool, (size_t)ncap * sizeof(*np));
			if (np == NULL)
				return 0;
			rib->pool = np;
			rib->cap = ncap;
		}
		idx = rib->top++;
	}
	struct rib_node *n = &rib->pool[idx];
	memset(n, 0, sizeof(*n));
	n->key = key & rib_mask(len);
	n->len = (uint8_t)len;
	rib->nodes++;
	return idx;
}

static void rib_node_release(struct lpm_rib *rib, uint32_t idx)
{
	rib->pool[idx].child[0] = rib->free_head;
	rib->pool[idx].len = 0;
	rib->free_head = idx;
	rib->nodes--;
}

/* Number of leading bits that a and b share, at most max. */
static unsigned common_len(u128 a, u128 b, unsigned max)
{
	u128 x = a ^ b;
	unsigned n;
	uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
	if (hi != 0)
		n = (unsigned)__builtin_clzll(hi);
	else if (lo != 0)
		n = 64 + (unsigned)__builtin_clzll(lo);
	else
		n = 128;
	return n < max ? n : max;
}

/* Point whatever referred to `old` (parent's child slot or the root) at `nu`. */
static void rib_replace_link(struct lpm_rib *rib, uint32_t parent, uint32_t old, uint32_t nu)
{
	if (parent == 0) {
		rib->root = nu;
	} else {
		struct rib_node *p = &rib->pool[parent];
		p->child[p->child[0] == old ? 0 : 1] = nu;
	}
	if (nu != 0)
		rib->pool[nu].parent = parent;
}

uint32_t lpm_rib_find(const struct lpm_rib *rib, u128 key, unsigned len)
{
	uint32_t idx = rib->root;
	while (idx != 0) {
		const struct rib_node *n = &rib->pool[idx];
		if (n->len > len || ((key ^ n->key) & rib_mask(n->len)) != 0)
			return 0;
		if (n->len == len)
			return idx;
		idx = n->child[rib_bit(key, n->len)];
	}
	return 0;
}

uint32_t lpm_rib_insert(struct lpm_rib *rib, u128 key, unsigned len)
{
	key &= rib_mask(len);
	if (rib->root == 0) {
		uint32_t nu = rib_node_new(rib, key, len);
		if (nu != 0)
			rib_replace_link(rib, 0, 0, nu);
		return nu;
	}
	uint32_t idx = rib->root, parent = 0;
	for (;;) {
		struct rib_node *n = &rib->pool[idx];
		unsigned nlen = n->len;
		unsigned cl = common_len(key, n->key, len < nlen ? len : nlen);
		if (cl < nlen) {
			/* The new prefix branches off inside n's prefix, or sits above n. */
			u128 nkey = n->key;
			if (cl == len) {
				uint32_t nu = rib_node_new(rib, key, len);
				if (nu == 0)
					return 0;
				rib_replace_link(rib, parent, idx, nu);
				rib->pool[nu].child[rib_bit(nkey, len)] = idx;
				rib->pool[idx].parent = nu;
				return nu;
			}
			uint32_t glue = rib_node_new(rib, key, cl);
			if (glue == 0)
				return 0;
			uint32_t nu = rib_node_new(rib, key, len);
			if (nu == 0) {
				rib_node_release(rib, glue);
				return 0;
			}
			rib_replace_link(rib, parent, idx, glue);
			rib->pool[glue].child[rib_bit(nkey, cl)] = idx;
			rib->pool[glue].child[rib_bit(key, cl)] = nu;
			rib->pool[idx].parent = glue;
			rib->pool[nu].parent = glue;
			return nu;
		}
		if (nlen == len)
			return idx;
		unsigned b = rib_bit(key, nlen);
		if (n->child[b] == 0) {
			uint32_t nu = rib_node_new(rib, key, len);
			if (nu == 0)
				return 0;
			rib->pool[idx].child[b] = nu; /* n may have moved with realloc */
			rib->pool[nu].parent = idx;
			return nu;
		}
		parent = idx;
		idx = n->child[b];
	}
}

/* Removes idx if it holds no route and has fewer than two children; repeats
 * for the parent, which may have become a glue node with one child. */
static void rib_prune(struct lpm_rib *rib, uint32_t idx)
{
	while (idx != 0) {
		struct rib_node *n = &rib->pool[idx];
		if (n->has_route || (n->child[0] != 0 && n->child[1] != 0))
			return;
		uint32_t parent = n->parent;
		uint32_t only = n->child[0] != 0 ? n->child[0] : n->child[1];
		rib_replace_link(rib, parent, idx, only);
		rib_node_release(rib, idx);
		idx = parent;
	}
}

void lpm_rib_route_clear(struct lpm_rib *rib, uint32_t idx)
{
	rib->pool[idx].has_route = 0;
	rib->routes--;
	rib_prune(rib, idx);
}

uint32_t lpm_rib_subtree(const struct lpm_rib *rib, u128 key, unsigned len)
{
	return lpm_rib_subtree_from(rib, rib->root, key, len);
}

uint32_t lpm_rib_subtree_from(const struct lpm_rib *rib, uint32_t from, u128 key, unsigned len)
{
	uint32_t idx = from;
	key &= rib_mask(len);
	while (idx != 0) {
		const struct rib_node *n = &rib->pool[idx];
		if (n->len >= len)
			return ((n->key ^ key) & rib_mask(len)) == 0 ? idx : 0;
		if (((key ^ n->key) & rib_mask(n->len)) != 0)
			return 0;
		idx = n->child[rib_bit(key, n->len)];
	}
	return 0;
}

uint32_t lpm_rib_match_upto(const struct lpm_rib *rib, u128 key, unsigned maxlen)
{
	uint32_t idx = rib->root, best = 0;
	while (idx != 0) {
		const struct rib_node *n = &rib->pool[idx];
		if (n->len > maxlen || ((key ^ n->key) & rib_mask(n->len)) != 0)
			break;
		if (n->has_route)
			best = idx;
		if (n->len >= 128)
			break;
		idx = n->child[rib_bit(key, n->len)];
	}
	return best;
}

int lpm_rib_has_longer(const struct lpm_rib *rib, u128 key, unsigned len)
{
	uint32_t idx = lpm_rib_subtree(rib, key, len);
	if (idx == 0)
		return 0;
	const struct rib_node *n = &rib->pool[idx];
	/* A node deeper than len is a route or a glue node above two routes. */
	return n->len > len || n->child[0] != 0 || n->child[1] != 0;
}
