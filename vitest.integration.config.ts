import { defineConfig } from "vitest/config";

// Integration tests: network namespaces, real DPDK, root. One file at a time (each runs a
// dataplane with a busy-polling worker lcore), after the unit tests.
export default defineConfig({
  test: {
    include: ["test/integration/**/*.test.ts"],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: "forks",
    fileParallelism: false,
  },
});
