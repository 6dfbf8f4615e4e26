/**
 * The RIB: every candidate route of every owner, per sub-FIB, and the best one of each prefix.
 *
 * Owners are the configuration file ("config"), the router's own interfaces ("connected") and
 * API clients by name. Each candidate carries its owner's administrative distance; the best
 * candidate of a prefix is the one with the lowest distance, ties going to the one added first
 * (a replacement keeps its place). Only the best candidate reaches the dataplane: set() and
 * delete() say when the best of a prefix changed, and the caller hands that to the driver.
 *
 * Stale marks (mark-and-sweep resync, controllers that went away) are per candidate: a stale
 * route keeps forwarding until it is swept.
 *
 * Nothing here validates: callers check prefixes, owners and nexthop groups first. Keys are the
 * sub-FIB key ("<fib>.<sub>") and the canonical prefix text (prefixKey).
 *
 * Memory: a full table is a million prefixes, nearly all with one candidate, so a prefix with one
 * candidate holds just that object (no array, no prefix bytes: the text is the key and the
 * family is in it), and per-owner counts are numbers rather than indexes. The operations that
 * need an owner's routes (mark, sweep, distance change) are rare and walk the tables. How a table
 * keys its prefixes is Table's business.
 */

export interface Candidate {
  owner: string;
  distance: number;
  /** insertion order, for ties */
  seq: number;
  /** nexthop group key (plan.ts) */
  nhg: string;
  stale: boolean;
}

/** One candidate, or several sorted best first. */
type Slot = Candidate | Candidate[];

/**
 * What find() saw for a prefix, to hand back to set() or delete() so that they skip the lookup:
 * valid until the next change of that prefix.
 */
export type RibSlot = Slot | null;

/**
 * What set() and delete() report: undefined when the best route of the prefix is what it was
 * (same owner, same group); otherwise the best's nexthop group key now, or null when the prefix
 * has no route any more.
 */
export type BestNow = string | null | undefined;

/** Best-route changes of one sub-FIB, in order: texts[i] now forwards to nhgs[i] (null: no route). */
export class RouteChanges {
  readonly texts: string[] = [];
  readonly nhgs: (string | null)[] = [];

  push(text: string, nhg: string | null): void {
    this.texts.push(text);
    this.nhgs.push(nhg);
  }

  get length(): number {
    return this.texts.length;
  }

  slice(from: number, to: number): RouteChanges {
    const c = new RouteChanges();
    c.texts.push(...this.texts.slice(from, to));
    c.nhgs.push(...this.nhgs.slice(from, to));
    return c;
  }
}

/** Best-route changes by sub-FIB. */
export class ChangeSet extends Map<string, RouteChanges> {
  add(sub: string, text: string, nhg: BestNow): void {
    if (nhg === undefined) return;
    let c = this.get(sub);
    if (!c) this.set(sub, (c = new RouteChanges()));
    c.push(text, nhg);
  }
}

/** IPv4 maps per prefix length (see Table). */
const V4_SPLIT = 16;

// parse4's result (single-threaded scratch)
let p4Addr = 0;
let p4Len = 0;

/** Reads canonical IPv4 prefix text into p4Addr / p4Len; false for IPv6 text. Only for text that
 *  prefixKey produced or accepted: it does not validate. */
function parse4(text: string): boolean {
  let v = 0;
  let o = 0;
  let i = 0;
  for (; ; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      v = (v << 8) | o;
      o = 0;
    } else if (c === 47) break;
    else if (c === 58 || c !== c) return false; // ":" (IPv6), or the end without a "/"
    else o = o * 10 + c - 48;
  }
  let len = 0;
  for (i++; i < text.length; i++) len = len * 10 + text.charCodeAt(i) - 48;
  p4Addr = ((v << 8) | o) | 0;
  p4Len = len;
  return true;
}

/**
 * One sub-FIB's prefixes. IPv4 prefixes are keyed by their address as an int32 (no string to hash
 * or compare: a full table is nine in ten IPv4) in maps per length, each split V4_SPLIT ways by
 * the address bits just above the length; IPv6 prefixes by their text in one map. Small maps also
 * keep a JS Map's growth, which rehashes all of it at once, from stalling the event loop for tens
 * of milliseconds at a million entries. Iteration goes map by map, not in insertion order.
 */
class Table {
  readonly #v4: Map<number, Slot>[] = Array.from({ length: 33 * V4_SPLIT }, () => new Map<number, Slot>());
  readonly #v6 = new Map<string, Slot>();

  /** The IPv4 map of p4Addr / p4Len. */
  #map4(): Map<number, Slot> {
    const part = p4Len < 4 ? 0 : (p4Addr >>> (32 - p4Len)) & (V4_SPLIT - 1);
    return this.#v4[p4Len * V4_SPLIT + part]!;
  }

  get(text: string): Slot | undefined {
    return parse4(text) ? this.#map4().get(p4Addr) : this.#v6.get(text);
  }

  set(text: string, s: Slot): void {
    if (parse4(text)) this.#map4().set(p4Addr, s);
    else this.#v6.set(text, s);
  }

  delete(text: string): void {
    if (parse4(text)) this.#map4().delete(p4Addr);
    else this.#v6.delete(text);
  }

  get size(): number {
    let n = this.#v6.size;
    for (const m of this.#v4) n += m.size;
    return n;
  }

  *[Symbol.iterator](): Generator<[string, Slot]> {
    for (let k = 0; k < this.#v4.length; k++) {
      const len = Math.floor(k / V4_SPLIT);
      for (const [a, s] of this.#v4[k]!) yield [`${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${len}`, s];
    }
    yield* this.#v6;
  }

  *values(): Generator<Slot> {
    for (const m of this.#v4) yield* m.values();
    yield* this.#v6.values();
  }
}

function better(a: Candidate, b: Candidate): number {
  return a.distance - b.distance || a.seq - b.seq;
}

function first(s: Slot): Candidate {
  return Array.isArray(s) ? s[0]! : s;
}

export class Rib {
  readonly #tables = new Map<string, Table>();
  /** routes per owner, and how many of them are stale */
  readonly #count = new Map<string, number>();
  readonly #stale = new Map<string, number>();
  /** candidates per nexthop group key */
  readonly #nhgUse = new Map<string, number>();
  #seq = 0;

  static #bump(m: Map<string, number>, k: string, d: number): void {
    const n = (m.get(k) ?? 0) + d;
    if (n === 0) m.delete(k);
    else m.set(k, n);
  }

  subfibs(): IterableIterator<string> {
    return this.#tables.keys();
  }

  hasSubfib(sub: string): boolean {
    return this.#tables.has(sub);
  }

  addSubfib(sub: string): void {
    if (!this.#tables.has(sub)) this.#tables.set(sub, new Table());
  }

  /** Prefixes with a route in a sub-FIB. */
  size(sub: string): number {
    return this.#tables.get(sub)?.size ?? 0;
  }

  /** Every prefix of a sub-FIB with its candidates, best first. */
  *entries(sub: string): Generator<[string, readonly Candidate[]]> {
    const t = this.#tables.get(sub);
    if (!t) return;
    for (const [text, s] of t) yield [text, Array.isArray(s) ? s : [s]];
  }

  /** Every prefix of a sub-FIB with its best route's nexthop group key. */
  *bests(sub: string): Generator<[string, string]> {
    const t = this.#tables.get(sub);
    if (!t) return;
    for (const [text, s] of t) yield [text, first(s).nhg];
  }

  /** Drops a sub-FIB and everything in it (the caller withdrew what it had installed). */
  dropSubfib(sub: string): void {
    const t = this.#tables.get(sub);
    if (!t) return;
    for (const s of t.values()) {
      for (const c of Array.isArray(s) ? s : [s]) {
        Rib.#bump(this.#count, c.owner, -1);
        if (c.stale) Rib.#bump(this.#stale, c.owner, -1);
        Rib.#bump(this.#nhgUse, c.nhg, -1);
      }
    }
    this.#tables.delete(sub);
  }

  /** The candidates of a prefix, best first. */
  get(sub: string, text: string): readonly Candidate[] | undefined {
    const s = this.#tables.get(sub)?.get(text);
    return s === undefined ? undefined : Array.isArray(s) ? s : [s];
  }

  best(sub: string, text: string): Candidate | undefined {
    const s = this.#tables.get(sub)?.get(text);
    return s === undefined ? undefined : first(s);
  }

  candidate(sub: string, text: string, owner: string): Candidate | undefined {
    const s = this.#tables.get(sub)?.get(text);
    return s === undefined ? undefined : Rib.ownerIn(s, owner);
  }

  /** The routes of a prefix as they are now (see RibSlot). */
  find(sub: string, text: string): RibSlot {
    return this.#tables.get(sub)?.get(text) ?? null;
  }

  /** An owner's route in what find() returned. */
  static ownerIn(s: RibSlot, owner: string): Candidate | undefined {
    if (s === null) return undefined;
    if (!Array.isArray(s)) return s.owner === owner ? s : undefined;
    return s.find((c) => c.owner === owner);
  }

  /** Adds or replaces owner's route; `known` is what find() returned for the prefix, if the
   *  caller has it. */
  set(sub: string, text: string, owner: string, distance: number, nhg: string, known?: RibSlot): BestNow {
    const t = this.#tables.get(sub);
    if (!t) throw new Error(`internal: no RIB table ${sub}`);
    const s = known === undefined ? t.get(text) : known === null ? undefined : known;
    if (s === undefined) {
      t.set(text, { owner, distance, seq: this.#seq++, nhg, stale: false });
      Rib.#bump(this.#count, owner, 1);
      Rib.#bump(this.#nhgUse, nhg, 1);
      return nhg;
    }
    const before = first(s);
    const beforeNhg = before.nhg;
    const beforeOwner = before.owner;
    const list = Array.isArray(s) ? s : null;
    const one = list ? null : (s as Candidate);
    const have = list ? list.find((c) => c.owner === owner) : one!.owner === owner ? one! : undefined;
    Rib.#bump(this.#nhgUse, nhg, 1);
    if (have) {
      Rib.#bump(this.#nhgUse, have.nhg, -1);
      have.nhg = nhg;
      if (have.stale) {
        have.stale = false;
        Rib.#bump(this.#stale, owner, -1);
      }
      if (have.distance !== distance) {
        have.distance = distance;
        if (list) list.sort(better);
      }
    } else {
      const c: Candidate = { owner, distance, seq: this.#seq++, nhg, stale: false };
      Rib.#bump(this.#count, owner, 1);
      if (list) list.push(c);
      const l = list ?? [one!, c];
      l.sort(better);
      if (!list) t.set(text, l);
      const best = l[0]!;
      return best.nhg === beforeNhg && best.owner === beforeOwner ? undefined : best.nhg;
    }
    const best = list ? list[0]! : one!;
    return best.nhg === beforeNhg && best.owner === beforeOwner ? undefined : best.nhg;
  }

  /** Removes owner's route; `known` as for set(). */
  delete(sub: string, text: string, owner: string, known?: RibSlot): BestNow {
    const t = this.#tables.get(sub);
    const s = known === undefined ? t?.get(text) : known === null ? undefined : known;
    if (!t || s === undefined) return undefined;
    const list = Array.isArray(s) ? s : null;
    const i = list ? list.findIndex((c) => c.owner === owner) : (s as Candidate).owner === owner ? 0 : -1;
    if (i < 0) return undefined;
    const was = first(s);
    const gone = list ? list[i]! : (s as Candidate);
    Rib.#bump(this.#nhgUse, gone.nhg, -1);
    Rib.#bump(this.#count, owner, -1);
    if (gone.stale) Rib.#bump(this.#stale, owner, -1);
    if (!list) {
      t.delete(text);
      return null;
    }
    list.splice(i, 1);
    if (list.length === 1) t.set(text, list[0]!);
    const best = list[0]!;
    return best.nhg === was.nhg && best.owner === was.owner ? undefined : best.nhg;
  }

  /** Routes an owner holds. */
  count(owner: string): number {
    return this.#count.get(owner) ?? 0;
  }

  /** Of those, the stale ones. */
  countStale(owner: string): number {
    return this.#stale.get(owner) ?? 0;
  }

  /** The (sub-FIB, prefix, candidate) of every route of an owner. */
  *#owned(owner: string): Generator<[string, string, Candidate]> {
    if (!this.#count.has(owner)) return;
    for (const [sub, t] of this.#tables) {
      for (const [text, s] of t) {
        if (!Array.isArray(s)) {
          if (s.owner === owner) yield [sub, text, s];
        } else {
          const c = s.find((x) => x.owner === owner);
          if (c) yield [sub, text, c];
        }
      }
    }
  }

  /** Marks every route of an owner stale; returns how many were not stale yet. */
  markStale(owner: string): number {
    let n = 0;
    for (const [, , c] of this.#owned(owner)) {
      if (c.stale) continue;
      c.stale = true;
      n++;
    }
    if (n > 0) Rib.#bump(this.#stale, owner, n);
    return n;
  }

  /** Marks one route of an owner stale (undo of a batch that had refreshed it). */
  markStaleOne(sub: string, text: string, owner: string): void {
    const c = this.candidate(sub, text, owner);
    if (!c || c.stale) return;
    c.stale = true;
    Rib.#bump(this.#stale, owner, 1);
  }

  /** The stale routes of an owner, as (sub, text) pairs. */
  staleOf(owner: string): [string, string][] {
    const out: [string, string][] = [];
    if (this.countStale(owner) === 0) return out;
    for (const [sub, text, c] of this.#owned(owner)) if (c.stale) out.push([sub, text]);
    return out;
  }

  /** Changes an owner's distance on all its routes; returns the best changes. */
  setDistance(owner: string, distance: number): ChangeSet {
    const out = new ChangeSet();
    const todo = [...this.#owned(owner)].filter(([, , c]) => c.distance !== distance);
    for (const [sub, text, c] of todo) out.add(sub, text, this.set(sub, text, owner, distance, c.nhg));
    return out;
  }

  /** How many routes in all use a nexthop group key (any candidate). */
  usesOf(nhg: string): number {
    return this.#nhgUse.get(nhg) ?? 0;
  }
}
