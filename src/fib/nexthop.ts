/**
 * Nexthop groups: the shared, refcounted objects that routes point at.
 *
 * A route's value in the native trie is its group's id, so changing a group's members (a next
 * hop going away, a weight change) updates one object and no route. A group cannot be deleted
 * while routes use it. Members are weighted for ECMP; weights are integers 1..65535 (0 would
 * mean "never", which is what removing the member says).
 */
import { LPM_NH_MAX } from "../lookup/lpm.js";
import { formatAddress, parseAddress, type Family } from "../lookup/prefix.js";

export const MAX_GROUP_MEMBERS = 64;
export const MAX_WEIGHT = 65535;

export interface NexthopMember {
  /** gateway address, or null for a directly connected destination */
  via: string | null;
  /** egress interface name */
  port: string;
  weight: number;
}

export interface NexthopGroup {
  readonly id: number;
  readonly family: Family;
  readonly members: readonly NexthopMember[];
  /** routes that use this group */
  readonly refs: number;
}

interface GroupState {
  id: number;
  family: Family;
  members: NexthopMember[];
  refs: number;
}

function validateMembers(id: number, family: Family, members: unknown): NexthopMember[] {
  const where = `nexthop group ${id}`;
  if (!Array.isArray(members)) throw new TypeError(`${where}: members must be an array`);
  if (members.length === 0) throw new RangeError(`${where}: needs at least one member`);
  if (members.length > MAX_GROUP_MEMBERS) {
    throw new RangeError(`${where}: ${members.length} members, at most ${MAX_GROUP_MEMBERS}`);
  }
  const seen = new Set<string>();
  return members.map((m: unknown, i: number): NexthopMember => {
    const at = `${where} member ${i}`;
    if (typeof m !== "object" || m === null) throw new TypeError(`${at}: must be an object`);
    const { via, port, weight } = m as Record<string, unknown>;
    if (typeof port !== "string" || port.length === 0) throw new TypeError(`${at}: port must be a non-empty string`);
    let canonical: string | null = null;
    if (via !== null && via !== undefined) {
      if (typeof via !== "string") throw new TypeError(`${at}: via must be an address string or null`);
      const a = parseAddress(via, family);
      canonical = formatAddress(a.family, a.addr);
    }
    const w = weight === undefined ? 1 : weight;
    if (typeof w !== "number" || !Number.isInteger(w)) throw new TypeError(`${at}: weight must be an integer`);
    if (w < 1 || w > MAX_WEIGHT) throw new RangeError(`${at}: weight ${w} out of range 1-${MAX_WEIGHT}`);
    const key = `${canonical ?? "-"}%${port}`;
    if (seen.has(key)) throw new RangeError(`${at}: duplicate of an earlier member (${canonical ?? "direct"} on ${port})`);
    seen.add(key);
    return { via: canonical, port, weight: w };
  });
}

function checkId(id: unknown): number {
  if (typeof id !== "number" || !Number.isInteger(id)) throw new TypeError(`nexthop group id must be an integer, got ${String(id)}`);
  if (id < 0 || id > LPM_NH_MAX) throw new RangeError(`nexthop group id ${id} out of range 0-${LPM_NH_MAX}`);
  return id;
}

export class NexthopGroupTable {
  readonly #groups = new Map<number, GroupState>();

  add(id: number, family: Family, members: readonly NexthopMember[]): NexthopGroup {
    checkId(id);
    if (family !== 4 && family !== 6) throw new TypeError(`nexthop group ${id}: family must be 4 or 6`);
    if (this.#groups.has(id)) throw new RangeError(`nexthop group ${id} already exists`);
    const g: GroupState = { id, family, members: validateMembers(id, family, members), refs: 0 };
    this.#groups.set(id, g);
    return this.#view(g);
  }

  /** New members for an existing group; the routes that use it follow without being touched. */
  replace(id: number, members: readonly NexthopMember[]): NexthopGroup {
    const g = this.#must(id);
    g.members = validateMembers(id, g.family, members);
    return this.#view(g);
  }

  delete(id: number): void {
    const g = this.#must(id);
    if (g.refs > 0) throw new RangeError(`nexthop group ${id} is used by ${g.refs} route${g.refs === 1 ? "" : "s"}`);
    this.#groups.delete(id);
  }

  get(id: number): NexthopGroup | undefined {
    const g = this.#groups.get(id);
    return g ? this.#view(g) : undefined;
  }

  list(): NexthopGroup[] {
    return [...this.#groups.values()].map((g) => this.#view(g));
  }

  /** Checks that a route of this family may use the group (throws otherwise); no change. */
  check(id: number, family: Family): void {
    const g = this.#groups.get(checkId(id));
    if (!g) throw new RangeError(`nexthop group ${id} does not exist`);
    if (g.family !== family) throw new RangeError(`nexthop group ${id} is IPv${g.family}, route is IPv${family}`);
  }

  ref(id: number): void {
    this.#must(id).refs++;
  }

  unref(id: number): void {
    const g = this.#must(id);
    if (g.refs === 0) throw new Error(`internal: nexthop group ${id} refcount underflow`);
    g.refs--;
  }

  #must(id: number): GroupState {
    const g = this.#groups.get(checkId(id));
    if (!g) throw new RangeError(`nexthop group ${id} does not exist`);
    return g;
  }

  #view(g: GroupState): NexthopGroup {
    return { id: g.id, family: g.family, members: g.members.map((m) => ({ ...m })), refs: g.refs };
  }
}
