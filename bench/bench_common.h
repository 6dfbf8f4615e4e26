/*
 * bench_common — what the benchmark binaries share: error exits, a seeded
 * xoshiro256** generator, and the prefix table loader (gzip or plain text,
 * one prefix per line; host bits masked, duplicates dropped, sorted, next
 * hops assigned by an FNV-1a hash of the prefix modulo bench_nh_count).
 */
#ifndef SRCFIB_BENCH_COMMON_H
#define SRCFIB_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LOG(...) do { fprintf(stderr, __VA_ARGS__); fflush(stderr); } while (0)

void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* EAL as every benchmark here runs it: one lcore, no hugepages, no shared config, no PCI; dies
 * on failure.  The arguments (without argv[0]) go to args, for the benchmark's JSON. */
void bench_eal_init(const char *argv0, unsigned lcore, unsigned mem_mb, char *args, size_t argslen);
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
double now_s(void);
/* The CPU's "model name" from /proc/cpuinfo, or "unknown". */
void bench_cpu_model(char *buf, size_t n);
extern volatile uint64_t g_sink;

extern uint64_t rng_s[4];
void rng_seed(uint64_t seed);
static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}
static inline uint64_t rng_next(void)
{
	uint64_t r = rotl(rng_s[1] * 5, 7) * 9;
	uint64_t t = rng_s[1] << 17;
	rng_s[2] ^= rng_s[0];
	rng_s[3] ^= rng_s[1];
	rng_s[1] ^= rng_s[2];
	rng_s[0] ^= rng_s[3];
	rng_s[2] ^= t;
	rng_s[3] = rotl(rng_s[3], 45);
	return r;
}

static inline uint64_t rng_below(uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next() * n) >> 64);
}

static inline uint32_t mask4(unsigned len)
{
	return len == 0 ? 0 : 0xFFFFFFFFu << (32 - len);
}

void mask6(uint8_t a[16], unsigned len);
uint32_t fnv1a(const uint8_t *p, size_t n, uint8_t len);

struct pfx4 {
	uint32_t addr; /* host order */
	uint8_t len;
	uint32_t nh;
};

struct pfx6 {
	uint8_t addr[16];
	uint8_t len;
	uint32_t nh;
};

extern unsigned bench_nh_count; /* next hops are hash % bench_nh_count */
extern struct pfx4 *tab4;
extern size_t n4;
extern struct pfx6 *tab6;
extern size_t n6;
extern size_t n_lines, n_bad, n_masked, n_dup4, n_dup6;
void load_prefixes(const char *path);
int cmp4(const void *a, const void *b);
int cmp6(const void *a, const void *b);
uint32_t nh4(uint32_t addr, uint8_t len);
uint32_t nh6(const uint8_t addr[16], uint8_t len);
bool in_tab4(uint32_t addr, uint8_t len);
bool in_tab6(const uint8_t addr[16], uint8_t len);

#endif
