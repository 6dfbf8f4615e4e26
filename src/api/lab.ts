/**
 * The embedded default: seed 003's multihomed site, built in network namespaces, with srcfib as
 * the site router between the server and its two ISPs.
 *
 *   srv ── lan ┐                 ┌ ispa(ns) ── a ┐
 *              ├ rtr (srcfib) ───┤               ├ cli (192.0.2.100, 2001:db8:c::100)
 *              │  ports: lan,    └ ispb(ns) ── b ┘
 *              │  ispa, ispb (af_packet on veth)
 *
 * The server owns addr(A) = 198.51.100.10 / 2001:db8:a::10 from ISP-A's block and
 * addr(B) = 203.0.113.10 / 2001:db8:b::10 from ISP-B's. Each ISP filters its customer link by
 * source (BCP 38: a packet from the other ISP's block is dropped). The router's default FIB
 * prefers ISP-B, as in the seed. Source bindings send what is sourced from A's block to FIB via-a
 * and from B's block to FIB via-b.
 *
 * Lab is also the harness of the integration tests: it builds the namespaces under a unique
 * prefix, runs commands in them with a time limit, starts and stops the daemon, and removes
 * everything it created (by name) on destroy, also when interrupted.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Status } from "./daemon.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export const ADDR = {
  a4: "198.51.100.10",
  b4: "203.0.113.10",
  c4: "198.18.0.10",
  c6: "2001:db8:ff::10",
  a6: "2001:db8:a::10",
  b6: "2001:db8:b::10",
  cli4: "192.0.2.100",
  cli6: "2001:db8:c::100",
  ispa4: "10.1.0.2",
  ispb4: "10.2.0.2",
  ispa6: "2001:db8:1::2",
  ispb6: "2001:db8:2::2",
} as const;

export interface ExecResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export class LabError extends Error {}

/** The router's configuration in the lab (YAML); `variant` tweaks it for demonstrations. */
export interface LabVariant {
  /** false: no source bindings (everything uses FIB main, the seed's failure) */
  sourceSelection?: boolean;
  /** YAML lines (4-space indent) added to FIB via-a, e.g. subfibs and rules */
  viaA?: string;
  /** YAML route lines (6-space indent list items) added to FIB isolated */
  isolatedRoutes?: string;
  /** YAML lines (2-space indent list items) added to fibs */
  extraFibs?: string;
}

export function labConfig(statusFile: string, variant: LabVariant = {}): string {
  const sel = variant.sourceSelection ?? true;
  return `# srcfib lab: seed 003's multihomed server behind a source-aware router
dataplane:
  workers: 1
  memory_mb: 256
  status_file: ${statusFile}
  status_interval_ms: 200
api:
  socket: ${statusFile.replace(/status\.json$/, "api.sock")}
ports:
  - name: lan
    device: net_af_packet0,iface=lan
    tap: t-lan
    mac: "02:5f:00:00:00:01"
    addresses: [198.51.100.1/24, 203.0.113.1/24, 198.18.0.1/24, 2001:db8:a::1/64, 2001:db8:b::1/64, 2001:db8:ff::1/64]
  - name: ispa
    device: net_af_packet1,iface=ispa
    tap: t-ispa
    mac: "02:5f:00:00:00:0a"
    mtu: 1400
    addresses: [10.1.0.1/24, 2001:db8:1::1/64]
    fib: via-a
  - name: ispb
    device: net_af_packet2,iface=ispb
    tap: t-ispb
    mac: "02:5f:00:00:00:0b"
    addresses: [10.2.0.1/24, 2001:db8:2::1/64]
    fib: via-b
fibs:
  - name: main          # the default FIB: its best route to the client is via ISP-B
    routes:
      - { prefix: 0.0.0.0/0, nexthops: [{ via: ${ADDR.ispb4}, port: ispb }] }
      - { prefix: "::/0", nexthops: [{ via: "${ADDR.ispb6}", port: ispb }] }
  - name: via-a
    routes:
      - { prefix: 0.0.0.0/0, nexthops: [{ via: ${ADDR.ispa4}, port: ispa }] }
      - { prefix: "::/0", nexthops: [{ via: "${ADDR.ispa6}", port: ispa }] }
      - { prefix: 10.250.0.0/16, type: prohibit }
      - { prefix: "2001:db8:250::/48", type: prohibit }
${variant.viaA ?? ""}  - name: via-b
    routes:
      - { prefix: 0.0.0.0/0, nexthops: [{ via: ${ADDR.ispb4}, port: ispb }] }
      - { prefix: "::/0", nexthops: [{ via: "${ADDR.ispb6}", port: ispb }] }
  - name: isolated      # no default route: what is bound here and not connected is unreachable
    routes:${variant.isolatedRoutes ? `\n${variant.isolatedRoutes}` : " []"}
${variant.extraFibs ?? ""}${sel ? "" : "# (source selection off: every source uses main)\n"}bindings:
${
  sel
    ? `  - { source: 198.51.100.0/24, interface: ispa }
  - { source: "2001:db8:a::/64", interface: ispa }
  - { source: 203.0.113.0/24, interface: ispb }
  - { source: "2001:db8:b::/64", interface: ispb }
  - { source: 198.18.0.0/24, fib: isolated }
  - { source: "2001:db8:ff::/64", fib: isolated }`
    : "  []"
}
default_fib: main
`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class Lab {
  readonly prefix: string;
  readonly ns: { srv: string; rtr: string; ispa: string; ispb: string; cli: string };
  readonly dir: string;
  readonly statusFile: string;
  readonly configFile: string;
  #daemon: ChildProcess | null = null;
  #daemonLog = "";
  #created: string[] = [];

  constructor(prefix = `sf${process.pid % 100000}`) {
    this.prefix = prefix;
    this.ns = { srv: `${prefix}-srv`, rtr: `${prefix}-rtr`, ispa: `${prefix}-ispa`, ispb: `${prefix}-ispb`, cli: `${prefix}-cli` };
    this.dir = mkdtempSync(join(tmpdir(), "srcfib-lab-"));
    this.statusFile = join(this.dir, "status.json");
    this.configFile = join(this.dir, "srcfib.yaml");
  }

  /** Runs a command (in a namespace, or on the host with ns null); bounded in time. */
  exec(ns: string | null, cmd: string[], timeoutMs = 20000): ExecResult {
    const argv = ns === null ? cmd : ["ip", "netns", "exec", ns, ...cmd];
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: timeoutMs });
    return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? (r.error ? String(r.error) : "") };
  }

  /** Like exec but throws with the command and its stderr when it fails. */
  run(ns: string | null, ...cmd: string[]): string {
    const r = this.exec(ns, cmd);
    if (r.status !== 0) throw new LabError(`${ns ?? "host"}: ${cmd.join(" ")}: ${r.stderr.trim() || `exit ${r.status}`}`);
    return r.stdout;
  }

  #veth(nsA: string, a: string, nsB: string, b: string): void {
    const tmpA = `${this.prefix}x${this.#created.length}a`;
    const tmpB = `${this.prefix}x${this.#created.length}b`;
    this.run(null, "ip", "link", "add", tmpA, "type", "veth", "peer", "name", tmpB);
    this.run(null, "ip", "link", "set", "dev", tmpA, "netns", nsA, "name", a);
    this.run(null, "ip", "link", "set", "dev", tmpB, "netns", nsB, "name", b);
    for (const [ns, dev] of [[nsA, a], [nsB, b]] as const) {
      // af_packet sees what the kernel hands it: no segmentation or checksum offload on the wire.
      this.exec(ns, ["ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off", "tx", "off", "rx", "off"]);
      this.run(ns, "ip", "link", "set", "dev", dev, "up");
    }
  }

  /** Builds the namespaces, links, addresses and routes of the site (not the router's tables). */
  build(): void {
    for (const ns of Object.values(this.ns)) {
      this.run(null, "ip", "netns", "add", ns);
      this.#created.push(ns);
      this.run(ns, "ip", "link", "set", "lo", "up");
    }
    const { srv, rtr, ispa, ispb, cli } = this.ns;
    this.#veth(srv, "eth0", rtr, "lan");
    this.#veth(ispa, "rtr", rtr, "ispa");
    // ISP-A's link is the narrow one (MTU 1400 on both ends): PMTU discovery and fragmentation.
    this.run(ispa, "ip", "link", "set", "dev", "rtr", "mtu", "1400");
    this.run(rtr, "ip", "link", "set", "dev", "ispa", "mtu", "1400");
    this.#veth(ispb, "rtr", rtr, "ispb");
    this.#veth(ispa, "net", cli, "a");
    this.#veth(ispb, "net", cli, "b");
    // The router's veths belong to DPDK: the kernel stays off them.
    for (const d of ["lan", "ispa", "ispb"]) this.run(rtr, "sysctl", "-qw", `net.ipv6.conf.${d}.disable_ipv6=1`);
    this.run(rtr, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
    this.run(rtr, "sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0");
    // server
    for (const a of [`${ADDR.a4}/24`, `${ADDR.b4}/24`, `${ADDR.c4}/24`, `${ADDR.a6}/64`, `${ADDR.b6}/64`, `${ADDR.c6}/64`]) this.run(srv, "ip", "addr", "add", a, "dev", "eth0", "nodad");
    this.run(srv, "ip", "route", "add", "default", "via", "198.51.100.1", "src", ADDR.a4);
    this.run(srv, "ip", "-6", "route", "add", "default", "via", "2001:db8:a::1", "src", ADDR.a6);
    // ISPs
    for (const [ns, n, blk4, blk6, other4, other6] of [
      [ispa, 1, "198.51.100.0/24", "2001:db8:a::/64", "203.0.113.0/24", "2001:db8:b::/64"],
      [ispb, 2, "203.0.113.0/24", "2001:db8:b::/64", "198.51.100.0/24", "2001:db8:a::/64"],
    ] as const) {
      this.run(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0");
      this.run(ns, "ip", "addr", "add", `10.${n}.0.2/24`, "dev", "rtr");
      this.run(ns, "ip", "addr", "add", `2001:db8:${n}::2/64`, "dev", "rtr", "nodad");
      this.run(ns, "ip", "addr", "add", `10.${n}0.0.1/24`, "dev", "net");
      this.run(ns, "ip", "addr", "add", `2001:db8:${n}0::1/64`, "dev", "net", "nodad");
      this.run(ns, "ip", "route", "add", blk4, "via", `10.${n}.0.1`);
      this.run(ns, "ip", "route", "add", "198.18.0.0/24", "via", `10.${n}.0.1`);
      this.run(ns, "ip", "-6", "route", "add", blk6, "via", `2001:db8:${n}::1`);
      this.run(ns, "ip", "route", "add", `${ADDR.cli4}/32`, "via", `10.${n}0.0.2`);
      this.run(ns, "ip", "-6", "route", "add", `${ADDR.cli6}/128`, "via", `2001:db8:${n}0::2`);
      // BCP 38 on the customer link: the other ISP's block may not enter here.
      this.run(ns, "ip", "rule", "add", "iif", "rtr", "from", other4, "blackhole");
      this.run(ns, "ip", "-6", "rule", "add", "iif", "rtr", "from", other6, "blackhole");
    }
    // client: its echo replies go without DF, so that ISP-A may fragment them onto the narrow link
    this.run(cli, "sysctl", "-qw", "net.ipv4.ip_no_pmtu_disc=1");
    this.run(cli, "ip", "addr", "add", `${ADDR.cli4}/32`, "dev", "lo");
    this.run(cli, "ip", "addr", "add", `${ADDR.cli6}/128`, "dev", "lo");
    this.run(cli, "ip", "addr", "add", "10.10.0.2/24", "dev", "a");
    this.run(cli, "ip", "addr", "add", "10.20.0.2/24", "dev", "b");
    this.run(cli, "ip", "addr", "add", "2001:db8:10::2/64", "dev", "a", "nodad");
    this.run(cli, "ip", "addr", "add", "2001:db8:20::2/64", "dev", "b", "nodad");
    this.run(cli, "ip", "route", "add", "198.51.100.0/24", "via", "10.10.0.1", "src", ADDR.cli4);
    this.run(cli, "ip", "route", "add", "203.0.113.0/24", "via", "10.20.0.1", "src", ADDR.cli4);
    this.run(cli, "ip", "route", "add", "198.18.0.0/24", "via", "10.20.0.1", "src", ADDR.cli4);
    this.run(cli, "ip", "-6", "route", "add", "2001:db8:a::/64", "via", "2001:db8:10::1", "src", ADDR.cli6);
    this.run(cli, "ip", "-6", "route", "add", "2001:db8:b::/64", "via", "2001:db8:20::1", "src", ADDR.cli6);
  }

  /** Starts `srcfib run` in the router namespace and waits until it reports running. */
  async startDaemon(config: string = labConfig(this.statusFile), timeoutMs = 60000): Promise<Status> {
    writeFileSync(this.configFile, config);
    rmSync(this.statusFile, { force: true });
    const cli = join(root, "dist", "cli.js");
    if (!existsSync(cli)) throw new LabError(`${cli} is missing: run \`npm run build\` first`);
    this.#daemonLog = "";
    const child = spawn("ip", ["netns", "exec", this.ns.rtr, process.execPath, cli, "run", this.configFile], { stdio: ["ignore", "pipe", "pipe"] });
    this.#daemon = child;
    child.stdout!.on("data", (d: Buffer) => (this.#daemonLog += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (this.#daemonLog += d.toString()));
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      if (child.exitCode !== null) throw new LabError(`srcfib run exited with ${child.exitCode}:\n${this.#daemonLog}`);
      const s = this.status();
      if (s?.state === "running") return s;
      await sleep(100);
    }
    throw new LabError(`srcfib run did not report running within ${timeoutMs} ms:\n${this.#daemonLog}`);
  }

  get daemonLog(): string {
    return this.#daemonLog;
  }

  get daemonPid(): number | null {
    return this.#daemon?.pid ?? null;
  }

  status(): Status | null {
    try {
      return JSON.parse(readFileSync(this.statusFile, "utf8")) as Status;
    } catch {
      return null;
    }
  }

  /** Waits for a fresh status (one written after now). */
  async freshStatus(timeoutMs = 5000): Promise<Status> {
    const t0 = Date.now();
    const before = this.status();
    while (Date.now() - t0 < timeoutMs) {
      await sleep(250);
      const s = this.status();
      if (s && JSON.stringify(s.counters) !== JSON.stringify(before?.counters)) return s;
    }
    const s = this.status();
    if (!s) throw new LabError("no status file");
    return s;
  }

  /** Rewrites the configuration and asks the daemon to reload it (SIGHUP). */
  async reload(config: string): Promise<void> {
    const before = this.status()?.reloads ?? 0;
    writeFileSync(this.configFile, config);
    this.#daemon?.kill("SIGHUP");
    const t0 = Date.now();
    while (Date.now() - t0 < 15000) {
      await sleep(100);
      if ((this.status()?.reloads ?? 0) > before) return;
      if (/reload of .* refused/.test(this.#daemonLog)) throw new LabError(`reload refused:\n${this.#daemonLog}`);
    }
    throw new LabError(`the daemon did not reload:\n${this.#daemonLog}`);
  }

  /** SIGTERM, then SIGKILL after a grace period; returns the exit code. */
  async stopDaemon(signal: NodeJS.Signals = "SIGTERM", graceMs = 15000): Promise<number | null> {
    const d = this.#daemon;
    if (!d) return null;
    this.#daemon = null;
    if (d.exitCode !== null) return d.exitCode;
    const done = new Promise<number | null>((r) => d.once("exit", (code) => r(code)));
    d.kill(signal);
    const timer = setTimeout(() => d.kill("SIGKILL"), graceMs);
    const code = await done;
    clearTimeout(timer);
    return code;
  }

  /** Removes every namespace this lab created (their veths go with them) and the temp dir. */
  destroy(): void {
    if (this.#daemon && this.#daemon.exitCode === null) this.#daemon.kill("SIGKILL");
    this.#daemon = null;
    for (const ns of this.#created.reverse()) spawnSync("ip", ["netns", "del", ns], { timeout: 10000 });
    this.#created = [];
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Resolves the ISPs and the server from both sides (the first packets of each take the glean
   *  or resolve path, so measurements start after this). */
  warmUp(count = 3): void {
    for (const dst of [ADDR.a4, ADDR.b4, ADDR.a6, ADDR.b6]) this.ping(this.ns.cli, dst, { count, interval: 0.2 });
  }

  /** ping from a namespace; returns packets sent and received. */
  ping(ns: string, dst: string, opts: { count?: number; src?: string; ttl?: number; size?: number; dontFrag?: boolean; interval?: number } = {}): { sent: number; received: number; out: string } {
    const count = opts.count ?? 5;
    const args = ["ping", "-n", "-c", String(count), "-i", String(opts.interval ?? 0.05), "-W", "1"];
    if (opts.src) args.push("-I", opts.src);
    if (opts.ttl !== undefined) args.push("-t", String(opts.ttl));
    if (opts.size !== undefined) args.push("-s", String(opts.size));
    if (opts.dontFrag) args.push("-M", "do");
    args.push(dst);
    const r = this.exec(ns, args, 10000 + count * 2000);
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    return { sent: m ? Number(m[1]) : 0, received: m ? Number(m[2]) : 0, out: r.stdout + r.stderr };
  }
}

// ---- `srcfib lab` ------------------------------------------------------------------------

interface Probe {
  what: string;
  from: string;
  to: string;
  fib: string;
  egress: string;
  sent: number;
  received: number;
  viaExpected: string;
  fibDelta: number;
  egressDelta: number;
  otherDelta: number;
}

function delta(a: Status, b: Status, f: (s: Status) => number): number {
  return f(b) - f(a);
}

export async function runLab(opts: { keep?: boolean; json?: string } = {}): Promise<number> {
  if (process.getuid?.() !== 0) throw new LabError("the lab builds network namespaces: run it as root");
  const lab = new Lab();
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
    process.stderr.write("\nsrcfib lab: interrupted, cleaning up\n");
    lab.destroy();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const out = (s: string): boolean => process.stdout.write(s);
  try {
    out(`srcfib lab: building seed 003's site in namespaces ${lab.prefix}-{srv,rtr,ispa,ispb,cli}\n`);
    lab.build();
    out("srcfib lab: starting the dataplane (3 af_packet ports + TAPs) in the router namespace\n");
    const st0 = await lab.startDaemon();
    out(`  ports: ${st0.ports.map((p) => `${p.name} (${p.device}, TAP ${p.tap}, ${p.mac})`).join("; ")}\n`);
    lab.warmUp();

    const probes: Probe[] = [];
    const measure = async (what: string, to: string, viaExpected: "ispa" | "ispb", fib: string): Promise<void> => {
      const before = await lab.freshStatus();
      const r = lab.ping(lab.ns.cli, to, { count: 20, interval: 0.02 });
      const after = await lab.freshStatus();
      const other = viaExpected === "ispa" ? "ispb" : "ispa";
      probes.push({
        what,
        from: to,
        to: to.includes(":") ? ADDR.cli6 : ADDR.cli4,
        fib,
        egress: viaExpected,
        sent: r.sent,
        received: r.received,
        viaExpected,
        fibDelta: delta(before, after, (s) => s.counters.fibs[fib] ?? 0),
        egressDelta: delta(before, after, (s) => s.counters.ports[viaExpected]?.tx_pkts ?? 0),
        otherDelta: delta(before, after, (s) => s.counters.ports[other]?.tx_pkts ?? 0),
      });
    };
    await measure("replies from addr(A), IPv4", ADDR.a4, "ispa", "via-a");
    await measure("replies from addr(B), IPv4", ADDR.b4, "ispb", "via-b");
    await measure("replies from addr(A), IPv6", ADDR.a6, "ispa", "via-a");
    await measure("replies from addr(B), IPv6", ADDR.b6, "ispb", "via-b");

    // The seed's failure, for contrast: the same site with destination-only forwarding.
    await lab.reload(labConfig(lab.statusFile, { sourceSelection: false }));
    const dstOnly = lab.ping(lab.ns.cli, ADDR.a4, { count: 20, interval: 0.02 });
    await lab.reload(labConfig(lab.statusFile));
    const restored = lab.ping(lab.ns.cli, ADDR.a4, { count: 20, interval: 0.02 });
    const final = await lab.freshStatus();

    out("\nsource-aware egress (20 pings from the client to each server address; the replies are what srcfib routes):\n\n");
    out("| replies | source binding -> FIB | packets in that FIB | left via ISP-A | left via ISP-B | ping received |\n|---|---|---|---|---|---|\n");
    for (const p of probes) {
      const viaA = p.viaExpected === "ispa" ? p.egressDelta : p.otherDelta;
      const viaB = p.viaExpected === "ispb" ? p.egressDelta : p.otherDelta;
      out(`| ${p.what} | ${p.fib} | ${p.fibDelta} | ${viaA} | ${viaB} | ${p.received}/${p.sent} |\n`);
    }
    out(
      `\nwithout source selection (every source in FIB main, best route via ISP-B): replies from addr(A) leave via ISP-B, ` +
        `whose source filter drops them: ${dstOnly.received}/${dstOnly.sent} pings answered.\n` +
        `source selection restored live (SIGHUP reload, no restart): ${restored.received}/${restored.sent} answered.\n`,
    );
    const d = final.counters.drops;
    const nonzero = Object.entries(d).filter(([, v]) => v > 0);
    out(`\ndrops by reason: ${nonzero.length === 0 ? "none" : nonzero.map(([k, v]) => `${k}=${v}`).join(", ")}\n`);
    out(`neighbours learned from the kernel: ${final.neighbours.map((n) => `${n.address}@${n.port}`).join(", ")}\n`);
    const pass =
      probes.every((p) => p.received === p.sent && p.sent > 0 && p.egressDelta >= p.sent && p.otherDelta < p.sent && p.fibDelta >= p.sent) &&
      dstOnly.received === 0 &&
      restored.received === restored.sent;
    out(`\nresult: ${pass ? "PASS: replies from addr(A) leave via ISP-A and from addr(B) via ISP-B" : "FAIL (see the table)"}\n`);
    if (opts.json) writeFileSync(opts.json, JSON.stringify({ pass, probes, dstOnly, restored, final }, null, 1));
    if (opts.keep) {
      out(`\nleft running (Ctrl-C to stop and clean up): ip netns exec ${lab.ns.cli} ping ${ADDR.a4}; status in ${lab.statusFile}\n`);
      await new Promise(() => undefined);
    }
    const code = await lab.stopDaemon();
    out(`srcfib lab: dataplane stopped (exit ${code}); removing the namespaces\n`);
    return pass ? 0 : 1;
  } catch (err: unknown) {
    if (!interrupted) process.stderr.write(`srcfib lab: ${err instanceof Error ? err.message : String(err)}\n${lab.daemonLog}`);
    return 1;
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    lab.destroy();
  }
}
