#!/usr/bin/env node
// npm run bench:lpm [-- options]
//
// Runs native/out/lpm_bench (srcfib's LPM trie vs DPDK rte_fib / rte_fib6, one
// process, one table, the same addresses) on the full Internet table, prints a
// Markdown comparison with the targets, and writes bench/out/lpm.json
// and bench/out/lpm.md.
//
// Options:
//   --json FILE        also write the result JSON to FILE
//   --prefixes FILE    prefix file (default: data/fulltable-2024.prefixes.txt.gz,
//                      else ../shared/data/fulltable-2024.prefixes.txt.gz)
//   --from FILE        do not run: render the Markdown from a JSON file of an earlier run
//   --no-build         do not run `make -C native lpm_bench` (by default it runs, so a
//                      binary older than the sources is rebuilt)
//   --no-thp           keep srcfib's tables on 4 KiB pages too (DPDK's --no-huge
//                      memory is on 4 KiB pages here), for a same-page-size comparison
//   --lookups N, --batch N, --reps N, --updates N, --seed N, --family 4|6|46,
//   --mem MB, --lcore N, --tbl8-v4 N, --tbl8-v6 N   passed to lpm_bench
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseBenchArgs } from './args.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const binary = path.join(root, 'native', 'out', 'lpm_bench');
const outDir = path.join(root, 'bench', 'out');
const TABLE = 'fulltable-2024.prefixes.txt.gz';

const PASS_VALUE = new Set([
  '--lookups', '--batch', '--reps', '--updates', '--seed', '--family', '--mem', '--lcore', '--tbl8-v4', '--tbl8-v6',
]);

function parseArgs(argv) {
  return parseBenchArgs(argv, { passValue: PASS_VALUE, passFlag: new Set(['--no-thp']), helpFile: fileURLToPath(import.meta.url) });
}

function defaultPrefixes() {
  for (const p of [path.join(root, 'data', TABLE), path.resolve(root, '..', 'shared', 'data', TABLE)]) {
    if (fs.existsSync(p)) return p;
  }
  throw new Error(`${TABLE} not found in data/ or ../shared/data/; pass --prefixes FILE`);
}

function ensureBinary(build) {
  if (!build) {
    if (!fs.existsSync(binary)) throw new Error(`${binary} is missing (run: make -C native lpm_bench)`);
    return;
  }
  // Always ask make: a binary older than the engine sources would measure old code.
  const r = spawnSync('make', ['-s', '-C', path.join(root, 'native'), 'lpm_bench'], { stdio: 'inherit' });
  if (r.status !== 0 || !fs.existsSync(binary)) throw new Error('make -C native lpm_bench failed');
}

function runBench(o) {
  const args = [...o.pass];
  args.push(o.prefixes ?? defaultPrefixes());
  process.stderr.write(`$ ${path.relative(root, binary)} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) {
        const why = signal ? `signal ${signal}` : `exit status ${code}`;
        const extra = code === 2 ? ' (MISMATCH between srcfib and rte_fib: see above)' : '';
        reject(Object.assign(new Error(`lpm_bench failed: ${why}${extra}`), { exitCode: code || 1 }));
        return;
      }
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve({ json: JSON.parse(last), text: `${last}\n` });
      } catch (e) {
        reject(new Error(`lpm_bench printed no JSON on its last line: ${e.message}`));
      }
    });
  });
}

// ---------------------------------------------------------------------------
// Markdown

const MB = 1e6;
const fmtInt = (v) => (v == null ? 'n/a' : Math.round(v).toLocaleString('en-US'));
const fmtMB = (v) => (v == null ? 'n/a' : `${(v / MB).toFixed(2)} MB`);
const fmtS = (v) => (v == null ? 'n/a' : `${v.toFixed(3)} s`);
const fmtMlps = (v) => (v == null ? 'n/a' : v.toFixed(1));
const fmtX = (v) => (v == null || !Number.isFinite(v) ? 'n/a' : `${v >= 10 ? v.toFixed(1) : v.toFixed(2)}×`);

// higher: larger is better for srcfib; lower: smaller is better
const METRICS = [
  ['routes', 'routes', fmtInt, null],
  ['build_s', 'build', fmtS, 'lower'],
  ['bytes', 'lookup memory', (v) => `${fmtMB(v)} (${fmtInt(v)} B)`, 'lower'],
  ['lookup_single_mlps', 'single lookup, Mlookups/s', fmtMlps, 'higher'],
  ['lookup_random_mlps', 'batched lookup, random addresses, Mlookups/s', fmtMlps, 'higher'],
  ['lookup_table_mlps', 'batched lookup, table addresses, Mlookups/s', fmtMlps, 'higher'],
  ['updates_per_s', 'updates/s (insert + delete)', fmtInt, 'higher'],
];

// srcfib's advantage: > 1 means srcfib is better
function advantage(ours, theirs, dir) {
  if (dir == null || ours == null || theirs == null || ours === 0 || theirs === 0) return null;
  return dir === 'higher' ? ours / theirs : theirs / ours;
}

function familyTable(fam, r, baseName) {
  const lines = [
    `| metric | srcfib | ${baseName} | srcfib advantage |`,
    '| --- | ---: | ---: | ---: |',
  ];
  for (const [key, label, fmt, dir] of METRICS) {
    const a = r.srcfib[key];
    const b = r.rte_fib[key];
    const adv = advantage(a, b, dir);
    lines.push(`| ${label} | ${fmt(a)} | ${fmt(b)} | ${dir ? fmtX(adv) : ''} |`);
  }
  return lines.join('\n');
}

function targets(res) {
  const rows = [];
  const add = (name, value, goal, met, aim) => rows.push({ name, value, goal, met, aim });
  const v4 = res.v4;
  const v6 = res.v6;
  if (v4) {
    const x = v4.srcfib.lookup_random_mlps / v4.rte_fib.lookup_random_mlps;
    add('IPv4 batched random lookup vs rte_fib', fmtX(x), '≥ 1.0× (aim 1.5×)', x >= 1.0, x >= 1.5);
  }
  if (v6) {
    const xr = v6.srcfib.lookup_random_mlps / v6.rte_fib.lookup_random_mlps;
    const xt = v6.srcfib.lookup_table_mlps / v6.rte_fib.lookup_table_mlps;
    add('IPv6 batched lookup vs rte_fib6, random addresses in 2000::/3', fmtX(xr), '≥ 2×', xr >= 2);
    add('IPv6 batched lookup vs rte_fib6, table addresses', fmtX(xt), '≥ 2×', xt >= 2);
  }
  if (v4) {
    const ratio = v4.rte_fib.bytes / v4.srcfib.bytes;
    add('IPv4 full FIB memory vs rte_fib', `${fmtMB(v4.srcfib.bytes)} = 1/${ratio.toFixed(1)}`,
      '≤ 1/10 (aim < 4 MB)', ratio >= 10, v4.srcfib.bytes < 4 * MB);
  }
  if (v6) add('IPv6 full table memory', fmtMB(v6.srcfib.bytes), '< 8 MB', v6.srcfib.bytes < 8 * MB);
  for (const [fam, r] of [['IPv4', v4], ['IPv6', v6]]) {
    if (r) add(`${fam} build`, fmtS(r.srcfib.build_s), '< 1 s', r.srcfib.build_s < 1);
  }
  for (const [fam, r] of [['IPv4', v4], ['IPv6', v6]]) {
    if (r) add(`${fam} updates`, `${fmtInt(r.srcfib.updates_per_s)}/s`, '≥ 500,000/s', r.srcfib.updates_per_s >= 500e3);
  }
  return rows;
}

function render(res) {
  const m = res.meta ?? {};
  const fm = m.families ?? {};
  const out = [];
  out.push('## LPM: srcfib vs DPDK rte_fib (DIR-24-8) / rte_fib6 (TRIE)', '');
  out.push(`${m.cpu ?? 'unknown CPU'}, ${m.dpdk ?? 'DPDK ?'}, ${m.date ?? ''}; one process, one table, the same addresses for both engines.`);
  out.push(`EAL \`${m.eal_args ?? '?'}\`; batch ${m.batch ?? '?'}; ${fmtInt(m.lookups)} lookups per measurement, best of ${m.reps ?? '?'}; `
    + `${fmtInt(m.updates)} update prefixes; next hops: ${m.next_hop_hash ?? '?'}.`);
  const thpMB = Math.max(...['v4', 'v6'].map((f) => fm[f]?.srcfib?.process_anon_huge_bytes_after_build ?? 0));
  out.push('Pages: no hugepages here, so DPDK\'s memory (`--no-huge`: a memfd; shmem THP '
    + `\`${m.thp_shmem ?? '?'}\`) is on 4 KiB pages, as a production rte_fib on hugepages would not be; `
    + (m.thp_disabled
      ? 'srcfib\'s tables were kept on 4 KiB pages too (`--no-thp`).'
      : `srcfib's arenas may use THP (anon THP \`${m.thp ?? '?'}\`; process AnonHugePages after build `
        + `${fmtMB(thpMB)}); \`--no-thp\` compares at 4 KiB for both.`), '');

  const targetRows = targets(res);
  out.push('### Targets', '', '| target | srcfib | goal | status |', '| --- | ---: | --- | --- |');
  for (const t of targetRows) {
    let status = t.met ? '**met**' : '**MISSED**';
    if (t.aim !== undefined) status += t.aim ? ', aim met' : ', aim missed';
    out.push(`| ${t.name} | ${t.value} | ${t.goal} | ${status} |`);
  }
  out.push('');

  for (const [fam, label, base] of [['v4', 'IPv4', 'rte_fib'], ['v6', 'IPv6', 'rte_fib6']]) {
    const r = res[fam];
    if (!r) continue;
    out.push(`### ${label} (${fmtInt(r.srcfib.routes)} routes)`, '', familyTable(fam, r, base), '');
    const f = fm[fam] ?? {};
    const rm = f[base] ?? {};
    const notes = [];
    if (rm.num_tbl8 != null) {
      notes.push(`${base}: ${rm.type}, ${rm.nh_sz}, num_tbl8 ${fmtInt(rm.num_tbl8)} `
        + `(the routes occupy ${fmtInt(rm.tbl8_groups_needed)} groups, DPDK reserves ${fmtInt(rm.tbl8_reserved)}); `
        + `lookup memory = heap delta ${fmtMB(rm.heap_delta_total)} − RIB ${fmtMB(rm.rib_bytes)} `
        + `(formula ${fmtMB(rm.bytes_formula)}).`);
    }
    if (rm.avx512) {
      notes.push(`${base} with its AVX-512 lookup (not chosen by default at the default max SIMD width): `
        + `random ${fmtMlps(rm.avx512.lookup_random_mlps)}, table ${fmtMlps(rm.avx512.lookup_table_mlps)} Mlookups/s `
        + `(srcfib advantage ${fmtX(r.srcfib.lookup_random_mlps / rm.avx512.lookup_random_mlps)} / `
        + `${fmtX(r.srcfib.lookup_table_mlps / rm.avx512.lookup_table_mlps)}).`);
    }
    const sf = f.srcfib;
    if (sf?.stats_after_build) {
      const s = sf.stats_after_build;
      notes.push(`srcfib: ${fmtInt(s.nodes)} nodes, ${fmtInt(s.leaves)} leaves, ${fmtInt(s.next_hops)} next hops; `
        + `RIB ${fmtMB(s.rib_bytes)}; insert ${fmtInt(sf.insert_per_s)}/s, delete ${fmtInt(sf.delete_per_s)}/s `
        + `(${base}: ${fmtInt(rm.insert_per_s)}/s, ${fmtInt(rm.delete_per_s)}/s).`);
    }
    if (f.updates?.how) notes.push(`Updates: ${fmtInt(f.updates.prefixes)} × ${f.updates.how}.`);
    for (const n of notes) out.push(`- ${n}`);
    out.push('');
  }
  const meth = m.method ?? {};
  if (Object.keys(meth).length) {
    out.push('<details><summary>Method</summary>', '');
    for (const [k, v] of Object.entries(meth)) out.push(`- \`${k}\`: ${v}`);
    out.push('', '</details>', '');
  }
  return out.join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let res;
  let text;
  if (o.from) {
    text = fs.readFileSync(o.from, 'utf8');
    res = JSON.parse(text);
  } else {
    ensureBinary(o.build);
    ({ json: res, text } = await runBench(o));
  }
  const md = render(res);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'lpm.json'), text);
  fs.writeFileSync(path.join(outDir, 'lpm.md'), `${md}\n`);
  if (o.json) fs.writeFileSync(o.json, text);
  process.stdout.write(`${md}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench:lpm: ${e.message}\n`);
  process.exit(e.exitCode ?? 1);
});
