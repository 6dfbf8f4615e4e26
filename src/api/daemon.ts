/**
 * `srcfib run FILE`: the dataplane process.
 *
 * Start-up, in order: validate the file; initialise EAL; probe the ports and create their TAPs;
 * give each TAP its port's addresses, MTU and the sysctls of a router interface; install the
 * tables; start the workers; then mirror kernel neighbours and serve resolution requests from a
 * timer on the main thread. Any failure before the workers start releases what was created and
 * exits non-zero with the reason.
 *
 * While running:
 *   SIGHUP           re-read the file and apply the difference live (a bad file is reported and
 *                    changes nothing; ports cannot change without a restart);
 *   SIGINT, SIGTERM  stop the workers, release every port and TAP, exit 0;
 *   SIGUSR1          print the counters.
 * With dataplane.status_file set, the status (ports, neighbours, counters) is written there as
 * JSON every status_interval_ms (written to a temporary name and renamed, so readers never see
 * half a file).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { formatMac, loadConfigFile, type Config } from "./config.js";
import { DataplaneDriver, type DataplaneCounters, type DriverLog } from "../fib/dataplane.js";
import { Model } from "../fib/model.js";
import { ApiServer, type IpsecApi } from "./server.js";
import { EventHub } from "./sessions.js";
import { loadNative, type NativeDataplane } from "../lookup/native.js";
import { Sad } from "../ipsec/sad.js";

const POLL_MS = 20;
/** how often IPsec lifetimes are checked (expire events are this late at most) */
const IPSEC_POLL_MS = 200;

export interface Status {
  pid: number;
  state: "starting" | "running" | "stopped";
  started: string;
  config: string;
  reloads: number;
  ports: { name: string; device: string; tap: string | null; mac: string }[];
  neighbours: { port: string; address: string; mac: string }[];
  counters: DataplaneCounters;
}

function log(level: "info" | "warn" | "error", msg: string): void {
  process.stderr.write(`srcfib: ${level === "info" ? "" : `${level}: `}${msg}\n`);
}

const driverLog: DriverLog = { info: (m) => log("info", m), warn: (m) => log("warn", m) };

function ip(args: string[]): void {
  try {
    execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err: unknown) {
    const e = err as { stderr?: Buffer; message?: string };
    throw new Error(`ip ${args.join(" ")}: ${e.stderr?.toString().trim() || e.message || String(err)}`);
  }
}

function sysctl(path: string, value: string): void {
  try {
    writeFileSync(`/proc/sys/${path}`, value);
  } catch (err: unknown) {
    log("warn", `cannot set ${path.replace(/\//g, ".")} = ${value}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Link state of a port: the PMD's and, for an af_packet port, its kernel interface's too: DPDK
 * 22.11's af_packet PMD says "up" from start to stop whatever the interface does (seen in the lab:
 * no change when the veth goes down).
 */
function portUp(device: string, pmdUp: boolean): boolean {
  const m = /^net_af_packet\d*,(?:[^,]*,)*iface=([^,]+)/.exec(device);
  if (!pmdUp || !m) return pmdUp;
  try {
    const state = readFileSync(`/sys/class/net/${m[1]}/operstate`, "utf8").trim();
    return state === "up" || state === "unknown";
  } catch {
    return false;
  }
}

function hugepagesFree(): number {
  try {
    const m = /HugePages_Free:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** EAL arguments for a configuration (exported for tests and the README). */
export function ealArgs(cfg: Config): string[] {
  const d = cfg.dataplane;
  const lcores = d.lcores ?? (d.workers === 0 ? "0" : `0-${d.workers}`);
  // "0-2" / "0,1,2" is an lcore list (-l); "0@0,1@1,2@1" maps lcores to CPUs (--lcores).
  const args = [d.lcores?.includes("@") ? "--lcores" : "-l", lcores, "-m", String(d.memoryMb), "--no-telemetry", "--no-shconf"];
  // Probe only the PCI devices the configuration names (every other NIC stays with its kernel
  // driver); no PCI scan at all when every port is a virtual device.
  const pci = cfg.ports.map((p) => p.device).filter((dev) => /^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]/.test(dev));
  if (pci.length === 0) args.push("--no-pci");
  else for (const dev of pci) args.push("-a", dev);
  if (hugepagesFree() === 0) args.push("--no-huge");
  else args.push(`--file-prefix=srcfib${process.pid}`);
  // net_tap logs every secondary-process request it cannot send; with --no-shconf there are none.
  args.push("--log-level=pmd.net.tap:critical", "--log-level=lib.eal:warning");
  return [...args, ...d.ealArgs];
}

/** Gives a TAP its port's addresses and makes the kernel behind it a router interface. */
function setupTap(tap: string, cfg: Config["ports"][number]): void {
  // The kernel forwards what the dataplane gleans (a connected host not resolved yet) and must
  // not second-guess the dataplane's decisions.
  sysctl(`net/ipv4/conf/${tap}/forwarding`, "1");
  sysctl(`net/ipv4/conf/${tap}/send_redirects`, "0");
  sysctl(`net/ipv4/conf/${tap}/rp_filter`, "0");
  sysctl(`net/ipv6/conf/${tap}/forwarding`, "1");
  // The configuration is authoritative for these addresses: no duplicate detection delay.
  sysctl(`net/ipv6/conf/${tap}/accept_dad`, "0");
  ip(["link", "set", "dev", tap, "mtu", String(cfg.mtu), "up"]);
  for (const a of cfg.addresses) ip(["addr", "replace", a.text, "dev", tap]);
}

/**
 * An af_packet port shares its interface with the kernel, which sees every frame the port
 * receives. Keep the kernel off it: no ARP answers with the interface's own MAC, no IPv6, no
 * forwarding (the kernel speaks for the port through its TAP instead).
 */
function quietKernelInterface(device: string): void {
  const m = /^net_af_packet[^,]*,(?:.*,)?iface=([^,]+)/.exec(device);
  if (!m) return;
  const dev = m[1]!;
  ip(["link", "set", "dev", dev, "arp", "off", "up"]);
  sysctl(`net/ipv6/conf/${dev}/disable_ipv6`, "1");
  sysctl(`net/ipv4/conf/${dev}/forwarding`, "0");
}

function ifindex(name: string): number {
  return Number(readFileSync(`/sys/class/net/${name}/ifindex`, "utf8").trim());
}

export async function runDaemon(file: string): Promise<number> {
  let cfg = loadConfigFile(file);
  const native = loadNative();
  native.ealInit(ealArgs(cfg));
  let dp: NativeDataplane | null = new native.NativeDataplane({
    ports: cfg.ports.map((p) => ({ devargs: p.device, tap: p.tap ?? "", mac: p.mac, mtu: p.mtu })),
    workers: cfg.dataplane.workers,
    mbufs: 0,
    idleSleepUs: cfg.dataplane.idleSleepUs,
    ipsec: cfg.dataplane.ipsec,
    crypto: cfg.dataplane.crypto === "auto" ? "" : cfg.dataplane.crypto,
    ikePorts: cfg.dataplane.ikePorts,
  });
  let driver: DataplaneDriver | null = null;
  let model: Model | null = null;
  let api: ApiServer | null = null;
  let sad: Sad | null = null;
  const events = new EventHub();
  const release = (): void => {
    driver?.close();
    driver = null;
    dp?.close();
    dp = null;
  };
  process.on("exit", release);
  const status: Status = {
    pid: process.pid,
    state: "starting",
    started: new Date().toISOString(),
    config: file,
    reloads: 0,
    ports: cfg.ports.map((p, i) => ({ name: p.name, device: p.device, tap: p.tap, mac: formatMac(dp!.portInfo(i).mac) })),
    neighbours: [],
    counters: { drops: {}, ports: {}, fibs: {}, subfibs: {}, rules: {}, adjacencies: [], workers: [] },
  };
  try {
    for (const p of cfg.ports) quietKernelInterface(p.device);
    // IPv4 forwarding is per input interface (set on each TAP below); IPv6 forwarding is not.
    if (cfg.ports.some((p) => p.tap !== null && p.addresses.some((a) => a.family === 6))) {
      let v6fwd = "1";
      try {
        v6fwd = readFileSync("/proc/sys/net/ipv6/conf/all/forwarding", "utf8").trim();
      } catch {
        /* no IPv6 in this kernel: nothing to warn about */
      }
      if (v6fwd === "0") {
        log("warn", "net.ipv6.conf.all.forwarding is 0 in this namespace: the kernel will not forward the first packets to IPv6 hosts on connected subnets (glean) until they are resolved; set it to 1");
      }
    }
    const taps = new Map<number, number>();
    cfg.ports.forEach((p, i) => {
      if (p.tap === null) return;
      setupTap(p.tap, p);
      taps.set(i, ifindex(p.tap));
    });
    driver = new DataplaneDriver(dp, driverLog);
    const d = driver;
    model = await Model.create(driver, cfg, {
      portChanging: (old, next) => {
        if (next.tap === null) return;
        for (const a of old.addresses) if (!next.addresses.some((b) => b.text === a.text)) ip(["addr", "del", a.text, "dev", next.tap]);
        setupTap(next.tap, next);
      },
      wantRouteEvents: () => events.wants("route"),
      ipsecNames: () => sad,
      routeChanged: (sub, text, nhg) => {
        const best = nhg === null ? undefined : model?.rib.best(sub, text);
        events.publish("route", { route: { subfib: sub, prefix: text, withdrawn: nhg === null, owner: best?.owner ?? "", nexthops: model?.summary(nhg) ?? "" } });
      },
    });
    driver.onNeighbour = (port, address, mac) => events.publish("neighbour", { neighbour: { port, address, mac: mac ?? "" } });
    driver.watchNeighbours(taps);
    dp.start();
    const m = model;
    const cryptoDev = dp.ipsecInfo();
    if (cryptoDev) {
      log("info", `IPsec: crypto device ${cryptoDev.driver}${cryptoDev.whyNot ? ` (${cryptoDev.whyNot})` : ""}`);
      sad = new Sad(dp, loadNative().dpLimits, {
        tunnelMtu: cfg.dataplane.tunnelMtu,
        nattPort: cfg.dataplane.ikePorts[1],
        onExpire: (e) => {
          log(e.hard ? "warn" : "info", `IPsec: ${e.direction}bound ${e.protocol.toUpperCase()} SA spi 0x${e.spi.toString(16).padStart(8, "0")} to ${e.dst} reqid ${e.reqid}: ${e.hard ? "hard" : "soft"} lifetime reached (${e.reason})`);
          events.publish("ipsec", { ipsec_expire: { ...e } });
        },
      });
      d.tunnelRef = (reqid) => sad!.tunnelRef(reqid);
      d.tunnelUnref = (reqid) => sad!.tunnelUnref(reqid);
    }
    const ipsecApi: IpsecApi | null = sad ? { sad, device: cryptoDev!.driver, counters: () => { const c = d.ipsecCounters(); sad!.setCounters(c.sa); return c; } } : null;
    api = new ApiServer({
      model: () => m,
      counters: () => d.counters(),
      interfaces: () =>
        m.config.ports.map((p, i) => {
          const link = d.link(i);
          return { name: p.name, device: p.device, tap: p.tap ?? "", mac: status.ports[i]?.mac ?? "", mtu: p.mtu, mru: p.mru, addresses: p.addresses.map((a) => a.text), fib: p.fib ?? "", link_up: link.up, speed_mbps: link.speedMbps };
        }),
      events,
      ipsec: () => ipsecApi,
      cfg: cfg.api,
      log,
    });
    for (const w of await api.listen()) log("info", `API listening on ${w}`);
  } catch (err: unknown) {
    release();
    throw err;
  }
  status.state = "running";
  log("info", `running: ${cfg.ports.length} port(s) [${status.ports.map((p) => `${p.name}=${p.mac}`).join(", ")}], ${cfg.fibs.length} FIB(s), ${cfg.dataplane.workers} worker(s); pid ${process.pid}`);

  const writeStatus = (): void => {
    const f = cfg.dataplane.statusFile;
    if (!f || !driver) return;
    status.counters = driver.counters();
    status.neighbours = driver.neighbours();
    const tmp = `${f}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(status, null, 1));
    renameSync(tmp, f);
  };

  let reloading = false;
  const reload = async (): Promise<void> => {
    if (reloading || !driver) return;
    reloading = true;
    try {
      const next = loadConfigFile(file);
      const changed = JSON.stringify(next.ports.map((p) => [p.name, p.device, p.tap, p.mac ? [...p.mac] : null])) !== JSON.stringify(cfg.ports.map((p) => [p.name, p.device, p.tap, p.mac ? [...p.mac] : null]));
      if (changed) throw new Error("ports (name, device, tap, mac) cannot change while running; restart to change them");
      if (JSON.stringify(next.api) !== JSON.stringify(cfg.api)) log("warn", "the api section changed: it takes effect at the next start");
      const mdl = model;
      if (!mdl || !api) throw new Error("not running");
      await api.serial(() => mdl.reload(next));
      cfg = next;
      status.reloads++;
      log("info", `reloaded ${file}`);
    } catch (err: unknown) {
      log("error", `reload of ${file} refused, nothing changed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      reloading = false;
      writeStatus();
    }
  };

  return await new Promise<number>((resolve) => {
    const poll = setInterval(() => {
      try {
        driver?.poll();
      } catch (err: unknown) {
        log("error", `neighbour poll: ${err instanceof Error ? err.message : String(err)}`);
      }
    }, POLL_MS);
    // IPsec lifetimes: traffic limits as the dataplane counts them, time limits by this clock
    const ipsecTimer = setInterval(() => {
      try {
        sad?.poll();
      } catch (err: unknown) {
        log("error", `IPsec lifetime check: ${err instanceof Error ? err.message : String(err)}`);
      }
    }, IPSEC_POLL_MS);
    writeStatus();
    const statusTimer = setInterval(writeStatus, cfg.dataplane.statusIntervalMs);
    const linkUp = cfg.ports.map((p, i) => portUp(p.device, driver?.link(i).up ?? false));
    const linkTimer = setInterval(() => {
      cfg.ports.forEach((p, i) => {
        const up = portUp(p.device, driver?.link(i).up ?? false);
        if (up === linkUp[i]) return;
        linkUp[i] = up;
        log("info", `port ${p.name}: link ${up ? "up" : "down"}`);
        events.publish("port", { port: { port: p.name, up } });
      });
    }, 1000);
    let stopping = false;
    const stop = async (sig: string): Promise<void> => {
      if (stopping) return;
      stopping = true;
      log("info", `${sig}: stopping`);
      clearInterval(poll);
      clearInterval(ipsecTimer);
      clearInterval(statusTimer);
      clearInterval(linkTimer);
      await api?.close();
      try {
        writeStatus(); // the last counters, read before the ports go
      } catch {
        /* the status file is a convenience */
      }
      status.state = "stopped";
      release();
      const f = cfg.dataplane.statusFile;
      if (f) writeFileSync(f, JSON.stringify(status, null, 1));
      log("info", "stopped; ports and TAPs released");
      resolve(0);
    };
    process.once("SIGINT", () => void stop("SIGINT"));
    process.once("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGHUP", () => void reload());
    process.on("SIGUSR1", () => {
      if (driver) process.stdout.write(`${JSON.stringify(driver.counters(), null, 1)}\n`);
    });
  });
}
