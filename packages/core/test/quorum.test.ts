/**
 * Table and property tests of the quorum arithmetic (majority and joint): the committed index a quorum has
 * acknowledged and the outcome of a vote, including empty voter sets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { jointCommittedIndex, jointVoteResult } from '../src/quorum/joint.ts';
import { majorityCommittedIndex, majorityVoteResult } from '../src/quorum/majority.ts';

const set = (...ids: number[]) => new Set(ids);
const acks = (m: Record<number, number>) => (id: number) => m[id];
const votes = (m: Record<number, boolean>) => (id: number) => m[id];

test('majorityCommittedIndex: the highest index acknowledged by a majority', () => {
  const table: [number[], Record<number, number>, number][] = [
    [[1], { 1: 5 }, 5],
    [[1], {}, 0],
    [[1, 2], { 1: 5, 2: 3 }, 3], // two voters need both
    [[1, 2, 3], { 1: 5, 2: 3, 3: 1 }, 3],
    [[1, 2, 3], { 1: 5 }, 0], // missing acknowledgments count as 0
    [[1, 2, 3], { 1: 5, 2: 5 }, 5],
    [[1, 2, 3, 4], { 1: 9, 2: 8, 3: 7, 4: 6 }, 7], // four voters need three
    [[1, 2, 3, 4, 5], { 1: 9, 2: 8, 3: 7, 4: 6, 5: 5 }, 7],
    [[1, 2, 3, 4, 5], { 1: 9, 2: 9 }, 0],
    [[1, 2, 3, 4, 5], { 4: 2, 5: 2, 1: 2 }, 2],
  ];
  for (const [voters, acked, want] of table) {
    assert.equal(
      majorityCommittedIndex(set(...voters), acks(acked)),
      want,
      `${voters} ${JSON.stringify(acked)}`,
    );
  }
});

test('majorityCommittedIndex of an empty set never limits (Infinity)', () => {
  assert.equal(majorityCommittedIndex(set(), acks({ 1: 3 })), Number.POSITIVE_INFINITY);
});

test('majorityVoteResult: won, lost or pending', () => {
  const table: [number[], Record<number, boolean>, string][] = [
    [[], {}, 'won'], // an empty set cannot object
    [[1], {}, 'pending'],
    [[1], { 1: true }, 'won'],
    [[1], { 1: false }, 'lost'],
    [[1, 2], { 1: true }, 'pending'],
    [[1, 2], { 1: true, 2: false }, 'lost'],
    [[1, 2, 3], { 1: true, 2: true }, 'won'],
    [[1, 2, 3], { 1: true, 2: false }, 'pending'],
    [[1, 2, 3], { 1: false, 2: false }, 'lost'],
    [[1, 2, 3, 4], { 1: true, 2: true }, 'pending'],
    [[1, 2, 3, 4], { 1: true, 2: true, 3: false }, 'pending'],
    [[1, 2, 3, 4], { 1: true, 2: false, 3: false }, 'lost'],
    [[1, 2, 3, 4, 5], { 1: true, 2: true, 3: true }, 'won'],
    [[1, 2, 3], { 4: true, 5: true }, 'pending'], // votes of non-voters do not count
  ];
  for (const [voters, v, want] of table) {
    assert.equal(majorityVoteResult(set(...voters), votes(v)), want, `${voters} ${JSON.stringify(v)}`);
  }
});

test('jointCommittedIndex: the lower of both majorities; a simple config when outgoing is empty', () => {
  const table: [number[], number[], Record<number, number>, number][] = [
    [[1, 2, 3], [], { 1: 5, 2: 4, 3: 3 }, 4],
    [[], [1, 2, 3], { 1: 5, 2: 4, 3: 3 }, 4],
    [[1, 2, 3], [1, 2, 3], { 1: 5, 2: 4, 3: 3 }, 4],
    // incoming {1,4,5} has only 1 and 4 at ≥2; outgoing {1,2,3} is at 7 — the incoming side limits.
    [[1, 4, 5], [1, 2, 3], { 1: 9, 2: 8, 3: 7, 4: 2, 5: 0 }, 2],
    // and the outgoing side limits when the new members are ahead of the old ones.
    [[1, 4, 5], [1, 2, 3], { 1: 9, 2: 1, 3: 0, 4: 9, 5: 9 }, 1],
    [[], [], { 1: 5 }, 0], // no voters at all: nothing commits
  ];
  for (const [incoming, outgoing, acked, want] of table) {
    assert.equal(
      jointCommittedIndex({ incoming: set(...incoming), outgoing: set(...outgoing) }, acks(acked)),
      want,
      `${incoming} / ${outgoing}`,
    );
  }
});

test('jointVoteResult: both majorities must win; one loss loses', () => {
  const table: [number[], number[], Record<number, boolean>, string][] = [
    [[1, 2, 3], [], { 1: true, 2: true }, 'won'],
    [[1, 2, 3], [4, 5, 6], { 1: true, 2: true }, 'pending'],
    [[1, 2, 3], [4, 5, 6], { 1: true, 2: true, 4: true, 5: true }, 'won'],
    [[1, 2, 3], [4, 5, 6], { 1: true, 2: true, 4: false, 5: false }, 'lost'],
    [[1, 2, 3], [4, 5, 6], { 1: false, 2: false, 4: true, 5: true }, 'lost'],
    [[1, 2, 3], [1, 2, 3], { 1: true, 2: true }, 'won'],
    [[], [], {}, 'won'],
  ];
  for (const [incoming, outgoing, v, want] of table) {
    assert.equal(
      jointVoteResult({ incoming: set(...incoming), outgoing: set(...outgoing) }, votes(v)),
      want,
      `${incoming} / ${outgoing} ${JSON.stringify(v)}`,
    );
  }
});

test('property: the majority index is acknowledged by a majority and no higher index is', () => {
  fc.assert(
    fc.property(fc.array(fc.nat(100), { minLength: 1, maxLength: 9 }), (indexes) => {
      const voters = new Set(indexes.map((_, i) => i + 1));
      const got = majorityCommittedIndex(voters, (id) => indexes[id - 1]);
      const quorum = Math.floor(voters.size / 2) + 1;
      const atLeast = (x: number) => indexes.filter((i) => i >= x).length;
      assert.ok(atLeast(got) >= quorum, 'a majority has the committed index');
      assert.ok(atLeast(got + 1) < quorum, 'no majority has anything higher');
    }),
  );
});

test('property: a vote is won exactly when a strict majority granted, lost when it no longer can be', () => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom<boolean | undefined>(true, false, undefined), { minLength: 1, maxLength: 9 }),
      (vs) => {
        const voters = new Set(vs.map((_, i) => i + 1));
        const result = majorityVoteResult(voters, (id) => vs[id - 1]);
        const granted = vs.filter((v) => v === true).length;
        const rejected = vs.filter((v) => v === false).length;
        const quorum = Math.floor(vs.length / 2) + 1;
        const want = granted >= quorum ? 'won' : vs.length - rejected >= quorum ? 'pending' : 'lost';
        assert.equal(result, want);
      },
    ),
  );
});
