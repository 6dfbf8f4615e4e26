/**
 * IPsec end to end: srcfib (the lab's router, src/api/lab.ts) terminates a tunnel whose far end
 * is scapy in the client's namespace (test/integration/ipsec_peer.py, an independent ESP
 * implementation), with SAs and policies installed over the API as an IKE daemon would.
 *
 *   cli (scapy, 192.0.2.100) ── ispa ── rtr (srcfib, tunnel address 198.51.100.1) ── lan ── srv
 *
 * The remote site 10.99.0.0/16 sits behind the peer. The peer's ESP requests from 10.99.0.5 are
 * decrypted by srcfib and delivered to the server (198.51.100.10), a real kernel, whose echo
 * replies srcfib encrypts back. The tunnel's outer packets are sourced from 198.51.100.1, so the
 * source selector sends them out through ISP-A (FIB via-a), which is the only way they reach the
 * peer (the main FIB prefers ISP-B).
 *
 * Needs root (namespaces, DPDK); without it every test fails with the reason.
 */
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADDR, Lab } from "../../src/api/lab.js";
import { ApiClient, type Msg } from "../../src/api/client.js";
import { codeOf } from "../support/api.js";

const here = dirname(fileURLToPath(import.meta.url));
const PEER = join(here, "ipsec_peer.py");
const UDP_PAIR = join(here, "udp_pair.py");

const isRoot = process.getuid?.() === 0;
let lab: Lab;
let api: ApiClient;

const TUN = "198.51.100.1"; // srcfib's end
const PEER_ADDR = ADDR.cli4; // 192.0.2.100
const REMOTE_NET = "10.99.0.0/16";
const REQID = 7;

// Keys (hex). Each is distinct so that a log grep can look for every one of them.
const K = {
  gcmIn: "0f1e2d3c4b5a69788796a5b4c3d2e1f0" + "c0ffee01",
  gcmOut: "112233445566778899aabbccddeeff00" + "5a17ed02",
  cbcIn: "8899aabbccddeeff0011223344556677",
  cbcInAuth: "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0",
  cbcOut: "d1d2d3d4d5d6d7d8d9dadbdcdddedfe0",
  cbcOutAuth: "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
  ownIn: "6a5b4c3d2e1f00112a3b4c5d6e7f8091" + "beef0003",
  ownOut: "f0e1d2c3b4a5968778695a4b3c2d1e0f" + "cafe0004",
};

interface PeerResult {
  sent: number;
  replies: number;
  esp_seen: number;
  undecryptable: number;
  reply_seqs: number[];
}

function peer(c: Record<string, unknown>): PeerResult {
  const cfg = { iface: "a", local: PEER_ADDR, remote: TUN, inner_src: "10.99.0.5", inner_dst: ADDR.a4, count: 5, first_seq: 1, timeout: 3, ...c };
  const r = lab.exec(lab.ns.cli, ["/usr/bin/python3", PEER, JSON.stringify(cfg)], 60000);
  if (r.status !== 0) throw new Error(`ipsec_peer.py: exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as PeerResult;
}

function sa(direction: "in" | "out", spi: number, alg: "gcm" | "cbc", key: string, authKey = "", extra: Msg = {}): Msg {
  return {
    protocol: "esp",
    spi,
    direction,
    mode: "tunnel",
    src: direction === "in" ? PEER_ADDR : TUN,
    dst: direction === "in" ? TUN : PEER_ADDR,
    reqid: REQID,
    encryption: alg === "gcm" ? "aes-gcm-128" : "aes-cbc-128",
    encryption_key: Buffer.from(key, "hex"),
    integrity: alg === "gcm" ? "" : "hmac-sha256-128",
    integrity_key: Buffer.from(authKey, "hex"),
    replay_window: 64,
    ...extra,
  };
}

/** Starts a command in a namespace in the background (killed after timeoutMs): `ready` once it says
 * "ready" on stderr, `done` with its stdout when it exits. */
function background(ns: string, argv: string[], timeoutMs: number): { ready: Promise<void>; done: Promise<string> } {
  const child = spawn("ip", ["netns", "exec", ns, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  let out = "";
  let err = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  const ready = new Promise<void>((res, rej) => {
    child.stderr.on("data", (b: Buffer) => {
      err += b.toString();
      if (err.includes("ready")) res();
    });
    child.on("close", () => rej(new Error(`${argv.join(" ")} ended before it was ready: ${err}`)));
  });
  const done = new Promise<string>((res, rej) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) res(out);
      else rej(new Error(`${argv.join(" ")}: exit ${code}: ${err}`));
    }),
  );
  ready.catch(() => undefined);
  return { ready, done };
}

function lastJson<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split("\n").pop()!) as T;
}

async function listSas(): Promise<Msg[]> {
  return ((await api.call("Ipsec", "ListSas", {})).sas as Msg[]) ?? [];
}

async function saOf(spi: number): Promise<Msg> {
  const s = (await listSas()).find((x) => Number(x.spi) === spi);
  if (!s) throw new Error(`no SA ${spi.toString(16)} listed`);
  return s;
}

async function drops(): Promise<Record<string, number>> {
  return (await api.call("CountersService", "Get")).drops as Record<string, number>;
}

beforeAll(async () => {
  if (!isRoot) throw new Error("the integration tests build network namespaces and run DPDK: run them as root (CI does)");
  lab = new Lab(`sfi${process.pid % 10000}`);
  lab.build();
  await lab.startDaemon();
  lab.warmUp();
  api = new ApiClient(lab.statusFile.replace(/status\.json$/, "api.sock"), { client: "ike" });
}, 120000);

afterAll(async () => {
  api?.close();
  if (!lab) return;
  try {
    await lab.stopDaemon();
  } finally {
    lab.destroy();
  }
});

describe("IPsec between srcfib and scapy", () => {
  const events: Msg[] = [];
  let sub: (grpc.ClientReadableStream<Msg> & AsyncIterable<Msg>) | null = null;

  it("reports its crypto device, and refuses bad SAs and policies with the field named", async () => {
    const l = await api.call("Ipsec", "ListSas", {});
    expect(["crypto_aesni_mb", "crypto_openssl"]).toContain(l.crypto_device);
    expect(lab.daemonLog).toMatch(/IPsec: crypto device crypto_(aesni_mb|openssl)/);
    const bad = async (m: Msg, code: string, re: RegExp): Promise<void> => {
      const r = await codeOf(api.call("Ipsec", "AddSa", m));
      expect(r.code, JSON.stringify(r)).toBe(code);
      expect(r.details).toMatch(re);
    };
    await bad(sa("in", 0x10, "gcm", K.gcmIn), "INVALID_ARGUMENT", /spi: 16 is not an SPI/);
    await bad(sa("in", 0x1000a001, "gcm", K.gcmIn.slice(0, 32)), "INVALID_ARGUMENT", /encryption_key: aes-gcm-128 takes 20 bytes/);
    await bad(sa("in", 0x1000a001, "cbc", K.cbcIn), "INVALID_ARGUMENT", /integrity_key: hmac-sha256-128 takes 32 bytes, got 0/);
    await bad({ ...sa("in", 0x1000a001, "gcm", K.gcmIn), encryption: "des" }, "INVALID_ARGUMENT", /encryption: "des" is not one of/);
    await bad({ ...sa("out", 0x1000a001, "gcm", K.gcmIn), reqid: 0 }, "INVALID_ARGUMENT", /reqid: an outbound SA needs/);
    await bad({ ...sa("in", 0x1000a001, "gcm", K.gcmIn), dst: "2001:db8::1" }, "INVALID_ARGUMENT", /dst:/);
    await bad({ ...sa("in", 0x1000a001, "gcm", K.gcmIn), lifetime: { soft_packets: 10, hard_packets: 5 } }, "INVALID_ARGUMENT", /soft_packets: 10 is not below the hard limit 5/);
    await bad({ ...sa("out", 0x1000a001, "gcm", K.gcmIn), inner_family: 6, tunnel_mtu: 1200 }, "INVALID_ARGUMENT", /tunnel_mtu: 1200 is out of range 1280-9000 \(an SA carrying IPv6/);
    const nat = { ...sa("in", 0x1000a001, "gcm", K.gcmIn), natt: true, natt_dport: 4501 };
    await bad(nat, "INVALID_ARGUMENT", /natt_dport: inbound ESP in UDP is taken at the NAT-T port \(dataplane.ike_ports\[1\]: 4500\), not 4501/);
    const sp = await codeOf(api.call("Ipsec", "AddSp", { name: "x", direction: "out", src: "198.51.100.1/24", dst: REMOTE_NET, action: "protect", reqid: REQID }));
    expect(sp.code).toBe("INVALID_ARGUMENT");
    expect(sp.details).toMatch(/src:.*host bits/);
    // the refusals left nothing behind
    expect(await listSas()).toHaveLength(0);
    expect(((await api.call("Ipsec", "ListSps", {})).policies as Msg[]) ?? []).toHaveLength(0);
  });

  it("gives a reqid's tunnel back once no SA, policy or route names it", async () => {
    const spi = (i: number): number => 0x30000000 + i;
    const add = (i: number, reqid: number): Promise<Msg> => api.call("Ipsec", "AddSa", { ...sa("out", spi(i), "gcm", K.gcmOut), reqid });
    const del = (i: number): Promise<Msg> => api.call("Ipsec", "DeleteSa", { protocol: "esp", spi: spi(i), dst: PEER_ADDR });
    // 300 reqids one after another, more than the dataplane's 256 tunnels: each is free again once its SA goes
    for (let i = 0; i < 300; i++) {
      await add(i, 10000 + i);
      await del(i);
    }
    // a protect policy and an IPsec route hold their reqids' tunnels; at most 256 reqids at once, the 257th refused
    await api.call("Ipsec", "AddSp", { name: "hold", direction: "out", src: "198.51.100.0/24", dst: REMOTE_NET, action: "protect", reqid: 20000 });
    const route = { fib: "via-a", prefix: "203.0.113.0/24", type: "ROUTE_TYPE_IPSEC", ipsec_reqid: 20001 };
    await api.call("Routes", "Modify", { ops: [{ op: "OP_ADD", route }] });
    let held = 0;
    let refused = { code: "OK", details: "" };
    while (held < 300) {
      refused = await codeOf(add(1000 + held, 30000 + held));
      if (refused.code !== "OK") break;
      held++;
    }
    expect(held).toBe(254);
    expect(refused.code).toBe("FAILED_PRECONDITION");
    expect(refused.details).toMatch(/at most 256 tunnels/);
    // one SA goes: its reqid's tunnel is free for the one refused, and the table is full again
    await del(1000);
    await add(2000, 30000 + held);
    expect((await codeOf(add(2001, 50000))).code).toBe("FAILED_PRECONDITION");
    // the policy goes: its tunnel is free; then the route
    await api.call("Ipsec", "DeleteSp", { name: "hold" });
    await add(2001, 50000);
    expect((await codeOf(add(2002, 50001))).code).toBe("FAILED_PRECONDITION");
    await api.call("Routes", "Modify", { ops: [{ op: "OP_DELETE", route }] });
    await add(2002, 50001);
    for (let i = 1; i < held; i++) await del(1000 + i);
    for (const i of [2000, 2001, 2002]) await del(i);
    // nothing left holding: 256 new reqids at once
    for (let i = 0; i < 256; i++) await add(3000 + i, 40000 + i);
    for (let i = 0; i < 256; i++) await del(3000 + i);
    expect(await listSas()).toHaveLength(0);
  });

  it("AES-GCM-128: scapy's ESP is decrypted and delivered to the server, whose replies come back encrypted via ISP-A", async () => {
    sub = api.stream("Events", "Subscribe", { types: ["EVENT_TYPE_IPSEC"] });
    sub.on("data", (e: Msg) => events.push(e));
    sub.on("error", () => undefined);
    await api.call("Ipsec", "AddSa", sa("in", 0x1000a001, "gcm", K.gcmIn));
    const out = await api.call("Ipsec", "AddSa", sa("out", 0x2000b002, "gcm", K.gcmOut));
    expect(out.current).toBe(true);
    expect(JSON.stringify(out)).not.toMatch(/encryption_key|integrity_key/);
    await api.call("Ipsec", "AddSp", { name: "to-remote", direction: "out", priority: 10, src: "198.51.100.0/24", dst: REMOTE_NET, action: "protect", reqid: REQID });
    await api.call("Ipsec", "AddSp", { name: "from-remote", direction: "in", priority: 10, src: REMOTE_NET, dst: "198.51.100.0/24", action: "protect", reqid: REQID });
    const viaA0 = ((await api.call("CountersService", "Get")).fibs as Record<string, number>)["via-a"] ?? 0;

    const r = peer({ alg: "gcm", spi_send: 0x1000a001, key_send: K.gcmIn, auth_send: "", spi_recv: 0x2000b002, key_recv: K.gcmOut, auth_recv: "", replay: true, tamper: true });
    expect(r.sent).toBe(5);
    expect(r.replies, JSON.stringify(r)).toBe(5);
    expect(r.undecryptable).toBe(0);
    expect(r.reply_seqs.sort()).toEqual([0, 1, 2, 3, 4]);

    const inSa = await saOf(0x1000a001);
    const outSa = await saOf(0x2000b002);
    expect(Number(inSa.packets)).toBe(5);
    expect(Number(inSa.replay_drops)).toBe(1);
    expect(Number(inSa.auth_drops)).toBe(1);
    expect(Number(outSa.packets)).toBe(5);
    const d = await drops();
    expect(d.ipsec_replay).toBeGreaterThanOrEqual(1);
    expect(d.ipsec_auth).toBeGreaterThanOrEqual(1);
    const policies = (await api.call("Ipsec", "ListSps", {})).policies as Msg[];
    expect(Number(policies.find((p) => p.name === "to-remote")!.hits)).toBe(5);
    expect(Number(policies.find((p) => p.name === "from-remote")!.hits)).toBe(5);
    // the outer packets were routed by their source (198.51.100.1 -> FIB via-a)
    const viaA = ((await api.call("CountersService", "Get")).fibs as Record<string, number>)["via-a"] ?? 0;
    expect(viaA - viaA0).toBeGreaterThanOrEqual(5);
  });

  it("rekeys to AES-CBC-128 + HMAC-SHA-256-128 without losing a packet, then the old SAs go", async () => {
    await api.call("Ipsec", "AddSa", sa("in", 0x1000a002, "cbc", K.cbcIn, K.cbcInAuth));
    const out = await api.call("Ipsec", "AddSa", sa("out", 0x2000b003, "cbc", K.cbcOut, K.cbcOutAuth));
    expect(out.current).toBe(true);
    expect((await saOf(0x2000b002)).current).toBe(false);
    const recv = { spi_recv: 0x2000b003, key_recv: K.cbcOut, auth_recv: K.cbcOutAuth };
    // the peer still sends with the old inbound SA (its sequence numbers go on) ...
    const old = peer({ alg: "gcm", spi_send: 0x1000a001, key_send: K.gcmIn, auth_send: "", first_seq: 20, count: 3, ...recv, alg_recv: "cbc" });
    expect(old.replies, JSON.stringify(old)).toBe(3);
    expect(Number((await saOf(0x1000a001)).packets)).toBe(8);
    // ... and with the new one: both answered, the answers under the new outbound SA
    const fresh = peer({ alg: "cbc", spi_send: 0x1000a002, key_send: K.cbcIn, auth_send: K.cbcInAuth, count: 3, ...recv });
    expect(fresh.replies, JSON.stringify(fresh)).toBe(3);
    expect(Number((await saOf(0x2000b003)).packets)).toBe(6);
    expect(Number((await saOf(0x2000b002)).packets)).toBe(5);
    // the old SAs go; what still comes under the old SPI is dropped and counted
    await api.call("Ipsec", "DeleteSa", { protocol: "esp", spi: 0x1000a001, dst: TUN });
    await api.call("Ipsec", "DeleteSa", { protocol: "esp", spi: 0x2000b002, dst: PEER_ADDR });
    expect((await codeOf(api.call("Ipsec", "GetSa", { protocol: "esp", spi: 0x1000a001, dst: TUN }))).code).toBe("NOT_FOUND");
    const nosa = (await drops()).ipsec_no_sa ?? 0;
    const gone = peer({ alg: "gcm", spi_send: 0x1000a001, key_send: K.gcmIn, auth_send: "", first_seq: 40, count: 2, ...recv, timeout: 1 });
    expect(gone.replies).toBe(0);
    expect((await drops()).ipsec_no_sa).toBe(nosa + 2);
  });

  it("route-based: a route into the tunnel (ROUTE_TYPE_IPSEC) instead of the outbound policy", async () => {
    await api.call("Ipsec", "DeleteSp", { name: "to-remote" });
    const recv = { spi_recv: 0x2000b003, key_recv: K.cbcOut, auth_recv: K.cbcOutAuth };
    const send = { alg: "cbc", spi_send: 0x1000a002, key_send: K.cbcIn, auth_send: K.cbcInAuth };
    // no policy and no route: the server's replies leave in the clear, through the main FIB
    const none = peer({ ...send, ...recv, first_seq: 10, count: 2, timeout: 1 });
    expect(none.replies).toBe(0);
    // the replies come from 198.51.100.10: the source selector picks FIB via-a, so the route goes there
    await api.call("Routes", "Modify", { ops: [{ op: "OP_ADD", route: { fib: "via-a", prefix: REMOTE_NET, type: "ROUTE_TYPE_IPSEC", ipsec_reqid: REQID } }] });
    const listed = await api.collect("Routes", "List", { fib: "via-a", prefix: REMOTE_NET });
    expect(listed[0]).toMatchObject({ type: "ROUTE_TYPE_IPSEC", ipsec_reqid: REQID });
    const r = peer({ ...send, ...recv, first_seq: 20, count: 4 });
    expect(r.replies, JSON.stringify(r)).toBe(4);
    const bad = await codeOf(api.call("Routes", "Modify", { ops: [{ op: "OP_ADD", route: { fib: "via-a", prefix: "10.98.0.0/16", type: "ROUTE_TYPE_IPSEC" } }] }));
    expect(bad.code).toBe("INVALID_ARGUMENT");
    expect(bad.details).toMatch(/ipsec_reqid/);
  });

  it("lifetimes: a soft time limit and a hard packet limit raise expire events; past the hard one no packet passes", async () => {
    const id = { protocol: "esp", spi: 0x1000a002, dst: TUN };
    const before = Number((await saOf(0x1000a002)).packets);
    await api.call("Ipsec", "UpdateSa", { id, lifetime: { soft_seconds: 1, hard_packets: before + 2 } });
    const send = { alg: "cbc", spi_send: 0x1000a002, key_send: K.cbcIn, auth_send: K.cbcInAuth, spi_recv: 0x2000b003, key_recv: K.cbcOut, auth_recv: K.cbcOutAuth };
    const expired = (await drops()).ipsec_expired ?? 0;
    const r = peer({ ...send, first_seq: 40, count: 4, timeout: 2 });
    expect(r.replies, JSON.stringify(r)).toBe(2);
    expect((await drops()).ipsec_expired).toBe(expired + 2);
    const end = Date.now() + 5000;
    const ours = (): Msg[] => events.map((e) => e.ipsec_expire as Msg | undefined).filter((e): e is Msg => e !== undefined && Number(e.spi) === 0x1000a002);
    while (Date.now() < end && ours().length < 2) await new Promise((res) => setTimeout(res, 100));
    expect(ours()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ hard: false, reason: "seconds", direction: "in", protocol: "esp", reqid: REQID }),
        expect.objectContaining({ hard: true, reason: "packets", direction: "in", dst: TUN }),
      ]),
    );
    const s = await saOf(0x1000a002);
    expect(s.state).toBe("expired");
    expect(s.expired_by).toBe("packets");
    // and it stays stopped
    expect(peer({ ...send, first_seq: 60, count: 2, timeout: 1 }).replies).toBe(0);
    sub?.cancel();
  });

  it("the router's own traffic meets the policies: its pings to a protected site go through the tunnel, its IKE passes in the clear both ways", async () => {
    // a second tunnel (reqid 8) for the router's own address, to a site 10.98.0.0/16 behind the
    // same peer; and host-to-host policies between the two gateways, which also select their IKE.
    // (The SAs and policies take ids that deleted ones had: their counters must start at 0.)
    const OWN_IN = 0x3000c001;
    const OWN_OUT = 0x4000d001;
    await api.call("Ipsec", "AddSa", { ...sa("in", OWN_IN, "gcm", K.ownIn), reqid: 8 });
    await api.call("Ipsec", "AddSa", { ...sa("out", OWN_OUT, "gcm", K.ownOut), reqid: 8 });
    const sp = (name: string, direction: string, src: string, dst: string): Promise<Msg> =>
      api.call("Ipsec", "AddSp", { name, direction, priority: 5, src, dst, action: "protect", reqid: 8 });
    const policyDrops0 = (await drops()).ipsec_policy ?? 0;
    await sp("own-out", "out", `${TUN}/32`, "10.98.0.0/16");
    await sp("own-in", "in", "10.98.0.0/16", `${TUN}/32`);
    await sp("gw-out", "out", `${TUN}/32`, `${PEER_ADDR}/32`);
    await sp("gw-in", "in", `${PEER_ADDR}/32`, `${TUN}/32`);
    // the router's kernel sends to the site by ISP-B's TAP: srcfib routes the ESP by its source
    // (via-a), ISP-B would drop it (BCP 38); what passes in the clear leaves as the kernel sent it,
    // so the kernel sends to the peer by ISP-A's
    lab.run(lab.ns.rtr, "ip", "route", "replace", "10.98.0.0/16", "via", ADDR.ispb4, "dev", "t-ispb", "src", TUN);
    lab.run(lab.ns.rtr, "ip", "route", "replace", `${PEER_ADDR}/32`, "via", ADDR.ispa4, "dev", "t-ispa", "src", TUN);

    // pings from the router's kernel to 10.98.0.7, answered by scapy behind the tunnel
    const responder = background(
      lab.ns.cli,
      ["/usr/bin/python3", PEER, JSON.stringify({ respond: true, iface: "a", local: PEER_ADDR, remote: TUN, alg: "gcm", spi_send: OWN_IN, key_send: K.ownIn, auth_send: "", spi_recv: OWN_OUT, key_recv: K.ownOut, auth_recv: "", count: 3, timeout: 10 })],
      30000,
    );
    await responder.ready;
    const ping = lab.ping(lab.ns.rtr, "10.98.0.7", { count: 3, src: TUN, interval: 0.3 });
    const asked = lastJson<{ requests: number; request_srcs: string[]; request_ttls: number[]; undecryptable: number }>(await responder.done);
    expect(ping.received, ping.out).toBe(3);
    expect(asked.requests, JSON.stringify(asked)).toBe(3);
    expect(asked.undecryptable).toBe(0);
    expect(asked.request_srcs).toEqual([TUN, TUN, TUN]);
    expect(asked.request_ttls).toEqual([64, 64, 64]); // the router's own packets: not a hop
    expect(Number((await saOf(OWN_OUT)).packets)).toBe(3);
    expect(Number((await saOf(OWN_IN)).packets)).toBe(3);

    // one over the tunnel's MTU (1400) with DF: "too big" up the TAP, and the kernel takes it
    const tooBig = (await drops()).too_big ?? 0;
    lab.ping(lab.ns.rtr, "10.98.0.7", { count: 1, src: TUN, size: 1400, dontFrag: true });
    expect((await drops()).too_big).toBe(tooBig + 1);
    expect(lab.run(lab.ns.rtr, "ip", "route", "get", "10.98.0.7", "from", TUN)).toMatch(/mtu 1400/);

    // IKE between the gateways (UDP 500) passes in the clear both ways, though the host-to-host
    // policies select it; any other port between them is protected (the peer's kernel has no SA)
    const server = background(lab.ns.cli, ["/usr/bin/python3", UDP_PAIR, "serve", PEER_ADDR, "500", "8"], 15000);
    await server.ready;
    const ask = lab.exec(lab.ns.rtr, ["/usr/bin/python3", UDP_PAIR, "ask", TUN, "500", PEER_ADDR, "500", "3"]);
    expect(ask.status, ask.stderr).toBe(0);
    expect(lastJson<{ got: string | null }>(await server.done).got).toBe("probe");
    expect(lastJson<{ answer: string | null }>(ask.stdout).answer).toBe("answer:probe");
    const out0 = Number((await saOf(OWN_OUT)).packets);
    const other = lab.exec(lab.ns.rtr, ["/usr/bin/python3", UDP_PAIR, "ask", TUN, "5000", PEER_ADDR, "5000", "1"]);
    expect(lastJson<{ answer: string | null }>(other.stdout).answer).toBeNull();
    expect(Number((await saOf(OWN_OUT)).packets)).toBe(out0 + 1);
    const hits = Object.fromEntries(((await api.call("Ipsec", "ListSps", {})).policies as Msg[]).map((p) => [p.name, Number(p.hits)]));
    expect(hits).toMatchObject({ "own-out": 4, "own-in": 3, "gw-out": 2 });
    // gw-in also selects the ICMP errors the peer's kernel (no ESP) sends back in the clear: all of
    // them refused, the one IKE answer passed
    expect(hits["gw-in"]).toBe(1 + ((await drops()).ipsec_policy ?? 0) - policyDrops0);
  });

  it("Explain shows the IPsec policies and tunnels on a packet's path", async () => {
    const ex = (q: Msg): Promise<Msg> => api.call("Explain", "Explain", q);
    // an outbound protect policy: into reqid 8's tunnel before any lookup
    const prot = await ex({ src: TUN, dst: "10.98.0.7", protocol: "udp", sport: 4000, dport: 53 });
    expect(prot).toMatchObject({ action: "ipsec", ipsec_policy_out: "own-out", ipsec_reqid: 8, fib: "", drop_reason: "" });
    expect((prot.steps as string[]).join("\n")).toMatch(/outbound IPsec policy own-out: protect, without a lookup of its own, -> the tunnel of reqid 8 \(encrypted/);
    // plaintext where an inbound policy wants protection
    expect(await ex({ src: "10.98.0.7", dst: TUN, protocol: "udp", sport: 53, dport: 4000 })).toMatchObject({ action: "drop", drop_reason: "ipsec_policy", ipsec_policy_in: "own-in" });
    // IKE passes that policy to the router itself, and to nobody else
    const ike = await ex({ src: PEER_ADDR, dst: TUN, protocol: "udp", sport: 500, dport: 500 });
    expect(ike).toMatchObject({ action: "local", ipsec_policy_in: "gw-in", drop_reason: "" });
    expect((ike.steps as string[]).join("\n")).toMatch(/IKE/);
    expect(await ex({ src: "10.99.0.5", dst: ADDR.a4, protocol: "udp", sport: 500, dport: 500 })).toMatchObject({ action: "drop", drop_reason: "ipsec_policy", ipsec_policy_in: "from-remote" });
    // a route into a tunnel (the route-based test's, reqid 7): after the source selector and lookup
    const routed = await ex({ src: ADDR.a4, dst: "10.99.0.5", protocol: "icmp" });
    expect(routed).toMatchObject({ action: "ipsec", ipsec_reqid: 7, fib: "via-a", prefix: REMOTE_NET, adjacency: "", ipsec_policy_out: "" });
    // a protect policy whose tunnel has no outbound SA for the family yet
    await api.call("Ipsec", "AddSp", { name: "own6-out", direction: "out", priority: 5, src: "2001:db8:a::/64", dst: "2001:db8:98::/48", action: "protect", reqid: 8 });
    const noSa = await ex({ src: ADDR.a6, dst: "2001:db8:98::1", protocol: "udp", sport: 1, dport: 2 });
    expect(noSa).toMatchObject({ action: "drop", drop_reason: "ipsec_no_out_sa", ipsec_policy_out: "own6-out", ipsec_reqid: 8 });
    expect((noSa.steps as string[]).join("\n")).toMatch(/no outbound SA for IPv6/);
    await api.call("Ipsec", "DeleteSp", { name: "own6-out" });
    // ESP to the router under a host-to-host policy: an unknown SPI is no plaintext for the
    // policy to refuse, the SA is what is missing; to another host the policy refuses it
    const esp = await ex({ src: "10.99.0.5", dst: TUN, protocol: "esp" });
    expect(esp).toMatchObject({ action: "drop", drop_reason: "ipsec_no_sa", ipsec_policy_in: "from-remote" });
    expect((esp.steps as string[])[0]).toMatch(/ESP: one for an inbound SA's SPI/);
    expect((esp.steps as string[]).join("\n")).toMatch(/ESP for the router is not plaintext/);
    const espTransit = await ex({ src: "10.99.0.5", dst: "198.51.100.10", protocol: "esp" });
    expect(espTransit).toMatchObject({ action: "drop", drop_reason: "ipsec_policy", ipsec_policy_in: "from-remote" });
    // no policy, no tunnel: unchanged
    expect(await ex({ src: ADDR.a4, dst: PEER_ADDR, protocol: "icmp" })).toMatchObject({ action: "forward", ipsec_policy_in: "", ipsec_policy_out: "", ipsec_reqid: 0 });
  });

  it("keys appear in no reply and in no log line", async () => {
    const sock = lab.statusFile.replace(/status\.json$/, "api.sock");
    const cli = (...args: string[]): string => {
      const r = lab.exec(null, [process.execPath, join(here, "..", "..", "dist", "cli.js"), ...args, "--socket", sock], 30000);
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    const table = cli("ipsec", "sas");
    expect(table).toMatch(/crypto device: crypto_/);
    expect(table).toMatch(/0x1000a002 +in +tunnel +192\.0\.2\.100 +198\.51\.100\.1 +7 +aes-cbc-128\+hmac-sha256-128 +expired/);
    expect(cli("ipsec", "policies")).toMatch(/from-remote +in +10 +10\.99\.0\.0\/16/);
    const all = JSON.stringify([await api.call("Ipsec", "ListSas", {}), await api.call("Ipsec", "ListSps", {}), await api.collect("Routes", "List", { fib: "via-a" })]) + table + cli("ipsec", "sas", "--json");
    const log = lab.daemonLog;
    expect(log.split("\n").length).toBeGreaterThan(10);
    for (const k of Object.values(K)) {
      const forms = [k, k.toUpperCase(), Buffer.from(k, "hex").toString("base64"), [...Buffer.from(k, "hex")].join(","), k.slice(0, 16)];
      for (const f of forms) {
        expect(log.includes(f), `key material ${f} in the daemon log`).toBe(false);
        expect(all.includes(f), `key material ${f} in an API reply`).toBe(false);
      }
    }
    expect(log).toMatch(/IPsec: added inbound ESP SA spi 0x1000a001/);
  });
});
