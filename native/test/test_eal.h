/* EAL for the C tests that need DPDK: one lcore, no hugepages, no shared config, no PCI. */
#ifndef SRCFIB_TEST_EAL_H
#define SRCFIB_TEST_EAL_H

#include <stdio.h>

#include <rte_eal.h>
#include <rte_errno.h>

/* mem_mb: EAL memory as its text ("256"). 0, or -1 with the reason on stderr. */
static inline int test_eal_init(char *argv0, char *mem_mb)
{
	char *eal[] = {argv0, "-l", "0", "--no-huge", "--no-shconf", "-m", mem_mb, "--no-pci", "--no-telemetry",
	               "--log-level=error", NULL};
	if (rte_eal_init((int)(sizeof eal / sizeof eal[0]) - 1, eal) < 0) {
		fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

#endif
