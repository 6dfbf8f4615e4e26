/**
 * createLpm as a user sees it: edge prefixes, nesting, replace, removal of covering prefixes,
 * batch lookups, and every kind of bad input rejected with a message and no change.
 */
import { describe, expect, it } from "vitest";
import { createLpm, LPM_MISS, type Lpm } from "../src/lookup/lpm.js";
import { parseAddress } from "../src/lookup/prefix.js";

function snapshot(lpm: Lpm): string {
  return JSON.stringify({ routes: lpm.routes(), stats: lpm.stats() });
}

function expectUnchanged(lpm: Lpm, fn: () => unknown, error: RegExp, kind: ErrorConstructor): void {
  const before = snapshot(lpm);
  expect(fn).toThrow(kind);
  expect(fn).toThrow(error);
  expect(snapshot(lpm)).toBe(before);
}

describe("IPv4 table", () => {
  it("handles /0, /32 and prefixes nested 8 deep", () => {
    const lpm = createLpm(4);
    expect(lpm.lookup("1.2.3.4")).toBeNull();
    lpm.insert("0.0.0.0/0", 1);
    const nest = ["10.0.0.0/8", "10.128.0.0/9", "10.192.0.0/10", "10.224.0.0/11", "10.240.0.0/12", "10.248.0.0/13", "10.252.0.0/14", "10.254.0.0/15"];
    nest.forEach((p, i) => lpm.insert(p, 100 + i));
    lpm.insert("10.255.255.255/32", 999);
    expect(lpm.lookup("1.2.3.4")).toBe(1);
    expect(lpm.lookup("10.0.0.1")).toBe(100);
    expect(lpm.lookup("10.200.0.0")).toBe(102);
    expect(lpm.lookup("10.254.0.0")).toBe(107);
    expect(lpm.lookup("10.255.255.254")).toBe(107);
    expect(lpm.lookup("10.255.255.255")).toBe(999);
    expect(lpm.lookup("255.255.255.255")).toBe(1);
    // deleting a covering prefix exposes the next shorter one
    expect(lpm.remove("10.254.0.0/15")).toBe(107);
    expect(lpm.lookup("10.254.0.0")).toBe(106);
    expect(lpm.lookup("10.255.255.255")).toBe(999);
    expect(lpm.remove("0.0.0.0/0")).toBe(1);
    expect(lpm.lookup("1.2.3.4")).toBeNull();
    expect(lpm.stats().routes).toBe(8);
  });

  it("replaces a next hop and reports the old one", () => {
    const lpm = createLpm(4);
    expect(lpm.insert("192.0.2.0/24", 5)).toBeNull();
    expect(lpm.insert("192.0.2.0/24", 6)).toBe(5);
    expect(lpm.get("192.0.2.0/24")).toBe(6);
    expect(lpm.lookup("192.0.2.77")).toBe(6);
    expect(lpm.stats().nextHops).toBe(1);
    expect(lpm.insert("192.0.2.0/24", 0)).toBe(6);
    expect(lpm.lookup("192.0.2.77")).toBe(0);
    expect(lpm.insert("192.0.2.128/25", LPM_MISS - 1)).toBeNull();
    expect(lpm.lookup("192.0.2.200")).toBe(0xfffffffe);
  });

  it("looks up batches, writing 0xFFFFFFFF for misses", () => {
    const lpm = createLpm(4);
    lpm.insert("198.51.100.0/24", 7);
    const addrs = new Uint8Array([198, 51, 100, 9, 203, 0, 113, 1, 198, 51, 100, 255]);
    const out = new Uint32Array(3);
    lpm.lookupBatch(addrs, out);
    expect(Array.from(out)).toEqual([7, LPM_MISS, 7]);
  });

  it("rejects bad input with a message that names the problem, and changes nothing", () => {
    const lpm = createLpm(4);
    lpm.insert("10.0.0.0/8", 1);
    lpm.insert("10.1.0.0/16", 2);
    expectUnchanged(lpm, () => lpm.insert("10.0.0/8", 3), /invalid prefix "10\.0\.0\/8"/, TypeError);
    expectUnchanged(lpm, () => lpm.insert("10.1.0.0/8", 3), /host bits set in "10\.1\.0\.0\/8".*10\.0\.0\.0\/8/, RangeError);
    expectUnchanged(lpm, () => lpm.insert("10.0.0.0/33", 3), /prefix length 33 out of range 0-32/, RangeError);
    expectUnchanged(lpm, () => lpm.insert("2001:db8::/32", 3), /IPv6, table is IPv4/, RangeError);
    expectUnchanged(lpm, () => lpm.insert("10.2.0.0/16", 0xffffffff), /next hop 4294967295 out of range 0-4294967294/, RangeError);
    expectUnchanged(lpm, () => lpm.insert("10.2.0.0/16", -1), /next hop -1 out of range/, RangeError);
    expectUnchanged(lpm, () => lpm.insert("10.2.0.0/16", 1.5), /next hop must be an integer, got 1\.5/, TypeError);
    expectUnchanged(lpm, () => lpm.insert("10.2.0.0/16", "1" as unknown as number), /next hop must be an integer, got string/, TypeError);
    expectUnchanged(lpm, () => lpm.remove("10.2.0.0/16"), /cannot remove 10\.2\.0\.0\/16: not in the table/, RangeError);
    expectUnchanged(lpm, () => lpm.remove("10.1.0.0/17"), /not in the table/, RangeError);
    expectUnchanged(lpm, () => lpm.lookup("10.1.2"), /invalid address "10\.1\.2"/, TypeError);
    expectUnchanged(lpm, () => lpm.lookupBatch(new Uint8Array(5), new Uint32Array(2)), /5 bytes, not a multiple of 4/, RangeError);
    expectUnchanged(lpm, () => lpm.lookupBatch(new Uint8Array(8), new Uint32Array(1)), /room for 1 results, 2 addresses/, RangeError);
    expectUnchanged(lpm, () => lpm.lookupBatch([1, 2, 3, 4] as unknown as Uint8Array, new Uint32Array(1)), /addrs must be a Uint8Array/, TypeError);
    expect(lpm.lookup("10.1.2.3")).toBe(2);
  });

  it("refuses the 65,536th distinct next hop and keeps the table usable", () => {
    const lpm = createLpm(4);
    for (let i = 0; i < 65535; i++) lpm.insert(`11.${i >> 8}.${i & 255}.0/24`, i);
    expect(lpm.stats().nextHops).toBe(65535);
    expectUnchanged(lpm, () => lpm.insert("12.0.0.0/8", 70000), /already holds 65535 distinct next hops/, RangeError);
    // an existing value is still fine, and freeing one makes room
    lpm.insert("12.0.0.0/8", 7);
    lpm.remove("11.0.0.0/24");
    lpm.insert("13.0.0.0/8", 70000);
    expect(lpm.lookup("13.1.1.1")).toBe(70000);
  });

  it("loads a whole table off the event loop and keeps serving the old one meanwhile", async () => {
    const lpm = createLpm(4);
    lpm.insert("10.0.0.0/8", 1);
    const prefixes: string[] = [];
    const nhs: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      prefixes.push(`${20 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`);
      nhs.push(i % 300);
    }
    const loading = lpm.load(prefixes, nhs);
    expect(lpm.lookup("10.1.1.1")).toBe(1); // the old table until the new one is published
    expect(() => lpm.insert("10.0.0.0/8", 2)).toThrow(/being rebuilt/);
    await loading;
    expect(lpm.lookup("10.1.1.1")).toBeNull();
    expect(lpm.lookup("20.1.2.3")).toBe(258 % 300);
    expect(lpm.stats().routes).toBe(50_000);
    await expect(lpm.load(["10.0.0.0/8", "10.0.0.1/8"], [1, 2])).rejects.toThrow(/entry 1: host bits set/);
    expect(lpm.stats().routes).toBe(50_000);
  });
});

describe("IPv6 table", () => {
  it("handles ::/0, /128, nesting and removal", () => {
    const lpm = createLpm(6);
    lpm.insert("::/0", 1);
    lpm.insert("2001:db8::/32", 2);
    lpm.insert("2001:db8:1::/48", 3);
    lpm.insert("2001:db8:1:2::/64", 4);
    lpm.insert("2001:db8:1:2::1/128", 5);
    lpm.insert("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 6);
    expect(lpm.lookup("2001:db8:1:2::1")).toBe(5);
    expect(lpm.lookup("2001:db8:1:2::2")).toBe(4);
    expect(lpm.lookup("2001:db8:1:3::")).toBe(3);
    expect(lpm.lookup("2001:db8:2::")).toBe(2);
    expect(lpm.lookup("3000::")).toBe(1);
    expect(lpm.lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")).toBe(6);
    expect(lpm.lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")).toBe(1);
    expect(lpm.remove("2001:db8:1::/48")).toBe(3);
    expect(lpm.lookup("2001:db8:1:3::")).toBe(2);
    expect(lpm.lookup("2001:db8:1:2::1")).toBe(5);
    const addrs = new Uint8Array(32);
    addrs.set(parseAddress("2001:db8:1:2::1").addr, 0);
    addrs.set(parseAddress("4000::").addr, 16);
    const out = new Uint32Array(2);
    lpm.lookupBatch(addrs, out);
    expect(Array.from(out)).toEqual([5, 1]);
  });

  it("rejects IPv4 input and IPv6 mistakes", () => {
    const lpm = createLpm(6);
    lpm.insert("2001:db8::/32", 1);
    expectUnchanged(lpm, () => lpm.insert("10.0.0.0/8", 1), /IPv4, table is IPv6/, RangeError);
    expectUnchanged(lpm, () => lpm.insert("2001:db8::/129", 1), /prefix length 129 out of range 0-128/, RangeError);
    expectUnchanged(lpm, () => lpm.insert("2001:db8::1/64", 1), /host bits set/, RangeError);
    expectUnchanged(lpm, () => lpm.insert("1::2::3/64", 1), /more than one "::"/, TypeError);
    expectUnchanged(lpm, () => lpm.lookupBatch(new Uint8Array(20), new Uint32Array(2)), /not a multiple of 16/, RangeError);
  });

  it("createLpm rejects other families", () => {
    expect(() => createLpm(5 as 4)).toThrow(/family must be 4 or 6, got 5/);
  });
});
