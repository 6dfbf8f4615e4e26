/**
 * The compiler from a configuration to the dataplane's tables, as a plan: plain data keyed by
 * stable names, with no ids. The driver (dataplane.ts) gives the keys ids, diffs a new plan
 * against what it installed, and applies the difference while traffic flows.
 *
 * What each sub-FIB holds besides its configured routes (`implicit`; the RIB gives them the
 * weakest distance, so a configured route for the same prefix wins):
 *   - every interface address of every port as a host route to "local" (punted to the kernel);
 *   - every connected subnet as a "glean" route of its port: the packet goes to the kernel,
 *     which resolves the host and forwards it, and the resolved neighbour then becomes a host
 *     route straight to its adjacency (the driver adds those as neighbours come and go).
 *
 * Nexthop group keys:
 *   local | glean:<port> | blackhole | unreachable | prohibit | fwd:<adj>*<weight>,... |
 *   ipsec:<reqid> (into an IPsec tunnel; routes from the API only)
 * Adjacency keys: <port>|<address> (a gateway, or a neighbour host).
 */
import type { Config, RouteConfig } from "../api/config.js";
import { formatAddress, formatPrefix, type Family, type Prefix } from "../lookup/prefix.js";

export type NhgKind = "forward" | "blackhole" | "unreachable" | "prohibit" | "local" | "ipsec";

export interface PlanNhg {
  kind: NhgKind;
  members: { adj: string; weight: number }[];
  /** kind ipsec: the tunnel's reqid */
  reqid?: number;
}

export interface PlanAdj {
  port: number;
  family: Family;
  addr: Uint8Array;
  /** static link-layer address (the kernel is not asked), or null */
  mac: Uint8Array | null;
}

export interface PlanRule {
  /** index into Plan.ruleNames: the rule's counter id */
  id: number;
  subfib: string;
  family: 0 | Family;
  source: Prefix | null;
  inPort: number | null;
  dscp: number | null;
  protocol: number | null;
  sport: [number, number];
  dport: [number, number];
}

export interface PlanRoute {
  prefix: Prefix;
  nhg: string;
}

export interface PlanSubfib {
  /** "<fib>.<sub>", e.g. "main.main" */
  key: string;
  fib: string;
  /** the configuration file's routes by formatted prefix, both families */
  routes: Map<string, PlanRoute>;
}

export interface PlanFib {
  name: string;
  /** sub-FIB keys; [0] is N.0 */
  subfibs: string[];
  rules: PlanRule[];
}

export interface PlanPort {
  index: number;
  name: string;
  tap: string | null;
  mtu: number;
  mru: number;
  /** first address of each family: the source of ICMP errors sent from the port */
  ip4: Uint8Array | null;
  ip6: Uint8Array | null;
  /** connected subnets (for glean host routes) */
  subnets: Prefix[];
}

export interface PlanBinding {
  prefix: Prefix;
  fib: string;
}

export interface Plan {
  ports: PlanPort[];
  fibs: Map<string, PlanFib>;
  subfibs: Map<string, PlanSubfib>;
  nhgs: Map<string, PlanNhg>;
  adjs: Map<string, PlanAdj>;
  /** bindings by formatted source prefix */
  bindings: Map<string, PlanBinding>;
  defaults: { 4: string | null; 6: string | null };
  /** counter names of rules ("<fib>#<priority>"), by rule id */
  ruleNames: string[];
  /** the routes every sub-FIB holds besides its own: interface addresses and connected subnets */
  implicit: Map<string, PlanRoute>;
}

export function adjKey(port: number, family: Family, addr: Uint8Array): string {
  return `${port}|${formatAddress(family, addr)}`;
}

export function fwdKey(members: { adj: string; weight: number }[]): string {
  return `fwd:${members.map((m) => `${m.adj}*${m.weight}`).sort().join(",")}`;
}

function hostPrefix(family: Family, addr: Uint8Array): Prefix {
  return { family, addr, len: family === 4 ? 32 : 128 };
}

export function compilePlan(cfg: Config): Plan {
  const portIndex = new Map(cfg.ports.map((p, i) => [p.name, i]));
  const nhgs = new Map<string, PlanNhg>();
  const adjs = new Map<string, PlanAdj>();
  for (const k of ["local", "blackhole", "unreachable", "prohibit"] as const) nhgs.set(k, { kind: k === "local" ? "local" : k, members: [] });

  const ports: PlanPort[] = cfg.ports.map((p, i) => {
    nhgs.set(`glean:${i}`, { kind: "local", members: [] });
    const v4 = p.addresses.find((a) => a.family === 4);
    const v6 = p.addresses.find((a) => a.family === 6);
    return {
      index: i,
      name: p.name,
      tap: p.tap,
      mtu: p.mtu,
      mru: p.mru,
      ip4: v4 ? v4.addr : null,
      ip6: v6 ? v6.addr : null,
      subnets: p.addresses.filter((a) => a.len < (a.family === 4 ? 32 : 128)).map((a) => a.subnet),
    };
  });

  // Routes every sub-FIB starts from.
  const implicit = new Map<string, PlanRoute>();
  cfg.ports.forEach((p, i) => {
    for (const a of p.addresses) {
      if (a.len < (a.family === 4 ? 32 : 128)) implicit.set(formatPrefix(a.subnet), { prefix: a.subnet, nhg: `glean:${i}` });
    }
  });
  for (const p of cfg.ports) {
    for (const a of p.addresses) {
      const h = hostPrefix(a.family, a.addr);
      implicit.set(formatPrefix(h), { prefix: h, nhg: "local" });
    }
  }

  const routeNhg = (r: RouteConfig): string => {
    if (r.kind !== "forward") return r.kind;
    const only = r.nexthops[0]!;
    if (only.via === null) return `glean:${portIndex.get(only.port)!}`;
    const members = r.nexthops.map((n) => {
      const port = portIndex.get(n.port)!;
      const key = adjKey(port, n.via!.family, n.via!.addr);
      const prev = adjs.get(key);
      if (!prev?.mac) adjs.set(key, { port, family: n.via!.family, addr: n.via!.addr, mac: n.mac });
      return { adj: key, weight: n.weight };
    });
    const key = fwdKey(members);
    if (!nhgs.has(key)) nhgs.set(key, { kind: "forward", members });
    return key;
  };

  const fibs = new Map<string, PlanFib>();
  const subfibs = new Map<string, PlanSubfib>();
  const ruleNames: string[] = [];
  for (const f of cfg.fibs) {
    const keys: string[] = [];
    for (const s of f.subfibs) {
      const key = `${f.name}.${s.name}`;
      const routes = new Map<string, PlanRoute>();
      for (const r of s.routes) routes.set(formatPrefix(r.prefix), { prefix: r.prefix, nhg: routeNhg(r) });
      subfibs.set(key, { key, fib: f.name, routes });
      keys.push(key);
    }
    const rules: PlanRule[] = f.rules.map((r) => {
      ruleNames.push(`${f.name}#${r.priority}`);
      return {
        id: ruleNames.length - 1,
        subfib: `${f.name}.${r.subfib}`,
        family: r.family,
        source: r.source,
        inPort: r.inPort === null ? null : portIndex.get(r.inPort)!,
        dscp: r.dscp,
        protocol: r.protocol,
        sport: r.sport ?? [0, 65535],
        dport: r.dport ?? [0, 65535],
      };
    });
    fibs.set(f.name, { name: f.name, subfibs: keys, rules });
  }

  const bindings = new Map<string, PlanBinding>();
  // A port with a FIB binds its own subnets; explicit bindings win on the same prefix.
  for (const p of cfg.ports) {
    if (p.fib === null) continue;
    for (const a of p.addresses) bindings.set(formatPrefix(a.subnet), { prefix: a.subnet, fib: p.fib });
  }
  for (const b of cfg.bindings) bindings.set(formatPrefix(b.source), { prefix: b.source, fib: b.fib });

  return { ports, fibs, subfibs, nhgs, adjs, bindings, defaults: { ...cfg.defaultFib }, ruleNames, implicit };
}
