// Command-line options shared by the benchmark wrappers (bench/*.mjs):
// --json FILE, --prefixes FILE, --from FILE, --no-build, -h/--help, plus the
// options each wrapper passes through to its native binary.
import fs from 'node:fs';

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
