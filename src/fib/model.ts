/**
 * The live forwarding model: what the configuration file set up, changed while running by API
 * calls and reloads, kept installed in the dataplane.
 *
 * It holds the structure (interfaces, FIBs, sub-FIBs, rules, bindings) as a Config, the RIB of
 * every owner's routes (rib.ts) and the named nexthop groups. Every change is validated
 * completely before anything is touched, so a refused request changes nothing; then it is
 * applied make-before-break through the driver (dataplane.ts): new sub-FIBs and their routes
 * first, then FIB bases and bindings, removals last.
 *
 * Owners: "connected" (the interfaces' own addresses and subnets, in every sub-FIB, the weakest
 * distance), "config" (the file's routes) and API clients by name.
 *
 * Callers serialize writes (one at a time); reads may come between the steps of a write.
 */
import { LIMITS, NAME, PORTED, PROTOCOLS, formatMac, parseInterfaceAddress, parseMac, type Config, type FibConfig, type NexthopConfig, type PortConfig, type RuleConfig } from "../api/config.js";
import { formatAddress, formatPrefix, longestKey, parseAddress, parsePrefix, prefixKey, type Family, type Prefix } from "../lookup/prefix.js";
import type { DataplaneDriver } from "./dataplane.js";
import { adjKey, compilePlan, fwdKey, type Plan, type PlanNhg, type PlanRoute } from "./plan.js";
import { ChangeSet, Rib, RouteChanges, type BestNow, type Candidate, type RibSlot } from "./rib.js";

export type ApiCode = "INVALID_ARGUMENT" | "NOT_FOUND" | "ALREADY_EXISTS" | "FAILED_PRECONDITION" | "PERMISSION_DENIED" | "INTERNAL";

/** A refused request: a gRPC status code and a message that names the field. */
export class ApiError extends Error {
  constructor(
    readonly code: ApiCode,
    message: string,
    /** index of the bad entry of a batch */
    readonly index?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const OWNER_CONFIG = "config";
export const OWNER_CONNECTED = "connected";
export const OWNER_NEIGHBOUR = "neighbour";
export const DISTANCE_CONFIG = 1;
export const DISTANCE_CONNECTED = 254;
export const DISTANCE_DEFAULT = 100;
const RESERVED_OWNERS = new Set([OWNER_CONFIG, OWNER_CONNECTED, OWNER_NEIGHBOUR]);

export type RouteType = "forward" | "blackhole" | "unreachable" | "prohibit" | "local" | "ipsec";

export interface NexthopIn {
  via: string;
  port: string;
  weight: number;
  mac: string;
}

export interface RouteIn {
  fib: string;
  subfib: string;
  prefix: string;
  /** null: forward when nexthops or a group are given */
  type: RouteType | null;
  nexthops: NexthopIn[];
  group: string;
  /** type ipsec: the reqid of the tunnel (its SAs) the route sends into */
  reqid?: number;
}

export interface RouteOpIn {
  op: "add" | "delete" | "replace" | null;
  route: RouteIn;
  /** the same op for each of these prefixes (route.prefix empty) */
  prefixes?: string[];
}

/** A client's route for one prefix as it was before a batch (null: none), and whether the
 *  client has one after the batch's ops so far. */
interface Before {
  had: { nhg: string; distance: number; stale: boolean } | null;
  exists: boolean;
}

/** A step of a batch that is the first to touch its prefix carries what the RIB had there then
 *  (nothing else changes the RIB until it is applied: writes are serialized), so that applying
 *  it needs no second lookup; later steps of the same prefix look up again. */
const LOOK_UP = undefined;

/** Routes applied between two turns of the event loop. */
const SLICE = 256;

export interface RouteOut {
  fib: string;
  subfib: string;
  prefix: string;
  type: RouteType;
  nexthops: NexthopIn[];
  group: string;
  /** type ipsec: the tunnel's reqid (0 otherwise) */
  reqid: number;
  owner: string;
  distance: number;
  best: boolean;
  stale: boolean;
}

export interface GroupOut {
  name: string;
  nexthops: NexthopIn[];
  routes: number;
}

export interface ExplainIn {
  src: string;
  dst: string;
  inPort: string;
  protocol: string;
  sport: number;
  dport: number;
  dscp: number;
}

export interface ExplainOut {
  binding: string;
  fib: string;
  subfib: string;
  rule: string;
  prefix: string;
  routeOwner: string;
  nexthopGroup: string;
  action: string;
  adjacency: string;
  outPort: string;
  mac: string;
  dropReason: string;
  /** the IPsec policies that select it ("" none), and the reqid of the tunnel it goes into (0 none) */
  ipsecPolicyIn: string;
  ipsecPolicyOut: string;
  ipsecReqid: number;
  steps: string[];
}

/** Names for the dataplane's IPsec ids (the SAD has them). */
export interface IpsecNames {
  policyName(direction: "in" | "out", id: number): string | null;
  reqidOf(tunnel: number): number | null;
}

export interface ModelHooks {
  /** IPsec's names, when IPsec is on (for explain) */
  ipsecNames?(): IpsecNames | null;
  /** an interface's addresses or MTU are about to change (the daemon updates its TAP); throw to refuse */
  portChanging?(old: PortConfig, next: PortConfig): void;
  /** a best-route change (nhg null: withdrawn), when someone listens */
  routeChanged?(sub: string, text: string, nhg: string | null): void;
  wantRouteEvents?(): boolean;
}

interface Group {
  name: string;
  family: Family;
  nexthops: NexthopConfig[];
  spec: PlanNhg;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Shallow copy of the structure (route lists shared: they are never mutated in place). */
function copyConfig(c: Config): Config {
  return {
    ...c,
    ports: c.ports.map((p) => ({ ...p, addresses: [...p.addresses] })),
    fibs: c.fibs.map((f) => ({ ...f, subfibs: f.subfibs.map((s) => ({ ...s })), rules: [...f.rules] })),
    bindings: [...c.bindings],
    defaultFib: { ...c.defaultFib },
  };
}

export class Model {
  readonly #driver: DataplaneDriver;
  readonly #hooks: ModelHooks;
  #cfg: Config;
  #plan: Plan;
  readonly #rib = new Rib();
  readonly #groups = new Map<string, Group>();
  /** static gateway MACs given over the API */
  readonly #macs = new Map<string, Uint8Array>();
  /** FIB names and binding prefixes the configuration file defines */
  #fileFibs = new Set<string>();
  #fileBindings = new Set<string>();

  private constructor(driver: DataplaneDriver, cfg: Config, hooks: ModelHooks) {
    this.#driver = driver;
    this.#hooks = hooks;
    this.#cfg = cfg;
    this.#plan = compilePlan(cfg);
  }

  /** Installs a configuration into a fresh driver. */
  static async create(driver: DataplaneDriver, cfg: Config, hooks: ModelHooks = {}): Promise<Model> {
    const m = new Model(driver, cfg, hooks);
    driver.attachRib(m.#rib);
    m.#fileFibs = new Set(cfg.fibs.map((f) => f.name));
    m.#fileBindings = new Set(cfg.bindings.map((b) => formatPrefix(b.source)));
    await m.#commit(cfg, null);
    return m;
  }

  get config(): Config {
    return this.#cfg;
  }

  get plan(): Plan {
    return this.#plan;
  }

  get rib(): Rib {
    return this.#rib;
  }

  // ---- committing a structure ----------------------------------------------------------------

  async #commit(next: Config, prev: Plan | null): Promise<void> {
    const plan = compilePlan(next);
    for (const g of this.#groups.values()) plan.nhgs.set(`grp:${g.name}`, g.spec);
    this.#driver.prepare(plan, this.#macs);
    const removed = [...this.#rib.subfibs()].filter((s) => !plan.subfibs.has(s));
    const sameImplicit = prev !== null && sameRoutes(prev.implicit, plan.implicit);
    for (const [sub, s] of plan.subfibs) {
      const isNew = !this.#rib.hasSubfib(sub);
      this.#rib.addSubfib(sub);
      const changes = new RouteChanges();
      const push = (t: string, c: BestNow): void => {
        if (c !== undefined) changes.push(t, c);
      };
      const oldImplicit = isNew || prev === null ? new Map<string, PlanRoute>() : prev.implicit;
      if (isNew || !sameImplicit) diffRoutes(oldImplicit, plan.implicit, (t, r) => push(t, r ? this.#rib.set(sub, t, OWNER_CONNECTED, DISTANCE_CONNECTED, r.nhg) : this.#rib.delete(sub, t, OWNER_CONNECTED)));
      const oldConfig = isNew || prev === null ? new Map<string, PlanRoute>() : (prev.subfibs.get(sub)?.routes ?? new Map<string, PlanRoute>());
      if (oldConfig !== s.routes) diffRoutes(oldConfig, s.routes, (t, r) => push(t, r ? this.#rib.set(sub, t, OWNER_CONFIG, DISTANCE_CONFIG, r.nhg) : this.#rib.delete(sub, t, OWNER_CONFIG)));
      if (changes.length > 0) await this.#install(sub, changes);
    }
    this.#driver.apply(plan);
    for (const sub of removed) this.#rib.dropSubfib(sub);
    this.#plan = plan;
    this.#cfg = next;
  }

  async #install(sub: string, changes: RouteChanges): Promise<void> {
    await this.#driver.routes(sub, changes);
    const f = this.#hooks.routeChanged;
    if (f && this.#hooks.wantRouteEvents?.()) for (let i = 0; i < changes.length; i++) f(sub, changes.texts[i]!, changes.nhgs[i]!);
  }

  /** Installs best-route changes of several sub-FIBs, at most SLICE routes between two turns of
   *  the event loop. */
  async #installSet(cs: ChangeSet): Promise<void> {
    let budget = SLICE;
    for (const [sub, ch] of cs) {
      for (let at = 0; at < ch.length; at += SLICE) {
        const part = at === 0 && ch.length <= SLICE ? ch : ch.slice(at, at + SLICE);
        if (budget <= 0) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          budget = SLICE;
        }
        await this.#install(sub, part);
        budget -= part.length;
      }
    }
  }

  /** Applies a reloaded configuration file: its objects replace the file's old ones; FIBs and
   *  bindings created over the API stay. */
  async reload(file: Config): Promise<void> {
    const next = copyConfig(file);
    for (const f of this.#cfg.fibs) if (!this.#fileFibs.has(f.name) && !next.fibs.some((x) => x.name === f.name)) next.fibs.push(f);
    for (const b of this.#cfg.bindings) {
      const t = formatPrefix(b.source);
      if (!this.#fileBindings.has(t) && !next.bindings.some((x) => formatPrefix(x.source) === t) && next.fibs.some((f) => f.name === b.fib)) next.bindings.push(b);
    }
    this.#checkDroppedSubfibs(next, "the reloaded file");
    for (const p of next.ports) {
      const old = this.#cfg.ports.find((o) => o.name === p.name)!;
      this.#hooks.portChanging?.(old, p);
    }
    await this.#commit(next, this.#plan);
    this.#fileFibs = new Set(file.fibs.map((f) => f.name));
    this.#fileBindings = new Set(file.bindings.map((b) => formatPrefix(b.source)));
  }

  /** Sub-FIBs a new structure drops must not hold client routes. */
  #checkDroppedSubfibs(next: Config, what: string): void {
    const keep = new Set(next.fibs.flatMap((f) => f.subfibs.map((s) => `${f.name}.${s.name}`)));
    for (const sub of this.#rib.subfibs()) {
      if (keep.has(sub)) continue;
      for (const [text, cands] of this.#rib.entries(sub)) {
        const c = cands.find((x) => !RESERVED_OWNERS.has(x.owner));
        if (c) throw new ApiError("FAILED_PRECONDITION", `${what} removes sub-FIB ${sub}, which holds routes of client "${c.owner}" (${text}); withdraw them first`);
      }
    }
  }

  // ---- routes ---------------------------------------------------------------------------------

  #portIndex(name: string): number | undefined {
    const i = this.#cfg.ports.findIndex((p) => p.name === name);
    return i < 0 ? undefined : i;
  }

  #subKey(fib: string, subfib: string, key: string): string {
    if (!this.#plan.fibs.has(fib)) throw new ApiError(fib === "" ? "INVALID_ARGUMENT" : "NOT_FOUND", `${key}.fib: ${fib === "" ? "is required" : `no FIB named "${fib}"`}`);
    const sub = `${fib}.${subfib === "" ? "main" : subfib}`;
    if (!this.#plan.subfibs.has(sub)) throw new ApiError("NOT_FOUND", `${key}.subfib: FIB ${fib} has no sub-FIB "${subfib}"`);
    return sub;
  }

  /** Validates nexthops into members (adjacency keys) of one family. */
  #nexthops(list: NexthopIn[], family: Family | null, key: string, macs: Map<string, Uint8Array>): { nhg: PlanNhg | string; family: Family | null; cfg: NexthopConfig[] } {
    if (list.length === 0) throw new ApiError("INVALID_ARGUMENT", `${key}: a forward route needs at least one next hop, or a nexthop_group, or a type (blackhole, unreachable, prohibit)`);
    if (list.length > LIMITS.nexthops) throw new ApiError("INVALID_ARGUMENT", `${key}: ${list.length} next hops, at most ${LIMITS.nexthops}`);
    const members: { adj: string; weight: number }[] = [];
    const cfg: NexthopConfig[] = [];
    const seen = new Set<string>();
    let fam = family;
    for (let j = 0; j < list.length; j++) {
      const n = list[j]!;
      const nk = `${key}[${j}]`;
      const port = this.#portIndex(n.port);
      if (n.port === "") throw new ApiError("INVALID_ARGUMENT", `${nk}.port: is required`);
      if (port === undefined) throw new ApiError("NOT_FOUND", `${nk}.port: no interface named "${n.port}" (interfaces: ${this.#cfg.ports.map((p) => p.name).join(", ")})`);
      if (!Number.isInteger(n.weight) || n.weight < 1 || n.weight > LIMITS.weight) throw new ApiError("INVALID_ARGUMENT", `${nk}.weight: ${n.weight} is not a weight (1-${LIMITS.weight})`);
      if (n.via === "") {
        if (n.mac !== "") throw new ApiError("INVALID_ARGUMENT", `${nk}.mac: a static MAC needs a gateway (via)`);
        if (list.length > 1) throw new ApiError("INVALID_ARGUMENT", `${nk}.via: a direct next hop (no via: the destination is on the link) must be the only next hop`);
        return { nhg: `glean:${port}`, family: fam, cfg: [{ via: null, port: n.port, weight: n.weight, mac: null }] };
      }
      let via;
      try {
        via = parseAddress(n.via, fam ?? undefined);
      } catch (err: unknown) {
        throw new ApiError("INVALID_ARGUMENT", `${nk}.via: ${errText(err)}`);
      }
      fam = via.family;
      const ak = adjKey(port, via.family, via.addr);
      if (seen.has(ak)) throw new ApiError("INVALID_ARGUMENT", `${nk}: the same next hop as an earlier one (${n.via} on ${n.port})`);
      seen.add(ak);
      let mac: Uint8Array | null = null;
      if (n.mac !== "") {
        try {
          mac = parseMac(n.mac);
        } catch (err: unknown) {
          throw new ApiError("INVALID_ARGUMENT", `${nk}.mac: ${errText(err)}`);
        }
        const have = this.#plan.adjs.get(ak)?.mac ?? this.#macs.get(ak) ?? macs.get(ak);
        if (have && formatMac(have) !== formatMac(mac)) throw new ApiError("FAILED_PRECONDITION", `${nk}.mac: gateway ${n.via} on ${n.port} already has static MAC ${formatMac(have)}`);
        macs.set(ak, mac);
      }
      members.push({ adj: ak, weight: n.weight });
      cfg.push({ via, port: n.port, weight: n.weight, mac });
    }
    return { nhg: { kind: "forward", members }, family: fam, cfg };
  }

  /**
   * Applies a batch of route operations for a client, all or nothing. Throws ApiError naming the
   * first bad entry (nothing changed). Big batches are validated and applied in slices with the
   * event loop let through between them, so that reads (Explain, counters) stay quick meanwhile;
   * the caller serializes writes.
   */
  async modifyRoutes(client: string, distance: number, ops: readonly RouteOpIn[], batchMax: number): Promise<{ applied: number; bestChanges: number }> {
    if (RESERVED_OWNERS.has(client)) throw new ApiError("INVALID_ARGUMENT", `client name "${client}" is reserved`);
    let total = 0;
    for (const op of ops) total += op.prefixes && op.prefixes.length > 0 ? op.prefixes.length : 1;
    if (total > batchMax) throw new ApiError("INVALID_ARGUMENT", `ops: ${total} routes in one batch, at most ${batchMax} (api.batch_max)`);
    // 1. validate, simulating the batch in order; remember each touched route as it was (undo)
    const stepSub: string[] = [];
    const stepText: string[] = [];
    const stepNhg: (string | null)[] = []; // null: delete
    const stepSlot: (RibSlot | undefined)[] = [];
    const before = new Map<string, Map<string, Before>>(); // sub -> text -> state
    const macs = new Map<string, Uint8Array>();
    let budget = SLICE;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const key = `ops[${i}].route`;
      try {
        if (op.op === null) throw new ApiError("INVALID_ARGUMENT", `ops[${i}].op: must be OP_ADD, OP_DELETE or OP_REPLACE`);
        const r = op.route;
        const sub = this.#subKey(r.fib, r.subfib, key);
        let seen = before.get(sub);
        if (!seen) before.set(sub, (seen = new Map()));
        const packed = op.prefixes !== undefined && op.prefixes.length > 0;
        if (packed && r.prefix !== "") throw new ApiError("INVALID_ARGUMENT", `${key}.prefix: must be empty when ops[${i}].prefixes is given`);
        const texts = packed ? op.prefixes! : [r.prefix];
        const del = op.op === "delete";
        // the nexthop group, once per op (the first prefix gives the family)
        let nhg: string | null = null;
        let family: Family | null = null;
        // the field an error names (built only for an error)
        const field = (j: number): string => (packed ? `ops[${i}].prefixes[${j}]` : `${key}.prefix`);
        for (let j = 0; j < texts.length; j++) {
          if (--budget === 0) {
            // writes are serialized: nothing else changes the RIB meanwhile; reads go on
            await new Promise<void>((resolve) => setImmediate(resolve));
            budget = SLICE;
          }
          const t0 = texts[j]!;
          let text: string;
          try {
            text = prefixKey(t0);
          } catch (err: unknown) {
            throw new ApiError("INVALID_ARGUMENT", `${field(j)}: ${t0 === "" ? "is required" : errText(err)}`);
          }
          let b = seen.get(text);
          let slot: RibSlot | undefined = LOOK_UP;
          if (b === undefined) {
            slot = this.#rib.find(sub, text);
            const c = this.#rib.ownerIn(slot, client);
            b = { had: c ? { nhg: c.nhg, distance: c.distance, stale: c.stale } : null, exists: c !== undefined };
            seen.set(text, b);
          }
          if (del) {
            if (!b.exists) throw new ApiError("NOT_FOUND", `${field(j)}: client "${client}" has no route ${text} in ${sub}`);
            b.exists = false;
            stepSub.push(sub);
            stepText.push(text);
            stepNhg.push(null);
            stepSlot.push(slot);
            continue;
          }
          if (op.op === "add" && b.exists) throw new ApiError("ALREADY_EXISTS", `${field(j)}: client "${client}" already has a route ${text} in ${sub} (use OP_REPLACE to change it)`);
          const fam: Family = text.indexOf(":") >= 0 ? 6 : 4;
          if (family !== fam) {
            if (family !== null) throw new ApiError("INVALID_ARGUMENT", `${field(j)}: IPv${fam} among IPv${family} prefixes; one op shares its next hops, so its prefixes must be of one family`);
            family = fam;
            nhg = this.#routeNhg(r, fam, key, macs);
          }
          b.exists = true;
          stepSub.push(sub);
          stepText.push(text);
          stepNhg.push(nhg);
          stepSlot.push(slot);
        }
      } catch (err: unknown) {
        if (err instanceof ApiError) throw new ApiError(err.code, err.message.startsWith("ops[") ? err.message : `ops[${i}]: ${err.message}`, i);
        throw err;
      }
    }
    // 2. apply to the RIB, then the dataplane, a slice at a time with the event loop let through
    //    between slices; if the dataplane refuses, put everything back
    for (const [k, m] of macs) this.#macs.set(k, m);
    if (macs.size > 0) this.#driver.prepare(this.#plan, this.#macs);
    const n = stepText.length;
    let bestChanges = 0;
    try {
      for (let at = 0; at < n; at += SLICE) {
        if (at > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        const cs = new ChangeSet();
        const end = Math.min(n, at + SLICE);
        for (let k = at; k < end; k++) {
          const sub = stepSub[k]!;
          const text = stepText[k]!;
          const nhg = stepNhg[k]!;
          const slot = stepSlot[k];
          const ch = nhg === null ? this.#rib.delete(sub, text, client, slot) : this.#rib.set(sub, text, client, distance, nhg, slot);
          if (ch === undefined) continue;
          cs.add(sub, text, ch);
          bestChanges++;
        }
        for (const [sub, ch] of cs) await this.#install(sub, ch);
      }
    } catch (err: unknown) {
      await this.#undo(client, before);
      throw new ApiError("FAILED_PRECONDITION", `the dataplane refused the batch, nothing changed: ${errText(err)}`);
    }
    return { applied: n, bestChanges };
  }

  /** The nexthop group key of a route to add (validated). */
  #routeNhg(r: RouteIn, family: Family, key: string, macs: Map<string, Uint8Array>): string {
    const type = r.type ?? (r.nexthops.length > 0 || r.group !== "" ? "forward" : null);
    if (type === null) throw new ApiError("INVALID_ARGUMENT", `${key}: needs nexthops, a nexthop_group, or a type (blackhole, unreachable, prohibit)`);
    if (type === "local") throw new ApiError("INVALID_ARGUMENT", `${key}.type: ROUTE_TYPE_LOCAL routes come from the interfaces' addresses, not from clients`);
    if (type === "ipsec") {
      if (r.nexthops.length > 0 || r.group !== "") throw new ApiError("INVALID_ARGUMENT", `${key}.nexthops: an IPsec route sends into its tunnel (ipsec_reqid), it has no next hops`);
      const reqid = r.reqid ?? 0;
      if (!Number.isInteger(reqid) || reqid < 1 || reqid > 0xffffffff) throw new ApiError("INVALID_ARGUMENT", `${key}.ipsec_reqid: an IPsec route needs the reqid of its tunnel (1-4294967295)`);
      if (!this.#driver.ipsecOn()) throw new ApiError("FAILED_PRECONDITION", `${key}.type: IPsec is off in this dataplane (dataplane.ipsec: false)`);
      return `ipsec:${reqid}`;
    }
    if (type !== "forward") {
      if (r.nexthops.length > 0 || r.group !== "") throw new ApiError("INVALID_ARGUMENT", `${key}.nexthops: a ${type} route has no next hops`);
      return type;
    }
    if (r.group !== "") {
      if (r.nexthops.length > 0) throw new ApiError("INVALID_ARGUMENT", `${key}: nexthops and nexthop_group together; give one`);
      const g = this.#groups.get(r.group);
      if (!g) throw new ApiError("NOT_FOUND", `${key}.nexthop_group: no nexthop group named "${r.group}"`);
      if (g.family !== family) throw new ApiError("INVALID_ARGUMENT", `${key}.nexthop_group: group "${r.group}" has IPv${g.family} gateways, the prefix is IPv${family}`);
      return `grp:${g.name}`;
    }
    const v = this.#nexthops(r.nexthops, family, `${key}.nexthops`, macs);
    return typeof v.nhg === "string" ? v.nhg : fwdKey(v.nhg.members);
  }

  /** Puts a client's routes back as they were before a batch and re-syncs the dataplane. */
  async #undo(client: string, before: Map<string, Map<string, Before>>): Promise<void> {
    const resync = new ChangeSet();
    for (const [sub, seen] of before) {
      for (const [text, b] of seen) {
        if (b.had === null) this.#rib.delete(sub, text, client);
        else {
          this.#rib.set(sub, text, client, b.had.distance, b.had.nhg);
          if (b.had.stale) this.#rib.markStaleOne(sub, text, client);
        }
        resync.add(sub, text, this.#rib.best(sub, text)?.nhg ?? null);
      }
    }
    await this.#installSet(resync);
  }

  /** Removes routes of a client (sweep, stale timer); returns how many. */
  async removeRoutes(client: string, which: [string, string][]): Promise<number> {
    const cs = new ChangeSet();
    let n = 0;
    for (const [sub, text] of which) {
      if (!this.#rib.candidate(sub, text, client)) continue;
      n++;
      cs.add(sub, text, this.#rib.delete(sub, text, client));
    }
    await this.#installSet(cs);
    return n;
  }

  /** Changes the distance of all of a client's routes. */
  async setDistance(client: string, distance: number): Promise<void> {
    await this.#installSet(this.#rib.setDistance(client, distance));
  }

  #describe(nhg: string): { type: RouteType; nexthops: NexthopIn[]; group: string; reqid: number } {
    if (nhg === "blackhole" || nhg === "unreachable" || nhg === "prohibit") return { type: nhg, nexthops: [], group: "", reqid: 0 };
    if (nhg === "local") return { type: "local", nexthops: [], group: "", reqid: 0 };
    if (nhg.startsWith("ipsec:")) return { type: "ipsec", nexthops: [], group: "", reqid: Number(nhg.slice(6)) };
    if (nhg.startsWith("glean:")) {
      const port = this.#cfg.ports[Number(nhg.slice(6))]?.name ?? "?";
      return { type: "forward", nexthops: [{ via: "", port, weight: 1, mac: "" }], group: "", reqid: 0 };
    }
    if (nhg.startsWith("grp:")) return { type: "forward", nexthops: [], group: nhg.slice(4), reqid: 0 };
    const members = nhg
      .slice(4)
      .split(",")
      .map((m) => {
        const star = m.lastIndexOf("*");
        const bar = m.indexOf("|");
        const port = this.#cfg.ports[Number(m.slice(0, bar))]?.name ?? "?";
        const via = m.slice(bar + 1, star);
        const mac = this.#plan.adjs.get(m.slice(0, star))?.mac ?? this.#macs.get(m.slice(0, star)) ?? null;
        return { via, port, weight: Number(m.slice(star + 1)), mac: mac ? formatMac(mac) : "" };
      });
    return { type: "forward", nexthops: members, group: "", reqid: 0 };
  }

  /** A readable summary of a nexthop group key. */
  summary(nhg: string | null): string {
    if (nhg === null) return "";
    const d = this.#describe(nhg);
    if (d.group) return `group ${d.group}`;
    if (d.type === "ipsec") return `ipsec reqid ${d.reqid}`;
    if (d.type !== "forward") return d.type;
    return d.nexthops.map((n) => (n.via ? `via ${n.via} dev ${n.port}${n.weight !== 1 ? ` weight ${n.weight}` : ""}` : `dev ${n.port}`)).join(", ");
  }

  /** Routes, best only or every candidate, optionally filtered. */
  *routes(f: { fib: string; subfib: string; prefix: string; owner: string; all: boolean; local: boolean; family: 0 | Family }): Generator<RouteOut> {
    if (f.fib !== "" && !this.#plan.fibs.has(f.fib)) throw new ApiError("NOT_FOUND", `fib: no FIB named "${f.fib}"`);
    let only: string | null = null;
    if (f.prefix !== "") {
      try {
        only = formatPrefix(parsePrefix(f.prefix));
      } catch (err: unknown) {
        throw new ApiError("INVALID_ARGUMENT", `prefix: ${errText(err)}`);
      }
    }
    const subs = f.fib === "" ? [...this.#plan.subfibs.keys()] : this.#plan.fibs.get(f.fib)!.subfibs;
    if (f.subfib !== "") {
      if (f.fib === "") throw new ApiError("INVALID_ARGUMENT", "subfib: needs fib");
      const k = `${f.fib}.${f.subfib}`;
      if (!this.#plan.subfibs.has(k)) throw new ApiError("NOT_FOUND", `subfib: FIB ${f.fib} has no sub-FIB "${f.subfib}"`);
      subs.splice(0, subs.length, k);
    }
    for (const sub of subs) {
      if (!this.#rib.hasSubfib(sub)) continue;
      const dot = sub.indexOf(".");
      const fib = sub.slice(0, dot);
      const subfib = sub.slice(dot + 1);
      let entries: Iterable<[string, readonly Candidate[]]> = [];
      if (only === null) entries = this.#rib.entries(sub);
      else {
        const one = this.#rib.get(sub, only);
        if (one) entries = [[only, one]];
      }
      for (const [text, cands] of entries) {
        if (f.family !== 0 && (text.indexOf(":") >= 0 ? 6 : 4) !== f.family) continue;
        for (let i = 0; i < cands.length; i++) {
          if (i > 0 && !f.all) break;
          const c = cands[i]!;
          if (!f.local && c.owner === OWNER_CONNECTED) continue;
          if (f.owner !== "" && c.owner !== f.owner) continue;
          yield { fib, subfib, prefix: text, ...this.#describe(c.nhg), owner: c.owner, distance: c.distance, best: i === 0, stale: c.stale };
        }
      }
    }
  }

  /** Longest match of an address in a sub-FIB's RIB: every candidate of the matched prefix. */
  lookup(fib: string, subfib: string, address: string): RouteOut[] {
    const sub = this.#subKey(fib, subfib, "request");
    let a;
    try {
      a = parseAddress(address);
    } catch (err: unknown) {
      throw new ApiError("INVALID_ARGUMENT", `address: ${errText(err)}`);
    }
    const m = this.#longest(sub, a.family, a.addr);
    if (!m) return [];
    return [...this.routes({ fib, subfib: sub.slice(fib.length + 1), prefix: m, owner: "", all: true, local: true, family: 0 })];
  }

  #longest(sub: string, family: Family, addr: Uint8Array): string | null {
    if (!this.#rib.hasSubfib(sub)) return null;
    return longestKey(family, addr, (x) => this.#rib.best(sub, x) !== undefined);
  }

  // ---- nexthop groups -------------------------------------------------------------------------

  groups(): GroupOut[] {
    return [...this.#groups.values()].map((g) => ({ name: g.name, nexthops: this.#describe(fwdKey(g.spec.members)).nexthops, routes: this.#rib.usesOf(`grp:${g.name}`) }));
  }

  setGroup(name: string, nexthops: NexthopIn[]): GroupOut {
    if (!NAME.test(name)) throw new ApiError("INVALID_ARGUMENT", `name: "${name}" is not a name (a letter, then letters, digits, _ -)`);
    const macs = new Map<string, Uint8Array>();
    const v = this.#nexthops(nexthops, null, "nexthops", macs);
    if (typeof v.nhg === "string") throw new ApiError("INVALID_ARGUMENT", "nexthops[0].via: a nexthop group needs gateways (via)");
    const key = `grp:${name}`;
    const old = this.#groups.get(name);
    if (old && old.family !== v.family && this.#rib.usesOf(key) > 0) throw new ApiError("FAILED_PRECONDITION", `nexthops: group "${name}" is used by IPv${old.family} routes; its gateways must stay IPv${old.family}`);
    for (const [k, m] of macs) this.#macs.set(k, m);
    if (macs.size > 0) this.#driver.prepare(this.#plan, this.#macs);
    const spec: PlanNhg = { kind: "forward", members: v.nhg.members };
    try {
      this.#driver.setGroup(key, spec);
    } catch (err: unknown) {
      throw new ApiError("FAILED_PRECONDITION", `the dataplane refused group "${name}": ${errText(err)}`);
    }
    this.#plan.nhgs.set(key, spec);
    this.#groups.set(name, { name, family: v.family!, nexthops: v.cfg, spec });
    return this.groups().find((g) => g.name === name)!;
  }

  deleteGroup(name: string): void {
    if (!this.#groups.has(name)) throw new ApiError("NOT_FOUND", `name: no nexthop group named "${name}"`);
    const n = this.#rib.usesOf(`grp:${name}`);
    if (n > 0) throw new ApiError("FAILED_PRECONDITION", `name: nexthop group "${name}" is used by ${n} route${n === 1 ? "" : "s"}`);
    this.#driver.setGroup(`grp:${name}`, null);
    this.#plan.nhgs.delete(`grp:${name}`);
    this.#groups.delete(name);
  }

  // ---- structure ------------------------------------------------------------------------------

  #fib(cfg: Config, name: string, key = "name"): FibConfig {
    const f = cfg.fibs.find((x) => x.name === name);
    if (!f) throw new ApiError(name === "" ? "INVALID_ARGUMENT" : "NOT_FOUND", `${key}: ${name === "" ? "is required" : `no FIB named "${name}"`}`);
    return f;
  }

  isFileFib(name: string): boolean {
    return this.#fileFibs.has(name);
  }

  isFileBinding(text: string): boolean {
    return this.#fileBindings.has(text);
  }

  async createFib(name: string): Promise<void> {
    if (!NAME.test(name)) throw new ApiError("INVALID_ARGUMENT", `name: "${name}" is not a FIB name (a letter, then letters, digits, _ -; no dots)`);
    if (this.#cfg.fibs.some((f) => f.name === name)) throw new ApiError("ALREADY_EXISTS", `name: FIB "${name}" exists`);
    if (this.#cfg.fibs.length >= LIMITS.fibs) throw new ApiError("FAILED_PRECONDITION", `name: already ${LIMITS.fibs} FIBs, the most there can be`);
    this.#checkSubfibCount(1);
    const next = copyConfig(this.#cfg);
    next.fibs.push({ name, subfibs: [{ name: "main", routes: [] }], rules: [] });
    await this.#commit(next, this.#plan);
  }

  #checkSubfibCount(more: number): void {
    const n = this.#cfg.fibs.reduce((a, f) => a + f.subfibs.length, 0);
    if (n + more > LIMITS.subfibs) throw new ApiError("FAILED_PRECONDITION", `already ${n} sub-FIBs, at most ${LIMITS.subfibs}`);
  }

  async deleteFib(name: string): Promise<void> {
    const f = this.#fib(this.#cfg, name);
    const users: string[] = [];
    for (const p of this.#cfg.ports) if (p.fib === name) users.push(`interface ${p.name}`);
    for (const b of this.#cfg.bindings) if (b.fib === name) users.push(`binding ${formatPrefix(b.source)}`);
    if (this.#cfg.defaultFib[4] === name) users.push("the IPv4 default binding");
    if (this.#cfg.defaultFib[6] === name) users.push("the IPv6 default binding");
    if (users.length > 0) throw new ApiError("FAILED_PRECONDITION", `name: FIB "${name}" is used by ${users.join(", ")}`);
    const next = copyConfig(this.#cfg);
    next.fibs = next.fibs.filter((x) => x !== next.fibs.find((y) => y.name === f.name));
    this.#checkDroppedSubfibs(next, `deleting FIB ${name}`);
    await this.#commit(next, this.#plan);
  }

  async createSubfib(fib: string, name: string): Promise<void> {
    const f0 = this.#fib(this.#cfg, fib, "fib");
    if (!NAME.test(name)) throw new ApiError("INVALID_ARGUMENT", `subfib: "${name}" is not a sub-FIB name (a letter, then letters, digits, _ -; no dots)`);
    if (f0.subfibs.some((s) => s.name === name)) throw new ApiError("ALREADY_EXISTS", `subfib: FIB ${fib} already has sub-FIB "${name}"`);
    this.#checkSubfibCount(1);
    const next = copyConfig(this.#cfg);
    this.#fib(next, fib).subfibs.push({ name, routes: [] });
    await this.#commit(next, this.#plan);
  }

  async deleteSubfib(fib: string, name: string): Promise<void> {
    const f0 = this.#fib(this.#cfg, fib, "fib");
    if (name === "main" || name === "") throw new ApiError("FAILED_PRECONDITION", "subfib: the main sub-FIB (N.0) goes only with its FIB");
    if (!f0.subfibs.some((s) => s.name === name)) throw new ApiError("NOT_FOUND", `subfib: FIB ${fib} has no sub-FIB "${name}"`);
    const r = f0.rules.find((x) => x.subfib === name);
    if (r) throw new ApiError("FAILED_PRECONDITION", `subfib: rule ${fib}#${r.priority} selects sub-FIB ${name}`);
    const next = copyConfig(this.#cfg);
    const f = this.#fib(next, fib);
    f.subfibs = f.subfibs.filter((s) => s.name !== name);
    this.#checkDroppedSubfibs(next, `deleting sub-FIB ${fib}.${name}`);
    await this.#commit(next, this.#plan);
  }

  async addRule(fib: string, r: { priority: number; subfib: string; family: 0 | Family; source: string; inPort: string; dscp: number | null; protocol: string; sport: string; dport: string }): Promise<void> {
    const f0 = this.#fib(this.#cfg, fib, "fib");
    if (f0.rules.some((x) => x.priority === r.priority)) throw new ApiError("ALREADY_EXISTS", `priority: FIB ${fib} already has a rule with priority ${r.priority}`);
    if (f0.rules.length >= LIMITS.rulesPerFib) throw new ApiError("FAILED_PRECONDITION", `fib: FIB ${fib} already has ${LIMITS.rulesPerFib} rules, the most there can be`);
    if (r.subfib === "") throw new ApiError("INVALID_ARGUMENT", "subfib: is required");
    if (!f0.subfibs.some((s) => s.name === r.subfib)) throw new ApiError("NOT_FOUND", `subfib: FIB ${fib} has no sub-FIB "${r.subfib}"`);
    let source: Prefix | null = null;
    if (r.source !== "") {
      try {
        source = parsePrefix(r.source);
      } catch (err: unknown) {
        throw new ApiError("INVALID_ARGUMENT", `source: ${errText(err)}`);
      }
      if (r.family !== 0 && source.family !== r.family) throw new ApiError("INVALID_ARGUMENT", `source: is IPv${source.family} but the rule's family is IPv${r.family}`);
    }
    if (r.inPort !== "" && this.#portIndex(r.inPort) === undefined) throw new ApiError("NOT_FOUND", `in_port: no interface named "${r.inPort}"`);
    if (r.dscp !== null && (!Number.isInteger(r.dscp) || r.dscp < 0 || r.dscp > 63)) throw new ApiError("INVALID_ARGUMENT", `dscp: ${r.dscp} is out of range 0-63`);
    let protocol: number | null = null;
    if (r.protocol !== "") {
      protocol = /^\d{1,3}$/.test(r.protocol) ? Number(r.protocol) : (PROTOCOLS[r.protocol.toLowerCase()] ?? -1);
      if (protocol < 0 || protocol > 255) throw new ApiError("INVALID_ARGUMENT", `protocol: "${r.protocol}" is not a protocol (a number 0-255 or one of ${Object.keys(PROTOCOLS).join(", ")})`);
    }
    const range = (v: string, k: string): [number, number] | null => {
      if (v === "") return null;
      const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v);
      const lo = m ? Number(m[1]) : -1;
      const hi = m ? Number(m[2] ?? m[1]) : -1;
      if (!m || lo > 65535 || hi > 65535 || lo > hi) throw new ApiError("INVALID_ARGUMENT", `${k}: "${v}" is not a port or a range "low-high" within 0-65535`);
      return [lo, hi];
    };
    const sport = range(r.sport, "sport");
    const dport = range(r.dport, "dport");
    if ((sport || dport) && protocol !== null && !PORTED.has(protocol)) throw new ApiError("INVALID_ARGUMENT", `protocol: port ranges need tcp, udp or sctp (or no protocol), not ${protocol}`);
    const rule: RuleConfig = { priority: r.priority, subfib: r.subfib, family: source ? source.family : r.family, source, inPort: r.inPort === "" ? null : r.inPort, dscp: r.dscp, protocol, sport, dport };
    const next = copyConfig(this.#cfg);
    const f = this.#fib(next, fib);
    f.rules = [...f.rules, rule].sort((a, b) => a.priority - b.priority);
    await this.#commit(next, this.#plan);
  }

  async deleteRule(fib: string, priority: number): Promise<void> {
    const f0 = this.#fib(this.#cfg, fib, "fib");
    if (!f0.rules.some((x) => x.priority === priority)) throw new ApiError("NOT_FOUND", `priority: FIB ${fib} has no rule with priority ${priority}`);
    const next = copyConfig(this.#cfg);
    const f = this.#fib(next, fib);
    f.rules = f.rules.filter((x) => x.priority !== priority);
    await this.#commit(next, this.#plan);
  }

  async setBinding(source: string, fib: string, iface: string): Promise<void> {
    let p: Prefix;
    try {
      p = parsePrefix(source);
    } catch (err: unknown) {
      throw new ApiError("INVALID_ARGUMENT", `source: ${source === "" ? "is required" : errText(err)}`);
    }
    if ((fib === "") === (iface === "")) throw new ApiError("INVALID_ARGUMENT", "fib: give exactly one of fib or interface");
    let target = fib;
    if (iface !== "") {
      const port = this.#cfg.ports.find((x) => x.name === iface);
      if (!port) throw new ApiError("NOT_FOUND", `interface: no interface named "${iface}"`);
      if (port.fib === null) throw new ApiError("FAILED_PRECONDITION", `interface: interface ${iface} has no FIB to bind to`);
      target = port.fib;
    } else this.#fib(this.#cfg, fib, "fib");
    const text = formatPrefix(p);
    const next = copyConfig(this.#cfg);
    next.bindings = next.bindings.filter((b) => formatPrefix(b.source) !== text);
    next.bindings.push({ source: p, fib: target });
    await this.#commit(next, this.#plan);
  }

  async deleteBinding(source: string): Promise<void> {
    let text: string;
    try {
      text = formatPrefix(parsePrefix(source));
    } catch (err: unknown) {
      throw new ApiError("INVALID_ARGUMENT", `source: ${source === "" ? "is required" : errText(err)}`);
    }
    if (!this.#cfg.bindings.some((b) => formatPrefix(b.source) === text)) {
      const implicit = this.#plan.bindings.has(text);
      throw new ApiError(implicit ? "FAILED_PRECONDITION" : "NOT_FOUND", `source: ${implicit ? `${text} is bound by an interface's subnet (change the interface's fib)` : `no binding for ${text}`}`);
    }
    const next = copyConfig(this.#cfg);
    next.bindings = next.bindings.filter((b) => formatPrefix(b.source) !== text);
    await this.#commit(next, this.#plan);
  }

  async setDefault(family: 0 | Family, fib: string): Promise<void> {
    if (fib !== "") this.#fib(this.#cfg, fib, "fib");
    const next = copyConfig(this.#cfg);
    for (const fam of [4, 6] as const) if (family === 0 || family === fam) next.defaultFib[fam] = fib === "" ? null : fib;
    await this.#commit(next, this.#plan);
  }

  async updateInterface(name: string, mask: string[], v: { mtu: number; mru: number; addresses: string[]; fib: string }): Promise<void> {
    const i = this.#portIndex(name);
    if (i === undefined) throw new ApiError(name === "" ? "INVALID_ARGUMENT" : "NOT_FOUND", `name: ${name === "" ? "is required" : `no interface named "${name}"`}`);
    if (mask.length === 0) throw new ApiError("INVALID_ARGUMENT", 'update_mask: name the fields to change ("mtu", "mru", "addresses", "fib")');
    const old = this.#cfg.ports[i]!;
    const p: PortConfig = { ...old, addresses: [...old.addresses] };
    for (const f of mask) {
      if (f === "mtu") {
        if (!Number.isInteger(v.mtu) || v.mtu < 576 || v.mtu > 9000) throw new ApiError("INVALID_ARGUMENT", `mtu: ${v.mtu} is out of range 576-9000`);
        if (old.mru === old.mtu && !mask.includes("mru")) p.mru = v.mtu;
        p.mtu = v.mtu;
      } else if (f === "mru") {
        if (!Number.isInteger(v.mru) || v.mru < 576 || v.mru > 65535) throw new ApiError("INVALID_ARGUMENT", `mru: ${v.mru} is out of range 576-65535`);
        p.mru = v.mru;
      } else if (f === "addresses") {
        const seen = new Set<string>();
        p.addresses = v.addresses.map((a, j) => {
          let ia;
          try {
            ia = parseInterfaceAddress(a);
          } catch (err: unknown) {
            throw new ApiError("INVALID_ARGUMENT", `addresses[${j}]: ${errText(err)}`);
          }
          if (seen.has(ia.text)) throw new ApiError("INVALID_ARGUMENT", `addresses[${j}]: ${ia.text} is listed twice`);
          seen.add(ia.text);
          const at = formatAddress(ia.family, ia.addr);
          const other = this.#cfg.ports.find((q) => q.name !== name && q.addresses.some((b) => formatAddress(b.family, b.addr) === at));
          if (other) throw new ApiError("ALREADY_EXISTS", `addresses[${j}]: ${at} is already an address of interface ${other.name}`);
          return ia;
        });
      } else if (f === "fib") {
        if (v.fib !== "") this.#fib(this.#cfg, v.fib, "fib");
        p.fib = v.fib === "" ? null : v.fib;
      } else throw new ApiError("INVALID_ARGUMENT", `update_mask: "${f}" is not a field that can change (mtu, mru, addresses, fib)`);
    }
    if (p.mru < p.mtu) throw new ApiError("INVALID_ARGUMENT", `mru: ${p.mru} is below the MTU ${p.mtu}`);
    if (p.mtu < 1280 && p.addresses.some((a) => a.family === 6)) throw new ApiError("INVALID_ARGUMENT", `mtu: ${p.mtu} is below IPv6's minimum of 1280 and the interface has IPv6 addresses`);
    this.#hooks.portChanging?.(old, p);
    const next = copyConfig(this.#cfg);
    next.ports[i] = p;
    await this.#commit(next, this.#plan);
  }

  // ---- explain --------------------------------------------------------------------------------

  explain(q: ExplainIn): ExplainOut {
    let src, dst;
    try {
      src = parseAddress(q.src);
    } catch (err: unknown) {
      throw new ApiError("INVALID_ARGUMENT", `src: ${q.src === "" ? "is required" : errText(err)}`);
    }
    try {
      dst = parseAddress(q.dst, src.family);
    } catch (err: unknown) {
      throw new ApiError("INVALID_ARGUMENT", `dst: ${q.dst === "" ? "is required" : errText(err)}`);
    }
    const inPort = q.inPort === "" ? 0 : this.#portIndex(q.inPort);
    if (inPort === undefined) throw new ApiError("NOT_FOUND", `in_port: no interface named "${q.inPort}"`);
    let proto = 0;
    if (q.protocol !== "") {
      proto = /^\d{1,3}$/.test(q.protocol) ? Number(q.protocol) : (PROTOCOLS[q.protocol.toLowerCase()] ?? -1);
      if (proto < 0 || proto > 255) throw new ApiError("INVALID_ARGUMENT", `protocol: "${q.protocol}" is not a protocol`);
    }
    if (q.sport > 65535) throw new ApiError("INVALID_ARGUMENT", `sport: ${q.sport} is above 65535`);
    if (q.dport > 65535) throw new ApiError("INVALID_ARGUMENT", `dport: ${q.dport} is above 65535`);
    if (q.dscp > 63) throw new ApiError("INVALID_ARGUMENT", `dscp: ${q.dscp} is above 63`);
    const d = this.#driver.explain({ family: src.family, src: src.addr, dst: dst.addr, inPort, proto, dscp: q.dscp, hasPorts: PORTED.has(proto), sport: q.sport, dport: q.dport });
    const steps: string[] = [];
    const out: ExplainOut = { binding: "", fib: "", subfib: "", rule: "", prefix: "", routeOwner: "", nexthopGroup: "", action: "drop", adjacency: "", outPort: "", mac: "", dropReason: d.drop ?? "", ipsecPolicyIn: "", ipsecPolicyOut: "", ipsecReqid: 0, steps };
    // IPsec policies first, as the loop applies them to a plaintext packet from a port
    const names = this.#hooks.ipsecNames?.() ?? null;
    const tunnelText = (t: number): string => {
      const reqid = names?.reqidOf(t) ?? null;
      out.ipsecReqid = reqid ?? 0;
      return reqid !== null ? `the tunnel of reqid ${reqid}` : `dataplane tunnel ${t}`;
    };
    const intoTunnel = (t: number, how: string): ExplainOut => {
      const where = tunnelText(t);
      if (!d.drop) {
        out.action = "ipsec";
        steps.push(`${how} -> ${where} (encrypted with its outbound SA; the ESP/AH packet is routed by its source)`);
        return out;
      }
      out.action = "drop";
      const why = d.drop === "ipsec_no_out_sa" ? `${where} has no outbound SA for IPv${src.family} (yet)` : d.drop === "ip6_bad_source" ? linkLocal : d.drop;
      steps.push(`${how} -> ${where}: ${why}`);
      steps.push(`drop: ${d.drop}`);
      return out;
    };
    const ike = "IKE (to the IKE port, or the NAT-T port with the non-ESP marker)";
    const linkLocal = "a link-local source never leaves the link";
    if (names && (proto === 50 || proto === 51)) steps.push(`${proto === 50 ? "ESP" : "AH"}: one for an inbound SA's SPI and destination is decrypted before any policy; for any other SPI:`);
    if (d.spIn >= 0) {
      out.ipsecPolicyIn = names?.policyName("in", d.spIn) ?? `#${d.spIn}`;
      if (d.localOnly && (proto === 50 || proto === 51)) steps.push(`inbound IPsec policy ${out.ipsecPolicyIn} refuses plaintext, but ${proto === 50 ? "ESP" : "AH"} for the router is not plaintext: it is counted as ipsec_no_sa there`);
      else if (d.localOnly) steps.push(`inbound IPsec policy ${out.ipsecPolicyIn} refuses it in the clear, but if it is ${ike} for the router it passes`);
      else if (d.spOut < 0 && (d.drop === "ipsec_policy" || d.drop === "ipsec_discard")) {
        steps.push(`inbound IPsec policy ${out.ipsecPolicyIn}: ${d.drop === "ipsec_discard" ? "discard" : "protected traffic must not arrive in the clear"}`);
        steps.push(`drop: ${d.drop}`);
        return out;
      } else steps.push(`inbound IPsec policy ${out.ipsecPolicyIn}: bypass`);
    }
    if (d.spOut >= 0) {
      out.ipsecPolicyOut = names?.policyName("out", d.spOut) ?? `#${d.spOut}`;
      if (d.tunnel !== null && d.fib === null) return intoTunnel(d.tunnel, `outbound IPsec policy ${out.ipsecPolicyOut}: protect, without a lookup of its own,`);
      if (d.drop === "ipsec_discard") {
        steps.push(`outbound IPsec policy ${out.ipsecPolicyOut}: discard`);
        steps.push(`drop: ${d.drop}`);
        return out;
      }
      steps.push(`outbound IPsec policy ${out.ipsecPolicyOut}: bypass`);
    }
    // the binding: longest source prefix in the plan
    const binding = longestKey(src.family, src.addr, (t) => this.#plan.bindings.has(t));
    out.binding = binding ?? (d.fib !== null ? "default" : "");
    if (d.fib === null) {
      steps.push(`source ${q.src}: no binding and no IPv${src.family} default binding`);
      steps.push(`drop: ${out.dropReason}`);
      return out;
    }
    out.fib = d.fib;
    steps.push(`source ${q.src}: ${binding ? `binding ${binding}` : `default IPv${src.family} binding`} -> FIB ${d.fib}`);
    out.subfib = d.subfib ?? "";
    out.rule = d.rule ?? "";
    steps.push(d.rule ? `rule ${d.rule} matched -> sub-FIB ${d.subfib}` : `no rule matched -> main sub-FIB ${d.subfib}`);
    if (d.localOnly && d.kind !== "local") {
      out.action = "drop";
      steps.push(`destination ${q.dst}: not the router's: drop: ${out.dropReason}`);
      return out;
    }
    if (d.nhg === null) {
      steps.push(`destination ${q.dst}: no route in ${d.subfib}`);
      steps.push(`drop: ${out.dropReason} (ICMP destination unreachable)`);
      return out;
    }
    const installed = this.#driver.installedMatch(d.subfib!, dst.family, dst.addr);
    out.prefix = installed ?? "";
    const best = installed !== null ? this.#rib.best(d.subfib!, installed) : undefined;
    out.routeOwner = best ? best.owner : installed !== null ? OWNER_NEIGHBOUR : "";
    out.nexthopGroup = d.nhg;
    steps.push(`destination ${q.dst}: ${out.prefix} (${out.routeOwner}) -> ${this.summary(d.nhg) || d.nhg}`);
    out.action = d.kind;
    if (d.kind === "ipsec" && d.tunnel !== null) return intoTunnel(d.tunnel, "a route into a tunnel");
    if (d.kind !== "forward") {
      if (d.kind === "local") {
        out.action = "local";
        if (d.drop) {
          out.action = "drop";
          steps.push(`${proto === 50 ? "ESP" : "AH"} for the router with no SA of its SPI: never up the TAP`);
          steps.push(`drop: ${d.drop}`);
        } else steps.push(d.nhg.startsWith("glean:") ? "on a connected subnet, not resolved yet: up the TAP (the kernel resolves and forwards)" : "for the router itself: up the TAP");
      } else steps.push(`drop: ${out.dropReason}`);
      return out;
    }
    if (d.drop === "ip6_bad_source") {
      out.action = "drop";
      steps.push(linkLocal);
      steps.push(`drop: ${d.drop}`);
      return out;
    }
    out.adjacency = d.adj ?? "";
    out.outPort = d.outPort ?? "";
    out.mac = d.mac ?? "";
    if (d.drop) {
      out.action = "drop";
      steps.push(`adjacency ${out.adjacency}: ${d.drop === "adj_unresolved" ? "not resolved (the kernel is asked)" : d.drop}`);
      steps.push(`drop: ${d.drop}`);
    } else steps.push(`adjacency ${out.adjacency}: out ${out.outPort} to ${out.mac}`);
    return out;
  }
}

function sameRoutes(a: Map<string, PlanRoute>, b: Map<string, PlanRoute>): boolean {
  if (a.size !== b.size) return false;
  for (const [t, r] of a) if (b.get(t)?.nhg !== r.nhg) return false;
  return true;
}

function diffRoutes(before: Map<string, PlanRoute>, after: Map<string, PlanRoute>, f: (text: string, r: PlanRoute | null) => void): void {
  for (const [t, r] of after) if (before.get(t)?.nhg !== r.nhg) f(t, r);
  for (const t of before.keys()) if (!after.has(t)) f(t, null);
}
