/**
 * The configuration file: what `srcfib validate` checks and `srcfib run` starts from.
 *
 * YAML or JSON (JSON is YAML, so one parser reads both). The file is validated completely before
 * anything is built: unknown keys, wrong types, out-of-range values and dangling references
 * (a route via a port that does not exist, a rule naming an unknown sub-FIB) are all errors.
 * Every error names the key by its path (`fibs[1].routes[3].nexthops[0].via`) and says why;
 * validation collects every error instead of stopping at the first, so a operator fixes a file
 * in one pass.
 *
 * The result is a plain, fully resolved description (addresses parsed, names checked, defaults
 * filled in) that src/fib/plan.ts compiles into dataplane tables.
 */
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { formatAddress, formatPrefix, parseAddress, parsePrefix, type Address, type Family, type Prefix } from "../lookup/prefix.js";

export const LIMITS = {
  ports: 16,
  fibs: 256,
  subfibs: 1024,
  rulesPerFib: 64,
  workers: 8,
  nexthops: 64,
  weight: 65535,
} as const;

export interface InterfaceAddress {
  family: Family;
  /** the interface's own address */
  addr: Uint8Array;
  len: number;
  /** the connected subnet */
  subnet: Prefix;
  text: string;
}

export interface PortConfig {
  name: string;
  /** DPDK devargs or PCI address */
  device: string;
  /** kernel name of the port's TAP, or null for no TAP */
  tap: string | null;
  /** null: the device's own MAC */
  mac: Uint8Array | null;
  /** largest IP datagram on the link */
  mtu: number;
  /** largest IP datagram accepted on receive (larger ones: drop reason rx_over_mtu) */
  mru: number;
  addresses: InterfaceAddress[];
  /** FIB base for sources bound to this interface */
  fib: string | null;
}

export interface NexthopConfig {
  /** gateway, or null: the destination is on the link (resolved per host) */
  via: Address | null;
  port: string;
  weight: number;
  /** static link-layer address of the gateway (like a static ARP/ND entry); null: ask the kernel */
  mac: Uint8Array | null;
}

export type RouteKind = "forward" | "blackhole" | "unreachable" | "prohibit";

export interface RouteConfig {
  prefix: Prefix;
  kind: RouteKind;
  nexthops: NexthopConfig[];
}

export interface RuleConfig {
  /** unique within the FIB; rules are tried in ascending priority */
  priority: number;
  subfib: string;
  /** 0: both families */
  family: 0 | Family;
  source: Prefix | null;
  inPort: string | null;
  dscp: number | null;
  protocol: number | null;
  sport: [number, number] | null;
  dport: [number, number] | null;
}

export interface SubfibConfig {
  /** "main" for N.0 */
  name: string;
  routes: RouteConfig[];
}

export interface FibConfig {
  name: string;
  /** [0] is the main sub-FIB (N.0), then the named ones in file order (N.1, N.2, ...) */
  subfibs: SubfibConfig[];
  rules: RuleConfig[];
}

export interface BindingConfig {
  source: Prefix;
  fib: string;
}

export interface DataplaneConfig {
  workers: number;
  /** EAL lcore list; null: main lcore 0 and one lcore per worker after it */
  lcores: string | null;
  memoryMb: number;
  ealArgs: string[];
  /** where `srcfib run` writes its status and counters (JSON), or null */
  statusFile: string | null;
  statusIntervalMs: number;
  /** 0: workers poll without pause; else an idle worker sleeps this long between polls */
  idleSleepUs: number;
  /** ESP/AH in the packet loop (a crypto device is brought up at start) */
  ipsec: boolean;
  /** "auto": crypto_aesni_mb, else crypto_openssl; or exactly that driver */
  crypto: "auto" | "crypto_aesni_mb" | "crypto_openssl";
  /** default largest inner packet of an IPsec tunnel */
  tunnelMtu: number;
  /** the IKE daemon's ports: IKE (500) and NAT-T (4500): its IKE passes protect policies there,
   * and inbound ESP in UDP is taken at the NAT-T port */
  ikePorts: [number, number];
}

export interface ApiConfig {
  /** Unix socket path of the gRPC API (mode 0600), or null for none */
  socket: string | null;
  /** TCP listen address "host:port" of the gRPC API, or null */
  tcpListen: string | null;
  /** PEM files for TLS on TCP; ca: client certificates must chain to it */
  tlsCert: string | null;
  tlsKey: string | null;
  tlsCa: string | null;
  /** plaintext TCP (logged as a warning) */
  insecure: boolean;
  /** routes of a client that went away are removed after this long unless it resyncs */
  staleTimeS: number;
  /** most route operations in one batch */
  batchMax: number;
}

export const API_DEFAULTS: ApiConfig = {
  socket: "/run/srcfib/api.sock",
  tcpListen: null,
  tlsCert: null,
  tlsKey: null,
  tlsCa: null,
  insecure: false,
  staleTimeS: 120,
  batchMax: 100000,
};

export interface Config {
  dataplane: DataplaneConfig;
  api: ApiConfig;
  ports: PortConfig[];
  fibs: FibConfig[];
  bindings: BindingConfig[];
  defaultFib: { 4: string | null; 6: string | null };
}

export interface ConfigProblem {
  /** path of the offending key, e.g. "ports[0].mac" ("" for the whole document) */
  key: string;
  message: string;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(source: string, problems: ConfigProblem[]) {
    const lines = problems.map((p) => `  ${p.key === "" ? "(document)" : p.key}: ${p.message}`);
    super(`${source}: ${problems.length} error${problems.length === 1 ? "" : "s"}\n${lines.join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

export const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, icmpv6: 58, sctp: 132 };
export const PORTED = new Set([6, 17, 132]);
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
// No "." in FIB and sub-FIB names: "<fib>.<sub>" names a sub-FIB (counters, plan keys).
export const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;

type Obj = Record<string, unknown>;

class Checker {
  readonly problems: ConfigProblem[] = [];

  fail(key: string, message: string): undefined {
    this.problems.push({ key, message });
    return undefined;
  }

  obj(v: unknown, key: string, allowed: readonly string[]): Obj | undefined {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return this.fail(key, `must be a mapping, got ${kind(v)}`);
    const o = v as Obj;
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.fail(join(key, k), `unknown key (allowed here: ${allowed.join(", ")})`);
    }
    return o;
  }

  list(v: unknown, key: string, optional = true): unknown[] | undefined {
    if (v === undefined || v === null) return optional ? [] : this.fail(key, "is required");
    if (!Array.isArray(v)) return this.fail(key, `must be a list, got ${kind(v)}`);
    return v;
  }

  str(v: unknown, key: string, re?: RegExp, what?: string): string | undefined {
    if (typeof v !== "string" || v.length === 0) return this.fail(key, `must be a non-empty string, got ${kind(v)}`);
    if (re && !re.test(v)) return this.fail(key, `"${v}" is not ${what ?? `a valid value (${re.source})`}`);
    return v;
  }

  int(v: unknown, key: string, lo: number, hi: number): number | undefined {
    if (typeof v !== "number" || !Number.isInteger(v)) return this.fail(key, `must be an integer, got ${kind(v)}`);
    if (v < lo || v > hi) return this.fail(key, `${v} is out of range ${lo}-${hi}`);
    return v;
  }

  /** Runs a parser that throws TypeError/RangeError and records its message under key. */
  parse<T>(key: string, f: () => T): T | undefined {
    try {
      return f();
    } catch (err: unknown) {
      return this.fail(key, err instanceof Error ? err.message : String(err));
    }
  }
}

function kind(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `"${v}"`;
  return `${typeof v} ${String(v)}`;
}

function join(base: string, k: string | number): string {
  if (typeof k === "number") return `${base}[${k}]`;
  return base === "" ? k : `${base}.${k}`;
}

export function formatMac(m: Uint8Array): string {
  return [...m].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

export function parseMac(text: string): Uint8Array {
  const m = /^([0-9a-fA-F]{2})(?::([0-9a-fA-F]{2})){5}$/.test(text) ? text.split(":") : null;
  if (!m) throw new TypeError(`"${text}" is not a MAC address (six hex octets separated by colons)`);
  const b = Uint8Array.from(m.map((x) => parseInt(x, 16)));
  if (b[0]! & 1) throw new RangeError(`${text} is a multicast MAC address; a port needs a unicast one`);
  if (b.every((x) => x === 0)) throw new RangeError("00:00:00:00:00:00 is not a usable MAC address");
  return b;
}

/** "192.0.2.1/24": an interface address (host bits are the point) and its subnet. */
export function parseInterfaceAddress(text: string): InterfaceAddress {
  if (typeof text !== "string") throw new TypeError(`must be an address with a length ("192.0.2.1/24"), got ${kind(text)}`);
  const slash = text.indexOf("/");
  if (slash < 0) throw new TypeError(`"${text}" needs a prefix length ("${text}/24" or "${text}/64")`);
  const a = parseAddress(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  const max = a.family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) throw new RangeError(`"${text}": prefix length must be 0-${max}`);
  const len = Number(lenText);
  const net = a.addr.slice();
  for (let i = 0; i < net.length; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    net[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  const first = a.family === 4 ? a.addr[0]! : -1;
  if (first === 0 || first === 127 || first >= 224) throw new RangeError(`"${text}" cannot be an interface address`);
  if (a.family === 6 && (a.addr[0] === 0xff || a.addr.every((x, i) => x === (i === 15 ? 1 : 0)) || a.addr.every((x) => x === 0))) {
    throw new RangeError(`"${text}" cannot be an interface address`);
  }
  if (a.family === 6 && a.addr[0] === 0xfe && (a.addr[1]! & 0xc0) === 0x80) {
    throw new RangeError(`"${text}" is link-local: the kernel gives the TAP its own link-local address`);
  }
  return { family: a.family, addr: a.addr, len, subnet: { family: a.family, addr: net, len }, text: `${formatAddress(a.family, a.addr)}/${len}` };
}

function portRange(c: Checker, v: unknown, key: string): [number, number] | undefined {
  if (typeof v === "number") {
    const p = c.int(v, key, 0, 65535);
    return p === undefined ? undefined : [p, p];
  }
  if (typeof v === "string") {
    const m = /^(\d{1,5})-(\d{1,5})$/.exec(v) ?? /^(\d{1,5})$/.exec(v);
    if (!m) return c.fail(key, `"${v}" is not a port or a range "low-high"`);
    const lo = Number(m[1]);
    const hi = Number(m[2] ?? m[1]);
    if (lo > 65535 || hi > 65535) return c.fail(key, `"${v}": ports are 0-65535`);
    if (lo > hi) return c.fail(key, `"${v}": the range is empty (low above high)`);
    return [lo, hi];
  }
  return c.fail(key, `must be a port number or a range "low-high", got ${kind(v)}`);
}

function checkDataplane(c: Checker, v: unknown): DataplaneConfig {
  const d: DataplaneConfig = { workers: 1, lcores: null, memoryMb: 512, ealArgs: [], statusFile: null, statusIntervalMs: 1000, idleSleepUs: 0, ipsec: true, crypto: "auto", tunnelMtu: 1400, ikePorts: [500, 4500] };
  if (v === undefined) return d;
  const o = c.obj(v, "dataplane", ["workers", "lcores", "memory_mb", "eal_args", "status_file", "status_interval_ms", "idle_sleep_us", "ipsec", "crypto", "tunnel_mtu", "ike_ports"]);
  if (!o) return d;
  if (o.workers !== undefined) d.workers = c.int(o.workers, "dataplane.workers", 1, LIMITS.workers) ?? 1;
  if (o.lcores !== undefined) d.lcores = c.str(o.lcores, "dataplane.lcores", /^[0-9,\-@()]+$/, "an EAL lcore list (\"0-1\", \"0,2\")") ?? null;
  if (o.memory_mb !== undefined) d.memoryMb = c.int(o.memory_mb, "dataplane.memory_mb", 64, 65536) ?? d.memoryMb;
  if (o.eal_args !== undefined) {
    const l = c.list(o.eal_args, "dataplane.eal_args") ?? [];
    d.ealArgs = l.map((a, i) => c.str(a, `dataplane.eal_args[${i}]`) ?? "");
  }
  if (o.status_file !== undefined) d.statusFile = c.str(o.status_file, "dataplane.status_file") ?? null;
  if (o.status_interval_ms !== undefined) d.statusIntervalMs = c.int(o.status_interval_ms, "dataplane.status_interval_ms", 50, 3600000) ?? 1000;
  if (o.idle_sleep_us !== undefined) d.idleSleepUs = c.int(o.idle_sleep_us, "dataplane.idle_sleep_us", 0, 10000) ?? 0;
  if (o.ipsec !== undefined) {
    if (typeof o.ipsec === "boolean") d.ipsec = o.ipsec;
    else c.fail("dataplane.ipsec", `must be true or false, got ${kind(o.ipsec)}`);
  }
  if (o.crypto !== undefined) {
    const v = c.str(o.crypto, "dataplane.crypto", /^(auto|crypto_aesni_mb|crypto_openssl)$/, '"auto", "crypto_aesni_mb" or "crypto_openssl"');
    if (v !== undefined) d.crypto = v as DataplaneConfig["crypto"];
  }
  if (o.tunnel_mtu !== undefined) d.tunnelMtu = c.int(o.tunnel_mtu, "dataplane.tunnel_mtu", 576, 9000) ?? d.tunnelMtu;
  if (o.ike_ports !== undefined) {
    const l = c.list(o.ike_ports, "dataplane.ike_ports");
    if (l && l.length !== 2) c.fail("dataplane.ike_ports", `must be two ports, IKE's and NAT-T's (strongSwan's charon.port and charon.port_nat_t: [500, 4500]), got ${l.length}`);
    else if (l) {
      const p = l.map((x, i) => c.int(x, `dataplane.ike_ports[${i}]`, 1, 65535));
      if (p[0] !== undefined && p[1] !== undefined) {
        if (p[0] === p[1]) c.fail("dataplane.ike_ports[1]", `must differ from the IKE port ${p[0]}`);
        else d.ikePorts = [p[0], p[1]];
      }
    }
  }
  return d;
}

function checkApi(c: Checker, v: unknown): ApiConfig {
  const a: ApiConfig = { ...API_DEFAULTS };
  if (v === undefined) return a;
  const o = c.obj(v, "api", ["socket", "tcp", "stale_time_s", "batch_max"]);
  if (!o) return a;
  if (o.socket === false || o.socket === null) a.socket = null;
  else if (o.socket !== undefined) a.socket = c.str(o.socket, "api.socket") ?? a.socket;
  if (o.stale_time_s !== undefined) a.staleTimeS = c.int(o.stale_time_s, "api.stale_time_s", 0, 86400) ?? a.staleTimeS;
  if (o.batch_max !== undefined) a.batchMax = c.int(o.batch_max, "api.batch_max", 1, 1000000) ?? a.batchMax;
  if (o.tcp !== undefined) {
    const t = c.obj(o.tcp, "api.tcp", ["listen", "cert", "key", "ca", "insecure"]);
    if (t) {
      a.tcpListen = c.str(t.listen, "api.tcp.listen", /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'a "host:port" ("127.0.0.1:50051", "[::1]:50051")') ?? null;
      for (const k of ["cert", "key", "ca"] as const) {
        if (t[k] !== undefined) {
          const f = c.str(t[k], `api.tcp.${k}`) ?? null;
          if (k === "cert") a.tlsCert = f;
          else if (k === "key") a.tlsKey = f;
          else a.tlsCa = f;
        }
      }
      if (t.insecure !== undefined) {
        if (typeof t.insecure !== "boolean") c.fail("api.tcp.insecure", `must be true or false, got ${kind(t.insecure)}`);
        else a.insecure = t.insecure;
      }
      const tls = a.tlsCert !== null || a.tlsKey !== null || a.tlsCa !== null;
      if (tls && a.insecure) c.fail("api.tcp", "insecure: true and TLS files together: choose one");
      if (!a.insecure && (a.tlsCert === null || a.tlsKey === null || a.tlsCa === null)) {
        c.fail("api.tcp", "TCP needs TLS with client certificates (cert, key and ca), or insecure: true for plaintext");
      }
    }
  }
  return a;
}

function checkPorts(c: Checker, v: unknown): PortConfig[] {
  const out: PortConfig[] = [];
  const fileIndex: number[] = []; // out[k] is ports[fileIndex[k]] in the file
  const list = c.list(v, "ports", false);
  if (!list) return out;
  if (list.length === 0) c.fail("ports", "at least one port is needed");
  if (list.length > LIMITS.ports) c.fail("ports", `${list.length} ports, at most ${LIMITS.ports}`);
  const names = new Set<string>();
  const taps = new Set<string>();
  const devices = new Set<string>();
  list.forEach((pv, i) => {
    const key = `ports[${i}]`;
    const o = c.obj(pv, key, ["name", "device", "tap", "mac", "mtu", "mru", "addresses", "fib"]);
    if (!o) return;
    const name = c.str(o.name, `${key}.name`, IFNAME, "an interface name (1-15 of A-Z a-z 0-9 _ . -)");
    if (name !== undefined) {
      if (names.has(name)) c.fail(`${key}.name`, `"${name}" is already the name of another port`);
      names.add(name);
    }
    const device = c.str(o.device, `${key}.device`);
    if (device !== undefined) {
      if (devices.has(device)) c.fail(`${key}.device`, `"${device}" is already used by another port`);
      devices.add(device);
    }
    let tap: string | null = name ?? null;
    if (o.tap === false) tap = null;
    else if (o.tap !== undefined) tap = c.str(o.tap, `${key}.tap`, IFNAME, "an interface name (1-15 of A-Z a-z 0-9 _ . -), or false for no TAP") ?? null;
    if (tap !== null) {
      if (taps.has(tap)) c.fail(`${key}.tap`, `TAP name "${tap}" is already used by another port`);
      taps.add(tap);
    }
    const mac = o.mac === undefined ? null : typeof o.mac === "string" ? (c.parse(`${key}.mac`, () => parseMac(o.mac as string)) ?? null) : (c.fail(`${key}.mac`, `must be a MAC address string, got ${kind(o.mac)}`) ?? null);
    const mtu = o.mtu === undefined ? 1500 : (c.int(o.mtu, `${key}.mtu`, 576, 9000) ?? 1500);
    // DPDK 22.11's af_packet PMD joins a fanout group with PACKET_FANOUT_FLAG_DEFRAG: the kernel
    // hands it IPv4 datagrams reassembled, larger than the link MTU. Accept them (they are
    // fragmented again on egress) instead of dropping every fragmented datagram.
    const afPacket = typeof o.device === "string" && o.device.startsWith("net_af_packet");
    const mru = o.mru === undefined ? (afPacket ? 9000 : mtu) : (c.int(o.mru, `${key}.mru`, 576, 65535) ?? mtu);
    if (mru < mtu) c.fail(`${key}.mru`, `${mru} is below the port's MTU ${mtu}`);
    const addresses: InterfaceAddress[] = [];
    const seen = new Set<string>();
    (c.list(o.addresses, `${key}.addresses`) ?? []).forEach((a, j) => {
      const ak = `${key}.addresses[${j}]`;
      const ia = c.parse(ak, () => parseInterfaceAddress(a as string));
      if (!ia) return;
      if (seen.has(ia.text)) return c.fail(ak, `${ia.text} is listed twice`);
      seen.add(ia.text);
      if (ia.family === 6 && mtu < 1280) c.fail(`${key}.mtu`, `${mtu} is below IPv6's minimum of 1280 and the port has IPv6 address ${ia.text}`);
      addresses.push(ia);
      return undefined;
    });
    const fib = o.fib === undefined ? null : (c.str(o.fib, `${key}.fib`) ?? null);
    if (name !== undefined && device !== undefined) {
      out.push({ name, device, tap, mac, mtu, mru, addresses, fib });
      fileIndex.push(i);
    }
  });
  // The same address on two ports is ambiguous for local delivery and for ICMP sources.
  const owner = new Map<string, string>();
  out.forEach((p, k) =>
    p.addresses.forEach((a, j) => {
      const addrText = formatAddress(a.family, a.addr);
      const prev = owner.get(addrText);
      if (prev !== undefined) c.fail(`ports[${fileIndex[k]!}].addresses[${j}]`, `${addrText} is already an address of port ${prev}`);
      owner.set(addrText, p.name);
    }),
  );
  return out;
}

function checkRoutes(c: Checker, v: unknown, key: string, ports: Map<string, PortConfig>): RouteConfig[] {
  const out: RouteConfig[] = [];
  const seen = new Map<string, number>();
  (c.list(v, key) ?? []).forEach((rv, i) => {
    const rk = `${key}[${i}]`;
    const o = c.obj(rv, rk, ["prefix", "nexthops", "type"]);
    if (!o) return;
    const prefix = typeof o.prefix === "string" ? c.parse(`${rk}.prefix`, () => parsePrefix(o.prefix as string)) : c.fail(`${rk}.prefix`, `must be a prefix string, got ${kind(o.prefix)}`);
    if (prefix) {
      const t = formatPrefix(prefix);
      const prev = seen.get(t);
      if (prev !== undefined) c.fail(`${rk}.prefix`, `${t} is already the prefix of ${key}[${prev}]`);
      seen.set(t, i);
    }
    let rkind: RouteKind = "forward";
    if (o.type !== undefined) {
      if (o.type === "blackhole" || o.type === "unreachable" || o.type === "prohibit" || o.type === "forward") rkind = o.type;
      else c.fail(`${rk}.type`, `${kind(o.type)} is not a route type (forward, blackhole, unreachable, prohibit)`);
    }
    const nexthops: NexthopConfig[] = [];
    if (rkind !== "forward") {
      if (o.nexthops !== undefined) c.fail(`${rk}.nexthops`, `a ${rkind} route has no next hops`);
    } else {
      const nl = c.list(o.nexthops, `${rk}.nexthops`, false);
      if (nl && nl.length === 0) c.fail(`${rk}.nexthops`, "a forward route needs at least one next hop (or a type: blackhole, unreachable, prohibit)");
      if (nl && nl.length > LIMITS.nexthops) c.fail(`${rk}.nexthops`, `${nl.length} next hops, at most ${LIMITS.nexthops}`);
      const dup = new Set<string>();
      (nl ?? []).forEach((nv, j) => {
        const nk = `${rk}.nexthops[${j}]`;
        const n = c.obj(nv, nk, ["via", "port", "weight", "mac"]);
        if (!n) return;
        const port = c.str(n.port, `${nk}.port`);
        if (port !== undefined && !ports.has(port)) c.fail(`${nk}.port`, `no port named "${port}" (ports: ${[...ports.keys()].join(", ")})`);
        let via: Address | null = null;
        if (n.via !== undefined && n.via !== null) {
          via =
            typeof n.via === "string"
              ? (c.parse(`${nk}.via`, () => parseAddress(n.via as string, prefix?.family)) ?? null)
              : (c.fail(`${nk}.via`, `must be an address string, got ${kind(n.via)}`) ?? null);
        }
        const weight = n.weight === undefined ? 1 : c.int(n.weight, `${nk}.weight`, 1, LIMITS.weight);
        let mac: Uint8Array | null = null;
        if (n.mac !== undefined) {
          if (via === null) c.fail(`${nk}.mac`, "a static MAC needs a gateway (via)");
          mac = typeof n.mac === "string" ? (c.parse(`${nk}.mac`, () => parseMac(n.mac as string)) ?? null) : (c.fail(`${nk}.mac`, `must be a MAC address string, got ${kind(n.mac)}`) ?? null);
        }
        const dk = `${via ? formatAddress(via.family, via.addr) : "-"}%${port ?? ""}`;
        if (dup.has(dk)) c.fail(nk, `the same next hop as an earlier one (${via ? formatAddress(via.family, via.addr) : "direct"} on ${port ?? "?"})`);
        dup.add(dk);
        if (port !== undefined && weight !== undefined) nexthops.push({ via, port, weight, mac });
      });
      if (nexthops.length > 1 && nexthops.some((n) => n.via === null)) {
        c.fail(`${rk}.nexthops`, "a direct next hop (no via: the destination is on the link) must be the route's only next hop");
      }
    }
    if (prefix) out.push({ prefix, kind: rkind, nexthops });
  });
  return out;
}

function checkRule(c: Checker, v: unknown, key: string, subfibs: Set<string>, ports: Map<string, PortConfig>, defaultPriority: number): RuleConfig | undefined {
  const o = c.obj(v, key, ["priority", "subfib", "family", "source", "in_port", "dscp", "protocol", "sport", "dport"]);
  if (!o) return undefined;
  const priority = o.priority === undefined ? defaultPriority : c.int(o.priority, `${key}.priority`, 0, 0xffffffff);
  const subfib = c.str(o.subfib, `${key}.subfib`);
  if (subfib !== undefined && !subfibs.has(subfib)) c.fail(`${key}.subfib`, `no sub-FIB named "${subfib}" in this FIB (sub-FIBs: ${[...subfibs].join(", ")})`);
  let family: 0 | Family = 0;
  if (o.family !== undefined) {
    if (o.family === 4 || o.family === 6) family = o.family;
    else c.fail(`${key}.family`, `must be 4 or 6, got ${kind(o.family)}`);
  }
  let source: Prefix | null = null;
  if (o.source !== undefined) {
    source = typeof o.source === "string" ? (c.parse(`${key}.source`, () => parsePrefix(o.source as string)) ?? null) : (c.fail(`${key}.source`, `must be a prefix string, got ${kind(o.source)}`) ?? null);
    if (source && family !== 0 && source.family !== family) c.fail(`${key}.source`, `is IPv${source.family} but the rule's family is ${family}`);
    if (source) family = source.family;
  }
  const inPort = o.in_port === undefined ? null : (c.str(o.in_port, `${key}.in_port`) ?? null);
  if (inPort !== null && !ports.has(inPort)) c.fail(`${key}.in_port`, `no port named "${inPort}"`);
  const dscp = o.dscp === undefined ? null : (c.int(o.dscp, `${key}.dscp`, 0, 63) ?? null);
  let protocol: number | null = null;
  if (o.protocol !== undefined) {
    if (typeof o.protocol === "string") {
      const p = PROTOCOLS[o.protocol.toLowerCase()];
      if (p === undefined) c.fail(`${key}.protocol`, `unknown protocol "${o.protocol}" (a number 0-255 or one of ${Object.keys(PROTOCOLS).join(", ")})`);
      else protocol = p;
    } else protocol = c.int(o.protocol, `${key}.protocol`, 0, 255) ?? null;
  }
  const sport = o.sport === undefined ? null : (portRange(c, o.sport, `${key}.sport`) ?? null);
  const dport = o.dport === undefined ? null : (portRange(c, o.dport, `${key}.dport`) ?? null);
  if ((sport || dport) && protocol !== null && !PORTED.has(protocol)) {
    c.fail(key, `port ranges need protocol tcp, udp or sctp (or none), not ${protocol}`);
  }
  if (subfib === undefined || priority === undefined) return undefined;
  return { priority, subfib, family, source, inPort, dscp, protocol, sport, dport };
}

function checkFibs(c: Checker, v: unknown, ports: Map<string, PortConfig>): FibConfig[] {
  const out: FibConfig[] = [];
  const list = c.list(v, "fibs", false);
  if (!list) return out;
  if (list.length === 0) c.fail("fibs", "at least one FIB is needed");
  if (list.length > LIMITS.fibs) c.fail("fibs", `${list.length} FIBs, at most ${LIMITS.fibs}`);
  const names = new Set<string>();
  let nsub = 0;
  list.forEach((fv, i) => {
    const key = `fibs[${i}]`;
    const o = c.obj(fv, key, ["name", "routes", "subfibs", "rules"]);
    if (!o) return;
    const name = c.str(o.name, `${key}.name`, NAME, "a name (a letter, then letters, digits, _ -)");
    if (name !== undefined) {
      if (names.has(name)) c.fail(`${key}.name`, `"${name}" is already the name of another FIB`);
      names.add(name);
    }
    const subfibs: SubfibConfig[] = [{ name: "main", routes: checkRoutes(c, o.routes, `${key}.routes`, ports) }];
    const subNames = new Set<string>(["main"]);
    (c.list(o.subfibs, `${key}.subfibs`) ?? []).forEach((sv, j) => {
      const sk = `${key}.subfibs[${j}]`;
      const so = c.obj(sv, sk, ["name", "routes"]);
      if (!so) return;
      const sn = c.str(so.name, `${sk}.name`, NAME, "a name (a letter, then letters, digits, _ -)");
      if (sn !== undefined && subNames.has(sn)) c.fail(`${sk}.name`, sn === "main" ? `"main" is the FIB's own routes (N.0)` : `"${sn}" is already a sub-FIB of this FIB`);
      if (sn !== undefined) subNames.add(sn);
      const routes = checkRoutes(c, so.routes, `${sk}.routes`, ports);
      if (sn !== undefined) subfibs.push({ name: sn, routes });
    });
    nsub += subfibs.length;
    const rl = c.list(o.rules, `${key}.rules`) ?? [];
    if (rl.length > LIMITS.rulesPerFib) c.fail(`${key}.rules`, `${rl.length} rules, at most ${LIMITS.rulesPerFib} per FIB`);
    // Without a priority a rule comes 10 after the one before it (the first: 0).
    const rules: RuleConfig[] = [];
    const prios = new Map<number, number>();
    let next = 0;
    rl.forEach((rv, j) => {
      const r = checkRule(c, rv, `${key}.rules[${j}]`, subNames, ports, next);
      if (!r) return;
      const prev = prios.get(r.priority);
      if (prev !== undefined) c.fail(`${key}.rules[${j}].priority`, `${r.priority} is already the priority of rules[${prev}]`);
      prios.set(r.priority, j);
      next = r.priority + 10;
      rules.push(r);
    });
    rules.sort((a, b) => a.priority - b.priority);
    if (name !== undefined) out.push({ name, subfibs, rules });
  });
  if (nsub > LIMITS.subfibs) c.fail("fibs", `${nsub} sub-FIBs in all, at most ${LIMITS.subfibs}`);
  return out;
}

function checkBindings(c: Checker, v: unknown, fibs: Set<string>, ports: Map<string, PortConfig>): BindingConfig[] {
  const out: BindingConfig[] = [];
  const seen = new Map<string, number>();
  (c.list(v, "bindings") ?? []).forEach((bv, i) => {
    const key = `bindings[${i}]`;
    const o = c.obj(bv, key, ["source", "fib", "interface"]);
    if (!o) return;
    const source = typeof o.source === "string" ? c.parse(`${key}.source`, () => parsePrefix(o.source as string)) : c.fail(`${key}.source`, `must be a prefix string, got ${kind(o.source)}`);
    if (source) {
      const t = formatPrefix(source);
      const prev = seen.get(t);
      if (prev !== undefined) c.fail(`${key}.source`, `${t} is already bound by bindings[${prev}]`);
      seen.set(t, i);
    }
    let fib: string | undefined;
    if ((o.fib === undefined) === (o.interface === undefined)) {
      c.fail(key, "needs exactly one of fib (a FIB name) or interface (a port whose fib is used)");
    } else if (o.fib !== undefined) {
      fib = c.str(o.fib, `${key}.fib`);
      if (fib !== undefined && !fibs.has(fib)) c.fail(`${key}.fib`, `no FIB named "${fib}"`);
    } else {
      const pn = c.str(o.interface, `${key}.interface`);
      const p = pn === undefined ? undefined : ports.get(pn);
      if (pn !== undefined && !p) c.fail(`${key}.interface`, `no port named "${pn}"`);
      else if (p && p.fib === null) c.fail(`${key}.interface`, `port "${pn}" has no fib to bind to (give it one: ports[].fib)`);
      else fib = p?.fib ?? undefined;
    }
    if (source && fib !== undefined) out.push({ source, fib });
  });
  return out;
}

/** Validates a parsed document; throws ConfigError listing every problem. */
export function checkConfig(doc: unknown, source = "configuration"): Config {
  const c = new Checker();
  const o = c.obj(doc, "", ["dataplane", "api", "ports", "fibs", "bindings", "default_fib"]);
  if (!o) throw new ConfigError(source, c.problems);
  const dataplane = checkDataplane(c, o.dataplane);
  const api = checkApi(c, o.api);
  const ports = checkPorts(c, o.ports);
  const portMap = new Map(ports.map((p) => [p.name, p]));
  const fibs = checkFibs(c, o.fibs, portMap);
  const fibNames = new Set(fibs.map((f) => f.name));
  ports.forEach((p, i) => {
    if (p.fib !== null && !fibNames.has(p.fib)) c.fail(`ports[${i}].fib`, `no FIB named "${p.fib}"`);
  });
  const bindings = checkBindings(c, o.bindings, fibNames, portMap);
  // One gateway, one static MAC: two routes may not disagree about it.
  const macs = new Map<string, { mac: string; where: string }>();
  fibs.forEach((f, i) =>
    f.subfibs.forEach((s) =>
      s.routes.forEach((r) =>
        r.nexthops.forEach((n) => {
          if (!n.via || !n.mac) return;
          const gw = `${formatAddress(n.via.family, n.via.addr)} on ${n.port}`;
          const mac = [...n.mac].map((b) => b.toString(16).padStart(2, "0")).join(":");
          const where = `fibs[${i}]${s.name === "main" ? "" : ` sub-FIB ${s.name}`} route ${formatPrefix(r.prefix)}`;
          const prev = macs.get(gw);
          if (prev && prev.mac !== mac) c.fail(`fibs[${i}]`, `${where} gives gateway ${gw} MAC ${mac}, but ${prev.where} gives it ${prev.mac}`);
          else if (!prev) macs.set(gw, { mac, where });
        }),
      ),
    ),
  );
  const defaultFib: Config["defaultFib"] = { 4: null, 6: null };
  if (o.default_fib !== undefined) {
    const one = (v: unknown, key: string): string | null => {
      if (v === null || v === undefined) return null;
      const n = c.str(v, key);
      if (n !== undefined && !fibNames.has(n)) c.fail(key, `no FIB named "${n}"`);
      return n ?? null;
    };
    if (typeof o.default_fib === "string") defaultFib[4] = defaultFib[6] = one(o.default_fib, "default_fib");
    else if (typeof o.default_fib !== "object" || o.default_fib === null || Array.isArray(o.default_fib)) {
      c.fail("default_fib", `must be a FIB name or a mapping {ipv4: NAME, ipv6: NAME}, got ${kind(o.default_fib)}`);
    } else {
      const d = c.obj(o.default_fib, "default_fib", ["ipv4", "ipv6"]);
      if (d) {
        defaultFib[4] = one(d.ipv4, "default_fib.ipv4");
        defaultFib[6] = one(d.ipv6, "default_fib.ipv6");
      }
    }
  }
  if (c.problems.length > 0) throw new ConfigError(source, c.problems);
  return { dataplane, api, ports, fibs, bindings, defaultFib };
}

/** Parses YAML or JSON text; syntax errors become a ConfigError with the line. */
export function parseConfigText(text: string, source = "configuration"): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => {
        const first = (e.message.split("\n")[0] ?? e.code).replace(/ at line \d+, column \d+:?$/, "");
        return { key: "", message: `${e.linePos?.[0] ? `line ${e.linePos[0].line}: ` : ""}${first}` };
      }),
    );
  }
  return checkConfig(doc.toJS({ maxAliasCount: 100 }) as unknown, source);
}

export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err: unknown) {
    throw new ConfigError(file, [{ key: "", message: `cannot read the file: ${err instanceof Error ? err.message : String(err)}` }]);
  }
  return parseConfigText(text, file);
}
