/**
 * The driver between a plan (plan.ts) and the native dataplane's tables.
 *
 * It owns the ids (FIB bases, sub-FIBs, nexthop groups, adjacencies: dense small integers the
 * native tables index by) and a copy of everything it installed, so that applying a new plan
 * changes only what differs, in make-before-break order: adjacencies and groups before the routes
 * that use them, routes before the FIB bases and bindings that lead to them, and deletions last.
 * Flows whose path did not change never see a missing object.
 *
 * Kernel neighbours (rtnetlink, on the ports' TAPs) resolve adjacencies, and a neighbour inside a
 * connected subnet becomes a host route to its adjacency in every sub-FIB where that subnet is the
 * best match (before it is known, such packets take the "glean" path: up to the kernel, which
 * resolves and forwards). Adjacencies the workers found unresolved are handed to the kernel to
 * resolve (ARP / ND through the TAP), at most once a second each.
 */
import { formatAddress, formatPrefix, longestKey, parseAddress, parsePrefix, parsePrefixInto, prefixContains, type Family, type Prefix } from "../lookup/prefix.js";
import { formatMac } from "../api/config.js";
import { loadNative, type NativeCounters, type NativeDataplane, type NativeNeigh, type NativeNeighEvent, type NativeRule } from "../lookup/native.js";
import { FreeIds } from "../lookup/grace.js";
import { adjKey, fwdKey, type Plan, type PlanAdj, type PlanNhg } from "./plan.js";
import type { Rib, RouteChanges } from "./rib.js";

const DP_ERRORS: Record<number, string> = {
  [-1]: "invalid argument",
  [-2]: "no such object",
  [-3]: "out of memory",
  [-4]: "still in use",
  [-5]: "route table error",
  [-103]: "too many distinct nexthop groups in one sub-FIB",
  [-102]: "out of memory",
};

const KIND_CODE: Record<PlanNhg["kind"], number> = { forward: 0, blackhole: 1, unreachable: 2, prohibit: 3, local: 4, ipsec: 5 };
const ANY = 0xffff;

// NUD states with a usable link-layer address (linux/neighbour.h).
const NUD_INCOMPLETE = 0x01;
const NUD_STALE = 0x04;
const NUD_FAILED = 0x20;
const NUD_NOARP = 0x40;
const NUD_VALID = 0x02 | NUD_STALE | 0x08 | 0x10 | 0x80; // reachable, stale, delay, probe, permanent
/** Bulk-load a sub-FIB off the event loop when it starts empty with at least this many routes. */
const BULK_MIN = 4096;
const RESOLVE_INTERVAL_MS = 1000;
/** routesApply's "delete" next hop and the native tables' "no route" */
const NONE = 0xffffffff;

export class DataplaneError extends Error {
  constructor(what: string, rc: number) {
    super(`${what}: ${DP_ERRORS[rc] ?? `error ${rc}`}`);
    this.name = "DataplaneError";
  }
}

function ok(rc: number, what: () => string): void {
  if (rc !== 0) throw new DataplaneError(what(), rc);
}

/**
 * Dense ids for keys. The dataplane counts by id, and an id freed by one key is taken again by
 * another; the counters only ever grow, so with `counts` (what the dataplane's counters of an id
 * read now) a key that takes a used id keeps their values at that moment as its base, and
 * `since` gives what was counted for the key itself.
 */
class Ids {
  readonly #byKey = new Map<string, number>();
  readonly #byId = new Map<number, string>();
  readonly #free: FreeIds;
  readonly #base = new Map<number, number[]>();
  #next = 0;
  constructor(
    readonly what: string,
    readonly max: number,
    readonly counts: ((id: number) => number[]) | null,
    /** told when an id is freed (a reading of the counters from before is stale for it) */
    readonly released: (() => void) | null,
    /** the dataplane: a freed id is taken again after the workers' grace period */
    dp: ConstructorParameters<typeof FreeIds>[0],
  ) {
    this.#free = new FreeIds(dp);
  }
  get(key: string): number | undefined {
    return this.#byKey.get(key);
  }
  take(key: string): number {
    const have = this.#byKey.get(key);
    if (have !== undefined) return have;
    const reused = this.#free.take(this.#next >= this.max); // fresh ids before waiting
    const id = reused ?? this.#next++;
    if (id >= this.max) throw new RangeError(`out of ${this.what} ids (at most ${this.max})`);
    if (reused !== undefined && this.counts) {
      this.released?.(); // a reading from before its grace period ended would miss the last packets
      this.#base.set(id, this.counts(id));
    }
    this.#byKey.set(key, id);
    this.#byId.set(id, key);
    return id;
  }
  /** counter i of id as counted since its key took it (counter: the dataplane's value now) */
  since(id: number, counter: number, i = 0): number {
    return counter - (this.#base.get(id)?.[i] ?? 0);
  }
  keyOf(id: number): string | undefined {
    return this.#byId.get(id);
  }
  release(key: string): void {
    const id = this.#byKey.get(key);
    if (id === undefined) return;
    this.#byKey.delete(key);
    this.#byId.delete(id);
    this.#free.release(id);
    this.released?.();
  }
  keys(): string[] {
    return [...this.#byKey.keys()];
  }
}

interface AdjState {
  id: number;
  spec: PlanAdj;
  mac: Uint8Array | null;
  refs: number;
  lastResolve: number;
}

/** Packed arguments of routesApply per family: addresses, lengths, nexthop ids, old ids, and the
 *  index of each entry in the caller's list. */
interface Scratch {
  n: number;
  a4: Uint8Array;
  a6: Uint8Array;
  l4: Uint8Array;
  l6: Uint8Array;
  h4: Uint32Array;
  h6: Uint32Array;
  o4: Uint32Array;
  o6: Uint32Array;
  b4: Int32Array;
  b6: Int32Array;
}

interface NhgState {
  id: number;
  spec: PlanNhg;
  refs: number;
}

interface Neighbour {
  port: number;
  family: Family;
  addr: Uint8Array;
  mac: Uint8Array;
}

export interface AdjacencyInfo {
  id: number;
  port: string;
  via: string;
  mac: string | null;
  pkts: number;
  bytes: number;
}

export interface DataplaneCounters {
  drops: Record<string, number>;
  ports: Record<string, Record<string, number>>;
  fibs: Record<string, number>;
  subfibs: Record<string, number>;
  rules: Record<string, number>;
  adjacencies: AdjacencyInfo[];
  /** packets received by each worker lcore */
  workers: number[];
}

const PORT_FIELDS = ["rx_pkts", "rx_bytes", "tx_pkts", "tx_bytes", "punt_pkts", "inject_pkts", "icmp_sent", "icmp_ratelimited", "frag_pkts", "frag_created"];

export interface DriverLog {
  info(msg: string): void;
  warn(msg: string): void;
}

export class DataplaneDriver {
  readonly #dp: NativeDataplane;
  readonly #log: DriverLog;
  #plan: Plan | null = null;
  readonly #fibIds: Ids;
  readonly #subIds: Ids;
  readonly #nhgIds: Ids;
  readonly #adjIds: Ids;
  readonly #adjs = new Map<string, AdjState>();
  readonly #nhgs = new Map<string, NhgState>();
  /**
   * Installed routes are the RIB's best routes (the driver keeps no copy: the native tables say
   * what a change replaced) and neighbour host routes, kept here per sub-FIB key: prefix text ->
   * nexthop group key. A RIB route for the same prefix wins over a host route.
   */
  readonly #hosts = new Map<string, Map<string, string>>();
  /** forwarding entries installed per sub-FIB key */
  readonly #installed = new Map<string, number>();
  /** sub-FIBs being bulk-loaded (host routes wait for the load) */
  readonly #loading = new Set<string>();
  #rib: Rib | null = null;
  /** scratch for #install, grown on demand */
  #scratch: Scratch = { n: 0, a4: new Uint8Array(0), a6: new Uint8Array(0), l4: new Uint8Array(0), l6: new Uint8Array(0), h4: new Uint32Array(0), h6: new Uint32Array(0), o4: new Uint32Array(0), o6: new Uint32Array(0), b4: new Int32Array(0), b6: new Int32Array(0) };
  /** named nexthop groups ("grp:<name>" keys) */
  readonly #groups = new Map<string, PlanNhg>();
  /** static gateway MACs given outside the plan (API routes), by adjacency key */
  #extraMacs = new Map<string, Uint8Array>();
  readonly #fibRules = new Map<string, string>();
  /** rules of the applied plan by counter name: their id (a plan numbers its rules in order, so a
   * reload may move a rule to another id) and the base its count is taken from */
  #rules = new Map<string, { id: number; base: number }>();
  readonly #bindings = new Map<string, { prefix: Prefix; fib: number }>();
  #defaults: { 4: number; 6: number } = { 4: ANY, 6: ANY };
  readonly #neigh = new Map<string, Neighbour>();
  /** TAP ifindex -> port index */
  readonly #tapPort = new Map<number, number>();
  readonly #portTap = new Map<number, number>();
  #nl: NativeNeigh | null = null;
  /** told when a kernel neighbour on a port appears, changes (mac) or goes (null) */
  onNeighbour: ((port: string, address: string, mac: string | null) => void) | null = null;

  /** IPsec (set by the daemon when IPsec is on): a reference on a reqid's dataplane tunnel, which
   * returns its id, held by each IPsec nexthop group while it exists; and its release */
  tunnelRef: ((reqid: number) => number) | null = null;
  tunnelUnref: ((reqid: number) => void) | null = null;

  ipsecOn(): boolean {
    return this.tunnelRef !== null;
  }

  constructor(dp: NativeDataplane, log: DriverLog) {
    this.#dp = dp;
    this.#log = log;
    const lim = loadNative().dpLimits;
    const stale = (): void => {
      this.#snapshot = null;
    };
    this.#fibIds = new Ids("FIB", lim.fibs, (id) => [this.#countsNow().fib[id]!], stale, dp);
    this.#subIds = new Ids("sub-FIB", lim.subfibs, (id) => [this.#countsNow().subfib[id]!], stale, dp);
    this.#nhgIds = new Ids("nexthop group", lim.nhgs, null, null, dp);
    this.#adjIds = new Ids(
      "adjacency",
      lim.adjs,
      (id) => {
        const c = this.#countsNow().adj;
        return [c[2 * id]!, c[2 * id + 1]!];
      },
      stale,
      dp,
    );
  }

  #snapshot: NativeCounters | null = null;
  /** The dataplane's counters, read once per turn of the event loop: a plan that hands out many
   * freed ids takes all their bases from one reading (a freed id counts nothing more; an id freed
   * after the reading drops it). */
  #countsNow(): NativeCounters {
    if (!this.#snapshot) {
      this.#snapshot = this.#dp.counters();
      queueMicrotask(() => (this.#snapshot = null));
    }
    return this.#snapshot;
  }

  get plan(): Plan | null {
    return this.#plan;
  }

  /** The RIB whose best routes routes() installs: host routes yield to its prefixes. */
  attachRib(rib: Rib): void {
    this.#rib = rib;
  }

  /** Starts mirroring the kernel's neighbours on the given TAPs (ifindex per port index). */
  watchNeighbours(taps: Map<number, number>): void {
    for (const [port, ifindex] of taps) {
      this.#tapPort.set(ifindex, port);
      this.#portTap.set(port, ifindex);
    }
    const N = loadNative().NativeNeigh;
    this.#nl = new N();
    this.#nl.dump();
  }

  close(): void {
    this.#nl?.close();
    this.#nl = null;
  }

  // ---- objects ---------------------------------------------------------------------------

  #adjRef(key: string, spec: PlanAdj): AdjState {
    let a = this.#adjs.get(key);
    if (!a) {
      const id = this.#adjIds.take(key);
      const n = this.#neigh.get(key);
      a = { id, spec, mac: spec.mac ?? (n ? n.mac : null), refs: 0, lastResolve: 0 };
      this.#adjPush(a);
      this.#adjs.set(key, a);
    }
    a.refs++;
    return a;
  }

  #adjPush(a: AdjState): void {
    const mtu = this.#plan?.ports[a.spec.port]?.mtu ?? 1500;
    ok(this.#dp.adjSet(a.id, { port: a.spec.port, mtu, resolved: a.mac !== null, dst: a.mac }), () => `adjacency ${formatAddress(a.spec.family, a.spec.addr)}`);
  }

  #adjUnref(key: string): void {
    const a = this.#adjs.get(key);
    if (!a || --a.refs > 0) return;
    ok(this.#dp.adjDelete(a.id), () => `delete adjacency ${key}`);
    this.#adjs.delete(key);
    this.#adjIds.release(key);
  }

  #nhgRef(key: string, spec: PlanNhg): NhgState {
    const g = this.#nhgObject(key, spec);
    g.refs++;
    return g;
  }

  /** The native group of a key, created (with no references) when missing. */
  #nhgObject(key: string, spec: PlanNhg): NhgState {
    let g = this.#nhgs.get(key);
    if (!g) {
      let tunnel = 0;
      if (spec.kind === "ipsec") {
        if (!this.tunnelRef) throw new Error("IPsec is off in this dataplane");
        tunnel = this.tunnelRef(spec.reqid ?? 0);
      }
      const members = spec.members.map((m) => ({ m, a: this.#adjRef(m.adj, this.#adjSpec(m.adj)) }));
      const id = this.#nhgIds.take(key);
      const adjs = spec.kind === "ipsec" ? Uint16Array.of(tunnel) : Uint16Array.from(members.map((x) => x.a.id));
      const weights = spec.kind === "ipsec" ? Uint16Array.of(1) : Uint16Array.from(members.map((x) => x.m.weight));
      const rc = this.#dp.nhgSet(id, KIND_CODE[spec.kind], adjs, weights);
      if (rc !== 0) {
        this.#nhgIds.release(key);
        for (const x of members) this.#adjUnref(x.m.adj);
        if (spec.kind === "ipsec") this.tunnelUnref?.(spec.reqid ?? 0);
        throw new DataplaneError(`nexthop group ${key}`, rc);
      }
      g = { id, spec, refs: 0 };
      this.#nhgs.set(key, g);
    }
    return g;
  }

  #nhgUnref(key: string): void {
    const g = this.#nhgs.get(key);
    if (!g || --g.refs > 0) return;
    this.#nhgFree(key, g);
  }

  #nhgFree(key: string, g: NhgState): void {
    ok(this.#dp.nhgDelete(g.id), () => `delete nexthop group ${key}`);
    this.#nhgs.delete(key);
    this.#nhgIds.release(key);
    for (const m of g.spec.members) this.#adjUnref(m.adj);
    if (g.spec.kind === "ipsec") this.tunnelUnref?.(g.spec.reqid ?? 0);
  }

  #adjSpec(key: string): PlanAdj {
    const p = this.#plan?.adjs.get(key);
    if (p) return p;
    const bar = key.indexOf("|");
    const addr = parseAddress(key.slice(bar + 1));
    return { port: Number(key.slice(0, bar)), family: addr.family, addr: addr.addr, mac: this.#extraMacs.get(key) ?? null };
  }

  #nhgSpec(key: string): PlanNhg {
    const p = this.#plan?.nhgs.get(key) ?? this.#groups.get(key);
    if (p) return p;
    if (key.startsWith("ipsec:")) return { kind: "ipsec", members: [], reqid: Number(key.slice(6)) };
    if (key.startsWith("fwd:")) {
      const members = key
        .slice(4)
        .split(",")
        .map((m) => {
          const star = m.lastIndexOf("*");
          return { adj: m.slice(0, star), weight: Number(m.slice(star + 1)) };
        });
      return { kind: "forward", members };
    }
    throw new Error(`internal: nexthop group ${key} has no description`);
  }

  #growScratch(n: number): Scratch {
    if (this.#scratch.n >= n) return this.#scratch;
    const m = Math.max(n, 2 * this.#scratch.n, 1024);
    this.#scratch = { n: m, a4: new Uint8Array(4 * m), a6: new Uint8Array(16 * m), l4: new Uint8Array(m), l6: new Uint8Array(m), h4: new Uint32Array(m), h6: new Uint32Array(m), o4: new Uint32Array(m), o6: new Uint32Array(m), b4: new Int32Array(m), b6: new Int32Array(m) };
    return this.#scratch;
  }

  /**
   * Installs changes into one sub-FIB's tables: texts[i] (canonical prefix text) gets nexthop
   * group keys[i], or is removed (null; a prefix that is not there is no error). One native call
   * per family, each all or nothing (the table takes the changes, then rebuilds each part of its
   * trie they touch once). Group references follow what the native table says each change
   * replaced. On a failure this throws; the other family's changes may have been applied
   * (callers re-sync from the RIB).
   */
  #install(sub: string, id: number, texts: readonly string[], keys: readonly (string | null)[]): void {
    const n = texts.length;
    if (n === 0) return;
    const s = this.#growScratch(n);
    const hosts = this.#hosts.get(sub)!;
    let n4 = 0;
    let n6 = 0;
    let lastKey: string | null = null;
    let lastG: NhgState | null = null;
    try {
      for (let i = 0; i < n; i++) {
        const text = texts[i]!;
        const key = keys[i]!;
        const v6 = text.indexOf(":") >= 0;
        const len = parsePrefixInto(text, v6 ? s.a6 : s.a4, v6 ? 16 * n6 : 4 * n4) & 0xff;
        let nh = NONE;
        if (key !== null) {
          if (key !== lastKey) {
            lastG = this.#nhgObject(key, this.#nhgSpec(key));
            lastKey = key;
          }
          lastG!.refs++;
          nh = lastG!.id;
        }
        if (v6) {
          s.l6[n6] = len;
          s.h6[n6] = nh;
          s.b6[n6++] = i;
        } else {
          s.l4[n4] = len;
          s.h4[n4] = nh;
          s.b4[n4++] = i;
        }
      }
    } catch (err: unknown) {
      // a bad key or prefix (internal: both were validated) or no room for a group: take back
      // the references taken so far
      for (let j = 0; j < n4; j++) if (s.h4[j] !== NONE) this.#nhgUnrefId(s.h4[j]!);
      for (let j = 0; j < n6; j++) if (s.h6[j] !== NONE) this.#nhgUnrefId(s.h6[j]!);
      throw err;
    }
    let failed: DataplaneError | null = null;
    let installed = this.#installed.get(sub) ?? 0;
    for (const fam of [4, 6] as const) {
      const m = fam === 4 ? n4 : n6;
      if (m === 0) continue;
      const [addrs, lens, nhgs, old, back] = fam === 4 ? [s.a4, s.l4, s.h4, s.o4, s.b4] : [s.a6, s.l6, s.h6, s.o6, s.b6];
      let done = 0;
      if (failed === null) {
        const [rc, applied] = this.#dp.routesApply(id, fam, addrs.subarray(0, m * (fam === 4 ? 4 : 16)), lens.subarray(0, m), nhgs.subarray(0, m), old.subarray(0, m));
        done = applied;
        if (rc !== 0) failed = new DataplaneError(`sub-FIB ${sub} route ${texts[back[done]!] ?? "?"}`, rc);
      }
      for (let j = 0; j < done; j++) {
        const was = old[j]!;
        if (was !== NONE) this.#nhgUnrefId(was);
        if (nhgs[j] === NONE) {
          if (was !== NONE) installed--;
        } else if (was === NONE) installed++;
        else if (hosts.size > 0) hosts.delete(texts[back[j]!]!); // a RIB route replaced a host route
      }
      for (let j = done; j < m; j++) if (nhgs[j] !== NONE) this.#nhgUnrefId(nhgs[j]!);
    }
    this.#installed.set(sub, installed);
    if (failed) throw failed;
  }

  #nhgUnrefId(id: number): void {
    const key = this.#nhgIds.keyOf(id);
    if (key !== undefined) this.#nhgUnref(key);
  }

  // ---- host routes from neighbours ---------------------------------------------------------

  /** Whether a neighbour's host route belongs in a sub-FIB: its connected subnet on the
   *  neighbour's port is the best match of the RIB there. */
  #hostEligible(sub: string, n: Neighbour): boolean {
    const rib = this.#rib;
    if (!rib) return false;
    const best = longestKey(n.family, n.addr, (t) => rib.best(sub, t) !== undefined);
    return best !== null && rib.best(sub, best)!.nhg === `glean:${n.port}`;
  }

  /** Installs or removes a neighbour's host route in a sub-FIB as its eligibility says. */
  #hostSync(sub: string, key: string, n: Neighbour): void {
    const hosts = this.#hosts.get(sub);
    const id = this.#subIds.get(sub);
    if (!hosts || id === undefined || this.#loading.has(sub)) return;
    const text = formatPrefix({ family: n.family, addr: n.addr, len: n.family === 4 ? 32 : 128 });
    if (this.#rib?.best(sub, text) !== undefined) return; // the RIB has this very prefix: it wins
    const installed = hosts.has(text);
    const eligible = this.#neigh.get(key) === n && this.#hostEligible(sub, n);
    if (eligible && !installed) {
      const nhg = fwdKey([{ adj: key, weight: 1 }]);
      this.#install(sub, id, [text], [nhg]);
      hosts.set(text, nhg);
    } else if (!eligible && installed) {
      hosts.delete(text);
      this.#install(sub, id, [text], [null]);
    }
  }

  // ---- applying a plan ---------------------------------------------------------------------

  /**
   * First half of installing a plan: ports, adjacency settings, and ids and empty tables for new
   * sub-FIBs. Then routes() fills the sub-FIBs, and apply() switches FIB bases and bindings over
   * and removes what the plan dropped: make-before-break.
   */
  prepare(plan: Plan, extraMacs: Map<string, Uint8Array> = this.#extraMacs): void {
    const prev = this.#plan;
    this.#plan = plan;
    this.#extraMacs = extraMacs;
    for (const p of plan.ports) {
      ok(this.#dp.portSet(p.index, { mtu: p.mtu, mru: p.mru, ip4: p.ip4, ip6: p.ip6 }), () => `port ${p.name}`);
    }
    // MTU changes reach existing adjacencies.
    if (prev) for (const a of this.#adjs.values()) if (prev.ports[a.spec.port]?.mtu !== plan.ports[a.spec.port]?.mtu) this.#adjPush(a);
    // A static MAC added, changed or removed on an existing adjacency.
    for (const [key, a] of this.#adjs) {
      const want = plan.adjs.get(key)?.mac ?? extraMacs.get(key) ?? null;
      const have = a.spec.mac;
      if ((want === null) === (have === null) && (want === null || formatMac(want) === formatMac(have!))) continue;
      a.spec = { ...a.spec, mac: want };
      const n = this.#neigh.get(key);
      a.mac = want ?? (n ? n.mac : null);
      this.#adjPush(a);
    }
    for (const sub of plan.subfibs.keys()) {
      this.#subIds.take(sub);
      if (!this.#hosts.has(sub)) {
        this.#hosts.set(sub, new Map());
        this.#installed.set(sub, 0);
      }
    }
  }

  /**
   * Applies changes of the RIB's best routes in one sub-FIB (prepared by prepare()). A sub-FIB
   * that is still empty and gets many routes at once is built off the event loop.
   */
  async routes(sub: string, ch: RouteChanges): Promise<void> {
    const id = this.#subIds.get(sub);
    if (id === undefined || !this.#hosts.has(sub)) throw new Error(`internal: sub-FIB ${sub} is not prepared`);
    if (this.#installed.get(sub) === 0 && ch.length >= BULK_MIN && !ch.nhgs.includes(null) && new Set(ch.texts).size === ch.length) {
      this.#loading.add(sub);
      try {
        await this.#bulkLoad(sub, id, ch);
      } finally {
        this.#loading.delete(sub);
      }
      for (const [key, n] of this.#neigh) this.#hostSync(sub, key, n);
      return;
    }
    this.#install(sub, id, ch.texts, ch.nhgs);
    if (this.#neigh.size > 0) {
      for (const text of ch.texts) {
        const p = parsePrefix(text);
        for (const [key, n] of this.#neigh) if (n.family === p.family && prefixContains(p, n.addr)) this.#hostSync(sub, key, n);
      }
    }
  }

  /** Second half of installing a plan: FIB bases, bindings, defaults, and removals. */
  apply(plan: Plan): void {
    if (plan !== this.#plan) throw new Error("internal: apply() without prepare() of the same plan");
    // Each rule keeps its count across the move to its new id (packets of this instant may be
    // counted under the id they had).
    const hits = this.#countsNow().rule;
    const rules = new Map<string, { id: number; base: number }>();
    plan.ruleNames.forEach((n, id) => {
      const was = this.#rules.get(n);
      rules.set(n, { id, base: hits[id]! - (was ? hits[was.id]! - was.base : 0) });
    });
    // FIB bases (they name sub-FIB ids, which exist now).
    for (const [name, f] of plan.fibs) {
      const id = this.#fibIds.take(name);
      const rules: NativeRule[] = f.rules.map((r) => ({
        id: r.id,
        subfib: this.#subIds.get(r.subfib)!,
        inPort: r.inPort ?? ANY,
        family: r.family,
        src: r.source ? padded(r.source.addr) : new Uint8Array(16),
        srcLen: r.source ? r.source.len : 0,
        dscp: r.dscp ?? 0xff,
        proto: r.protocol ?? -1,
        sport: r.sport,
        dport: r.dport,
      }));
      const sig = JSON.stringify([f.subfibs.map((s) => this.#subIds.get(s)), rules.map((r) => ({ ...r, src: [...r.src] }))]);
      if (this.#fibRules.get(name) === sig) continue;
      ok(this.#dp.fibBaseSet(id, this.#subIds.get(f.subfibs[0]!)!, rules), () => `FIB ${name}`);
      this.#fibRules.set(name, sig);
    }
    // Bindings and defaults.
    for (const [t, b] of plan.bindings) {
      const fib = this.#fibIds.get(b.fib)!;
      if (this.#bindings.get(t)?.fib === fib) continue;
      ok(this.#dp.bindingSet(b.prefix.family, b.prefix.addr, b.prefix.len, fib), () => `binding ${t}`);
      this.#bindings.set(t, { prefix: b.prefix, fib });
    }
    for (const fam of [4, 6] as const) {
      const name = plan.defaults[fam];
      const fib = name === null ? ANY : this.#fibIds.get(name)!;
      if (this.#defaults[fam] !== fib) ok(this.#dp.bindingDefault(fam, fib), () => `default binding IPv${fam}`);
      this.#defaults[fam] = fib;
    }
    // Deletions, in reverse order of use.
    for (const [t, b] of [...this.#bindings]) {
      if (plan.bindings.has(t)) continue;
      ok(this.#dp.bindingDelete(b.prefix.family, b.prefix.addr, b.prefix.len), () => `delete binding ${t}`);
      this.#bindings.delete(t);
    }
    for (const name of this.#fibIds.keys()) {
      if (plan.fibs.has(name)) continue;
      ok(this.#dp.fibBaseDelete(this.#fibIds.get(name)!), () => `delete FIB ${name}`);
      this.#fibIds.release(name);
      this.#fibRules.delete(name);
    }
    for (const sub of this.#subIds.keys()) {
      if (plan.subfibs.has(sub)) continue;
      const id = this.#subIds.get(sub)!;
      // what is installed there: the RIB's best routes (the caller drops the RIB table after
      // this) and host routes
      const texts = [...this.#hosts.get(sub)!.keys()];
      if (this.#rib) for (const [t] of this.#rib.bests(sub)) texts.push(t);
      this.#install(sub, id, texts, texts.map(() => null));
      const left = this.#installed.get(sub) ?? 0;
      if (left !== 0) this.#log.warn(`internal: sub-FIB ${sub} removed with ${left} routes the driver did not know of left in its table`);
      this.#hosts.delete(sub);
      this.#installed.delete(sub);
      this.#subIds.release(sub);
    }
    this.#rules = rules; // taken before the FIB bases switched, kept once the plan is in
    this.#dp.reclaim();
  }

  /**
   * Creates or changes (members) or removes (null) a named nexthop group. Routes using it follow
   * at once: the group is one native object.
   */
  setGroup(key: string, spec: PlanNhg | null): void {
    if (spec === null) {
      if (this.#nhgs.has(key)) throw new Error(`internal: nexthop group ${key} is still used`);
      this.#groups.delete(key);
      return;
    }
    const g = this.#nhgs.get(key);
    this.#groups.set(key, spec);
    if (!g) return;
    const members = spec.members.map((m) => ({ m, a: this.#adjRef(m.adj, this.#adjSpec(m.adj)) }));
    const rc = this.#dp.nhgSet(g.id, KIND_CODE[spec.kind], Uint16Array.from(members.map((x) => x.a.id)), Uint16Array.from(members.map((x) => x.m.weight)));
    if (rc !== 0) {
      for (const x of members) this.#adjUnref(x.m.adj);
      this.#groups.set(key, g.spec);
      throw new DataplaneError(`nexthop group ${key}`, rc);
    }
    const old = g.spec;
    g.spec = spec;
    for (const m of old.members) this.#adjUnref(m.adj);
  }

  async #bulkLoad(sub: string, id: number, ch: RouteChanges): Promise<void> {
    const n = ch.length;
    let n6 = 0;
    for (const t of ch.texts) if (t.indexOf(":") >= 0) n6++;
    let installed = 0;
    for (const fam of [4, 6] as const) {
      const m = fam === 4 ? n - n6 : n6;
      if (m === 0) continue;
      const w = fam === 4 ? 4 : 16;
      const addrs = new Uint8Array(m * w);
      const lens = new Uint8Array(m);
      const nhgs = new Uint32Array(m);
      const refs: string[] = [];
      try {
        let j = 0;
        for (let i = 0; i < n; i++) {
          const t = ch.texts[i]!;
          if ((t.indexOf(":") >= 0) !== (fam === 6)) continue;
          const key = ch.nhgs[i]!;
          nhgs[j] = this.#nhgRef(key, this.#nhgSpec(key)).id;
          refs.push(key);
          lens[j] = parsePrefixInto(t, addrs, j * w) & 0xff;
          j++;
        }
        ok(await this.#dp.subfibLoad(id, fam, addrs, lens, nhgs), () => `sub-FIB ${sub} load of ${m} IPv${fam} routes`);
      } catch (err: unknown) {
        for (const k of refs) this.#nhgUnref(k);
        throw err;
      }
      installed += m;
    }
    this.#installed.set(sub, installed);
  }

  // ---- neighbours --------------------------------------------------------------------------

  /** Reads the kernel's neighbour events and resolves what the workers asked for. */
  poll(now = Date.now()): void {
    if (this.#nl) {
      const evs = this.#nl.read();
      if (evs === "overrun") {
        this.#log.warn("neighbour events were lost (socket overrun): reading the whole table again");
        this.#nl.dump();
      } else {
        for (const e of evs) this.#neighbourEvent(e, now);
      }
    }
    for (const id of this.#dp.takeResolve()) {
      const key = this.#adjIds.keyOf(id);
      const a = key === undefined ? undefined : this.#adjs.get(key);
      if (a) this.#resolve(key!, a, now);
    }
    this.#dp.reclaim();
  }

  #resolve(key: string, a: AdjState, now: number): void {
    if (now - a.lastResolve < RESOLVE_INTERVAL_MS || !this.#nl) return;
    a.lastResolve = now;
    const ifindex = this.#portTap.get(a.spec.port);
    if (ifindex === undefined) {
      this.#log.warn(`cannot resolve ${key}: port ${a.spec.port} has no TAP, so no kernel to ask`);
      return;
    }
    try {
      this.#nl.resolve(a.spec.family, ifindex, a.spec.addr);
    } catch (err: unknown) {
      this.#log.warn(`resolving ${formatAddress(a.spec.family, a.spec.addr)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  #neighbourEvent(e: NativeNeighEvent, now: number): void {
    const port = this.#tapPort.get(e.ifindex);
    if (port === undefined) return;
    const key = adjKey(port, e.family, e.addr);
    const valid = !e.deleted && e.lladdr !== null && (e.state & NUD_VALID) !== 0 && (e.state & NUD_NOARP) === 0;
    const plan = this.#plan;
    if (valid) {
      const mac = e.lladdr!;
      const old = this.#neigh.get(key);
      const n: Neighbour = { port, family: e.family, addr: e.addr, mac };
      this.#neigh.set(key, n);
      if (this.onNeighbour && (!old || formatMac(old.mac) !== formatMac(mac))) this.onNeighbour(plan?.ports[port]?.name ?? String(port), formatAddress(e.family, e.addr), formatMac(mac));
      const a = this.#adjs.get(key);
      if (a && !a.spec.mac && (a.mac === null || formatMac(a.mac) !== formatMac(mac))) {
        a.mac = mac;
        this.#adjPush(a);
      }
      if (!old && plan) for (const sub of this.#hosts.keys()) this.#hostSync(sub, key, n);
      // A stale entry is not re-verified by the kernel unless it sends to it; ask it to.
      if ((e.state & NUD_STALE) !== 0 && a) this.#resolve(key, a, now);
      return;
    }
    if (!e.deleted && (e.state & (NUD_INCOMPLETE | NUD_FAILED)) === 0) return; // e.g. NUD_NONE
    const gone = this.#neigh.get(key);
    if (!gone) return;
    this.#neigh.delete(key);
    this.onNeighbour?.(plan?.ports[port]?.name ?? String(port), formatAddress(e.family, e.addr), null);
    for (const sub of this.#hosts.keys()) this.#hostSync(sub, key, gone);
    const a = this.#adjs.get(key);
    if (a && a.mac !== null && !a.spec.mac) {
      a.mac = null;
      this.#adjPush(a);
    }
  }

  // ---- reading -----------------------------------------------------------------------------

  /** The nexthop group key the installed table of a sub-FIB picks for an address (tests, Explain). */
  lookup(sub: string, family: Family, addr: Uint8Array): string | null {
    const id = this.#subIds.get(sub);
    if (id === undefined) throw new RangeError(`no sub-FIB ${sub}`);
    const nh = this.#dp.subfibLookup(id, family, addr);
    return this.#nhgIds.keyOf(nh) ?? null;
  }

  /** The dataplane's own decision for one packet (native/dp/dp_explain.h), ids named. */
  explain(q: { family: Family; src: Uint8Array; dst: Uint8Array; inPort: number; proto: number; dscp: number; hasPorts: boolean; sport: number; dport: number }): {
    fib: string | null;
    byDefault: boolean;
    rule: string | null;
    subfib: string | null;
    nhg: string | null;
    kind: string;
    adj: string | null;
    outPort: string | null;
    mac: string | null;
    drop: string | null;
    spIn: number;
    spOut: number;
    localOnly: boolean;
    tunnel: number | null;
  } {
    const e = this.#dp.explain(q);
    const native = loadNative();
    const plan = this.#plan;
    const adjKeyOf = e.adj >= 0 ? (this.#adjIds.keyOf(e.adj) ?? null) : null;
    let adj: string | null = null;
    if (adjKeyOf !== null) {
      const a = this.#adjs.get(adjKeyOf);
      adj = a ? `${plan?.ports[a.spec.port]?.name ?? a.spec.port} via ${formatAddress(a.spec.family, a.spec.addr)}` : adjKeyOf;
    }
    return {
      fib: e.fib === ANY ? null : (this.#fibIds.keyOf(e.fib) ?? null),
      byDefault: e.byDefault,
      rule: e.rule >= 0 ? (plan?.ruleNames[e.rule] ?? null) : null,
      subfib: e.subfib === ANY ? null : (this.#subIds.keyOf(e.subfib) ?? null),
      nhg: e.nhg === 0xffffffff ? null : (this.#nhgIds.keyOf(e.nhg) ?? null),
      kind: e.kind >= 0 ? (["forward", "blackhole", "unreachable", "prohibit", "local", "ipsec"][e.kind] ?? "?") : "drop",
      adj,
      outPort: e.adj >= 0 ? (plan?.ports[e.outPort]?.name ?? String(e.outPort)) : null,
      mac: e.adj >= 0 && e.resolved ? formatMac(e.mac) : null,
      drop: e.drop >= 0 ? (native.dropNames[e.drop] ?? String(e.drop)) : null,
      spIn: e.spIn,
      spOut: e.spOut,
      localOnly: e.localOnly,
      tunnel: e.tunnel === ANY ? null : e.tunnel,
    };
  }

  /** The installed prefix (RIB best or neighbour host route) that is the longest match. */
  installedMatch(sub: string, family: Family, addr: Uint8Array): string | null {
    const hosts = this.#hosts.get(sub);
    if (!hosts) return null;
    const rib = this.#rib;
    return longestKey(family, addr, (t) => hosts.has(t) || rib?.best(sub, t) !== undefined);
  }

  /** Forwarding entries installed in a sub-FIB. */
  installedCount(sub: string): number {
    return this.#installed.get(sub) ?? 0;
  }

  /** Link state of a port. */
  link(port: number): { up: boolean; speedMbps: number } {
    return this.#dp.portLink(port);
  }

  counters(): DataplaneCounters {
    const c = this.#dp.counters();
    const native = loadNative();
    const plan = this.#plan;
    const drops: Record<string, number> = {};
    native.dropNames.forEach((n, i) => (drops[n] = c.drop[i]!));
    const ports: Record<string, Record<string, number>> = {};
    const nf = native.dpLimits.portCounterFields;
    for (const p of plan?.ports ?? []) {
      const o: Record<string, number> = {};
      PORT_FIELDS.forEach((f, i) => (o[f] = c.port[p.index * nf + i]!));
      ports[p.name] = o;
    }
    const fibs: Record<string, number> = {};
    for (const name of this.#fibIds.keys()) {
      const id = this.#fibIds.get(name)!;
      fibs[name] = this.#fibIds.since(id, c.fib[id]!);
    }
    const subfibs: Record<string, number> = {};
    for (const sub of this.#subIds.keys()) {
      const id = this.#subIds.get(sub)!;
      subfibs[sub] = this.#subIds.since(id, c.subfib[id]!);
    }
    const rules: Record<string, number> = {};
    for (const [n, r] of this.#rules) rules[n] = c.rule[r.id]! - r.base;
    const adjacencies: AdjacencyInfo[] = [...this.#adjs.values()]
      .map((a) => ({
        id: a.id,
        port: plan?.ports[a.spec.port]?.name ?? String(a.spec.port),
        via: formatAddress(a.spec.family, a.spec.addr),
        mac: a.mac ? formatMac(a.mac) : null,
        pkts: this.#adjIds.since(a.id, c.adj[2 * a.id]!, 0),
        bytes: this.#adjIds.since(a.id, c.adj[2 * a.id + 1]!, 1),
      }))
      .sort((x, y) => x.id - y.id);
    return { drops, ports, fibs, subfibs, rules, adjacencies, workers: [...c.workerRx] };
  }

  /** The dataplane's IPsec counters: (packets, bytes, replay, auth, other) per SA id; hits per policy id. */
  ipsecCounters(): { sa: Float64Array; spIn: Float64Array; spOut: Float64Array } {
    const c = this.#dp.counters();
    return { sa: c.sa, spIn: c.spIn, spOut: c.spOut };
  }

  /** Neighbours known from the kernel, for status output. */
  neighbours(): { port: string; address: string; mac: string }[] {
    return [...this.#neigh.values()].map((n) => ({
      port: this.#plan?.ports[n.port]?.name ?? String(n.port),
      address: formatAddress(n.family, n.addr),
      mac: formatMac(n.mac),
    }));
  }
}

function padded(a: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out.set(a);
  return out;
}
