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

/** A prefix's routes: one candidate (its index in the Pool), or several, sorted best first. */
type Slot = number | number[];

/**
 * What find() saw for a prefix, to hand back to set() or delete() so that they skip the lookup:
 * valid until the next change of that prefix.
 */
export type RibSlot = Slot | null;

/**
 * The candidates themselves, as columns of typed arrays indexed by a small integer: a full table
 * is a million of them, and as JS objects each would be copied by the young-generation collector
 * on its way to the old one (pauses of 10-20 ms while a table loads) and then marked on every
 * full collection. Owners and nexthop group keys are interned.
 */
const SEG_BITS = 16;
const SEG = 1 << SEG_BITS;

class Pool {
  // Columns in segments of SEG entries: growing adds a segment instead of copying a million.
  readonly #owner: Uint16Array[] = [];
  readonly #distance: Uint16Array[] = [];
  readonly #nhg: Uint32Array[] = [];
  readonly #stale: Uint8Array[] = [];
  readonly #seq: Float64Array[] = [];
  #next = 0;
  readonly #free: number[] = [];
  readonly ownerNames: string[] = [];
  readonly #ownerIds = new Map<string, number>();
  readonly nhgKeys: string[] = [];
  readonly #nhgIds = new Map<string, number>();
  readonly #nhgRefs: number[] = [];
  readonly #nhgFree: number[] = [];

  ownerAt(i: number): number {
    return this.#owner[i >>> SEG_BITS]![i & (SEG - 1)]!;
  }
  distAt(i: number): number {
    return this.#distance[i >>> SEG_BITS]![i & (SEG - 1)]!;
  }
  nhgAt(i: number): number {
    return this.#nhg[i >>> SEG_BITS]![i & (SEG - 1)]!;
  }
  staleAt(i: number): boolean {
    return this.#stale[i >>> SEG_BITS]![i & (SEG - 1)] === 1;
  }
  seqAt(i: number): number {
    return this.#seq[i >>> SEG_BITS]![i & (SEG - 1)]!;
  }
  setDist(i: number, v: number): void {
    this.#distance[i >>> SEG_BITS]![i & (SEG - 1)] = v;
  }
  setStale(i: number, v: boolean): void {
    this.#stale[i >>> SEG_BITS]![i & (SEG - 1)] = v ? 1 : 0;
  }

  alloc(owner: string, distance: number, seq: number, nhg: string): number {
    let i = this.#free.pop();
    if (i === undefined) {
      i = this.#next++;
      if ((i & (SEG - 1)) === 0) {
        this.#owner.push(new Uint16Array(SEG));
        this.#distance.push(new Uint16Array(SEG));
        this.#nhg.push(new Uint32Array(SEG));
        this.#stale.push(new Uint8Array(SEG));
        this.#seq.push(new Float64Array(SEG));
      }
    }
    const g = i >>> SEG_BITS;
    const k = i & (SEG - 1);
    this.#owner[g]![k] = this.ownerId(owner);
    this.#distance[g]![k] = distance;
    this.#seq[g]![k] = seq;
    this.#nhg[g]![k] = this.#nhgRef(nhg);
    this.#stale[g]![k] = 0;
    return i;
  }

  release(i: number): void {
    this.#nhgUnref(this.nhgAt(i));
    this.#free.push(i);
  }

  setNhg(i: number, nhg: string): void {
    const id = this.#nhgRef(nhg);
    this.#nhgUnref(this.nhgAt(i));
    this.#nhg[i >>> SEG_BITS]![i & (SEG - 1)] = id;
  }

  ownerId(name: string): number {
    let id = this.#ownerIds.get(name);
    if (id === undefined) {
      id = this.ownerNames.length;
      if (id > 0xffff) throw new Error("internal: more than 65536 route owners");
      this.ownerNames.push(name);
      this.#ownerIds.set(name, id);
    }
    return id;
  }

  /** The owner id of a name, or -1 when it never owned a route. */
  ownerIdOf(name: string): number {
    return this.#ownerIds.get(name) ?? -1;
  }

  nhgKeyAt(i: number): string {
    return this.nhgKeys[this.nhgAt(i)]!;
  }

  view(i: number): Candidate {
    return { owner: this.ownerNames[this.ownerAt(i)]!, distance: this.distAt(i), seq: this.seqAt(i), nhg: this.nhgKeyAt(i), stale: this.staleAt(i) };
  }

  #nhgRef(key: string): number {
    let id = this.#nhgIds.get(key);
    if (id === undefined) {
      id = this.#nhgFree.pop() ?? this.nhgKeys.length;
      this.nhgKeys[id] = key;
      this.#nhgRefs[id] = 0;
      this.#nhgIds.set(key, id);
    }
    this.#nhgRefs[id]!++;
    return id;
  }

  #nhgUnref(id: number): void {
    if (--this.#nhgRefs[id]! > 0) return;
    this.#nhgIds.delete(this.nhgKeys[id]!);
    this.#nhgFree.push(id);
  }
}

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

export class Rib {
  readonly #tables = new Map<string, Table>();
  readonly #pool = new Pool();
  /** routes per owner id, and how many of them are stale */
  readonly #count: number[] = [];
  readonly #stale: number[] = [];
  /** candidates per nexthop group key */
  readonly #nhgUse = new Map<string, number>();
  #seq = 0;

  #better = (a: number, b: number): number => {
    const p = this.#pool;
    return p.distAt(a) - p.distAt(b) || p.seqAt(a) - p.seqAt(b);
  };

  #use(nhg: string, d: number): void {
    const n = (this.#nhgUse.get(nhg) ?? 0) + d;
    if (n === 0) this.#nhgUse.delete(nhg);
    else this.#nhgUse.set(nhg, n);
  }

  #first(s: Slot): number {
    return typeof s === "number" ? s : s[0]!;
  }

  /** The pool index of owner's candidate in a slot, or -1. */
  #indexIn(s: Slot, oid: number): number {
    const p = this.#pool;
    if (typeof s === "number") return p.ownerAt(s) === oid ? s : -1;
    for (const i of s) if (p.ownerAt(i) === oid) return i;
    return -1;
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

  #views(s: Slot): Candidate[] {
    return typeof s === "number" ? [this.#pool.view(s)] : s.map((i) => this.#pool.view(i));
  }

  /** Every prefix of a sub-FIB with its candidates, best first. */
  *entries(sub: string): Generator<[string, readonly Candidate[]]> {
    const t = this.#tables.get(sub);
    if (!t) return;
    for (const [text, s] of t) yield [text, this.#views(s)];
  }

  /** Every prefix of a sub-FIB with its best route's nexthop group key. */
  *bests(sub: string): Generator<[string, string]> {
    const t = this.#tables.get(sub);
    if (!t) return;
    const p = this.#pool;
    for (const [text, s] of t) yield [text, p.nhgKeyAt(this.#first(s))];
  }

  /** Drops a sub-FIB and everything in it (the caller withdrew what it had installed). */
  dropSubfib(sub: string): void {
    const t = this.#tables.get(sub);
    if (!t) return;
    const p = this.#pool;
    for (const s of t.values()) {
      for (const i of typeof s === "number" ? [s] : s) {
        const o = p.ownerAt(i);
        this.#count[o]!--;
        if (p.staleAt(i)) this.#stale[o]!--;
        this.#use(p.nhgKeyAt(i), -1);
        p.release(i);
      }
    }
    this.#tables.delete(sub);
  }

  /** The candidates of a prefix, best first. */
  get(sub: string, text: string): readonly Candidate[] | undefined {
    const s = this.#tables.get(sub)?.get(text);
    return s === undefined ? undefined : this.#views(s);
  }

  best(sub: string, text: string): Candidate | undefined {
    const s = this.#tables.get(sub)?.get(text);
    return s === undefined ? undefined : this.#pool.view(this.#first(s));
  }

  candidate(sub: string, text: string, owner: string): Candidate | undefined {
    const s = this.#tables.get(sub)?.get(text);
    return s === undefined ? undefined : this.ownerIn(s, owner);
  }

  /** The routes of a prefix as they are now (see RibSlot). */
  find(sub: string, text: string): RibSlot {
    return this.#tables.get(sub)?.get(text) ?? null;
  }

  /** An owner's route in what find() returned. */
  ownerIn(s: RibSlot, owner: string): Candidate | undefined {
    if (s === null) return undefined;
    const oid = this.#pool.ownerIdOf(owner);
    if (oid < 0) return undefined;
    const i = this.#indexIn(s, oid);
    return i < 0 ? undefined : this.#pool.view(i);
  }

  /** Adds or replaces owner's route; `known` is what find() returned for the prefix, if the
   *  caller has it. */
  set(sub: string, text: string, owner: string, distance: number, nhg: string, known?: RibSlot): BestNow {
    const t = this.#tables.get(sub);
    if (!t) throw new Error(`internal: no RIB table ${sub}`);
    const s = known === undefined ? t.get(text) : known === null ? undefined : known;
    const p = this.#pool;
    const oid = p.ownerId(owner);
    if (s === undefined) {
      t.set(text, p.alloc(owner, distance, this.#seq++, nhg));
      this.#count[oid] = (this.#count[oid] ?? 0) + 1;
      this.#use(nhg, 1);
      return nhg;
    }
    const b0 = this.#first(s);
    const beforeNhg = p.nhgAt(b0);
    const beforeOwner = p.ownerAt(b0);
    const have = this.#indexIn(s, oid);
    this.#use(nhg, 1);
    let best: number;
    if (have >= 0) {
      this.#use(p.nhgKeyAt(have), -1);
      p.setNhg(have, nhg);
      if (p.staleAt(have)) {
        p.setStale(have, false);
        this.#stale[oid]!--;
      }
      if (p.distAt(have) !== distance) {
        p.setDist(have, distance);
        if (typeof s !== "number") s.sort(this.#better);
      }
      best = this.#first(s);
    } else {
      const c = p.alloc(owner, distance, this.#seq++, nhg);
      this.#count[oid] = (this.#count[oid] ?? 0) + 1;
      const l = typeof s === "number" ? [s, c] : s;
      if (typeof s !== "number") l.push(c);
      l.sort(this.#better);
      if (typeof s === "number") t.set(text, l);
      best = l[0]!;
    }
    return p.nhgAt(best) === beforeNhg && p.ownerAt(best) === beforeOwner ? undefined : p.nhgKeyAt(best);
  }

  /** Removes owner's route; `known` as for set(). */
  delete(sub: string, text: string, owner: string, known?: RibSlot): BestNow {
    const t = this.#tables.get(sub);
    const s = known === undefined ? t?.get(text) : known === null ? undefined : known;
    if (!t || s === undefined) return undefined;
    const p = this.#pool;
    const oid = p.ownerIdOf(owner);
    const i = oid < 0 ? -1 : this.#indexIn(s, oid);
    if (i < 0) return undefined;
    const was = this.#first(s);
    const wasNhg = p.nhgAt(was);
    const wasOwner = p.ownerAt(was);
    this.#use(p.nhgKeyAt(i), -1);
    this.#count[oid]!--;
    if (p.staleAt(i)) this.#stale[oid]!--;
    p.release(i);
    if (typeof s === "number") {
      t.delete(text);
      return null;
    }
    s.splice(s.indexOf(i), 1);
    if (s.length === 1) t.set(text, s[0]!);
    const best = s[0]!;
    return p.nhgAt(best) === wasNhg && p.ownerAt(best) === wasOwner ? undefined : p.nhgKeyAt(best);
  }

  /** Routes an owner holds. */
  count(owner: string): number {
    const oid = this.#pool.ownerIdOf(owner);
    return oid < 0 ? 0 : (this.#count[oid] ?? 0);
  }

  /** Of those, the stale ones. */
  countStale(owner: string): number {
    const oid = this.#pool.ownerIdOf(owner);
    return oid < 0 ? 0 : (this.#stale[oid] ?? 0);
  }

  /** The (sub-FIB, prefix, pool index) of every route of an owner. */
  *#owned(owner: string): Generator<[string, string, number]> {
    if (this.count(owner) === 0) return;
    const oid = this.#pool.ownerIdOf(owner);
    for (const [sub, t] of this.#tables) {
      for (const [text, s] of t) {
        const i = this.#indexIn(s, oid);
        if (i >= 0) yield [sub, text, i];
      }
    }
  }

  /** Marks every route of an owner stale; returns how many were not stale yet. */
  markStale(owner: string): number {
    const p = this.#pool;
    let n = 0;
    for (const [, , i] of this.#owned(owner)) {
      if (p.staleAt(i)) continue;
      p.setStale(i, true);
      n++;
    }
    if (n > 0) {
      const oid = p.ownerIdOf(owner);
      this.#stale[oid] = (this.#stale[oid] ?? 0) + n;
    }
    return n;
  }

  /** Marks one route of an owner stale (undo of a batch that had refreshed it). */
  markStaleOne(sub: string, text: string, owner: string): void {
    const s = this.#tables.get(sub)?.get(text);
    const oid = this.#pool.ownerIdOf(owner);
    if (s === undefined || oid < 0) return;
    const i = this.#indexIn(s, oid);
    if (i < 0 || this.#pool.staleAt(i)) return;
    this.#pool.setStale(i, true);
    this.#stale[oid] = (this.#stale[oid] ?? 0) + 1;
  }

  /** The stale routes of an owner, as (sub, text) pairs. */
  staleOf(owner: string): [string, string][] {
    const out: [string, string][] = [];
    if (this.countStale(owner) === 0) return out;
    for (const [sub, text, i] of this.#owned(owner)) if (this.#pool.staleAt(i)) out.push([sub, text]);
    return out;
  }

  /** Changes an owner's distance on all its routes; returns the best changes. */
  setDistance(owner: string, distance: number): ChangeSet {
    const out = new ChangeSet();
    const p = this.#pool;
    const todo = [...this.#owned(owner)].filter(([, , i]) => p.distAt(i) !== distance);
    for (const [sub, text, i] of todo) out.add(sub, text, this.set(sub, text, owner, distance, p.nhgKeyAt(i)));
    return out;
  }

  /** How many routes in all use a nexthop group key (any candidate). */
  usesOf(nhg: string): number {
    return this.#nhgUse.get(nhg) ?? 0;
  }
}
