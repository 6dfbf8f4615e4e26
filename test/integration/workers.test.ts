/**
 * Two worker lcores: af_packet ports with two queue pairs each (the kernel spreads flows over
 * them by hash, DPDK's RSS equivalent for this PMD) and every TAP polled by both workers. The
 * lab's traffic must be forwarded exactly as with one worker, and both workers must carry part
 * of it. On this 2-CPU machine the two workers share CPU 1 (lcores 0@0,1@1,2@1).
 *
 * Needs root; without it the test fails and says so.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADDR, Lab, labConfig } from "../../src/api/lab.js";

const isRoot = process.getuid?.() === 0;
let lab: Lab;

beforeAll(async () => {
  if (!isRoot) throw new Error("the integration tests build network namespaces and run DPDK: run them as root (CI does)");
  lab = new Lab(`sfw${process.pid % 10000}`);
  lab.build();
  const cfg = labConfig(lab.statusFile)
    .replace("workers: 1", 'workers: 2\n  lcores: "0@0,1@1,2@1"')
    .replace(/iface=(lan|ispa|ispb)/g, "iface=$1,qpairs=2");
  await lab.startDaemon(cfg);
  lab.warmUp(5);
}, 120000);

afterAll(async () => {
  if (!lab) return;
  try {
    await lab.stopDaemon();
  } finally {
    lab.destroy();
  }
});

describe("two workers", () => {
  it("forwards the lab's traffic by source and spreads flows over both workers", async () => {
    expect(lab.status()!.counters.workers).toHaveLength(2);
    for (const dst of [ADDR.a4, ADDR.b4, ADDR.a6, ADDR.b6]) {
      const r = lab.ping(lab.ns.cli, dst, { count: 20, interval: 0.01 });
      expect(r.received, `${dst}: ${r.out}`).toBe(20);
    }
    const before = await lab.freshStatus();
    // 400 UDP flows from the client to the server (distinct source ports): the kernel's flow
    // hash puts them on both queues of the ISP-A port.
    const py = `
import socket, time
for i in range(400):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("${ADDR.cli4}", 40000 + i))
    s.sendto(b"w", ("${ADDR.a4}", 9))
    s.close()
    time.sleep(0.0005)
`;
    lab.run(lab.ns.cli, "/usr/bin/python3", "-c", py);
    await new Promise((r) => setTimeout(r, 500));
    const after = await lab.freshStatus();
    const w = after.counters.workers.map((n, i) => n - (before.counters.workers[i] ?? 0));
    expect(w[0]! + w[1]!).toBeGreaterThanOrEqual(400);
    expect(w[0], `per-worker packets ${JSON.stringify(w)}`).toBeGreaterThan(40);
    expect(w[1], `per-worker packets ${JSON.stringify(w)}`).toBeGreaterThan(40);
  });
});
