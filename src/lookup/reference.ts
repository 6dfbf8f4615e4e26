/**
 * Reference longest-prefix match: the test oracle for the native tries.
 *
 * It is deliberately the simplest structure that is obviously correct: a binary trie with one
 * address bit per level, no path compression, no strides. A prefix of length L is the node
 * reached by following its first L bits from the root; a lookup walks the address bits and
 * remembers the last node that holds a value. Nothing here is clever, so when it disagrees with
 * the native LPM, the native LPM is wrong.
 *
 * Nodes live in parallel typed arrays (no JS object per node) so a full table fits: node i has
 * children left[i] (bit 0) and right[i] (bit 1), 0 meaning "none" (the root, node 0, is never
 * a child), and value[i], NO_VALUE meaning "no prefix ends here". The arrays double when full.
 * remove() only clears the value and leaves the path behind: lookups stay correct, and the
 * nodes are reused if a prefix under them comes back.
 *
 * Next hops are unsigned 32-bit integers except 0xffffffff, which is the "no value" marker.
 */

import type { Family } from "./prefix.js";

const NO_VALUE = 0xffffffff;
const INITIAL_NODES = 1024;

export class ReferenceLpm {
  readonly family: Family;
  readonly #bytes: number;
  readonly #maxLen: number;
  #left: Int32Array;
  #right: Int32Array;
  #value: Uint32Array;
  #nodes = 1; // the root
  #size = 0;

  constructor(family: Family) {
    if (family !== 4 && family !== 6) {
      throw new TypeError(`family must be 4 or 6, got ${String(family)}`);
    }
    this.family = family;
    this.#bytes = family === 4 ? 4 : 16;
    this.#maxLen = family === 4 ? 32 : 128;
    this.#left = new Int32Array(INITIAL_NODES);
    this.#right = new Int32Array(INITIAL_NODES);
    this.#value = new Uint32Array(INITIAL_NODES).fill(NO_VALUE);
  }

  /** Number of prefixes stored. */
  get size(): number {
    return this.#size;
  }

  /** Number of trie nodes allocated, including empty ones left by remove() (for memory checks). */
  get nodeCount(): number {
    return this.#nodes;
  }

  /** Inserts `addr/len` with next hop `nh`, replacing the next hop if the prefix is present. */
  insert(addr: Uint8Array, len: number, nh: number): void {
    this.#checkPrefix(addr, len);
    if (!Number.isInteger(nh) || nh < 0 || nh >= NO_VALUE) {
      throw new RangeError(`next hop ${String(nh)} out of range 0-${NO_VALUE - 1}`);
    }
    let node = 0;
    for (let depth = 0; depth < len; depth++) {
      const children = bitAt(addr, depth) === 0 ? this.#left : this.#right;
      let next = children[node]!;
      if (next === 0) {
        next = this.#newNode();
        // #newNode may have replaced the arrays; re-read rather than use `children`.
        (bitAt(addr, depth) === 0 ? this.#left : this.#right)[node] = next;
      }
      node = next;
    }
    if (this.#value[node] === NO_VALUE) this.#size++;
    this.#value[node] = nh;
  }

  /** Removes `addr/len`; returns whether it was present. */
  remove(addr: Uint8Array, len: number): boolean {
    this.#checkPrefix(addr, len);
    const node = this.#find(addr, len);
    if (node < 0 || this.#value[node] === NO_VALUE) return false;
    this.#value[node] = NO_VALUE;
    this.#size--;
    return true;
  }

  /** The next hop of the longest prefix containing `addr`, or null if none does. */
  lookup(addr: Uint8Array): number | null {
    this.#checkAddr(addr);
    const left = this.#left;
    const right = this.#right;
    const value = this.#value;
    let best = value[0]!;
    let node = 0;
    for (let depth = 0; depth < this.#maxLen; depth++) {
      node = bitAt(addr, depth) === 0 ? left[node]! : right[node]!;
      if (node === 0) break;
      const v = value[node]!;
      if (v !== NO_VALUE) best = v;
    }
    return best === NO_VALUE ? null : best;
  }

  /** The node for exactly `addr/len`, or -1 if the path does not exist. */
  #find(addr: Uint8Array, len: number): number {
    let node = 0;
    for (let depth = 0; depth < len; depth++) {
      node = bitAt(addr, depth) === 0 ? this.#left[node]! : this.#right[node]!;
      if (node === 0) return -1;
    }
    return node;
  }

  #newNode(): number {
    if (this.#nodes === this.#left.length) {
      const cap = this.#left.length * 2;
      const left = new Int32Array(cap);
      const right = new Int32Array(cap);
      const value = new Uint32Array(cap).fill(NO_VALUE);
      left.set(this.#left);
      right.set(this.#right);
      value.set(this.#value);
      this.#left = left;
      this.#right = right;
      this.#value = value;
    }
    return this.#nodes++;
  }

  #checkAddr(addr: Uint8Array): void {
    if (addr instanceof Uint8Array && addr.length === this.#bytes) return;
    const got = addr instanceof Uint8Array ? `${addr.length} bytes` : typeof addr;
    throw new TypeError(`IPv${this.family} address must be a Uint8Array of ${this.#bytes} bytes, got ${got}`);
  }

  /** The same rules as parsePrefix: the length in range and no bits set beyond it. */
  #checkPrefix(addr: Uint8Array, len: number): void {
    this.#checkAddr(addr);
    if (!Number.isInteger(len) || len < 0 || len > this.#maxLen) {
      throw new RangeError(`prefix length ${String(len)} out of range 0-${this.#maxLen} for IPv${this.family}`);
    }
    for (let depth = len; depth < this.#maxLen; depth++) {
      if (bitAt(addr, depth) !== 0) {
        throw new RangeError(`host bits set: bit ${depth} is beyond /${len}`);
      }
    }
  }
}

/** Bit `depth` of `addr`, counting from the most significant bit of byte 0. */
function bitAt(addr: Uint8Array, depth: number): number {
  return (addr[depth >>> 3]! >>> (7 - (depth & 7))) & 1;
}
