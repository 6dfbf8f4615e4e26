/**
 * The IPsec model (ARCHITECTURE §7): the SAD and the SPD as the control plane keeps them, in
 * sync with the dataplane's (native/dp/dp_ipsec.h).
 *
 * IKE stays in an IKE daemon (strongSwan); it installs what it negotiated here over the API, in
 * the shape of the kernel's XFRM interface:
 *   - an SA is one direction of ESP or AH, identified by (protocol, SPI, destination); inbound
 *     (protocol, SPI) pairs are unique (the SPIs we chose);
 *   - a reqid ties SAs and policies together (a CHILD_SA): the tunnel.  A PROTECT policy and an
 *     IPsec route name a reqid; the newest live outbound SA of that reqid (per inner family)
 *     carries the traffic, and every inbound SA of the reqid decrypts, so that a rekey (new SAs
 *     added, old ones deleted a little later) loses no packet;
 *   - lifetimes in bytes and packets are counted on the packet path (native), in seconds here;
 *     crossing a soft or hard limit raises an expire event once.  A hard-expired SA passes no
 *     more packets (they count as ipsec_expired) and stays listed, state "expired", until the
 *     IKE daemon deletes it; an expired outbound SA hands its tunnel to the next newest.
 *
 * Key hygiene: keys arrive in the add request, are copied into the dataplane and wiped here (and
 * in the request buffer, by the API server) before the call returns. Nothing that lists, logs or
 * reports an SA holds key bytes: the stored record has none.
 */
import { ApiError } from "../fib/model.js";
import { formatAddress, formatPrefix, parseAddress, parsePrefix, type Family, type Prefix } from "../lookup/prefix.js";
import type { NativeDataplane, NativeSp } from "../lookup/native.js";
import { FreeIds } from "../lookup/grace.js";
import { PORTED, PROTOCOLS } from "../api/config.js";

export type SaProtocol = "esp" | "ah";
export type Direction = "in" | "out";
export type SpAction = "bypass" | "discard" | "protect";

export const ENCRYPTIONS = { "aes-gcm-128": { cipher: 1, key: 16 }, "aes-gcm-256": { cipher: 1, key: 32 }, "aes-cbc-128": { cipher: 2, key: 16 }, "aes-cbc-256": { cipher: 2, key: 32 } } as const;
export const INTEGRITIES = { "hmac-sha256-128": { auth: 1, key: 32 }, "hmac-sha1-96": { auth: 2, key: 20 } } as const;
export type Encryption = keyof typeof ENCRYPTIONS;
export type Integrity = keyof typeof INTEGRITIES;

export interface Lifetime {
  softBytes: number;
  hardBytes: number;
  softPackets: number;
  hardPackets: number;
  softSeconds: number;
  hardSeconds: number;
}

/** What an SA request and the stored SA have in common. */
interface SaCommon {
  spi: number;
  src: string;
  dst: string;
  reqid: number;
  encryption: string;
  integrity: string;
  replayWindow: number;
  esn: boolean;
  natt: boolean;
  nattSport: number;
  nattDport: number;
  lifetime: Lifetime;
  /** largest inner packet an outbound SA's tunnel takes (in a request, 0: the default) */
  tunnelMtu: number;
}

/** An SA as the API gives it (keys included: they never go further than the dataplane). */
export interface SaIn extends SaCommon {
  protocol: string;
  direction: string;
  mode: string;
  /** tunnel mode: the family of the packets carried (0: the endpoints' family) */
  innerFamily: number;
  /** AES-GCM: key then the 4-byte salt (RFC 4106 keying material) */
  encryptionKey: Uint8Array;
  integrityKey: Uint8Array;
}

export type SaState = "active" | "soft-expired" | "expired";

/** An SA as stored and listed: no keys. */
export interface SaOut extends SaCommon {
  protocol: SaProtocol;
  direction: Direction;
  mode: "tunnel" | "transport";
  innerFamily: Family;
  state: SaState;
  /** what ended it: "packets", "bytes", "seconds" ("" while active) */
  expiredBy: string;
  addedAt: string;
  /** outbound: whether its tunnel sends with it now */
  current: boolean;
  packets: number;
  bytes: number;
  replayDrops: number;
  authDrops: number;
  otherDrops: number;
}

/** What a policy request and the stored policy have in common. */
interface SpCommon {
  name: string;
  priority: number;
  src: string;
  dst: string;
  protocol: string;
  sport: string;
  dport: string;
  reqid: number;
}

export interface SpIn extends SpCommon {
  direction: string;
  action: string;
}

export interface SpOut extends SpCommon {
  direction: Direction;
  action: SpAction;
  hits: number;
}

export interface ExpireEvent {
  spi: number;
  protocol: SaProtocol;
  direction: Direction;
  dst: string;
  reqid: number;
  hard: boolean;
  /** "packets", "bytes" or "seconds" */
  reason: string;
}

export interface IpsecLimits {
  sas: number;
  tunnels: number;
  sps: number;
}

export const DEFAULT_TUNNEL_MTU = 1400;
const IP6_MIN_MTU = 1280;

/** An SA's tunnel MTU: 576-9000, and for IPv6 inside at least 1280. */
function checkTunnelMtu(mtu: number, inner: Family): void {
  const min = inner === 6 ? IP6_MIN_MTU : 576;
  if (!Number.isInteger(mtu) || mtu < min || mtu > 9000)
    throw new ApiError("INVALID_ARGUMENT", `tunnel_mtu: ${mtu} is out of range ${min}-9000${inner === 6 ? " (an SA carrying IPv6 is a link for it: RFC 8200 wants 1280)" : ""}`);
}
const NONE = 0xffff;

interface Sa {
  id: number;
  /** the dataplane's counters of the id (packets, bytes, replay, auth, other) when the SA took it:
   * an id is used again once freed, and its counters only ever grow */
  base: number[];
  out: SaOut;
  family: Family;
  added: number;
  softDone: boolean;
  hardDone: boolean;
}

interface Sp {
  id: number;
  /** the dataplane's hits of the id when the policy took it (see Sa.base) */
  base: number;
  seq: number;
  out: SpOut;
  native: NativeSp;
}

function saKey(protocol: string, spi: number, dst: string): string {
  return `${protocol}/${spi}/${dst}`;
}

function hex(spi: number): string {
  return `0x${spi.toString(16).padStart(8, "0")}`;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function nonNegInt(v: number, key: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new ApiError("INVALID_ARGUMENT", `${key}: ${v} is not an integer in 0-${max}`);
  return v;
}

/** Validates a lifetime (all six limits: 0 is none; a soft limit must be below its hard one). */
export function checkLifetime(l: Lifetime, key = "lifetime"): Lifetime {
  const out = { ...l };
  for (const k of ["Bytes", "Packets", "Seconds"] as const) {
    const soft = nonNegInt(l[`soft${k}`], `${key}.soft_${k.toLowerCase()}`);
    const hard = nonNegInt(l[`hard${k}`], `${key}.hard_${k.toLowerCase()}`);
    if (soft && hard && soft >= hard) throw new ApiError("INVALID_ARGUMENT", `${key}.soft_${k.toLowerCase()}: ${soft} is not below the hard limit ${hard}`);
    out[`soft${k}`] = soft;
    out[`hard${k}`] = hard;
  }
  return out;
}

function protoOf(text: string, key: string): number | null {
  if (text === "") return null;
  const p = /^\d{1,3}$/.test(text) ? Number(text) : (PROTOCOLS[text.toLowerCase()] ?? -1);
  if (p < 0 || p > 255) throw new ApiError("INVALID_ARGUMENT", `${key}: "${text}" is not a protocol (a number 0-255 or one of ${Object.keys(PROTOCOLS).join(", ")})`);
  return p;
}

function rangeOf(text: string, key: string): [number, number] | null {
  if (text === "") return null;
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const lo = m ? Number(m[1]) : -1;
  const hi = m ? Number(m[2] ?? m[1]) : -1;
  if (!m || lo > 65535 || hi > 65535 || lo > hi) throw new ApiError("INVALID_ARGUMENT", `${key}: "${text}" is not a port or a range "low-high" within 0-65535`);
  return [lo, hi];
}

/** Parses a (src, dst) pair of one family with `parse`, each error naming its field. */
function endpoints<T extends { family: Family }>(src: string, dst: string, parse: (text: string, family?: Family) => T, what: string): [T, T] {
  let s: T;
  try {
    s = parse(src);
  } catch (err: unknown) {
    throw new ApiError("INVALID_ARGUMENT", `src: ${src === "" ? `is required (${what})` : errText(err)}`);
  }
  try {
    return [s, parse(dst, s.family)];
  } catch (err: unknown) {
    throw new ApiError("INVALID_ARGUMENT", `dst: ${dst === "" ? `is required (${what})` : errText(err)}`);
  }
}

export class Sad {
  readonly #dp: NativeDataplane;
  readonly #limits: IpsecLimits;
  readonly #defaultMtu: number;
  /** the IKE daemon's NAT-T port (where inbound ESP in UDP arrives) */
  readonly #nattPort: number;
  readonly #onExpire: (e: ExpireEvent) => void;
  readonly #sas = new Map<string, Sa>();
  readonly #saIds: FreeIds;
  readonly #sps = new Map<string, Sp>();
  readonly #spIds: [FreeIds, FreeIds];
  #spSeq = 0;
  /** reqid -> its native tunnel: the id, and how many SAs, protect policies and IPsec routes name
   * the reqid (the last one gone, the id is free for another reqid) */
  readonly #tunnels = new Map<number, { id: number; refs: number }>();
  readonly #tunnelIds: FreeIds;
  /** reqid -> outbound SA ids in the tunnel [4, 6], as installed */
  readonly #tunnelOut = new Map<number, [number, number]>();

  constructor(dp: NativeDataplane, limits: IpsecLimits, opts: { tunnelMtu?: number; nattPort?: number; onExpire: (e: ExpireEvent) => void }) {
    this.#dp = dp;
    this.#limits = limits;
    this.#defaultMtu = opts.tunnelMtu ?? DEFAULT_TUNNEL_MTU;
    this.#nattPort = opts.nattPort ?? 4500;
    this.#onExpire = opts.onExpire;
    this.#saIds = new FreeIds(dp, limits.sas);
    this.#spIds = [new FreeIds(dp, limits.sps), new FreeIds(dp, limits.sps)];
    this.#tunnelIds = new FreeIds(dp, limits.tunnels);
  }

  /** Throws unless reqid is one and it has, or can get, a tunnel. */
  #checkReqid(reqid: number): void {
    if (!Number.isInteger(reqid) || reqid < 1 || reqid > 0xffffffff) throw new ApiError("INVALID_ARGUMENT", `reqid: ${reqid} is not a reqid (1-4294967295)`);
    if (!this.#tunnels.has(reqid) && this.#tunnels.size >= this.#limits.tunnels)
      throw new ApiError("FAILED_PRECONDITION", `reqid ${reqid}: the dataplane holds at most ${this.#limits.tunnels} tunnels (reqids) at once`);
  }

  /** Takes a reference on a reqid's tunnel, giving it a dataplane tunnel id on first use, and
   * returns the id.  SAs, protect policies and IPsec routes each hold one while they exist. */
  tunnelRef(reqid: number): number {
    this.#checkReqid(reqid);
    let t = this.#tunnels.get(reqid);
    if (t === undefined) {
      const id = this.#tunnelIds.take();
      if (id === undefined) throw new ApiError("FAILED_PRECONDITION", `reqid: no tunnel free for ${reqid} (the last freed is still held by a worker)`);
      t = { id, refs: 0 };
      this.#tunnels.set(reqid, t);
    }
    t.refs++;
    return t.id;
  }

  /** Drops a reference taken by tunnelRef.  With the last one the dataplane's tunnel goes and its
   * id is free again after the workers' grace period (until then a packet in a worker may still
   * name it: it must not mean another reqid). */
  tunnelUnref(reqid: number): void {
    const t = this.#tunnels.get(reqid);
    if (t === undefined || --t.refs > 0) return;
    this.#tunnels.delete(reqid);
    this.#tunnelOut.delete(reqid);
    this.#dp.tunnelDelete(t.id); // not found when no outbound SA ever set it: nothing to undo
    this.#tunnelIds.release(t.id);
  }


  // ---- SAs ------------------------------------------------------------------------------------

  /** Validates and installs an SA; wipes the keys of `a` whatever happens. */
  addSa(a: SaIn): SaOut {
    try {
      return this.#addSa(a);
    } finally {
      a.encryptionKey.fill(0);
      a.integrityKey.fill(0);
    }
  }

  #addSa(a: SaIn): SaOut {
    const protocol = a.protocol.toLowerCase();
    if (protocol !== "esp" && protocol !== "ah") throw new ApiError("INVALID_ARGUMENT", `protocol: "${a.protocol}" is neither esp nor ah`);
    if (!Number.isInteger(a.spi) || a.spi < 256 || a.spi > 0xffffffff) throw new ApiError("INVALID_ARGUMENT", `spi: ${a.spi} is not an SPI (256-4294967295; 1-255 are reserved, RFC 4303)`);
    const direction = a.direction.toLowerCase();
    if (direction !== "in" && direction !== "out") throw new ApiError("INVALID_ARGUMENT", `direction: "${a.direction}" is neither in nor out`);
    const mode = a.mode === "" ? "tunnel" : a.mode.toLowerCase();
    if (mode !== "tunnel" && mode !== "transport") throw new ApiError("INVALID_ARGUMENT", `mode: "${a.mode}" is neither tunnel nor transport`);
    const [src, dst] = endpoints(a.src, a.dst, parseAddress, "an address");
    const outer = src.family;
    if (a.innerFamily !== 0 && a.innerFamily !== 4 && a.innerFamily !== 6) throw new ApiError("INVALID_ARGUMENT", `inner_family: ${a.innerFamily} is not 4 or 6`);
    if (mode === "transport" && a.innerFamily !== 0 && a.innerFamily !== outer) throw new ApiError("INVALID_ARGUMENT", `inner_family: a transport-mode SA carries its endpoints' family (IPv${outer})`);
    const inner: Family = a.innerFamily === 0 ? outer : (a.innerFamily as Family);
    if (direction === "out" && (!Number.isInteger(a.reqid) || a.reqid < 1)) throw new ApiError("INVALID_ARGUMENT", "reqid: an outbound SA needs the reqid of the tunnel (policies and routes) it serves");
    if (a.reqid !== 0) this.#checkReqid(a.reqid); // fails early when no tunnel is left

    let cipher = 0;
    let auth = 0;
    let key: Uint8Array | null = null;
    let salt: Uint8Array | null = null;
    let authKey: Uint8Array | null = null;
    const enc = a.encryption.toLowerCase();
    const integ = a.integrity.toLowerCase();
    if (protocol === "esp") {
      const e = ENCRYPTIONS[enc as Encryption];
      if (!e) throw new ApiError("INVALID_ARGUMENT", `encryption: "${a.encryption}" is not one of ${Object.keys(ENCRYPTIONS).join(", ")}`);
      cipher = e.cipher;
      const want = e.cipher === 1 ? e.key + 4 : e.key;
      if (a.encryptionKey.length !== want) throw new ApiError("INVALID_ARGUMENT", `encryption_key: ${enc} takes ${want} bytes${e.cipher === 1 ? " (the key, then the 4-byte salt)" : ""}, got ${a.encryptionKey.length}`);
      key = a.encryptionKey.subarray(0, e.key);
      if (e.cipher === 1) salt = a.encryptionKey.subarray(e.key);
      if (e.cipher === 1 && integ !== "") throw new ApiError("INVALID_ARGUMENT", `integrity: ${enc} authenticates itself; give no integrity algorithm`);
      if (e.cipher === 2 && integ === "") throw new ApiError("INVALID_ARGUMENT", `integrity: ${enc} needs one of ${Object.keys(INTEGRITIES).join(", ")}`);
    } else if (enc !== "" || a.encryptionKey.length > 0) {
      throw new ApiError("INVALID_ARGUMENT", "encryption: AH does not encrypt");
    }
    if (integ !== "") {
      const i = INTEGRITIES[integ as Integrity];
      if (!i) throw new ApiError("INVALID_ARGUMENT", `integrity: "${a.integrity}" is not one of ${Object.keys(INTEGRITIES).join(", ")}`);
      if (a.integrityKey.length !== i.key) throw new ApiError("INVALID_ARGUMENT", `integrity_key: ${integ} takes ${i.key} bytes, got ${a.integrityKey.length}`);
      auth = i.auth;
      authKey = a.integrityKey;
    } else if (protocol === "ah") {
      throw new ApiError("INVALID_ARGUMENT", `integrity: AH needs one of ${Object.keys(INTEGRITIES).join(", ")}`);
    }
    const replayWindow = nonNegInt(a.replayWindow, "replay_window", 4096);
    if (a.natt && (protocol !== "esp" || mode !== "tunnel")) throw new ApiError("INVALID_ARGUMENT", "natt: UDP encapsulation is for ESP in tunnel mode");
    const nattSport = a.natt ? nonNegInt(a.nattSport, "natt_sport", 65535) || this.#nattPort : 0;
    const nattDport = a.natt ? nonNegInt(a.nattDport, "natt_dport", 65535) || this.#nattPort : 0;
    if (a.natt && direction === "in" && nattDport !== this.#nattPort)
      throw new ApiError("INVALID_ARGUMENT", `natt_dport: inbound ESP in UDP is taken at the NAT-T port (dataplane.ike_ports[1]: ${this.#nattPort}), not ${nattDport}`);
    const lifetime = checkLifetime(a.lifetime);
    // IPv6 needs at least 1280 of a link (RFC 8200 section 5): hosts ignore a smaller "too big"
    const tunnelMtu = a.tunnelMtu !== 0 ? a.tunnelMtu : inner === 6 ? Math.max(this.#defaultMtu, IP6_MIN_MTU) : this.#defaultMtu;
    checkTunnelMtu(tunnelMtu, inner);

    const dstText = formatAddress(dst.family, dst.addr);
    const k = saKey(protocol, a.spi, dstText);
    if (this.#sas.has(k)) throw new ApiError("ALREADY_EXISTS", `an ${protocol.toUpperCase()} SA with SPI ${hex(a.spi)} to ${dstText} exists`);
    const id = this.#saIds.take();
    if (id === undefined) throw new ApiError("FAILED_PRECONDITION", `the dataplane holds at most ${this.#limits.sas} SAs`);
    const pad = (b: Uint8Array): Uint8Array => {
      const o = new Uint8Array(16);
      o.set(b);
      return o;
    };
    const base = Array.from(this.#dp.counters().sa.subarray(id * 5, id * 5 + 5));
    const tunnel = a.reqid === 0 ? NONE : this.tunnelRef(a.reqid); // held while the SA exists
    const [rc, msg] = this.#dp.saAdd(id, {
      proto: protocol === "esp" ? 50 : 51,
      tunnel,
      spi: a.spi,
      inbound: direction === "in",
      tunnelMode: mode === "tunnel",
      outerFamily: outer,
      innerFamily: inner,
      src: pad(src.addr),
      dst: pad(dst.addr),
      cipher,
      auth,
      key,
      salt,
      authKey,
      replayWindow,
      esn: a.esn,
      natt: a.natt,
      nattSport,
      nattDport,
      ttl: 64,
      softBytes: lifetime.softBytes,
      hardBytes: lifetime.hardBytes,
      softPackets: lifetime.softPackets,
      hardPackets: lifetime.hardPackets,
    });
    if (rc !== 0) {
      this.#saIds.give(id);
      if (a.reqid !== 0) this.tunnelUnref(a.reqid);
      throw new ApiError(rc === -4 ? "ALREADY_EXISTS" : "INVALID_ARGUMENT", `the dataplane refused the SA: ${msg}`);
    }
    const out: SaOut = {
      spi: a.spi,
      protocol,
      direction,
      mode,
      src: formatAddress(src.family, src.addr),
      dst: dstText,
      innerFamily: inner,
      reqid: a.reqid,
      encryption: protocol === "esp" ? enc : "",
      integrity: integ,
      replayWindow,
      esn: a.esn,
      natt: a.natt,
      nattSport,
      nattDport,
      lifetime,
      tunnelMtu,
      state: "active",
      expiredBy: "",
      addedAt: new Date().toISOString(),
      current: false,
      packets: 0,
      bytes: 0,
      replayDrops: 0,
      authDrops: 0,
      otherDrops: 0,
    };
    this.#sas.set(k, { id, base, out, family: inner, added: Date.now(), softDone: false, hardDone: false });
    if (direction === "out") {
      try {
        this.#retunnel(a.reqid);
      } catch (err: unknown) {
        this.#sas.delete(k);
        this.#dp.saDelete(id);
        this.#saIds.release(id); // workers saw it
        this.tunnelUnref(a.reqid);
        throw err;
      }
    }
    return this.#view(this.#sas.get(k)!);
  }

  #find(protocol: string, spi: number, dst: string): [string, Sa] {
    let dstText = dst;
    try {
      const d = parseAddress(dst);
      dstText = formatAddress(d.family, d.addr);
    } catch {
      throw new ApiError("INVALID_ARGUMENT", `dst: "${dst}" is not an address`);
    }
    const k = saKey(protocol.toLowerCase(), spi, dstText);
    const sa = this.#sas.get(k);
    if (!sa) throw new ApiError("NOT_FOUND", `no ${protocol.toUpperCase() || "(protocol?)"} SA with SPI ${hex(spi)} to ${dstText}`);
    return [k, sa];
  }

  /** Changes an SA's lifetimes (the only thing that changes in place: anything else is a new SA). */
  updateSa(protocol: string, spi: number, dst: string, lifetime: Lifetime, tunnelMtu: number): SaOut {
    const [, sa] = this.#find(protocol, spi, dst);
    const l = checkLifetime(lifetime);
    if (tunnelMtu !== 0) checkTunnelMtu(tunnelMtu, sa.family);
    // Traffic limits live in the dataplane's SA: a replacement would restart its sequence
    // numbers under the same key, so they are changed there in place.
    const rc = this.#dp.saSetLife(sa.id, l.softBytes, l.hardBytes, l.softPackets, l.hardPackets);
    if (rc !== 0) throw new ApiError("INTERNAL", `the dataplane refused the lifetime change (${rc})`);
    sa.out.lifetime = l;
    if (tunnelMtu !== 0) sa.out.tunnelMtu = tunnelMtu;
    if (sa.out.direction === "out") this.#retunnel(sa.out.reqid);
    return this.#view(sa);
  }

  deleteSa(protocol: string, spi: number, dst: string): void {
    const [k, sa] = this.#find(protocol, spi, dst);
    this.#sas.delete(k);
    if (sa.out.direction === "out") this.#retunnel(sa.out.reqid);
    const [rc, msg] = this.#dp.saDelete(sa.id);
    if (rc !== 0) {
      this.#sas.set(k, sa);
      if (sa.out.direction === "out") this.#retunnel(sa.out.reqid);
      throw new ApiError("INTERNAL", `the dataplane refused to delete the SA: ${msg}`);
    }
    this.#saIds.release(sa.id);
    if (sa.out.reqid !== 0) this.tunnelUnref(sa.out.reqid);
  }

  getSa(protocol: string, spi: number, dst: string): SaOut {
    return this.#view(this.#find(protocol, spi, dst)[1]);
  }

  listSas(): SaOut[] {
    return [...this.#sas.values()].map((s) => this.#view(s));
  }

  /** Points a reqid's tunnel at its newest live outbound SA of each family. */
  #retunnel(reqid: number): void {
    const t = this.#tunnels.get(reqid)?.id;
    if (t === undefined) return; // no SA, policy or route names it: no tunnel to point
    const best: [Sa | null, Sa | null] = [null, null];
    for (const s of this.#sas.values()) {
      if (s.out.direction !== "out" || s.out.reqid !== reqid || s.out.state === "expired") continue;
      const f = s.family === 4 ? 0 : 1;
      if (!best[f] || s.added >= best[f]!.added) best[f] = s;
    }
    const ids: [number, number] = [best[0]?.id ?? NONE, best[1]?.id ?? NONE];
    // each family's inner packets are bounded by its own SA's MTU (0: the dataplane's default)
    const dflt = this.#defaultMtu;
    const [rc, msg] = this.#dp.tunnelSet(t, best[0]?.out.tunnelMtu ?? dflt, best[1]?.out.tunnelMtu ?? Math.max(dflt, IP6_MIN_MTU), ids[0], ids[1]);
    if (rc !== 0) throw new ApiError("INTERNAL", `the dataplane refused tunnel ${reqid}: ${msg}`);
    this.#tunnelOut.set(reqid, ids);
  }

  #view(s: Sa): SaOut {
    const o = { ...s.out, lifetime: { ...s.out.lifetime } };
    const cur = this.#tunnelOut.get(o.reqid);
    o.current = o.direction === "out" && cur !== undefined && cur.includes(s.id);
    return o;
  }

  /** Takes the dataplane's per-SA counters (NativeCounters.sa). */
  setCounters(sa: Float64Array): void {
    for (const s of this.#sas.values()) {
      const b = s.id * 5;
      const [packets, bytes, replay, auth, other] = [0, 1, 2, 3, 4].map((i) => (sa[b + i] ?? 0) - (s.base[i] ?? 0));
      s.out.packets = packets!;
      s.out.bytes = bytes!;
      s.out.replayDrops = replay!;
      s.out.authDrops = auth!;
      s.out.otherDrops = other!;
    }
  }

  /** Checks lifetimes: traffic limits as the dataplane counted them, time limits by the clock.
   *  Raises each expire event once; a hard time limit stops the SA in the dataplane. */
  poll(now = Date.now()): void {
    const retunnel = new Set<number>();
    for (const s of this.#sas.values()) {
      if (s.hardDone) continue;
      const st = this.#dp.saStats(s.id);
      const l = s.out.lifetime;
      const age = (now - s.added) / 1000;
      const why = (hard: boolean): string => {
        const p = hard ? l.hardPackets : l.softPackets;
        const b = hard ? l.hardBytes : l.softBytes;
        const t = hard ? l.hardSeconds : l.softSeconds;
        if (st && p && st.packets >= p) return "packets";
        if (st && b && st.bytes >= b) return "bytes";
        if (t && age >= t) return "seconds";
        return "";
      };
      if (!s.softDone) {
        const r = why(false);
        if (r !== "") {
          s.softDone = true;
          s.out.state = "soft-expired";
          this.#event(s, false, r);
        }
      }
      const r = why(true);
      if (r !== "" || st?.hardExpired) {
        s.hardDone = true;
        s.out.state = "expired";
        s.out.expiredBy = r || "packets";
        if (r === "seconds") this.#dp.saExpire(s.id);
        this.#event(s, true, s.out.expiredBy);
        if (s.out.direction === "out") retunnel.add(s.out.reqid);
      }
    }
    for (const r of retunnel) this.#retunnel(r);
  }

  #event(s: Sa, hard: boolean, reason: string): void {
    this.#onExpire({ spi: s.out.spi, protocol: s.out.protocol, direction: s.out.direction, dst: s.out.dst, reqid: s.out.reqid, hard, reason });
  }

  // ---- SPs ------------------------------------------------------------------------------------

  addSp(p: SpIn): SpOut {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/.test(p.name)) throw new ApiError("INVALID_ARGUMENT", `name: "${p.name}" is not a policy name (letters, digits, _ . : -; at most 64)`);
    if (this.#sps.has(p.name)) throw new ApiError("ALREADY_EXISTS", `name: a policy named "${p.name}" exists`);
    const direction = p.direction.toLowerCase();
    if (direction !== "in" && direction !== "out") throw new ApiError("INVALID_ARGUMENT", `direction: "${p.direction}" is neither in nor out`);
    const priority = nonNegInt(p.priority, "priority", 65535);
    const [src, dst] = endpoints(p.src, p.dst, parsePrefix, 'a prefix; "0.0.0.0/0" or "::/0" for any');
    const proto = protoOf(p.protocol, "protocol");
    const sport = rangeOf(p.sport, "sport");
    const dport = rangeOf(p.dport, "dport");
    if ((sport || dport) && proto !== null && !PORTED.has(proto)) throw new ApiError("INVALID_ARGUMENT", `protocol: port ranges need tcp, udp or sctp (or no protocol), not ${proto}`);
    const action = p.action.toLowerCase();
    if (action !== "bypass" && action !== "discard" && action !== "protect") throw new ApiError("INVALID_ARGUMENT", `action: "${p.action}" is not bypass, discard or protect`);
    if (action === "protect" && p.reqid === 0) throw new ApiError("INVALID_ARGUMENT", "reqid: a protect policy needs the reqid of its SAs");
    if (action !== "protect" && p.reqid !== 0) throw new ApiError("INVALID_ARGUMENT", `reqid: a ${action} policy names no SAs`);
    if (action === "protect") this.#checkReqid(p.reqid);
    const d = direction === "in" ? 0 : 1;
    const id = this.#spIds[d].take();
    if (id === undefined) throw new ApiError("FAILED_PRECONDITION", `the dataplane holds at most ${this.#limits.sps} policies per direction`);
    const tunnel = action === "protect" ? this.tunnelRef(p.reqid) : 0; // held while the policy exists
    const pad = (b: Uint8Array): Uint8Array => {
      const o = new Uint8Array(16);
      o.set(b);
      return o;
    };
    const hits = this.#dp.counters();
    const sp: Sp = {
      id,
      base: (d === 0 ? hits.spIn : hits.spOut)[id] ?? 0,
      seq: ++this.#spSeq,
      out: { name: p.name, direction, priority, src: formatPrefix(src), dst: formatPrefix(dst), protocol: proto === null ? "" : String(proto), sport: sport ? `${sport[0]}-${sport[1]}` : "", dport: dport ? `${dport[0]}-${dport[1]}` : "", action, reqid: p.reqid, hits: 0 },
      native: { id, family: src.family, src: pad(src.addr), srcLen: src.len, dst: pad(dst.addr), dstLen: dst.len, proto: proto ?? -1, action: action === "bypass" ? 0 : action === "discard" ? 1 : 2, tunnel, sport: sport ?? [0, 65535], dport: dport ?? [0, 65535] },
    };
    this.#sps.set(p.name, sp);
    try {
      this.#pushSpd(direction);
    } catch (err: unknown) {
      this.#sps.delete(p.name);
      this.#spIds[d].give(id);
      if (action === "protect") this.tunnelUnref(p.reqid);
      throw err;
    }
    return { ...sp.out };
  }

  deleteSp(name: string): void {
    const sp = this.#sps.get(name);
    if (!sp) throw new ApiError("NOT_FOUND", `name: no policy named "${name}"`);
    this.#sps.delete(name);
    try {
      this.#pushSpd(sp.out.direction);
    } catch (err: unknown) {
      this.#sps.set(name, sp);
      throw err;
    }
    this.#spIds[sp.out.direction === "in" ? 0 : 1].release(sp.id);
    if (sp.out.action === "protect") this.tunnelUnref(sp.out.reqid);
  }

  /** The name of the policy with dataplane id `id` in a direction (for explain). */
  policyName(direction: Direction, id: number): string | null {
    for (const s of this.#sps.values()) if (s.id === id && s.out.direction === direction) return s.out.name;
    return null;
  }

  /** The reqid whose dataplane tunnel has id `tunnel` (for explain). */
  reqidOf(tunnel: number): number | null {
    for (const [reqid, t] of this.#tunnels) if (t.id === tunnel) return reqid;
    return null;
  }

  listSps(hits?: { in: Float64Array; out: Float64Array }): SpOut[] {
    return this.#ordered(null).map((s) => ({ ...s.out, hits: hits ? ((s.out.direction === "in" ? hits.in : hits.out)[s.id] ?? 0) - s.base : 0 }));
  }

  #ordered(direction: Direction | null): Sp[] {
    return [...this.#sps.values()].filter((s) => direction === null || s.out.direction === direction).sort((a, b) => a.out.priority - b.out.priority || a.seq - b.seq);
  }

  #pushSpd(direction: Direction): void {
    const [rc, msg] = this.#dp.spdSet(direction === "in" ? 0 : 1, this.#ordered(direction).map((s) => s.native));
    if (rc !== 0) throw new ApiError("INTERNAL", `the dataplane refused the ${direction}bound policies: ${msg}`);
  }
}
