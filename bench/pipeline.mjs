#!/usr/bin/env node
// npm run bench:pipeline [-- options]
//
// Runs native/out/pipeline_bench: 64-byte packets through the full forwarding
// pipeline on one lcore, fed from a preloaded net_ring, with the full Internet
// table in each of --fibs FIBs chosen by source, against an rx/tx-only loop and
// destination-only forwarding in the same run.  Prints a Markdown table and
// writes bench/out/pipeline.json and bench/out/pipeline.md.
//
// Options:
//   --json FILE        also write the result JSON to FILE
//   --prefixes FILE    prefix file (default: data/fulltable-2024.prefixes.txt.gz)
//   --from FILE        do not run: render the Markdown from an earlier JSON
//   --no-build         do not run `make -C native pipeline_bench` first
//   --packets N, --seconds S, --reps N, --fibs N, --mem MB   passed to pipeline_bench
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { benchMain, parseBenchArgs, runNativeBench } from './args.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PASS = new Set(['--packets', '--seconds', '--reps', '--fibs', '--mem']);

function parseArgs(argv) {
  const o = parseBenchArgs(argv, { passValue: PASS, helpFile: fileURLToPath(import.meta.url), helpLines: 15 });
  o.prefixes ??= path.join(root, 'data', 'fulltable-2024.prefixes.txt.gz');
  return o;
}

function run(o) {
  return runNativeBench(root, 'pipeline_bench', [...o.pass, o.prefixes], o.build);
}

const f2 = (x) => x.toFixed(2);

function markdown(r) {
  const overhead = r.src_dst_mpps > 0 ? r.dst_only_mpps / r.src_dst_mpps - 1 : NaN;
  const rows = [
    '| loop | Mpps | cycles/packet |',
    '| --- | ---: | ---: |',
    `| rx/tx only (baseline) | ${f2(r.io_only_mpps)} | ${r.io_only_cycles_per_packet.toFixed(1)} |`,
    `| destination-only forwarding | ${f2(r.dst_only_mpps)} | ${r.dst_only_cycles_per_packet.toFixed(1)} |`,
    `| source-aware forwarding (${r.fibs} FIBs × ${r.routes_per_fib.toLocaleString('en-US')} routes) | ${f2(r.src_dst_mpps)} | ${r.cycles_per_packet.toFixed(1)} |`,
    '',
    '| target | result | status |',
    '| --- | ---: | --- |',
    `| ≥ 10 Mpps per core with both lookups (aim 14.88) | ${f2(r.src_dst_mpps)} Mpps | ${r.src_dst_mpps >= 10 ? '**met**' : '**MISSED**'}${r.src_dst_mpps >= 14.88 ? ', aim met' : ''} |`,
    `| source lookup costs ≤ 25% over destination-only | ${(100 * overhead).toFixed(1)}% | ${overhead <= 0.25 ? '**met**' : '**MISSED**'} |`,
    '',
    `${r.packets} packets of ${r.frame_bytes} B (${r.wire_bytes} B on the wire) circulating through one net_ring port; ` +
      `best of ${r.reps} × ${r.seconds_per_figure} s per figure, modes interleaved; ${r.forwarded.toLocaleString('en-US')} packets forwarded, ${r.dropped} dropped; ` +
      `TSC ${(r.tsc_hz / 1e9).toFixed(2)} GHz; ${r.dpdk}; EAL \`${r.eal_args}\`.`,
  ];
  return rows.join('\n') + '\n';
}

benchMain(root, 'pipeline', parseArgs(process.argv.slice(2)), run, markdown);
