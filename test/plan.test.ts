/**
 * The plan compiler: implicit local and connected routes in every sub-FIB, nexthop groups and
 * adjacencies keyed by stable names, rules with dense ids, bindings and defaults.
 */
import { describe, expect, it } from "vitest";
import { parseConfigText } from "../src/api/config.js";
import { adjKey, compilePlan, fwdKey, type Plan, type PlanSubfib } from "../src/fib/plan.js";
import { formatPrefix, parseAddress, parsePrefix } from "../src/lookup/prefix.js";

const BASE = `
ports:
  - name: eth0
    device: dev0
    addresses: ["192.0.2.1/24", "2001:db8::1/64"]
    fib: a
  - name: eth1
    device: dev1
    tap: false
    mtu: 9000
    addresses: ["198.51.100.1/24", "203.0.113.7/32", "198.51.100.129/25"]
  - name: eth2
    device: dev2
`;

function plan(fibsYaml: string, extra = ""): Plan {
  return compilePlan(parseConfigText(`${BASE}${fibsYaml}${extra}`));
}

/** A sub-FIB with what it forwards by: the implicit routes, overridden by its configured ones
 *  (what the RIB makes of them: configured routes have the stronger distance). */
function sub(p: Plan, key: string): PlanSubfib {
  const s = p.subfibs.get(key);
  if (!s) throw new Error(`no sub-FIB ${key} (have ${[...p.subfibs.keys()].join(", ")})`);
  return { ...s, routes: new Map([...p.implicit, ...s.routes]) };
}

/** nexthop group of each route, by formatted prefix */
function nhgs(s: PlanSubfib): Record<string, string> {
  return Object.fromEntries([...s.routes].map(([k, r]) => [k, r.nhg]));
}

const IMPLICIT: Record<string, string> = {
  "192.0.2.1/32": "local",
  "2001:db8::1/128": "local",
  "198.51.100.1/32": "local",
  "203.0.113.7/32": "local",
  "198.51.100.129/32": "local",
  "192.0.2.0/24": "glean:0",
  "2001:db8::/64": "glean:0",
  "198.51.100.0/24": "glean:1",
  "198.51.100.128/25": "glean:1",
};

const TWO_FIBS = `
fibs:
  - name: a
    routes:
      - prefix: 0.0.0.0/0
        nexthops: [{ via: 192.0.2.254, port: eth0 }]
    subfibs:
      - name: voice
      - name: video
        routes:
          - prefix: 10.0.0.0/8
            type: blackhole
  - name: b
`;

describe("implicit routes", () => {
  it("every sub-FIB has each port address as a host route to local and each connected subnet to glean:<port>", () => {
    const p = plan(TWO_FIBS);
    expect([...p.subfibs.keys()]).toEqual(["a.main", "a.voice", "a.video", "b.main"]);
    for (const k of p.subfibs.keys()) {
      const got = nhgs(sub(p, k));
      for (const [prefix, nhg] of Object.entries(IMPLICIT)) expect(got[prefix], `${k} ${prefix}`).toBe(nhg);
    }
    expect(nhgs(sub(p, "a.voice"))).toEqual(IMPLICIT);
    expect(nhgs(sub(p, "b.main"))).toEqual(IMPLICIT);
    expect(nhgs(sub(p, "a.main"))).toEqual({ ...IMPLICIT, "0.0.0.0/0": "fwd:0|192.0.2.254*1" });
    expect(nhgs(sub(p, "a.video"))).toEqual({ ...IMPLICIT, "10.0.0.0/8": "blackhole" });
  });

  it("a /32 address gets a host route but no connected subnet", () => {
    const s = sub(plan(TWO_FIBS), "b.main");
    expect(s.routes.get("203.0.113.7/32")?.nhg).toBe("local");
    expect([...s.routes.values()].filter((r) => r.nhg === "glean:1").map((r) => formatPrefix(r.prefix))).toEqual(["198.51.100.0/24", "198.51.100.128/25"]);
  });

  it("route prefixes are the parsed prefixes, keyed by their formatted text", () => {
    const s = sub(plan(TWO_FIBS), "a.main");
    for (const [k, r] of s.routes) expect(formatPrefix(r.prefix)).toBe(k);
    expect(s.routes.get("192.0.2.1/32")?.prefix).toEqual(parsePrefix("192.0.2.1/32"));
    expect(s.routes.get("2001:db8::1/128")?.prefix).toEqual(parsePrefix("2001:db8::1/128"));
    expect(s.routes.get("2001:db8::/64")?.prefix).toEqual(parsePrefix("2001:db8::/64"));
    expect(s.fib).toBe("a");
    expect(s.key).toBe("a.main");
  });

  it("local, glean and the reject groups exist even when no route uses them", () => {
    const p = plan("fibs: [{ name: a }]\n");
    expect(p.nhgs.get("local")).toEqual({ kind: "local", members: [] });
    expect(p.nhgs.get("blackhole")).toEqual({ kind: "blackhole", members: [] });
    expect(p.nhgs.get("unreachable")).toEqual({ kind: "unreachable", members: [] });
    expect(p.nhgs.get("prohibit")).toEqual({ kind: "prohibit", members: [] });
    // a glean group per port, also for eth2 which has no addresses
    expect(p.nhgs.get("glean:0")).toEqual({ kind: "local", members: [] });
    expect(p.nhgs.get("glean:1")).toEqual({ kind: "local", members: [] });
    expect(p.nhgs.get("glean:2")).toEqual({ kind: "local", members: [] });
    expect(p.nhgs.has("glean:3")).toBe(false);
    expect([...p.nhgs.keys()].filter((k) => k.startsWith("fwd:"))).toEqual([]);
    expect(p.adjs.size).toBe(0);
  });

  it("a configured route overrides an implicit one with the same prefix, in its own sub-FIB only", () => {
    const p = plan(`
fibs:
  - name: a
    routes:
      - prefix: 192.0.2.0/24
        nexthops: [{ via: 198.51.100.254, port: eth1 }]
      - prefix: 192.0.2.1/32
        type: prohibit
    subfibs:
      - name: voice
        routes:
          - prefix: 2001:db8::/64
            type: unreachable
`);
    const main = sub(p, "a.main");
    expect(main.routes.get("192.0.2.0/24")?.nhg).toBe("fwd:1|198.51.100.254*1");
    expect(main.routes.get("192.0.2.1/32")?.nhg).toBe("prohibit");
    expect(main.routes.get("2001:db8::/64")?.nhg).toBe("glean:0");
    expect(main.routes.size).toBe(Object.keys(IMPLICIT).length);
    const voice = sub(p, "a.voice");
    expect(voice.routes.get("192.0.2.0/24")?.nhg).toBe("glean:0");
    expect(voice.routes.get("192.0.2.1/32")?.nhg).toBe("local");
    expect(voice.routes.get("2001:db8::/64")?.nhg).toBe("unreachable");
  });

  it("sub-FIBs do not share their route maps", () => {
    const p = plan(TWO_FIBS);
    const a = sub(p, "a.voice");
    const b = sub(p, "b.main");
    expect(a.routes).not.toBe(b.routes);
    a.routes.delete("192.0.2.0/24");
    expect(b.routes.has("192.0.2.0/24")).toBe(true);
  });
});

describe("nexthop groups and adjacencies", () => {
  it("an ECMP route is one fwd group whose key does not depend on nexthop order; equal sets share it", () => {
    const p = plan(`
fibs:
  - name: a
    routes:
      - prefix: 0.0.0.0/0
        nexthops:
          - { via: 192.0.2.254, port: eth0, weight: 2 }
          - { via: 198.51.100.254, port: eth1 }
  - name: b
    routes:
      - prefix: 0.0.0.0/0
        nexthops:
          - { via: 198.51.100.254, port: eth1 }
          - { via: 192.0.2.254, port: eth0, weight: 2 }
      - prefix: 10.0.0.0/8
        nexthops:
          - { via: 198.51.100.254, port: eth1 }
          - { via: 192.0.2.254, port: eth0 }
`);
    const key = "fwd:0|192.0.2.254*2,1|198.51.100.254*1";
    expect(sub(p, "a.main").routes.get("0.0.0.0/0")?.nhg).toBe(key);
    expect(sub(p, "b.main").routes.get("0.0.0.0/0")?.nhg).toBe(key);
    // other weights: another group
    const other = "fwd:0|192.0.2.254*1,1|198.51.100.254*1";
    expect(sub(p, "b.main").routes.get("10.0.0.0/8")?.nhg).toBe(other);
    const fwd = [...p.nhgs.keys()].filter((k) => k.startsWith("fwd:")).sort();
    expect(fwd).toEqual([key, other].sort());
    const g = p.nhgs.get(key);
    expect(g?.kind).toBe("forward");
    expect(g?.members).toHaveLength(2);
    expect([...(g?.members ?? [])].sort((x, y) => x.adj.localeCompare(y.adj))).toEqual([
      { adj: "0|192.0.2.254", weight: 2 },
      { adj: "1|198.51.100.254", weight: 1 },
    ]);
    expect(fwdKey(g?.members ?? [])).toBe(key);
  });

  it("fwdKey sorts its members", () => {
    const m1 = { adj: "1|198.51.100.254", weight: 1 };
    const m2 = { adj: "0|192.0.2.254", weight: 7 };
    const m3 = { adj: "0|2001:db8::fffe", weight: 3 };
    expect(fwdKey([m1, m2, m3])).toBe("fwd:0|192.0.2.254*7,0|2001:db8::fffe*3,1|198.51.100.254*1");
    expect(fwdKey([m3, m1, m2])).toBe(fwdKey([m1, m2, m3]));
    expect(fwdKey([m2])).toBe("fwd:0|192.0.2.254*7");
    expect(fwdKey([{ ...m2, weight: 8 }])).not.toBe(fwdKey([m2]));
  });

  it("adjacencies are keyed <port index>|<address>, one per gateway and port", () => {
    const p = plan(`
fibs:
  - name: a
    routes:
      - prefix: 0.0.0.0/0
        nexthops: [{ via: 192.0.2.254, port: eth0 }]
      - prefix: ::/0
        nexthops: [{ via: "2001:db8:0::fffe", port: eth0 }]
      - prefix: 10.0.0.0/8
        nexthops: [{ via: 192.0.2.254, port: eth0 }, { via: 192.0.2.254, port: eth1 }]
  - name: b
    routes:
      - prefix: 0.0.0.0/0
        nexthops: [{ via: 192.0.2.254, port: eth0 }]
`);
    expect([...p.adjs.keys()].sort()).toEqual(["0|192.0.2.254", "0|2001:db8::fffe", "1|192.0.2.254"]);
    expect(p.adjs.get("0|192.0.2.254")).toMatchObject({ port: 0, family: 4, addr: Uint8Array.from([192, 0, 2, 254]) });
    expect(p.adjs.get("1|192.0.2.254")).toMatchObject({ port: 1, family: 4, addr: Uint8Array.from([192, 0, 2, 254]) });
    const v6 = parseAddress("2001:db8::fffe");
    expect(p.adjs.get("0|2001:db8::fffe")).toMatchObject({ port: 0, family: 6, addr: v6.addr });
    expect(adjKey(0, 6, v6.addr)).toBe("0|2001:db8::fffe");
    expect(adjKey(15, 4, Uint8Array.from([10, 0, 0, 1]))).toBe("15|10.0.0.1");
    expect(sub(p, "a.main").routes.get("::/0")?.nhg).toBe("fwd:0|2001:db8::fffe*1");
    expect(sub(p, "a.main").routes.get("10.0.0.0/8")?.nhg).toBe("fwd:0|192.0.2.254*1,1|192.0.2.254*1");
    // the same single next hop in two FIBs: one group
    expect(sub(p, "b.main").routes.get("0.0.0.0/0")?.nhg).toBe(sub(p, "a.main").routes.get("0.0.0.0/0")?.nhg);
    expect([...p.nhgs.keys()].filter((k) => k.startsWith("fwd:"))).toHaveLength(3);
  });

  it("a direct next hop (no via) is the port's glean group and makes no adjacency", () => {
    const p = plan(`
fibs:
  - name: a
    routes:
      - prefix: 10.0.0.0/8
        nexthops: [{ port: eth1 }]
      - prefix: 2001:db8:1::/48
        nexthops: [{ port: eth2, weight: 9 }]
`);
    const main = sub(p, "a.main");
    expect(main.routes.get("10.0.0.0/8")?.nhg).toBe("glean:1");
    expect(main.routes.get("2001:db8:1::/48")?.nhg).toBe("glean:2");
    expect(p.adjs.size).toBe(0);
    expect([...p.nhgs.keys()].some((k) => k.startsWith("fwd:"))).toBe(false);
  });

  it("blackhole, unreachable and prohibit routes use the groups of those names", () => {
    const p = plan(`
fibs:
  - name: a
    routes:
      - { prefix: 10.0.0.0/8, type: blackhole }
      - { prefix: 172.16.0.0/12, type: unreachable }
      - { prefix: "fc00::/7", type: prohibit }
`);
    const main = sub(p, "a.main");
    expect(main.routes.get("10.0.0.0/8")?.nhg).toBe("blackhole");
    expect(main.routes.get("172.16.0.0/12")?.nhg).toBe("unreachable");
    expect(main.routes.get("fc00::/7")?.nhg).toBe("prohibit");
    for (const k of ["blackhole", "unreachable", "prohibit"] as const) expect(p.nhgs.get(k)?.kind).toBe(k);
    expect(p.adjs.size).toBe(0);
  });

  it("every route's group exists, and every fwd member's adjacency exists", () => {
    const p = plan(
      TWO_FIBS,
      `
  - name: c
    routes:
      - prefix: 0.0.0.0/0
        nexthops: [{ via: 198.51.100.2, port: eth1, weight: 4 }, { via: 198.51.100.3, port: eth1 }]
      - prefix: 10.0.0.0/8
        nexthops: [{ port: eth0 }]
`,
    );
    for (const s of p.subfibs.values()) for (const r of s.routes.values()) expect(p.nhgs.has(r.nhg), `${s.key} ${r.nhg}`).toBe(true);
    for (const g of p.nhgs.values()) for (const m of g.members) expect(p.adjs.has(m.adj), m.adj).toBe(true);
  });
});

describe("FIBs and rules", () => {
  const RULES = `
fibs:
  - name: a
    subfibs: [{ name: voice }, { name: bulk }]
    rules:
      - subfib: voice
        source: 192.0.2.128/25
        protocol: udp
        dport: "5060-5061"
        dscp: 46
        in_port: eth1
      - subfib: bulk
        family: 6
  - name: b
  - name: c
    subfibs: [{ name: x }]
    rules:
      - { subfib: x, protocol: tcp, sport: 22 }
      - { subfib: main, in_port: eth2 }
`;

  it("FIBs list their sub-FIB keys, main first, in file order", () => {
    const p = plan(RULES);
    expect([...p.fibs.keys()]).toEqual(["a", "b", "c"]);
    expect(p.fibs.get("a")?.subfibs).toEqual(["a.main", "a.voice", "a.bulk"]);
    expect(p.fibs.get("b")?.subfibs).toEqual(["b.main"]);
    expect(p.fibs.get("c")?.subfibs).toEqual(["c.main", "c.x"]);
    expect(p.fibs.get("b")?.rules).toEqual([]);
    expect(p.fibs.get("a")?.name).toBe("a");
    for (const f of p.fibs.values()) for (const k of f.subfibs) expect(sub(p, k).fib).toBe(f.name);
  });

  it("rules get dense global ids in file order and counter names <fib>#<priority>", () => {
    const p = plan(RULES);
    expect(p.ruleNames).toEqual(["a#0", "a#10", "c#0", "c#10"]);
    expect(p.fibs.get("a")?.rules.map((r) => r.id)).toEqual([0, 1]);
    expect(p.fibs.get("c")?.rules.map((r) => r.id)).toEqual([2, 3]);
    for (const f of p.fibs.values()) f.rules.forEach((r, j) => expect(p.ruleNames[r.id]).toBe(`${f.name}#${j * 10}`));
  });

  it("rules name sub-FIBs by key, default port ranges to 0-65535, resolve in_port to the port index", () => {
    const p = plan(RULES);
    expect(p.fibs.get("a")?.rules).toEqual([
      {
        id: 0,
        subfib: "a.voice",
        family: 4,
        source: parsePrefix("192.0.2.128/25"),
        inPort: 1,
        dscp: 46,
        protocol: 17,
        sport: [0, 65535],
        dport: [5060, 5061],
      },
      { id: 1, subfib: "a.bulk", family: 6, source: null, inPort: null, dscp: null, protocol: null, sport: [0, 65535], dport: [0, 65535] },
    ]);
    expect(p.fibs.get("c")?.rules).toEqual([
      { id: 2, subfib: "c.x", family: 0, source: null, inPort: null, dscp: null, protocol: 6, sport: [22, 22], dport: [0, 65535] },
      { id: 3, subfib: "c.main", family: 0, source: null, inPort: 2, dscp: null, protocol: null, sport: [0, 65535], dport: [0, 65535] },
    ]);
    for (const f of p.fibs.values()) for (const r of f.rules) expect(p.subfibs.has(r.subfib), r.subfib).toBe(true);
  });

  // Regression: "<fib>.<sub>" keys could collide when names contained "." (FIB a with sub-FIB
  // b.c, FIB a.b with sub-FIB c); names may not contain "." any more.
  it("FIB and sub-FIB names with a dot are refused, so sub-FIB keys cannot collide", () => {
    expect(() =>
      plan(`
fibs:
  - name: a
    subfibs: [{ name: b.c, routes: [{ prefix: 10.0.0.0/8, type: blackhole }] }]
  - name: a.b
    subfibs: [{ name: c, routes: [{ prefix: 10.0.0.0/8, type: prohibit }] }]
`),
    ).toThrow(/fibs\[0\]\.subfibs\[0\]\.name: "b\.c" is not a name[\s\S]*fibs\[1\]\.name: "a\.b" is not a name/);
  });
});

describe("ports, bindings and defaults", () => {
  it("ports carry index, name, TAP, MTU, the first address of each family and the connected subnets", () => {
    const p = plan("fibs: [{ name: a }]\n");
    expect(p.ports).toEqual([
      {
        index: 0,
        name: "eth0",
        tap: "eth0",
        mtu: 1500,
        mru: 1500,
        ip4: Uint8Array.from([192, 0, 2, 1]),
        ip6: parseAddress("2001:db8::1").addr,
        subnets: [parsePrefix("192.0.2.0/24"), parsePrefix("2001:db8::/64")],
      },
      {
        index: 1,
        name: "eth1",
        tap: null,
        mtu: 9000,
        mru: 9000,
        ip4: Uint8Array.from([198, 51, 100, 1]),
        ip6: null,
        subnets: [parsePrefix("198.51.100.0/24"), parsePrefix("198.51.100.128/25")],
      },
      { index: 2, name: "eth2", tap: "eth2", mtu: 1500, mru: 1500, ip4: null, ip6: null, subnets: [] },
    ]);
  });

  it("a port with fib binds its subnets to that FIB; an explicit binding of the same prefix wins", () => {
    const p = plan(
      "fibs: [{ name: a }, { name: b }]\n",
      `
bindings:
  - { source: 2001:db8::/64, fib: b }
  - { source: 10.0.0.0/8, fib: b }
  - { source: 172.16.0.0/12, interface: eth0 }
`,
    );
    expect(Object.fromEntries([...p.bindings].map(([k, b]) => [k, b.fib]))).toEqual({
      "192.0.2.0/24": "a",
      "2001:db8::/64": "b",
      "10.0.0.0/8": "b",
      "172.16.0.0/12": "a",
    });
    expect(p.bindings.get("192.0.2.0/24")?.prefix).toEqual(parsePrefix("192.0.2.0/24"));
    expect(p.bindings.get("2001:db8::/64")?.prefix).toEqual(parsePrefix("2001:db8::/64"));
    // eth1 has no fib: its subnets are not bound
    expect(p.bindings.has("198.51.100.0/24")).toBe(false);
  });

  it("no bindings at all without port fibs or explicit bindings", () => {
    const p = compilePlan(parseConfigText("ports: [{ name: eth0, device: d, addresses: [192.0.2.1/24] }]\nfibs: [{ name: a }]\n"));
    expect(p.bindings.size).toBe(0);
  });

  it("defaults are carried through", () => {
    expect(plan("fibs: [{ name: a }, { name: b }]\n").defaults).toEqual({ 4: null, 6: null });
    expect(plan("fibs: [{ name: a }, { name: b }]\n", "default_fib: b\n").defaults).toEqual({ 4: "b", 6: "b" });
    expect(plan("fibs: [{ name: a }, { name: b }]\n", "default_fib: { ipv4: a, ipv6: b }\n").defaults).toEqual({ 4: "a", 6: "b" });
  });

  it("the plan's defaults are a copy of the config's", () => {
    const cfg = parseConfigText(`${BASE}fibs: [{ name: a }]\ndefault_fib: a\n`);
    const p = compilePlan(cfg);
    p.defaults[4] = null;
    expect(cfg.defaultFib).toEqual({ 4: "a", 6: "a" });
  });

  it("compiling the same config twice gives equal plans", () => {
    const cfg = parseConfigText(`${BASE}${TWO_FIBS}`);
    expect(compilePlan(cfg)).toEqual(compilePlan(cfg));
  });
});
