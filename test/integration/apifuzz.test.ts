/**
 * Random API calls against a real daemon (`srcfib run`, DPDK net_null ports, IPsec on): a seeded
 * generator draws every writing call of the API (routes, nexthop groups, FIBs, sub-FIBs, rules,
 * bindings, interfaces, SAs, policies) from pools of good and bad values, and Explain with
 * random packets; a share of the requests are random bytes, or a good request's bytes with some
 * flipped, sent as the method's body. After every call:
 *   - a refused call names what was wrong (a message), with a client-side code (never INTERNAL or
 *     UNKNOWN: those are the daemon failing, except grpc-js's own "Error deserializing request"
 *     for bytes that are no message of the type), and left the whole state as it was;
 *   - no reply or message holds a key the call carried;
 * and at the end the daemon is running, its log has no stack trace, and it stops cleanly.
 * Time limits are an hour or more, so that no SA expires by the clock during a run (that would
 * change the state between two calls).
 * The seed is printed (SRCFIB_FUZZ_SEED=N replays a run; SRCFIB_FUZZ_CALLS=N sets its length).
 *
 * Needs root (DPDK); without it the test fails and says so.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, type Msg } from "../../src/api/client.js";
import { apiState, codeOf } from "../support/api.js";
import { nullPortsConfig, TestDaemon } from "../support/daemon.js";
import { rngUnit } from "../support/fulltable.js";

const isRoot = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), "srcfib-apifuzz-"));
const sock = join(dir, "api.sock");
const SEED = Number(process.env.SRCFIB_FUZZ_SEED ?? Date.now() % 2 ** 31);
const CALLS = Number(process.env.SRCFIB_FUZZ_CALLS ?? 1500);
const MAX_MS = 150_000;
const daemon = new TestDaemon(dir);
let api: ApiClient;

beforeAll(async () => {
  if (!isRoot) throw new Error("the integration tests run DPDK: run them as root (CI does)");
  await daemon.start(nullPortsConfig(sock, ", batch_max: 64, stale_time_s: 30", "  - name: other\n"));
  api = new ApiClient(sock, { client: "fuzz" });
}, 90000);

afterAll(async () => {
  api?.close();
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
});

const rand = rngUnit(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const chance = (p: number): boolean => rand() < p;

// Pools: each field draws from values the daemon accepts (mostly, so that state builds up and
// later calls meet it) or from the bad ones an operator or a buggy controller sends.
type Pool<T> = { good: readonly T[]; bad: readonly T[] };
const val = <T>(p: Pool<T>): T => (chance(0.85) || !p.bad.length ? pick(p.good) : pick(p.bad));
const NAMES: Pool<string> = { good: ["main", "voice", "other", "f1", "f2", "s1", "g1", "g2"], bad: ["", " ", "x".repeat(300), "a/b", "main ", "ünï"] };
const PREFIXES: Pool<string> = {
  good: ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "0.0.0.0/0", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.5/32", "2001:db8::/32", "2001:db8:5::/48", "::/0", "2001:db8:1::/64", "fd00::/8"],
  bad: ["10.0.0.1/8", "300.1.1.1/8", "10.0.0.0/33", "::/129", "", "abc", "10.0.0.0", "10.0.0.0/-1", " 10.0.0.0/8", "10.0.0.0/08", "::ffff:10.0.0.0/104"],
};
const ADDRS: Pool<string> = { good: ["203.0.113.7", "203.0.113.254", "198.51.100.9", "2001:db8:2::9", "2001:db8:1::5", ""], bad: ["1.2.3.4", "fe80::1", "255.255.255.255", "::", "0.0.0.0", "not-an-ip", "203.0.113.1"] };
const PORTS: Pool<string> = { good: ["p0", "p1"], bad: ["", "p9", "P1"] };
const NUMS: Pool<number> = { good: [1, 2, 5, 10, 20, 100, 1000], bad: [0, 255, 256, 4096, 4097, 65535, 65536, 2 ** 31 - 1, 2 ** 32 - 1] };
const WEIGHTS: Pool<number> = { good: [1, 2, 65535], bad: [0, 65536] };
const MACS: Pool<string> = { good: ["", "02:00:00:00:00:fe"], bad: ["zz:zz", "01:00:5e:00:00:01", "02:00:00:00:00:01:02"] };
const PROTOS: Pool<string> = { good: ["", "tcp", "udp", "icmp", "50", "17"], bad: ["256", "-1", "foo"] };
const RANGES: Pool<string> = { good: ["", "53", "1024-65535", "5060"], bad: ["65535-1", "70000", "a-b", "-"] };
const ROUTE_TYPES: Pool<string> = { good: ["ROUTE_TYPE_UNSPECIFIED", "ROUTE_TYPE_FORWARD", "ROUTE_TYPE_BLACKHOLE", "ROUTE_TYPE_UNREACHABLE", "ROUTE_TYPE_PROHIBIT", "ROUTE_TYPE_IPSEC"], bad: ["ROUTE_TYPE_LOCAL"] };
const FAMILIES: Pool<string> = { good: ["FAMILY_UNSPECIFIED", "FAMILY_IPV4", "FAMILY_IPV6"], bad: [] };
const REQIDS: Pool<number> = { good: [1, 7], bad: [0, 99999, 2 ** 32 - 1] };
const SPIS: Pool<number> = { good: [0x1000, 0x1001, 0x1002, 0x2000, 0xffffffff], bad: [0, 1, 255] };
const DIRS: Pool<string> = { good: ["in", "out"], bad: ["", "both", "fwd"] };
const ACTIONS: Pool<string> = { good: ["bypass", "discard", "protect"], bad: ["", "allow"] };

/** Key material, random each time (its bytes must appear in no reply or message). */
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));

const nexthop = (): Msg => ({ via: val(ADDRS), port: val(PORTS), weight: val(WEIGHTS), mac: val(MACS) });
const nexthops = (): Msg[] => Array.from({ length: pick([0, 1, 1, 2, 3]) }, nexthop);

function route(): Msg {
  const r: Msg = { fib: val(NAMES), prefix: val(PREFIXES), type: val(ROUTE_TYPES) };
  if (chance(0.3)) r.subfib = val(NAMES);
  if (r.type === "ROUTE_TYPE_IPSEC" || chance(0.1)) r.ipsec_reqid = val(REQIDS);
  if (chance(0.8)) r.nexthops = nexthops();
  if (chance(0.15)) r.nexthop_group = val(NAMES);
  return r;
}

/** An SA: a consistent one (algorithms, key lengths, endpoint families), then maybe one field
 *  made bad. */
function sa(): [Msg, Buffer[]] {
  const v6 = chance(0.3);
  const ours = v6 ? "2001:db8:1::1" : "198.51.100.1", peer = v6 ? "2001:db8:9::9" : "192.0.2.9";
  const dir = pick(["in", "out"]);
  const req: Msg = { protocol: chance(0.8) ? "esp" : "ah", spi: val(SPIS), direction: dir, mode: pick(["tunnel", "tunnel", "transport"]), src: dir === "out" ? ours : peer, dst: dir === "out" ? peer : ours, inner_family: pick([0, 4, 6]), reqid: val(REQIDS), replay_window: pick([0, 64, 4096]), esn: chance(0.3), tunnel_mtu: pick([0, 0, 1280, 1400]) };
  const alg = req.protocol === "ah" ? "" : pick(["aes-gcm-128", "aes-gcm-256", "aes-cbc-128", "aes-cbc-256"]);
  const keys: Buffer[] = [];
  if (alg) {
    req.encryption = alg;
    req.encryption_key = bytes(({ "aes-gcm-128": 20, "aes-gcm-256": 36, "aes-cbc-128": 16, "aes-cbc-256": 32 } as Record<string, number>)[alg]!);
    keys.push(req.encryption_key as Buffer);
  }
  if (!alg.startsWith("aes-gcm")) {
    req.integrity = pick(["hmac-sha256-128", "hmac-sha1-96"]);
    req.integrity_key = bytes(req.integrity === "hmac-sha256-128" ? 32 : 20);
    keys.push(req.integrity_key as Buffer);
  }
  if (chance(0.2) && req.mode === "tunnel" && req.protocol === "esp") Object.assign(req, { natt: true, natt_sport: 4500, natt_dport: 4500 });
  if (chance(0.3)) req.lifetime = { soft_packets: pick([0, 10]), hard_packets: pick([0, 100]), soft_seconds: pick([0, 1800]), hard_seconds: pick([0, 3600]) };
  if (chance(0.4)) {
    const bad: [string, unknown][] = [
      ["protocol", pick(["", "gre"])], ["spi", pick(SPIS.bad)], ["direction", pick(DIRS.bad)], ["mode", "x"], ["src", pick(["", "x", "224.0.0.1", "2001:db8::1"])],
      ["dst", pick(["", "x", "10.0.0.1"])], ["inner_family", 5], ["reqid", 0], ["encryption", pick(["", "des", "aes-gcm-128"])], ["encryption_key", bytes(pick([0, 1, 16, 40]))],
      ["integrity", pick(["", "md5"])], ["integrity_key", bytes(pick([0, 1, 21]))], ["replay_window", 4097], ["natt_sport", 65536], ["natt_dport", 500], ["natt", true],
      ["tunnel_mtu", pick([100, 70000, 1279])], ["lifetime", { soft_packets: 200, hard_packets: 100 }],
    ];
    const [k, v] = pick(bad);
    req[k] = v;
    if (Buffer.isBuffer(v)) keys.push(v);
  }
  return [req, keys];
}

/** A policy: a consistent one (one family, ports only with a protocol that has them), then maybe
 *  one field made bad. */
function sp(): Msg {
  const v6 = chance(0.3);
  const pfx = v6 ? ["2001:db8::/32", "2001:db8:5::/48", "::/0", "2001:db8:1::/64", "fd00::/8"] : ["10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.5/32"];
  const protocol = pick(["", "tcp", "udp", "icmp", "50"]);
  const ported = protocol === "tcp" || protocol === "udp";
  const action = pick(ACTIONS.good);
  const req: Msg = { name: pick(NAMES.good), direction: pick(DIRS.good), priority: pick(NUMS.good), src: pick(pfx), dst: pick(pfx), protocol, sport: ported ? pick(RANGES.good) : "", dport: ported ? pick(RANGES.good) : "", action, reqid: action === "protect" ? pick(REQIDS.good) : 0 };
  if (chance(0.4)) {
    const bad: [string, unknown][] = [
      ["name", pick(NAMES.bad)], ["direction", pick(DIRS.bad)], ["src", pick(PREFIXES.bad)], ["dst", v6 ? "10.0.0.0/8" : "::/0"], ["protocol", pick(PROTOS.bad)],
      ["sport", pick(RANGES.bad)], ["dport", ported ? pick(RANGES.bad) : "80"], ["action", pick(ACTIONS.bad)], ["reqid", action === "protect" ? 0 : 7], ["priority", pick(NUMS.bad)],
    ];
    const [k, v] = pick(bad);
    req[k] = v;
  }
  return req;
}

/** One call: [service, method, request, keys it carries]. */
function draw(): [string, string, Msg, Buffer[]] {
  switch (Math.floor(rand() * 17)) {
    case 0:
    case 1: {
      const ops = Array.from({ length: pick([0, 1, 1, 2, 5, 70]) }, () => ({ op: pick(["OP_ADD", "OP_ADD", "OP_DELETE", "OP_REPLACE", "OP_REPLACE", "OP_UNSPECIFIED"]), route: route() }));
      return ["Routes", "Modify", { ops }, []];
    }
    case 2:
      return ["NexthopGroups", "Set", { name: val(NAMES), nexthops: nexthops() }, []];
    case 3:
      return ["NexthopGroups", "Delete", { name: val(NAMES) }, []];
    case 4:
      return ["Fibs", pick(["Create", "Create", "Delete"]), { name: val(NAMES) }, []];
    case 5:
      return ["Fibs", pick(["CreateSubfib", "CreateSubfib", "DeleteSubfib"]), { fib: val(NAMES), subfib: val(NAMES) }, []];
    case 6: {
      // half of them for the configuration's FIB and sub-FIB, which exist from the start
      const r: Msg = chance(0.5) ? { fib: "main", priority: val(NUMS), subfib: "voice", family: val(FAMILIES) } : { fib: val(NAMES), priority: val(NUMS), subfib: val(NAMES), family: val(FAMILIES) };
      if (chance(0.5)) r.source = val(PREFIXES);
      if (chance(0.3)) r.in_port = val(PORTS);
      if (chance(0.3)) Object.assign(r, { dscp: pick([-1, 0, 46, 63, 64]), has_dscp: chance(0.5) });
      if (chance(0.5)) r.protocol = val(PROTOS);
      if (chance(0.5)) r.sport = val(RANGES);
      if (chance(0.5)) r.dport = val(RANGES);
      return ["Fibs", "AddRule", r, []];
    }
    case 7:
      return ["Fibs", "DeleteRule", { fib: val(NAMES), priority: val(NUMS) }, []];
    case 8:
      return ["Bindings", "Set", chance(0.6) ? { source: val(PREFIXES), fib: val(NAMES) } : { source: val(PREFIXES), interface: val(PORTS), ...(chance(0.2) ? { fib: val(NAMES) } : {}) }, []];
    case 9:
      return chance(0.5) ? ["Bindings", "Delete", { source: val(PREFIXES) }, []] : ["Bindings", "SetDefault", { family: val(FAMILIES), fib: chance(0.1) ? "" : val(NAMES) }, []];
    case 10: {
      const mask = Array.from({ length: pick([0, 1, 1, 2]) }, () => pick(["mtu", "mru", "addresses", "fib", "fib", "name", "bogus"]));
      const addresses = Array.from({ length: pick([0, 1, 2]) }, () => pick(["198.51.100.1/24", "198.51.100.2/24", "2001:db8:1::1/64", "10.9.9.9/8", "bad", "203.0.113.1/24"]));
      return ["Interfaces", "Update", { name: val(PORTS), update_mask: mask, mtu: pick([0, 68, 575, 1280, 1500, 9000, 9001, 65536]), mru: pick([0, 1500, 70000]), addresses, fib: val(NAMES) }, []];
    }
    case 11:
    case 12: {
      const [req, keys] = sa();
      return ["Ipsec", "AddSa", req, keys];
    }
    case 13: {
      const id = { protocol: chance(0.8) ? "esp" : pick(["ah", ""]), spi: val(SPIS), dst: pick(["198.51.100.1", "192.0.2.9", "2001:db8:1::1", "2001:db8:9::9", "", "x"]) };
      if (chance(0.5)) return ["Ipsec", "DeleteSa", id, []];
      return ["Ipsec", "UpdateSa", { id, lifetime: { soft_packets: pick([0, 10, 1000]), hard_packets: pick([0, 5, 2000]), hard_seconds: pick([0, 3600]) }, tunnel_mtu: pick([0, 1000, 1280, 70000]) }, []];
    }
    case 14:
      return ["Ipsec", "AddSp", sp(), []];
    case 15:
      return ["Ipsec", "DeleteSp", { name: val(NAMES) }, []];
    default:
      return ["Explain", "Explain", { src: val(ADDRS), dst: val(ADDRS), in_port: val(PORTS), protocol: val(PROTOS), sport: val(NUMS), dport: val(NUMS), dscp: pick([0, 46, 64]) }, []];
  }
}

/** Everything the API can read, without counters or clocks. */
const state = (): Promise<unknown> => apiState(api, true);

/** A key's bytes in text, in any form they would take: hex, base64, or a byte array printed by
 *  JavaScript ("12,34,...", e.g. a Uint8Array in a template string). */
function keyIn(text: string, k: Buffer): boolean {
  return text.includes(k.toString("hex")) || text.includes(k.toString("base64")) || text.includes([...k].join(","));
}

const CLIENT_CODES = new Set(["INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED", "OUT_OF_RANGE"]);

describe(`random API calls (seed ${SEED}; SRCFIB_FUZZ_SEED=${SEED} replays)`, () => {
  it(
    "every refused call says why and changes nothing; the daemon keeps running",
    async () => {
      const tally = new Map<string, number>();
      const allKeys: Buffer[] = [];
      let calls = 0;
      let changed = 0;
      const start = Date.now();
      let before = await state();
      for (; calls < CALLS && Date.now() - start < MAX_MS; calls++) {
        const [service, method, req, keys] = draw();
        const how = chance(0.1) ? "bytes" : chance(0.1) ? "flipped" : "message";
        let p: Promise<unknown>;
        let shown = JSON.stringify(req, (_k, v: unknown) => (Buffer.isBuffer(v) || (v && typeof v === "object" && (v as { type?: string }).type === "Buffer") ? "<key>" : v));
        if (how === "message") {
          p = api.call(service, method, req);
        } else {
          const good = api.encode(service, method, req);
          const bytes = how === "bytes" ? Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256))) : Buffer.from(good);
          if (how === "flipped") for (let i = 0; i < 1 + Math.floor(rand() * 4) && bytes.length; i++) bytes[Math.floor(rand() * bytes.length)]! ^= 1 << Math.floor(rand() * 8);
          shown = `${how} ${bytes.toString("hex")} (from ${shown})`;
          p = api.callEncoded(service, method, bytes);
        }
        const what = `call ${calls} ${service}.${method} ${shown}`;
        const r = await codeOf(p);
        const reply = r.code === "OK" ? JSON.stringify(await p.catch(() => null)) : r.details;
        for (const k of keys) {
          if (k.length < 8) continue;
          expect(keyIn(reply, k), `${what}: a key in the reply`).toBe(false);
          allKeys.push(k);
        }
        tally.set(`${service}.${method} ${r.code}`, (tally.get(`${service}.${method} ${r.code}`) ?? 0) + 1);
        const after = await state();
        if (r.code === "OK") {
          changed++;
        } else {
          const deserialize = r.code === "INTERNAL" && how !== "message" && /^Error deserializing request/.test(r.details);
          expect(CLIENT_CODES.has(r.code) || deserialize, `${what}: ${r.code} ${r.details}`).toBe(true);
          expect(r.details.trim().length, `${what}: ${r.code} without a message`).toBeGreaterThan(0);
          expect(after, `${what}: refused (${r.code} ${r.details}) but the state changed`).toEqual(before);
        }
        before = after;
        expect(daemon.running, `${what}: the daemon exited\n${daemon.log}`).toBe(true);
      }
      const lines = [...tally.entries()].sort().map(([k, n]) => `  ${k}: ${n}`);
      console.log(`seed ${SEED}: ${calls} calls in ${((Date.now() - start) / 1000).toFixed(1)} s, ${changed} accepted\n${lines.join("\n")}`);
      expect(calls).toBeGreaterThanOrEqual(Math.min(CALLS, 300));
      // some of each kind was accepted (the pools are not all bad) and refused
      for (const m of ["Routes.Modify", "Ipsec.AddSa", "Ipsec.AddSp", "Fibs.AddRule", "Bindings.Set"]) {
        expect([...tally.keys()].some((k) => k.startsWith(`${m} OK`)), `${m} never accepted`).toBe(true);
        expect([...tally.keys()].some((k) => k.startsWith(m) && !k.endsWith(" OK")), `${m} never refused`).toBe(true);
      }
      expect(daemon.log).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/); // no stack trace in the daemon's log
      expect(allKeys.length).toBeGreaterThan(50);
      for (const k of allKeys) expect(keyIn(daemon.log, k), "a key in the daemon's log").toBe(false);
    },
    MAX_MS + 60000,
  );
});
