/**
 * `pnpm sim -- --seeds N` / `--seed S` / `--from F`: runs the seeded simulator and prints one line per failing
 * seed plus the summary line `sim: <N> seeds, <V> safety violations, <L> liveness failures`.
 * `--demo` narrates one 5-node run under faults (the README's main job until the real cluster exists).
 */
import { runSeed } from './simulation.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function demo(): void {
  const seed = Number(arg('seed') ?? 7);
  console.log(
    `Flotilla simulator: a 5-node Raft cluster under crashes, partitions, loss and membership changes (seed ${seed})\n`,
  );
  const result = runSeed(seed, { narrate: (line) => console.log(`  ${line}`), nodeCountOverride: 5 });
  console.log(
    '\nchecked after every step: election safety, log matching, leader completeness, state-machine safety,',
  );
  console.log(
    'exactly-once apply, no acknowledged write lost, linearizable reads; then liveness after healing.',
  );
  console.log(JSON.stringify(result.stats));
  const failed = result.violations.length + result.livenessFailures.length;
  for (const v of [...result.violations, ...result.livenessFailures]) console.log(`FAIL: ${v}`);
  console.log(failed === 0 ? 'all invariants held' : `reproduce with SEED=${seed}`);
  process.exitCode = failed === 0 ? 0 : 1;
}

function main(): void {
  if (process.argv.includes('--demo')) {
    demo();
    return;
  }
  const single = arg('seed') ?? process.env.SEED;
  const from = Number(arg('from') ?? 1);
  const seeds =
    single !== undefined
      ? [Number(single)]
      : Array.from({ length: Number(arg('seeds') ?? 300) }, (_, i) => from + i);
  const verbose = process.argv.includes('--verbose') || single !== undefined;
  let violations = 0;
  let liveness = 0;
  const started = performance.now();
  for (const seed of seeds) {
    const result = runSeed(seed);
    if (result.violations.length + result.livenessFailures.length === 0) continue;
    violations += result.violations.length > 0 ? 1 : 0;
    liveness += result.livenessFailures.length > 0 ? 1 : 0;
    for (const v of result.violations) console.log(`seed ${seed}: SAFETY ${v}`);
    for (const l of result.livenessFailures) console.log(`seed ${seed}: LIVENESS ${l}`);
    if (verbose) for (const line of result.trace.slice(-60)) console.log(`    ${line}`);
    console.log(`reproduce with SEED=${seed}`);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.error(`(${seeds.length} seeds in ${seconds}s)`);
  console.log(`sim: ${seeds.length} seeds, ${violations} safety violations, ${liveness} liveness failures`);
  process.exitCode = violations + liveness > 0 ? 1 : 0;
}

main();
