/**
 * Malformed frames through a real DPDK pcap port (`srcfib run` with net_pcap devices): scapy
 * writes a capture of good and broken frames; the dataplane must not crash, must count each
 * broken frame under the right drop reason, and must still forward the good frames in the same
 * capture (read back from the egress port's capture with tshark).
 *
 * Needs root like the other integration tests (CI is root); without it the test fails and says so.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Status } from "../../src/api/daemon.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const PORT_MAC = "02:00:00:00:00:01";
const GW_MAC = "02:00:00:00:09:09";

// Every broken frame, with the drop reason it must be counted under.
const SCAPY = `
import sys
from scapy.all import Ether, IP, IPv6, UDP, IPv6ExtHdrHopByHop, Raw, wrpcap
d = sys.argv[1]
me = "${PORT_MAC}"
src = "02:00:00:00:00:aa"
good = []
for i in range(5):
    good.append(Ether(src=src, dst=me) / IP(src="10.0.0.2", dst="10.9.0.%d" % (i + 5), ttl=64) / UDP(sport=1000 + i, dport=53) / Raw(b"x" * 40))
    good.append(Ether(src=src, dst=me) / IPv6(src="2001:db8:7::2", dst="2001:db8:9::%d" % (i + 5), hlim=64) / UDP(sport=2000 + i, dport=53) / Raw(b"y" * 40))
def v4(**kw):
    return bytes(Ether(src=src, dst=me) / IP(src="10.0.0.2", dst="10.9.0.99", **kw) / UDP(sport=9, dport=9) / Raw(b"z" * 30))
bad = {}
bad["runt"] = bytes(Ether(src=src, dst=me))[:10]
bad["ip4_truncated"] = bytes(Ether(src=src, dst=me, type=0x0800)) + b"\\x45\\x00" + b"\\x00" * 10
bad["ip4_version"] = bytearray(v4()); bad["ip4_version"][14] = 0x65
bad["ip4_ihl"] = bytearray(v4()); bad["ip4_ihl"][14] = 0x44
b = bytearray(v4()); b[16:18] = (1000).to_bytes(2, "big"); bad["ip4_total_length"] = b
b = bytearray(v4()); b[24] ^= 0xff; bad["ip4_checksum"] = b
v6 = bytes(Ether(src=src, dst=me) / IPv6(src="2001:db8:7::2", dst="2001:db8:9::99", nh=0, plen=4) / Raw(b"\\x11\\x04" + b"\\x00" * 2))
bad["ip6_ext_truncated"] = v6
b = bytearray(bytes(Ether(src=src, dst=me) / IPv6(src="2001:db8:7::2", dst="2001:db8:9::99") / UDP(sport=9, dport=9) / Raw(b"q" * 20)))
b[18:20] = (1000).to_bytes(2, "big"); bad["ip6_payload_length"] = b
bad["rx_over_mtu"] = bytes(Ether(src=src, dst=me) / IP(src="10.0.0.2", dst="10.9.0.98") / UDP(sport=9, dport=9) / Raw(b"m" * 1572))
frames = []
order = list(bad.keys())
for i, k in enumerate(order):
    frames.append(bytes(bad[k]))
    if i < len(good):
        frames.append(bytes(good[i]))
frames.extend(bytes(g) for g in good[len(order):])
# raw bytes with the Ethernet link type: scapy would refuse to dissect (and so to write) a runt
wrpcap(d + "/in.pcap", [Raw(f) for f in frames], linktype=1)
wrpcap(d + "/empty.pcap", [], linktype=1)
print(len(frames), len(good), ",".join(order))
`;

const isRoot = process.getuid?.() === 0;
let dir: string;

beforeAll(() => {
  if (!isRoot) throw new Error("the integration tests run DPDK: run them as root (CI does)");
  dir = mkdtempSync(join(tmpdir(), "srcfib-pcap-"));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function statusOf(file: string): Status | null {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Status;
  } catch {
    return null;
  }
}

describe("malformed frames through a pcap port", () => {
  it("drops each broken frame under its reason, forwards the good ones, keeps running", async () => {
    const gen = spawnSync("/usr/bin/python3", ["-c", SCAPY, dir], { encoding: "utf8", timeout: 60000 });
    expect(gen.status, gen.stderr).toBe(0);
    const [total, goodCount, reasonsText] = gen.stdout.trim().split(" ");
    const reasons = reasonsText!.split(",");
    const statusFile = join(dir, "status.json");
    const config = `
dataplane: { workers: 1, memory_mb: 256, status_file: ${statusFile}, status_interval_ms: 100 }
ports:
  - { name: in, device: "net_pcap0,rx_pcap=${dir}/in.pcap,tx_pcap=${dir}/in-tx.pcap", tap: false, mac: "${PORT_MAC}", addresses: [10.0.0.1/24, "2001:db8:7::1/64"] }
  - { name: out, device: "net_pcap1,rx_pcap=${dir}/empty.pcap,tx_pcap=${dir}/out.pcap", tap: false, addresses: [10.8.0.1/24, "2001:db8:8::1/64"] }
fibs:
  - name: main
    routes:
      - { prefix: 10.9.0.0/16, nexthops: [{ via: 10.8.0.2, port: out, mac: "${GW_MAC}" }] }
      - { prefix: "2001:db8:9::/48", nexthops: [{ via: "2001:db8:8::2", port: out, mac: "${GW_MAC}" }] }
default_fib: main
`;
    const cfgFile = join(dir, "pcap.yaml");
    writeFileSync(cfgFile, config);
    const child = spawn(process.execPath, [join(root, "dist", "cli.js"), "run", cfgFile], { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    child.stdout!.on("data", (d: Buffer) => (log += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    try {
      // Wait (bounded) until the whole capture has been received.
      const t0 = Date.now();
      let s: Status | null = null;
      while (Date.now() - t0 < 30000) {
        await new Promise((r) => setTimeout(r, 100));
        if (child.exitCode !== null) break;
        s = statusOf(statusFile);
        if (s?.state === "running" && (s.counters.ports.in?.rx_pkts ?? 0) >= Number(total)) break;
      }
      expect(child.exitCode, `the dataplane died:\n${log}`).toBeNull();
      expect(s?.counters.ports.in?.rx_pkts, log).toBe(Number(total));
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited, log).toBe(0);
    const final = statusOf(statusFile)!;
    expect(final.state).toBe("stopped");
    const drops = final.counters.drops;
    for (const r of reasons) expect(drops[r], `drop reason ${r}; all: ${JSON.stringify(drops)}`).toBe(1);
    const other = Object.entries(drops).filter(([k, v]) => v > 0 && !reasons.includes(k));
    expect(other, "no drop under any other reason").toEqual([]);
    expect(final.counters.ports.out?.tx_pkts).toBe(Number(goodCount));

    // The good frames, as they left: rewritten for the gateway, TTL / hop limit decremented.
    expect(existsSync(join(dir, "out.pcap"))).toBe(true);
    const ts = spawnSync("tshark", ["-r", join(dir, "out.pcap"), "-T", "fields", "-E", "separator=,", "-e", "eth.src", "-e", "eth.dst", "-e", "ip.ttl", "-e", "ipv6.hlim", "-e", "udp.dstport"], {
      encoding: "utf8",
      timeout: 30000,
    });
    expect(ts.status, ts.stderr).toBe(0);
    const rows = ts.stdout.trim().split("\n").filter((l) => l.length > 0);
    expect(rows).toHaveLength(Number(goodCount));
    for (const row of rows) {
      const [esrc, edst, ttl, hlim, dport] = row.split(",");
      expect(edst).toBe(GW_MAC);
      expect(esrc).toMatch(/^[0-9a-f:]{17}$/);
      expect(esrc).not.toBe(PORT_MAC);
      expect(ttl === "63" || hlim === "63", row).toBe(true);
      expect(dport).toBe("53");
    }
  });
});
