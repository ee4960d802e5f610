/**
 * The `LogStorage` / `StableStorage` contract, shown on the in-memory implementation every test and the
 * simulator rely on: terms and entries around the compaction point, truncating appends, snapshots.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AssertionError,
  CompactedError,
  EMPTY_HARD_STATE,
  type Entry,
  EntryKind,
  MemoryLogStorage,
  MemoryStableStorage,
  type SnapshotMeta,
  SnapshotOutOfDateError,
  UnavailableError,
} from '@flotilla/core';

const entry = (index: number, term: number, size = 0): Entry => ({
  index,
  term,
  kind: EntryKind.Normal,
  data: new Uint8Array(size),
});
const confState = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const meta = (index: number, term: number): SnapshotMeta => ({ index, term, confState });

async function storageWith(terms: number[], size = 0): Promise<MemoryLogStorage> {
  const s = new MemoryLogStorage();
  await s.append(terms.map((t, i) => entry(i + 1, t, size)));
  return s;
}

test('a fresh log: first 1, last 0, term(0) = 0, empty snapshot', () => {
  const s = new MemoryLogStorage();
  assert.equal(s.firstIndex(), 1);
  assert.equal(s.lastIndex(), 0);
  assert.equal(s.term(0), 0);
  assert.equal(s.snapshot().meta.index, 0);
  assert.throws(() => s.term(1), UnavailableError);
});

test('term: answers from first-1 to last; CompactedError below, UnavailableError above', async () => {
  const s = await storageWith([1, 1, 2, 3, 3]);
  await s.saveSnapshot(meta(2, 1), new Uint8Array([9]));
  await s.compact(2);
  assert.equal(s.firstIndex(), 3);
  assert.equal(s.term(2), 1, 'the compaction point answers its term');
  assert.equal(s.term(5), 3);
  assert.throws(
    () => s.term(1),
    (e: unknown) => e instanceof CompactedError && e.code === 'FLOTILLA_COMPACTED' && e.index === 1,
  );
  assert.throws(
    () => s.term(6),
    (e: unknown) => e instanceof UnavailableError && e.code === 'FLOTILLA_UNAVAILABLE',
  );
});

test('entries: [lo, hi), bounded by bytes but always at least one; errors outside the log', async () => {
  const s = await storageWith([1, 1, 1, 1, 1], 10);
  const idx = (es: Entry[]) => es.map((e) => e.index);
  assert.deepEqual(idx(s.entries(2, 5, 1 << 20)), [2, 3, 4]);
  assert.deepEqual(idx(s.entries(1, 6, 30)), [1, 2, 3], 'stops before exceeding maxBytes');
  assert.deepEqual(idx(s.entries(1, 6, 29)), [1, 2]);
  assert.deepEqual(idx(s.entries(4, 6, 0)), [4], 'one entry even when it alone exceeds the budget');
  assert.throws(() => s.entries(3, 7, 1 << 20), UnavailableError);
  await s.saveSnapshot(meta(2, 1), new Uint8Array());
  await s.compact(2);
  assert.throws(() => s.entries(2, 4, 1 << 20), CompactedError);
  assert.deepEqual(idx(s.entries(3, 4, 1 << 20)), [3]);
});

test('append replaces every entry from its first index on (a conflicting suffix)', async () => {
  const s = await storageWith([1, 1, 1, 1]);
  await s.append([entry(3, 2)]);
  assert.equal(s.lastIndex(), 3);
  assert.equal(s.term(3), 2);
  await s.append([entry(4, 2), entry(5, 2)]);
  assert.equal(s.lastIndex(), 5);
  await s.append([]);
  assert.equal(s.lastIndex(), 5);
  assert.throws(() => s.append([entry(9, 2)]), AssertionError, 'a gap after the last index');
});

test('append of entries the snapshot already covers skips them', async () => {
  const s = await storageWith([1, 1, 1]);
  await s.saveSnapshot(meta(3, 1), new Uint8Array());
  await s.compact(3);
  await s.append([entry(2, 1), entry(3, 1), entry(4, 2)]);
  assert.equal(s.firstIndex(), 4);
  assert.equal(s.lastIndex(), 4);
  assert.equal(s.term(4), 2);
});

test('saveSnapshot leaves the log alone; compact then drops what it covers', async () => {
  const s = await storageWith([1, 1, 2, 2]);
  await s.saveSnapshot(meta(3, 2), new Uint8Array([1, 2, 3]));
  assert.equal(s.firstIndex(), 1, 'saving a snapshot does not compact');
  assert.deepEqual([...s.snapshot().data], [1, 2, 3]);
  assert.throws(() => s.compact(4), AssertionError, 'compaction past the snapshot');
  await s.compact(3);
  assert.equal(s.firstIndex(), 4);
  assert.equal(s.lastIndex(), 4);
  await s.compact(2); // already compacted: no effect
  assert.equal(s.firstIndex(), 4);
});

test('snapshots never go backwards: SnapshotOutOfDateError', async () => {
  const s = await storageWith([1, 1, 1, 1]);
  await s.saveSnapshot(meta(3, 1), new Uint8Array());
  await assert.rejects(s.saveSnapshot(meta(2, 1), new Uint8Array()), SnapshotOutOfDateError);
  await assert.rejects(
    s.installSnapshot({ meta: meta(1, 1), data: new Uint8Array() }),
    (e: unknown) => e instanceof SnapshotOutOfDateError && e.code === 'FLOTILLA_SNAPSHOT_OUT_OF_DATE',
  );
});

test('installSnapshot replaces the whole log: first = index + 1, last = index', async () => {
  const s = await storageWith([1, 1, 1]);
  await s.installSnapshot({ meta: meta(50, 7), data: new Uint8Array([4]) });
  assert.equal(s.firstIndex(), 51);
  assert.equal(s.lastIndex(), 50);
  assert.equal(s.term(50), 7);
  assert.equal(s.snapshot().meta.index, 50);
  await s.append([entry(51, 7)]);
  assert.equal(s.lastIndex(), 51);
});

test('stable storage returns the last hard state written (empty at first)', async () => {
  const s = new MemoryStableStorage();
  assert.deepEqual(s.hardState(), EMPTY_HARD_STATE);
  await s.setHardState({ term: 4, vote: 2, commit: 9 });
  assert.deepEqual(s.hardState(), { term: 4, vote: 2, commit: 9 });
});
