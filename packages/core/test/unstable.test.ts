/**
 * Table tests of the not-yet-durable part of the log: appends that truncate, what is handed out for
 * writing, acknowledgments of writes (`stableTo`, which must ignore entries replaced meanwhile), restore.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AssertionError, type Entry, EntryKind, type Snapshot } from '@flotilla/core';
import { Unstable } from '../src/unstable.ts';

const entry = (index: number, term: number): Entry => ({
  index,
  term,
  kind: EntryKind.Normal,
  data: new Uint8Array(),
});
const terms = (u: Unstable) => u.entries.map((e) => `${e.index}:${e.term}`);
const snap = (index: number, term: number): Snapshot => ({
  meta: {
    index,
    term,
    confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
  },
  data: new Uint8Array(),
});

function unstableWith(offset: number, ts: number[]): Unstable {
  const u = new Unstable(offset);
  if (ts.length > 0) u.truncateAndAppend(ts.map((t, i) => entry(offset + i, t)));
  return u;
}

test('truncateAndAppend: append at the end, replace everything, or cut the middle', () => {
  const table: { start: number[]; append: Entry[]; want: string[]; wantOffset: number }[] = [
    { start: [1, 1], append: [entry(7, 1)], want: ['5:1', '6:1', '7:1'], wantOffset: 5 },
    { start: [1, 1], append: [entry(5, 2)], want: ['5:2'], wantOffset: 5 },
    { start: [1, 1], append: [entry(4, 2), entry(5, 2)], want: ['4:2', '5:2'], wantOffset: 4 }, // reaches into storage
    { start: [1, 1, 1], append: [entry(6, 2)], want: ['5:1', '6:2'], wantOffset: 5 },
  ];
  for (const row of table) {
    const u = unstableWith(5, row.start);
    u.truncateAndAppend(row.append);
    assert.deepEqual(terms(u), row.want);
    assert.equal(u.offset, row.wantOffset);
  }
  assert.throws(() => unstableWith(5, [1]).truncateAndAppend([entry(8, 1)]), AssertionError, 'a gap');
});

test('entries handed out for writing are not handed out again, unless replaced', () => {
  const u = unstableWith(5, [1, 1, 1]);
  assert.equal(u.nextEntries().length, 3);
  u.acceptInProgress();
  assert.deepEqual(u.nextEntries(), []);
  u.truncateAndAppend([entry(8, 1)]);
  assert.deepEqual(
    u.nextEntries().map((e) => e.index),
    [8],
  );
  u.acceptInProgress();
  u.truncateAndAppend([entry(6, 2)]); // replaces 6..8 while they were being written
  assert.deepEqual(
    u.nextEntries().map((e) => `${e.index}:${e.term}`),
    ['6:2'],
  );
});

test('stableTo drops durable entries and ignores acknowledgments of entries replaced since', () => {
  const u = unstableWith(5, [1, 1, 1]);
  u.acceptInProgress();
  u.truncateAndAppend([entry(6, 2)]); // 6:1 and 7:1 were in flight; now the log is 5:1 6:2
  u.stableTo(7, 1); // the old write of 7 finished: 7 is gone
  assert.deepEqual(terms(u), ['5:1', '6:2']);
  u.stableTo(6, 1); // 6 exists but with another term: not this entry
  assert.deepEqual(terms(u), ['5:1', '6:2']);
  u.stableTo(5, 1); // the common prefix is durable
  assert.deepEqual(terms(u), ['6:2']);
  assert.equal(u.offset, 6);
  u.stableTo(6, 2);
  assert.deepEqual(terms(u), []);
  assert.equal(u.offset, 7);
  assert.equal(u.maybeLastIndex(), undefined);
  u.stableTo(3, 1); // below the offset: ignored
  assert.equal(u.offset, 7);
});

test('maybeTerm answers for held entries and the pending snapshot only', () => {
  const u = unstableWith(5, [2, 3]);
  assert.equal(u.maybeTerm(5), 2);
  assert.equal(u.maybeTerm(6), 3);
  assert.equal(u.maybeTerm(4), undefined);
  assert.equal(u.maybeTerm(7), undefined);
  u.restore(snap(10, 4));
  assert.equal(u.maybeTerm(10), 4);
  assert.equal(u.maybeTerm(9), undefined);
});

test('restore: the snapshot replaces everything, is handed out once, and clears when durable', () => {
  const u = unstableWith(5, [1, 1]);
  u.restore(snap(20, 3));
  assert.deepEqual(u.entries, []);
  assert.equal(u.offset, 21);
  assert.equal(u.maybeFirstIndex(), 21);
  assert.equal(u.maybeLastIndex(), 20);
  assert.equal(u.nextSnapshot()?.meta.index, 20);
  u.acceptInProgress();
  assert.equal(u.nextSnapshot(), undefined, 'already handed out');
  u.truncateAndAppend([entry(21, 3)]);
  u.stableSnapTo(19); // another snapshot: ignored
  assert.ok(u.snapshot);
  u.stableSnapTo(20);
  assert.equal(u.snapshot, undefined);
  assert.equal(u.maybeFirstIndex(), undefined);
  assert.deepEqual(terms(u), ['21:3']);
});
