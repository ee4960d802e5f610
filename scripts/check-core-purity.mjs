// Lint rule the linter cannot express fully: packages/core/src does no I/O and reads no clock or randomness.
// Time enters through tick(), randomness through a seeded PRNG (DESIGN.md §1, CONVENTIONS.md rule 1).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../packages/core/src/', import.meta.url).pathname;
const forbidden = [
  [/from\s+['"]node:/, 'imports a node:* module'],
  [/import\(\s*['"]node:/, 'imports a node:* module'],
  [/\brequire\s*\(/, 'uses require()'],
  [/\bset(Timeout|Interval|Immediate)\s*\(/, 'uses a timer'],
  [/\bDate\.now\b|\bnew Date\b/, 'reads the clock'],
  [/\bperformance\.now\b/, 'reads the clock'],
  [/\bMath\.random\b/, 'uses Math.random (use the seeded PRNG)'],
  [/\bprocess\./, 'touches process'],
];

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (path.endsWith('.ts')) yield path;
  }
}

let failures = 0;
for (const file of files(root)) {
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '');
    if (/^\s*\*/.test(code)) return; // doc comment line
    for (const [re, why] of forbidden) {
      if (re.test(code)) {
        console.error(`${file}:${i + 1}: core ${why}: ${line.trim()}`);
        failures++;
      }
    }
  });
}
if (failures > 0) process.exit(1);
console.log('core purity: ok');
