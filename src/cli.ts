#!/usr/bin/env node
/**
 * The srcfib command. Today it runs the LPM benchmark and answers lookups against a table
 * file; the dataplane (`srcfib run`, `srcfib lab`) and the API client subcommands come with
 * their issues.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { createLpm } from "./lookup/lpm.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const USAGE = `usage: srcfib <command> [args]

commands:
  bench lpm [--json FILE]        LPM benchmark on the full Internet table: our trie against
                                 DPDK rte_fib / rte_fib6 (same as npm run bench:lpm)
  lookup TABLE ADDR...           load a prefix table (one "prefix [next-hop]" per line, .gz ok;
                                 next hop 0 where none is given)
                                 and print the longest match of each address
  version                        print the version
  help                           this text
`;

function fail(msg: string): never {
  process.stderr.write(`srcfib: ${msg}\n`);
  process.exit(2);
}

async function lookupCmd(args: string[]): Promise<void> {
  const [file, ...addrs] = args;
  if (!file || addrs.length === 0) fail("lookup needs a table file and at least one address");
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (err: unknown) {
    fail(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const text = (file.endsWith(".gz") ? gunzipSync(raw) : raw).toString("utf8");
  const tables = { 4: { p: [] as string[], nh: [] as number[] }, 6: { p: [] as string[], nh: [] as number[] } };
  text.split(/\r?\n/).forEach((line) => {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) return;
    const [prefix, nh] = t.split(/\s+/);
    const hop = nh === undefined ? 0 : Number(nh);
    tables[prefix!.includes(":") ? 6 : 4].p.push(prefix!);
    tables[prefix!.includes(":") ? 6 : 4].nh.push(hop);
  });
  const lpm4 = createLpm(4);
  const lpm6 = createLpm(6);
  try {
    await lpm4.load(tables[4].p, tables[4].nh);
    await lpm6.load(tables[6].p, tables[6].nh);
  } catch (err: unknown) {
    fail(`${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  for (const a of addrs) {
    try {
      const nh = (a.includes(":") ? lpm6 : lpm4).lookup(a);
      process.stdout.write(`${a}\t${nh === null ? "no route" : String(nh)}\n`);
    } catch (err: unknown) {
      process.stdout.write(`${a}\terror: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  }
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return;
    case "version":
    case "--version": {
      const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
      process.stdout.write(`srcfib ${pkg.version}\n`);
      return;
    }
    case "bench": {
      if (rest[0] !== "lpm") fail(`unknown benchmark "${rest[0] ?? ""}" (known: lpm)`);
      const r = spawnSync(process.execPath, [join(root, "bench", "lpm.mjs"), ...rest.slice(1)], { stdio: "inherit" });
      process.exit(r.status ?? 1);
      return;
    }
    case "lookup":
      await lookupCmd(rest);
      return;
    default:
      fail(`unknown command "${cmd}"\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`srcfib: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
