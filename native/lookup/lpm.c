/* lpm — compressed multibit trie over a radix-tree RIB; see lpm.h for the design. */
#include "lpm.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lpm_rib.h"

/* Under ASan, blocks handed back to an arena are poisoned until reused, so a
 * reader that touches memory reclaimed too early is reported. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_POISON(p, n) ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Direct-table widths S, and how it is split: the top T bits index a small
 * top table whose entry is either one leaf code for a whole block of 2^(S-T)
 * direct entries, or TOP_BLOCK: that block exists in the direct table (a
 * virtual reservation of 2^S entries, of which only live blocks are backed).
 * A block is live exactly while routes longer than T exist in its region.
 *
 * IPv4: S = 18, T = 0: one block, the flat 1 MiB table; every /24 sits one
 * node below it.  IPv6: S = 26, T = 12: the full table's IPv6 routes longer
 * than /12 lie in 10 of the 4096 top regions, so 10 blocks of 64 KiB; a /32
 * sits one node below the direct table, a /48 four (a flat 20-bit table had
 * them two and five deep, and needed 4 MiB).  A random address outside those
 * regions ends in the 16 KiB top table, which stays in L1. */
#define LPM4_S 18
#define LPM4_T 0
#define LPM6_S 26
#define LPM6_T 12
#define TOP_BLOCK 0x80000000u
#define LPM_K 6 /* bits per internal node */
#define LPM_FANOUT (1u << LPM_K)

#define DIRECT_NODE 0x80000000u
#define CODE_MISS 0 /* dictionary code 0 is "no route" */

#define NODES_RESERVE (1u << 24) /* per table, virtual; 384 MiB of 24-byte nodes */
#define LEAVES_RESERVE (1u << 26) /* per table, virtual; 128 MiB of 2-byte leaves */
#define CODES (LPM_DISTINCT_NH_MAX + 1)

struct lpm_node {
	uint64_t vector;  /* slot continues into a child node */
	uint64_t leafvec; /* a run of equal leaves starts at this slot */
	uint32_t base0;   /* first leaf of this node's leaf block */
	uint32_t base1;   /* first node of this node's child block */
};
_Static_assert(sizeof(struct lpm_node) == 24, "node layout");

typedef uint16_t lpm_leaf_t;

/* A growable array of uint32 (free lists, retired blocks). */
struct u32vec {
	uint32_t *v;
	size_t n, cap;
};

static int u32vec_push(struct u32vec *a, uint32_t x)
{
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 16;
		uint32_t *nv = realloc(a->v, ncap * sizeof(*nv));
		if (nv == NULL)
			return -1;
		a->v = nv;
		a->cap = ncap;
	}
	a->v[a->n++] = x;
	return 0;
}

/* Block allocator over a reserved, lazily committed region.  Blocks are 1..64
 * elements; freed blocks go to an exact-size free list (children and leaves
 * of one node are always one block, so sizes repeat). */
struct arena {
	uint8_t *mem;
	size_t elem;
	uint32_t cap, top;
	uint64_t live;
	struct u32vec free[LPM_FANOUT + 1];
};

static int arena_init(struct arena *a, size_t elem, uint32_t cap)
{
	memset(a, 0, sizeof(*a));
	void *m = mmap(NULL, elem * cap, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return -1;
	/* Fewer TLB misses for random lookups where transparent huge pages exist. */
	(void)madvise(m, elem * cap, MADV_HUGEPAGE);
	a->mem = m;
	a->elem = elem;
	a->cap = cap;
	a->top = 1; /* index 0 is never handed out: a zero base is "nothing" */
	return 0;
}

static void arena_fini(struct arena *a)
{
	if (a->mem != NULL) {
		/* ASan keeps the shadow of unmapped memory: clear the poison of released blocks, or
		 * the next mapping at this address (the dictionary, another arena) reads as poisoned */
		ARENA_UNPOISON(a->mem, a->elem * a->cap);
		munmap(a->mem, a->elem * a->cap);
	}
	for (unsigned i = 0; i <= LPM_FANOUT; i++)
		free(a->free[i].v);
	memset(a, 0, sizeof(*a));
}

/* Returns the first index of a block of n elements, or 0 when full. */
static uint32_t arena_alloc(struct arena *a, unsigned n)
{
	uint32_t idx;
	if (a->free[n].n > 0) {
		idx = a->free[n].v[--a->free[n].n];
	} else {
		if ((uint64_t)a->top + n > a->cap)
			return 0;
		idx = a->top;
		a->top += n;
	}
	a->live += n;
	ARENA_UNPOISON(a->mem + (size_t)idx * a->elem, (size_t)n * a->elem);
	return idx;
}

static void arena_release(struct arena *a, uint32_t idx, unsigned n)
{
	a->live -= n;
	ARENA_POISON(a->mem + (size_t)idx * a->elem, (size_t)n * a->elem);
	if (idx + n == a->top)
		a->top = idx; /* undo of the newest block: give it back to the bump pointer */
	else
		(void)u32vec_push(&a->free[n], idx); /* on ENOMEM the block just leaks */
}

/* Everything a reader needs, and everything the writer owns, for one
 * generation of a table.  lpm_table_build replaces a whole state; route
 * updates change a state in place. */
struct lpm_state {
	/* read by lookups */
	uint32_t *top;    /* 2^t entries: a leaf code for the whole block, or TOP_BLOCK */
	uint32_t *direct; /* 2^(t+b) entries, virtual; block i is backed while top[i] is TOP_BLOCK */
	struct lpm_node *nodes;
	lpm_leaf_t *leaves;
	uint32_t *values; /* dictionary: code -> next hop */
	/* writer only */
	unsigned t, b;        /* top bits, block bits */
	uint32_t blocks_live;
	struct arena node_arena, leaf_arena;
	struct lpm_rib rib;
	uint32_t *code_refs;  /* routes per code */
	uint32_t *hash;       /* open addressing: slot -> code, 0 empty */
	uint32_t hash_mask;
	uint32_t codes_used;  /* highest code ever handed out + 1 */
	uint32_t codes_live;
	struct u32vec free_codes;
};

enum retire_kind { RETIRE_NODES, RETIRE_LEAVES, RETIRE_CODE, RETIRE_STATE, RETIRE_BLOCK };

struct retired {
	uint64_t token;
	struct lpm_state *st;
	uint32_t idx;
	uint16_t n;
	uint8_t kind;
};

struct lpm {
	struct lpm_state *state; /* published with a release store */
	int family;
	unsigned s;     /* direct-table bits */
	unsigned t;     /* of which top-table bits */
	unsigned width; /* padded key width: s + k * levels */
	rcu_qsbr_t *rcu;
	struct retired *retired;
	size_t n_retired, cap_retired;
	/* blocks allocated by the update in progress, released if it fails */
	struct u32vec undo_nodes, undo_leaves;
	int failed;
};

/* ---------- next-hop dictionary ---------- */

static uint32_t nh_hash(uint32_t nh)
{
	nh ^= nh >> 16;
	nh *= 0x7feb352du;
	nh ^= nh >> 15;
	nh *= 0x846ca68bu;
	nh ^= nh >> 16;
	return nh;
}

static uint32_t dict_find(const struct lpm_state *st, uint32_t nh)
{
	for (uint32_t h = nh_hash(nh) & st->hash_mask;; h = (h + 1) & st->hash_mask) {
		uint32_t c = st->hash[h];
		if (c == 0)
			return 0;
		if (st->values[c] == nh && st->code_refs[c] > 0)
			return c;
	}
}

static void dict_hash_insert(struct lpm_state *st, uint32_t code)
{
	uint32_t h = nh_hash(st->values[code]) & st->hash_mask;
	while (st->hash[h] != 0)
		h = (h + 1) & st->hash_mask;
	st->hash[h] = code;
}

/* Removes code from the hash with backward-shift deletion (no tombstones). */
static void dict_hash_remove(struct lpm_state *st, uint32_t code)
{
	uint32_t m = st->hash_mask, h = nh_hash(st->values[code]) & m;
	while (st->hash[h] != code)
		h = (h + 1) & m;
	uint32_t hole = h;
	for (uint32_t j = (hole + 1) & m; st->hash[j] != 0; j = (j + 1) & m) {
		uint32_t home = nh_hash(st->values[st->hash[j]]) & m;
		/* move j into the hole if its home is not in (hole, j] cyclically */
		if (((j - home) & m) >= ((j - hole) & m)) {
			st->hash[hole] = st->hash[j];
			hole = j;
		}
	}
	st->hash[hole] = 0;
}

/* Can one more distinct value be added? (checked before any change) */
static int dict_has_room(const struct lpm_state *st, uint32_t nh)
{
	return dict_find(st, nh) != 0 || st->free_codes.n > 0 || st->codes_used < CODES;
}

/* Takes a reference on nh's code, creating it; 0 when the dictionary is full. */
static uint32_t dict_ref(struct lpm_state *st, uint32_t nh)
{
	uint32_t c = dict_find(st, nh);
	if (c == 0) {
		if (st->free_codes.n > 0)
			c = st->free_codes.v[--st->free_codes.n];
		else if (st->codes_used < CODES)
			c = st->codes_used++;
		else
			return 0;
		/* values[c] becomes visible to readers before any leaf that uses c,
		 * since leaves are published later with a release store. */
		__atomic_store_n(&st->values[c], nh, __ATOMIC_RELAXED);
		st->code_refs[c] = 0;
		dict_hash_insert(st, c);
		st->codes_live++;
	}
	st->code_refs[c]++;
	return c;
}

static void lpm_retire(struct lpm *lpm, struct lpm_state *st, uint8_t kind, uint32_t idx, unsigned n);

static void dict_unref(struct lpm *lpm, struct lpm_state *st, uint32_t c)
{
	if (--st->code_refs[c] == 0) {
		dict_hash_remove(st, c);
		st->codes_live--;
		/* Readers may still hold leaves with this code: reuse it after a grace period. */
		lpm_retire(lpm, st, RETIRE_CODE, c, 1);
	}
}

/* ---------- state lifetime ---------- */

static void state_free(struct lpm_state *st)
{
	if (st == NULL)
		return;
	if (st->direct != NULL)
		munmap(st->direct, (size_t)4 << (st->t + st->b));
	free(st->top);
	arena_fini(&st->node_arena);
	arena_fini(&st->leaf_arena);
	lpm_rib_free(&st->rib);
	if (st->values != NULL)
		munmap(st->values, CODES * sizeof(uint32_t));
	free(st->code_refs);
	free(st->hash);
	free(st->free_codes.v);
	free(st);
}

static struct lpm_state *state_new(unsigned s, unsigned t, uint32_t rib_cap)
{
	struct lpm_state *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NULL;
	st->t = t;
	st->b = s - t;
	/* Reserved, not committed: only live blocks are ever written.  Fresh pages read as zero,
	 * leaf code 0, no route. */
	void *dm = mmap(NULL, (size_t)4 << s, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
	                -1, 0);
	st->direct = dm == MAP_FAILED ? NULL : dm;
	st->top = calloc((size_t)1 << t, sizeof(uint32_t));
	void *vals = mmap(NULL, CODES * sizeof(uint32_t), PROT_READ | PROT_WRITE,
	                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	st->values = vals == MAP_FAILED ? NULL : vals;
	st->code_refs = calloc(CODES, sizeof(uint32_t));
	st->hash_mask = (CODES * 2) - 1; /* load factor <= 1/2 */
	st->hash = calloc((size_t)st->hash_mask + 1, sizeof(uint32_t));
	if (st->direct == NULL || st->top == NULL || st->values == NULL || st->code_refs == NULL || st->hash == NULL ||
	    arena_init(&st->node_arena, sizeof(struct lpm_node), NODES_RESERVE) != 0 ||
	    arena_init(&st->leaf_arena, sizeof(lpm_leaf_t), LEAVES_RESERVE) != 0 ||
	    lpm_rib_init(&st->rib, rib_cap) != 0) {
		state_free(st);
		return NULL;
	}
	if (t == 0) { /* one block, always live */
		st->top[0] = TOP_BLOCK;
		st->blocks_live = 1;
	}
	st->values[CODE_MISS] = LPM_MISS;
	st->codes_used = 1;
	st->nodes = (struct lpm_node *)st->node_arena.mem;
	st->leaves = (lpm_leaf_t *)st->leaf_arena.mem;
	return st;
}

/* ---------- retirement (RCU) ---------- */

static void retired_free(struct retired *r)
{
	struct lpm_state *st = r->st;
	switch (r->kind) {
	case RETIRE_NODES:
		arena_release(&st->node_arena, r->idx, r->n);
		break;
	case RETIRE_LEAVES:
		arena_release(&st->leaf_arena, r->idx, r->n);
		break;
	case RETIRE_CODE:
		/* A code freed and taken again before its grace period stays in use. */
		if (st->code_refs[r->idx] == 0)
			(void)u32vec_push(&st->free_codes, r->idx);
		break;
	case RETIRE_STATE:
		state_free(st);
		break;
	case RETIRE_BLOCK:
		/* No reader reaches the collapsed block any more: its pages go back, unless a later
		 * update made it live again. */
		if (!(st->top[r->idx] & TOP_BLOCK))
			(void)madvise(st->direct + ((size_t)r->idx << st->b), (size_t)4 << st->b, MADV_DONTNEED);
		break;
	}
}

/* Retired entries carry no token until the update that retired them is
 * published; lpm_retire_seal stamps them all at once. */
#define TOKEN_UNSEALED UINT64_MAX

static void lpm_retire(struct lpm *lpm, struct lpm_state *st, uint8_t kind, uint32_t idx, unsigned n)
{
	if (lpm->n_retired == lpm->cap_retired) {
		size_t ncap = lpm->cap_retired ? lpm->cap_retired * 2 : 256;
		struct retired *nr = realloc(lpm->retired, ncap * sizeof(*nr));
		if (nr == NULL)
			return; /* the block leaks rather than being freed early */
		lpm->retired = nr;
		lpm->cap_retired = ncap;
	}
	lpm->retired[lpm->n_retired++] =
	    (struct retired){.token = TOKEN_UNSEALED, .st = st, .idx = idx, .n = (uint16_t)n, .kind = kind};
}

static void lpm_retire_seal(struct lpm *lpm)
{
	uint64_t token = lpm->rcu != NULL ? rcu_qsbr_token_start(lpm->rcu) : 0;
	for (size_t i = lpm->n_retired; i > 0 && lpm->retired[i - 1].token == TOKEN_UNSEALED; i--)
		lpm->retired[i - 1].token = token;
	if (lpm->rcu == NULL)
		lpm_table_reclaim(lpm, 0); /* no other readers: nothing to wait for */
}

void lpm_table_reclaim(lpm_t *lpm, int wait)
{
	size_t i = 0;
	/* Tokens only grow along the list, so stop at the first one not yet done. */
	while (i < lpm->n_retired) {
		uint64_t token = lpm->retired[i].token;
		if (token == TOKEN_UNSEALED)
			break;
		if (lpm->rcu != NULL && !rcu_qsbr_token_done(lpm->rcu, token)) {
			if (!wait)
				break;
			rcu_qsbr_token_wait(lpm->rcu, token);
		}
		retired_free(&lpm->retired[i]);
		i++;
	}
	if (i > 0) {
		memmove(lpm->retired, lpm->retired + i, (lpm->n_retired - i) * sizeof(*lpm->retired));
		lpm->n_retired -= i;
	}
}

/* ---------- building from the RIB ---------- */

static inline unsigned rank_of(uint64_t map, unsigned slot)
{
	/* Number of set bits at or below slot, minus one: the block offset. */
	return (unsigned)__builtin_popcountll(map & ((2ull << slot) - 1)) - 1;
}

/* Bits [d, d+k) of a left-aligned key, with zeros beyond bit 127 (the key is
 * padded to the trie's width). */
static inline uint32_t key_bits(u128 key, unsigned d, unsigned k)
{
	if (d + k <= 128)
		return (uint32_t)(key >> (128 - d - k)) & ((1u << k) - 1);
	return (uint32_t)(key << (d + k - 128)) & ((1u << k) - 1);
}

static inline u128 key_with_bits(u128 key, unsigned d, unsigned k, uint32_t bits)
{
	if (d + k <= 128)
		return key | ((u128)bits << (128 - d - k));
	return key | ((u128)bits >> (d + k - 128));
}

/* Fills codes[0 .. 2^k) with the longest-match code of each slot of region
 * (key, d) from routes of length <= d+k (def for slots no such route covers),
 * and sets more[slot] where routes longer than d+k exist.  A pre-order walk
 * paints shorter prefixes before the longer ones inside them. */
/* Paints, below region depth d with stride k, every route of the subtree at
 * top: routes of length <= d+k set their slots' codes, longer ones mark their
 * slot in more[].  A pre-order walk paints shorter prefixes before the longer
 * ones inside them. */
static void rib_paint_subtree(const struct lpm_rib *rib, uint32_t top, unsigned d, unsigned k,
                              uint16_t *codes, uint8_t *more)
{
	uint32_t stack[130];
	unsigned sp = 0;
	stack[sp++] = top;
	while (sp > 0) {
		const struct rib_node *n = &rib->pool[stack[--sp]];
		uint32_t slot = key_bits(n->key, d, k);
		if (n->len > d + k) {
			more[slot] = 1;
			continue;
		}
		if (n->has_route) {
			uint32_t cnt = 1u << (d + k - n->len);
			for (uint32_t i = 0; i < cnt; i++)
				codes[slot + i] = n->code;
		}
		if (n->child[1] != 0)
			stack[sp++] = n->child[1];
		if (n->child[0] != 0)
			stack[sp++] = n->child[0];
	}
}

/* Fills codes[0 .. 2^k) with the longest-match code of each slot of region
 * (key, d) from routes of length <= d+k (def for slots no such route covers),
 * and sets more[slot] where routes longer than d+k exist.  Returns the
 * region's topmost RIB node (0 if it has none), a search hint for regions
 * below it. */
static uint32_t rib_paint(const struct lpm_rib *rib, uint32_t hint, u128 key, unsigned d, unsigned k,
                          uint16_t def, uint16_t *codes, uint8_t *more)
{
	uint32_t nslots = 1u << k;
	for (uint32_t i = 0; i < nslots; i++)
		codes[i] = def;
	memset(more, 0, nslots);
	/* The caller's hint is the top of an enclosing region: search from there,
	 * not from the root. */
	uint32_t top = lpm_rib_subtree_from(rib, hint, key, d);
	if (top != 0)
		rib_paint_subtree(rib, top, d, k, codes, more);
	return top;
}

static uint32_t node_alloc(struct lpm *lpm, struct lpm_state *st, unsigned n)
{
	uint32_t idx = arena_alloc(&st->node_arena, n);
	if (idx == 0 || u32vec_push(&lpm->undo_nodes, idx) != 0 || u32vec_push(&lpm->undo_nodes, n) != 0) {
		if (idx != 0)
			arena_release(&st->node_arena, idx, n);
		lpm->failed = 1;
		return 0;
	}
	return idx;
}

static uint32_t leaf_alloc(struct lpm *lpm, struct lpm_state *st, unsigned n)
{
	uint32_t idx = arena_alloc(&st->leaf_arena, n);
	if (idx == 0 || u32vec_push(&lpm->undo_leaves, idx) != 0 || u32vec_push(&lpm->undo_leaves, n) != 0) {
		if (idx != 0)
			arena_release(&st->leaf_arena, idx, n);
		lpm->failed = 1;
		return 0;
	}
	return idx;
}

/* Builds the node for region (key, d) whose covering code is def.  When old
 * is given, child subtrees of slots outside [keep_lo, keep_hi] are shared with
 * it instead of rebuilt (their routes did not change).  Returns 0 on failure. */
static int build_node(struct lpm *lpm, struct lpm_state *st, uint32_t hint, u128 key, unsigned d,
                      uint16_t def, struct lpm_node *out);

/* Code of the longest route covering key with a length of at most d. */
static uint16_t code_upto(const struct lpm_state *st, u128 key, unsigned d)
{
	uint32_t m = lpm_rib_match_upto(&st->rib, key, d);
	return m != 0 ? st->rib.pool[m].code : CODE_MISS;
}


/* Encodes a node from its slots' codes and child marks: compresses the leaf
 * runs, allocates the leaf and child blocks and builds the children from the
 * RIB (hint: a RIB node whose region contains theirs).  When old is given,
 * children of slots outside [aff_lo, aff_hi] are shared with it. */
static int node_encode(struct lpm *lpm, struct lpm_state *st, uint32_t hint, u128 key, unsigned d,
                       const uint16_t *codes, const uint8_t *more, struct lpm_node *out,
                       const struct lpm_node *old, uint32_t aff_lo, uint32_t aff_hi)
{
	uint64_t vector = 0, leafvec = 0;
	lpm_leaf_t leaves[LPM_FANOUT];
	unsigned nleaves = 0, nchild = 0;
	int have_prev = 0;
	uint16_t prev = 0;
	for (unsigned i = 0; i < LPM_FANOUT; i++) {
		if (more[i]) {
			vector |= 1ull << i;
			nchild++;
			continue;
		}
		if (!have_prev || codes[i] != prev) {
			leafvec |= 1ull << i;
			leaves[nleaves++] = codes[i];
			prev = codes[i];
			have_prev = 1;
		}
	}
	out->vector = vector;
	out->leafvec = leafvec;
	out->base0 = 0;
	out->base1 = 0;
	if (nleaves > 0) {
		uint32_t b0 = leaf_alloc(lpm, st, nleaves);
		if (b0 == 0)
			return 0;
		memcpy(&st->leaves[b0], leaves, nleaves * sizeof(lpm_leaf_t));
		out->base0 = b0;
	}
	if (nchild > 0) {
		uint32_t b1 = node_alloc(lpm, st, nchild);
		if (b1 == 0)
			return 0;
		out->base1 = b1;
		unsigned ci = 0;
		for (unsigned i = 0; i < LPM_FANOUT; i++) {
			if (!more[i])
				continue;
			struct lpm_node *child = &st->nodes[b1 + ci++];
			uint64_t bit = 1ull << i;
			if (old != NULL && (i < aff_lo || i > aff_hi) && (old->vector & bit)) {
				/* Unaffected slot: share the old child's subtree. */
				unsigned rank = (unsigned)__builtin_popcountll(old->vector & ((bit << 1) - 1)) - 1;
				*child = st->nodes[old->base1 + rank];
				continue;
			}
			if (!build_node(lpm, st, hint, key_with_bits(key, d, LPM_K, i), d + LPM_K, codes[i], child))
				return 0;
		}
	}
	return 1;
}

/* Builds the node for region (key, d), whose covering code is def, from the RIB. */
static int build_node(struct lpm *lpm, struct lpm_state *st, uint32_t hint, u128 key, unsigned d,
                      uint16_t def, struct lpm_node *out)
{
	uint16_t codes[LPM_FANOUT];
	uint8_t more[LPM_FANOUT];
	uint32_t top = rib_paint(&st->rib, hint, key, d, LPM_K, def, codes, more);
	return node_encode(lpm, st, top, key, d, codes, more, out, NULL, 0, 0);
}

/* Rebuilds node old of region (region, d) after the route (pkey, plen) changed
 * in the RIB; [aff_lo, aff_hi] are the slots the change can reach.  Slots
 * outside keep their old leaves and children.  Inside, when the prefix
 * covers whole slots they are repainted from the longest route covering the
 * prefix and the prefix's own subtree (usually tiny), not from the whole
 * region; when it sits inside one slot, only that slot's child is rebuilt. */
static int rebuild_node(struct lpm *lpm, struct lpm_state *st, u128 region, unsigned d,
                        const struct lpm_node *old, uint32_t aff_lo, uint32_t aff_hi, u128 pkey,
                        unsigned plen, struct lpm_node *out)
{
	uint16_t codes[LPM_FANOUT];
	uint8_t more[LPM_FANOUT];
	for (unsigned i = 0; i < LPM_FANOUT; i++) {
		if (old->vector & (1ull << i)) {
			more[i] = 1;
			codes[i] = CODE_MISS; /* a child's code is its own business */
		} else {
			more[i] = 0;
			codes[i] = st->leaves[old->base0 + rank_of(old->leafvec, i)];
		}
	}
	uint32_t hint = st->rib.root;
	if (plen <= d + LPM_K) {
		uint16_t base = code_upto(st, pkey, plen);
		for (uint32_t i = aff_lo; i <= aff_hi; i++) {
			codes[i] = base;
			more[i] = 0;
		}
		uint32_t top = lpm_rib_subtree(&st->rib, pkey, plen);
		if (top != 0) {
			rib_paint_subtree(&st->rib, top, d, LPM_K, codes, more);
			hint = top;
		}
	} else {
		u128 ckey = key_with_bits(region, d, LPM_K, aff_lo);
		if (more[aff_lo])
			codes[aff_lo] = code_upto(st, ckey, d + LPM_K);
		more[aff_lo] = (uint8_t)lpm_rib_has_longer(&st->rib, ckey, d + LPM_K);
	}
	return node_encode(lpm, st, hint, region, d, codes, more, out, old, aff_lo, aff_hi);
}

/* Retires the blocks under node n (not n itself). */
static void retire_below(struct lpm *lpm, struct lpm_state *st, const struct lpm_node *n)
{
	unsigned nl = (unsigned)__builtin_popcountll(n->leafvec);
	unsigned nc = (unsigned)__builtin_popcountll(n->vector);
	if (nl > 0)
		lpm_retire(lpm, st, RETIRE_LEAVES, n->base0, nl);
	for (unsigned i = 0; i < nc; i++)
		retire_below(lpm, st, &st->nodes[n->base1 + i]);
	if (nc > 0)
		lpm_retire(lpm, st, RETIRE_NODES, n->base1, nc);
}

static inline u128 lpm_key_of_direct(const struct lpm *lpm, uint32_t d)
{
	return (u128)d << (128 - lpm->s);
}


/* Computes the direct entry of slot dslot from the RIB: a leaf code, or a
 * newly built subtree.  Returns 0 with lpm->failed set on failure. */
static uint32_t build_direct_entry(struct lpm *lpm, struct lpm_state *st, uint32_t dslot)
{
	u128 key = lpm_key_of_direct(lpm, dslot);
	uint16_t def = code_upto(st, key, lpm->s);
	if (!lpm_rib_has_longer(&st->rib, key, lpm->s))
		return def;
	uint32_t idx = node_alloc(lpm, st, 1);
	if (idx == 0)
		return 0;
	if (!build_node(lpm, st, st->rib.root, key, lpm->s, def, &st->nodes[idx]))
		return 0;
	return DIRECT_NODE | idx;
}

static void retire_direct_entry(struct lpm *lpm, struct lpm_state *st, uint32_t e)
{
	if (!(e & DIRECT_NODE))
		return;
	uint32_t idx = e & ~DIRECT_NODE;
	retire_below(lpm, st, &st->nodes[idx]);
	lpm_retire(lpm, st, RETIRE_NODES, idx, 1);
}

static inline u128 lpm_key_of_top(const struct lpm_state *st, uint32_t tb)
{
	return st->t > 0 ? (u128)tb << (128 - st->t) : 0;
}

/* Marks in dtop the top entries a prefix of length len <= t covers. */
static void mark_tops(const struct lpm_state *st, uint64_t *dtop, u128 key, unsigned len)
{
	uint32_t lo = st->t > 0 ? key_bits(key, 0, st->t) : 0;
	for (uint32_t x = lo; x < lo + (1u << (st->t - len)); x++)
		dtop[x >> 6] |= 1ull << (x & 63);
}

/* What direct_apply does to one top entry. */
struct top_op {
	uint32_t tb;
	uint8_t needed; /* routes longer than t exist in its region: the block is live after */
	uint8_t all;    /* every slot of the block is rebuilt (a route of length <= t changed) */
	uint32_t code;  /* !needed: the top entry's leaf code */
	size_t lo, hi;  /* needed && !all: its slots, slots[lo .. hi) */
	size_t fresh;   /* needed: where its rebuilt entries start in fresh[] */
};

static int top_op_push(struct top_op **ops, size_t *n, size_t *cap, uint32_t tb)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct top_op *x = realloc(*ops, nc * sizeof(*x));
		if (x == NULL)
			return -1;
		*ops = x;
		*cap = nc;
	}
	(*ops)[(*n)++] = (struct top_op){.tb = tb};
	return 0;
}

/* Brings the direct entries an update touched in line with the RIB: the slots slots[0 .. ns)
 * (sorted, distinct) and every slot under the top entries marked in dtop (NULL: none).  A
 * block that becomes needed is filled and made live, one that is no longer needed collapses
 * into its top entry.  Everything is built before anything is published, so a failure leaves
 * what readers see unchanged. */
static int direct_apply(struct lpm *lpm, struct lpm_state *st, const uint64_t *dtop, const uint32_t *slots,
                        size_t ns)
{
	const unsigned b = st->b;
	const uint32_t ntop = 1u << st->t, bsize = 1u << b;
	struct top_op *ops = NULL;
	size_t nops = 0, cap = 0, nfresh = 0, i = 0;
	uint32_t *fresh = NULL;
	int rc = LPM_ERR_NOMEM;

	/* 1. The top entries involved, in order: the marked ones and those of the slots. */
	uint32_t tb = 0;
	for (;;) {
		uint32_t next_mark = ntop;
		if (dtop != NULL)
			for (uint32_t x = tb; x < ntop; x++)
				if (dtop[x >> 6] & (1ull << (x & 63))) {
					next_mark = x;
					break;
				}
		uint32_t next_slot = i < ns ? slots[i] >> b : ntop;
		tb = next_mark < next_slot ? next_mark : next_slot;
		if (tb >= ntop)
			break;
		if (top_op_push(&ops, &nops, &cap, tb) != 0)
			goto out;
		struct top_op *o = &ops[nops - 1];
		o->all = tb == next_mark;
		o->lo = i;
		while (i < ns && slots[i] >> b == tb)
			i++;
		o->hi = i;
		tb++;
	}
	for (size_t k = 0; k < nops; k++) {
		struct top_op *o = &ops[k];
		u128 key = lpm_key_of_top(st, o->tb);
		o->needed = st->t == 0 || lpm_rib_has_longer(&st->rib, key, st->t);
		if (o->needed) {
			o->fresh = nfresh;
			nfresh += o->all ? bsize : o->hi - o->lo;
		} else {
			o->code = code_upto(st, key, st->t);
		}
	}

	/* 2. Build. */
	fresh = malloc((nfresh ? nfresh : 1) * sizeof(uint32_t));
	if (fresh == NULL)
		goto out;
	for (size_t k = 0; k < nops; k++) {
		const struct top_op *o = &ops[k];
		if (!o->needed)
			continue;
		size_t cnt = o->all ? bsize : o->hi - o->lo;
		for (size_t j = 0; j < cnt; j++) {
			uint32_t slot = o->all ? (o->tb << b) + (uint32_t)j : slots[o->lo + j];
			fresh[o->fresh + j] = build_direct_entry(lpm, st, slot);
			if (lpm->failed)
				goto out;
		}
	}

	/* 3. Publish, and retire what readers no longer reach. */
	for (size_t k = 0; k < nops; k++) {
		const struct top_op *o = &ops[k];
		uint32_t *blk = st->direct + ((size_t)o->tb << b);
		bool live = (st->top[o->tb] & TOP_BLOCK) != 0;
		size_t cnt = o->all ? bsize : o->hi - o->lo;
		if (o->needed && !live) {
			/* Not reachable yet: plain stores, then one release store makes it live. */
			if (!o->all)
				for (uint32_t j = 0; j < bsize; j++)
					blk[j] = st->top[o->tb];
			for (size_t j = 0; j < cnt; j++)
				blk[o->all ? j : slots[o->lo + j] & (bsize - 1)] = fresh[o->fresh + j];
			__atomic_store_n(&st->top[o->tb], TOP_BLOCK, __ATOMIC_RELEASE);
			st->blocks_live++;
		} else if (o->needed) {
			for (size_t j = 0; j < cnt; j++) {
				uint32_t *e = &blk[o->all ? j : slots[o->lo + j] & (bsize - 1)];
				uint32_t was = *e;
				if (was == fresh[o->fresh + j])
					continue;
				__atomic_store_n(e, fresh[o->fresh + j], __ATOMIC_RELEASE);
				retire_direct_entry(lpm, st, was);
			}
		} else if (live) {
			__atomic_store_n(&st->top[o->tb], o->code, __ATOMIC_RELEASE);
			st->blocks_live--;
			for (uint32_t j = 0; j < bsize; j++)
				retire_direct_entry(lpm, st, blk[j]);
			lpm_retire(lpm, st, RETIRE_BLOCK, o->tb, 0);
		} else if (st->top[o->tb] != o->code) {
			__atomic_store_n(&st->top[o->tb], o->code, __ATOMIC_RELEASE);
		}
	}
	rc = LPM_OK;
out:
	free(ops);
	free(fresh);
	return rc;
}

#define MAX_DEPTH 24

/* Brings the trie in line with the RIB after the route (key, len) changed. */
static int trie_update(struct lpm *lpm, struct lpm_state *st, u128 key, unsigned len, int deleted)
{
	unsigned s = lpm->s;
	uint32_t dslot = key_bits(key, 0, s);

	if (len <= st->t) {
		/* The prefix covers whole top entries: every one of them, and their blocks. */
		uint64_t *dtop = calloc(((1u << st->t) + 63) / 64, sizeof(uint64_t));
		if (dtop == NULL)
			return LPM_ERR_NOMEM;
		mark_tops(st, dtop, key, len);
		int rc = direct_apply(lpm, st, dtop, NULL, 0);
		free(dtop);
		return rc;
	}
	if (len <= s) {
		/* The prefix covers whole direct entries (inside one block): recompute each. */
		uint32_t cnt = 1u << (s - len);
		uint32_t *slots = malloc(cnt * sizeof(uint32_t));
		if (slots == NULL)
			return LPM_ERR_NOMEM;
		for (uint32_t i = 0; i < cnt; i++)
			slots[i] = dslot + i;
		int rc = direct_apply(lpm, st, NULL, slots, cnt);
		free(slots);
		return rc;
	}

	/* A longer prefix changes one direct entry: rebuilt whole when it is (or becomes) a leaf
	 * or its block is not live, else along the path below it. */
	uint32_t top = st->top[dslot >> st->b];
	uint32_t e = (top & TOP_BLOCK) ? st->direct[dslot] : top;
	if (!(e & DIRECT_NODE) || (deleted && !lpm_rib_has_longer(&st->rib, lpm_key_of_direct(lpm, dslot), s))) {
		/* Its block may have to come to life, or (after a delete) collapse. */
		if (!(top & TOP_BLOCK) || (deleted && st->t > 0))
			return direct_apply(lpm, st, NULL, &dslot, 1);
		uint32_t fresh = build_direct_entry(lpm, st, dslot);
		if (lpm->failed)
			return LPM_ERR_NOMEM;
		__atomic_store_n(&st->direct[dslot], fresh, __ATOMIC_RELEASE);
		retire_direct_entry(lpm, st, e);
		return LPM_OK;
	}

	/* Walk down to the node whose slots resolve the prefix, remembering the
	 * path: node indices and each node's rank in its parent's child block. */
	uint32_t path[MAX_DEPTH];
	unsigned rank[MAX_DEPTH];
	unsigned depth = 0, d = s;
	path[0] = e & ~DIRECT_NODE;
	rank[0] = 0;
	uint32_t aff_lo, aff_hi;
	for (;;) {
		const struct lpm_node *n = &st->nodes[path[depth]];
		uint32_t slot = key_bits(key, d, LPM_K);
		if (len <= d + LPM_K) {
			aff_lo = slot;
			aff_hi = slot + (1u << (d + LPM_K - len)) - 1;
			break;
		}
		uint64_t bit = 1ull << slot;
		if (!(n->vector & bit)) {
			aff_lo = aff_hi = slot;
			break;
		}
		unsigned r = (unsigned)__builtin_popcountll(n->vector & ((bit << 1) - 1)) - 1;
		depth++;
		path[depth] = n->base1 + r;
		rank[depth] = r;
		d += LPM_K;
	}
	/* After a delete a node may have nothing below its own depth: rebuild
	 * its parent instead, which turns the node's slot back into a leaf. */
	while (deleted && depth > 0 && !lpm_rib_has_longer(&st->rib, key & rib_mask(d), d)) {
		depth--;
		d -= LPM_K;
		aff_lo = aff_hi = key_bits(key, d, LPM_K);
	}

	const struct lpm_node *old = &st->nodes[path[depth]];
	u128 region = key & rib_mask(d);
	struct lpm_node fresh;
	if (!rebuild_node(lpm, st, region, d, old, aff_lo, aff_hi, key, len, &fresh))
		return LPM_ERR_NOMEM;

	/* Copy the path above: each ancestor gets a new child block that holds
	 * the new node in place of the old one.  Everything is allocated before
	 * anything is published, so a failure leaves the table as it was. */
	struct lpm_node cur = fresh;
	for (unsigned j = depth; j > 0; j--) {
		struct lpm_node parent = st->nodes[path[j - 1]];
		unsigned nc = (unsigned)__builtin_popcountll(parent.vector);
		uint32_t b = node_alloc(lpm, st, nc);
		if (b == 0)
			return LPM_ERR_NOMEM;
		memcpy(&st->nodes[b], &st->nodes[parent.base1], nc * sizeof(struct lpm_node));
		st->nodes[b + rank[j]] = cur;
		parent.base1 = b;
		cur = parent;
	}
	uint32_t root = node_alloc(lpm, st, 1);
	if (root == 0)
		return LPM_ERR_NOMEM;
	st->nodes[root] = cur;
	__atomic_store_n(&st->direct[dslot], DIRECT_NODE | root, __ATOMIC_RELEASE);

	/* Retire what the readers no longer reach: the old path blocks, and in the
	 * rebuilt node its old leaf and child blocks and the subtrees not shared. */
	for (unsigned j = depth; j > 0; j--) {
		const struct lpm_node *parent = &st->nodes[path[j - 1]];
		lpm_retire(lpm, st, RETIRE_NODES, parent->base1,
		           (unsigned)__builtin_popcountll(parent->vector));
	}
	lpm_retire(lpm, st, RETIRE_NODES, path[0], 1);
	unsigned onl = (unsigned)__builtin_popcountll(old->leafvec);
	unsigned onc = (unsigned)__builtin_popcountll(old->vector);
	if (onl > 0)
		lpm_retire(lpm, st, RETIRE_LEAVES, old->base0, onl);
	for (unsigned i = 0, ci = 0; i < LPM_FANOUT; i++) {
		if (!(old->vector & (1ull << i)))
			continue;
		int shared = (i < aff_lo || i > aff_hi) && (fresh.vector & (1ull << i));
		if (!shared)
			retire_below(lpm, st, &st->nodes[old->base1 + ci]);
		ci++;
	}
	if (onc > 0)
		lpm_retire(lpm, st, RETIRE_NODES, old->base1, onc);
	return LPM_OK;
}

/* ---------- public: create, update, build ---------- */

static unsigned family_bits(int family)
{
	return family == 4 ? 32 : 128;
}

static u128 key_from_bytes(int family, const uint8_t *addr)
{
	u128 k = 0;
	unsigned nb = family == 4 ? 4 : 16;
	for (unsigned i = 0; i < nb; i++)
		k = (k << 8) | addr[i];
	return k << (128 - 8 * nb);
}

static void key_to_bytes(int family, u128 key, uint8_t *addr)
{
	unsigned nb = family == 4 ? 4 : 16;
	for (unsigned i = 0; i < nb; i++)
		addr[i] = (uint8_t)(key >> (120 - 8 * i));
}

lpm_t *lpm_table_create(int family, rcu_qsbr_t *rcu)
{
	if (family != 4 && family != 6)
		return NULL;
	lpm_t *lpm = calloc(1, sizeof(*lpm));
	if (lpm == NULL)
		return NULL;
	lpm->family = family;
	lpm->s = family == 4 ? LPM4_S : LPM6_S;
	lpm->t = family == 4 ? LPM4_T : LPM6_T;
	lpm->rcu = rcu;
	lpm->state = state_new(lpm->s, lpm->t, 64);
	if (lpm->state == NULL) {
		free(lpm);
		return NULL;
	}
	return lpm;
}

void lpm_table_destroy(lpm_t *lpm)
{
	if (lpm == NULL)
		return;
	/* The caller guarantees no reader uses the table any more. */
	for (size_t i = 0; i < lpm->n_retired; i++)
		if (lpm->retired[i].kind == RETIRE_STATE)
			state_free(lpm->retired[i].st);
	free(lpm->retired);
	state_free(lpm->state);
	free(lpm->undo_nodes.v);
	free(lpm->undo_leaves.v);
	free(lpm);
}

int lpm_table_family(const lpm_t *lpm)
{
	return lpm->family;
}

static void update_begin(struct lpm *lpm)
{
	lpm_table_reclaim(lpm, 0);
	lpm->undo_nodes.n = 0;
	lpm->undo_leaves.n = 0;
	lpm->failed = 0;
}

/* Gives back every block the failed update allocated, and forgets what it
 * meant to retire (nothing was published). */
static void update_abort(struct lpm *lpm, struct lpm_state *st)
{
	for (size_t i = lpm->undo_nodes.n; i > 0; i -= 2)
		arena_release(&st->node_arena, lpm->undo_nodes.v[i - 2], lpm->undo_nodes.v[i - 1]);
	for (size_t i = lpm->undo_leaves.n; i > 0; i -= 2)
		arena_release(&st->leaf_arena, lpm->undo_leaves.v[i - 2], lpm->undo_leaves.v[i - 1]);
	while (lpm->n_retired > 0 && lpm->retired[lpm->n_retired - 1].token == TOKEN_UNSEALED)
		lpm->n_retired--;
}

static int check_args(const struct lpm *lpm, unsigned len)
{
	return len <= family_bits(lpm->family) ? LPM_OK : LPM_ERR_INVAL;
}

int lpm_route_add(lpm_t *lpm, const uint8_t *addr, unsigned len, uint32_t nh, uint32_t *old_nh)
{
	if (check_args(lpm, len) != LPM_OK || nh > LPM_NH_MAX)
		return LPM_ERR_INVAL;
	struct lpm_state *st = lpm->state;
	u128 key = key_from_bytes(lpm->family, addr) & rib_mask(len);
	update_begin(lpm);

	/* Room for the value first: a new RIB node is only created when the
	 * update can go ahead (a glue node left by a failure is pruned below). */
	if (!dict_has_room(st, nh))
		return LPM_ERR_NH_FULL;
	uint32_t idx = lpm_rib_insert(&st->rib, key, len); /* finds or creates */
	if (idx == 0)
		return LPM_ERR_NOMEM;
	int existed = st->rib.pool[idx].has_route;
	uint32_t prev = existed ? st->values[st->rib.pool[idx].code] : LPM_MISS;
	if (old_nh != NULL)
		*old_nh = prev;
	if (existed && prev == nh)
		return LPM_OK;

	struct rib_node *n = &st->rib.pool[idx];
	uint16_t prev_code = n->code;
	uint16_t code = (uint16_t)dict_ref(st, nh);
	n->code = code;
	if (!existed) {
		n->has_route = 1;
		st->rib.routes++;
	}
	int rc = trie_update(lpm, st, key, len, 0);
	if (rc != LPM_OK) {
		update_abort(lpm, st);
		n = &st->rib.pool[idx];
		if (existed) {
			n->code = prev_code;
		} else {
			lpm_rib_route_clear(&st->rib, idx);
		}
		dict_unref(lpm, st, code);
		lpm_retire_seal(lpm);
		return rc;
	}
	if (existed)
		dict_unref(lpm, st, prev_code);
	lpm_retire_seal(lpm);
	return LPM_OK;
}

int lpm_route_delete(lpm_t *lpm, const uint8_t *addr, unsigned len, uint32_t *old_nh)
{
	if (check_args(lpm, len) != LPM_OK)
		return LPM_ERR_INVAL;
	struct lpm_state *st = lpm->state;
	u128 key = key_from_bytes(lpm->family, addr) & rib_mask(len);
	update_begin(lpm);

	uint32_t idx = lpm_rib_find(&st->rib, key, len);
	if (idx == 0 || !st->rib.pool[idx].has_route)
		return LPM_ERR_NOENT;
	uint32_t prev = st->values[st->rib.pool[idx].code];
	uint16_t prev_code = st->rib.pool[idx].code;
	if (old_nh != NULL)
		*old_nh = prev;
	lpm_rib_route_clear(&st->rib, idx);
	int rc = trie_update(lpm, st, key, len, 1);
	if (rc != LPM_OK) {
		update_abort(lpm, st);
		uint32_t again = lpm_rib_insert(&st->rib, key, len);
		if (again != 0) {
			struct rib_node *n = &st->rib.pool[again];
			n->code = prev_code;
			n->has_route = 1;
			st->rib.routes++;
		}
		return rc;
	}
	dict_unref(lpm, st, prev_code);
	lpm_retire_seal(lpm);
	return LPM_OK;
}

/* What lpm_routes_apply changed in the RIB, to undo it if the rebuild fails
 * (codes the undo drops are retired like any other: the caller seals). */
struct batch_change {
	u128 key;
	uint8_t len;
	uint8_t kind;       /* 0 nothing, 1 added, 2 replaced, 3 deleted */
	uint16_t prev_code; /* replaced, deleted: the code the route had */
	uint16_t code;      /* added, replaced: the code it has now */
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void batch_undo(struct lpm *lpm, struct lpm_state *st, struct batch_change *c, size_t n)
{
	for (size_t i = n; i > 0; i--) {
		struct batch_change *x = &c[i - 1];
		if (x->kind == 0)
			continue;
		uint32_t idx = lpm_rib_find(&st->rib, x->key, x->len);
		if (x->kind == 1) {
			if (idx != 0 && st->rib.pool[idx].has_route)
				lpm_rib_route_clear(&st->rib, idx);
			dict_unref(lpm, st, x->code);
		} else if (x->kind == 2) {
			if (idx != 0)
				st->rib.pool[idx].code = x->prev_code;
			dict_unref(lpm, st, x->code);
		} else {
			uint32_t again = lpm_rib_insert(&st->rib, x->key, x->len);
			if (again != 0) { /* on ENOMEM the route stays lost, as in lpm_route_delete */
				st->rib.pool[again].code = x->prev_code;
				st->rib.pool[again].has_route = 1;
				st->rib.routes++;
			}
		}
	}
}

int lpm_routes_apply(lpm_t *lpm, size_t n, const uint8_t *addrs, const uint8_t *lens, const uint32_t *nhs,
                     uint32_t *old)
{
	unsigned nb = lpm->family == 4 ? 4 : 16;
	for (size_t i = 0; i < n; i++)
		if (check_args(lpm, lens[i]) != LPM_OK || (nhs[i] != LPM_MISS && nhs[i] > LPM_NH_MAX))
			return LPM_ERR_INVAL;
	if (n == 0)
		return LPM_OK;
	struct lpm_state *st = lpm->state;
	unsigned s = lpm->s;
	struct batch_change *ch = calloc(n, sizeof(*ch));
	uint64_t *dtop = calloc(((1u << st->t) + 63) / 64, sizeof(uint64_t));
	struct u32vec slots = {0};
	int rc = LPM_OK;
	if (ch == NULL || dtop == NULL) {
		rc = LPM_ERR_NOMEM;
		goto out;
	}
	update_begin(lpm);

	/* 1. The RIB takes every change, in order; the direct entries they touch are noted. */
	size_t done = 0;
	for (; done < n; done++) {
		struct batch_change *x = &ch[done];
		u128 key = key_from_bytes(lpm->family, addrs + done * nb) & rib_mask(lens[done]);
		x->key = key;
		x->len = lens[done];
		old[done] = LPM_MISS;
		uint32_t nh = nhs[done];
		if (nh == LPM_MISS) {
			uint32_t idx = lpm_rib_find(&st->rib, key, lens[done]);
			if (idx == 0 || !st->rib.pool[idx].has_route)
				continue;
			x->prev_code = st->rib.pool[idx].code;
			old[done] = st->values[x->prev_code];
			lpm_rib_route_clear(&st->rib, idx);
			x->kind = 3;
		} else {
			if (!dict_has_room(st, nh)) {
				rc = LPM_ERR_NH_FULL;
				break;
			}
			uint32_t idx = lpm_rib_insert(&st->rib, key, lens[done]);
			if (idx == 0) {
				rc = LPM_ERR_NOMEM;
				break;
			}
			struct rib_node *rn = &st->rib.pool[idx];
			if (rn->has_route) {
				old[done] = st->values[rn->code];
				if (old[done] == nh)
					continue;
				x->prev_code = rn->code;
				x->kind = 2;
			} else {
				rn->has_route = 1;
				st->rib.routes++;
				x->kind = 1;
			}
			x->code = (uint16_t)dict_ref(st, nh);
			st->rib.pool[idx].code = x->code;
		}
		if (lens[done] <= st->t) {
			mark_tops(st, dtop, key, lens[done]);
			continue;
		}
		uint32_t lo = key_bits(key, 0, s);
		uint32_t cnt = lens[done] < s ? 1u << (s - lens[done]) : 1u;
		for (uint32_t k = lo; k < lo + cnt && rc == LPM_OK; k++)
			if (u32vec_push(&slots, k) != 0)
				rc = LPM_ERR_NOMEM;
		if (rc != LPM_OK) {
			done++; /* this change reached the RIB: the undo must see it */
			break;
		}
	}
	if (rc != LPM_OK)
		goto fail;

	/* 2. Every noted direct entry is rebuilt from the RIB, all before any is published,
	 * then published and what it replaced retired. */
	if (slots.n > 1) {
		qsort(slots.v, slots.n, sizeof(uint32_t), cmp_u32);
		size_t w = 1;
		for (size_t k = 1; k < slots.n; k++)
			if (slots.v[k] != slots.v[w - 1])
				slots.v[w++] = slots.v[k];
		slots.n = w;
	}
	rc = direct_apply(lpm, st, dtop, slots.v, slots.n);
	if (rc != LPM_OK)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (ch[i].kind >= 2)
			dict_unref(lpm, st, ch[i].prev_code);
	lpm_retire_seal(lpm);
	goto out;
fail:
	/* `done` changes reached the RIB: blocks built for them go back, the RIB is put back */
	update_abort(lpm, st);
	batch_undo(lpm, st, ch, done);
	lpm_retire_seal(lpm);
out:
	free(ch);
	free(dtop);
	free(slots.v);
	return rc;
}

int lpm_route_get(const lpm_t *lpm, const uint8_t *addr, unsigned len, uint32_t *nh)
{
	if (check_args(lpm, len) != LPM_OK)
		return LPM_ERR_INVAL;
	const struct lpm_state *st = lpm->state;
	u128 key = key_from_bytes(lpm->family, addr) & rib_mask(len);
	uint32_t idx = lpm_rib_find(&st->rib, key, len);
	if (idx == 0 || !st->rib.pool[idx].has_route)
		return LPM_ERR_NOENT;
	*nh = st->values[st->rib.pool[idx].code];
	return LPM_OK;
}

/* Replaces the whole state: readers switch with one release store; the old
 * state, and the blocks of it still waiting for a grace period, go together
 * once every reader has moved on. */
static void lpm_state_publish(struct lpm *lpm, struct lpm_state *st)
{
	struct lpm_state *old = lpm->state;
	__atomic_store_n(&lpm->state, st, __ATOMIC_RELEASE);
	size_t w = 0;
	for (size_t i = 0; i < lpm->n_retired; i++)
		if (lpm->retired[i].st != old || lpm->retired[i].kind == RETIRE_STATE)
			lpm->retired[w++] = lpm->retired[i];
	lpm->n_retired = w;
	lpm_retire(lpm, old, RETIRE_STATE, 0, 0);
	lpm_retire_seal(lpm);
}

int lpm_table_build(lpm_t *lpm, size_t n, const uint8_t *addrs, const uint8_t *lens, const uint32_t *nhs)
{
	unsigned nb = lpm->family == 4 ? 4 : 16;
	for (size_t i = 0; i < n; i++)
		if (check_args(lpm, lens[i]) != LPM_OK || nhs[i] > LPM_NH_MAX)
			return LPM_ERR_INVAL;
	update_begin(lpm);
	struct lpm_state *st = state_new(lpm->s, lpm->t, (uint32_t)(n < (1u << 30) ? n + n / 2 + 64 : (1u << 30)));
	if (st == NULL)
		return LPM_ERR_NOMEM;
	int rc = LPM_OK;
	for (size_t i = 0; i < n && rc == LPM_OK; i++) {
		unsigned len = lens[i];
		u128 key = key_from_bytes(lpm->family, addrs + i * nb) & rib_mask(len);
		uint32_t idx = lpm_rib_insert(&st->rib, key, len);
		if (idx == 0) {
			rc = LPM_ERR_NOMEM;
			break;
		}
		struct rib_node *r = &st->rib.pool[idx];
		if (r->has_route) {
			if (st->values[r->code] == nhs[i])
				continue;
			uint16_t oc = r->code;
			uint32_t c = dict_ref(st, nhs[i]);
			if (c == 0) {
				rc = LPM_ERR_NH_FULL;
				break;
			}
			r = &st->rib.pool[idx];
			r->code = (uint16_t)c;
			if (--st->code_refs[oc] == 0) { /* nothing published yet: free at once */
				dict_hash_remove(st, oc);
				st->codes_live--;
				(void)u32vec_push(&st->free_codes, oc);
			}
			continue;
		}
		uint32_t c = dict_ref(st, nhs[i]);
		if (c == 0) {
			rc = LPM_ERR_NH_FULL;
			break;
		}
		r = &st->rib.pool[idx];
		r->code = (uint16_t)c;
		r->has_route = 1;
		st->rib.routes++;
	}
	if (rc == LPM_OK) {
		/* The top table is one big node of stride t at depth 0, each live block one of
		 * stride b at depth t. */
		uint32_t ntop = 1u << st->t, bsize = 1u << st->b;
		uint16_t *tcodes = malloc(ntop * sizeof(uint16_t)), *codes = malloc(bsize * sizeof(uint16_t));
		uint8_t *tmore = malloc(ntop), *more = malloc(bsize);
		if (tcodes == NULL || tmore == NULL || codes == NULL || more == NULL) {
			rc = LPM_ERR_NOMEM;
		} else {
			uint32_t hint = st->rib.root;
			if (st->t > 0) {
				hint = rib_paint(&st->rib, hint, 0, 0, st->t, CODE_MISS, tcodes, tmore);
			} else {
				tcodes[0] = CODE_MISS;
				tmore[0] = 1;
			}
			for (uint32_t tb = 0; tb < ntop && rc == LPM_OK; tb++) {
				if (!tmore[tb]) {
					st->top[tb] = tcodes[tb];
					continue;
				}
				uint32_t btop = rib_paint(&st->rib, hint, lpm_key_of_top(st, tb), st->t, st->b, tcodes[tb],
				                          codes, more);
				uint32_t *blk = st->direct + ((size_t)tb << st->b);
				for (uint32_t j = 0; j < bsize && rc == LPM_OK; j++) {
					if (!more[j]) {
						blk[j] = codes[j];
						continue;
					}
					uint32_t idx = node_alloc(lpm, st, 1);
					if (idx == 0 || !build_node(lpm, st, btop, lpm_key_of_direct(lpm, (tb << st->b) + j),
					                            lpm->s, codes[j], &st->nodes[idx]))
						rc = LPM_ERR_NOMEM;
					else
						blk[j] = DIRECT_NODE | idx;
				}
				if (!(st->top[tb] & TOP_BLOCK)) {
					st->top[tb] = TOP_BLOCK;
					st->blocks_live++;
				}
			}
		}
		free(tcodes);
		free(tmore);
		free(codes);
		free(more);
	}
	lpm->undo_nodes.n = 0;
	lpm->undo_leaves.n = 0;
	if (rc != LPM_OK) {
		state_free(st);
		return rc;
	}
	lpm_state_publish(lpm, st);
	return LPM_OK;
}

int lpm_table_adopt(lpm_t *lpm, lpm_t *src)
{
	if (lpm->family != src->family)
		return LPM_ERR_INVAL;
	update_begin(lpm);
	lpm_table_reclaim(src, 1);
	struct lpm_state *st = src->state;
	src->state = NULL;
	lpm_table_destroy(src);
	lpm_state_publish(lpm, st);
	return LPM_OK;
}

/* ---------- stats and walk ---------- */

void lpm_table_stats(const lpm_t *lpm, lpm_stats_t *out)
{
	const struct lpm_state *st = lpm->state;
	memset(out, 0, sizeof(*out));
	out->routes = st->rib.routes;
	out->nodes = st->node_arena.live;
	out->leaves = st->leaf_arena.live;
	out->next_hops = st->codes_live;
	uint64_t direct = ((uint64_t)4 << st->t) + (uint64_t)st->blocks_live * ((uint64_t)4 << st->b);
	out->direct_bytes = direct;
	out->bytes = direct + out->nodes * sizeof(struct lpm_node) + out->leaves * sizeof(lpm_leaf_t) +
	             (uint64_t)st->codes_used * sizeof(uint32_t);
	out->bytes_reserved = direct + (uint64_t)st->node_arena.top * sizeof(struct lpm_node) +
	                      (uint64_t)st->leaf_arena.top * sizeof(lpm_leaf_t) +
	                      (uint64_t)st->codes_used * sizeof(uint32_t);
	out->rib_bytes = (uint64_t)st->rib.cap * sizeof(struct rib_node) +
	                 (uint64_t)CODES * sizeof(uint32_t) * 3;
	out->pending_blocks = lpm->n_retired;
}

void lpm_table_walk(const lpm_t *lpm, lpm_walk_fn fn, void *ctx)
{
	const struct lpm_state *st = lpm->state;
	if (st->rib.root == 0)
		return;
	uint32_t stack[130];
	unsigned sp = 0;
	stack[sp++] = st->rib.root;
	uint8_t addr[16];
	while (sp > 0) {
		const struct rib_node *n = &st->rib.pool[stack[--sp]];
		if (n->has_route) {
			key_to_bytes(lpm->family, n->key, addr);
			if (fn(ctx, addr, n->len, st->values[n->code]) != 0)
				return;
		}
		if (n->child[1] != 0)
			stack[sp++] = n->child[1];
		if (n->child[0] != 0)
			stack[sp++] = n->child[0];
	}
}

const char *lpm_strerror(int status)
{
	switch (status) {
	case LPM_OK: return "ok";
	case LPM_ERR_NOENT: return "prefix not in table";
	case LPM_ERR_NOMEM: return "out of memory";
	case LPM_ERR_NH_FULL: return "too many distinct next hops in one table (limit 65535)";
	case LPM_ERR_INVAL: return "invalid argument";
	default: return "unknown error";
	}
}

/* ---------- lookups ---------- */

static inline const struct lpm_state *state_acquire(const lpm_t *lpm)
{
	return __atomic_load_n(&lpm->state, __ATOMIC_ACQUIRE);
}


static inline uint32_t lpm4_walk(const struct lpm_state *st, uint32_t e, uint32_t addr)
{
	const struct lpm_node *n = &st->nodes[e & ~DIRECT_NODE];
	uint64_t key = (uint64_t)addr << 32;
	for (unsigned d = LPM4_S;; d += LPM_K) {
		unsigned slot = (unsigned)(key >> (64 - LPM_K - d)) & (LPM_FANOUT - 1);
		if (n->vector & (1ull << slot)) {
			n = &st->nodes[n->base1 + rank_of(n->vector, slot)];
			continue;
		}
		return st->values[st->leaves[n->base0 + rank_of(n->leafvec, slot)]];
	}
}

uint32_t lpm4_lookup(const lpm_t *lpm, uint32_t addr)
{
	const struct lpm_state *st = state_acquire(lpm);
	uint32_t e = __atomic_load_n(&st->direct[addr >> (32 - LPM4_S)], __ATOMIC_ACQUIRE);
	return (e & DIRECT_NODE) ? lpm4_walk(st, e, addr) : st->values[e];
}

/* Batched lookups: the out-of-order core already overlaps the walks of
 * independent addresses; what it cannot do is start the direct-table miss of
 * an address it has not reached yet.  So the batch prefetches the direct
 * entries PREFETCH_AHEAD addresses ahead, and the first node of each address
 * a few addresses ahead, then walks each address as the single lookup does. */
#define PREFETCH_AHEAD 8

void lpm4_lookup_bulk(const lpm_t *lpm, const uint32_t *addrs, uint32_t *nhs, unsigned n)
{
	const struct lpm_state *st = state_acquire(lpm);
	const uint32_t *direct = st->direct;
	unsigned pre = n < PREFETCH_AHEAD ? n : PREFETCH_AHEAD;
	for (unsigned i = 0; i < pre; i++)
		__builtin_prefetch(&direct[addrs[i] >> (32 - LPM4_S)]);
	for (unsigned i = 0; i < n; i++) {
		if (i + PREFETCH_AHEAD < n)
			__builtin_prefetch(&direct[addrs[i + PREFETCH_AHEAD] >> (32 - LPM4_S)]);
		uint32_t e = __atomic_load_n(&direct[addrs[i] >> (32 - LPM4_S)], __ATOMIC_ACQUIRE);
		nhs[i] = (e & DIRECT_NODE) ? lpm4_walk(st, e, addrs[i]) : st->values[e];
	}
}

static inline u128 key6_load(const uint8_t *a)
{
	uint64_t hi, lo;
	memcpy(&hi, a, 8);
	memcpy(&lo, a + 8, 8);
	return ((u128)__builtin_bswap64(hi) << 64) | __builtin_bswap64(lo);
}

static inline unsigned slot6(u128 key, unsigned d)
{
	if (d + LPM_K <= 128)
		return (unsigned)(key >> (128 - LPM_K - d)) & (LPM_FANOUT - 1);
	return (unsigned)(key << (d + LPM_K - 128)) & (LPM_FANOUT - 1);
}

uint32_t lpm6_lookup(const lpm_t *lpm, const uint8_t addr[16])
{
	const struct lpm_state *st = state_acquire(lpm);
	u128 key = key6_load(addr);
	uint32_t dslot = (uint32_t)(key >> (128 - LPM6_S));
	uint32_t e = __atomic_load_n(&st->top[dslot >> (LPM6_S - LPM6_T)], __ATOMIC_ACQUIRE);
	if (e & TOP_BLOCK)
		e = __atomic_load_n(&st->direct[dslot], __ATOMIC_ACQUIRE);
	if (!(e & DIRECT_NODE))
		return st->values[e];
	const struct lpm_node *n = &st->nodes[e & ~DIRECT_NODE];
	for (unsigned d = LPM6_S;; d += LPM_K) {
		unsigned slot = slot6(key, d);
		if (n->vector & (1ull << slot)) {
			n = &st->nodes[n->base1 + rank_of(n->vector, slot)];
			continue;
		}
		return st->values[st->leaves[n->base0 + rank_of(n->leafvec, slot)]];
	}
}


/* IPv6 walks are long (a /48 sits four nodes below the direct table) and every
 * level depends on the one before, so the out-of-order core keeps only two or
 * three walks in flight.  The batch therefore walks groups of V6_GROUP
 * addresses in lockstep: each round advances every unfinished walk by one
 * level and prefetches its next node, so a group's cache misses overlap.
 * (On the full table this doubles throughput; on a cache-resident table it
 * costs ~10%, which is the case that matters least.) */
#define V6_GROUP 32

/* One lockstep round at depth d: advance every pending walk by one node.
 * mode 0: the slot lies in the key's high word, 1: in the low word,
 * 2: it straddles both (one round at most).  Splitting the rounds this way
 * keeps 128-bit shifts out of the loop, which is compute-bound once the
 * group's prefetches have landed. */
static inline __attribute__((always_inline)) unsigned
v6_round(const struct lpm_state *st, unsigned mode, unsigned d, const uint64_t *hi, const uint8_t (*a)[16],
	 const struct lpm_node **node, uint32_t *leaf, uint8_t *pending, unsigned np, uint8_t *walked,
	 unsigned *nw)
{
	unsigned still = 0, done = *nw;
	for (unsigned k = 0; k < np; k++) {
		unsigned i = pending[k];
		const struct lpm_node *nd = node[i];
		unsigned slot;
		uint64_t lo = 0;
		if (mode != 0) {
			memcpy(&lo, a[i] + 8, 8);
			lo = __builtin_bswap64(lo);
		}
		if (mode == 0)
			slot = (unsigned)(hi[i] >> (64 - LPM_K - d)) & (LPM_FANOUT - 1);
		else if (mode == 1)
			slot = d + LPM_K <= 128 ? (unsigned)(lo >> (128 - LPM_K - d)) & (LPM_FANOUT - 1)
						 : (unsigned)(lo << (d + LPM_K - 128)) & (LPM_FANOUT - 1);
		else
			slot = (unsigned)((hi[i] << (d + LPM_K - 64)) | (lo >> (128 - LPM_K - d))) &
			       (LPM_FANOUT - 1);
		if (nd->vector & (1ull << slot)) {
			node[i] = &st->nodes[nd->base1 + rank_of(nd->vector, slot)];
			__builtin_prefetch(node[i]);
			pending[still++] = (uint8_t)i;
		} else {
			leaf[i] = nd->base0 + rank_of(nd->leafvec, slot);
			__builtin_prefetch(&st->leaves[leaf[i]]);
			walked[done++] = (uint8_t)i;
		}
	}
	*nw = done;
	return still;
}

void lpm6_lookup_bulk(const lpm_t *lpm, const uint8_t (*addrs)[16], uint32_t *nhs, unsigned n)
{
	const struct lpm_state *st = state_acquire(lpm);
	uint64_t hi[V6_GROUP];
	const struct lpm_node *node[V6_GROUP];
	uint32_t leaf[V6_GROUP];
	uint8_t pending[V6_GROUP], walked[V6_GROUP];
	for (unsigned base = 0; base < n; base += V6_GROUP) {
		unsigned cnt = n - base < V6_GROUP ? n - base : V6_GROUP, np = 0, nw = 0;
		const uint8_t(*a)[16] = addrs + base;
		for (unsigned i = 0; i < cnt; i++) {
			/* The low word is loaded only by walks that get past bit 64.
			 * The top table and the live blocks stay cache-resident, so
			 * they are read at once rather than prefetched first. */
			uint64_t w;
			memcpy(&w, a[i], 8);
			hi[i] = __builtin_bswap64(w);
			uint32_t dslot = (uint32_t)(hi[i] >> (64 - LPM6_S));
			uint32_t e = __atomic_load_n(&st->top[dslot >> (LPM6_S - LPM6_T)], __ATOMIC_ACQUIRE);
			if (e & TOP_BLOCK)
				e = __atomic_load_n(&st->direct[dslot], __ATOMIC_ACQUIRE);
			if (!(e & DIRECT_NODE)) {
				nhs[base + i] = st->values[e];
				continue;
			}
			node[i] = &st->nodes[e & ~DIRECT_NODE];
			__builtin_prefetch(node[i]);
			pending[np++] = (uint8_t)i;
		}
		unsigned d = LPM6_S;
		for (; np > 0 && d + LPM_K <= 64; d += LPM_K)
			np = v6_round(st, 0, d, hi, a, node, leaf, pending, np, walked, &nw);
		if (np > 0 && d < 64) {
			np = v6_round(st, 2, d, hi, a, node, leaf, pending, np, walked, &nw);
			d += LPM_K;
		}
		for (; np > 0; d += LPM_K)
			np = v6_round(st, 1, d, hi, a, node, leaf, pending, np, walked, &nw);
		for (unsigned k = 0; k < nw; k++)
			nhs[base + walked[k]] = st->values[st->leaves[leaf[walked[k]]]];
	}
}
