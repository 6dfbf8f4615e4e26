/**
 * Address and prefix text: parse, validate, format.
 *
 * Every route reaches the native LPM tries through here, so this is where a bad route is refused
 * with a message that names the input and what is wrong with it; native code only asserts.
 * Malformed text is a TypeError; well-formed text with an unusable value (a length out of range,
 * host bits set, the wrong family for the table) is a RangeError.
 *
 * What is accepted:
 *  - IPv4: exactly four dotted decimal octets 0-255, no leading zeros ("010" could be octal to
 *    inet_aton and decimal to others, so it is refused rather than guessed).
 *  - IPv6: every RFC 4291 section 2.2 text form — full, "::"-compressed, with a trailing embedded
 *    IPv4 ("::ffff:1.2.3.4"), hex digits in either case. Zone ids ("%eth0") are refused: a zone
 *    is not part of a route.
 *  - Length: "/" followed by decimal digits, no sign, no leading zero (except "/0").
 *  - No whitespace anywhere: callers trim, this does not guess.
 *
 * Formatting is RFC 5952: lowercase, leading zeros dropped, the longest run of two or more zero
 * groups compressed to "::" (the leftmost on a tie). IPv4-mapped addresses (::ffff:0:0/96) are
 * written in the mixed notation RFC 5952 section 5 recommends, "::ffff:192.0.2.1"; no other
 * address gets dotted notation.
 *
 * Speed matters because full tables (about a million prefixes) come through parsePrefix and
 * packPrefixes: the scanners walk char codes once, allocate nothing on the success path except
 * the result, and keep their intermediate result in module scratch (JS is single-threaded and
 * nothing here calls out, so one scratch set is enough). packPrefixes writes straight into its
 * output and allocates nothing per entry.
 */

export type Family = 4 | 6;

export interface Prefix {
  family: Family;
  /** 4 or 16 bytes, network order; bits beyond `len` are zero. */
  addr: Uint8Array;
  len: number;
}

export interface Address {
  family: Family;
  /** 4 or 16 bytes, network order. */
  addr: Uint8Array;
}

type What = "prefix" | "address";

// ---------------------------------------------------------------------------------------------
// Scanner scratch and result encoding

/** IPv4 result of the last scan, as an unsigned 32-bit value. */
let scanV4 = 0;
/** IPv6 result of the last scan, as eight 16-bit groups. */
const scanV6 = new Uint16Array(8);

/** scan() returns (IPv6 ? SCAN_V6 : 0) | length. */
const SCAN_V6 = 0x100;
const SCAN_LEN = 0xff;

const CH_DOT = 46;
const CH_SLASH = 47;
const CH_0 = 48;
const CH_COLON = 58;
const CH_PERCENT = 37;

const EXPECT_4_OCTETS = "expected 4 dotted octets";

// ---------------------------------------------------------------------------------------------
// Errors (built only on the failure path)

/** The input as shown in messages: JSON-quoted so whitespace and control characters are visible. */
function quote(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function malformed(what: What, text: string, problem: string): TypeError {
  return new TypeError(`invalid ${what} ${quote(text)}: ${problem}`);
}

function isSpaceAt(text: string, i: number): boolean {
  return /\s/u.test(String.fromCodePoint(text.codePointAt(i) ?? 0));
}

/** The error for an unexpected character at `i`, naming the common causes. */
function badChar(what: What, text: string, i: number): TypeError {
  const c = text.charCodeAt(i);
  if (c === CH_PERCENT) {
    const slash = text.indexOf("/", i);
    const zone = text.slice(i, slash < 0 ? text.length : slash);
    return malformed(what, text, `zone id ${JSON.stringify(zone)} not allowed`);
  }
  if (isSpaceAt(text, i)) return malformed(what, text, "whitespace not allowed");
  const ch = String.fromCodePoint(text.codePointAt(i) ?? c);
  return malformed(what, text, `unexpected character ${JSON.stringify(ch)} at index ${i}`);
}

/** The run of decimal digits starting at `start`. */
function digitRun(text: string, start: number): string {
  let end = start;
  while (end < text.length) {
    const d = text.charCodeAt(end) - CH_0;
    if (d < 0 || d > 9) break;
    end++;
  }
  return text.slice(start, end);
}

function hostBitsError(text: string, family: Family, len: number): RangeError {
  const addr = new Uint8Array(family === 4 ? 4 : 16);
  writeScan(addr, 0, family === 6);
  const first = prefixFirst({ family, addr, len });
  const have = formatAddress(family, addr);
  const want = formatAddress(family, first);
  return new RangeError(
    `host bits set in ${quote(text)}: ${have} has bits beyond /${len} (did you mean ${want}/${len}?)`,
  );
}

function checkFamily(family: unknown, optional: boolean): void {
  if (family === 4 || family === 6 || (optional && family === undefined)) return;
  throw new TypeError(`family must be 4 or 6, got ${typeof family === "number" ? family : typeName(family)}`);
}

function checkAddr(family: Family, addr: unknown): asserts addr is Uint8Array {
  const want = family === 4 ? 4 : 16;
  if (addr instanceof Uint8Array && addr.length === want) return;
  const got = addr instanceof Uint8Array ? `${addr.length} bytes` : typeName(addr);
  throw new TypeError(`IPv${family} address must be a Uint8Array of ${want} bytes, got ${got}`);
}

function checkPrefix(p: unknown): asserts p is Prefix {
  if (typeof p !== "object" || p === null) {
    throw new TypeError(`prefix must be an object { family, addr, len }, got ${typeName(p)}`);
  }
  const { family, addr, len } = p as Partial<Prefix>;
  checkFamily(family, false);
  checkAddr(family as Family, addr);
  const max = family === 4 ? 32 : 128;
  if (typeof len !== "number" || !Number.isInteger(len) || len < 0 || len > max) {
    throw new RangeError(`prefix length ${String(len)} out of range 0-${max} for IPv${String(family)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Scanners

/** Scans dotted-quad text[start, end) into scanV4. */
function scanIpv4(what: What, text: string, start: number, end: number): void {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let octetStart = start;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    const d = c - CH_0;
    if (d >= 0 && d <= 9) {
      if (digits === 0) {
        octetStart = i;
      } else if (octet === 0) {
        throw malformed(what, text, `octet "${digitRun(text, octetStart)}" has a leading zero (ambiguous octal)`);
      }
      octet = octet * 10 + d;
      if (++digits > 3) {
        throw malformed(what, text, `octet ${digitRun(text, octetStart)} out of range 0-255`);
      }
    } else if (c === CH_DOT) {
      if (digits === 0 || ++dots > 3) throw malformed(what, text, EXPECT_4_OCTETS);
      if (octet > 255) throw malformed(what, text, `octet ${octet} out of range 0-255`);
      value = (value << 8) | octet;
      octet = 0;
      digits = 0;
    } else {
      throw badChar(what, text, i);
    }
  }
  if (digits === 0 || dots !== 3) throw malformed(what, text, EXPECT_4_OCTETS);
  if (octet > 255) throw malformed(what, text, `octet ${octet} out of range 0-255`);
  scanV4 = ((value << 8) | octet) >>> 0;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  const l = c | 0x20; // ASCII lowercase
  if (l >= 97 && l <= 102) return l - 87; // a-f
  return -1;
}

/** Scans IPv6 text[0, end) into scanV6. */
function scanIpv6(what: What, text: string, end: number): void {
  const g = scanV6;
  let n = 0; // groups stored in g
  let gap = -1; // where "::" stands: the index in g of the first group after it
  let i = 0;
  if (text.charCodeAt(0) === CH_COLON) {
    if (text.charCodeAt(1) !== CH_COLON) throw malformed(what, text, `leading ":" must be part of "::"`);
    gap = 0;
    i = 2;
  }
  while (i < end) {
    // A group is expected at i.
    const start = i;
    let v = 0;
    for (; i < end; i++) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) break;
      v = v * 16 + h;
    }
    if (i < end && text.charCodeAt(i) === CH_DOT) {
      // Embedded IPv4, which can only be the last 32 bits.
      const colon = text.indexOf(":", start);
      if (colon >= 0 && colon < end) throw malformed(what, text, "embedded IPv4 must be the last 32 bits");
      if (n > 6) throw malformed(what, text, "more than 8 groups (embedded IPv4 counts as 2)");
      scanIpv4(what, text, start, end);
      g[n++] = scanV4 >>> 16;
      g[n++] = scanV4 & 0xffff;
      break;
    }
    if (i === start) {
      if (text.charCodeAt(i) === CH_COLON) throw malformed(what, text, `unexpected ":" after "::"`);
      throw badChar(what, text, i);
    }
    if (i - start > 4) {
      throw malformed(what, text, `group "${text.slice(start, i)}" has more than 4 hex digits`);
    }
    if (n === 8) throw malformed(what, text, "more than 8 groups");
    g[n++] = v;
    if (i === end) break;
    if (text.charCodeAt(i) !== CH_COLON) throw badChar(what, text, i);
    i++;
    if (i < end && text.charCodeAt(i) === CH_COLON) {
      if (gap >= 0) throw malformed(what, text, `more than one "::"`);
      gap = n;
      i++;
    } else if (i === end) {
      throw malformed(what, text, `trailing ":" must be part of "::"`);
    }
  }
  if (gap < 0) {
    if (n !== 8) throw malformed(what, text, `expected 8 groups or "::", got ${n} groups`);
    return;
  }
  if (n > 7) throw malformed(what, text, `"::" must stand for at least one zero group, but 8 groups are given`);
  const shift = 8 - n;
  for (let k = n - 1; k >= gap; k--) g[k + shift] = g[k]!;
  g.fill(0, gap, gap + shift);
}

/** Scans the decimal length text[slash + 1, length). */
function scanLength(text: string, slash: number, family: Family): number {
  const start = slash + 1;
  const end = text.length;
  if (start === end) throw malformed("prefix", text, `missing length after "/"`);
  let len = 0;
  for (let i = start; i < end; i++) {
    const d = text.charCodeAt(i) - CH_0;
    if (d < 0 || d > 9) {
      if (isSpaceAt(text, i)) throw badChar("prefix", text, i);
      throw malformed("prefix", text, `length ${JSON.stringify(text.slice(start))} must be decimal digits`);
    }
    len = len * 10 + d;
  }
  if (end - start > 1 && text.charCodeAt(start) === CH_0) {
    throw malformed("prefix", text, `length "${text.slice(start)}" has a leading zero`);
  }
  const max = family === 4 ? 32 : 128;
  if (len > max) {
    throw new RangeError(`prefix length ${text.slice(start)} out of range 0-${max} for IPv${family} in ${quote(text)}`);
  }
  return len;
}

function hostBitsSet(v6: boolean, len: number): boolean {
  if (!v6) return len < 32 && scanV4 << len !== 0;
  for (let k = 0; k < 8; k++) {
    const keep = len - k * 16; // bits of group k inside the prefix
    if (keep >= 16) continue;
    const mask = keep <= 0 ? 0 : (0xffff << (16 - keep)) & 0xffff;
    if ((scanV6[k]! & ~mask) !== 0) return true;
  }
  return false;
}

/** Parses and validates `text`; the result is in the scratch, see SCAN_V6 and SCAN_LEN. */
function scan(what: What, text: unknown, family: Family | undefined): number {
  if (typeof text !== "string") throw new TypeError(`invalid ${what}: expected a string, got ${typeName(text)}`);
  if (text.length === 0) throw malformed(what, text, "empty string");
  const slash = text.indexOf("/");
  if (slash >= 0 && what === "address") {
    throw malformed(what, text, `unexpected "/" (an address has no length)`);
  }
  const end = slash < 0 ? text.length : slash;
  const colon = text.indexOf(":");
  const v6 = colon >= 0 && colon < end;
  if (v6) scanIpv6(what, text, end);
  else scanIpv4(what, text, 0, end);
  const got: Family = v6 ? 6 : 4;
  if (family !== undefined && family !== got) {
    throw new RangeError(`${quote(text)} is IPv${got}, table is IPv${family}`);
  }
  if (what === "address") return v6 ? SCAN_V6 | 128 : 32;
  if (slash < 0) throw malformed(what, text, `missing "/length"`);
  const len = scanLength(text, slash, got);
  if (hostBitsSet(v6, len)) throw hostBitsError(text, got, len);
  return v6 ? SCAN_V6 | len : len;
}

/** Writes the scanned address into out[off, off + 4 or 16). */
function writeScan(out: Uint8Array, off: number, v6: boolean): void {
  if (!v6) {
    const v = scanV4;
    out[off] = v >>> 24;
    out[off + 1] = v >>> 16;
    out[off + 2] = v >>> 8;
    out[off + 3] = v;
    return;
  }
  for (let k = 0; k < 8; k++) {
    const v = scanV6[k]!;
    out[off + 2 * k] = v >>> 8;
    out[off + 2 * k + 1] = v;
  }
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Parses "a.b.c.d/len" or an IPv6 "x:x::x/len". With `family`, text of the other family is a
 * RangeError naming both. Host bits set are a RangeError that suggests the intended prefix.
 */
export function parsePrefix(text: string, family?: Family): Prefix {
  checkFamily(family, true);
  const r = scan("prefix", text, family);
  const v6 = (r & SCAN_V6) !== 0;
  const addr = new Uint8Array(v6 ? 16 : 4);
  writeScan(addr, 0, v6);
  return { family: v6 ? 6 : 4, addr, len: r & SCAN_LEN };
}

/** Parses an address with the same rules as parsePrefix, without a length. */
export function parseAddress(text: string, family?: Family): Address {
  checkFamily(family, true);
  const v6 = (scan("address", text, family) & SCAN_V6) !== 0;
  const addr = new Uint8Array(v6 ? 16 : 4);
  writeScan(addr, 0, v6);
  return { family: v6 ? 6 : 4, addr };
}

/**
 * Parses a prefix with the rules of parsePrefix into out[off, off + 4 or 16) and returns its
 * length, plus 0x100 (PREFIX_V6) for IPv6. Allocates nothing: for batches of routes.
 */
export function parsePrefixInto(text: string, out: Uint8Array, off: number): number {
  const r = scan("prefix", text, undefined);
  writeScan(out, off, (r & SCAN_V6) !== 0);
  return r;
}

export const PREFIX_V6 = SCAN_V6;

const keyScratch = new Uint8Array(16);

/**
 * The canonical text of a prefix, formatPrefix(parsePrefix(text)), without building the Prefix:
 * IPv4 text that parses is canonical already (one spelling per value), IPv6 text is formatted.
 * Canonical text is what tables are keyed by; its family is 6 exactly when it has a ":".
 */
export function prefixKey(text: string): string {
  const r = scan("prefix", text, undefined);
  if ((r & SCAN_V6) === 0) return text;
  writeScan(keyScratch, 0, true);
  return `${formatIpv6(keyScratch)}/${r & SCAN_LEN}`;
}

/**
 * Parses many prefixes of one family into two packed arrays, ready to hand to native code:
 * entry i's address is addrs[i * w, (i + 1) * w) with w = 4 or 16, its length is lens[i].
 * Errors are those of parsePrefix with "entry <i>: " prepended.
 */
export function packPrefixes(texts: readonly string[], family: Family): { addrs: Uint8Array; lens: Uint8Array } {
  checkFamily(family, false);
  if (!Array.isArray(texts)) throw new TypeError(`prefixes must be an array of strings, got ${typeName(texts)}`);
  const n = texts.length;
  const v6 = family === 6;
  const width = v6 ? 16 : 4;
  const addrs = new Uint8Array(n * width);
  const lens = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let r: number;
    try {
      r = scan("prefix", texts[i], family);
    } catch (e: unknown) {
      if (e instanceof RangeError) throw new RangeError(`entry ${i}: ${e.message}`);
      if (e instanceof TypeError) throw new TypeError(`entry ${i}: ${e.message}`);
      throw e;
    }
    writeScan(addrs, i * width, v6);
    lens[i] = r;
  }
  return { addrs, lens };
}

function formatIpv4(a: Uint8Array, off: number): string {
  return `${a[off]}.${a[off + 1]}.${a[off + 2]}.${a[off + 3]}`;
}

function formatIpv6(a: Uint8Array): string {
  let mapped = a[10] === 0xff && a[11] === 0xff;
  for (let k = 0; k < 10 && mapped; k++) mapped = a[k] === 0;
  if (mapped) return `::ffff:${formatIpv4(a, 12)}`;

  const g: number[] = [];
  for (let k = 0; k < 8; k++) g.push((a[2 * k]! << 8) | a[2 * k + 1]!);
  // Longest run of zero groups, leftmost on a tie; a single zero group is not compressed.
  let bestAt = -1;
  let bestLen = 1;
  for (let k = 0; k < 8; ) {
    if (g[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && g[e] === 0) e++;
    if (e - k > bestLen) {
      bestAt = k;
      bestLen = e - k;
    }
    k = e;
  }
  const hex = (from: number, to: number): string =>
    g
      .slice(from, to)
      .map((v) => v.toString(16))
      .join(":");
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

/** Formats an address: dotted quad, or RFC 5952 IPv6 (see the file comment). */
export function formatAddress(family: Family, addr: Uint8Array): string {
  checkFamily(family, false);
  checkAddr(family, addr);
  return family === 4 ? formatIpv4(addr, 0) : formatIpv6(addr);
}

/** Formats "addr/len"; parsePrefix(formatPrefix(p)) equals p. */
export function formatPrefix(p: Prefix): string {
  checkPrefix(p);
  return `${formatAddress(p.family, p.addr)}/${p.len}`;
}

/** The prefix of length len that contains addr (host bits cleared). */
export function maskedPrefix(family: Family, addr: Uint8Array, len: number): Prefix {
  const a = addr.slice();
  for (let i = 0; i < a.length; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    a[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return { family, addr: a, len };
}

/**
 * Longest match of an address in a table keyed by formatted prefix: the text of the longest
 * prefix containing addr for which has(text) is true, or null.
 */
export function longestKey(family: Family, addr: Uint8Array, has: (text: string) => boolean): string | null {
  for (let len = family === 4 ? 32 : 128; len >= 0; len--) {
    const text = formatPrefix(maskedPrefix(family, addr, len));
    if (has(text)) return text;
  }
  return null;
}

/**
 * Whether `addr` is inside `p`. An address of the other family is not inside (false, like Go's
 * netip.Prefix.Contains); an array that is neither 4 nor 16 bytes is a TypeError.
 */
export function prefixContains(p: Prefix, addr: Uint8Array): boolean {
  checkPrefix(p);
  if (!(addr instanceof Uint8Array) || (addr.length !== 4 && addr.length !== 16)) {
    const got = addr instanceof Uint8Array ? `${addr.length} bytes` : typeName(addr);
    throw new TypeError(`address must be a Uint8Array of 4 or 16 bytes, got ${got}`);
  }
  if (addr.length !== p.addr.length) return false;
  const full = p.len >>> 3;
  for (let k = 0; k < full; k++) if (addr[k] !== p.addr[k]) return false;
  const rest = p.len & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((addr[full]! ^ p.addr[full]!) & mask) === 0;
}

/** Copy of p.addr with the bits beyond p.len set to `ones`. */
function prefixEdge(p: Prefix, ones: boolean): Uint8Array {
  checkPrefix(p);
  const out = p.addr.slice();
  for (let k = p.len >>> 3; k < out.length; k++) {
    const keep = Math.max(0, p.len - k * 8); // bits of byte k inside the prefix
    const mask = (0xff << (8 - keep)) & 0xff;
    out[k] = ones ? out[k]! | (~mask & 0xff) : out[k]! & mask;
  }
  return out;
}

/** The first address of `p` (host bits clear), as a new array. */
export function prefixFirst(p: Prefix): Uint8Array {
  return prefixEdge(p, false);
}

/** The last address of `p` (host bits set), as a new array. */
export function prefixLast(p: Prefix): Uint8Array {
  return prefixEdge(p, true);
}
