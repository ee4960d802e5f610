import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSeed } from '../sim/simulation.ts';

test('the simulator finds no violation on a sample of seeds (the full run is part of pnpm test)', () => {
  for (let seed = 1000; seed < 1030; seed++) {
    const result = runSeed(seed);
    assert.deepEqual(result.violations, [], `seed ${seed}`);
    assert.deepEqual(result.livenessFailures, [], `seed ${seed}`);
    assert.ok((result.stats.writesAcked ?? 0) > 0, `seed ${seed} made progress`);
  }
});

test('the checker catches a disk that lies about fsync (the simulator can fail)', () => {
  let found: number | undefined;
  for (let seed = 1; seed <= 60 && found === undefined; seed++) {
    if (runSeed(seed, { lyingDisks: true }).violations.length > 0) found = seed;
  }
  assert.ok(found !== undefined, 'losing acknowledged writes must break an invariant in some seed');
});

test('a seed replays exactly: same trace, same statistics', () => {
  const a = runSeed(4242);
  const b = runSeed(4242);
  assert.deepEqual(a.trace, b.trace);
  assert.deepEqual(a.stats, b.stats);
});
