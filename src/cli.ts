#!/usr/bin/env node
/**
 * The srcfib command: the dataplane (`run`), the lab, validation, benchmarks, and the API
 * subcommands (routes, fibs, rules, bindings, groups, interfaces, counters, explain, sessions)
 * that talk to a running daemon (src/api/ctl.ts).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { createLpm } from "./lookup/lpm.js";
import { ConfigError, loadConfigFile } from "./api/config.js";
import { runDaemon } from "./api/daemon.js";
import { runLab } from "./api/lab.js";
import { CTL_COMMANDS, CTL_USAGE, UsageError, runCtl } from "./api/ctl.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const USAGE = `usage: srcfib <command> [args]

commands:
  validate FILE                  check a configuration file (YAML or JSON); every error names
                                 its key
  run FILE                       start the dataplane from a configuration file (needs root);
                                 SIGHUP reloads the file, SIGINT/SIGTERM stop cleanly
  lab [--keep] [--json FILE]     the embedded default (needs root): seed 003's multihomed site
                                 in network namespaces with srcfib as its router; shows that
                                 replies leave via the ISP that owns their source address
  bench lpm [--json FILE]        LPM benchmark on the full Internet table: our trie against
                                 DPDK rte_fib / rte_fib6 (same as npm run bench:lpm)
  lookup TABLE ADDR...           load a prefix table (one "prefix [next-hop]" per line, .gz ok;
                                 next hop 0 where none is given)
                                 and print the longest match of each address
  version                        print the version
  help                           this text

${CTL_USAGE}`;

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

function validateCmd(args: string[]): void {
  if (args.length !== 1) fail("validate needs exactly one configuration file");
  try {
    const c = loadConfigFile(args[0]!);
    const subfibs = c.fibs.reduce((n, f) => n + f.subfibs.length, 0);
    const routes = c.fibs.reduce((n, f) => n + f.subfibs.reduce((m, s) => m + s.routes.length, 0), 0);
    const rules = c.fibs.reduce((n, f) => n + f.rules.length, 0);
    process.stdout.write(
      `${args[0]}: ok: ${c.ports.length} port(s), ${c.fibs.length} FIB(s) with ${subfibs} sub-FIB(s), ${routes} route(s), ${rules} rule(s), ${c.bindings.length} binding(s)\n`,
    );
  } catch (err: unknown) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
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
    case "lab": {
      const keep = rest.includes("--keep");
      const j = rest.indexOf("--json");
      const json = j >= 0 ? rest[j + 1] : undefined;
      if (j >= 0 && !json) fail("--json needs a file name");
      try {
        process.exitCode = await runLab({ keep, ...(json ? { json } : {}) });
      } catch (err: unknown) {
        fail(err instanceof Error ? err.message : String(err));
      }
      return;
    }
    case "validate":
      validateCmd(rest);
      return;
    case "run": {
      if (rest.length !== 1) fail("run needs exactly one configuration file");
      try {
        process.exitCode = await runDaemon(rest[0]!);
      } catch (err: unknown) {
        fail(err instanceof Error ? err.message : String(err));
      }
      return;
    }
    default:
      if (CTL_COMMANDS.has(cmd)) {
        try {
          process.exitCode = await runCtl(cmd, rest);
        } catch (err: unknown) {
          if (err instanceof UsageError) fail(`${cmd}: ${err.message}`);
          throw err;
        }
        return;
      }
      fail(`unknown command "${cmd}"\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`srcfib: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
