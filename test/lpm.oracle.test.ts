/**
 * The native trie against the reference binary trie on the real full Internet table:
 * the first, last and a random inner address of every prefix, and 1M random addresses, after a
 * full load, after deleting a random 20%, and after re-inserting them.
 */
import { describe, expect, it } from "vitest";
import { createLpm, LPM_MISS, type Lpm } from "../src/lookup/lpm.js";
import { parsePrefix, prefixFirst, prefixLast, type Family, type Prefix } from "../src/lookup/prefix.js";
import { ReferenceLpm } from "../src/lookup/reference.js";
import { fullTable, hashNextHop, rng } from "./support/fulltable.js";

function probes(prefixes: Prefix[], family: Family, rand: () => number, randomCount: number): Uint8Array {
  const w = family === 4 ? 4 : 16;
  const out = new Uint8Array((prefixes.length * 3 + randomCount) * w);
  let o = 0;
  for (const p of prefixes) {
    out.set(prefixFirst(p), o);
    out.set(prefixLast(p), o + w);
    // random inner address: random host bits under the prefix
    const inner = prefixFirst(p);
    const last = prefixLast(p);
    for (let i = 0; i < w; i++) {
      const hostMask = inner[i]! ^ last[i]!;
      inner[i] = inner[i]! | (rand() & hostMask);
    }
    out.set(inner, o + 2 * w);
    o += 3 * w;
  }
  for (let k = 0; k < randomCount; k++, o += w) {
    for (let i = 0; i < w; i++) out[o + i] = rand() & 0xff;
    // IPv6: keep random addresses in 2000::/3 where the routes are, or nearly all would miss
    if (family === 6) out[o] = 0x20 | (out[o]! & 0x1f);
  }
  return out;
}

function compare(lpm: Lpm, ref: ReferenceLpm, addrs: Uint8Array, family: Family): { checked: number; hits: number } {
  const w = family === 4 ? 4 : 16;
  const n = addrs.length / w;
  const got = new Uint32Array(n);
  lpm.lookupBatch(addrs, got);
  let hits = 0;
  let firstBad = -1;
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const want = ref.lookup(addrs.subarray(i * w, i * w + w));
    const g = got[i] === LPM_MISS ? null : got[i];
    if (g !== want) {
      bad++;
      if (firstBad < 0) firstBad = i;
    }
    if (want !== null) hits++;
  }
  if (bad > 0) {
    const a = Array.from(addrs.subarray(firstBad * w, firstBad * w + w));
    expect.fail(`${bad} of ${n} lookups disagree with the reference; first at address bytes [${a.join(",")}]`);
  }
  return { checked: n, hits };
}

for (const family of [4, 6] as const) {
  describe(`IPv${family} full table against the reference`, () => {
    it("agrees after load, after deleting 20%, and after re-inserting", async () => {
      const texts = family === 4 ? fullTable().v4 : fullTable().v6;
      expect(texts.length).toBeGreaterThan(family === 4 ? 900_000 : 160_000);
      const nhs = texts.map((t) => hashNextHop(t));
      const parsed = texts.map((t) => parsePrefix(t, family));
      const rand = rng(family * 7919);

      const lpm = createLpm(family);
      await lpm.load(texts, nhs);
      const ref = new ReferenceLpm(family);
      parsed.forEach((p, i) => ref.insert(p.addr, p.len, nhs[i]!));
      expect(lpm.stats().routes).toBe(ref.size);

      const addrs = probes(parsed, family, rand, 1_000_000);
      const full = compare(lpm, ref, addrs, family);
      expect(full.checked).toBe(parsed.length * 3 + 1_000_000);
      // every prefix's own addresses must hit something
      expect(full.hits).toBeGreaterThanOrEqual(parsed.length * 3);

      // delete a random 20%
      const removed: number[] = [];
      for (let i = 0; i < parsed.length; i++) if (rand() % 5 === 0) removed.push(i);
      for (const i of removed) {
        expect(lpm.remove(texts[i]!)).toBe(nhs[i]);
        expect(ref.remove(parsed[i]!.addr, parsed[i]!.len)).toBe(true);
      }
      expect(lpm.stats().routes).toBe(parsed.length - removed.length);
      compare(lpm, ref, addrs, family);

      // re-insert them
      for (const i of removed) {
        expect(lpm.insert(texts[i]!, nhs[i]!)).toBeNull();
        ref.insert(parsed[i]!.addr, parsed[i]!.len, nhs[i]!);
      }
      expect(lpm.stats().routes).toBe(parsed.length);
      compare(lpm, ref, addrs, family);

      // incremental maintenance keeps the trie as compact as a fresh build
      const fresh = createLpm(family);
      await fresh.load(texts, nhs);
      expect(lpm.stats().nodes).toBe(fresh.stats().nodes);
      expect(lpm.stats().leaves).toBe(fresh.stats().leaves);
    });
  });
}
