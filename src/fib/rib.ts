/**
 * The RIB: every candidate route of every owner, per sub-FIB, and the best one of each prefix.
 *
 * Owners are the configuration file ("config"), the router's own interfaces ("connected") and
 * API clients by name. Each candidate carries its owner's administrative distance; the best
 * candidate of a prefix is the one with the lowest distance, ties going to the one added first
 * (a replacement keeps its place). Only the best candidate reaches the dataplane: every call
 * that changes which candidate is best, or what it forwards to, reports that as a BestChange for
 * the caller to hand to the driver.
 *
 * Stale marks (mark-and-sweep resync, controllers that went away) are per candidate: a stale
 * route keeps forwarding until it is swept.
 *
 * Nothing here validates: callers check prefixes, owners and nexthop groups first. Keys are the
 * sub-FIB key ("<fib>.<sub>") and the formatted prefix.
 */
import { formatPrefix, type Prefix } from "../lookup/prefix.js";

export interface Candidate {
  owner: string;
  distance: number;
  /** insertion order, for ties */
  seq: number;
  /** nexthop group key (plan.ts) */
  nhg: string;
  stale: boolean;
}

export interface RibEntry {
  prefix: Prefix;
  /** sorted: [0] is the best */
  cands: Candidate[];
}

export interface BestChange {
  sub: string;
  text: string;
  prefix: Prefix;
  /** the new best nexthop group, or null: no route for the prefix any more */
  nhg: string | null;
  owner: string | null;
}

function better(a: Candidate, b: Candidate): number {
  return a.distance - b.distance || a.seq - b.seq;
}

export class Rib {
  readonly #tables = new Map<string, Map<string, RibEntry>>();
  /** owner -> sub-FIB -> prefixes it holds there */
  readonly #byOwner = new Map<string, Map<string, Set<string>>>();
  /** candidates per nexthop group key */
  readonly #nhgUse = new Map<string, number>();
  #seq = 0;

  #use(nhg: string, d: number): void {
    const n = (this.#nhgUse.get(nhg) ?? 0) + d;
    if (n === 0) this.#nhgUse.delete(nhg);
    else this.#nhgUse.set(nhg, n);
  }

  table(sub: string): Map<string, RibEntry> | undefined {
    return this.#tables.get(sub);
  }

  subfibs(): IterableIterator<string> {
    return this.#tables.keys();
  }

  addSubfib(sub: string): void {
    if (!this.#tables.has(sub)) this.#tables.set(sub, new Map());
  }

  /** Drops a sub-FIB and everything in it (the caller withdrew what it had installed). */
  dropSubfib(sub: string): void {
    const t = this.#tables.get(sub);
    if (!t) return;
    for (const e of t.values()) for (const c of e.cands) {
      this.#ownerIndex(c.owner, sub)?.delete(formatPrefix(e.prefix));
      this.#use(c.nhg, -1);
    }
    this.#tables.delete(sub);
  }

  get(sub: string, text: string): RibEntry | undefined {
    return this.#tables.get(sub)?.get(text);
  }

  candidate(sub: string, text: string, owner: string): Candidate | undefined {
    return this.#tables.get(sub)?.get(text)?.cands.find((c) => c.owner === owner);
  }

  /** Adds or replaces owner's route; returns the best change, if any. */
  set(sub: string, text: string, prefix: Prefix, owner: string, distance: number, nhg: string): BestChange | null {
    const t = this.#tables.get(sub);
    if (!t) throw new Error(`internal: no RIB table ${sub}`);
    let e = t.get(text);
    if (!e) {
      e = { prefix, cands: [] };
      t.set(text, e);
    }
    const before = e.cands[0];
    const beforeNhg = before?.nhg ?? null;
    const beforeOwner = before?.owner ?? null;
    const have = e.cands.find((c) => c.owner === owner);
    if (have) {
      this.#use(have.nhg, -1);
      this.#use(nhg, 1);
      have.nhg = nhg;
      have.stale = false;
      if (have.distance !== distance) {
        have.distance = distance;
        e.cands.sort(better);
      }
    } else {
      e.cands.push({ owner, distance, seq: this.#seq++, nhg, stale: false });
      this.#use(nhg, 1);
      if (e.cands.length > 1) e.cands.sort(better);
      let idx = this.#byOwner.get(owner);
      if (!idx) this.#byOwner.set(owner, (idx = new Map()));
      let set = idx.get(sub);
      if (!set) idx.set(sub, (set = new Set()));
      set.add(text);
    }
    const best = e.cands[0]!;
    if (best.nhg === beforeNhg && best.owner === beforeOwner) return null;
    return { sub, text, prefix: e.prefix, nhg: best.nhg, owner: best.owner };
  }

  /** Removes owner's route; returns the best change, if any. */
  delete(sub: string, text: string, owner: string): BestChange | null {
    const t = this.#tables.get(sub);
    const e = t?.get(text);
    if (!t || !e) return null;
    const i = e.cands.findIndex((c) => c.owner === owner);
    if (i < 0) return null;
    const was = e.cands[0]!;
    this.#use(e.cands[i]!.nhg, -1);
    e.cands.splice(i, 1);
    this.#ownerIndex(owner, sub)?.delete(text);
    if (e.cands.length === 0) {
      t.delete(text);
      return { sub, text, prefix: e.prefix, nhg: null, owner: null };
    }
    const best = e.cands[0]!;
    if (best.nhg === was.nhg && best.owner === was.owner) return null;
    return { sub, text, prefix: e.prefix, nhg: best.nhg, owner: best.owner };
  }

  /** The prefixes an owner holds, by sub-FIB. */
  owned(owner: string): Map<string, Set<string>> {
    return this.#byOwner.get(owner) ?? new Map();
  }

  count(owner: string): number {
    let n = 0;
    for (const s of this.owned(owner).values()) n += s.size;
    return n;
  }

  countStale(owner: string): number {
    let n = 0;
    for (const [sub, set] of this.owned(owner)) for (const text of set) if (this.candidate(sub, text, owner)?.stale) n++;
    return n;
  }

  /** Marks every route of an owner stale; returns how many. */
  markStale(owner: string): number {
    let n = 0;
    for (const [sub, set] of this.owned(owner)) {
      for (const text of set) {
        const c = this.candidate(sub, text, owner);
        if (c && !c.stale) {
          c.stale = true;
          n++;
        }
      }
    }
    return n;
  }

  /** The stale routes of an owner, as (sub, text) pairs. */
  staleOf(owner: string): [string, string][] {
    const out: [string, string][] = [];
    for (const [sub, set] of this.owned(owner)) for (const text of set) if (this.candidate(sub, text, owner)?.stale) out.push([sub, text]);
    return out;
  }

  /** Changes an owner's distance on all its routes; returns the best changes. */
  setDistance(owner: string, distance: number): BestChange[] {
    const out: BestChange[] = [];
    for (const [sub, set] of this.owned(owner)) {
      for (const text of set) {
        const e = this.get(sub, text)!;
        const c = e.cands.find((x) => x.owner === owner)!;
        if (c.distance === distance) continue;
        const ch = this.set(sub, text, e.prefix, owner, distance, c.nhg);
        if (ch) out.push(ch);
      }
    }
    return out;
  }

  /** How many routes in all use a nexthop group key (any candidate). */
  usesOf(nhg: string): number {
    return this.#nhgUse.get(nhg) ?? 0;
  }

  #ownerIndex(owner: string, sub: string): Set<string> | undefined {
    return this.#byOwner.get(owner)?.get(sub);
  }
}
