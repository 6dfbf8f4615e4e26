// Command-line options shared by the benchmark wrappers (bench/*.mjs):
// --json FILE, --prefixes FILE, --from FILE, --no-build, -h/--help, plus the
// options each wrapper passes through to its native binary.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export function parseBenchArgs(argv, { passValue = new Set(), passFlag = new Set(), helpFile, helpLines = 20 }) {
  const o = { json: null, prefixes: null, from: null, build: true, pass: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--json') o.json = value();
    else if (a === '--prefixes') o.prefixes = value();
    else if (a === '--from') o.from = value();
    else if (a === '--no-build') o.build = false;
    else if (passFlag.has(a)) o.pass.push(a);
    else if (passValue.has(a)) o.pass.push(a, value());
    else if (a === '-h' || a === '--help') {
      console.log(fs.readFileSync(helpFile, 'utf8').split('\n').slice(1, helpLines)
        .map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

// Builds (unless --no-build) and runs a native benchmark binary; resolves with the JSON object it
// prints as its last stdout line (progress goes to stderr).
export function runNativeBench(root, name, args, build) {
  if (build) {
    const r = spawnSync('make', ['-s', '-C', path.join(root, 'native'), name], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`make -C native ${name} failed`);
  }
  const binary = path.join(root, 'native', 'out', name);
  process.stderr.write(`$ ${path.relative(root, binary)} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${name} exited with status ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()));
      } catch (e) {
        reject(new Error(`${name} printed no JSON: ${e}`));
      }
    });
  });
}

// The wrappers' main: run (or --from an earlier JSON), print the Markdown, keep
// bench/out/NAME.{json,md}, and --json FILE.
export function benchMain(root, name, o, run, markdown) {
  const go = async () => {
    const r = o.from ? JSON.parse(fs.readFileSync(o.from, 'utf8')) : await run(o);
    const md = markdown(r);
    process.stdout.write(md);
    if (!o.from) {
      const outDir = path.join(root, 'bench', 'out');
      fs.mkdirSync(outDir, { recursive: true });
      fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(r, null, 2) + '\n');
      fs.writeFileSync(path.join(outDir, `${name}.md`), md);
    }
    if (o.json) fs.writeFileSync(o.json, JSON.stringify(r, null, 2) + '\n');
  };
  go().catch((e) => {
    console.error(`bench:${name}: ${e.message}`);
    process.exit(1);
  });
}
