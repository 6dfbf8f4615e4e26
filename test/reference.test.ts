import { fullTable, rngUnit as rng } from "./support/fulltable.js";
import { describe, expect, it } from "vitest";
import {
  type Family,
  type Prefix,
  formatPrefix,
  parseAddress,
  parsePrefix,
  prefixContains,
  prefixFirst,
  prefixLast,
} from "../src/lookup/prefix.js";
import { ReferenceLpm } from "../src/lookup/reference.js";




/** The oracle's oracle: a list of prefixes, longest match by scanning all of them. */
class LinearLpm {
  readonly #routes = new Map<string, { p: Prefix; nh: number }>();
  insert(p: Prefix, nh: number): void {
    this.#routes.set(formatPrefix(p), { p, nh });
  }
  remove(p: Prefix): boolean {
    return this.#routes.delete(formatPrefix(p));
  }
  lookup(addr: Uint8Array): number | null {
    let best: { p: Prefix; nh: number } | undefined;
    for (const r of this.#routes.values()) {
      if (prefixContains(r.p, addr) && (best === undefined || r.p.len > best.p.len)) best = r;
    }
    return best === undefined ? null : best.nh;
  }
  get size(): number {
    return this.#routes.size;
  }
  prefixes(): Prefix[] {
    return [...this.#routes.values()].map((r) => r.p);
  }
}

function p(text: string): Prefix {
  return parsePrefix(text);
}

function a(text: string): Uint8Array {
  return parseAddress(text).addr;
}

function insert(t: ReferenceLpm, text: string, nh: number): void {
  const q = parsePrefix(text, t.family);
  t.insert(q.addr, q.len, nh);
}

describe("ReferenceLpm", () => {
  it("matches the longest prefix, 8 deep, IPv4", () => {
    const t = new ReferenceLpm(4);
    const chain = ["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.0/25", "10.1.2.64/26", "10.1.2.96/27", "10.1.2.100/32"];
    chain.forEach((text, i) => insert(t, text, i));
    expect(t.size).toBe(8);
    expect(t.lookup(a("10.1.2.100"))).toBe(7);
    expect(t.lookup(a("10.1.2.101"))).toBe(6);
    expect(t.lookup(a("10.1.2.95"))).toBe(5);
    expect(t.lookup(a("10.1.2.1"))).toBe(4);
    expect(t.lookup(a("10.1.2.200"))).toBe(3);
    expect(t.lookup(a("10.1.3.0"))).toBe(2);
    expect(t.lookup(a("10.2.0.0"))).toBe(1);
    expect(t.lookup(a("11.0.0.0"))).toBe(0);
    expect(t.lookup(a("255.255.255.255"))).toBe(0);
  });

  it("matches the longest prefix, 8 deep, IPv6", () => {
    const t = new ReferenceLpm(6);
    const chain = ["::/0", "2000::/3", "2001:db8::/32", "2001:db8:1::/48", "2001:db8:1:2::/64", "2001:db8:1:2::/96", "2001:db8:1:2::/127", "2001:db8:1:2::1/128"];
    chain.forEach((text, i) => insert(t, text, 100 + i));
    expect(t.lookup(a("2001:db8:1:2::1"))).toBe(107);
    expect(t.lookup(a("2001:db8:1:2::"))).toBe(106);
    expect(t.lookup(a("2001:db8:1:2::2"))).toBe(105);
    expect(t.lookup(a("2001:db8:1:2:0:1::"))).toBe(104);
    expect(t.lookup(a("2001:db8:1:3::"))).toBe(103);
    expect(t.lookup(a("2001:db8:2::"))).toBe(102);
    expect(t.lookup(a("2001:db9::"))).toBe(101);
    expect(t.lookup(a("4000::"))).toBe(100);
  });

  it("returns null when nothing matches, and an empty table matches nothing", () => {
    const t4 = new ReferenceLpm(4);
    expect(t4.lookup(a("1.2.3.4"))).toBeNull();
    insert(t4, "10.0.0.0/8", 1);
    expect(t4.lookup(a("11.0.0.0"))).toBeNull();
    const t6 = new ReferenceLpm(6);
    expect(t6.lookup(a("::"))).toBeNull();
  });

  it("treats /0, /32 and /128 like any other prefix", () => {
    const t4 = new ReferenceLpm(4);
    insert(t4, "0.0.0.0/0", 0); // next hop 0 is a value, not "none"
    insert(t4, "255.255.255.255/32", 1);
    insert(t4, "0.0.0.0/32", 2);
    expect(t4.lookup(a("255.255.255.255"))).toBe(1);
    expect(t4.lookup(a("255.255.255.254"))).toBe(0);
    expect(t4.lookup(a("0.0.0.0"))).toBe(2);
    expect(t4.lookup(a("0.0.0.1"))).toBe(0);
    const t6 = new ReferenceLpm(6);
    insert(t6, "::/0", 0xfffffffe); // the largest next hop
    insert(t6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 5);
    expect(t6.lookup(a("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))).toBe(5);
    expect(t6.lookup(a("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"))).toBe(0xfffffffe);
  });

  it("replaces the next hop of a prefix inserted twice", () => {
    const t = new ReferenceLpm(4);
    insert(t, "10.0.0.0/8", 1);
    insert(t, "10.0.0.0/8", 2);
    expect(t.size).toBe(1);
    expect(t.lookup(a("10.9.9.9"))).toBe(2);
  });

  it("removes a covering prefix without disturbing the prefixes under it", () => {
    const t = new ReferenceLpm(4);
    insert(t, "10.0.0.0/8", 1);
    insert(t, "10.1.0.0/16", 2);
    insert(t, "10.1.1.0/24", 3);
    const cover = p("10.0.0.0/8");
    expect(t.remove(cover.addr, cover.len)).toBe(true);
    expect(t.size).toBe(2);
    expect(t.lookup(a("10.1.1.1"))).toBe(3);
    expect(t.lookup(a("10.1.2.1"))).toBe(2);
    expect(t.lookup(a("10.2.0.0"))).toBeNull();
    // Gone already, never there, and a path that exists only as a way to other prefixes.
    expect(t.remove(cover.addr, cover.len)).toBe(false);
    const never = p("192.168.0.0/16");
    expect(t.remove(never.addr, never.len)).toBe(false);
    const onPath = p("10.0.0.0/12");
    expect(t.remove(onPath.addr, onPath.len)).toBe(false);
    expect(t.size).toBe(2);
    // Back again, over the nodes remove() left behind.
    t.insert(cover.addr, cover.len, 9);
    expect(t.lookup(a("10.2.0.0"))).toBe(9);
    expect(t.lookup(a("10.1.1.1"))).toBe(3);
  });

  it("removes a leaf so the covering prefix matches again", () => {
    const t = new ReferenceLpm(6);
    insert(t, "2001:db8::/32", 1);
    insert(t, "2001:db8::1/128", 2);
    const leaf = p("2001:db8::1/128");
    expect(t.lookup(leaf.addr)).toBe(2);
    expect(t.remove(leaf.addr, leaf.len)).toBe(true);
    expect(t.lookup(leaf.addr)).toBe(1);
  });

  it("refuses bad arguments before touching the trie", () => {
    expect(() => new ReferenceLpm(5 as Family)).toThrow(/^family must be 4 or 6, got 5$/);
    const t = new ReferenceLpm(4);
    const q = p("10.0.0.0/8");
    expect(() => t.insert(q.addr, 33, 1)).toThrow(RangeError);
    expect(() => t.insert(q.addr, 33, 1)).toThrow(/^prefix length 33 out of range 0-32 for IPv4$/);
    expect(() => t.insert(q.addr, -1, 1)).toThrow(/^prefix length -1 out of range 0-32 for IPv4$/);
    expect(() => t.insert(q.addr, 7.5, 1)).toThrow(/^prefix length 7\.5 out of range 0-32 for IPv4$/);
    expect(() => t.insert(a("10.1.0.0"), 8, 1)).toThrow(/^host bits set: bit 15 is beyond \/8$/);
    expect(() => t.insert(q.addr, 8, 0xffffffff)).toThrow(/^next hop 4294967295 out of range 0-4294967294$/);
    expect(() => t.insert(q.addr, 8, -1)).toThrow(RangeError);
    expect(() => t.insert(q.addr, 8, 1.5)).toThrow(RangeError);
    expect(() => t.insert(a("::"), 8, 1)).toThrow(TypeError);
    expect(() => t.insert(a("::"), 8, 1)).toThrow(/^IPv4 address must be a Uint8Array of 4 bytes, got 16 bytes$/);
    expect(() => t.lookup(new Uint8Array(3))).toThrow(/^IPv4 address must be a Uint8Array of 4 bytes, got 3 bytes$/);
    expect(() => t.remove(q.addr, 40)).toThrow(RangeError);
    expect(t.size).toBe(0);
    expect(t.lookup(q.addr)).toBeNull();
  });

  describe.each<[Family]>([[4], [6]])("agrees with a linear scan, IPv%i", (family) => {
    const bits = family === 4 ? 32 : 128;
    const width = bits / 8;
    const rand = rng(family * 7919);
    const randomBytes = (): Uint8Array => {
      const b = new Uint8Array(width);
      for (let k = 0; k < width; k++) b[k] = Math.floor(rand() * 256);
      return b;
    };
    const prefixOf = (addr: Uint8Array, len: number): Prefix => ({ family, addr: prefixFirst({ family, addr, len }), len });

    // Chains of 8 nested prefixes under random addresses (some chains share their top bits, so
    // chains also nest into each other), loose random prefixes, and the edges /0 and /max.
    const prefixes: Prefix[] = [prefixOf(new Uint8Array(width), 0)];
    const tops: Uint8Array[] = [];
    for (let c = 0; c < 300; c++) {
      const base = randomBytes();
      const parent = tops[Math.floor(rand() * tops.length)];
      if (parent !== undefined && rand() < 0.5) base.set(parent.subarray(0, 1 + Math.floor(rand() * (width / 2))));
      tops.push(base);
      const lens = new Set<number>();
      while (lens.size < 8) lens.add(1 + Math.floor(rand() * bits));
      for (const len of lens) prefixes.push(prefixOf(base, len));
      prefixes.push(prefixOf(base, bits));
    }
    for (let i = 0; i < 1000; i++) prefixes.push(prefixOf(randomBytes(), Math.floor(rand() * (bits + 1))));

    // Addresses inside prefixes (random host bits), on their edges, and anywhere.
    const addrs: Uint8Array[] = [];
    for (let i = 0; i < 3000; i++) {
      const q = prefixes[Math.floor(rand() * prefixes.length)]!;
      const r = rand();
      if (r < 0.1) addrs.push(prefixFirst(q));
      else if (r < 0.2) addrs.push(prefixLast(q));
      else if (r < 0.3) addrs.push(randomBytes());
      else {
        const x = randomBytes();
        const keep = prefixFirst(q);
        for (let k = 0; k < width; k++) {
          const inPrefix = Math.max(0, Math.min(8, q.len - k * 8));
          const mask = (0xff << (8 - inPrefix)) & 0xff;
          x[k] = (keep[k]! & mask) | (x[k]! & ~mask & 0xff);
        }
        addrs.push(x);
      }
    }

    const agree = (t: ReferenceLpm, oracle: LinearLpm): void => {
      expect(t.size).toBe(oracle.size);
      let mismatches = 0;
      for (const x of addrs) {
        const want = oracle.lookup(x);
        if (t.lookup(x) !== want) {
          mismatches++;
          if (mismatches <= 3) expect({ addr: [...x], got: t.lookup(x) }).toEqual({ addr: [...x], got: want });
        }
      }
      expect(mismatches).toBe(0);
    };

    it(`after inserting ${prefixes.length} prefixes, after replacing, removing and re-inserting`, () => {
      const t = new ReferenceLpm(family);
      const oracle = new LinearLpm();
      prefixes.forEach((q, i) => {
        t.insert(q.addr, q.len, i);
        oracle.insert(q, i);
      });
      agree(t, oracle);

      // Most addresses should find something, or the test is not testing much.
      const matched = addrs.filter((x) => oracle.lookup(x) !== null).length;
      expect(matched).toBeGreaterThan(addrs.length * 0.7);

      for (const q of oracle.prefixes()) {
        if (rand() < 0.3) {
          const nh = 1_000_000 + Math.floor(rand() * 1000);
          t.insert(q.addr, q.len, nh);
          oracle.insert(q, nh);
        }
      }
      agree(t, oracle);

      // Remove a third, covering prefixes and /0 among them.
      const removed: Prefix[] = [];
      for (const q of oracle.prefixes()) {
        if (q.len === 0 || rand() < 0.33) {
          expect(t.remove(q.addr, q.len)).toBe(true);
          expect(t.remove(q.addr, q.len)).toBe(false);
          oracle.remove(q);
          removed.push(q);
        }
      }
      expect(removed.some((q) => q.len === 0)).toBe(true);
      agree(t, oracle);

      for (const q of removed) {
        t.insert(q.addr, q.len, 7);
        oracle.insert(q, 7);
      }
      agree(t, oracle);
    });
  });
});

describe("ReferenceLpm on the full Internet table (fulltable-2024)", () => {
  const lines = [...fullTable().v4, ...fullTable().v6];

  it.each<[Family]>([[4], [6]])("holds IPv%i in modest memory and finds each prefix's own range", (family) => {
    const table = lines.filter((l) => l.includes(":") === (family === 6)).map((l) => parsePrefix(l, family));
    const t = new ReferenceLpm(family);
    table.forEach((q, i) => t.insert(q.addr, q.len, i));
    expect(t.size).toBe(table.length);
    // Modest memory: 12 bytes per node, so this bounds the arrays to about 100 MB.
    expect(t.nodeCount).toBeLessThan(8_000_000);

    // The table has no duplicates, so the best match for an address of prefix q is q itself or
    // a more specific prefix inside q that also contains the address.
    const wrong: string[] = [];
    for (const q of table) {
      for (const x of [q.addr, prefixLast(q)]) {
        const nh = t.lookup(x);
        const best = nh === null ? undefined : table[nh];
        if (best === undefined || !(best.len >= q.len && prefixContains(best, x) && prefixContains(q, best.addr))) {
          wrong.push(`${formatPrefix(q)}: got ${best === undefined ? "null" : formatPrefix(best)}`);
        }
      }
    }
    expect(wrong.slice(0, 5)).toEqual([]);

    for (const q of table) t.remove(q.addr, q.len);
    expect(t.size).toBe(0);
    expect(table.filter((q) => t.lookup(q.addr) !== null).length).toBe(0);
  });
});
