/* bench_common — see bench_common.h. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "bench_common.h"

unsigned bench_nh_count = 500;

void bench_eal_init(const char *argv0, unsigned lcore, unsigned mem_mb, char *args, size_t argslen)
{
	char mem[16], lc[16];
	snprintf(mem, sizeof mem, "%u", mem_mb);
	snprintf(lc, sizeof lc, "%u", lcore);
	char *argv[] = {(char *)argv0, "-l", lc, "--no-huge", "--no-shconf", "-m", mem, "--no-pci", "--no-telemetry",
	                "--log-level=error", NULL};
	int argc = (int)(sizeof argv / sizeof argv[0]) - 1;
	size_t off = 0;
	for (int i = 1; i < argc && off < argslen; i++)
		off += (size_t)snprintf(args + off, argslen - off, "%s%s", i > 1 ? " " : "", argv[i]);
	if (rte_eal_init(argc, argv) < 0)
		die("rte_eal_init: %s", rte_strerror(rte_errno));
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", program_invocation_short_name);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

volatile uint64_t g_sink;

/* xoshiro256** seeded by splitmix64 */
uint64_t rng_s[4];

uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void rng_seed(uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		rng_s[i] = splitmix64(&seed);
}



uint32_t fnv1a(const uint8_t *p, size_t n, uint8_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	h ^= len;
	h *= 16777619u;
	return h;
}


void mask6(uint8_t a[16], unsigned len)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = len >= 8 * (i + 1) ? 8 : (len > 8 * i ? len - 8 * i : 0);
		a[i] &= (uint8_t)(0xFF00u >> bits);
	}
}

struct pfx4 *tab4;
size_t n4;
struct pfx6 *tab6;
size_t n6;
size_t n_lines, n_bad, n_masked, n_dup4, n_dup6;

int cmp4(const void *a, const void *b)
{
	const struct pfx4 *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (int)x->len - (int)y->len;
}

int cmp6(const void *a, const void *b)
{
	const struct pfx6 *x = a, *y = b;
	int c = memcmp(x->addr, y->addr, 16);
	if (c)
		return c;
	return (int)x->len - (int)y->len;
}

uint32_t nh4(uint32_t addr, uint8_t len)
{
	uint32_t be = htonl(addr);
	return fnv1a((const uint8_t *)&be, 4, len) % bench_nh_count;
}

uint32_t nh6(const uint8_t addr[16], uint8_t len)
{
	return fnv1a(addr, 16, len) % bench_nh_count;
}

void load_prefixes(const char *path)
{
	struct stat sb;
	if (stat(path, &sb) != 0)
		die("cannot read %s: %s", path, strerror(errno));

	int fds[2];
	if (pipe(fds) != 0)
		die("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execlp("zcat", "zcat", "-f", "--", path, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	if (!f)
		die("fdopen: %s", strerror(errno));

	size_t cap4 = 1 << 20, cap6 = 1 << 18;
	tab4 = xmalloc(cap4 * sizeof(*tab4));
	tab6 = xmalloc(cap6 * sizeof(*tab6));
	char *line = NULL;
	size_t lcap = 0;
	ssize_t got;
	while ((got = getline(&line, &lcap, f)) >= 0) {
		char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		char *e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = 0;
		if (!*s || *s == '#')
			continue;
		n_lines++;
		char *slash = strchr(s, '/');
		if (!slash) {
			n_bad++;
			continue;
		}
		*slash = 0;
		char *end;
		unsigned long len = strtoul(slash + 1, &end, 10);
		if (*end || end == slash + 1) {
			n_bad++;
			continue;
		}
		if (strchr(s, ':')) {
			uint8_t a[16], m[16];
			if (len > 128 || inet_pton(AF_INET6, s, a) != 1) {
				n_bad++;
				continue;
			}
			memcpy(m, a, 16);
			mask6(m, len);
			if (memcmp(m, a, 16))
				n_masked++;
			if (n6 == cap6)
				tab6 = xrealloc(tab6, (cap6 *= 2) * sizeof(*tab6));
			memcpy(tab6[n6].addr, m, 16);
			tab6[n6].len = (uint8_t)len;
			n6++;
		} else {
			struct in_addr ia;
			if (len > 32 || inet_pton(AF_INET, s, &ia) != 1) {
				n_bad++;
				continue;
			}
			uint32_t a = ntohl(ia.s_addr);
			uint32_t m = a & mask4(len);
			if (m != a)
				n_masked++;
			if (n4 == cap4)
				tab4 = xrealloc(tab4, (cap4 *= 2) * sizeof(*tab4));
			tab4[n4].addr = m;
			tab4[n4].len = (uint8_t)len;
			n4++;
		}
	}
	free(line);
	fclose(f);
	int status;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("zcat -f %s failed", path);

	qsort(tab4, n4, sizeof(*tab4), cmp4);
	size_t w = 0;
	for (size_t i = 0; i < n4; i++) {
		if (w && !cmp4(&tab4[w - 1], &tab4[i])) {
			n_dup4++;
			continue;
		}
		tab4[w++] = tab4[i];
	}
	n4 = w;
	qsort(tab6, n6, sizeof(*tab6), cmp6);
	w = 0;
	for (size_t i = 0; i < n6; i++) {
		if (w && !cmp6(&tab6[w - 1], &tab6[i])) {
			n_dup6++;
			continue;
		}
		tab6[w++] = tab6[i];
	}
	n6 = w;
	for (size_t i = 0; i < n4; i++)
		tab4[i].nh = nh4(tab4[i].addr, tab4[i].len);
	for (size_t i = 0; i < n6; i++)
		tab6[i].nh = nh6(tab6[i].addr, tab6[i].len);
	LOG("prefixes: %zu lines, %zu IPv4, %zu IPv6 (bad %zu, host bits masked %zu, duplicates %zu/%zu)\n",
	    n_lines, n4, n6, n_bad, n_masked, n_dup4, n_dup6);
}

bool in_tab4(uint32_t addr, uint8_t len)
{
	struct pfx4 k = {.addr = addr, .len = len};
	return bsearch(&k, tab4, n4, sizeof(*tab4), cmp4) != NULL;
}

bool in_tab6(const uint8_t addr[16], uint8_t len)
{
	struct pfx6 k = {.len = len};
	memcpy(k.addr, addr, 16);
	return bsearch(&k, tab6, n6, sizeof(*tab6), cmp6) != NULL;
}

/* ------------------------------------------------------------------ */
/* results */

void bench_cpu_model(char *buf, size_t n)
{
	snprintf(buf, n, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10)) {
			char *c = strchr(line, ':');
			if (c) {
				c++;
				while (*c == ' ' || *c == '\t')
					c++;
				c[strcspn(c, "\n")] = 0;
				snprintf(buf, n, "%s", c);
			}
			break;
		}
	}
	fclose(f);
}
