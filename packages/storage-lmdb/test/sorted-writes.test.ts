import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { compareKvKeys, inRange, type KvKey, type KvRange, SortedWrites } from '../src/index.ts';

const key = fc.oneof(
  fc.string({ maxLength: 3 }),
  fc.integer({ min: -50, max: 50 }),
  fc.array(fc.oneof(fc.string({ maxLength: 2 }), fc.integer({ min: -5, max: 5 })), {
    minLength: 1,
    maxLength: 3,
  }),
);

test('a range of pending writes is what filtering and sorting all of them gives, in both directions', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(key, fc.boolean()), { maxLength: 60 }),
      fc.option(key, { nil: undefined }),
      fc.option(key, { nil: undefined }),
      fc.boolean(),
      (writes, start, end, reverse) => {
        const sorted = new SortedWrites();
        const latest = new Map<string, { key: KvKey; value: Uint8Array | null }>();
        for (const [k, del] of writes) {
          const w = { key: k, value: del ? null : new Uint8Array([1]) };
          sorted.set(w);
          latest.set(JSON.stringify([typeof k, k]), w);
        }
        const range: KvRange = {
          ...(start === undefined ? {} : { start }),
          ...(end === undefined ? {} : { end }),
          reverse,
        };
        const expected = [...latest.values()]
          .filter((w) => inRange(w.key, range))
          .sort((a, b) => (reverse ? -1 : 1) * compareKvKeys(a.key, b.key))
          .map((w) => w.key);
        const actual = [...sorted.inRange(range)].map((w) => w.key);
        assert.equal(actual.length, expected.length);
        for (let i = 0; i < actual.length; i++) assert.equal(compareKvKeys(actual[i]!, expected[i]!), 0);
      },
    ),
    { numRuns: 500 },
  );
});

test('a write reaching LMDB leaves the overlay by id, and only that one', () => {
  const sorted = new SortedWrites();
  sorted.set({ key: ['job', 1], value: null });
  sorted.set({ key: ['job', 2], value: new Uint8Array([2]) });
  sorted.deleteById('t\u0001job\u0001#1');
  assert.deepEqual(
    [...sorted.inRange({ start: ['job'], end: ['job', '\uffff'] })].map((w) => w.key),
    [['job', 2]],
  );
  assert.equal(sorted.size, 1);
});
