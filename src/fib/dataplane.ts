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
import { formatAddress, formatPrefix, longestKey, parseAddress, prefixContains, type Family, type Prefix } from "../lookup/prefix.js";
import { formatMac } from "../api/config.js";
import { loadNative, type NativeDataplane, type NativeNeigh, type NativeNeighEvent, type NativeRule } from "../lookup/native.js";
import { adjKey, fwdKey, type Plan, type PlanAdj, type PlanNhg, type PlanRoute } from "./plan.js";
import type { BestChange } from "./rib.js";

const DP_ERRORS: Record<number, string> = {
  [-1]: "invalid argument",
  [-2]: "no such object",
  [-3]: "out of memory",
  [-4]: "still in use",
  [-5]: "route table error",
  [-103]: "too many distinct nexthop groups in one sub-FIB",
  [-102]: "out of memory",
};

const KIND_CODE: Record<PlanNhg["kind"], number> = { forward: 0, blackhole: 1, unreachable: 2, prohibit: 3, local: 4 };
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

export class DataplaneError extends Error {
  constructor(what: string, rc: number) {
    super(`${what}: ${DP_ERRORS[rc] ?? `error ${rc}`}`);
    this.name = "DataplaneError";
  }
}

function ok(rc: number, what: () => string): void {
  if (rc !== 0) throw new DataplaneError(what(), rc);
}

class Ids {
  readonly #byKey = new Map<string, number>();
  readonly #byId = new Map<number, string>();
  readonly #free: number[] = [];
  #next = 0;
  constructor(
    readonly what: string,
    readonly max: number,
  ) {}
  get(key: string): number | undefined {
    return this.#byKey.get(key);
  }
  take(key: string): number {
    const have = this.#byKey.get(key);
    if (have !== undefined) return have;
    const id = this.#free.pop() ?? this.#next++;
    if (id >= this.max) throw new RangeError(`out of ${this.what} ids (at most ${this.max})`);
    this.#byKey.set(key, id);
    this.#byId.set(id, key);
    return id;
  }
  keyOf(id: number): string | undefined {
    return this.#byId.get(id);
  }
  release(key: string): void {
    const id = this.#byKey.get(key);
    if (id === undefined) return;
    this.#byKey.delete(key);
    this.#byId.delete(id);
    this.#free.push(id);
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
  /** installed routes per sub-FIB key (the RIB's best routes and neighbour host routes) */
  readonly #routes = new Map<string, Map<string, PlanRoute>>();
  /** the RIB's best route per prefix, per sub-FIB key (what routes() was given) */
  readonly #want = new Map<string, Map<string, PlanRoute>>();
  /** named nexthop groups ("grp:<name>" keys) */
  readonly #groups = new Map<string, PlanNhg>();
  /** static gateway MACs given outside the plan (API routes), by adjacency key */
  #extraMacs = new Map<string, Uint8Array>();
  readonly #fibRules = new Map<string, string>();
  readonly #bindings = new Map<string, { prefix: Prefix; fib: number }>();
  #defaults: { 4: number; 6: number } = { 4: ANY, 6: ANY };
  readonly #neigh = new Map<string, Neighbour>();
  /** TAP ifindex -> port index */
  readonly #tapPort = new Map<number, number>();
  readonly #portTap = new Map<number, number>();
  #nl: NativeNeigh | null = null;
  /** told when a kernel neighbour on a port appears, changes (mac) or goes (null) */
  onNeighbour: ((port: string, address: string, mac: string | null) => void) | null = null;

  constructor(dp: NativeDataplane, log: DriverLog) {
    this.#dp = dp;
    this.#log = log;
    const lim = loadNative().dpLimits;
    this.#fibIds = new Ids("FIB", lim.fibs);
    this.#subIds = new Ids("sub-FIB", lim.subfibs);
    this.#nhgIds = new Ids("nexthop group", lim.nhgs);
    this.#adjIds = new Ids("adjacency", lim.adjs);
  }

  get plan(): Plan | null {
    return this.#plan;
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
    let g = this.#nhgs.get(key);
    if (!g) {
      const members = spec.members.map((m) => ({ m, a: this.#adjRef(m.adj, this.#adjSpec(m.adj)) }));
      const id = this.#nhgIds.take(key);
      const adjs = Uint16Array.from(members.map((x) => x.a.id));
      const weights = Uint16Array.from(members.map((x) => x.m.weight));
      const rc = this.#dp.nhgSet(id, KIND_CODE[spec.kind], adjs, weights);
      if (rc !== 0) {
        this.#nhgIds.release(key);
        for (const x of members) this.#adjUnref(x.m.adj);
        throw new DataplaneError(`nexthop group ${key}`, rc);
      }
      g = { id, spec, refs: 0 };
      this.#nhgs.set(key, g);
    }
    g.refs++;
    return g;
  }

  #nhgUnref(key: string): void {
    const g = this.#nhgs.get(key);
    if (!g || --g.refs > 0) return;
    ok(this.#dp.nhgDelete(g.id), () => `delete nexthop group ${key}`);
    this.#nhgs.delete(key);
    this.#nhgIds.release(key);
    for (const m of g.spec.members) this.#adjUnref(m.adj);
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

  #routeSet(sub: string, id: number, text: string, r: PlanRoute): void {
    const table = this.#routes.get(sub)!;
    const old = table.get(text);
    if (old?.nhg === r.nhg) return;
    const g = this.#nhgRef(r.nhg, this.#nhgSpec(r.nhg));
    const rc = this.#dp.routeSet(id, r.prefix.family, r.prefix.addr, r.prefix.len, g.id);
    if (rc !== 0) {
      this.#nhgUnref(r.nhg);
      throw new DataplaneError(`sub-FIB ${sub} route ${text}`, rc);
    }
    table.set(text, r);
    if (old) this.#nhgUnref(old.nhg);
  }

  #routeDelete(sub: string, id: number, text: string): void {
    const table = this.#routes.get(sub)!;
    const old = table.get(text);
    if (!old) return;
    ok(this.#dp.routeDelete(id, old.prefix.family, old.prefix.addr, old.prefix.len), () => `sub-FIB ${sub} delete ${text}`);
    table.delete(text);
    this.#nhgUnref(old.nhg);
  }

  // ---- host routes from neighbours ---------------------------------------------------------

  /** Whether a neighbour's host route belongs in a sub-FIB: its connected subnet on the
   *  neighbour's port is the best configured match there. */
  #hostEligible(sub: string, n: Neighbour): boolean {
    const routes = this.#want.get(sub);
    if (!routes) return false;
    const best = longestKey(n.family, n.addr, (t) => routes.has(t));
    return best !== null && routes.get(best)!.nhg === `glean:${n.port}`;
  }

  /** Installs or removes a neighbour's host route in a sub-FIB as its eligibility says. */
  #hostSync(sub: string, key: string, n: Neighbour): void {
    const prefix = { family: n.family, addr: n.addr, len: n.family === 4 ? 32 : 128 };
    const text = formatPrefix(prefix);
    if (this.#want.get(sub)?.has(text)) return; // the RIB has this very prefix: it wins
    const id = this.#subIds.get(sub)!;
    const installed = this.#routes.get(sub)!.has(text);
    const eligible = this.#neigh.get(key) === n && this.#hostEligible(sub, n);
    if (eligible && !installed) this.#routeSet(sub, id, text, { prefix, nhg: fwdKey([{ adj: key, weight: 1 }]) });
    else if (!eligible && installed) this.#routeDelete(sub, id, text);
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
      if (!this.#routes.has(sub)) this.#routes.set(sub, new Map());
      if (!this.#want.has(sub)) this.#want.set(sub, new Map());
    }
  }

  /**
   * Applies changes of the RIB's best routes in one sub-FIB (prepared by prepare()). A sub-FIB
   * that is still empty and gets many routes at once is built off the event loop.
   */
  async routes(sub: string, changes: readonly BestChange[]): Promise<void> {
    const id = this.#subIds.get(sub);
    const want = this.#want.get(sub);
    const table = this.#routes.get(sub);
    if (id === undefined || !want || !table) throw new Error(`internal: sub-FIB ${sub} is not prepared`);
    if (table.size === 0 && changes.length >= BULK_MIN) {
      const desired = new Map<string, PlanRoute>();
      for (const c of changes) {
        if (c.nhg === null) desired.delete(c.text);
        else desired.set(c.text, { prefix: c.prefix, nhg: c.nhg });
      }
      await this.#bulkLoad(sub, id, desired);
      for (const [t, r] of desired) want.set(t, r);
      for (const [key, n] of this.#neigh) this.#hostSync(sub, key, n);
      return;
    }
    const neigh = this.#neigh.size > 0;
    for (const c of changes) {
      if (c.nhg !== null) {
        const r = { prefix: c.prefix, nhg: c.nhg };
        this.#routeSet(sub, id, c.text, r);
        want.set(c.text, r);
      } else {
        want.delete(c.text);
        this.#routeDelete(sub, id, c.text);
      }
      if (neigh) {
        for (const [key, n] of this.#neigh) if (n.family === c.prefix.family && prefixContains(c.prefix, n.addr)) this.#hostSync(sub, key, n);
      }
    }
  }

  /** Second half of installing a plan: FIB bases, bindings, defaults, and removals. */
  apply(plan: Plan): void {
    if (plan !== this.#plan) throw new Error("internal: apply() without prepare() of the same plan");
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
      for (const t of [...this.#routes.get(sub)!.keys()]) this.#routeDelete(sub, id, t);
      this.#routes.delete(sub);
      this.#want.delete(sub);
      this.#subIds.release(sub);
    }
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

  async #bulkLoad(sub: string, id: number, desired: Map<string, PlanRoute>): Promise<void> {
    const table = this.#routes.get(sub)!;
    for (const fam of [4, 6] as const) {
      const list = [...desired].filter(([, r]) => r.prefix.family === fam);
      if (list.length === 0) continue;
      const w = fam === 4 ? 4 : 16;
      const addrs = new Uint8Array(list.length * w);
      const lens = new Uint8Array(list.length);
      const nhgs = new Uint32Array(list.length);
      const refs: string[] = [];
      try {
        list.forEach(([, r], i) => {
          nhgs[i] = this.#nhgRef(r.nhg, this.#nhgSpec(r.nhg)).id;
          refs.push(r.nhg);
          addrs.set(r.prefix.addr, i * w);
          lens[i] = r.prefix.len;
        });
        ok(await this.#dp.subfibLoad(id, fam, addrs, lens, nhgs), () => `sub-FIB ${sub} load of ${list.length} IPv${fam} routes`);
      } catch (err: unknown) {
        for (const k of refs) this.#nhgUnref(k);
        throw err;
      }
      for (const [t, r] of list) table.set(t, r);
    }
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
      if (!old && plan) for (const sub of this.#want.keys()) this.#hostSync(sub, key, n);
      // A stale entry is not re-verified by the kernel unless it sends to it; ask it to.
      if ((e.state & NUD_STALE) !== 0 && a) this.#resolve(key, a, now);
      return;
    }
    if (!e.deleted && (e.state & (NUD_INCOMPLETE | NUD_FAILED)) === 0) return; // e.g. NUD_NONE
    const gone = this.#neigh.get(key);
    if (!gone) return;
    this.#neigh.delete(key);
    this.onNeighbour?.(plan?.ports[port]?.name ?? String(port), formatAddress(e.family, e.addr), null);
    for (const sub of this.#want.keys()) this.#hostSync(sub, key, gone);
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
      kind: e.kind >= 0 ? (["forward", "blackhole", "unreachable", "prohibit", "local"][e.kind] ?? "?") : "drop",
      adj,
      outPort: e.adj >= 0 ? (plan?.ports[e.outPort]?.name ?? String(e.outPort)) : null,
      mac: e.adj >= 0 && e.resolved ? formatMac(e.mac) : null,
      drop: e.drop >= 0 ? (native.dropNames[e.drop] ?? String(e.drop)) : null,
    };
  }

  /** The installed route (RIB best or neighbour host route) that is the longest match. */
  installedMatch(sub: string, family: Family, addr: Uint8Array): { text: string; route: PlanRoute } | null {
    const t = this.#routes.get(sub);
    if (!t) return null;
    const text = longestKey(family, addr, (x) => t.has(x));
    return text === null ? null : { text, route: t.get(text)! };
  }

  /** Forwarding entries installed in a sub-FIB. */
  installedCount(sub: string): number {
    return this.#routes.get(sub)?.size ?? 0;
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
    for (const name of this.#fibIds.keys()) fibs[name] = c.fib[this.#fibIds.get(name)!]!;
    const subfibs: Record<string, number> = {};
    for (const sub of this.#subIds.keys()) subfibs[sub] = c.subfib[this.#subIds.get(sub)!]!;
    const rules: Record<string, number> = {};
    (plan?.ruleNames ?? []).forEach((n, i) => (rules[n] = c.rule[i]!));
    const adjacencies: AdjacencyInfo[] = [...this.#adjs.values()]
      .map((a) => ({
        id: a.id,
        port: plan?.ports[a.spec.port]?.name ?? String(a.spec.port),
        via: formatAddress(a.spec.family, a.spec.addr),
        mac: a.mac ? formatMac(a.mac) : null,
        pkts: c.adj[2 * a.id]!,
        bytes: c.adj[2 * a.id + 1]!,
      }))
      .sort((x, y) => x.id - y.id);
    return { drops, ports, fibs, subfibs, rules, adjacencies, workers: [...c.workerRx] };
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
