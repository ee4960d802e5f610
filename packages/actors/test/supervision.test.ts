import assert from 'node:assert/strict';
import { test } from 'node:test';
import { admitRestart, backoffDelayMs, oneForOne } from '../src/supervision.ts';

test('restart intensity admits maxRestarts within the window, then refuses until it slides', () => {
  const strategy = oneForOne({ maxRestarts: 2, withinMs: 1_000 });
  const log: number[] = [];
  assert.equal(admitRestart(log, 0, strategy), 1);
  assert.equal(admitRestart(log, 400, strategy), 2);
  assert.equal(admitRestart(log, 900, strategy), 0, 'third restart within 1 s escalates');
  assert.equal(admitRestart(log, 1_001, strategy), 2, 'the restart at 0 left the window');
});

test('the default intensity is one restart per five seconds, as in OTP', () => {
  const strategy = oneForOne();
  const log: number[] = [];
  assert.equal(admitRestart(log, 0, strategy), 1);
  assert.equal(admitRestart(log, 4_999, strategy), 0);
  assert.equal(admitRestart(log, 5_001, strategy), 1);
});

test('backoff doubles per attempt, is capped, and jitters within ±jitter', () => {
  const backoff = { minMs: 100, maxMs: 1_000, jitter: 0.2 };
  const mid = () => 0.5;
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((attempt) => backoffDelayMs(backoff, attempt, mid)),
    [100, 200, 400, 800, 1_000],
  );
  assert.equal(
    backoffDelayMs(backoff, 1, () => 0),
    80,
  );
  assert.equal(
    backoffDelayMs(backoff, 1, () => 0.999_999),
    120,
  );
});

test('invalid strategies are rejected', () => {
  assert.throws(() => oneForOne({ maxRestarts: -1 }), RangeError);
  assert.throws(() => oneForOne({ withinMs: 0 }), RangeError);
  assert.throws(() => oneForOne({ backoff: { jitter: 2 } }), RangeError);
  assert.throws(() => oneForOne({ backoff: { minMs: 10, maxMs: 5 } }), RangeError);
});
