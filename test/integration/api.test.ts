/**
 * The gRPC API against a real daemon (`srcfib run`, DPDK net_null ports, one worker): Python's
 * grpcio as an independent client, the catalogue of bad requests with the whole state compared
 * before and after, route ownership and administrative distance, mark-and-sweep resync, the
 * stale timer, primary/backup controllers, events, Explain, the CLI and TLS with client
 * certificates.
 *
 * Needs root (DPDK); without it the test fails and says so.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { ApiClient, Session, type Msg } from "../../src/api/client.js";
import { PROTO_DIR, PROTO_FILES } from "../../src/api/server.js";
import { apiState, codeOf } from "../support/api.js";
import { nullPortsConfig, TestDaemon } from "../support/daemon.js";

const isRoot = process.getuid?.() === 0;
const root = join(import.meta.dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "srcfib-api-"));
const sock = join(dir, "api.sock");
const daemon = new TestDaemon(dir);
let api: ApiClient;

function config(extra = ""): string {
  return nullPortsConfig(sock, `, batch_max: 5000, stale_time_s: 30${extra}`);
}

beforeAll(async () => {
  if (!isRoot) throw new Error("the integration tests run DPDK: run them as root (CI does)");
  await daemon.start(config());
  api = new ApiClient(sock, { client: "t" });
}, 90000);

afterAll(async () => {
  api?.close();
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
});

const nh = (via: string, port = "p1", weight = 1): Msg => ({ via, port, weight, mac: "" });
const route = (prefix: string, extra: Msg = {}): Msg => ({ fib: "main", prefix, nexthops: [nh("203.0.113.7")], ...extra });
const add = (r: Msg): Msg => ({ op: "OP_ADD", route: r });

/** Everything the API can read, without counters. */
const state = (c: ApiClient = api): Promise<unknown> => apiState(c);

describe("API basics", () => {
  it("serves on a Unix socket with mode 0600", () => {
    const st = statSync(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it("a Python grpcio client (stubs compiled by grpc_tools) adds routes and reads them back", () => {
    const out = join(dir, "py");
    execFileSync("mkdir", ["-p", out]);
    const gen = spawnSync("/usr/bin/python3", ["-m", "grpc_tools.protoc", `-I${PROTO_DIR}`, `--python_out=${out}`, `--grpc_python_out=${out}`, ...PROTO_FILES], { encoding: "utf8" });
    expect(gen.status, gen.stderr).toBe(0);
    const py = `
import sys, json, grpc
sys.path.insert(0, ${JSON.stringify(out)})
from srcfib.v1 import routes_pb2 as r, routes_pb2_grpc as rg, common_pb2 as c
ch = grpc.insecure_channel("unix:${sock}")
stub = rg.RoutesStub(ch)
md = (("srcfib-client", "python"),)
ops = [r.RouteOp(op=r.RouteOp.OP_ADD, route=r.Route(fib="main", prefix="100.%d.0.0/16" % i,
       nexthops=[c.Nexthop(via="203.0.113.9", port="p1", weight=2)])) for i in range(50)]
ops.append(r.RouteOp(op=r.RouteOp.OP_ADD, route=r.Route(fib="main", prefix="2001:db8:77::/48",
       type=r.ROUTE_TYPE_BLACKHOLE)))
rep = stub.Modify(r.RouteBatch(ops=ops), metadata=md)
got = [(x.prefix, x.type, [(n.via, n.port, n.weight) for n in x.nexthops], x.owner, x.best)
       for x in stub.List(r.RouteListRequest(fib="main", owner="python"))]
try:
    stub.Modify(r.RouteBatch(ops=[ops[0]]), metadata=md)
    err = None
except grpc.RpcError as e:
    err = [e.code().name, e.details()]
print(json.dumps({"applied": rep.applied, "routes": got, "err": err}))
`;
    const res = spawnSync("/usr/bin/python3", ["-c", py], { encoding: "utf8", timeout: 60000 });
    expect(res.status, res.stderr).toBe(0);
    const j = JSON.parse(res.stdout) as { applied: number; routes: [string, number, [string, string, number][], string, boolean][]; err: [string, string] };
    expect(j.applied).toBe(51);
    const expected = [...Array.from({ length: 50 }, (_, i) => [`100.${i}.0.0/16`, 1, [["203.0.113.9", "p1", 2]], "python", true]), ["2001:db8:77::/48", 2, [], "python", true]];
    const sortKey = (x: unknown[]): string => String(x[0]);
    expect([...j.routes].sort((a, b) => sortKey(a).localeCompare(sortKey(b)))).toEqual(expected.sort((a, b) => sortKey(a).localeCompare(sortKey(b))));
    expect(j.err[0]).toBe("ALREADY_EXISTS");
    expect(j.err[1]).toContain("ops[0].route.prefix");
  });

  it("server reflection lists the srcfib.v1 services", async () => {
    const protoLoader = await import("@grpc/proto-loader");
    const refDir = join(root, "node_modules", "@grpc", "reflection", "build", "proto");
    const def = protoLoader.loadSync("grpc/reflection/v1alpha/reflection.proto", { includeDirs: [refDir], keepCase: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1alpha: { ServerReflection: grpc.ServiceClientConstructor } } } };
    const c = new pkg.grpc.reflection.v1alpha.ServerReflection(`unix:${sock}`, grpc.credentials.createInsecure());
    const call = (c as unknown as { ServerReflectionInfo: () => grpc.ClientDuplexStream<Msg, Msg> }).ServerReflectionInfo();
    const names = await new Promise<string[]>((resolve, reject) => {
      call.on("data", (m: Msg) => {
        resolve(((m.list_services_response as Msg).service as Msg[]).map((s) => String(s.name)));
        call.end();
      });
      call.on("error", reject);
      call.write({ list_services: "*" });
    });
    c.close();
    for (const s of ["Routes", "NexthopGroups", "Interfaces", "Fibs", "Bindings", "CountersService", "Events", "Explain", "Sessions"]) expect(names).toContain(`srcfib.v1.${s}`);
  });

  it("Explain follows binding, rule, sub-FIB, prefix, group and adjacency", async () => {
    await api.call("Routes", "Modify", { ops: [add(route("192.0.2.0/24", { nexthops: [nh("203.0.113.254")] })), add(route("192.0.2.0/24", { subfib: "voice", type: "ROUTE_TYPE_PROHIBIT", nexthops: [] }))] });
    const fwd = await api.call("Explain", "Explain", { src: "198.51.100.9", dst: "192.0.2.1", protocol: "tcp", sport: 1000, dport: 80 });
    expect(fwd).toMatchObject({ binding: "198.51.100.0/24", fib: "main", subfib: "main.main", rule: "", prefix: "192.0.2.0/24", route_owner: "t", action: "forward", adjacency: "p1 via 203.0.113.254", out_port: "p1", mac: "02:00:00:00:00:fe", drop_reason: "" });
    const sip = await api.call("Explain", "Explain", { src: "198.51.100.9", dst: "192.0.2.1", protocol: "udp", sport: 1000, dport: 5060 });
    expect(sip).toMatchObject({ subfib: "main.voice", rule: "main#10", prefix: "192.0.2.0/24", action: "prohibit", drop_reason: "prohibit" });
    const unres = await api.call("Explain", "Explain", { src: "198.51.100.9", dst: "100.3.0.1" });
    expect(unres).toMatchObject({ prefix: "100.3.0.0/16", route_owner: "python", action: "drop", drop_reason: "adj_unresolved" });
    const local = await api.call("Explain", "Explain", { src: "203.0.113.50", dst: "198.51.100.1" });
    expect(local).toMatchObject({ binding: "default", prefix: "198.51.100.1/32", route_owner: "connected", action: "local" });
    const v6 = await api.call("Explain", "Explain", { src: "2001:db8:1::9", dst: "2001:db8:99::1" });
    expect(v6).toMatchObject({ fib: "main", action: "drop", drop_reason: "no_route", prefix: "" });
    await api.call("Routes", "Modify", { ops: [{ op: "OP_DELETE", route: route("192.0.2.0/24") }, { op: "OP_DELETE", route: route("192.0.2.0/24", { subfib: "voice" }) }] });
  });
});

describe("bad input", () => {
  it("a catalogue of bad requests: each gets its status and a message naming the field; the state is unchanged", async () => {
    // state to break things against
    await api.call("Fibs", "Create", { name: "b" });
    await api.call("NexthopGroups", "Set", { name: "g4", nexthops: [nh("203.0.113.20"), nh("203.0.113.21", "p1", 3)] });
    await api.call("Routes", "Modify", { ops: [add(route("10.0.0.0/8")), add(route("10.1.0.0/16", { nexthops: [], nexthop_group: "g4" })), add({ fib: "b", prefix: "172.16.0.0/12", nexthops: [nh("203.0.113.7")] })] });
    const backupApi = new ApiClient(sock, { client: "ha", instance: "two" });
    const pri = new Session(api, { client: "ha", instance: "one", role: "ROLE_PRIMARY" });
    await pri.welcome;
    const bak = new Session(api, { client: "ha", instance: "two" });
    expect((await bak.welcome).role).toBe("backup");
    const anon = new ApiClient(sock, {});
    const cfgClient = new ApiClient(sock, { client: "config" });

    const before = await state();
    const big = { ops: [{ op: "OP_ADD", route: { fib: "main", nexthops: [nh("203.0.113.7")] }, prefixes: Array.from({ length: 5001 }, (_, i) => `11.${i >> 8}.${i & 255}.0/24`) }] };
    const R = (ops: Msg[]): Promise<unknown> => api.call("Routes", "Modify", { ops });
    const cases: [string, string, string, () => Promise<unknown>][] = [
      ["malformed prefix", "INVALID_ARGUMENT", "ops[0].route.prefix", () => R([add(route("10.0.0/8x"))])],
      ["host bits set", "INVALID_ARGUMENT", "ops[0].route.prefix", () => R([add(route("10.0.0.1/8"))])],
      ["prefix length 33", "INVALID_ARGUMENT", "ops[0].route.prefix", () => R([add(route("10.0.0.0/33"))])],
      ["empty prefix", "INVALID_ARGUMENT", "ops[0].route.prefix", () => R([add(route(""))])],
      ["unknown FIB", "NOT_FOUND", "ops[0].route.fib", () => R([add(route("10.9.0.0/16", { fib: "nope" }))])],
      ["unknown sub-FIB", "NOT_FOUND", "ops[0].route.subfib", () => R([add(route("10.9.0.0/16", { subfib: "nope" }))])],
      ["no FIB", "INVALID_ARGUMENT", "ops[0].route.fib", () => R([add(route("10.9.0.0/16", { fib: "" }))])],
      ["dangling nexthop group", "NOT_FOUND", "ops[0].route.nexthop_group", () => R([add(route("10.9.0.0/16", { nexthops: [], nexthop_group: "nope" }))])],
      ["weight 0", "INVALID_ARGUMENT", "nexthops[0].weight", () => R([add(route("10.9.0.0/16", { nexthops: [nh("203.0.113.7", "p1", 0)] }))])],
      ["weight too big", "INVALID_ARGUMENT", "nexthops[0].weight", () => R([add(route("10.9.0.0/16", { nexthops: [nh("203.0.113.7", "p1", 70000)] }))])],
      ["wrong family gateway", "INVALID_ARGUMENT", "nexthops[0].via", () => R([add(route("10.9.0.0/16", { nexthops: [nh("2001:db8:2::7")] }))])],
      ["unknown port", "NOT_FOUND", "nexthops[0].port", () => R([add(route("10.9.0.0/16", { nexthops: [nh("203.0.113.7", "p9")] }))])],
      ["no next hops, no type", "INVALID_ARGUMENT", "ops[0].route", () => R([add(route("10.9.0.0/16", { nexthops: [] }))])],
      ["blackhole with next hops", "INVALID_ARGUMENT", "ops[0].route.nexthops", () => R([add(route("10.9.0.0/16", { type: "ROUTE_TYPE_BLACKHOLE" }))])],
      ["type local from a client", "INVALID_ARGUMENT", "ops[0].route.type", () => R([add(route("10.9.0.0/16", { type: "ROUTE_TYPE_LOCAL", nexthops: [] }))])],
      ["op unspecified", "INVALID_ARGUMENT", "ops[0].op", () => R([{ op: "OP_UNSPECIFIED", route: route("10.9.0.0/16") }])],
      ["add existing", "ALREADY_EXISTS", "ops[0].route.prefix", () => R([add(route("10.0.0.0/8"))])],
      ["delete missing", "NOT_FOUND", "ops[0].route.prefix", () => R([{ op: "OP_DELETE", route: route("10.99.0.0/16") }])],
      ["duplicate next hop", "INVALID_ARGUMENT", "nexthops[1]", () => R([add(route("10.9.0.0/16", { nexthops: [nh("203.0.113.7"), nh("203.0.113.7")] }))])],
      ["direct next hop mixed with gateways", "INVALID_ARGUMENT", "nexthops[1].via", () => R([add(route("10.9.0.0/16", { nexthops: [nh("203.0.113.7"), nh("")] }))])],
      ["static MAC without gateway", "INVALID_ARGUMENT", "nexthops[0].mac", () => R([add(route("10.9.0.0/16", { nexthops: [{ via: "", port: "p1", weight: 1, mac: "02:00:00:00:00:01" }] }))])],
      ["malformed MAC", "INVALID_ARGUMENT", "nexthops[0].mac", () => R([add(route("10.9.0.0/16", { nexthops: [{ via: "203.0.113.7", port: "p1", weight: 1, mac: "zz" }] }))])],
      ["conflicting static MAC", "FAILED_PRECONDITION", "nexthops[0].mac", () => R([add(route("10.9.0.0/16", { nexthops: [{ via: "203.0.113.254", port: "p1", weight: 1, mac: "02:00:00:00:00:01" }] }))])],
      ["group and next hops together", "INVALID_ARGUMENT", "ops[0].route", () => R([add(route("10.9.0.0/16", { nexthop_group: "g4" }))])],
      ["group of the wrong family", "INVALID_ARGUMENT", "ops[0].route.nexthop_group", () => R([add(route("2001:db8:9::/48", { nexthops: [], nexthop_group: "g4" }))])],
      ["oversized batch", "INVALID_ARGUMENT", "at most 5000", () => api.call("Routes", "Modify", big)],
      ["third entry bad: nothing applied", "INVALID_ARGUMENT", "ops[2].route.prefix", () => R([add(route("10.50.0.0/16")), add(route("10.51.0.0/16")), add(route("10.52.0.1/16"))])],
      ["packed prefixes of two families", "INVALID_ARGUMENT", "ops[0].prefixes[1]", () => api.call("Routes", "Modify", { ops: [{ op: "OP_ADD", route: { fib: "main", type: "ROUTE_TYPE_BLACKHOLE" }, prefixes: ["10.60.0.0/16", "2001:db8:60::/48"] }] })],
      ["packed prefixes and route.prefix", "INVALID_ARGUMENT", "ops[0].route.prefix", () => api.call("Routes", "Modify", { ops: [{ op: "OP_ADD", route: route("10.61.0.0/16"), prefixes: ["10.62.0.0/16"] }] })],
      ["write without a client name", "INVALID_ARGUMENT", "srcfib-client", () => anon.call("Routes", "Modify", { ops: [add(route("10.63.0.0/16"))] })],
      ["reserved client name", "INVALID_ARGUMENT", "reserved", () => cfgClient.call("Routes", "Modify", { ops: [add(route("10.64.0.0/16"))] })],
      ["write from a backup controller", "PERMISSION_DENIED", "backup", () => backupApi.call("Routes", "Modify", { ops: [add(route("10.65.0.0/16"))] })],
      ["write from outside the client's sessions", "PERMISSION_DENIED", "primary", () => new ApiClient(sock, { client: "ha" }).call("Routes", "Modify", { ops: [add(route("10.66.0.0/16"))] })],
      ["create an existing FIB", "ALREADY_EXISTS", "name", () => api.call("Fibs", "Create", { name: "b" })],
      ["FIB name with a dot", "INVALID_ARGUMENT", "name", () => api.call("Fibs", "Create", { name: "a.b" })],
      ["delete an unknown FIB", "NOT_FOUND", "name", () => api.call("Fibs", "Delete", { name: "nope" })],
      ["delete a bound FIB", "FAILED_PRECONDITION", "interface p0", () => api.call("Fibs", "Delete", { name: "main" })],
      ["delete a FIB holding client routes", "FAILED_PRECONDITION", "client", () => api.call("Fibs", "Delete", { name: "b" })],
      ["create an existing sub-FIB", "ALREADY_EXISTS", "subfib", () => api.call("Fibs", "CreateSubfib", { fib: "main", subfib: "voice" })],
      ["delete a sub-FIB a rule selects", "FAILED_PRECONDITION", "main#10", () => api.call("Fibs", "DeleteSubfib", { fib: "main", subfib: "voice" })],
      ["delete the main sub-FIB", "FAILED_PRECONDITION", "subfib", () => api.call("Fibs", "DeleteSubfib", { fib: "main", subfib: "main" })],
      ["duplicate rule priority", "ALREADY_EXISTS", "priority", () => api.call("Fibs", "AddRule", { fib: "main", priority: 10, subfib: "voice" })],
      ["rule to an unknown sub-FIB", "NOT_FOUND", "subfib", () => api.call("Fibs", "AddRule", { fib: "main", priority: 20, subfib: "nope" })],
      ["rule with a malformed source", "INVALID_ARGUMENT", "source", () => api.call("Fibs", "AddRule", { fib: "main", priority: 20, subfib: "voice", source: "10.0.0.1/8" })],
      ["rule source of the wrong family", "INVALID_ARGUMENT", "source", () => api.call("Fibs", "AddRule", { fib: "main", priority: 20, subfib: "voice", source: "10.0.0.0/8", family: "FAMILY_IPV6" })],
      ["rule with ports for ICMP", "INVALID_ARGUMENT", "protocol", () => api.call("Fibs", "AddRule", { fib: "main", priority: 20, subfib: "voice", protocol: "icmp", dport: "80" })],
      ["rule with an empty port range", "INVALID_ARGUMENT", "sport", () => api.call("Fibs", "AddRule", { fib: "main", priority: 20, subfib: "voice", sport: "9-1" })],
      ["delete an unknown rule", "NOT_FOUND", "priority", () => api.call("Fibs", "DeleteRule", { fib: "main", priority: 99 })],
      ["binding to an unknown FIB", "NOT_FOUND", "fib", () => api.call("Bindings", "Set", { source: "192.0.2.0/24", fib: "nope" })],
      ["binding with fib and interface", "INVALID_ARGUMENT", "fib", () => api.call("Bindings", "Set", { source: "192.0.2.0/24", fib: "main", interface: "p0" })],
      ["binding with a malformed source", "INVALID_ARGUMENT", "source", () => api.call("Bindings", "Set", { source: "192.0.2.0/33", fib: "main" })],
      ["delete an interface's implicit binding", "FAILED_PRECONDITION", "source", () => api.call("Bindings", "Delete", { source: "198.51.100.0/24" })],
      ["delete an unknown binding", "NOT_FOUND", "source", () => api.call("Bindings", "Delete", { source: "192.0.2.0/24" })],
      ["default binding to an unknown FIB", "NOT_FOUND", "fib", () => api.call("Bindings", "SetDefault", { family: "FAMILY_IPV4", fib: "nope" })],
      ["group with weight 0", "INVALID_ARGUMENT", "weight", () => api.call("NexthopGroups", "Set", { name: "g9", nexthops: [nh("203.0.113.7", "p1", 0)] })],
      ["group with a direct next hop", "INVALID_ARGUMENT", "via", () => api.call("NexthopGroups", "Set", { name: "g9", nexthops: [nh("")] })],
      ["group with a bad name", "INVALID_ARGUMENT", "name", () => api.call("NexthopGroups", "Set", { name: "9 g", nexthops: [nh("203.0.113.7")] })],
      ["delete a group in use", "FAILED_PRECONDITION", "used by 1 route", () => api.call("NexthopGroups", "Delete", { name: "g4" })],
      ["delete an unknown group", "NOT_FOUND", "name", () => api.call("NexthopGroups", "Delete", { name: "nope" })],
      ["change a used group's family", "FAILED_PRECONDITION", "IPv4", () => api.call("NexthopGroups", "Set", { name: "g4", nexthops: [nh("2001:db8:2::7")] })],
      ["update an unknown interface", "NOT_FOUND", "name", () => api.call("Interfaces", "Update", { name: "p9", update_mask: ["mtu"], mtu: 1500 })],
      ["MTU out of range", "INVALID_ARGUMENT", "mtu", () => api.call("Interfaces", "Update", { name: "p0", update_mask: ["mtu"], mtu: 100 })],
      ["address of another interface", "ALREADY_EXISTS", "addresses[0]", () => api.call("Interfaces", "Update", { name: "p0", update_mask: ["addresses"], addresses: ["203.0.113.1/24"] })],
      ["unknown update_mask field", "INVALID_ARGUMENT", "update_mask", () => api.call("Interfaces", "Update", { name: "p0", update_mask: ["mac"] })],
      ["interface FIB unknown", "NOT_FOUND", "fib", () => api.call("Interfaces", "Update", { name: "p0", update_mask: ["fib"], fib: "nope" })],
      ["Explain with a malformed source", "INVALID_ARGUMENT", "src", () => api.call("Explain", "Explain", { src: "1.2.3", dst: "192.0.2.1" })],
      ["Explain across families", "INVALID_ARGUMENT", "dst", () => api.call("Explain", "Explain", { src: "198.51.100.9", dst: "2001:db8::1" })],
      ["Explain from an unknown port", "NOT_FOUND", "in_port", () => api.call("Explain", "Explain", { src: "198.51.100.9", dst: "192.0.2.1", in_port: "p9" })],
      ["counter stream too fast", "INVALID_ARGUMENT", "interval_ms", () => api.collect("CountersService", "Stream", { interval_ms: 5 })],
      ["list routes of an unknown FIB", "NOT_FOUND", "fib", () => api.collect("Routes", "List", { fib: "nope" })],
      ["session with a bad client name", "INVALID_ARGUMENT", "hello.client", () => new Session(api, { client: "bad name", instance: "x" }).welcome],
      ["second session of the same instance", "ALREADY_EXISTS", "hello.instance", () => new Session(api, { client: "ha", instance: "one" }).welcome],
    ];
    expect(cases.length).toBeGreaterThanOrEqual(40);
    for (const [what, code, field, f] of cases) {
      const r = await codeOf(f());
      expect(r.code, `${what}: ${r.details}`).toBe(code);
      expect(r.details, what).toContain(field);
      if (what === "third entry bad: nothing applied") expect(r.index).toBe("2");
    }
    expect(await state()).toEqual(before);
    expect(daemon.log).not.toMatch(/TypeError|ReferenceError|internal:/);
    pri.close();
    bak.close();
    backupApi.close();
    anon.close();
    cfgClient.close();
  }, 60000);
});

describe("controller sessions", () => {
  const owners = async (prefix: string): Promise<[string, number, boolean, boolean][]> =>
    ((await api.collect("Routes", "List", { fib: "main", prefix, all_candidates: true })) as Msg[]).map((r) => [String(r.owner), Number(r.distance), Boolean(r.best), Boolean(r.stale)]);

  it("the lower administrative distance forwards; withdrawing it falls back to the other", async () => {
    const lo = new ApiClient(sock, { client: "lo", distance: 50 });
    const hi = new ApiClient(sock, { client: "hi", distance: 150 });
    await hi.call("Routes", "Modify", { ops: [add(route("198.18.0.0/15", { nexthops: [nh("203.0.113.30")] }))] });
    await lo.call("Routes", "Modify", { ops: [add(route("198.18.0.0/15", { nexthops: [nh("203.0.113.31")] }))] });
    expect(await owners("198.18.0.0/15")).toEqual([
      ["lo", 50, true, false],
      ["hi", 150, false, false],
    ]);
    const ex = async (): Promise<Msg> => api.call("Explain", "Explain", { src: "198.51.100.9", dst: "198.18.1.1" });
    expect(await ex()).toMatchObject({ route_owner: "lo", adjacency: "p1 via 203.0.113.31" });
    await lo.call("Routes", "Modify", { ops: [{ op: "OP_DELETE", route: route("198.18.0.0/15") }] });
    expect(await owners("198.18.0.0/15")).toEqual([["hi", 150, true, false]]);
    expect(await ex()).toMatchObject({ route_owner: "hi", adjacency: "p1 via 203.0.113.30" });
    await hi.call("Routes", "Modify", { ops: [{ op: "OP_DELETE", route: route("198.18.0.0/15") }] });
    expect(await ex()).toMatchObject({ route_owner: "config", prefix: "0.0.0.0/0" });
    lo.close();
    hi.close();
  });

  it("mark-and-sweep: what the client does not re-add between Begin and End is removed", async () => {
    const c = new ApiClient(sock, { client: "ms", instance: "i1" });
    const s = new Session(c, { client: "ms", instance: "i1", distance: 20 });
    expect((await s.welcome).role).toBe("primary");
    await c.call("Routes", "Modify", { ops: ["10.200.0.0/16", "10.201.0.0/16", "10.202.0.0/16"].map((p) => add(route(p))) });
    expect((await c.call("Sessions", "BeginResync", {})).stale).toBe(3);
    expect((await owners("10.201.0.0/16"))[0]).toEqual(["ms", 20, true, true]);
    // still forwarding while stale
    expect(await api.call("Explain", "Explain", { src: "198.51.100.9", dst: "10.201.0.1" })).toMatchObject({ route_owner: "ms" });
    await c.call("Routes", "Modify", { ops: ["10.200.0.0/16", "10.202.0.0/16"].map((p) => ({ op: "OP_REPLACE", route: route(p) })) });
    expect((await c.call("Sessions", "EndResync", {})).removed).toBe(1);
    expect((await c.collect("Routes", "List", { owner: "ms" })).map((r) => r.prefix).sort()).toEqual(["10.200.0.0/16", "10.202.0.0/16"]);
    s.close();
    await new Promise((r) => setTimeout(r, 200));
    c.close();
  });

  it("a client that goes away: its routes stay, stale, and are removed when the stale timer fires", async () => {
    const c = new ApiClient(sock, { client: "gone", instance: "g1" });
    const s = new Session(c, { client: "gone", instance: "g1", stale_time_s: 2 });
    await s.welcome;
    await c.call("Routes", "Modify", { ops: [add(route("10.210.0.0/16"))] });
    s.cancel();
    await new Promise((r) => setTimeout(r, 300));
    expect(await owners("10.210.0.0/16")).toEqual([["gone", 100, true, true]]);
    const row = ((await api.call("Sessions", "List")).sessions as Msg[]).find((x) => x.client === "gone");
    expect(row).toMatchObject({ role: "gone", routes: 1, stale_routes: 1 });
    await new Promise((r) => setTimeout(r, 2500));
    expect(await owners("10.210.0.0/16")).toEqual([]);
    c.close();
  });

  it("primary and backup: the backup may not write; when the primary's heartbeat lapses it is promoted and told, and the routes never go away", async () => {
    const events: Msg[] = [];
    const sub = api.stream("Events", "Subscribe", { types: ["EVENT_TYPE_ROLE", "EVENT_TYPE_ROUTE"] });
    sub.on("data", (e: Msg) => events.push(e));
    const subEnded = new Promise<grpc.status>((resolve) => sub.on("error", (e: grpc.ServiceError) => resolve(e.code)));
    await new Promise((r) => setTimeout(r, 100));
    const pc = new ApiClient(sock, { client: "bgp", instance: "ce1" });
    const bc = new ApiClient(sock, { client: "bgp", instance: "ce2" });
    const p = new Session(pc, { client: "bgp", instance: "ce1", heartbeat_ms: 100, role: "ROLE_PRIMARY" });
    expect((await p.welcome).role).toBe("primary");
    const b = new Session(bc, { client: "bgp", instance: "ce2", heartbeat_ms: 100, role: "ROLE_BACKUP" });
    expect(await b.welcome).toMatchObject({ role: "backup", primary: "ce1" });
    await pc.call("Routes", "Modify", { ops: [add(route("10.220.0.0/16"))] });
    expect((await codeOf(bc.call("Routes", "Modify", { ops: [add(route("10.221.0.0/16"))] }))).code).toBe("PERMISSION_DENIED");
    const promoted = new Promise<Msg>((resolve) => (b.onRole = resolve));
    const t0 = Date.now();
    p.stopHeartbeats();
    const r = await promoted;
    expect(r).toMatchObject({ client: "bgp", instance: "ce2", role: "primary" });
    expect(String(r.reason)).toContain("heartbeat lapsed");
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await owners("10.220.0.0/16")).toEqual([["bgp", 100, true, false]]);
    await bc.call("Routes", "Modify", { ops: [add(route("10.221.0.0/16"))] });
    await new Promise((res) => setTimeout(res, 100));
    const roles = events.filter((e) => e.role).map((e) => `${String((e.role as Msg).instance)}:${String((e.role as Msg).role)}`);
    expect(roles).toEqual(["ce1:primary", "ce2:backup", "ce1:gone", "ce2:primary"]);
    expect(events.some((e) => (e.route as Msg | undefined)?.prefix === "10.221.0.0/16" && (e.route as Msg).owner === "bgp")).toBe(true);
    sub.cancel();
    expect(await subEnded).toBe(grpc.status.CANCELLED);
    b.close();
    p.cancel();
    pc.close();
    bc.close();
  });
});

describe("CLI", () => {
  const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } => spawnSync(process.execPath, [join(root, "dist", "cli.js"), ...args, "--socket", sock], { encoding: "utf8", timeout: 30000 });

  it("adds, lists as a table and as JSON, explains, and prints the server's error with a non-zero exit", () => {
    expect(cli("routes", "add", "10.230.0.0/16", "via", "203.0.113.7", "dev", "p1", "via", "203.0.113.8", "dev", "p1", "weight", "3").status).toBe(0);
    const table = cli("routes", "--owner", "cli");
    expect(table.stdout).toMatch(/^SUB\s+PREFIX\s+NEXTHOPS/);
    expect(table.stdout).toMatch(/main\.main\s+10\.230\.0\.0\/16\s+via 203\.0\.113\.7 dev p1, via 203\.0\.113\.8 dev p1 weight 3\s+cli/);
    const json = JSON.parse(cli("routes", "--owner", "cli", "--json").stdout) as Msg[];
    expect(json).toEqual([expect.objectContaining({ prefix: "10.230.0.0/16", owner: "cli", best: true })]);
    const ex = cli("explain", "198.51.100.9", "10.230.1.1", "protocol", "udp", "sport", "5", "dport", "6");
    expect(ex.stdout).toContain("10.230.0.0/16 (cli)");
    const bad = cli("routes", "add", "10.230.0.1/16", "blackhole");
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("INVALID_ARGUMENT: ops[0].route.prefix");
    for (const c of ["fibs", "bindings", "rules", "counters", "sessions", "interfaces", "groups"]) {
      const r = cli(c, "--json");
      expect(r.status, `${c}: ${r.stderr}`).toBe(0);
      expect(() => JSON.parse(r.stdout) as unknown, c).not.toThrow();
    }
    expect(cli("routes", "del", "10.230.0.0/16").status).toBe(0);
  });
});

describe("TCP", () => {
  /** A CA, and certificates it signs (openssl, EC P-256, valid a day). */
  function pki(where: string): { ca: string; cert: (name: string, san?: string) => { cert: string; key: string } } {
    const sh = (cmd: string): void => void execFileSync("sh", ["-c", cmd], { cwd: where, stdio: "pipe", timeout: 20000 });
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=srcfib-test-ca");
    return {
      ca: join(where, "ca.pem"),
      cert: (name, san) => {
        sh(`openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ${name}.key -out ${name}.csr -subj /CN=${name}`);
        writeFileSync(join(where, `${name}.ext`), san ? `subjectAltName=${san}\n` : "basicConstraints=CA:FALSE\n");
        sh(`openssl x509 -req -in ${name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out ${name}.pem -days 1 -extfile ${name}.ext`);
        return { cert: join(where, `${name}.pem`), key: join(where, `${name}.key`) };
      },
    };
  }

  /** The TCP address the daemon logged ("API listening on tls:127.0.0.1:PORT"). */
  function listening(kind: "tls" | "tcp"): string {
    const m = new RegExp(`API listening on ${kind}:(127\\.0\\.0\\.1:\\d+)`).exec(daemon.log);
    if (!m) throw new Error(`no ${kind} listener in the log:\n${daemon.log}`);
    return m[1]!;
  }

  /** An Interfaces.List over a raw channel with the given credentials: "OK" or the status name. */
  async function rawCall(target: string, creds: grpc.ChannelCredentials): Promise<string> {
    const c = new grpc.Client(target, creds, { "grpc.ssl_target_name_override": "localhost" });
    try {
      return await new Promise<string>((resolve) => {
        c.makeUnaryRequest("/srcfib.v1.Interfaces/List", () => Buffer.alloc(0), (b: Buffer) => b, {}, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err) => resolve(err ? grpc.status[err.code]! : "OK"));
      });
    } finally {
      c.close();
    }
  }

  it("TLS with client certificates: a client with a certificate from the configured CA gets in; none, another CA's or plaintext do not", async () => {
    const good = mkdtempSync(join(dir, "pki-"));
    const rogue = mkdtempSync(join(dir, "rogue-"));
    const p = pki(good);
    const srv = p.cert("localhost", "DNS:localhost,IP:127.0.0.1");
    const ctl = p.cert("ctl");
    const r = pki(rogue);
    const bad = r.cert("ctl");
    await daemon.stop();
    await daemon.start(config(`, tcp: { listen: "127.0.0.1:0", cert: ${srv.cert}, key: ${srv.key}, ca: ${p.ca} }`));
    api.close();
    api = new ApiClient(sock, { client: "t" });
    const target = listening("tls");
    expect(daemon.log).not.toMatch(/plaintext/);
    // the right certificate: reads and writes
    const tls = new ApiClient(target, { client: "tls-ctl", tls: { ca: p.ca, cert: ctl.cert, key: ctl.key, serverName: "localhost" } });
    try {
      expect(((await tls.call("Interfaces", "List")).interfaces as Msg[]).map((i) => i.name)).toEqual(["p0", "p1"]);
      await tls.call("Routes", "Modify", { ops: [add(route("10.240.0.0/16"))] });
      expect((await api.collect("Routes", "List", { prefix: "10.240.0.0/16" })).map((x) => x.owner)).toEqual(["tls-ctl"]);
    } finally {
      tls.close();
    }
    const ca = readFileSync(p.ca);
    expect(await rawCall(target, grpc.credentials.createSsl(ca))).toBe("UNAVAILABLE"); // no client certificate
    expect(await rawCall(target, grpc.credentials.createSsl(ca, readFileSync(bad.key), readFileSync(bad.cert)))).toBe("UNAVAILABLE"); // another CA's
    expect(await rawCall(target, grpc.credentials.createInsecure())).toBe("UNAVAILABLE"); // plaintext
    expect(await rawCall(target, grpc.credentials.createSsl(ca, readFileSync(ctl.key), readFileSync(ctl.cert)))).toBe("OK");
  });

  it("plaintext TCP only with api.tcp.insecure, which logs a warning", async () => {
    await daemon.stop();
    await daemon.start(config(`, tcp: { listen: "127.0.0.1:0", insecure: true }`));
    api.close();
    api = new ApiClient(sock, { client: "t" });
    expect(daemon.log).toMatch(/warn.*plaintext TCP without authentication \(api\.tcp\.insecure\)/);
    expect(await rawCall(listening("tcp"), grpc.credentials.createInsecure())).toBe("OK");
  });
});
