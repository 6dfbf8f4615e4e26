/**
 * The real full Internet table (data/fulltable-2024.prefixes.txt.gz, see data/README.md for
 * its source and licence), split by family, with next hops assigned by a hash of the prefix.
 */
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

export const FULLTABLE = fileURLToPath(new URL("../../data/fulltable-2024.prefixes.txt.gz", import.meta.url));

export interface Table {
  v4: string[];
  v6: string[];
}

let cached: Table | undefined;

export function fullTable(): Table {
  if (cached) return cached;
  const text = gunzipSync(readFileSync(FULLTABLE)).toString("latin1");
  const v4: string[] = [];
  const v6: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.length === 0) continue;
    (line.includes(":") ? v6 : v4).push(line);
  }
  cached = { v4, v6 };
  return cached;
}

/** FNV-1a over the prefix text, folded onto [0, n). */
export function hashNextHop(prefix: string, n = 500): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < prefix.length; i++) {
    h ^= prefix.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % n;
}

/** Small seeded PRNG (xorshift32) so that failures reproduce. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** Deterministic PRNG (mulberry32) giving numbers in [0, 1), so a failure reproduces. */
export function rngUnit(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
