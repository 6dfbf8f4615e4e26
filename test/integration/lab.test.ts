/**
 * End to end through real hosts: seed 003's site in network namespaces (src/api/lab.ts), srcfib
 * running as its router on af_packet ports with TAPs, real kernels on every other box.
 *
 * Needs root (namespaces, DPDK). Without root every test fails with the reason: nothing is
 * skipped silently.
 */
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADDR, Lab, labConfig, type LabVariant } from "../../src/api/lab.js";
import type { Status } from "../../src/api/daemon.js";
import { ApiClient, Session, type Msg } from "../../src/api/client.js";
import { codeOf } from "../support/api.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

const isRoot = process.getuid?.() === 0;
let lab: Lab;

function fibPkts(s: Status, fib: string): number {
  return s.counters.fibs[fib] ?? 0;
}
function txPkts(s: Status, port: string): number {
  return s.counters.ports[port]?.tx_pkts ?? 0;
}
function adjPkts(s: Status, via: string): number {
  return s.counters.adjacencies.find((a) => a.via === via)?.pkts ?? 0;
}
function drop(s: Status, reason: string): number {
  return s.counters.drops[reason] ?? 0;
}

/** Runs a node script in a namespace in the background; resolves when it prints `ready`. */
function background(ns: string, script: string, args: string[]): Promise<{ done: Promise<string>; kill: () => void }> {
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const done = new Promise<string>((resolve) => child.once("exit", () => resolve(out)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${ns}: background script not ready: ${out}`)), 10000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("ready")) {
        clearTimeout(timer);
        resolve({ done, kill: () => child.kill("SIGKILL") });
      }
    });
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  });
}

const TCP_SERVER = `
const net = require("net"), crypto = require("crypto");
const [host, port] = process.argv.slice(1);
const srv = net.createServer((s) => {
  const h = crypto.createHash("sha256"); let n = 0;
  s.on("data", (d) => { h.update(d); n += d.length; });
  s.on("end", () => s.end(JSON.stringify({ n, sha: h.digest("hex") })));
});
srv.listen(Number(port), host, () => console.log("ready"));
setTimeout(() => process.exit(3), 60000).unref();
`;

const TCP_CLIENT = `
const net = require("net"), crypto = require("crypto");
const [host, port, size] = process.argv.slice(1);
const buf = crypto.randomBytes(Number(size));
const sha = crypto.createHash("sha256").update(buf).digest("hex");
const s = net.connect({ host, port: Number(port) }, () => s.end(buf));
let reply = ""; s.on("data", (d) => (reply += d));
s.on("end", () => { console.log(JSON.stringify({ sha, reply: JSON.parse(reply) })); process.exit(0); });
s.on("error", (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(1); });
setTimeout(() => { console.log(JSON.stringify({ error: "timeout" })); process.exit(2); }, 45000);
`;

async function tcpTransfer(serverAddr: string, port: number, size: number): Promise<{ sha: string; reply?: { n: number; sha: string }; error?: string }> {
  const srv = await background(lab.ns.srv, TCP_SERVER, [serverAddr, String(port)]);
  try {
    const r = lab.exec(lab.ns.cli, [process.execPath, "-e", TCP_CLIENT, serverAddr, String(port), String(size)], 60000);
    return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { sha: string; reply?: { n: number; sha: string }; error?: string };
  } finally {
    srv.kill();
  }
}

/** Sends one UDP datagram from each of n source ports (a distinct flow each). */
function udpFlows(ns: string, src: string, dst: string, dport: number, n: number, sportBase = 20000): void {
  const py = `
import socket, sys, time
src, dst, dport, n, base = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
for i in range(n):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((src, base + i))
    s.sendto(b"srcfib-flow", (dst, dport))
    s.close()
    time.sleep(0.0002)  # about 3000 flows/s: the point is the split, not the af_packet ring
`;
  lab.run(ns, "/usr/bin/python3", "-c", py, src, dst, String(dport), String(n), String(sportBase));
}

async function settle(): Promise<Status> {
  // Two status periods with no change in the counters: nothing in flight.
  let prev = await lab.freshStatus(1500);
  for (let i = 0; i < 20; i++) {
    const s = await lab.freshStatus(1500);
    if (JSON.stringify(s.counters) === JSON.stringify(prev.counters)) return s;
    prev = s;
  }
  return prev;
}

beforeAll(async () => {
  if (!isRoot) throw new Error("the integration tests build network namespaces and run DPDK: run them as root (CI does)");
  lab = new Lab(`sft${process.pid % 10000}`);
  lab.build();
  await lab.startDaemon();
  lab.warmUp();
}, 120000);

afterAll(async () => {
  if (!lab) return;
  try {
    await lab.stopDaemon();
  } finally {
    lab.destroy();
  }
});

describe("seed 003 site through srcfib", () => {
  it("answers ping to both server addresses, IPv4 and IPv6", () => {
    for (const dst of [ADDR.a4, ADDR.b4, ADDR.a6, ADDR.b6]) {
      const r = lab.ping(lab.ns.cli, dst, { count: 10, interval: 0.02 });
      expect(r.received, `${dst}: ${r.out}`).toBe(10);
      expect(r.out).not.toMatch(/duplicates/);
    }
  });

  it("routes replies by source: addr(A) via ISP-A, addr(B) via ISP-B", async () => {
    for (const [dst, fib, port, other] of [
      [ADDR.a4, "via-a", "ispa", "ispb"],
      [ADDR.b4, "via-b", "ispb", "ispa"],
      [ADDR.a6, "via-a", "ispa", "ispb"],
      [ADDR.b6, "via-b", "ispb", "ispa"],
    ] as const) {
      const before = await settle();
      const r = lab.ping(lab.ns.cli, dst, { count: 50, interval: 0.01 });
      expect(r.received, r.out).toBe(50);
      const after = await settle();
      expect(fibPkts(after, fib) - fibPkts(before, fib), `${dst} replies in ${fib}`).toBeGreaterThanOrEqual(50);
      expect(txPkts(after, port) - txPkts(before, port), `${dst} replies out of ${port}`).toBeGreaterThanOrEqual(50);
      expect(txPkts(after, other) - txPkts(before, other), `${dst} nothing of it out of ${other}`).toBeLessThan(5);
    }
  });

  it("carries a TCP transfer intact, IPv4 and IPv6 (PMTU discovery over ISP-A's 1400-byte link)", async () => {
    for (const [addr, port] of [
      [ADDR.a4, 5101],
      [ADDR.b4, 5102],
      [ADDR.a6, 5103],
      [ADDR.b6, 5104],
    ] as const) {
      const r = await tcpTransfer(addr, port, 4 << 20);
      expect(r.error, `${addr}`).toBeUndefined();
      expect(r.reply?.n).toBe(4 << 20);
      expect(r.reply?.sha).toBe(r.sha);
    }
  });

  it("sends ICMP time exceeded when the TTL / hop limit runs out", () => {
    const v4 = lab.ping(lab.ns.srv, ADDR.cli4, { count: 1, ttl: 1 });
    expect(v4.out).toMatch(/From 198\.51\.100\.1 .*Time to live exceeded/);
    const v6 = lab.ping(lab.ns.srv, ADDR.cli6, { count: 1, ttl: 1 });
    expect(v6.out).toMatch(/From 2001:db8:a::1 .*Time exceeded: Hop limit/);
  });

  it("sends destination unreachable for no route and for prohibit routes", async () => {
    const before = await settle();
    const v4 = lab.ping(lab.ns.srv, ADDR.cli4, { count: 1, src: ADDR.c4 });
    expect(v4.out).toMatch(/From 198\.51\.100\.1 .*Destination Net Unreachable/);
    const v6 = lab.ping(lab.ns.srv, ADDR.cli6, { count: 1, src: ADDR.c6 });
    expect(v6.out).toMatch(/From 2001:db8:a::1 .*Destination unreachable: No route/);
    const p4 = lab.ping(lab.ns.srv, "10.250.0.1", { count: 1, src: ADDR.a4 });
    expect(p4.out).toMatch(/From 198\.51\.100\.1 .*(Packet filtered|Communication administratively prohibited)/);
    const p6 = lab.ping(lab.ns.srv, "2001:db8:250::1", { count: 1, src: ADDR.a6 });
    expect(p6.out).toMatch(/From 2001:db8:a::1 .*Destination unreachable: Administratively prohibited/);
    const after = await settle();
    expect(drop(after, "no_route") - drop(before, "no_route")).toBe(2);
    expect(drop(after, "prohibit") - drop(before, "prohibit")).toBe(2);
  });

  it("sends fragmentation needed / packet too big over the egress MTU, and fragments without DF", async () => {
    const v4 = lab.ping(lab.ns.srv, ADDR.cli4, { count: 1, size: 1450, dontFrag: true });
    expect(v4.out).toMatch(/mtu ?= ?1400/i);
    const v6 = lab.ping(lab.ns.srv, ADDR.cli6, { count: 1, size: 1450 });
    expect(v6.out).toMatch(/(Packet too big: mtu=1400|mtu ?= ?1400)/i);
    // Linux caches the PMTU learned above and would fragment itself; clear it so the router must.
    lab.run(lab.ns.srv, "ip", "route", "flush", "cache");
    const before = await settle();
    const nodf = lab.exec(lab.ns.srv, ["ping", "-n", "-c", "3", "-i", "0.1", "-W", "1", "-M", "dont", "-s", "1450", ADDR.cli4]);
    expect(nodf.stdout).toMatch(/3 received/);
    const after = await settle();
    const ispa = (s: Status): Record<string, number> => s.counters.ports.ispa ?? {};
    expect((ispa(after).frag_pkts ?? 0) - (ispa(before).frag_pkts ?? 0)).toBeGreaterThanOrEqual(3);
    expect((ispa(after).frag_created ?? 0) - (ispa(before).frag_created ?? 0)).toBeGreaterThanOrEqual(6);
  });

  it("lets sub-FIB rules pick different next hops for the same destination", async () => {
    // A second gateway address on ISP-A's router; UDP to ports 7000-7010 from addr(A) takes it.
    lab.run(lab.ns.ispa, "ip", "addr", "add", "10.1.0.3/24", "dev", "rtr");
    const variant: LabVariant = {
      viaA: [
        "    subfibs:",
        "      - name: alt",
        "        routes:",
        "          - { prefix: 0.0.0.0/0, nexthops: [{ via: 10.1.0.3, port: ispa }] }",
        "    rules:",
        "      - { subfib: alt, protocol: udp, dport: 7000-7010, source: 198.51.100.0/24 }",
      ].join("\n") + "\n",
    };
    await lab.reload(labConfig(lab.statusFile, variant));
    // Nothing has talked to 10.1.0.3 yet: the first packets find its adjacency unresolved, are
    // counted as such, and make the daemon ask the kernel to resolve it (ARP out of the TAP).
    const fresh = await settle();
    expect(fresh.neighbours.some((n) => n.address === "10.1.0.3")).toBe(false);
    udpFlows(lab.ns.srv, ADDR.a4, ADDR.cli4, 7005, 3);
    await new Promise((r) => setTimeout(r, 1500));
    const before = await settle();
    expect(drop(before, "adj_unresolved") - drop(fresh, "adj_unresolved")).toBeGreaterThanOrEqual(1);
    expect(before.neighbours).toContainEqual(expect.objectContaining({ address: "10.1.0.3", port: "ispa" }));
    udpFlows(lab.ns.srv, ADDR.a4, ADDR.cli4, 7005, 100, 30000);
    const ping = lab.ping(lab.ns.srv, ADDR.cli4, { count: 20, src: ADDR.a4, interval: 0.01 });
    expect(ping.received).toBe(20);
    const after = await settle();
    expect(adjPkts(after, "10.1.0.3") - adjPkts(before, "10.1.0.3")).toBe(100);
    expect(adjPkts(after, "10.1.0.2") - adjPkts(before, "10.1.0.2")).toBeGreaterThanOrEqual(20);
    expect(adjPkts(after, "10.1.0.2") - adjPkts(before, "10.1.0.2")).toBeLessThan(40);
    expect((after.counters.rules["via-a#0"] ?? 0) - (before.counters.rules["via-a#0"] ?? 0)).toBe(100);
    expect((after.counters.subfibs["via-a.alt"] ?? 0) - (before.counters.subfibs["via-a.alt"] ?? 0)).toBe(100);
    await lab.reload(labConfig(lab.statusFile));
    // a new FIB with a rule and a sub-FIB of its own takes the ids the ones above left: it counts
    // from 0 (rule ids follow the order of the plan, sub-FIB ids are handed out again)
    await lab.reload(
      labConfig(lab.statusFile, {
        extraFibs: [
          "  - name: extra",
          "    routes: []",
          "    subfibs:",
          "      - name: side",
          "        routes: []",
          "    rules:",
          "      - { subfib: side, protocol: udp, dport: 9999 }",
        ].join("\n") + "\n",
      }),
    );
    const reused = await settle();
    expect(reused.counters.rules).toEqual({ "extra#0": 0 });
    const extraSubs = Object.entries(reused.counters.subfibs).filter(([k]) => k.startsWith("extra."));
    expect(extraSubs.length, JSON.stringify(reused.counters.subfibs)).toBe(2);
    expect(extraSubs.every(([, v]) => v === 0), JSON.stringify(extraSubs)).toBe(true);
    await lab.reload(labConfig(lab.statusFile));
  });

  it("splits 4000 flows over weighted ECMP next hops within 5% of the weights (1:3)", async () => {
    await lab.reload(
      labConfig(lab.statusFile, {
        isolatedRoutes: `      - { prefix: ${ADDR.cli4}/32, nexthops: [{ via: ${ADDR.ispa4}, port: ispa, weight: 1 }, { via: ${ADDR.ispb4}, port: ispb, weight: 3 }] }`,
      }),
    );
    const before = await settle();
    udpFlows(lab.ns.srv, ADDR.c4, ADDR.cli4, 9, 4000);
    const after = await settle();
    const a = adjPkts(after, ADDR.ispa4) - adjPkts(before, ADDR.ispa4);
    const b = adjPkts(after, ADDR.ispb4) - adjPkts(before, ADDR.ispb4);
    const drops = Object.entries(after.counters.drops).filter(([k, v]) => v !== (before.counters.drops[k] ?? 0));
    expect(a + b, `drops that changed: ${JSON.stringify(drops)}; lan rx ${(after.counters.ports.lan?.rx_pkts ?? 0) - (before.counters.ports.lan?.rx_pkts ?? 0)}`).toBe(4000);
    const shareA = a / (a + b);
    expect(Math.abs(shareA - 0.25) / 0.25, `ISP-A got ${a}, ISP-B ${b}`).toBeLessThanOrEqual(0.05);
    expect(Math.abs(1 - shareA - 0.75) / 0.75).toBeLessThanOrEqual(0.05);
    await lab.reload(labConfig(lab.statusFile));
  });

  it("changes FIBs, routes, bindings and rules live with no loss on unaffected flows", async () => {
    const flood = background(
      lab.ns.cli,
      `const { spawnSync } = require("child_process"); console.log("ready");
       const r = spawnSync("ping", ["-n", "-c", "400", "-i", "0.01", "-W", "2", process.argv[1]], { encoding: "utf8" });
       console.log(r.stdout);`,
      [ADDR.a4],
    );
    const f = await flood;
    const variants: LabVariant[] = [
      { extraFibs: "  - name: extra\n    routes:\n      - { prefix: 10.77.0.0/16, type: blackhole }\n" },
      { isolatedRoutes: "      - { prefix: 10.66.0.0/16, nexthops: [{ via: 10.2.0.2, port: ispb }] }" },
      { viaA: "    subfibs:\n      - name: alt\n        routes: []\n    rules:\n      - { subfib: alt, protocol: udp, dport: 9999 }\n" },
      {},
    ];
    for (const v of variants) {
      await lab.reload(labConfig(lab.statusFile, v));
      await new Promise((r) => setTimeout(r, 300));
    }
    const out = await f.done;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    expect(m, out).not.toBeNull();
    expect(Number(m![1])).toBe(400);
    expect(Number(m![2]), out).toBe(400);
    expect(lab.status()!.reloads).toBeGreaterThanOrEqual(4);
  });

  it("refuses a bad configuration on reload and keeps forwarding", async () => {
    const before = lab.status()!.reloads;
    lab.exec(null, ["sh", "-c", `printf 'ports: 7\\n' > ${lab.configFile}`]);
    lab.exec(null, ["kill", "-HUP", String(lab.daemonPid)]);
    await new Promise((r) => setTimeout(r, 1000));
    expect(lab.daemonLog).toMatch(/reload of .* refused, nothing changed: .*ports: must be a list/s);
    expect(lab.status()!.reloads).toBe(before);
    const r = lab.ping(lab.ns.cli, ADDR.a4, { count: 5, interval: 0.02 });
    expect(r.received).toBe(5);
  });

  it("controller failover: the primary controller process is killed mid-stream, the backup is promoted, and forwarding never stops", async () => {
    const sock = lab.statusFile.replace(/status\.json$/, "api.sock");
    const route = (via: string, port: string): Msg => ({ fib: "isolated", prefix: "0.0.0.0/0", nexthops: [{ via, port, weight: 1 }] });
    // Replies from the server's isolated address (bound to FIB "isolated", which has no route of
    // its own) forward only along the controller's route.
    expect(lab.ping(lab.ns.cli, ADDR.c4, { count: 3, interval: 0.05 }).received).toBe(0);
    // The primary: its own process, a session with 100 ms heartbeats, and the route.
    const primary = await background(
      lab.ns.cli,
      `(async () => {
         const { ApiClient, Session } = await import(process.argv[1]);
         const api = new ApiClient(process.argv[2], { client: "ctl", instance: "p1" });
         const s = new Session(api, { client: "ctl", instance: "p1", heartbeat_ms: 100, role: "ROLE_PRIMARY" });
         const w = await s.welcome;
         if (w.role !== "primary") { console.log("role " + w.role); process.exit(1); }
         await api.call("Routes", "Modify", { ops: [{ op: "OP_ADD", route: JSON.parse(process.argv[3]) }] });
         console.log("ready");
         setTimeout(() => process.exit(3), 60000);
       })().catch((e) => { console.log("failed " + e.message); process.exit(1); });`,
      [join(root, "dist", "api", "client.js"), sock, JSON.stringify(route(ADDR.ispa4, "ispa"))],
    );
    const api = new ApiClient(sock, { client: "ctl", instance: "b1" });
    const backup = new Session(api, { client: "ctl", instance: "b1", heartbeat_ms: 100, role: "ROLE_BACKUP" });
    try {
      expect(await backup.welcome).toMatchObject({ role: "backup", primary: "p1" });
      expect((await codeOf(api.call("Routes", "Modify", { ops: [{ op: "OP_REPLACE", route: route(ADDR.ispb4, "ispb") }] }))).code).toBe("PERMISSION_DENIED");
      expect(lab.ping(lab.ns.cli, ADDR.c4, { count: 3, interval: 0.05 }).received).toBe(3);
      // 400 pings 10 ms apart; the primary dies about a second in.
      const flood = await background(
        lab.ns.cli,
        `const { spawnSync } = require("child_process"); console.log("ready");
         const r = spawnSync("ping", ["-n", "-c", "400", "-i", "0.01", "-W", "2", process.argv[1]], { encoding: "utf8" });
         console.log(r.stdout);`,
        [ADDR.c4],
      );
      await new Promise((r) => setTimeout(r, 1000));
      const promoted = new Promise<Msg>((resolve) => (backup.onRole = resolve));
      const t0 = Date.now();
      primary.kill();
      const role = await promoted;
      const tookMs = Date.now() - t0;
      expect(role).toMatchObject({ client: "ctl", instance: "b1", role: "primary" });
      expect(tookMs).toBeLessThan(2000);
      const out = await flood.done;
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
      expect(m, out).not.toBeNull();
      expect(Number(m![1])).toBe(400);
      expect(Number(m![2]), `no forwarding gap across the failover (promoted after ${tookMs} ms): ${out}`).toBe(400);
      // The new primary resyncs (mark, re-add, sweep: nothing to remove), then moves the route to
      // ISP-B: it is in charge now.
      expect((await api.call("Sessions", "BeginResync", {})).stale).toBe(1);
      await api.call("Routes", "Modify", { ops: [{ op: "OP_REPLACE", route: route(ADDR.ispa4, "ispa") }] });
      expect((await api.call("Sessions", "EndResync", {})).removed).toBe(0);
      await api.call("Routes", "Modify", { ops: [{ op: "OP_REPLACE", route: route(ADDR.ispb4, "ispb") }] });
      const ex = await api.call("Explain", "Explain", { src: ADDR.c4, dst: ADDR.cli4 });
      expect(ex).toMatchObject({ fib: "isolated", prefix: "0.0.0.0/0", route_owner: "ctl", action: "forward", out_port: "ispb" });
      expect(lab.ping(lab.ns.cli, ADDR.c4, { count: 10, interval: 0.02 }).received).toBe(10);
      await api.call("Routes", "Modify", { ops: [{ op: "OP_DELETE", route: { fib: "isolated", prefix: "0.0.0.0/0" } }] });
      expect(lab.ping(lab.ns.cli, ADDR.c4, { count: 3, interval: 0.05 }).received).toBe(0);
    } finally {
      primary.kill();
      backup.close();
      api.close();
    }
  });

  it("streams counters at the requested interval and events for kernel neighbours and port link changes", async () => {
    const api = new ApiClient(lab.statusFile.replace(/status\.json$/, "api.sock"), { client: "watch" });
    const events: Msg[] = [];
    const sub = api.stream("Events", "Subscribe", { types: ["EVENT_TYPE_NEIGHBOUR", "EVENT_TYPE_PORT"] });
    sub.on("data", (e: Msg) => events.push(e));
    const subEnded = new Promise<grpc.status>((resolve) => sub.on("error", (e: grpc.ServiceError) => resolve(e.code)));
    const waitFor = async (what: string, f: () => boolean, ms = 8000): Promise<void> => {
      const end = Date.now() + ms;
      while (!f() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect(f(), `${what}; events: ${JSON.stringify(events)}`).toBe(true);
    };
    try {
      // counters every 200 ms while 20 pings cross the router
      const got: Msg[] = [];
      const cs = api.stream("CountersService", "Stream", { interval_ms: 200 });
      cs.on("data", (m: Msg) => got.push(m));
      const csEnded = new Promise<grpc.status>((resolve) => cs.on("error", (e: grpc.ServiceError) => resolve(e.code)));
      await waitFor("the first counter message", () => got.length >= 1);
      expect(lab.ping(lab.ns.cli, ADDR.a4, { count: 20, interval: 0.02 }).received).toBe(20);
      await waitFor("5 counter messages", () => got.length >= 5);
      cs.cancel();
      expect(await csEnded).toBe(grpc.status.CANCELLED);
      const times = got.map((m) => Date.parse(String(m.time)));
      for (let i = 1; i < times.length; i++) {
        expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(150);
        expect(times[i]! - times[i - 1]!).toBeLessThan(1000);
      }
      const rx = got.map((m) => Number(((m.ports as Record<string, Msg>).lan!.values as Record<string, number>).rx_pkts));
      for (let i = 1; i < rx.length; i++) expect(rx[i]!).toBeGreaterThanOrEqual(rx[i - 1]!);
      expect(rx[rx.length - 1]!, "the 20 pings' replies came in on lan between the first and the last message").toBeGreaterThanOrEqual(rx[0]! + 20);
      const now = await api.call("CountersService", "Get");
      expect(Number(((now.ports as Record<string, Msg>).lan!.values as Record<string, number>).rx_pkts)).toBeGreaterThanOrEqual(rx[rx.length - 1]!);

      // the kernel forgets ISP-A's gateway, then learns it again when traffic needs it
      lab.run(lab.ns.rtr, "ip", "neigh", "del", ADDR.ispa4, "dev", "t-ispa");
      const neigh = (mac: boolean) => () => events.some((e) => (e.neighbour as Msg | undefined)?.address === ADDR.ispa4 && (e.neighbour as Msg).port === "ispa" && (String((e.neighbour as Msg).mac) !== "") === mac);
      await waitFor("neighbour gone", neigh(false));
      lab.ping(lab.ns.cli, ADDR.a4, { count: 5, interval: 0.2 });
      await waitFor("neighbour back", neigh(true));

      // ISP-A's link goes down and comes back
      const link = (up: boolean) => () => events.some((e) => (e.port as Msg | undefined)?.port === "ispa" && (e.port as Msg).up === up);
      lab.run(lab.ns.rtr, "ip", "link", "set", "dev", "ispa", "down");
      await waitFor("port down", link(false));
      lab.run(lab.ns.rtr, "ip", "link", "set", "dev", "ispa", "up");
      await waitFor("port up", link(true));
      const end = Date.now() + 10000;
      let r = lab.ping(lab.ns.cli, ADDR.a4, { count: 3, interval: 0.2 });
      while (r.received < 3 && Date.now() < end) r = lab.ping(lab.ns.cli, ADDR.a4, { count: 3, interval: 0.2 });
      expect(r.received, "traffic over ISP-A after its link came back").toBe(3);
    } finally {
      sub.cancel();
      await subEnded;
      api.close();
    }
  });

  it("stops cleanly on SIGTERM and releases every TAP", async () => {
    expect(lab.exec(lab.ns.rtr, ["ip", "link", "show", "t-lan"]).status).toBe(0);
    const code = await lab.stopDaemon("SIGTERM");
    expect(code).toBe(0);
    for (const t of ["t-lan", "t-ispa", "t-ispb"]) expect(lab.exec(lab.ns.rtr, ["ip", "link", "show", t]).status).not.toBe(0);
    expect(lab.status()!.state).toBe("stopped");
  });
});
