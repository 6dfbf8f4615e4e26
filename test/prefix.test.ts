import { fullTable, rngUnit as rng } from "./support/fulltable.js";
import { describe, expect, it } from "vitest";
import {
  type Family,
  type Prefix,
  formatAddress,
  formatPrefix,
  packPrefixes,
  parseAddress,
  parsePrefix,
  parsePrefixInto,
  PREFIX_V6,
  prefixContains,
  prefixFirst,
  prefixKey,
  prefixLast,
} from "../src/lookup/prefix.js";



function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `fn` throws exactly `cls` with exactly `message`. */
function expectThrow(fn: () => unknown, cls: typeof TypeError | typeof RangeError, message: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e: unknown) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(cls);
  expect((caught as Error).constructor).toBe(cls);
  expect((caught as Error).message).toMatch(new RegExp(`^${escapeRe(message)}$`));
}

function bytes(...b: number[]): Uint8Array {
  return Uint8Array.from(b);
}


/**
 * RFC 5952 4.2 checked on the text alone: "::" replaces the longest run of two or more zero
 * groups, the leftmost one on a tie, and no run is left uncompressed that should have been.
 */
function zeroRunsAreCanonical(text: string): boolean {
  if (text.includes(".")) return true; // mixed notation, checked by the table tests
  const longestRun = (groups: string[]): number => {
    let best = 0;
    let run = 0;
    for (const g of groups) {
      run = g === "0" ? run + 1 : 0;
      best = Math.max(best, run);
    }
    return best;
  };
  const halves = text.split("::");
  if (halves.length === 1) return longestRun(text.split(":")) <= 1;
  const head = halves[0] === "" ? [] : halves[0]!.split(":");
  const tail = halves[1] === "" ? [] : halves[1]!.split(":");
  const compressed = 8 - head.length - tail.length;
  return compressed >= 2 && longestRun(head) < compressed && longestRun(tail) <= compressed;
}

describe("parsePrefix accepts", () => {
  it.each<[string, Family, number[], number]>([
    ["0.0.0.0/0", 4, [0, 0, 0, 0], 0],
    ["10.0.0.0/8", 4, [10, 0, 0, 0], 8],
    ["192.168.1.128/25", 4, [192, 168, 1, 128], 25],
    ["255.255.255.255/32", 4, [255, 255, 255, 255], 32],
    ["1.2.3.4/32", 4, [1, 2, 3, 4], 32],
    ["::/0", 6, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0],
    ["::1/128", 6, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 128],
    ["2001:db8::/32", 6, [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 32],
    ["2001:DB8::/32", 6, [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 32],
    ["2001:0db8:0000:0000:0000:0000:0000:0000/32", 6, [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 32],
    ["::ffff:1.2.3.4/128", 6, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4], 128],
    ["::FFFF:1.2.3.0/120", 6, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 0], 120],
    ["1:2:3:4:5:6:7:8/128", 6, [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8], 128],
    ["1:2:3:4:5:6:1.2.3.4/128", 6, [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4], 128],
    ["1:2:3:4:5:6:7::/128", 6, [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0], 128],
    ["::2:3:4:5:6:7:8/128", 6, [0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8], 128],
    ["fe80::/10", 6, [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 10],
  ])("%s", (text, family, addr, len) => {
    expect(parsePrefix(text)).toEqual({ family, addr: bytes(...addr), len });
    expect(parsePrefix(text, family)).toEqual({ family, addr: bytes(...addr), len });
  });
});

describe("parsePrefix refuses malformed text with a TypeError", () => {
  it.each<[string, string]>([
    ["", `invalid prefix "": empty string`],
    ["10.0.0/8", `invalid prefix "10.0.0/8": expected 4 dotted octets`],
    ["10.0.0.0.0/8", `invalid prefix "10.0.0.0.0/8": expected 4 dotted octets`],
    ["10..0.0/8", `invalid prefix "10..0.0/8": expected 4 dotted octets`],
    [".10.0.0/8", `invalid prefix ".10.0.0/8": expected 4 dotted octets`],
    ["10.0.0./8", `invalid prefix "10.0.0./8": expected 4 dotted octets`],
    ["10.0.0.256/8", `invalid prefix "10.0.0.256/8": octet 256 out of range 0-255`],
    ["300.0.0.0/8", `invalid prefix "300.0.0.0/8": octet 300 out of range 0-255`],
    ["10.0.0.1000/8", `invalid prefix "10.0.0.1000/8": octet 1000 out of range 0-255`],
    ["010.0.0.0/8", `invalid prefix "010.0.0.0/8": octet "010" has a leading zero (ambiguous octal)`],
    ["10.00.0.0/16", `invalid prefix "10.00.0.0/16": octet "00" has a leading zero (ambiguous octal)`],
    ["a.b.c.d/8", `invalid prefix "a.b.c.d/8": unexpected character "a" at index 0`],
    ["10.0.0.0", `invalid prefix "10.0.0.0": missing "/length"`],
    ["2001:db8::", `invalid prefix "2001:db8::": missing "/length"`],
    ["10.0.0.0/", `invalid prefix "10.0.0.0/": missing length after "/"`],
    ["10.0.0.0/+8", `invalid prefix "10.0.0.0/+8": length "+8" must be decimal digits`],
    ["10.0.0.0/-8", `invalid prefix "10.0.0.0/-8": length "-8" must be decimal digits`],
    ["10.0.0.0/0x8", `invalid prefix "10.0.0.0/0x8": length "0x8" must be decimal digits`],
    ["10.0.0.0/8/8", `invalid prefix "10.0.0.0/8/8": length "8/8" must be decimal digits`],
    ["10.0.0.0/08", `invalid prefix "10.0.0.0/08": length "08" has a leading zero`],
    ["10.0.0.0/00", `invalid prefix "10.0.0.0/00": length "00" has a leading zero`],
    [" 10.0.0.0/8", `invalid prefix " 10.0.0.0/8": whitespace not allowed`],
    ["10.0.0.0 /8", `invalid prefix "10.0.0.0 /8": whitespace not allowed`],
    ["10.0.0.0/ 8", `invalid prefix "10.0.0.0/ 8": whitespace not allowed`],
    ["10.0.0.0/8\n", String.raw`invalid prefix "10.0.0.0/8\n": whitespace not allowed`],
    ["10.0.0.0/8\r", String.raw`invalid prefix "10.0.0.0/8\r": whitespace not allowed`],
    ["\t2001:db8::/32", String.raw`invalid prefix "\t2001:db8::/32": whitespace not allowed`],
    ["1::2::3/64", `invalid prefix "1::2::3/64": more than one "::"`],
    ["::1::/64", `invalid prefix "::1::/64": more than one "::"`],
    ["1:::2/64", `invalid prefix "1:::2/64": unexpected ":" after "::"`],
    [":::/64", `invalid prefix ":::/64": unexpected ":" after "::"`],
    [":1::/64", `invalid prefix ":1::/64": leading ":" must be part of "::"`],
    ["1::2:/64", `invalid prefix "1::2:/64": trailing ":" must be part of "::"`],
    ["12345::/16", `invalid prefix "12345::/16": group "12345" has more than 4 hex digits`],
    ["1:2:3:4:5:6:7:8:9/128", `invalid prefix "1:2:3:4:5:6:7:8:9/128": more than 8 groups`],
    ["1:2:3:4:5:6:7/112", `invalid prefix "1:2:3:4:5:6:7/112": expected 8 groups or "::", got 7 groups`],
    ["1:2:3:4:5:6:1.2.3.4:8/128", `invalid prefix "1:2:3:4:5:6:1.2.3.4:8/128": embedded IPv4 must be the last 32 bits`],
    [
      "1:2:3:4:5:6:7:8::/128",
      `invalid prefix "1:2:3:4:5:6:7:8::/128": "::" must stand for at least one zero group, but 8 groups are given`,
    ],
    [
      "1:2:3:4::5:6:7:8/128",
      `invalid prefix "1:2:3:4::5:6:7:8/128": "::" must stand for at least one zero group, but 8 groups are given`,
    ],
    [
      "1:2:3:4:5:6:7:1.2.3.4/128",
      `invalid prefix "1:2:3:4:5:6:7:1.2.3.4/128": more than 8 groups (embedded IPv4 counts as 2)`,
    ],
    ["::ffff:1.2.3/120", `invalid prefix "::ffff:1.2.3/120": expected 4 dotted octets`],
    ["::ffff:1.2.3.256/128", `invalid prefix "::ffff:1.2.3.256/128": octet 256 out of range 0-255`],
    ["::ffff:01.2.3.4/128", `invalid prefix "::ffff:01.2.3.4/128": octet "01" has a leading zero (ambiguous octal)`],
    ["1::g/64", `invalid prefix "1::g/64": unexpected character "g" at index 3`],
    ["fe80::1%eth0/64", `invalid prefix "fe80::1%eth0/64": zone id "%eth0" not allowed`],
    ["fe80::1%eth0", `invalid prefix "fe80::1%eth0": zone id "%eth0" not allowed`],
  ])("%j", (text, message) => {
    expectThrow(() => parsePrefix(text), TypeError, message);
  });

  it("says what it got when the input is not a string", () => {
    expectThrow(() => parsePrefix(42 as unknown as string), TypeError, "invalid prefix: expected a string, got number");
    expectThrow(() => parsePrefix(null as unknown as string), TypeError, "invalid prefix: expected a string, got null");
    expectThrow(() => parsePrefix(undefined as unknown as string), TypeError, "invalid prefix: expected a string, got undefined");
    expectThrow(() => parsePrefix(["10.0.0.0/8"] as unknown as string), TypeError, "invalid prefix: expected a string, got array");
  });

  it("refuses a family that is not 4 or 6", () => {
    expectThrow(() => parsePrefix("10.0.0.0/8", 5 as Family), TypeError, "family must be 4 or 6, got 5");
    expectThrow(() => parsePrefix("10.0.0.0/8", "4" as unknown as Family), TypeError, "family must be 4 or 6, got string");
  });

  it("clips very long input in the message", () => {
    const text = `${"1".repeat(200)}.0.0.0/8`;
    expectThrow(() => parsePrefix(text), TypeError, `invalid prefix "${"1".repeat(100)}…": octet ${"1".repeat(200)} out of range 0-255`);
  });
});

describe("parsePrefix refuses unusable values with a RangeError", () => {
  it.each<[string, Family | undefined, string]>([
    ["10.0.0.0/33", undefined, `prefix length 33 out of range 0-32 for IPv4 in "10.0.0.0/33"`],
    ["10.0.0.0/99999999999999999999", undefined, `prefix length 99999999999999999999 out of range 0-32 for IPv4 in "10.0.0.0/99999999999999999999"`],
    ["::/129", undefined, `prefix length 129 out of range 0-128 for IPv6 in "::/129"`],
    ["10.1.0.0/8", undefined, `host bits set in "10.1.0.0/8": 10.1.0.0 has bits beyond /8 (did you mean 10.0.0.0/8?)`],
    ["10.0.0.1/31", undefined, `host bits set in "10.0.0.1/31": 10.0.0.1 has bits beyond /31 (did you mean 10.0.0.0/31?)`],
    ["1.0.0.0/0", undefined, `host bits set in "1.0.0.0/0": 1.0.0.0 has bits beyond /0 (did you mean 0.0.0.0/0?)`],
    [
      "2001:db8::1/32",
      undefined,
      `host bits set in "2001:db8::1/32": 2001:db8::1 has bits beyond /32 (did you mean 2001:db8::/32?)`,
    ],
    [
      "2001:DB8:0:0:8000:0:0:0/64",
      undefined,
      `host bits set in "2001:DB8:0:0:8000:0:0:0/64": 2001:db8:0:0:8000:: has bits beyond /64 (did you mean 2001:db8::/64?)`,
    ],
    ["::1/0", undefined, `host bits set in "::1/0": ::1 has bits beyond /0 (did you mean ::/0?)`],
    // The first bit past the boundary, inside a byte and inside a group.
    ["10.64.0.0/9", undefined, `host bits set in "10.64.0.0/9": 10.64.0.0 has bits beyond /9 (did you mean 10.0.0.0/9?)`],
    [
      "2001:db8:4000::/33",
      undefined,
      `host bits set in "2001:db8:4000::/33": 2001:db8:4000:: has bits beyond /33 (did you mean 2001:db8::/33?)`,
    ],
    ["2001:db8::/32", 4, `"2001:db8::/32" is IPv6, table is IPv4`],
    ["10.0.0.0/8", 6, `"10.0.0.0/8" is IPv4, table is IPv6`],
    ["::ffff:10.0.0.0/104", 4, `"::ffff:10.0.0.0/104" is IPv6, table is IPv4`],
  ])("%j (family %s)", (text, family, message) => {
    expectThrow(() => parsePrefix(text, family), RangeError, message);
  });
});

describe("host bits", () => {
  it("accept the last bit inside the prefix and refuse every bit beyond it", () => {
    expect(formatPrefix(parsePrefix("10.128.0.0/9"))).toBe("10.128.0.0/9");
    expect(formatPrefix(parsePrefix("2001:db8:8000::/33"))).toBe("2001:db8:8000::/33");
    const rand = rng(4291);
    for (let i = 0; i < 2000; i++) {
      const family: Family = i % 2 === 0 ? 4 : 6;
      const bits = family === 4 ? 32 : 128;
      const raw = new Uint8Array(bits / 8);
      for (let k = 0; k < raw.length; k++) raw[k] = Math.floor(rand() * 256);
      const len = Math.floor(rand() * bits); // < bits, so there is a host bit to set
      const p: Prefix = { family, addr: prefixFirst({ family, addr: raw, len }), len };
      if (len > 0) {
        const inside = p.addr.slice();
        inside[(len - 1) >>> 3]! |= 0x80 >>> ((len - 1) & 7);
        expect(parsePrefix(`${formatAddress(family, inside)}/${len}`).addr).toEqual(inside);
      }
      const bit = len + Math.floor(rand() * (bits - len));
      const outside = p.addr.slice();
      outside[bit >>> 3]! |= 0x80 >>> (bit & 7);
      const text = `${formatAddress(family, outside)}/${len}`;
      expectThrow(
        () => parsePrefix(text),
        RangeError,
        `host bits set in "${text}": ${formatAddress(family, outside)} has bits beyond /${len} (did you mean ${formatPrefix(p)}?)`,
      );
    }
  });
});

describe("parseAddress", () => {
  it("parses both families with the same rules", () => {
    expect(parseAddress("192.0.2.1")).toEqual({ family: 4, addr: bytes(192, 0, 2, 1) });
    expect(parseAddress("::ffff:192.0.2.1", 6)).toEqual({
      family: 6,
      addr: bytes(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1),
    });
    expect(parseAddress("2001:DB8::1").addr).toEqual(parsePrefix("2001:db8::1/128").addr);
  });

  it.each<[string, typeof TypeError | typeof RangeError, string]>([
    ["10.0.0.0/8", TypeError, `invalid address "10.0.0.0/8": unexpected "/" (an address has no length)`],
    ["10.0.0", TypeError, `invalid address "10.0.0": expected 4 dotted octets`],
    ["010.0.0.1", TypeError, `invalid address "010.0.0.1": octet "010" has a leading zero (ambiguous octal)`],
    ["1::2::3", TypeError, `invalid address "1::2::3": more than one "::"`],
    ["fe80::1%eth0", TypeError, `invalid address "fe80::1%eth0": zone id "%eth0" not allowed`],
    ["", TypeError, `invalid address "": empty string`],
    ["::1 ", TypeError, `invalid address "::1 ": whitespace not allowed`],
  ])("refuses %j", (text, cls, message) => {
    expectThrow(() => parseAddress(text), cls, message);
  });

  it("refuses the wrong family with a RangeError", () => {
    expectThrow(() => parseAddress("::1", 4), RangeError, `"::1" is IPv6, table is IPv4`);
    expectThrow(() => parseAddress("127.0.0.1", 6), RangeError, `"127.0.0.1" is IPv4, table is IPv6`);
  });
});

describe("formatting", () => {
  // RFC 5952 sections 4 and 5, plus the edges of zero-run selection.
  it.each<[string, string]>([
    ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"], // 4.2.1: compress as much as possible
    ["2001:db8::0:1", "2001:db8::1"],
    ["2001:db8:0000:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // 4.2.2: not for a single zero group
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // 4.2.3: the longest run
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // 4.2.3: the first run on a tie
    ["2001:DB8::AAAA:BbBb", "2001:db8::aaaa:bbbb"], // 4.3: lowercase
    ["2001:0db8:0001:000a::", "2001:db8:1:a::"], // 4.1: no leading zeros
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["1:0:0:0:0:0:0:1", "1::1"],
    ["0:1:0:1:0:1:0:1", "0:1:0:1:0:1:0:1"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    // 5: IPv4-mapped addresses in mixed notation; nothing else is.
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["0:0:0:0:0:FFFF:C000:0201", "::ffff:192.0.2.1"],
    ["::ffff:0:0", "::ffff:0.0.0.0"],
    ["::1.2.3.4", "::102:304"],
    ["::1:ffff:c000:201", "::1:ffff:c000:201"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
    // IPv4 as written, always.
    ["0.0.0.0", "0.0.0.0"],
    ["192.0.2.255", "192.0.2.255"],
  ])("%s -> %s", (text, canonical) => {
    const a = parseAddress(text);
    expect(formatAddress(a.family, a.addr)).toBe(canonical);
    // Canonical text is a fixed point.
    const b = parseAddress(canonical);
    expect(b).toEqual(a);
    expect(formatAddress(b.family, b.addr)).toBe(canonical);
  });

  it.each<[string, string]>([
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["::/0", "::/0"],
    ["2001:0DB8::/32", "2001:db8::/32"],
    ["2001:db8:0:0:0:0:0:0/48", "2001:db8::/48"],
    ["::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104"],
    ["fe80:0000::/10", "fe80::/10"],
  ])("formatPrefix(parsePrefix(%s)) is %s", (text, canonical) => {
    expect(formatPrefix(parsePrefix(text))).toBe(canonical);
  });

  it("round-trips random prefixes of both families", () => {
    const rand = rng(5952);
    for (let i = 0; i < 4000; i++) {
      const family: Family = i % 2 === 0 ? 4 : 6;
      const raw = new Uint8Array(family === 4 ? 4 : 16);
      // Mostly zero bytes, so "::" runs of every length and position come up.
      for (let k = 0; k < raw.length; k++) raw[k] = rand() < 0.5 ? 0 : Math.floor(rand() * 256);
      const len = Math.floor(rand() * (family === 4 ? 33 : 129));
      const p: Prefix = { family, addr: prefixFirst({ family, addr: raw, len }), len };
      const text = formatPrefix(p);
      expect(parsePrefix(text, family)).toEqual(p);
      expect(formatPrefix(parsePrefix(text))).toBe(text);
      expect(text).toBe(text.toLowerCase());
      expect(text).not.toMatch(/(^|:)0[0-9a-f]/); // no leading zeros in groups
      if (family === 6) expect(zeroRunsAreCanonical(text.slice(0, text.indexOf("/")))).toBe(true);
    }
  });

  it("refuses arguments that are not an address of the family", () => {
    expectThrow(() => formatAddress(4, new Uint8Array(16)), TypeError, "IPv4 address must be a Uint8Array of 4 bytes, got 16 bytes");
    expectThrow(() => formatAddress(6, [1, 2] as unknown as Uint8Array), TypeError, "IPv6 address must be a Uint8Array of 16 bytes, got array");
    expectThrow(() => formatAddress(5 as Family, new Uint8Array(4)), TypeError, "family must be 4 or 6, got 5");
    expectThrow(
      () => formatPrefix({ family: 4, addr: new Uint8Array(4), len: 40 }),
      RangeError,
      "prefix length 40 out of range 0-32 for IPv4",
    );
  });
});

describe("first, last and contains", () => {
  it.each<[string, string, string]>([
    ["10.0.0.0/8", "10.0.0.0", "10.255.255.255"],
    ["192.168.1.128/25", "192.168.1.128", "192.168.1.255"],
    ["172.16.0.0/12", "172.16.0.0", "172.31.255.255"],
    ["0.0.0.0/0", "0.0.0.0", "255.255.255.255"],
    ["1.2.3.4/32", "1.2.3.4", "1.2.3.4"],
    ["::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    ["2001:db8::/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"],
    ["2001:db8::/33", "2001:db8::", "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff"],
    ["2001:db8::/127", "2001:db8::", "2001:db8::1"],
    ["::1/128", "::1", "::1"],
  ])("%s spans %s - %s", (text, first, last) => {
    const p = parsePrefix(text);
    expect(formatAddress(p.family, prefixFirst(p))).toBe(first);
    expect(formatAddress(p.family, prefixLast(p))).toBe(last);
    expect(prefixContains(p, prefixFirst(p))).toBe(true);
    expect(prefixContains(p, prefixLast(p))).toBe(true);
  });

  it("returns new arrays, leaving the prefix alone", () => {
    const p = parsePrefix("10.0.0.0/8");
    prefixLast(p)[0] = 99;
    prefixFirst(p)[0] = 99;
    expect(formatPrefix(p)).toBe("10.0.0.0/8");
  });

  it.each<[string, string, boolean]>([
    ["10.0.0.0/8", "10.255.255.255", true],
    ["10.0.0.0/8", "11.0.0.0", false],
    ["10.0.0.0/8", "9.255.255.255", false],
    ["192.168.1.128/25", "192.168.1.127", false],
    ["192.168.1.128/25", "192.168.1.200", true],
    ["0.0.0.0/0", "255.255.255.255", true],
    ["1.2.3.4/32", "1.2.3.4", true],
    ["1.2.3.4/32", "1.2.3.5", false],
    ["2001:db8::/33", "2001:db8:8000::", false],
    ["2001:db8::/33", "2001:db8:7fff::1", true],
    ["::/0", "ffff::1", true],
    ["::1/128", "::", false],
    // The other family is never inside.
    ["0.0.0.0/0", "::", false],
    ["::/0", "0.0.0.0", false],
  ])("%s contains %s: %s", (prefix, addr, inside) => {
    expect(prefixContains(parsePrefix(prefix), parseAddress(addr).addr)).toBe(inside);
  });

  it("refuses an address that is neither 4 nor 16 bytes", () => {
    expectThrow(
      () => prefixContains(parsePrefix("::/0"), new Uint8Array(5)),
      TypeError,
      "address must be a Uint8Array of 4 or 16 bytes, got 5 bytes",
    );
  });
});

describe("packPrefixes", () => {
  it("packs addresses and lengths back to back", () => {
    const v4 = packPrefixes(["10.0.0.0/8", "192.168.1.0/24", "0.0.0.0/0"], 4);
    expect(v4.addrs).toEqual(bytes(10, 0, 0, 0, 192, 168, 1, 0, 0, 0, 0, 0));
    expect(v4.lens).toEqual(bytes(8, 24, 0));
    const v6 = packPrefixes(["2001:db8::/32", "::1/128"], 6);
    expect(v6.addrs).toEqual(Uint8Array.from([...parsePrefix("2001:db8::/32").addr, ...parsePrefix("::1/128").addr]));
    expect(v6.lens).toEqual(bytes(32, 128));
    expect(packPrefixes([], 6)).toEqual({ addrs: new Uint8Array(0), lens: new Uint8Array(0) });
  });

  it("names the bad entry, keeping the error class", () => {
    const ok = ["1.0.0.0/24", "2.0.0.0/16"];
    expectThrow(() => packPrefixes([...ok, "10.0.0/8"], 4), TypeError, `entry 2: invalid prefix "10.0.0/8": expected 4 dotted octets`);
    expectThrow(() => packPrefixes([...ok, "2001:db8::/32"], 4), RangeError, `entry 2: "2001:db8::/32" is IPv6, table is IPv4`);
    expectThrow(
      () => packPrefixes(["10.1.0.0/8"], 4),
      RangeError,
      `entry 0: host bits set in "10.1.0.0/8": 10.1.0.0 has bits beyond /8 (did you mean 10.0.0.0/8?)`,
    );
    expectThrow(() => packPrefixes(["::/0", "::/129"], 6), RangeError, `entry 1: prefix length 129 out of range 0-128 for IPv6 in "::/129"`);
    expectThrow(() => packPrefixes([7 as unknown as string], 4), TypeError, "entry 0: invalid prefix: expected a string, got number");
    expectThrow(() => packPrefixes("10.0.0.0/8" as unknown as string[], 4), TypeError, "prefixes must be an array of strings, got string");
    expectThrow(() => packPrefixes([], undefined as unknown as Family), TypeError, "family must be 4 or 6, got undefined");
  });
});

describe("prefixKey and parsePrefixInto (the batch path)", () => {
  it("prefixKey is formatPrefix(parsePrefix(text)): IPv4 as given, IPv6 canonicalised", () => {
    for (const t of ["10.0.0.0/8", "0.0.0.0/0", "2001:DB8:0:0::/64", "2001:db8::/32", "::ffff:0:0/96", "::/0", "fe80:0:0:0:0:0:0:1/128"]) {
      expect(prefixKey(t)).toBe(formatPrefix(parsePrefix(t)));
    }
    expect(prefixKey("2001:DB8:0:0::/64")).toBe("2001:db8::/64");
  });

  it("refuses what parsePrefix refuses, with the same message", () => {
    for (const t of ["10.1.0.0/8", "010.0.0.0/8", "1.2.3.4", "::/129", "", "1.2.3.4/ 8"]) {
      let want: Error | null = null;
      try {
        parsePrefix(t);
      } catch (e: unknown) {
        want = e as Error;
      }
      expect(want).not.toBeNull();
      const cls = want!.constructor as typeof TypeError;
      expectThrow(() => prefixKey(t), cls, want!.message);
      expectThrow(() => parsePrefixInto(t, new Uint8Array(16), 0), cls, want!.message);
    }
  });

  it("parsePrefixInto writes the address at the offset and returns the length (plus PREFIX_V6)", () => {
    const out = new Uint8Array(24).fill(0xee);
    expect(parsePrefixInto("192.0.2.0/24", out, 2)).toBe(24);
    expect([...out.subarray(0, 7)]).toEqual([0xee, 0xee, 192, 0, 2, 0, 0xee]);
    expect(parsePrefixInto("2001:db8::/32", out, 8)).toBe(PREFIX_V6 | 32);
    expect(out.subarray(8, 24)).toEqual(parsePrefix("2001:db8::/32").addr);
  });
});

describe("the full Internet table (fulltable-2024)", () => {
  const lines = [...fullTable().v4, ...fullTable().v6];
  const v4 = lines.filter((l) => !l.includes(":"));
  const v6 = lines.filter((l) => l.includes(":"));

  it("parses every prefix, which is already in canonical form", () => {
    expect(v4.length).toBe(901_899);
    expect(v6.length).toBe(160_147);
    // Speed is not asserted here (tests are not benchmarks); it is ~150 ns per prefix.
    let lenSum = 0;
    for (const text of lines) lenSum += parsePrefix(text).len;
    expect(lenSum).toBeGreaterThan(0);

    for (const text of lines) {
      if (formatPrefix(parsePrefix(text)) !== text) expect(formatPrefix(parsePrefix(text))).toBe(text);
    }
  });

  it("packs each family, and refuses it as the other family at entry 0", () => {
    const p4 = packPrefixes(v4, 4);
    const p6 = packPrefixes(v6, 6);
    expect(p4.addrs.length).toBe(v4.length * 4);
    expect(p6.addrs.length).toBe(v6.length * 16);
    for (const i of [0, 1, 12345, v4.length - 1]) {
      const p = parsePrefix(v4[i]!);
      expect(p4.addrs.subarray(i * 4, i * 4 + 4)).toEqual(p.addr);
      expect(p4.lens[i]).toBe(p.len);
    }
    for (const i of [0, 1, 12345, v6.length - 1]) {
      const p = parsePrefix(v6[i]!);
      expect(p6.addrs.subarray(i * 16, i * 16 + 16)).toEqual(p.addr);
      expect(p6.lens[i]).toBe(p.len);
    }
    expect(() => packPrefixes(v6, 4)).toThrow(/^entry 0: "[^"]+" is IPv6, table is IPv4$/);
  });
});
