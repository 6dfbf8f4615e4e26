/*
 * Readers never see a torn table.  A reader thread looks up probe addresses
 * without pause while the writer applies >= 100k inserts, replaces and
 * deletes (and a few whole-table rebuilds) to the same table.  Every answer
 * must be the correct answer of a table state that existed while that lookup
 * ran: the writer numbers its updates, the reader reads the number before and
 * after each lookup, and the check afterwards replays the update log.
 * Built with ASan (arena blocks are poisoned when reclaimed), this also shows
 * that no memory is reused before the reader has passed a quiescent state.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lpm.h"
#include "test_util.h"

#define NBG 20000     /* background routes, never changed */
#define NTOG 2000     /* toggled prefixes, pairwise disjoint */
#define PROBES_PER 3
#define NPROBE (NTOG * PROBES_PER)
#define MAX_REC (8u << 20)

struct pfx {
	uint8_t a[16];
	unsigned len;
	uint32_t nh;
};

static struct pfx bg[NBG], tog[NTOG];
static uint8_t probe[NPROBE][16];
/* expected answer of each probe with its toggle off / on with value A / on with value B */
static uint32_t expect[NPROBE][3];

static unsigned nb, fam;
static lpm_t *table;
static rcu_qsbr_t *rcu;
static unsigned long gen; /* number of completed updates */
static int stop;

static uint32_t *op_tog;    /* op k touched toggle op_tog[k] ... */
static uint8_t *op_state;   /* ... leaving it in this state (0 off, 1 A, 2 B); 255 = rebuild */

struct rec {
	uint32_t probe;
	uint32_t g1, g2;
	uint32_t got;
};
static struct rec *recs;
static unsigned long nrec, nlookups;

static int match(const uint8_t *p, unsigned len, const uint8_t *a)
{
	for (unsigned i = 0; i < len / 8; i++)
		if (p[i] != a[i])
			return 0;
	if (len % 8 == 0)
		return 1;
	uint8_t m = (uint8_t)(0xFF << (8 - len % 8));
	return (p[len / 8] & m) == (a[len / 8] & m);
}

static void rand_prefix(struct pfx *p, unsigned minlen, unsigned maxlen)
{
	for (unsigned i = 0; i < nb; i++)
		p->a[i] = (uint8_t)rnd();
	if (nb == 16)
		p->a[0] = 0x20; /* keep IPv6 dense enough to nest */
	else
		p->a[0] = (uint8_t)(10 + rnd() % 4);
	p->len = minlen + rnd() % (maxlen - minlen + 1);
	for (unsigned i = 0; i < nb; i++) {
		unsigned bits = p->len > 8 * i ? p->len - 8 * i : 0;
		if (bits < 8)
			p->a[i] &= (uint8_t)(bits == 0 ? 0 : 0xFF << (8 - bits));
	}
}

static int overlap(const struct pfx *x, const struct pfx *y)
{
	return x->len <= y->len ? match(x->a, x->len, y->a) : match(y->a, y->len, x->a);
}

static uint32_t lookup_one(const uint8_t *a)
{
	if (fam == 4)
		return lpm4_lookup(table, (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3]);
	return lpm6_lookup(table, a);
}

static void *reader(void *arg)
{
	(void)arg;
	int id = rcu_qsbr_reader_register(rcu);
	rcu_qsbr_online(rcu, id);
	unsigned i = 0;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		uint32_t p = rnd() % NPROBE; /* rnd() is racy across threads, which is harmless here */
		unsigned long g1 = __atomic_load_n(&gen, __ATOMIC_ACQUIRE);
		uint32_t got;
		if (i & 1) {
			got = lookup_one(probe[p]);
		} else if (fam == 4) {
			uint32_t h = (uint32_t)probe[p][0] << 24 | (uint32_t)probe[p][1] << 16 |
			             (uint32_t)probe[p][2] << 8 | probe[p][3];
			lpm4_lookup_bulk(table, &h, &got, 1);
		} else {
			lpm6_lookup_bulk(table, (const uint8_t(*)[16])probe[p], &got, 1);
		}
		unsigned long g2 = __atomic_load_n(&gen, __ATOMIC_ACQUIRE);
		if (nrec < MAX_REC)
			recs[nrec++] = (struct rec){p, (uint32_t)g1, (uint32_t)g2, got};
		nlookups++;
		if ((++i & 15) == 0)
			rcu_qsbr_quiescent(rcu, id);
	}
	rcu_qsbr_offline(rcu, id);
	rcu_qsbr_reader_unregister(rcu, id);
	return NULL;
}

static void rebuild_current(const uint8_t *state)
{
	size_t n = 0;
	uint8_t *addrs = malloc((NBG + NTOG) * 16);
	uint8_t *lens = malloc(NBG + NTOG);
	uint32_t *nhs = malloc((NBG + NTOG) * 4);
	for (unsigned i = 0; i < NBG; i++, n++) {
		memcpy(addrs + n * nb, bg[i].a, nb);
		lens[n] = (uint8_t)bg[i].len;
		nhs[n] = bg[i].nh;
	}
	for (unsigned i = 0; i < NTOG; i++)
		if (state[i] != 0) {
			memcpy(addrs + n * nb, tog[i].a, nb);
			lens[n] = (uint8_t)tog[i].len;
			nhs[n++] = tog[i].nh + (state[i] == 2 ? 5000 : 0);
		}
	CHECK(lpm_table_build(table, n, addrs, lens, nhs) == LPM_OK);
	free(addrs);
	free(lens);
	free(nhs);
}

static void run(unsigned family, unsigned nops)
{
	fam = family;
	nb = family == 4 ? 4 : 16;
	gen = 0;
	stop = 0;
	nrec = nlookups = 0;
	/* background: nested, random */
	for (unsigned i = 0; i < NBG; i++) {
		rand_prefix(&bg[i], family == 4 ? 8 : 16, family == 4 ? 32 : 64);
		bg[i].nh = rnd() % 1000;
	}
	/* toggles: disjoint from each other, freely nested with the background */
	for (unsigned i = 0; i < NTOG; i++) {
		for (;;) {
			rand_prefix(&tog[i], family == 4 ? 12 : 20, family == 4 ? 30 : 56);
			/* a quarter of the IPv6 toggles lie in 3000::/4, where no background route is:
			 * their direct-table blocks come to life and collapse while readers look up */
			if (family == 6 && i % 4 == 0)
				tog[i].a[0] = (uint8_t)(0x30 | (rnd() & 15));
			int ok = 1;
			for (unsigned j = 0; j < i && ok; j++)
				ok = !overlap(&tog[i], &tog[j]);
			for (unsigned j = 0; j < NBG && ok; j++) /* exact duplicates of background would not toggle */
				ok = !(bg[j].len == tog[i].len && match(bg[j].a, bg[j].len, tog[i].a));
			if (ok)
				break;
		}
		tog[i].nh = 1000 + i;
	}
	for (unsigned i = 0; i < NPROBE; i++) {
		const struct pfx *t = &tog[i / PROBES_PER];
		for (unsigned b = 0; b < nb; b++) {
			unsigned bits = t->len > 8 * b ? t->len - 8 * b : 0;
			uint8_t host = bits >= 8 ? 0 : (uint8_t)(0xFFu >> bits);
			uint8_t fill = i % PROBES_PER == 0 ? 0 : i % PROBES_PER == 1 ? 0xFF : (uint8_t)rnd();
			probe[i][b] = (uint8_t)((t->a[b] & ~host) | (fill & host));
		}
		int best = -1;
		uint32_t off = LPM_MISS;
		for (unsigned j = 0; j < NBG; j++)
			if ((int)bg[j].len >= best && match(bg[j].a, bg[j].len, probe[i])) { /* later duplicates win, as in lpm_table_build */
				best = (int)bg[j].len;
				off = bg[j].nh;
			}
		int tog_wins = (int)t->len > best;
		expect[i][0] = off;
		expect[i][1] = tog_wins ? t->nh : off;
		expect[i][2] = tog_wins ? t->nh + 5000 : off;
	}

	rcu = rcu_qsbr_create();
	table = lpm_table_create((int)family, rcu);
	uint8_t state[NTOG] = {0};
	rebuild_current(state);
	op_tog = malloc(nops * sizeof(*op_tog));
	op_state = malloc(nops);
	recs = malloc(MAX_REC * sizeof(*recs));

	pthread_t th;
	pthread_create(&th, NULL, reader, NULL);
	unsigned long adds = 0, dels = 0, reps = 0;
	for (unsigned k = 0; k < nops; k++) {
		if (k % 25000 == 12345) {
			rebuild_current(state);
			op_tog[k] = 0;
			op_state[k] = 255;
		} else {
			unsigned i = rnd() % NTOG;
			uint8_t next = (uint8_t)((state[i] + 1) % 3);
			int rc;
			if (next == 0) {
				rc = lpm_route_delete(table, tog[i].a, tog[i].len, NULL);
				dels++;
			} else {
				rc = lpm_route_add(table, tog[i].a, tog[i].len, tog[i].nh + (next == 2 ? 5000 : 0), NULL);
				next == 1 ? adds++ : reps++;
			}
			CHECK(rc == LPM_OK);
			state[i] = next;
			op_tog[k] = i;
			op_state[k] = next;
		}
		__atomic_store_n(&gen, (unsigned long)k + 1, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	lpm_table_reclaim(table, 1);

	/* Replay: per toggle, the ops that touched it in order. */
	unsigned *cnt = calloc(NTOG + 1, sizeof(unsigned));
	for (unsigned k = 0; k < nops; k++)
		if (op_state[k] != 255)
			cnt[op_tog[k] + 1]++;
	for (unsigned i = 0; i < NTOG; i++)
		cnt[i + 1] += cnt[i];
	unsigned *ops_of = malloc(nops * sizeof(unsigned));
	unsigned *fill = calloc(NTOG, sizeof(unsigned));
	for (unsigned k = 0; k < nops; k++)
		if (op_state[k] != 255) {
			unsigned i = op_tog[k];
			ops_of[cnt[i] + fill[i]++] = k;
		}
	unsigned long bad = 0, changed_during = 0;
	for (unsigned long r = 0; r < nrec; r++) {
		const struct rec *x = &recs[r];
		unsigned i = x->probe / PROBES_PER;
		unsigned *o = ops_of + cnt[i], no = cnt[i + 1] - cnt[i];
		/* state before op g1: the last op on i with index < g1 */
		unsigned lo = 0, hi = no;
		while (lo < hi) {
			unsigned mid = (lo + hi) / 2;
			if (o[mid] < x->g1)
				lo = mid + 1;
			else
				hi = mid;
		}
		int ok = x->got == expect[x->probe][lo == 0 ? 0 : op_state[o[lo - 1]]];
		/* ops g1..g2 may have been in progress or done during the lookup */
		for (unsigned j = lo; j < no && o[j] <= x->g2 && !ok; j++)
			ok = x->got == expect[x->probe][op_state[o[j]]];
		if (lo < no && o[lo] <= x->g2)
			changed_during++;
		if (!ok && bad++ < 5)
			fprintf(stderr, "probe %u: got %u, gens %u..%u, expected one of off=%u A=%u B=%u\n",
			        x->probe, x->got, x->g1, x->g2, expect[x->probe][0], expect[x->probe][1],
			        expect[x->probe][2]);
	}
	CHECK(bad == 0);
	CHECK(adds + dels >= 100000 || nops < 150000);
	CHECK(nlookups > 0);
	printf("IPv%u: %u updates (%lu inserts, %lu replaces, %lu deletes, %u rebuilds), %lu lookups, "
	       "%lu checked, %lu overlapped an update of their prefix, %lu wrong\n",
	       family, nops, adds, reps, dels, nops / 25000, nlookups, nrec, changed_during, bad);
	free(cnt);
	free(ops_of);
	free(fill);
	free(op_tog);
	free(op_state);
	free(recs);
	lpm_table_destroy(table);
	rcu_qsbr_destroy(rcu);
}

int main(int argc, char **argv)
{
	unsigned nops = argc > 1 ? (unsigned)atoi(argv[1]) : 160000;
	rnd_seed(777);
	run(4, nops);
	run(6, nops);
	return test_summary("test_lpm_rcu");
}
