/**
 * Loads the native addon. It tries the build directories in a fixed order and, when none loads,
 * says what to install or run instead of a bare "module not found".
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface LpmNativeStats {
  /** prefixes in the table */
  routes: number;
  /** memory of the lookup structure (direct table, nodes, leaves, next-hop dictionary) */
  bytes: number;
  /** the same with blocks freed but not yet reused */
  bytesReserved: number;
  /** memory of the control half (radix tree, dictionary index) */
  ribBytes: number;
  /** internal trie nodes */
  nodes: number;
  leaves: number;
  /** distinct next-hop values */
  nextHops: number;
  /** retired blocks waiting for a grace period (internal) */
  pendingBlocks: number;
}

export interface NativeLpm {
  add(addr: Uint8Array, len: number, nh: number): number;
  delete(addr: Uint8Array, len: number): number;
  get(addr: Uint8Array, len: number): number;
  lookup(addr: Uint8Array): number;
  lookupBatch(addrs: Uint8Array, out: Uint32Array): void;
  stats(): LpmNativeStats;
  build(addrs: Uint8Array, lens: Uint8Array, nhs: Uint32Array): Promise<number>;
  walk(): { addrs: Uint8Array; lens: Uint8Array; nhs: Uint32Array };
}

/** Native dataplane (native/addon/addon_dp.cc); table calls return a dp_err code (0 ok). */
export interface NativeDataplane {
  start(): void;
  stop(): void;
  close(): void;
  portInfo(port: number): { dpdkPort: number; tapPort: number; mac: Uint8Array };
  portSet(port: number, conf: { mtu: number; mru: number; ip4: Uint8Array | null; ip6: Uint8Array | null }): number;
  bindingSet(family: 4 | 6, addr: Uint8Array, len: number, fib: number): number;
  bindingDelete(family: 4 | 6, addr: Uint8Array, len: number): number;
  bindingDefault(family: 4 | 6, fib: number): number;
  fibBaseSet(fib: number, defaultSubfib: number, rules: NativeRule[]): number;
  fibBaseDelete(fib: number): number;
  routeSet(subfib: number, family: 4 | 6, addr: Uint8Array, len: number, nhg: number): number;
  routeDelete(subfib: number, family: 4 | 6, addr: Uint8Array, len: number): number;
  /** n changes as one update, all or nothing (nhgs[i] 0xffffffff deletes); old[i] gets the previous nhg id or 0xffffffff; [rc, applied] */
  routesApply(subfib: number, family: 4 | 6, addrs: Uint8Array, lens: Uint8Array, nhgs: Uint32Array, old: Uint32Array): [number, number];
  subfibLoad(subfib: number, family: 4 | 6, addrs: Uint8Array, lens: Uint8Array, nhgs: Uint32Array): Promise<number>;
  subfibLookup(subfib: number, family: 4 | 6, addr: Uint8Array): number;
  nhgSet(id: number, kind: number, adjs: Uint16Array, weights: Uint16Array): number;
  nhgDelete(id: number): number;
  adjSet(id: number, adj: { port: number; mtu: number; resolved: boolean; dst: Uint8Array | null }): number;
  adjDelete(id: number): number;
  counters(): NativeCounters;
  takeResolve(): Uint16Array;
  reclaim(): void;
  /** a grace period for ids the control plane gives back (dp_tables_grace_*): its token, and
   *  whether every worker has been quiescent since (never blocks) */
  graceStart(): number;
  graceDone(token: number): boolean;
  explain(q: { family: 4 | 6; src: Uint8Array; dst: Uint8Array; inPort: number; proto: number; dscp: number; hasPorts: boolean; sport: number; dport: number }): NativeExplain;
  portLink(port: number): { up: boolean; speedMbps: number };
  /** the crypto device behind IPsec, or null when IPsec is off */
  ipsecInfo(): { driver: string; whyNot: string } | null;
  /** [rc, message]: the message never holds key bytes */
  saAdd(id: number, spec: NativeSaSpec): [number, string];
  saDelete(id: number): [number, string];
  saExpire(id: number): number;
  saSetLife(id: number, softBytes: number, hardBytes: number, softPackets: number, hardPackets: number): number;
  saStats(id: number): { packets: number; bytes: number; softExpired: boolean; hardExpired: boolean } | null;
  /** outSa4 / outSa6: SA ids or 0xffff (none) */
  tunnelSet(id: number, mtu4: number, mtu6: number, outSa4: number, outSa6: number): [number, string];
  tunnelDelete(id: number): number;
  /** dir 0: inbound, 1: outbound; the list in match order */
  spdSet(dir: 0 | 1, policies: NativeSp[]): [number, string];
}

/** dp_sa_spec + ipsec_sa_conf (native/dp/dp_ipsec.h, native/ipsec/ipsec_esp.h). */
export interface NativeSaSpec {
  proto: 50 | 51;
  tunnel: number;
  spi: number;
  inbound: boolean;
  tunnelMode: boolean;
  outerFamily: 4 | 6;
  innerFamily: 4 | 6;
  src: Uint8Array;
  dst: Uint8Array;
  /** 1 AES-GCM, 2 AES-CBC, 0 none (AH) */
  cipher: number;
  /** 0 none, 1 HMAC-SHA-256-128, 2 HMAC-SHA1-96 */
  auth: number;
  key: Uint8Array | null;
  salt: Uint8Array | null;
  authKey: Uint8Array | null;
  replayWindow: number;
  esn: boolean;
  natt: boolean;
  nattSport: number;
  nattDport: number;
  ttl: number;
  softBytes: number;
  hardBytes: number;
  softPackets: number;
  hardPackets: number;
}

export interface NativeSp {
  id: number;
  family: 4 | 6;
  src: Uint8Array;
  srcLen: number;
  dst: Uint8Array;
  dstLen: number;
  /** -1: any */
  proto: number;
  /** 0 bypass, 1 discard, 2 protect */
  action: number;
  tunnel: number;
  sport: [number, number];
  dport: [number, number];
}

/** dp_explain_out (native/dp/dp_explain.h): ids, 0xFFFF / 0xFFFFFFFF / -1 for none. */
export interface NativeExplain {
  fib: number;
  byDefault: boolean;
  rule: number;
  subfib: number;
  nhg: number;
  kind: number;
  adj: number;
  resolved: boolean;
  outPort: number;
  mac: Uint8Array;
  drop: number;
  /** IPsec policy ids that select it (inbound, outbound), -1: none */
  spIn: number;
  spOut: number;
  /** IKE an inbound policy refuses unless it is for the router */
  localOnly: boolean;
  /** into this dataplane tunnel (a protect policy or a route), 0xffff: none */
  tunnel: number;
}

export interface NativeRule {
  id: number;
  subfib: number;
  inPort: number;
  family: 0 | 4 | 6;
  src: Uint8Array;
  srcLen: number;
  dscp: number;
  proto: number;
  sport: [number, number];
  dport: [number, number];
}

export interface NativeCounters {
  drop: Float64Array;
  /** DP_MAX_PORTS x portCounterFields */
  port: Float64Array;
  fib: Float64Array;
  subfib: Float64Array;
  rule: Float64Array;
  /** (packets, bytes) per adjacency */
  adj: Float64Array;
  /** packets received by each worker lcore (ports and TAPs) */
  workerRx: Float64Array;
  /** (packets, bytes, replay, auth, other) per SA id */
  sa: Float64Array;
  /** hits per policy id, inbound and outbound */
  spIn: Float64Array;
  spOut: Float64Array;
}

export interface NativeNeighEvent {
  deleted: boolean;
  family: 4 | 6;
  ifindex: number;
  state: number;
  flags: number;
  addr: Uint8Array;
  lladdr: Uint8Array | null;
}

export interface NativeNeigh {
  dump(): void;
  read(): NativeNeighEvent[] | "overrun";
  resolve(family: 4 | 6, ifindex: number, addr: Uint8Array): void;
  close(): void;
}

export interface NativeAddon {
  ealInit(args: string[]): void;
  NativeDataplane: new (conf: {
    ports: { devargs: string; tap: string; mac: Uint8Array | null; mtu: number }[];
    workers: number;
    mbufs: number;
    /** 0: workers poll without pause; else idle workers sleep this long between polls */
    idleSleepUs?: number;
    /** bring up a crypto device and IPsec */
    ipsec?: boolean;
    /** "" or undefined: crypto_aesni_mb, else crypto_openssl; or exactly this driver */
    crypto?: string;
    /** the IKE daemon's IKE and NAT-T ports (default 500, 4500) */
    ikePorts?: [number, number];
  }) => NativeDataplane;
  NativeNeigh: new () => NativeNeigh;
  dropNames: string[];
  dropHelp: string[];
  dpLimits: {
    ports: number;
    fibs: number;
    subfibs: number;
    rulesPerFib: number;
    ruleIds: number;
    nhgs: number;
    adjs: number;
    workers: number;
    portCounterFields: number;
    sas: number;
    tunnels: number;
    sps: number;
  };
  NativeLpm: new (family: 4 | 6) => NativeLpm;
  lpmStatus: { OK: number; NOENT: number; NOMEM: number; NH_FULL: number; INVAL: number };
  LPM_MISS: number;
  LPM_NH_MAX: number;
  LPM_DISTINCT_NH_MAX: number;
}

const FIX =
  "Build it with `bash scripts/setup.sh` (installs the Debian packages libdpdk-dev, pkg-config and " +
  "build-essential, then runs `npx node-gyp rebuild`), or only `npx node-gyp rebuild` if the packages are there.";

function packageRoot(): string {
  // src/lookup/native.ts and dist/lookup/native.js both sit two levels below the package root.
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
}

function explain(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const lib = /(librte_\w+|libnuma|libpcap)[\w.]*\.so[\w.]*/.exec(msg);
  if (lib) {
    return `the addon is built but the shared library ${lib[0]} is missing: install the Debian package libdpdk-dev (apt-get install libdpdk-dev) or rebuild on this machine. ${FIX}`;
  }
  if (/NODE_MODULE_VERSION|was compiled against a different Node/.test(msg)) {
    return `the addon was built for another Node.js version (${process.version} here): run \`npx node-gyp rebuild\`.`;
  }
  return msg;
}

let cached: NativeAddon | undefined;

export function loadNative(): NativeAddon {
  if (cached) return cached;
  const root = packageRoot();
  const candidates = [join(root, "build", "Release", "srcfib.node"), join(root, "build", "Debug", "srcfib.node")];
  const require = createRequire(import.meta.url);
  const problems: string[] = [];
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    try {
      cached = require(file) as NativeAddon;
      return cached;
    } catch (err: unknown) {
      problems.push(`${file}: ${explain(err)}`);
    }
  }
  const tried = candidates.join(", ");
  throw new Error(
    problems.length > 0
      ? `srcfib native addon failed to load:\n  ${problems.join("\n  ")}`
      : `srcfib native addon not found (looked for ${tried}). ${FIX}`,
  );
}
