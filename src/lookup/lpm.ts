/**
 * createLpm — the typed handle over one native longest-prefix-match table.
 *
 * Every argument is validated here, with an exact message, before native code runs; a call that
 * throws leaves the table unchanged. Next hops are integers in [0, 0xFFFFFFFE] (in srcfib, a
 * nexthop-group index); lookups return null, and lookupBatch writes 0xFFFFFFFF, for no route.
 * One table holds at most 65,535 distinct next-hop values at a time (its leaves store 16-bit
 * codes; see native/lookup/lpm.h).
 */
import { SrcfibError } from "./errors.js";
import { loadNative, type LpmNativeStats, type NativeLpm } from "./native.js";
import { formatPrefix, packPrefixes, parseAddress, parsePrefix, type Family, type Prefix } from "./prefix.js";

export const LPM_MISS = 0xffffffff;
export const LPM_NH_MAX = 0xfffffffe;
export const LPM_DISTINCT_NH_MAX = 65535;

export type LpmStats = Omit<LpmNativeStats, "pendingBlocks">;

export interface Lpm {
  readonly family: Family;
  /** Inserts prefix -> nh, or replaces its next hop. Returns the previous next hop or null. */
  insert(prefix: string, nh: number): number | null;
  /** Removes a prefix; RangeError if it is not in the table. Returns its next hop. */
  remove(prefix: string): number;
  /** Exact match on the prefix: its next hop, or null. */
  get(prefix: string): number | null;
  lookup(addr: string): number | null;
  /** Packed 4- or 16-byte addresses in network order; out[i] = next hop or 0xFFFFFFFF. */
  lookupBatch(addrs: Uint8Array, out: Uint32Array): void;
  stats(): LpmStats;
  /**
   * Replaces the whole content with these routes, built off the event loop and published at
   * once (lookups see the old table until then). Later duplicates of a prefix win.
   */
  load(prefixes: readonly string[], nhs: Uint32Array | readonly number[]): Promise<void>;
  /** load() for input that is already packed (4 or 16 bytes per address) and validated. */
  loadPacked(addrs: Uint8Array, lens: Uint8Array, nhs: Uint32Array): Promise<void>;
  /** Every route, in prefix order. */
  routes(): Array<{ prefix: string; nh: number }>;
}

function checkNextHop(nh: unknown, where: string): number {
  if (typeof nh !== "number" || !Number.isInteger(nh)) {
    throw new TypeError(`${where}: next hop must be an integer, got ${typeof nh === "number" ? String(nh) : typeof nh}`);
  }
  if (nh < 0 || nh > LPM_NH_MAX) {
    throw new RangeError(`${where}: next hop ${nh} out of range 0-${LPM_NH_MAX}`);
  }
  return nh;
}

class LpmTable implements Lpm {
  readonly family: Family;
  readonly #native: NativeLpm;
  readonly #width: number;
  #loading = false;

  constructor(family: Family) {
    this.family = family;
    this.#width = family === 4 ? 4 : 16;
    const addon = loadNative();
    this.#native = new addon.NativeLpm(family);
  }

  #writable(op: string): void {
    if (this.#loading) {
      throw new SrcfibError("EBUSY", `${op}: the table is being rebuilt by load(); wait for it to finish`);
    }
  }

  #status(rc: number, what: string, p: Prefix, nh?: number): never {
    const status = loadNative().lpmStatus;
    switch (rc) {
      case status.NOENT:
        throw new RangeError(`cannot remove ${formatPrefix(p)}: not in the table`);
      case status.NH_FULL:
        throw new RangeError(
          `cannot ${what} ${formatPrefix(p)} -> ${String(nh)}: the table already holds ${LPM_DISTINCT_NH_MAX} distinct next hops (the limit)`,
        );
      case status.NOMEM:
        throw new SrcfibError("ENOMEM", `cannot ${what} ${formatPrefix(p)}: out of memory (table unchanged)`);
      default:
        throw new SrcfibError("ENATIVE", `cannot ${what} ${formatPrefix(p)}: native status ${rc}`);
    }
  }

  insert(prefix: string, nh: number): number | null {
    const p = parsePrefix(prefix, this.family);
    checkNextHop(nh, `insert ${prefix}`);
    this.#writable("insert");
    const rc = this.#native.add(p.addr, p.len, nh);
    if (rc < 0) this.#status(rc, "insert", p, nh);
    return rc === LPM_MISS ? null : rc;
  }

  remove(prefix: string): number {
    const p = parsePrefix(prefix, this.family);
    this.#writable("remove");
    const rc = this.#native.delete(p.addr, p.len);
    if (rc < 0) this.#status(rc, "remove", p);
    return rc;
  }

  get(prefix: string): number | null {
    const p = parsePrefix(prefix, this.family);
    const rc = this.#native.get(p.addr, p.len);
    return rc < 0 ? null : rc;
  }

  lookup(addr: string): number | null {
    const a = parseAddress(addr, this.family);
    const nh = this.#native.lookup(a.addr);
    return nh === LPM_MISS ? null : nh;
  }

  lookupBatch(addrs: Uint8Array, out: Uint32Array): void {
    if (!(addrs instanceof Uint8Array)) {
      throw new TypeError(`lookupBatch: addrs must be a Uint8Array of packed addresses, got ${typeof addrs}`);
    }
    if (!(out instanceof Uint32Array)) {
      throw new TypeError(`lookupBatch: out must be a Uint32Array, got ${typeof out}`);
    }
    if (addrs.length % this.#width !== 0) {
      throw new RangeError(
        `lookupBatch: addrs holds ${addrs.length} bytes, not a multiple of ${this.#width} (IPv${this.family} addresses)`,
      );
    }
    const n = addrs.length / this.#width;
    if (out.length < n) {
      throw new RangeError(`lookupBatch: out has room for ${out.length} results, ${n} addresses given`);
    }
    this.#native.lookupBatch(addrs, out);
  }

  stats(): LpmStats {
    const { pendingBlocks: _internal, ...stats } = this.#native.stats();
    return stats;
  }

  async load(prefixes: readonly string[], nhs: Uint32Array | readonly number[]): Promise<void> {
    if (prefixes.length !== nhs.length) {
      throw new RangeError(`load: ${prefixes.length} prefixes but ${nhs.length} next hops`);
    }
    const packed = packPrefixes(prefixes, this.family);
    const hops = new Uint32Array(nhs.length);
    for (let i = 0; i < nhs.length; i++) hops[i] = checkNextHop(nhs[i], `load entry ${i} (${prefixes[i]})`);
    await this.loadPacked(packed.addrs, packed.lens, hops);
  }

  async loadPacked(addrs: Uint8Array, lens: Uint8Array, nhs: Uint32Array): Promise<void> {
    this.#writable("load");
    this.#loading = true;
    let rc: number;
    try {
      rc = await this.#native.build(addrs, lens, nhs);
    } finally {
      this.#loading = false;
    }
    const status = loadNative().lpmStatus;
    if (rc === status.NH_FULL) {
      throw new RangeError(`load: more than ${LPM_DISTINCT_NH_MAX} distinct next hops (table unchanged)`);
    }
    if (rc === status.NOMEM) throw new SrcfibError("ENOMEM", "load: out of memory (table unchanged)");
    if (rc !== status.OK) throw new SrcfibError("ENATIVE", `load: native status ${rc} (table unchanged)`);
  }

  routes(): Array<{ prefix: string; nh: number }> {
    const w = this.#native.walk();
    const out: Array<{ prefix: string; nh: number }> = [];
    for (let i = 0; i < w.lens.length; i++) {
      const addr = w.addrs.subarray(i * this.#width, (i + 1) * this.#width);
      out.push({ prefix: formatPrefix({ family: this.family, addr, len: w.lens[i] ?? 0 }), nh: w.nhs[i] ?? 0 });
    }
    return out;
  }
}

/** A new, empty table for IPv4 (4) or IPv6 (6). */
export function createLpm(family: 4 | 6): Lpm {
  if (family !== 4 && family !== 6) {
    throw new TypeError(`createLpm: family must be 4 or 6, got ${String(family)}`);
  }
  return new LpmTable(family);
}
