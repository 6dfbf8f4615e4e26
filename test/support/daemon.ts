/** `srcfib run` as a child process for the integration tests that talk to its API. */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");

/** Two DPDK net_null ports (no traffic) and a FIB with a default route, a sub-FIB and a rule:
 *  what the API tests start from. `api` is added inside the api map, `more` at the end. */
export function nullPortsConfig(sock: string, api = "", more = ""): string {
  return `dataplane: { workers: 1 }
api: { socket: ${sock}${api} }
ports:
  - { name: p0, device: "net_null0,no-rx=1", tap: false, addresses: ["198.51.100.1/24", "2001:db8:1::1/64"], fib: main }
  - { name: p1, device: "net_null1,no-rx=1", tap: false, addresses: ["203.0.113.1/24", "2001:db8:2::1/64"] }
fibs:
  - name: main
    routes:
      - { prefix: 0.0.0.0/0, nexthops: [{ via: 203.0.113.254, port: p1, mac: "02:00:00:00:00:fe" }] }
    subfibs:
      - { name: voice }
    rules:
      - { priority: 10, subfib: voice, protocol: udp, dport: 5060 }
${more}default_fib: main
`;
}

export class TestDaemon {
  proc: ChildProcess | null = null;
  /** everything it wrote on stderr since the last start */
  log = "";
  constructor(readonly dir: string) {}

  /** Writes the configuration and starts it; resolves once it logs "running:". */
  async start(cfgText: string): Promise<void> {
    const cfg = join(this.dir, "cfg.yaml");
    writeFileSync(cfg, cfgText);
    this.log = "";
    const p = spawn(process.execPath, [join(root, "dist", "cli.js"), "run", cfg], { stdio: ["ignore", "ignore", "pipe"] });
    this.proc = p;
    p.stderr!.on("data", (d: Buffer) => (this.log += d.toString()));
    const end = Date.now() + 60000;
    while (!this.log.includes("running:") && p.exitCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    if (!this.log.includes("running:")) throw new Error(`the daemon did not start:\n${this.log}`);
  }

  /** SIGTERM, SIGKILL after 15 s; the exit code. */
  async stop(): Promise<number | null> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return p?.exitCode ?? null;
    const t = setTimeout(() => p.kill("SIGKILL"), 15000);
    p.kill("SIGTERM");
    await new Promise((r) => p.once("exit", r));
    clearTimeout(t);
    return p.exitCode;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null;
  }
}
