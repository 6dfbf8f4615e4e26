/**
 * Loads the native addon. It tries the build directories in a fixed order and, when none loads,
 * says what to install or run instead of a bare "module not found".
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface LpmNativeStats {
  /** prefixes in the table */
  routes: number;
  /** memory of the lookup structure (direct table, nodes, leaves, next-hop dictionary) */
  bytes: number;
  /** the same with blocks freed but not yet reused */
  bytesReserved: number;
  /** memory of the control half (radix tree, dictionary index) */
  ribBytes: number;
  /** internal trie nodes */
  nodes: number;
  leaves: number;
  /** distinct next-hop values */
  nextHops: number;
  /** retired blocks waiting for a grace period (internal) */
  pendingBlocks: number;
}

export interface NativeLpm {
  add(addr: Uint8Array, len: number, nh: number): number;
  delete(addr: Uint8Array, len: number): number;
  get(addr: Uint8Array, len: number): number;
  lookup(addr: Uint8Array): number;
  lookupBatch(addrs: Uint8Array, out: Uint32Array): void;
  stats(): LpmNativeStats;
  build(addrs: Uint8Array, lens: Uint8Array, nhs: Uint32Array): Promise<number>;
  walk(): { addrs: Uint8Array; lens: Uint8Array; nhs: Uint32Array };
}

export interface NativeAddon {
  NativeLpm: new (family: 4 | 6) => NativeLpm;
  lpmStatus: { OK: number; NOENT: number; NOMEM: number; NH_FULL: number; INVAL: number };
  LPM_MISS: number;
  LPM_NH_MAX: number;
  LPM_DISTINCT_NH_MAX: number;
}

const FIX =
  "Build it with `bash scripts/setup.sh` (installs the Debian packages libdpdk-dev, pkg-config and " +
  "build-essential, then runs `npx node-gyp rebuild`), or only `npx node-gyp rebuild` if the packages are there.";

function packageRoot(): string {
  // src/lookup/native.ts and dist/lookup/native.js both sit two levels below the package root.
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
}

function explain(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const lib = /(librte_\w+|libnuma|libpcap)[\w.]*\.so[\w.]*/.exec(msg);
  if (lib) {
    return `the addon is built but the shared library ${lib[0]} is missing: install the Debian package libdpdk-dev (apt-get install libdpdk-dev) or rebuild on this machine. ${FIX}`;
  }
  if (/NODE_MODULE_VERSION|was compiled against a different Node/.test(msg)) {
    return `the addon was built for another Node.js version (${process.version} here): run \`npx node-gyp rebuild\`.`;
  }
  return msg;
}

let cached: NativeAddon | undefined;

export function loadNative(): NativeAddon {
  if (cached) return cached;
  const root = packageRoot();
  const candidates = [join(root, "build", "Release", "srcfib.node"), join(root, "build", "Debug", "srcfib.node")];
  const require = createRequire(import.meta.url);
  const problems: string[] = [];
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    try {
      cached = require(file) as NativeAddon;
      return cached;
    } catch (err: unknown) {
      problems.push(`${file}: ${explain(err)}`);
    }
  }
  const tried = candidates.join(", ");
  throw new Error(
    problems.length > 0
      ? `srcfib native addon failed to load:\n  ${problems.join("\n  ")}`
      : `srcfib native addon not found (looked for ${tried}). ${FIX}`,
  );
}
