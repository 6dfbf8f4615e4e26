/**
 * The FIB model: FIB tables (an id and a family, with a name), their routes to nexthop groups,
 * and the compile step that turns each table into a native trie.
 *
 * The model is the complete, authoritative state (the RIB side); the native trie is derived
 * from it. A table starts uncompiled; compile() builds its trie off the event loop from the
 * whole route set and publishes it at once. From then on every route change is applied to the
 * trie as it happens. Changes made while a build runs are journaled and replayed onto the new
 * trie before it is used, so nothing is lost. Every change is validated before anything is
 * modified: a call that throws leaves the model and the trie as they were.
 */
import { createLpm, type Lpm } from "../lookup/lpm.js";
import { formatPrefix, parseAddress, parsePrefix, type Family, type Prefix } from "../lookup/prefix.js";
import { NexthopGroupTable, type NexthopGroup } from "./nexthop.js";

export const FIB_ID_MAX = 0xfffffffe;

interface Route {
  prefix: Prefix;
  group: number;
}

type Change = { key: string; group: number | null };

export interface FibRoute {
  prefix: string;
  group: number;
}

export class FibTable {
  readonly id: number;
  readonly family: Family;
  name: string;
  readonly #routes = new Map<string, Route>();
  readonly #groups: NexthopGroupTable;
  #lpm: Lpm | null = null;
  #journal: Change[] | null = null;

  constructor(id: number, family: Family, name: string, groups: NexthopGroupTable) {
    this.id = id;
    this.family = family;
    this.name = name;
    this.#groups = groups;
  }

  get compiled(): boolean {
    return this.#lpm !== null && this.#journal === null;
  }

  get size(): number {
    return this.#routes.size;
  }

  /** Adds a route or moves it to another group. Returns the previous group, or null. */
  addRoute(prefix: string, group: number): number | null {
    const p = parsePrefix(prefix, this.family);
    this.#groups.check(group, this.family);
    const key = formatPrefix(p);
    const old = this.#routes.get(key);
    if (old?.group === group) return group;
    this.#lpm?.insert(key, group); // validated above: cannot fail but for memory
    this.#groups.ref(group);
    if (old) this.#groups.unref(old.group);
    this.#routes.set(key, { prefix: p, group });
    this.#journal?.push({ key, group });
    return old ? old.group : null;
  }

  /** Removes a route; RangeError if the table does not have it. Returns its group. */
  removeRoute(prefix: string): number {
    const p = parsePrefix(prefix, this.family);
    const key = formatPrefix(p);
    const old = this.#routes.get(key);
    if (!old) throw new RangeError(`FIB ${this.id} (IPv${this.family}) has no route ${key}`);
    this.#lpm?.remove(key);
    this.#groups.unref(old.group);
    this.#routes.delete(key);
    this.#journal?.push({ key, group: null });
    return old.group;
  }

  getRoute(prefix: string): number | null {
    return this.#routes.get(formatPrefix(parsePrefix(prefix, this.family)))?.group ?? null;
  }

  routes(): FibRoute[] {
    return [...this.#routes.entries()].map(([prefix, r]) => ({ prefix, group: r.group }));
  }

  /**
   * Builds the native trie from the whole route set, off the event loop. Route changes made
   * meanwhile go to the current trie (if any) and to a journal that is replayed on the new one.
   */
  async compile(): Promise<void> {
    if (this.#journal !== null) throw new RangeError(`FIB ${this.id} (IPv${this.family}) is already compiling`);
    const w = this.family === 4 ? 4 : 16;
    const n = this.#routes.size;
    const addrs = new Uint8Array(n * w);
    const lens = new Uint8Array(n);
    const nhs = new Uint32Array(n);
    let i = 0;
    for (const r of this.#routes.values()) {
      addrs.set(r.prefix.addr, i * w);
      lens[i] = r.prefix.len;
      nhs[i] = r.group;
      i++;
    }
    const next = createLpm(this.family);
    this.#journal = [];
    try {
      await next.loadPacked(addrs, lens, nhs);
      for (const c of this.#journal) {
        if (c.group === null) next.remove(c.key);
        else next.insert(c.key, c.group);
      }
      this.#lpm = next;
    } finally {
      this.#journal = null;
    }
  }

  /** The nexthop group the compiled trie chooses for an address, or null (no route). */
  lookup(addr: string): number | null {
    if (!this.#lpm) throw new RangeError(`FIB ${this.id} (IPv${this.family}) is not compiled yet`);
    return this.#lpm.lookup(addr);
  }

  /** Batched lookup on the compiled trie (see Lpm.lookupBatch). */
  lookupBatch(addrs: Uint8Array, out: Uint32Array): void {
    if (!this.#lpm) throw new RangeError(`FIB ${this.id} (IPv${this.family}) is not compiled yet`);
    this.#lpm.lookupBatch(addrs, out);
  }

  stats(): { routes: number; compiled: boolean; bytes: number; nodes: number } {
    const s = this.#lpm?.stats();
    return { routes: this.#routes.size, compiled: this.compiled, bytes: s?.bytes ?? 0, nodes: s?.nodes ?? 0 };
  }

  /** Drops every route (releasing its group reference); used when the table is deleted. */
  clear(): void {
    for (const r of this.#routes.values()) this.#groups.unref(r.group);
    this.#routes.clear();
    this.#lpm = null;
  }
}

function fibKey(id: number, family: Family): string {
  return `${family}:${id}`;
}

export class FibModel {
  readonly groups: NexthopGroupTable;
  readonly #fibs = new Map<string, FibTable>();

  constructor(groups: NexthopGroupTable = new NexthopGroupTable()) {
    this.groups = groups;
  }

  createFib(id: number, family: Family, name?: string): FibTable {
    if (typeof id !== "number" || !Number.isInteger(id)) throw new TypeError(`FIB id must be an integer, got ${String(id)}`);
    if (id < 0 || id > FIB_ID_MAX) throw new RangeError(`FIB id ${id} out of range 0-${FIB_ID_MAX}`);
    if (family !== 4 && family !== 6) throw new TypeError(`FIB ${id}: family must be 4 or 6, got ${String(family)}`);
    const label = name ?? `fib${id}`;
    if (typeof label !== "string" || label.length === 0) throw new TypeError(`FIB ${id}: name must be a non-empty string`);
    const key = fibKey(id, family);
    if (this.#fibs.has(key)) throw new RangeError(`FIB ${id} (IPv${family}) already exists`);
    for (const f of this.#fibs.values()) {
      if (f.name === label && f.family === family) throw new RangeError(`FIB name "${label}" is already used by FIB ${f.id} (IPv${family})`);
    }
    const fib = new FibTable(id, family, label, this.groups);
    this.#fibs.set(key, fib);
    return fib;
  }

  deleteFib(id: number, family: Family): void {
    const fib = this.fib(id, family);
    fib.clear();
    this.#fibs.delete(fibKey(id, family));
  }

  fib(id: number, family: Family): FibTable {
    const f = this.#fibs.get(fibKey(id, family));
    if (!f) throw new RangeError(`FIB ${id} (IPv${family}) does not exist`);
    return f;
  }

  fibs(): FibTable[] {
    return [...this.#fibs.values()];
  }

  /** Compiles every table not compiled yet; each build runs off the event loop. */
  async compile(): Promise<void> {
    await Promise.all(this.fibs().filter((f) => !f.compiled).map((f) => f.compile()));
  }

  /** The group an address resolves to in a FIB, with the group's members (null: no route). */
  resolve(id: number, addr: string): NexthopGroup | null {
    const family = parseAddress(addr).family;
    const g = this.fib(id, family).lookup(addr);
    return g === null ? null : (this.groups.get(g) ?? null);
  }
}
