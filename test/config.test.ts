/**
 * The configuration file: parsing (YAML and JSON), defaults, and validation. Every validation
 * error must name the offending key by its path and say why, and every error in a file must be
 * reported, not just the first.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkConfig, ConfigError, loadConfigFile, parseConfigText, parseInterfaceAddress, type Config, type ConfigProblem } from "../src/api/config.js";

// Documents are built as plain objects and mutated per test; their shape is what the checker
// is for, so they are deliberately untyped.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = any;

/** A small valid document: two ports, two FIBs, one sub-FIB. */
function base(): Doc {
  return {
    ports: [
      { name: "eth0", device: "dev0", addresses: ["192.0.2.1/24", "2001:db8::1/64"], fib: "a" },
      { name: "eth1", device: "dev1", addresses: ["198.51.100.1/24"] },
    ],
    fibs: [
      {
        name: "a",
        routes: [{ prefix: "0.0.0.0/0", nexthops: [{ via: "192.0.2.254", port: "eth0" }] }],
        subfibs: [{ name: "voice", routes: [] }],
        rules: [],
      },
      { name: "b" },
    ],
  };
}

/** The problems of a ConfigError thrown by f; fails the test if f throws nothing. */
function problemsOf(f: () => unknown): ConfigProblem[] {
  try {
    f();
  } catch (err: unknown) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError, but the configuration was accepted");
}

/** The problems of base() after `mutate`. */
function check(mutate: (d: Doc) => void): ConfigProblem[] {
  const d = base();
  mutate(d);
  return problemsOf(() => checkConfig(d));
}

/** base() after `mutate` is accepted. */
function accept(mutate: (d: Doc) => void): Config {
  const d = base();
  mutate(d);
  return checkConfig(d);
}

function problem(key: string, message: RegExp): ConfigProblem {
  return { key, message: expect.stringMatching(message) as unknown as string };
}

/** Exactly one problem, at `key`, with a message matching `message`. */
function expectOnly(problems: ConfigProblem[], key: string, message: RegExp): void {
  expect(problems).toEqual([problem(key, message)]);
}

function bytes(...b: number[]): Uint8Array {
  return Uint8Array.from(b);
}

const FULL_YAML = `
# a complete configuration
dataplane:
  workers: 2
  lcores: "0-2"
  memory_mb: 1024
  eal_args: ["--no-pci", "--log-level=7"]
  status_file: /run/srcfib/status.json
  status_interval_ms: 500
  idle_sleep_us: 20
  crypto: crypto_openssl
  tunnel_mtu: 1380
  ike_ports: [1500, 14500]
ports:
  - name: isp-a
    device: "net_af_packet0,iface=veth0"
    mac: "02:00:00:00:00:01"
    mtu: 9000
    addresses: ["192.0.2.1/24", "2001:db8:1::1/64"]
    fib: isp-a
  - name: lan
    device: "0000:03:00.0"
    tap: false
    addresses:
      - 198.51.100.1/24
  - name: isp-b
    device: "0000:03:00.1"
    tap: tap-b
    addresses: ["203.0.113.1/32"]
fibs:
  - name: isp-a
    routes:
      - prefix: 0.0.0.0/0
        nexthops:
          - { via: 192.0.2.254, port: isp-a }
      - prefix: "::/0"
        nexthops:
          - { via: "2001:db8:1::fffe", port: isp-a, weight: 3 }
      - prefix: 10.0.0.0/8
        type: blackhole
    subfibs:
      - name: voice
        routes:
          - prefix: 0.0.0.0/0
            nexthops:
              - { via: 198.51.100.254, port: lan }
    rules:
      - subfib: voice
        source: 192.0.2.128/25
        protocol: udp
        dport: "5060-5061"
        sport: 5060
        dscp: 46
        in_port: lan
  - name: isp-b
    routes:
      - prefix: 0.0.0.0/0
        nexthops:
          - { via: 192.0.2.254, port: isp-a, weight: 2 }
          - { via: 198.51.100.254, port: lan }
      - prefix: 198.51.100.0/25
        nexthops:
          - { port: lan }
bindings:
  - source: 198.51.100.0/24
    fib: isp-b
  - source: 192.0.2.0/24
    interface: isp-a
default_fib: isp-b
`;

const FULL_OBJ = {
  dataplane: {
    workers: 2,
    lcores: "0-2",
    memory_mb: 1024,
    eal_args: ["--no-pci", "--log-level=7"],
    status_file: "/run/srcfib/status.json",
    status_interval_ms: 500,
    idle_sleep_us: 20,
    crypto: "crypto_openssl",
    tunnel_mtu: 1380,
    ike_ports: [1500, 14500],
  },
  ports: [
    {
      name: "isp-a",
      device: "net_af_packet0,iface=veth0",
      mac: "02:00:00:00:00:01",
      mtu: 9000,
      addresses: ["192.0.2.1/24", "2001:db8:1::1/64"],
      fib: "isp-a",
    },
    { name: "lan", device: "0000:03:00.0", tap: false, addresses: ["198.51.100.1/24"] },
    { name: "isp-b", device: "0000:03:00.1", tap: "tap-b", addresses: ["203.0.113.1/32"] },
  ],
  fibs: [
    {
      name: "isp-a",
      routes: [
        { prefix: "0.0.0.0/0", nexthops: [{ via: "192.0.2.254", port: "isp-a" }] },
        { prefix: "::/0", nexthops: [{ via: "2001:db8:1::fffe", port: "isp-a", weight: 3 }] },
        { prefix: "10.0.0.0/8", type: "blackhole" },
      ],
      subfibs: [{ name: "voice", routes: [{ prefix: "0.0.0.0/0", nexthops: [{ via: "198.51.100.254", port: "lan" }] }] }],
      rules: [{ subfib: "voice", source: "192.0.2.128/25", protocol: "udp", dport: "5060-5061", sport: 5060, dscp: 46, in_port: "lan" }],
    },
    {
      name: "isp-b",
      routes: [
        {
          prefix: "0.0.0.0/0",
          nexthops: [
            { via: "192.0.2.254", port: "isp-a", weight: 2 },
            { via: "198.51.100.254", port: "lan" },
          ],
        },
        { prefix: "198.51.100.0/25", nexthops: [{ port: "lan" }] },
      ],
    },
  ],
  bindings: [
    { source: "198.51.100.0/24", fib: "isp-b" },
    { source: "192.0.2.0/24", interface: "isp-a" },
  ],
  default_fib: "isp-b",
};

describe("a complete configuration", () => {
  it("parses the same from YAML, from JSON and from an object", () => {
    const fromYaml = parseConfigText(FULL_YAML);
    const fromJson = parseConfigText(JSON.stringify(FULL_OBJ, null, 2));
    const fromObj = checkConfig(structuredClone(FULL_OBJ));
    expect(fromJson).toEqual(fromYaml);
    expect(fromObj).toEqual(fromYaml);
  });

  it("fills in the dataplane section", () => {
    const cfg = parseConfigText(FULL_YAML);
    expect(cfg.dataplane).toEqual({
      workers: 2,
      lcores: "0-2",
      memoryMb: 1024,
      ealArgs: ["--no-pci", "--log-level=7"],
      statusFile: "/run/srcfib/status.json",
      statusIntervalMs: 500,
      idleSleepUs: 20,
      ipsec: true,
      crypto: "crypto_openssl",
      tunnelMtu: 1380,
      ikePorts: [1500, 14500],
    });
  });

  it("resolves ports: MAC bytes, MTU, TAP names, addresses with their subnets", () => {
    const cfg = parseConfigText(FULL_YAML);
    expect(cfg.ports).toHaveLength(3);
    const [a, lan, b] = cfg.ports;
    expect(a).toEqual({
      name: "isp-a",
      device: "net_af_packet0,iface=veth0",
      tap: "isp-a",
      mac: bytes(2, 0, 0, 0, 0, 1),
      mtu: 9000,
      mru: 9000,
      fib: "isp-a",
      addresses: [
        {
          family: 4,
          addr: bytes(192, 0, 2, 1),
          len: 24,
          subnet: { family: 4, addr: bytes(192, 0, 2, 0), len: 24 },
          text: "192.0.2.1/24",
        },
        {
          family: 6,
          addr: bytes(0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
          len: 64,
          subnet: { family: 6, addr: bytes(0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), len: 64 },
          text: "2001:db8:1::1/64",
        },
      ],
    });
    // defaults: mtu 1500, no MAC override, no fib; tap: false is no TAP
    expect(lan).toMatchObject({ name: "lan", tap: null, mac: null, mtu: 1500, fib: null });
    expect(lan?.addresses.map((x) => x.text)).toEqual(["198.51.100.1/24"]);
    expect(b).toMatchObject({ name: "isp-b", tap: "tap-b", mtu: 1500 });
    expect(b?.addresses[0]?.subnet).toEqual({ family: 4, addr: bytes(203, 0, 113, 1), len: 32 });
  });

  it("resolves FIBs: main sub-FIB first, route kinds, next hops with weights, rules", () => {
    const cfg = parseConfigText(FULL_YAML);
    expect(cfg.fibs.map((f) => f.name)).toEqual(["isp-a", "isp-b"]);
    const a = cfg.fibs[0]!;
    expect(a.subfibs.map((s) => s.name)).toEqual(["main", "voice"]);
    const main = a.subfibs[0]!.routes;
    expect(main).toHaveLength(3);
    expect(main[0]).toMatchObject({
      prefix: { family: 4, addr: bytes(0, 0, 0, 0), len: 0 },
      kind: "forward",
      nexthops: [{ via: { family: 4, addr: bytes(192, 0, 2, 254) }, port: "isp-a", weight: 1 }],
    });
    expect(main[1]?.prefix).toEqual({ family: 6, addr: new Uint8Array(16), len: 0 });
    expect(main[1]?.nexthops).toHaveLength(1);
    expect(main[1]?.nexthops[0]).toMatchObject({ port: "isp-a", weight: 3 });
    expect(main[1]?.nexthops[0]?.via?.family).toBe(6);
    expect(main[2]).toEqual({ prefix: { family: 4, addr: bytes(10, 0, 0, 0), len: 8 }, kind: "blackhole", nexthops: [] });
    expect(a.subfibs[1]?.routes[0]?.nexthops[0]).toMatchObject({ port: "lan", via: { family: 4, addr: bytes(198, 51, 100, 254) } });
    expect(a.rules).toEqual([
      {
        priority: 0,
        subfib: "voice",
        family: 4,
        source: { family: 4, addr: bytes(192, 0, 2, 128), len: 25 },
        inPort: "lan",
        dscp: 46,
        protocol: 17,
        sport: [5060, 5060],
        dport: [5060, 5061],
      },
    ]);
    const b = cfg.fibs[1]!;
    expect(b.subfibs.map((s) => s.name)).toEqual(["main"]);
    expect(b.rules).toEqual([]);
    expect(b.subfibs[0]?.routes[0]?.nexthops.map((n) => [n.port, n.weight])).toEqual([
      ["isp-a", 2],
      ["lan", 1],
    ]);
    // a direct next hop: no via
    expect(b.subfibs[0]?.routes[1]?.nexthops).toHaveLength(1);
    expect(b.subfibs[0]?.routes[1]?.nexthops[0]).toMatchObject({ via: null, port: "lan", weight: 1 });
  });

  it("resolves bindings (an interface binding takes the port's fib) and default_fib", () => {
    const cfg = parseConfigText(FULL_YAML);
    expect(cfg.bindings).toEqual([
      { source: { family: 4, addr: bytes(198, 51, 100, 0), len: 24 }, fib: "isp-b" },
      { source: { family: 4, addr: bytes(192, 0, 2, 0), len: 24 }, fib: "isp-a" },
    ]);
    expect(cfg.defaultFib).toEqual({ 4: "isp-b", 6: "isp-b" });
  });

  it("accepts unquoted MACs and IPv6 addresses in YAML", () => {
    const cfg = parseConfigText(`
ports:
  - name: eth0
    device: dev0
    mac: 02:00:00:00:00:0a
    addresses: [2001:db8::1/64]
fibs:
  - name: main
    routes:
      - prefix: ::/0
        nexthops: [{ via: 2001:db8::fffe, port: eth0 }]
`);
    expect(cfg.ports[0]?.mac).toEqual(bytes(2, 0, 0, 0, 0, 10));
    expect(cfg.ports[0]?.addresses[0]?.text).toBe("2001:db8::1/64");
    expect(cfg.fibs[0]?.subfibs[0]?.routes[0]?.nexthops[0]?.via?.family).toBe(6);
  });
});

describe("receive limit (mru)", () => {
  it("is the MTU by default, 9000 on af_packet ports (the kernel hands them reassembled IPv4)", () => {
    const cfg = parseConfigText(
      "ports:\n  - { name: a, device: dev0, mtu: 1400 }\n  - { name: b, device: 'net_af_packet0,iface=x', mtu: 1400 }\n  - { name: c, device: dev1, mtu: 1400, mru: 2000 }\nfibs: [{ name: main }]\n",
    );
    expect(cfg.ports.map((p) => p.mru)).toEqual([1400, 9000, 2000]);
  });
  it("may not be below the MTU", () => {
    expect(() => parseConfigText("ports: [{ name: a, device: d, mtu: 1500, mru: 1400 }]\nfibs: [{ name: main }]\n")).toThrow(
      /ports\[0\]\.mru: 1400 is below the port's MTU 1500/,
    );
  });
});

describe("defaults", () => {
  it("fills in everything left out", () => {
    const cfg = parseConfigText("ports: [{ name: eth0, device: dev0 }]\nfibs: [{ name: main }]\n");
    expect(cfg).toEqual({
      dataplane: { workers: 1, lcores: null, memoryMb: 512, ealArgs: [], statusFile: null, statusIntervalMs: 1000, idleSleepUs: 0, ipsec: true, crypto: "auto", tunnelMtu: 1400, ikePorts: [500, 4500] },
      api: { socket: "/run/srcfib/api.sock", tcpListen: null, tlsCert: null, tlsKey: null, tlsCa: null, insecure: false, staleTimeS: 120, batchMax: 100000 },
      ports: [{ name: "eth0", device: "dev0", tap: "eth0", mac: null, mtu: 1500, mru: 1500, addresses: [], fib: null }],
      fibs: [{ name: "main", subfibs: [{ name: "main", routes: [] }], rules: [] }],
      bindings: [],
      defaultFib: { 4: null, 6: null },
    });
  });

  it("tap defaults to the port name; tap: false is no TAP; two TAP-less ports do not collide", () => {
    const cfg = accept((d) => {
      d.ports[0].tap = false;
      d.ports[1].tap = false;
      d.ports.push({ name: "eth2", device: "dev2" });
    });
    expect(cfg.ports.map((p) => p.tap)).toEqual([null, null, "eth2"]);
  });

  it("a rule without family or source matches both families; family comes from the source", () => {
    const cfg = accept((d) => {
      d.fibs[0].rules = [{ subfib: "voice" }, { subfib: "voice", source: "2001:db8::/32" }, { subfib: "main", family: 4 }];
    });
    expect(cfg.fibs[0]?.rules).toEqual([
      { priority: 0, subfib: "voice", family: 0, source: null, inPort: null, dscp: null, protocol: null, sport: null, dport: null },
      expect.objectContaining({ subfib: "voice", family: 6, source: { family: 6, addr: expect.any(Uint8Array) as unknown, len: 32 } }),
      expect.objectContaining({ subfib: "main", family: 4, source: null }),
    ]);
  });

  it("default_fib may name one FIB per family", () => {
    expect(accept((d) => (d.default_fib = { ipv4: "a", ipv6: "b" })).defaultFib).toEqual({ 4: "a", 6: "b" });
    expect(accept((d) => (d.default_fib = { ipv6: "b" })).defaultFib).toEqual({ 4: null, 6: "b" });
    expect(accept((d) => (d.default_fib = "a")).defaultFib).toEqual({ 4: "a", 6: "a" });
  });
});

describe("validation: unknown keys and types", () => {
  it("the base document is valid", () => {
    expect(() => checkConfig(base())).not.toThrow();
  });

  it("an unknown top-level key names the key and the allowed ones", () => {
    expectOnly(
      check((d) => (d.routes = [])),
      "routes",
      /^unknown key \(allowed here: dataplane, api, ports, fibs, bindings, default_fib\)$/,
    );
  });

  it("unknown nested keys are named by their full path", () => {
    expectOnly(
      check((d) => (d.ports[0].mtuu = 1500)),
      "ports[0].mtuu",
      /unknown key \(allowed here: name, device, tap, mac, mtu, mru, addresses, fib\)/,
    );
    expectOnly(
      check((d) => (d.fibs[0].routes[0].nexthops[0].wieght = 2)),
      "fibs[0].routes[0].nexthops[0].wieght",
      /unknown key/,
    );
    expectOnly(
      check((d) => (d.fibs[0].subfibs[0].rules = [])),
      "fibs[0].subfibs[0].rules",
      /unknown key \(allowed here: name, routes\)/,
    );
    expectOnly(
      check((d) => (d.dataplane = { cores: 2 })),
      "dataplane.cores",
      /unknown key/,
    );
    expectOnly(
      check((d) => (d.bindings = [{ source: "10.0.0.0/8", fib: "a", port: "eth0" }])),
      "bindings[0].port",
      /unknown key \(allowed here: source, fib, interface\)/,
    );
    expectOnly(
      check((d) => (d.default_fib = { ipv5: "a" })),
      "default_fib.ipv5",
      /unknown key \(allowed here: ipv4, ipv6\)/,
    );
  });

  it("the document itself must be a mapping", () => {
    expectOnly(
      problemsOf(() => checkConfig([1, 2])),
      "",
      /must be a mapping, got a list/,
    );
    expectOnly(
      problemsOf(() => parseConfigText("")),
      "",
      /must be a mapping, got null/,
    );
  });

  it("ports and fibs are required and not empty", () => {
    expect(problemsOf(() => checkConfig({}))).toEqual([problem("ports", /is required/), problem("fibs", /is required/)]);
    expectOnly(
      check((d) => {
        d.ports = [];
        d.fibs = [{ name: "a" }];
      }),
      "ports",
      /at least one port/,
    );
    expectOnly(
      check((d) => {
        d.fibs = [];
        delete d.ports[0].fib;
      }),
      "fibs",
      /at least one FIB/,
    );
  });

  it("wrong types name the key and what was found", () => {
    expectOnly(
      check((d) => {
        d.ports = "eth0";
        d.fibs = [{ name: "a" }];
      }),
      "ports",
      /must be a list, got "eth0"/,
    );
    expectOnly(
      check((d) => (d.ports[1] = "eth1")),
      "ports[1]",
      /must be a mapping, got "eth1"/,
    );
    expectOnly(
      check((d) => (d.ports[0].mtu = "1500")),
      "ports[0].mtu",
      /must be an integer, got "1500"/,
    );
    expectOnly(
      check((d) => (d.ports[1].mtu = 1500.5)),
      "ports[1].mtu",
      /must be an integer, got number 1500.5/,
    );
    expectOnly(
      check((d) => (d.ports[0].addresses = "192.0.2.1/24")),
      "ports[0].addresses",
      /must be a list, got "192.0.2.1\/24"/,
    );
    expectOnly(
      check((d) => (d.ports[1].addresses = [42])),
      "ports[1].addresses[0]",
      /must be an address with a length .*got number 42/,
    );
    expectOnly(
      check((d) => (d.ports[1].tap = true)),
      "ports[1].tap",
      /must be a non-empty string, got boolean true/,
    );
    expectOnly(
      check((d) => (d.ports[1].device = "")),
      "ports[1].device",
      /must be a non-empty string/,
    );
    expectOnly(
      check((d) => (d.fibs[0].routes[0].prefix = 10)),
      "fibs[0].routes[0].prefix",
      /must be a prefix string, got number 10/,
    );
    expectOnly(
      check((d) => (d.fibs[0].routes[0].nexthops[0].via = ["192.0.2.254"])),
      "fibs[0].routes[0].nexthops[0].via",
      /must be an address string, got a list/,
    );
    expectOnly(
      check((d) => (d.fibs[0].routes[0].type = "drop")),
      "fibs[0].routes[0].type",
      /"drop" is not a route type \(forward, blackhole, unreachable, prohibit\)/,
    );
    expectOnly(
      check((d) => (d.fibs[0].rules = "voice")),
      "fibs[0].rules",
      /must be a list/,
    );
    expectOnly(
      check((d) => (d.default_fib = 5)),
      "default_fib",
      /must be a FIB name or a mapping \{ipv4: NAME, ipv6: NAME\}, got number 5/,
    );
  });

  it("names must be valid", () => {
    expectOnly(
      check((d) => (d.ports[1].name = "a-very-long-ifname")),
      "ports[1].name",
      /"a-very-long-ifname" is not an interface name/,
    );
    expectOnly(
      check((d) => (d.ports[1].tap = "tap 1")),
      "ports[1].tap",
      /is not an interface name .*or false for no TAP/,
    );
    expectOnly(
      check((d) => (d.fibs[1].name = "1b")),
      "fibs[1].name",
      /"1b" is not a name/,
    );
    expectOnly(
      check((d) => (d.fibs[0].subfibs[0].name = "_voice")),
      "fibs[0].subfibs[0].name",
      /"_voice" is not a name/,
    );
  });
});

describe("validation: dataplane", () => {
  it("checks ranges and formats", () => {
    expectOnly(
      check((d) => (d.dataplane = { workers: 9 })),
      "dataplane.workers",
      /9 is out of range 1-8/,
    );
    expectOnly(
      check((d) => (d.dataplane = { workers: 0 })),
      "dataplane.workers",
      /0 is out of range 1-8/,
    );
    expectOnly(
      check((d) => (d.dataplane = { memory_mb: 32 })),
      "dataplane.memory_mb",
      /32 is out of range 64-65536/,
    );
    expectOnly(
      check((d) => (d.dataplane = { lcores: "all" })),
      "dataplane.lcores",
      /"all" is not an EAL lcore list/,
    );
    expectOnly(
      check((d) => (d.dataplane = { eal_args: ["--no-pci", 3] })),
      "dataplane.eal_args[1]",
      /must be a non-empty string, got number 3/,
    );
    expectOnly(
      check((d) => (d.dataplane = { status_interval_ms: 10 })),
      "dataplane.status_interval_ms",
      /10 is out of range 50-3600000/,
    );
    expectOnly(
      check((d) => (d.dataplane = { idle_sleep_us: 20000 })),
      "dataplane.idle_sleep_us",
      /20000 is out of range 0-10000/,
    );
    expect(accept((d) => (d.dataplane = { workers: 8, memory_mb: 64 })).dataplane).toMatchObject({ workers: 8, memoryMb: 64, idleSleepUs: 0 });
    expect(accept((d) => (d.dataplane = { idle_sleep_us: 50 })).dataplane.idleSleepUs).toBe(50);
    expectOnly(
      check((d) => (d.dataplane = { ipsec: "yes" })),
      "dataplane.ipsec",
      /must be true or false, got "yes"/,
    );
    expectOnly(
      check((d) => (d.dataplane = { crypto: "crypto_qat" })),
      "dataplane.crypto",
      /"auto", "crypto_aesni_mb" or "crypto_openssl"/,
    );
    expectOnly(
      check((d) => (d.dataplane = { tunnel_mtu: 100 })),
      "dataplane.tunnel_mtu",
      /100 is out of range 576-9000/,
    );
    expect(accept((d) => (d.dataplane = { ipsec: false })).dataplane).toMatchObject({ ipsec: false, crypto: "auto", tunnelMtu: 1400, ikePorts: [500, 4500] });
    expectOnly(check((d) => (d.dataplane = { ike_ports: [500] })), "dataplane.ike_ports", /must be two ports, IKE's and NAT-T's .*got 1/);
    expectOnly(check((d) => (d.dataplane = { ike_ports: [500, 70000] })), "dataplane.ike_ports[1]", /70000 is out of range 1-65535/);
    expectOnly(check((d) => (d.dataplane = { ike_ports: [4500, 4500] })), "dataplane.ike_ports[1]", /must differ from the IKE port 4500/);
    expectOnly(check((d) => (d.dataplane = { ike_ports: "500" })), "dataplane.ike_ports", /list/);
    expect(accept((d) => (d.dataplane = { ike_ports: [1500, 14500] })).dataplane.ikePorts).toEqual([1500, 14500]);
  });
});

describe("validation: ports", () => {
  it("MAC addresses: malformed, multicast, all-zero, wrong type", () => {
    expectOnly(
      check((d) => (d.ports[0].mac = "02:00:00:00:00")),
      "ports[0].mac",
      /"02:00:00:00:00" is not a MAC address \(six hex octets separated by colons\)/,
    );
    expectOnly(
      check((d) => (d.ports[0].mac = "02-00-00-00-00-01")),
      "ports[0].mac",
      /is not a MAC address/,
    );
    expectOnly(
      check((d) => (d.ports[0].mac = "0g:00:00:00:00:01")),
      "ports[0].mac",
      /is not a MAC address/,
    );
    expectOnly(
      check((d) => (d.ports[1].mac = "01:00:5e:00:00:01")),
      "ports[1].mac",
      /01:00:5e:00:00:01 is a multicast MAC address; a port needs a unicast one/,
    );
    expectOnly(
      check((d) => (d.ports[1].mac = "ff:ff:ff:ff:ff:ff")),
      "ports[1].mac",
      /multicast/,
    );
    expectOnly(
      check((d) => (d.ports[0].mac = "00:00:00:00:00:00")),
      "ports[0].mac",
      /00:00:00:00:00:00 is not a usable MAC address/,
    );
    expectOnly(
      check((d) => (d.ports[0].mac = 12)),
      "ports[0].mac",
      /must be a MAC address string, got number 12/,
    );
    // upper case hex and a locally administered unicast address are fine
    expect(accept((d) => (d.ports[0].mac = "0A:BB:CC:DD:EE:FF")).ports[0]?.mac).toEqual(bytes(0x0a, 0xbb, 0xcc, 0xdd, 0xee, 0xff));
  });

  it("MTU range 576-9000, and at least 1280 on a port with IPv6", () => {
    expectOnly(
      check((d) => (d.ports[1].mtu = 575)),
      "ports[1].mtu",
      /575 is out of range 576-9000/,
    );
    expectOnly(
      check((d) => (d.ports[1].mtu = 9001)),
      "ports[1].mtu",
      /9001 is out of range 576-9000/,
    );
    expect(accept((d) => (d.ports[1].mtu = 576)).ports[1]?.mtu).toBe(576);
    expect(accept((d) => (d.ports[1].mtu = 9000)).ports[1]?.mtu).toBe(9000);
    // ports[0] has 2001:db8::1/64
    expectOnly(
      check((d) => (d.ports[0].mtu = 1279)),
      "ports[0].mtu",
      /1279 is below IPv6's minimum of 1280 and the port has IPv6 address 2001:db8::1\/64/,
    );
    expect(accept((d) => (d.ports[0].mtu = 1280)).ports[0]?.mtu).toBe(1280);
    // an IPv4-only port may go lower
    expect(accept((d) => (d.ports[1].mtu = 1000)).ports[1]?.mtu).toBe(1000);
  });

  it("duplicate port names, devices and TAP names", () => {
    expectOnly(
      check((d) => {
        d.ports[1].name = "eth0";
        d.ports[1].tap = "tap1";
      }),
      "ports[1].name",
      /"eth0" is already the name of another port/,
    );
    expectOnly(
      check((d) => (d.ports[1].device = "dev0")),
      "ports[1].device",
      /"dev0" is already used by another port/,
    );
    expectOnly(
      check((d) => {
        d.ports[0].tap = "tap0";
        d.ports[1].tap = "tap0";
      }),
      "ports[1].tap",
      /TAP name "tap0" is already used by another port/,
    );
    // a default TAP name (the port name) collides with an explicit one too
    expectOnly(
      check((d) => (d.ports[0].tap = "eth1")),
      "ports[1].tap",
      /TAP name "eth1" is already used/,
    );
  });

  it("more than 16 ports", () => {
    const ports = (n: number) => Array.from({ length: n }, (_, i) => ({ name: i < 2 ? `eth${i}` : `p${i}`, device: `dev${i}` }));
    expectOnly(
      check((d) => (d.ports = ports(17))),
      "ports",
      /17 ports, at most 16/,
    );
    expect(accept((d) => (d.ports = ports(16))).ports).toHaveLength(16);
  });
});

describe("validation: interface addresses", () => {
  it("the same address on two ports, even with another length", () => {
    expectOnly(
      check((d) => d.ports[1].addresses.push("192.0.2.1/24")),
      "ports[1].addresses[1]",
      /192.0.2.1 is already an address of port eth0/,
    );
    expectOnly(
      check((d) => d.ports[1].addresses.push("192.0.2.1/28")),
      "ports[1].addresses[1]",
      /192.0.2.1 is already an address of port eth0/,
    );
    expectOnly(
      check((d) => d.ports[1].addresses.push("2001:db8:0::1/64")),
      "ports[1].addresses[1]",
      /2001:db8::1 is already an address of port eth0/,
    );
  });

  // Regression: the key of the duplicate is the port's index in the file, not among the ports
  // that passed validation (here ports[0], which has no name, is dropped).
  it("the duplicate is named by its index in the file even after an invalid port", () => {
    const problems = problemsOf(() =>
      checkConfig({
        ports: [
          { device: "dev0", addresses: ["192.0.2.1/24"] },
          { name: "b", device: "dev1", addresses: ["192.0.2.5/24"] },
          { name: "c", device: "dev2", addresses: ["192.0.2.5/24"] },
        ],
        fibs: [{ name: "a" }],
      }),
    );
    expect(problems).toContainEqual(problem("ports[2].addresses[0]", /192.0.2.5 is already an address of port b/));
  });

  it("an address listed twice on one port", () => {
    expectOnly(
      check((d) => d.ports[1].addresses.push("198.51.100.1/24")),
      "ports[1].addresses[1]",
      /198.51.100.1\/24 is listed twice/,
    );
  });

  it("link-local, loopback, multicast and unspecified addresses are refused", () => {
    const cases: [string, RegExp][] = [
      ["fe80::1/64", /"fe80::1\/64" is link-local/],
      ["febf::1/64", /is link-local/],
      ["127.0.0.1/8", /"127.0.0.1\/8" cannot be an interface address/],
      ["::1/128", /cannot be an interface address/],
      ["224.0.0.1/24", /cannot be an interface address/],
      ["239.1.2.3/8", /cannot be an interface address/],
      ["ff02::1/64", /cannot be an interface address/],
      ["0.0.0.1/8", /cannot be an interface address/],
      ["::/64", /cannot be an interface address/],
      ["255.255.255.255/32", /cannot be an interface address/],
    ];
    for (const [text, message] of cases) {
      expectOnly(
        check((d) => d.ports[1].addresses.push(text)),
        "ports[1].addresses[1]",
        message,
      );
    }
    // just outside those ranges
    const ok = accept((d) => d.ports[1].addresses.push("fec0::1/64", "126.0.0.1/8", "223.255.255.1/24"));
    expect(ok.ports[1]?.addresses).toHaveLength(4);
  });

  it("an interface address needs a length, in range", () => {
    expectOnly(
      check((d) => (d.ports[1].addresses = ["198.51.100.1"])),
      "ports[1].addresses[0]",
      /"198.51.100.1" needs a prefix length \("198.51.100.1\/24" or "198.51.100.1\/64"\)/,
    );
    expectOnly(
      check((d) => (d.ports[1].addresses = ["198.51.100.1/33"])),
      "ports[1].addresses[0]",
      /prefix length must be 0-32/,
    );
    expectOnly(
      check((d) => (d.ports[0].addresses = ["2001:db8::1/129"])),
      "ports[0].addresses[0]",
      /prefix length must be 0-128/,
    );
    expectOnly(
      check((d) => (d.ports[1].addresses = ["198.51.100.1/"])),
      "ports[1].addresses[0]",
      /prefix length must be 0-32/,
    );
    expectOnly(
      check((d) => (d.ports[1].addresses = ["198.51.100.300/24"])),
      "ports[1].addresses[0]",
      /octet 300 out of range/,
    );
  });
});

describe("parseInterfaceAddress", () => {
  it("keeps the host bits and derives the subnet", () => {
    expect(parseInterfaceAddress("192.0.2.77/26")).toEqual({
      family: 4,
      addr: bytes(192, 0, 2, 77),
      len: 26,
      subnet: { family: 4, addr: bytes(192, 0, 2, 64), len: 26 },
      text: "192.0.2.77/26",
    });
    const v6 = parseInterfaceAddress("2001:DB8:0:0:ab:0:0:1/56");
    expect(v6.family).toBe(6);
    expect(v6.len).toBe(56);
    expect(v6.text).toBe("2001:db8::ab:0:0:1/56");
    expect(v6.addr).toEqual(bytes(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0xab, 0, 0, 0, 0, 0, 1));
    expect(v6.subnet).toEqual({ family: 6, addr: bytes(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), len: 56 });
  });

  it("a mask that is not byte aligned", () => {
    expect(parseInterfaceAddress("10.255.255.255/9").subnet).toEqual({ family: 4, addr: bytes(10, 128, 0, 0), len: 9 });
    expect(parseInterfaceAddress("10.1.2.3/0").subnet).toEqual({ family: 4, addr: bytes(0, 0, 0, 0), len: 0 });
    expect(parseInterfaceAddress("10.1.2.3/32").subnet).toEqual({ family: 4, addr: bytes(10, 1, 2, 3), len: 32 });
  });

  it("does not alias the address and the subnet", () => {
    const a = parseInterfaceAddress("192.0.2.1/24");
    a.subnet.addr[3] = 9;
    expect(a.addr).toEqual(bytes(192, 0, 2, 1));
  });

  it("malformed text is a TypeError, an unusable value a RangeError", () => {
    expect(() => parseInterfaceAddress("192.0.2.1")).toThrow(TypeError);
    expect(() => parseInterfaceAddress("192.0.2/24")).toThrow(TypeError);
    expect(() => parseInterfaceAddress(7 as unknown as string)).toThrow(/must be an address with a length/);
    expect(() => parseInterfaceAddress("192.0.2.1/40")).toThrow(RangeError);
    expect(() => parseInterfaceAddress("127.0.0.1/8")).toThrow(RangeError);
    expect(() => parseInterfaceAddress("fe80::1/64")).toThrow(/link-local: the kernel gives the TAP its own link-local address/);
  });
});

describe("validation: routes and next hops", () => {
  const R = (d: Doc) => d.fibs[0].routes;

  it("a prefix with host bits set", () => {
    expectOnly(
      check((d) => (R(d)[0].prefix = "10.0.0.1/8")),
      "fibs[0].routes[0].prefix",
      /host bits set in "10.0.0.1\/8".*did you mean 10.0.0.0\/8\?/,
    );
  });

  it("a malformed prefix", () => {
    expectOnly(
      check((d) => (R(d)[0].prefix = "10.0.0.0")),
      "fibs[0].routes[0].prefix",
      /missing "\/length"/,
    );
  });

  it("duplicate prefixes in one sub-FIB (the same prefix in another sub-FIB is fine)", () => {
    expectOnly(
      check((d) => R(d).push({ prefix: "0.0.0.0/0", type: "blackhole" })),
      "fibs[0].routes[1].prefix",
      /0.0.0.0\/0 is already the prefix of fibs\[0\].routes\[0\]/,
    );
    expectOnly(
      check((d) => (d.fibs[0].subfibs[0].routes = [{ prefix: "2001:db8::/32", type: "prohibit" }, { prefix: "2001:0db8::/32", type: "unreachable" }])),
      "fibs[0].subfibs[0].routes[1].prefix",
      /2001:db8::\/32 is already the prefix of fibs\[0\].subfibs\[0\].routes\[0\]/,
    );
    const cfg = accept((d) => {
      d.fibs[0].subfibs[0].routes = [{ prefix: "0.0.0.0/0", type: "blackhole" }];
      d.fibs[1].routes = [{ prefix: "0.0.0.0/0", type: "unreachable" }];
    });
    expect(cfg.fibs[0]?.subfibs[1]?.routes[0]?.kind).toBe("blackhole");
    expect(cfg.fibs[1]?.subfibs[0]?.routes[0]?.kind).toBe("unreachable");
  });

  it("a next hop on an unknown port lists the ports", () => {
    expectOnly(
      check((d) => (R(d)[0].nexthops[0].port = "eth9")),
      "fibs[0].routes[0].nexthops[0].port",
      /no port named "eth9" \(ports: eth0, eth1\)/,
    );
    expectOnly(
      check((d) => delete R(d)[0].nexthops[0].port),
      "fibs[0].routes[0].nexthops[0].port",
      /must be a non-empty string/,
    );
  });

  it("a via of the wrong family", () => {
    expectOnly(
      check((d) => (R(d)[0].nexthops[0].via = "2001:db8::fffe")),
      "fibs[0].routes[0].nexthops[0].via",
      /"2001:db8::fffe" is IPv6, table is IPv4/,
    );
    expectOnly(
      check((d) => R(d).push({ prefix: "::/0", nexthops: [{ via: "192.0.2.254", port: "eth0" }] })),
      "fibs[0].routes[1].nexthops[0].via",
      /is IPv4, table is IPv6/,
    );
    expectOnly(
      check((d) => (R(d)[0].nexthops[0].via = "192.0.2.254/32")),
      "fibs[0].routes[0].nexthops[0].via",
      /an address has no length/,
    );
  });

  it("weights 1-65535", () => {
    expectOnly(
      check((d) => (R(d)[0].nexthops[0].weight = 0)),
      "fibs[0].routes[0].nexthops[0].weight",
      /0 is out of range 1-65535/,
    );
    expectOnly(
      check((d) => (R(d)[0].nexthops[0].weight = 65536)),
      "fibs[0].routes[0].nexthops[0].weight",
      /65536 is out of range 1-65535/,
    );
    expectOnly(
      check((d) => (R(d)[0].nexthops[0].weight = "2")),
      "fibs[0].routes[0].nexthops[0].weight",
      /must be an integer/,
    );
    expect(accept((d) => (R(d)[0].nexthops[0].weight = 65535)).fibs[0]?.subfibs[0]?.routes[0]?.nexthops[0]?.weight).toBe(65535);
  });

  it("blackhole, unreachable and prohibit routes have no next hops", () => {
    for (const type of ["blackhole", "unreachable", "prohibit"]) {
      expectOnly(
        check((d) => (R(d)[0].type = type)),
        "fibs[0].routes[0].nexthops",
        new RegExp(`a ${type} route has no next hops`),
      );
    }
    expectOnly(
      check((d) => R(d).push({ prefix: "10.0.0.0/8", type: "blackhole", nexthops: [] })),
      "fibs[0].routes[1].nexthops",
      /a blackhole route has no next hops/,
    );
    // type: forward is the default, spelled out
    expect(accept((d) => (R(d)[0].type = "forward")).fibs[0]?.subfibs[0]?.routes[0]?.kind).toBe("forward");
  });

  it("a forward route needs next hops", () => {
    expectOnly(
      check((d) => delete R(d)[0].nexthops),
      "fibs[0].routes[0].nexthops",
      /is required/,
    );
    expectOnly(
      check((d) => (R(d)[0].nexthops = [])),
      "fibs[0].routes[0].nexthops",
      /a forward route needs at least one next hop/,
    );
  });

  it("a direct next hop (no via) must be the only one", () => {
    expectOnly(
      check((d) => R(d)[0].nexthops.push({ port: "eth1" })),
      "fibs[0].routes[0].nexthops",
      /a direct next hop \(no via: the destination is on the link\) must be the route's only next hop/,
    );
    expectOnly(
      check((d) => R(d)[0].nexthops.unshift({ port: "eth1", via: null })),
      "fibs[0].routes[0].nexthops",
      /must be the route's only next hop/,
    );
    const cfg = accept((d) => (R(d)[0].nexthops = [{ port: "eth1", via: null }]));
    expect(cfg.fibs[0]?.subfibs[0]?.routes[0]?.nexthops[0]).toMatchObject({ via: null, port: "eth1" });
  });

  it("the same next hop twice", () => {
    expectOnly(
      check((d) => R(d)[0].nexthops.push({ via: "192.0.2.254", port: "eth0", weight: 5 })),
      "fibs[0].routes[0].nexthops[1]",
      /the same next hop as an earlier one \(192.0.2.254 on eth0\)/,
    );
    // the same gateway address on another port is another next hop
    expect(accept((d) => R(d)[0].nexthops.push({ via: "192.0.2.254", port: "eth1" })).fibs[0]?.subfibs[0]?.routes[0]?.nexthops).toHaveLength(2);
  });

  it("at most 64 next hops", () => {
    const nh = (n: number) => Array.from({ length: n }, (_, i) => ({ via: `192.0.2.${i + 2}`, port: "eth0" }));
    expectOnly(
      check((d) => (R(d)[0].nexthops = nh(65))),
      "fibs[0].routes[0].nexthops",
      /65 next hops, at most 64/,
    );
    expect(accept((d) => (R(d)[0].nexthops = nh(64))).fibs[0]?.subfibs[0]?.routes[0]?.nexthops).toHaveLength(64);
  });
});

describe("validation: FIBs and sub-FIBs", () => {
  it("a sub-FIB named main", () => {
    expectOnly(
      check((d) => d.fibs[0].subfibs.push({ name: "main" })),
      "fibs[0].subfibs[1].name",
      /"main" is the FIB's own routes \(N.0\)/,
    );
  });

  it("duplicate sub-FIB names in one FIB (the same name in two FIBs is fine)", () => {
    expectOnly(
      check((d) => d.fibs[0].subfibs.push({ name: "voice" })),
      "fibs[0].subfibs[1].name",
      /"voice" is already a sub-FIB of this FIB/,
    );
    expect(accept((d) => (d.fibs[1].subfibs = [{ name: "voice" }])).fibs[1]?.subfibs.map((s) => s.name)).toEqual(["main", "voice"]);
  });

  it("duplicate FIB names", () => {
    expectOnly(
      check((d) => (d.fibs[1].name = "a")),
      "fibs[1].name",
      /"a" is already the name of another FIB/,
    );
  });

  it("a port's fib must exist", () => {
    expectOnly(
      check((d) => (d.ports[1].fib = "nope")),
      "ports[1].fib",
      /no FIB named "nope"/,
    );
  });
});

describe("validation: rules", () => {
  const rule = (r: Doc) => (d: Doc) => (d.fibs[0].rules = [r]);

  it("a rule naming an unknown sub-FIB lists the FIB's sub-FIBs", () => {
    expectOnly(
      check(rule({ subfib: "video" })),
      "fibs[0].rules[0].subfib",
      /no sub-FIB named "video" in this FIB \(sub-FIBs: main, voice\)/,
    );
    // a sub-FIB of another FIB is not this FIB's
    expectOnly(
      check((d) => (d.fibs[1].rules = [{ subfib: "voice" }])),
      "fibs[1].rules[0].subfib",
      /no sub-FIB named "voice" in this FIB \(sub-FIBs: main\)/,
    );
    expectOnly(
      check(rule({ source: "10.0.0.0/8" })),
      "fibs[0].rules[0].subfib",
      /must be a non-empty string/,
    );
  });

  it("family 4 or 6, agreeing with the source", () => {
    expectOnly(
      check(rule({ subfib: "voice", family: 6, source: "192.0.2.0/24" })),
      "fibs[0].rules[0].source",
      /is IPv4 but the rule's family is 6/,
    );
    expectOnly(
      check(rule({ subfib: "voice", family: 5 })),
      "fibs[0].rules[0].family",
      /must be 4 or 6, got number 5/,
    );
    expectOnly(
      check(rule({ subfib: "voice", family: "4" })),
      "fibs[0].rules[0].family",
      /must be 4 or 6, got "4"/,
    );
    expectOnly(
      check(rule({ subfib: "voice", source: "192.0.2.1/24" })),
      "fibs[0].rules[0].source",
      /host bits set/,
    );
  });

  it("port ranges need a ported protocol", () => {
    expectOnly(
      check(rule({ subfib: "voice", protocol: "icmp", dport: "1-10" })),
      "fibs[0].rules[0]",
      /port ranges need protocol tcp, udp or sctp \(or none\), not 1/,
    );
    expectOnly(
      check(rule({ subfib: "voice", protocol: 47, sport: 5 })),
      "fibs[0].rules[0]",
      /port ranges need protocol tcp, udp or sctp/,
    );
    // no protocol, or sctp, is fine
    const cfg = accept((d) => (d.fibs[0].rules = [{ subfib: "voice", dport: 53 }, { subfib: "voice", protocol: "sctp", sport: "1-2" }]));
    expect(cfg.fibs[0]?.rules.map((r) => [r.protocol, r.sport, r.dport])).toEqual([
      [null, null, [53, 53]],
      [132, [1, 2], null],
    ]);
  });

  it("port ranges: numbers, \"n\" and \"low-high\", checked", () => {
    expectOnly(
      check(rule({ subfib: "voice", dport: "20-10" })),
      "fibs[0].rules[0].dport",
      /"20-10": the range is empty \(low above high\)/,
    );
    expectOnly(
      check(rule({ subfib: "voice", sport: "1-70000" })),
      "fibs[0].rules[0].sport",
      /"1-70000": ports are 0-65535/,
    );
    expectOnly(
      check(rule({ subfib: "voice", sport: 65536 })),
      "fibs[0].rules[0].sport",
      /65536 is out of range 0-65535/,
    );
    expectOnly(
      check(rule({ subfib: "voice", dport: "http" })),
      "fibs[0].rules[0].dport",
      /"http" is not a port or a range "low-high"/,
    );
    expectOnly(
      check(rule({ subfib: "voice", dport: [1, 2] })),
      "fibs[0].rules[0].dport",
      /must be a port number or a range "low-high", got a list/,
    );
    const cfg = accept((d) => (d.fibs[0].rules = [{ subfib: "voice", protocol: "tcp", sport: "443", dport: "1000-2000" }, { subfib: "voice", dport: "0-65535", sport: 0 }]));
    expect(cfg.fibs[0]?.rules.map((r) => [r.sport, r.dport])).toEqual([
      [
        [443, 443],
        [1000, 2000],
      ],
      [
        [0, 0],
        [0, 65535],
      ],
    ]);
  });

  it("protocol names and numbers", () => {
    const cfg = accept(
      (d) =>
        (d.fibs[0].rules = [
          { subfib: "voice", protocol: "tcp" },
          { subfib: "voice", protocol: "udp" },
          { subfib: "voice", protocol: "UDP" },
          { subfib: "voice", protocol: "icmpv6" },
          { subfib: "voice", protocol: 0 },
          { subfib: "voice", protocol: 255 },
        ]),
    );
    expect(cfg.fibs[0]?.rules.map((r) => r.protocol)).toEqual([6, 17, 17, 58, 0, 255]);
    expectOnly(
      check(rule({ subfib: "voice", protocol: "quic" })),
      "fibs[0].rules[0].protocol",
      /unknown protocol "quic" \(a number 0-255 or one of icmp, tcp, udp/,
    );
    expectOnly(
      check(rule({ subfib: "voice", protocol: 256 })),
      "fibs[0].rules[0].protocol",
      /256 is out of range 0-255/,
    );
  });

  it("dscp 0-63", () => {
    expectOnly(
      check(rule({ subfib: "voice", dscp: 64 })),
      "fibs[0].rules[0].dscp",
      /64 is out of range 0-63/,
    );
    expect(accept(rule({ subfib: "voice", dscp: 63 })).fibs[0]?.rules[0]?.dscp).toBe(63);
  });

  it("in_port must be a port", () => {
    expectOnly(
      check(rule({ subfib: "voice", in_port: "eth7" })),
      "fibs[0].rules[0].in_port",
      /no port named "eth7"/,
    );
  });

  it("unknown rule keys", () => {
    expectOnly(
      check(rule({ subfib: "voice", dst: "10.0.0.0/8" })),
      "fibs[0].rules[0].dst",
      /unknown key \(allowed here: priority, subfib, family, source, in_port, dscp, protocol, sport, dport\)/,
    );
  });

  it("at most 64 rules per FIB", () => {
    expectOnly(
      check((d) => (d.fibs[0].rules = Array.from({ length: 65 }, () => ({ subfib: "voice" })))),
      "fibs[0].rules",
      /65 rules, at most 64 per FIB/,
    );
    expect(accept((d) => (d.fibs[0].rules = Array.from({ length: 64 }, () => ({ subfib: "voice" })))).fibs[0]?.rules).toHaveLength(64);
  });
});

describe("validation: bindings and default_fib", () => {
  const binding = (b: Doc) => (d: Doc) => (d.bindings = [b]);

  it("exactly one of fib and interface", () => {
    expectOnly(
      check(binding({ source: "10.0.0.0/8", fib: "a", interface: "eth0" })),
      "bindings[0]",
      /needs exactly one of fib \(a FIB name\) or interface \(a port whose fib is used\)/,
    );
    expectOnly(
      check(binding({ source: "10.0.0.0/8" })),
      "bindings[0]",
      /needs exactly one of fib/,
    );
  });

  it("an interface binding needs a port with a fib", () => {
    expectOnly(
      check(binding({ source: "10.0.0.0/8", interface: "eth1" })),
      "bindings[0].interface",
      /port "eth1" has no fib to bind to/,
    );
    expectOnly(
      check(binding({ source: "10.0.0.0/8", interface: "eth5" })),
      "bindings[0].interface",
      /no port named "eth5"/,
    );
    expect(accept(binding({ source: "10.0.0.0/8", interface: "eth0" })).bindings).toEqual([{ source: { family: 4, addr: bytes(10, 0, 0, 0), len: 8 }, fib: "a" }]);
  });

  it("an unknown fib, a bad source, a source bound twice", () => {
    expectOnly(
      check(binding({ source: "10.0.0.0/8", fib: "c" })),
      "bindings[0].fib",
      /no FIB named "c"/,
    );
    expectOnly(
      check(binding({ source: "10.0.0.1/8", fib: "a" })),
      "bindings[0].source",
      /host bits set/,
    );
    expectOnly(
      check(binding({ fib: "a" })),
      "bindings[0].source",
      /must be a prefix string, got nothing/,
    );
    expectOnly(
      check(
        (d) =>
          (d.bindings = [
            { source: "10.0.0.0/8", fib: "a" },
            { source: "10.0.0.0/8", fib: "b" },
          ]),
      ),
      "bindings[1].source",
      /10.0.0.0\/8 is already bound by bindings\[0\]/,
    );
  });

  it("default_fib must name a FIB", () => {
    expectOnly(
      check((d) => (d.default_fib = "c")),
      "default_fib",
      /no FIB named "c"/,
    );
    expectOnly(
      check((d) => (d.default_fib = { ipv4: "a", ipv6: "c" })),
      "default_fib.ipv6",
      /no FIB named "c"/,
    );
    expectOnly(
      check((d) => (d.default_fib = { ipv4: 4 })),
      "default_fib.ipv4",
      /must be a non-empty string/,
    );
  });
});

describe("every problem is reported", () => {
  it("collects errors from every section, in document order", () => {
    const problems = check((d) => {
      d.dataplane = { workers: 0 };
      d.ports[0].mac = "01:00:00:00:00:01";
      d.ports[1].mtuu = 1;
      d.fibs[0].routes[0].nexthops[0].weight = 0;
      d.fibs[0].routes.push({ prefix: "10.0.0.1/8", type: "blackhole" });
      d.fibs[0].rules = [{ subfib: "video", dscp: 99 }];
      d.bindings = [{ source: "10.0.0.0/8" }];
      d.default_fib = "zzz";
    });
    expect(problems).toEqual([
      problem("dataplane.workers", /out of range/),
      problem("ports[0].mac", /multicast/),
      problem("ports[1].mtuu", /unknown key/),
      problem("fibs[0].routes[0].nexthops[0].weight", /out of range/),
      problem("fibs[0].routes[1].prefix", /host bits/),
      problem("fibs[0].rules[0].subfib", /no sub-FIB named "video"/),
      problem("fibs[0].rules[0].dscp", /out of range/),
      problem("bindings[0]", /exactly one of/),
      problem("default_fib", /no FIB named "zzz"/),
    ]);
  });

  it("ConfigError's message names the source, the count and every key", () => {
    const text = JSON.stringify({ ports: [{ name: "eth0", device: "d", mtu: 1 }], fibs: [{ name: "a", colour: "red" }], extra: 1 });
    let err: unknown;
    try {
      parseConfigText(text, "/etc/srcfib.yaml");
    } catch (e: unknown) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const ce = err as ConfigError;
    expect(ce.name).toBe("ConfigError");
    expect(ce.problems.map((p) => p.key)).toEqual(["extra", "ports[0].mtu", "fibs[0].colour"]);
    expect(ce.message).toMatch(/^\/etc\/srcfib.yaml: 3 errors\n/);
    expect(ce.message).toContain("\n  extra: unknown key");
    expect(ce.message).toContain("\n  ports[0].mtu: 1 is out of range 576-9000");
    expect(ce.message).toContain("\n  fibs[0].colour: unknown key");
  });

  it("one error is singular, a document error is shown as (document)", () => {
    expect(() => parseConfigText("[]", "x.yaml")).toThrow(/^x.yaml: 1 error\n {2}\(document\): must be a mapping, got a list$/);
  });

  it("an error in one port does not hide errors in the next", () => {
    const problems = check((d) => {
      d.ports[0].mtu = 10;
      d.ports[1].mtu = 20;
      d.ports[1].mac = "x";
    });
    expect(problems.map((p) => p.key)).toEqual(["ports[0].mtu", "ports[1].mac", "ports[1].mtu"]);
  });
});

describe("YAML text", () => {
  it("a syntax error is a document error", () => {
    const problems = problemsOf(() => parseConfigText("ports:\n  - name: a\n    device: [x\nfibs:\n  - name: main\n"));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toEqual(problem("", /Flow sequence in block collection must be sufficiently indented/));
  });

  // Regression: syntax errors carry the line (yaml fills in linePos only with prettyErrors).
  it("a syntax error names its line", () => {
    const problems = problemsOf(() => parseConfigText("ports:\n  - name: a\n    device: [x\nfibs:\n  - name: main\n"));
    expect(problems[0]).toEqual(problem("", /^line 4: /));
  });

  it("duplicate keys are an error", () => {
    const problems = problemsOf(() => parseConfigText("ports:\n  - name: a\n    device: x\n    device: y\nfibs:\n  - name: main\n"));
    expect(problems).toEqual([problem("", /Map keys must be unique/)]);
  });

  it("duplicate keys in JSON are an error too", () => {
    const problems = problemsOf(() => parseConfigText('{"ports": [{"name": "a", "device": "x"}], "fibs": [{"name": "a"}], "fibs": []}'));
    expect(problems).toEqual([problem("", /Map keys must be unique/)]);
  });

  it("anchors and aliases are resolved", () => {
    const cfg = parseConfigText(`
ports:
  - name: eth0
    device: dev0
    addresses: [192.0.2.1/24]
fibs:
  - name: a
    routes:
      - prefix: 0.0.0.0/0
        nexthops: &gw [{ via: 192.0.2.254, port: eth0 }]
  - name: b
    routes:
      - prefix: 0.0.0.0/0
        nexthops: *gw
`);
    expect(cfg.fibs[1]?.subfibs[0]?.routes[0]?.nexthops[0]).toMatchObject({ port: "eth0", via: { family: 4, addr: bytes(192, 0, 2, 254) } });
  });
});

describe("loadConfigFile", () => {
  it("a missing file is a ConfigError that says it cannot read the file", () => {
    const file = join(tmpdir(), `srcfib-missing-${process.pid}-${Date.now()}.yaml`);
    const problems = problemsOf(() => loadConfigFile(file));
    expect(problems).toEqual([problem("", /^cannot read the file: .*ENOENT/)]);
    expect(() => loadConfigFile(file)).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: 1 error`));
  });

  it("reads and checks a file, naming the file in errors", () => {
    const dir = mkdtempSync(join(tmpdir(), "srcfib-config-"));
    try {
      const good = join(dir, "good.yaml");
      writeFileSync(good, FULL_YAML);
      expect(loadConfigFile(good)).toEqual(parseConfigText(FULL_YAML));
      const bad = join(dir, "bad.json");
      writeFileSync(bad, JSON.stringify({ ports: [{ name: "eth0", device: "d" }], fibs: [{ name: "a" }], default_fib: "b" }));
      expect(() => loadConfigFile(bad)).toThrow(`${bad}: 1 error\n  default_fib: no FIB named "b"`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
