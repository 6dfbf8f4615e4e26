/* Minimal helpers for the C unit tests: checks that count and report, a
 * seeded PRNG, address formatting.  Each test ends with test_summary(), which
 * prints "N passed, N failed" and returns the exit status. */
#ifndef SRCFIB_TEST_UTIL_H
#define SRCFIB_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long test_passed, test_failed;

#define CHECK(cond)                                                                       \
	do {                                                                                  \
		if (cond) {                                                                       \
			test_passed++;                                                                \
		} else {                                                                          \
			test_failed++;                                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
			if (test_failed > 20)                                                         \
				exit(1);                                                                  \
		}                                                                                 \
	} while (0)

#define FAIL(...)                                                                         \
	do {                                                                                  \
		test_failed++;                                                                    \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                 \
		fprintf(stderr, __VA_ARGS__);                                                     \
		fprintf(stderr, "\n");                                                            \
		if (test_failed > 20)                                                             \
			exit(1);                                                                      \
	} while (0)

static uint64_t rnd_state = 88172645463325252ull;
static inline void rnd_seed(uint64_t s) { rnd_state = s ? s : 1; }
static inline uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (uint32_t)(rnd_state >> 11);
}

static inline void fmt_addr(char *buf, const uint8_t *a, unsigned nb)
{
	if (nb == 4) {
		sprintf(buf, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		return;
	}
	char *p = buf;
	for (unsigned i = 0; i < 16; i += 2)
		p += sprintf(p, "%s%x", i ? ":" : "", (a[i] << 8) | a[i + 1]);
}

static inline int test_summary(const char *name)
{
	printf("%s: %lu passed, %lu failed\n", name, test_passed, test_failed);
	return test_failed == 0 ? 0 : 1;
}

#endif
