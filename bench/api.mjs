#!/usr/bin/env node
// npm run bench:api [-- options]
//
// Installs the full Internet table (data/fulltable-2024.prefixes.txt.gz) into a running
// daemon (`srcfib run`, net_null ports, one worker) over the gRPC API on its Unix socket, in
// batches of Routes.Modify, while a second client sends Explain every 10 ms. Reports routes per
// second, the time until the last route forwards (Explain of an address in the last prefix
// answers with that prefix and a resolved adjacency), and the probe latencies. In the same run
// it installs the same routes straight into a native trie, one at a time (the floor any API
// adds to), as the baseline. Writes bench/out/api.json and bench/out/api.md.
//
// Options:
//   --json FILE        also write the result JSON to FILE
//   --prefixes FILE    prefix file (default: data/fulltable-2024.prefixes.txt.gz)
//   --batch N          routes per batch (default 10000; one op per next-hop set, prefixes packed)
//   --window N         batches in flight (default 4)
//   --from FILE        do not run: render the Markdown from an earlier JSON
//   --no-build         accepted for symmetry (the daemon is dist/cli.js, built by npm run build)
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

import { parseBenchArgs } from './args.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'bench', 'out');
const TARGET_S = 5;
const TARGET_P99_MS = 20;
const VPP_RPS = 300000;

function parseArgs(argv) {
  const rest = [];
  let batch = 10000;
  let window = 4;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--batch') batch = Number(argv[++i]);
    else if (argv[i] === '--window') window = Number(argv[++i]);
    else rest.push(argv[i]);
  }
  const o = parseBenchArgs(rest, { helpFile: fileURLToPath(import.meta.url), helpLines: 18 });
  o.prefixes ??= path.join(root, 'data', 'fulltable-2024.prefixes.txt.gz');
  if (!Number.isInteger(batch) || batch < 1) throw new Error('--batch needs a positive integer');
  if (!Number.isInteger(window) || window < 1) throw new Error('--window needs a positive integer');
  return { ...o, batch, window };
}

function readPrefixes(file) {
  const raw = fs.readFileSync(file);
  const text = (file.endsWith('.gz') ? zlib.gunzipSync(raw) : raw).toString('utf8');
  return text.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((p) => p && !p.startsWith('#'));
}

const pct = (sorted, q) => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function waitFor(f, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (f()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** CPU seconds the daemon's main (control) thread has used: /proc/<pid>/task/<pid>/stat. */
function mainThreadCpu(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100; // utime + stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

async function baseline(prefixes) {
  const { loadNative } = await import(path.join(root, 'dist', 'lookup', 'native.js'));
  const { parsePrefix } = await import(path.join(root, 'dist', 'lookup', 'prefix.js'));
  const addon = loadNative();
  const t0 = process.hrtime.bigint();
  const l4 = new addon.NativeLpm(4);
  const l6 = new addon.NativeLpm(6);
  let i = 0;
  for (const p of prefixes) {
    const x = parsePrefix(p);
    const rc = (x.family === 4 ? l4 : l6).add(x.addr, x.len, i++ & 7);
    if (rc < 0 || (rc > 7 && rc !== 0xffffffff)) throw new Error(`baseline insert of ${p}: status ${rc}`);
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { s, rps: prefixes.length / s };
}

async function run(o) {
  const prefixes = readPrefixes(o.prefixes);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srcfib-bench-api-'));
  const sock = path.join(dir, 'api.sock');
  const cfg = path.join(dir, 'cfg.yaml');
  fs.writeFileSync(cfg, [
    'dataplane: { workers: 1 }',
    `api: { socket: ${sock}, batch_max: ${Math.max(o.batch, 1000)} }`,
    'ports:',
    '  - { name: p0, device: "net_null0,no-rx=1", tap: false, addresses: ["198.51.100.1/24", "2001:db8:1::1/64"], fib: main }',
    '  - { name: p1, device: "net_null1,no-rx=1", tap: false, addresses: ["203.0.113.1/24", "2001:db8:2::1/64"] }',
    'fibs:',
    '  - name: main',
    '    routes:',
    // static MACs so that the gateways resolve without a kernel (no TAPs here)
    '      - { prefix: 192.0.2.0/24, nexthops: [{ via: 203.0.113.7, port: p1, mac: "02:00:00:00:00:07" }, { via: 203.0.113.8, port: p1, mac: "02:00:00:00:00:08" }] }',
    '      - { prefix: "2001:db8:ff::/48", nexthops: [{ via: "2001:db8:2::7", port: p1, mac: "02:00:00:00:00:17" }] }',
    'default_fib: main',
    '',
  ].join('\n'));
  // BENCH_DAEMON_NODE_ARGS: extra node options for the daemon (e.g. --cpu-prof to profile it)
  const nodeArgs = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const daemon = spawn(process.execPath, [...nodeArgs, path.join(root, 'dist', 'cli.js'), 'run', cfg], { stdio: ['ignore', 'inherit', 'pipe'] });
  let log = '';
  daemon.stderr.on('data', (d) => { log += d; });
  const cleanup = () => {
    try { daemon.kill('SIGTERM'); } catch { /* gone */ }
  };
  process.once('SIGINT', () => { cleanup(); process.exit(130); });
  try {
    await waitFor(() => log.includes('API listening') || daemon.exitCode !== null, 60000, 'the daemon to start');
    if (daemon.exitCode !== null) throw new Error(`the daemon exited:\n${log}`);
    const { ApiClient } = await import(path.join(root, 'dist', 'api', 'client.js'));
    const writer = new ApiClient(sock, { client: 'bench' });
    const prober = new ApiClient(sock, { client: 'probe' });
    await prober.call('Explain', 'Explain', { src: '198.51.100.9', dst: '192.0.2.1' });

    const nh4 = [[{ via: '203.0.113.7', port: 'p1', weight: 1 }], [{ via: '203.0.113.8', port: 'p1', weight: 1 }], [{ via: '203.0.113.7', port: 'p1', weight: 1 }, { via: '203.0.113.8', port: 'p1', weight: 1 }]];
    const nh6 = [[{ via: '2001:db8:2::7', port: 'p1', weight: 1 }]];
    const batches = [];
    for (let i = 0; i < prefixes.length; i += o.batch) {
      // one op per next-hop set, its prefixes packed (RouteOp.prefixes)
      const groups = [[], [], [], []];
      prefixes.slice(i, i + o.batch).forEach((p, k) => groups[p.includes(':') ? 3 : (i + k) % 3].push(p));
      const ops = [];
      groups.forEach((g, gi) => {
        if (g.length > 0) ops.push({ op: 'OP_ADD', route: { fib: 'main', nexthops: gi === 3 ? nh6[0] : nh4[gi] }, prefixes: g });
      });
      batches.push({ ops });
    }
    // Encoded before the clock starts: what is measured is the daemon (and the bytes on the
    // socket), not this script's protobuf encoder, which shares the machine with it.
    const encoded = batches.map((b) => writer.encode('Routes', 'Modify', b));

    // The prober runs on its own thread (event loop), so that the writer encoding its next
    // batch does not delay it: what it measures is the daemon.
    const probeWorker = new Worker(new URL(import.meta.url), { workerData: { probe: true, sock, client: path.join(root, 'dist', 'api', 'client.js') } });
    const probeDone = new Promise((resolve, reject) => {
      probeWorker.once('message', resolve);
      probeWorker.once('error', reject);
    });
    await new Promise((r) => probeWorker.once('online', r));

    const cpu0 = mainThreadCpu(daemon.pid);
    const t0 = process.hrtime.bigint();
    let next = 0;
    let applied = 0;
    const worker = async () => {
      while (next < encoded.length) {
        const b = encoded[next++];
        const r = await writer.callEncoded('Routes', 'Modify', b, 120000);
        applied += r.applied;
      }
    };
    await Promise.all(Array.from({ length: o.window }, worker));
    const tDone = process.hrtime.bigint();
    const cpu = mainThreadCpu(daemon.pid) - cpu0;
    // The last route forwards: the dataplane's own lookup answers with it, resolved.
    const last = prefixes[prefixes.length - 1];
    const lastAddr = last.split('/')[0];
    const src = last.includes(':') ? '2001:db8:1::9' : '198.51.100.9';
    let ex;
    for (let k = 0; k < 200; k++) {
      ex = await prober.call('Explain', 'Explain', { src, dst: lastAddr });
      if (ex.prefix === last && ex.action === 'forward') break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const tFwd = process.hrtime.bigint();
    probeWorker.postMessage('stop');
    const { lat, probeErrors } = await probeDone;
    if (ex.prefix !== last || ex.action !== 'forward') throw new Error(`the last route ${last} does not forward: ${JSON.stringify(ex)}`);
    const counted = (await writer.collect('Routes', 'List', { fib: 'main', owner: 'bench' })).length;
    writer.close();
    prober.close();
    if (applied !== prefixes.length || counted !== prefixes.length) throw new Error(`applied ${applied}, listed ${counted}, sent ${prefixes.length}`);
    const install = Number(tDone - t0) / 1e9;
    const base = await baseline(prefixes);
    const toForward = Number(tFwd - t0) / 1e9;
    const sorted = [...lat].sort((a, b) => a - b);
    const v4 = prefixes.filter((p) => !p.includes(':')).length;
    return {
      routes: prefixes.length,
      routes_v4: v4,
      routes_v6: prefixes.length - v4,
      batch: o.batch,
      window: o.window,
      install_s: toForward,
      last_reply_s: install,
      daemon_main_cpu_s: cpu,
      routes_per_s: prefixes.length / toForward,
      probe_p50_ms: pct(sorted, 0.5),
      probe_p99_ms: pct(sorted, 0.99),
      probe_max_ms: sorted[sorted.length - 1],
      probes: sorted.length,
      probe_errors: probeErrors,
      baseline: { name: 'native trie insert, one route at a time, no API', s: base.s, routes_per_s: base.rps },
      host: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '' },
      date: new Date().toISOString(),
    };
  } finally {
    cleanup();
    await new Promise((r) => (daemon.exitCode !== null ? r() : daemon.once('exit', r)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const f2 = (x) => x.toFixed(2);

function markdown(r) {
  const ok = (b) => (b ? 'met' : '**missed**');
  return [
    `### bench:api — ${r.routes} routes (${r.routes_v4} IPv4, ${r.routes_v6} IPv6), batches of ${r.batch}, ${r.window} in flight`,
    '',
    '| measure | srcfib over the API | baseline: native insert, no API | target |',
    '|---|---|---|---|',
    `| full table in, until the last route forwards | ${f2(r.install_s)} s | ${f2(r.baseline.s)} s | ≤ ${TARGET_S} s: ${ok(r.install_s <= TARGET_S)} |`,
    `| routes per second | ${Math.round(r.routes_per_s).toLocaleString('en')} | ${Math.round(r.baseline.routes_per_s).toLocaleString('en')} | VPP ≈ ${VPP_RPS.toLocaleString('en')} (anchor) |`,
    `| CPU of the daemon's control thread during the load | ${f2(r.daemon_main_cpu_s ?? NaN)} s | | |`,
    `| Explain every 10 ms during the load: p50 / p99 / max | ${f2(r.probe_p50_ms)} / ${f2(r.probe_p99_ms)} / ${f2(r.probe_max_ms)} ms (${r.probes} probes, ${r.probe_errors} errors) | | p99 ≤ ${TARGET_P99_MS} ms: ${ok(r.probe_p99_ms <= TARGET_P99_MS)} |`,
    '',
  ].join('\n');
}

// the probe thread: Explain every 10 ms until told to stop, then the latencies
async function probeThread({ sock, client }) {
  const { parentPort } = await import('node:worker_threads');
  const { ApiClient } = await import(client);
  const prober = new ApiClient(sock, { client: 'probe' });
  let probing = true;
  parentPort.once('message', () => { probing = false; });
  const lat = [];
  let probeErrors = 0;
  while (probing) {
    const t = process.hrtime.bigint();
    try {
      await prober.call('Explain', 'Explain', { src: '198.51.100.9', dst: '192.0.2.1', protocol: 'udp', sport: 1, dport: 2 });
    } catch {
      probeErrors++;
    }
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    await new Promise((r) => setTimeout(r, 10));
  }
  prober.close();
  parentPort.postMessage({ lat, probeErrors });
}

const { isMainThread, workerData } = await import('node:worker_threads');
if (!isMainThread && workerData?.probe) {
  await probeThread(workerData);
} else {
  await main();
}

async function main() {
const o = parseArgs(process.argv.slice(2));
const r = o.from ? JSON.parse(fs.readFileSync(o.from, 'utf8')) : await run(o);
const md = markdown(r);
process.stdout.write(`${md}\n${JSON.stringify({ routes: r.routes, install_s: r.install_s, routes_per_s: r.routes_per_s, probe_p50_ms: r.probe_p50_ms, probe_p99_ms: r.probe_p99_ms })}\n`);
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'api.json'), `${JSON.stringify(r, null, 1)}\n`);
fs.writeFileSync(path.join(outDir, 'api.md'), md);
if (o.json) fs.writeFileSync(o.json, `${JSON.stringify(r, null, 1)}\n`);
}
