#!/usr/bin/env node
// npm run bench:ipsec [-- options]
//
// Runs native/out/ipsec_bench: ESP (tunnel mode) AES-GCM-128 and AES-CBC-128 +
// HMAC-SHA-256-128, encrypt and decrypt, through the packet loop on one lcore
// (dp_worker_rx + dp_worker_flush over real tables, policies and SAs) at 64,
// 512 and 1420-byte payloads, against the raw cryptodev throughput of the same
// device at the same sizes in the same run.  Prints a Markdown table and
// writes bench/out/ipsec.json and bench/out/ipsec.md.
//
// Options:
//   --json FILE        also write the result JSON to FILE
//   --from FILE        do not run: render the Markdown from an earlier JSON
//   --no-build         do not run `make -C native ipsec_bench` first
//   --seconds S, --reps N, --sizes LIST, --mem MB   passed to ipsec_bench
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { benchMain, parseBenchArgs, runNativeBench } from './args.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PASS = new Set(['--seconds', '--reps', '--sizes', '--mem']);

function parseArgs(argv) {
  const o = parseBenchArgs(argv, { passValue: PASS, helpFile: fileURLToPath(import.meta.url), helpLines: 15 });
  if (o.prefixes) throw new Error('bench:ipsec takes no prefix file');
  return o;
}

function run(o) {
  return runNativeBench(root, 'ipsec_bench', [...o.pass], o.build);
}

const ALG = {
  'aes-gcm-128': 'AES-GCM-128',
  'aes-cbc-128-hmac-sha256-128': 'AES-CBC-128 + HMAC-SHA-256-128',
};
const f2 = (x) => x.toFixed(2);
const f3 = (x) => x.toFixed(3);
const pct = (x) => `${(100 * x).toFixed(0)}%`;
const pct1 = (x) => `${(100 * x).toFixed(1)}%`; // ratios: 69.9% must not read as 70%
const spread = (v) => (v && v.length > 1 ? (Math.max(...v) - Math.min(...v)) / Math.max(...v) : 0);

function markdown(r) {
  const target = r.target_ratio ?? 0.7;
  const tp = r.target_payload ?? 1420;
  const rows = [
    '| algorithm | direction | payload B | loop Gbps | loop Mpps | raw Gbps | raw Mpps | raw way | raw Mpps: ops / sync | loop/raw | cycles/pkt loop | cycles/pkt SA alone | cycles/pkt raw | SA alone/raw | ' +
      `≥ ${pct(target)} of raw at ${tp} B |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  const verdicts = [];
  let spreadLoop = 0;
  let spreadRaw = 0;
  for (const x of r.results) {
    const ratio = x.ratio ?? x.gbps / x.raw_gbps;
    let verdict = '–';
    if (x.payload === tp) {
      const met = ratio >= target;
      verdict = met ? '**met**' : '**MISSED**';
      verdicts.push({ name: `${ALG[x.alg] ?? x.alg} ${x.dir}`, met, ratio });
    }
    spreadLoop = Math.max(spreadLoop, spread(x.mpps_reps));
    spreadRaw = Math.max(spreadRaw, spread(x.raw_mpps_reps));
    rows.push(
      `| ${ALG[x.alg] ?? x.alg} | ${x.dir} | ${x.payload} | ${f2(x.gbps)} | ${f3(x.mpps)} | ${f2(x.raw_gbps)} | ` +
        `${f3(x.raw_mpps ?? (x.raw_gbps * 1e3) / (8 * x.payload))} | ${x.raw_way === 'synchronous' ? 'sync' : 'ops'} | ` +
        `${x.raw_ops_mpps != null ? f3(x.raw_ops_mpps) : '–'} / ${x.raw_sync_mpps != null ? f3(x.raw_sync_mpps) : '–'} | ${pct1(ratio)} | ` +
        `${x.cycles_per_packet?.toFixed(0) ?? ''} | ${x.sa_cycles_per_packet?.toFixed(0) ?? '–'} | ` +
        `${x.raw_cycles_per_packet?.toFixed(0) ?? ''} | ${x.sa_ratio != null ? pct1(x.sa_ratio) : '–'} | ${verdict} |`,
    );
  }
  const nmet = verdicts.filter((v) => v.met).length;
  rows.push(
    '',
    `**Target: through the packet loop ≥ ${pct(target)} of raw cryptodev throughput at ${tp} B: ` +
      (verdicts.length === 0
        ? `not measured (no ${tp} B payload in this run).**`
        : nmet === verdicts.length
          ? `met in all ${verdicts.length} rows.**`
          : `met in ${nmet} of ${verdicts.length} rows; missed for ` +
            verdicts.filter((v) => !v.met).map((v) => `${v.name} (${pct1(v.ratio)})`).join(', ') + '.**'),
    '',
    `- **payload** = the inner IP packet (IPv4 + UDP) in bytes, what the SA protects; Mpps counts inner packets and ` +
      `Gbps payload bits (payload × 8 per packet) for the loop and raw alike — no Ethernet, outer IP or ESP overhead counted.`,
    `- **loop**: one lcore; frames are fed into a net_ring rx port and go through \`rte_eth_rx_burst\` + ` +
      '`dp_worker_rx` + `dp_worker_flush` with real `dp_tables`: source selector (default binding, FIB 0), routes, ' +
      `adjacencies, outbound PROTECT policies / inbound policies, one tunnel per algorithm, anti-replay window ${r.replay_window ?? 64}. ` +
      'Encrypt: plaintext in, ESP routed out of the tx port by its outer destination. Decrypt: the peer\'s ESP in ' +
      '(made by a standalone peer SA, so every sequence number is new), inner packet routed out of the tx port. ' +
      `Bursts of ${r.burst ?? 32}. **Only rx_burst + dp_worker_rx + dp_worker_flush is timed** (rte_rdtsc); the feed ` +
      '(allocating mbufs and copying plaintext in, and for decrypt encrypting it with the peer SA) and the drain ' +
      '(dequeuing and freeing the tx ring) are not. Sharing the core: bursts run in chunks of ' +
      `${r.chunk_bursts ?? 8}; a chunk during which the thread was context-switched (getrusage, read outside the ` +
      `timed part) is discarded: ${(r.bursts_discarded ?? 0).toLocaleString('en-US')} of ` +
      `${((r.bursts_kept ?? 0) + (r.bursts_discarded ?? 0)).toLocaleString('en-US')} bursts in this run.`,
    '- **SA alone**: the same frames, fed the same way, each burst given straight to the SA\'s `ipsec_esp_process` ' +
      '(our ESP step — replay window, lifetimes, checksums — over rte_ipsec and the device) once its Ethernet header ' +
      'is off, untimed: ESP without reception, parsing, policies, lookups and transmission. Loop minus SA alone is ' +
      'what forwarding around ESP costs; SA alone minus raw is what rte_ipsec and our ESP step add to the device.',
    '- **raw**: the same cryptodev, algorithms and key sizes; 32 preformed mbufs laid out as ESP packets, driven two ' +
      'ways, each timed per burst: **ops** — `rte_crypto_op_bulk_alloc`, attach session, offsets/IV/AAD/digest, ' +
      'enqueue + dequeue until all 32 are back, ops freed; **sync** — the device\'s synchronous interface ' +
      '(`rte_cryptodev_sym_cpu_crypto_process`: one vector per packet, IV/AAD/digest pointers, no operations), where ' +
      'the device has one. **The baseline (raw Gbps/Mpps, loop/raw) is the faster of the two**, so the loop is judged ' +
      'against the most the device gives. Restoring the pristine bytes before each burst is not timed. ' +
      `The loop's ESP drives the device ${r.esp_crypto === 'synchronous' ? 'synchronously (rte_ipsec CPU_CRYPTO sessions)' : 'with operations'}. ` +
      'Lengths are what ESP processes ' +
      'for that payload: AES-GCM ciphertext = payload + 2 rounded up to 4 B, AAD 8 B (SPI + sequence number), ' +
      'ICV 16 B; AES-CBC ciphertext = payload + 2 rounded up to 16 B, HMAC over ESP header + IV + ciphertext ' +
      '(24 B + ciphertext), ICV 16 B.',
    `- Checked in passing: every packet fed came out of the tx port (per burst), nothing out of the rx port, ` +
      `${r.dropped} drops in the dp counters, SA counters match; the first burst of each figure opened by the peer ` +
      `(encrypt) or compared with what was sent (decrypt): ${r.checked_packets?.toLocaleString('en-US')} packets; ` +
      `${r.loop_packets?.toLocaleString('en-US')} packets through the loop in all.`,
    `- Best of ${r.reps} × ${r.seconds_per_figure} s (wall) per figure, loop and raw interleaved per cell; largest ` +
      `spread between reps ${pct(spreadLoop)} (loop), ${pct(spreadRaw)} (raw). Device ${r.device}` +
      `${r.device_why_not ? ` (${r.device_why_not})` : ''}; CPU ${r.cpu}; TSC ${(r.tsc_hz / 1e9).toFixed(2)} GHz; ` +
      `${r.dpdk}; EAL \`${r.eal_args}\`; ${r.wall_seconds} s measuring.`,
  );
  return rows.join('\n') + '\n';
}

benchMain(root, 'ipsec', parseArgs(process.argv.slice(2)), run, markdown);
