/**
 * Tests of the leader's per-follower inflight window: bounded by message count and by bytes, freed by
 * acknowledgments (`freeLE`) and, when appends were lost, one slot at a time (`freeFirstOne`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AssertionError } from '../src/assert.ts';
import { Inflights } from '../src/inflights.ts';

test('the window is full at messagesMax messages, and add past it is a programmer error', () => {
  const w = new Inflights(3, 0);
  w.add(1, 10);
  w.add(2, 10);
  assert.equal(w.full(), false);
  w.add(3, 10);
  assert.equal(w.full(), true);
  assert.equal(w.size, 3);
  assert.throws(() => w.add(4, 10), AssertionError);
});

test('the window is full once its bytes reach bytesMax, whatever the count', () => {
  const table: [number[], number, boolean][] = [
    [[40, 40], 100, false],
    [[40, 60], 100, true], // exactly at the bound is full
    [[150], 100, true], // one oversized append fills it alone
    [[1_000_000], 0, false], // 0 = no byte bound
  ];
  for (const [sizes, bytesMax, full] of table) {
    const w = new Inflights(10, bytesMax);
    for (const [i, b] of sizes.entries()) w.add(i + 1, b);
    assert.equal(w.full(), full, `${sizes} of ${bytesMax}`);
    assert.equal(
      w.sizeBytes,
      sizes.reduce((a, b) => a + b, 0),
    );
  }
});

test('freeLE frees every message acknowledged up to an index, with its bytes', () => {
  const w = new Inflights(4, 100);
  w.add(5, 30);
  w.add(8, 30);
  w.add(12, 40);
  assert.equal(w.full(), true);
  w.freeLE(4); // below the oldest: nothing
  assert.equal(w.size, 3);
  w.freeLE(9); // frees 5 and 8 (9 is inside no message: the ack covers the first two)
  assert.equal(w.size, 1);
  assert.equal(w.sizeBytes, 40);
  assert.equal(w.full(), false);
  w.freeLE(100);
  assert.equal(w.size, 0);
  assert.equal(w.sizeBytes, 0);
});

test('freeFirstOne frees only the oldest message (a lost window probes one slot at a time)', () => {
  const w = new Inflights(2, 0);
  w.add(3, 1);
  w.add(6, 1);
  w.freeFirstOne();
  assert.equal(w.size, 1);
  assert.equal(w.full(), false);
  w.add(9, 1);
  assert.equal(w.full(), true);
  w.freeFirstOne();
  w.freeFirstOne();
  w.freeFirstOne(); // on an empty window: no effect
  assert.equal(w.size, 0);
});

test('the ring wraps around: many add/free cycles keep count and bytes exact', () => {
  const w = new Inflights(3, 0);
  let last = 0;
  for (let i = 0; i < 50; i++) {
    w.add(++last, 2);
    w.add(++last, 2);
    w.freeLE(last - 1);
    assert.equal(w.size, 1);
    assert.equal(w.sizeBytes, 2);
  }
  w.reset();
  assert.equal(w.size, 0);
  assert.equal(w.sizeBytes, 0);
});

test('indexes must grow: an append not after the previous one is a programmer error', () => {
  const w = new Inflights(4, 0);
  w.add(5, 1);
  assert.throws(() => w.add(5, 1), AssertionError);
});

test('property: the window matches a simple list model under any add/free sequence', () => {
  type Op = { kind: 'add'; bytes: number } | { kind: 'free'; back: number } | { kind: 'first' };
  const op = fc.oneof(
    fc.record({ kind: fc.constant('add' as const), bytes: fc.nat(50) }),
    fc.record({ kind: fc.constant('free' as const), back: fc.nat(5) }),
    fc.record({ kind: fc.constant('first' as const) }),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.nat(120),
      fc.array(op, { maxLength: 60 }),
      (max, bytesMax, ops) => {
        const w = new Inflights(max, bytesMax);
        let model: { last: number; bytes: number }[] = [];
        let last = 0;
        for (const o of ops as Op[]) {
          if (o.kind === 'add') {
            if (w.full()) continue;
            last++;
            w.add(last, o.bytes);
            model.push({ last, bytes: o.bytes });
          } else if (o.kind === 'free') {
            w.freeLE(last - o.back);
            model = model.filter((m) => m.last > last - o.back);
          } else {
            w.freeFirstOne();
            model = model.slice(1);
          }
          const bytes = model.reduce((a, m) => a + m.bytes, 0);
          assert.equal(w.size, model.length);
          assert.equal(w.sizeBytes, bytes);
          assert.equal(w.full(), model.length === max || (bytesMax > 0 && bytes >= bytesMax));
        }
      },
    ),
  );
});
