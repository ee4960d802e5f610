/**
 * Table tests of the node's log view: the follower's append rule (`maybeAppend`, `findConflict`), the
 * fast-backtracking hint (`findConflictByTerm`), the election restriction (`isUpToDate`), slices that span
 * storage and unstable entries, the apply limit at the durable index, and restore from a snapshot.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AssertionError, CompactedError, type Entry, EntryKind, MemoryLogStorage } from '@flotilla/core';
import fc from 'fast-check';
import { RaftLog } from '../src/raft-log.ts';

function entry(index: number, term: number, size = 0): Entry {
  return { index, term, kind: EntryKind.Normal, data: new Uint8Array(size) };
}

/** A log whose entries 1..terms.length have the given terms; the first `stable` are in storage. */
function logOf(terms: number[], stable = terms.length, size = 0): RaftLog {
  const storage = new MemoryLogStorage();
  void storage.append(terms.slice(0, stable).map((t, i) => entry(i + 1, t, size)));
  const log = new RaftLog(storage, Number.MAX_SAFE_INTEGER);
  const rest = terms.slice(stable).map((t, i) => entry(stable + i + 1, t, size));
  if (rest.length > 0) log.append(rest);
  return log;
}

const termsOf = (log: RaftLog) =>
  log.slice(log.firstIndex(), log.lastIndex() + 1, Number.MAX_SAFE_INTEGER).map((e) => e.term);

test('maybeAppend: accepts appends that match (index, logTerm), truncates conflicts, caps commit', () => {
  const table: {
    index: number;
    logTerm: number;
    commit: number;
    entries: Entry[];
    want: number | undefined;
    wantCommit: number;
    wantTerms: number[];
  }[] = [
    // previous entry does not match: rejected, nothing changes
    { index: 3, logTerm: 2, commit: 3, entries: [], want: undefined, wantCommit: 1, wantTerms: [1, 2, 3] },
    { index: 4, logTerm: 3, commit: 3, entries: [], want: undefined, wantCommit: 1, wantTerms: [1, 2, 3] },
    // heartbeat-like: nothing new, commit moves
    { index: 3, logTerm: 3, commit: 3, entries: [], want: 3, wantCommit: 3, wantTerms: [1, 2, 3] },
    // new entry; commit capped at the last new entry
    {
      index: 3,
      logTerm: 3,
      commit: 9,
      entries: [entry(4, 4)],
      want: 4,
      wantCommit: 4,
      wantTerms: [1, 2, 3, 4],
    },
    // commit capped at what this append proves, not at our (possibly stale) last index
    { index: 1, logTerm: 1, commit: 9, entries: [], want: 1, wantCommit: 1, wantTerms: [1, 2, 3] },
    // entries we already have: no truncation of the longer log
    { index: 1, logTerm: 1, commit: 2, entries: [entry(2, 2)], want: 2, wantCommit: 2, wantTerms: [1, 2, 3] },
    // conflict at 3: suffix replaced
    {
      index: 2,
      logTerm: 2,
      commit: 2,
      entries: [entry(3, 4), entry(4, 4)],
      want: 4,
      wantCommit: 2,
      wantTerms: [1, 2, 4, 4],
    },
  ];
  for (const row of table) {
    const log = logOf([1, 2, 3]);
    log.commitTo(1);
    const got = log.maybeAppend(row.index, row.logTerm, row.commit, row.entries);
    assert.equal(got, row.want, JSON.stringify(row));
    assert.equal(log.committed, row.wantCommit, JSON.stringify(row));
    assert.deepEqual(termsOf(log), row.wantTerms, JSON.stringify(row));
  }
});

test('maybeAppend: a conflict with a committed entry is a programmer error (Log Matching broken)', () => {
  const log = logOf([1, 2, 3]);
  log.commitTo(2);
  assert.throws(() => log.maybeAppend(1, 1, 3, [entry(2, 5)]), AssertionError);
});

test('findConflict: the first entry we lack or disagree with, 0 when we hold them all', () => {
  const log = logOf([1, 2, 3]);
  const table: [Entry[], number][] = [
    [[], 0],
    [[entry(1, 1), entry(2, 2), entry(3, 3)], 0],
    [[entry(2, 2), entry(3, 3)], 0],
    [[entry(3, 3), entry(4, 4), entry(5, 4)], 4], // new entries
    [[entry(2, 2), entry(3, 4)], 3], // conflict
    [[entry(1, 4), entry(2, 4)], 1],
  ];
  for (const [entries, want] of table) assert.equal(log.findConflict(entries), want, JSON.stringify(entries));
});

test('findConflictByTerm: the last index whose term is ≤ the given term (fast backtracking)', () => {
  //            index 1  2  3  4  5  6  7
  const log = logOf([1, 1, 2, 2, 5, 5, 5]);
  const table: [number, number, { index: number; term: number }][] = [
    [7, 5, { index: 7, term: 5 }],
    [7, 6, { index: 7, term: 5 }],
    [7, 4, { index: 4, term: 2 }], // skips the whole term 5
    [7, 2, { index: 4, term: 2 }],
    [7, 1, { index: 2, term: 1 }],
    [7, 0, { index: 0, term: 0 }],
    [3, 1, { index: 2, term: 1 }],
    [5, 5, { index: 5, term: 5 }],
  ];
  for (const [index, term, want] of table)
    assert.deepEqual(log.findConflictByTerm(index, term), want, `${index}/${term}`);
});

test('property: findConflictByTerm returns the last index ≤ index whose term ≤ term', () => {
  const increments = fc.array(fc.nat(2), { minLength: 1, maxLength: 30 });
  fc.assert(
    fc.property(increments, fc.nat(40), fc.nat(40), (incs, rawIndex, term) => {
      const terms: number[] = [];
      let t = 1;
      for (const inc of incs) {
        t += inc;
        terms.push(t);
      }
      const log = logOf(terms);
      const index = rawIndex % (terms.length + 1);
      let want = 0;
      for (let i = index; i >= 1; i--) {
        if (terms[i - 1]! <= term) {
          want = i;
          break;
        }
      }
      const got = log.findConflictByTerm(index, term);
      assert.equal(got.index, want);
      assert.equal(got.term, want === 0 ? 0 : terms[want - 1]);
    }),
  );
});

test('findConflictByTerm stops at the compaction point', () => {
  const storage = new MemoryLogStorage();
  void storage.append([1, 1, 2, 2, 3].map((t, i) => entry(i + 1, t)));
  void storage.saveSnapshot(
    {
      index: 3,
      term: 2,
      confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    },
    new Uint8Array(),
  );
  void storage.compact(3);
  const log = new RaftLog(storage, 1 << 20);
  assert.deepEqual(log.findConflictByTerm(5, 2), { index: 4, term: 2 });
  assert.deepEqual(log.findConflictByTerm(5, 1), { index: 0, term: 0 }, 'nothing at or below term 1 remains');
});

test('isUpToDate: a higher last term wins, then a longer log (Raft §5.4.1)', () => {
  const log = logOf([1, 2, 3]);
  const table: [number, number, boolean][] = [
    [2, 4, true],
    [9, 2, false],
    [3, 3, true],
    [2, 3, false],
    [4, 3, true],
  ];
  for (const [lastIndex, lastTerm, want] of table)
    assert.equal(log.isUpToDate(lastIndex, lastTerm), want, `${lastIndex}/${lastTerm}`);
});

test('slices span storage and unstable entries and honour maxBytes (at least one entry)', () => {
  const log = logOf([1, 1, 1, 1, 1, 2, 2, 2], 5, 10); // 1..5 stored, 6..8 unstable, 10 bytes each
  const idx = (es: Entry[]) => es.map((e) => e.index);
  assert.deepEqual(idx(log.slice(3, 8, 1 << 20)), [3, 4, 5, 6, 7]);
  assert.deepEqual(idx(log.slice(6, 9, 1 << 20)), [6, 7, 8]);
  assert.deepEqual(idx(log.slice(3, 9, 25)), [3, 4], 'stops inside storage');
  assert.deepEqual(idx(log.slice(4, 9, 35)), [4, 5, 6], 'continues into unstable until the budget ends');
  assert.deepEqual(idx(log.slice(7, 9, 1)), [7], 'one entry even past the budget');
  assert.deepEqual(idx(log.slice(5, 5, 1)), []);
  assert.throws(() => log.slice(4, 10, 1 << 20), AssertionError);
});

test('slice and term below the first index: CompactedError / undefined', () => {
  const storage = new MemoryLogStorage();
  void storage.append([1, 1, 2, 2].map((t, i) => entry(i + 1, t)));
  void storage.saveSnapshot(
    {
      index: 2,
      term: 1,
      confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    },
    new Uint8Array(),
  );
  void storage.compact(2);
  const log = new RaftLog(storage, 1 << 20);
  assert.throws(() => log.slice(2, 4, 1 << 20), CompactedError);
  assert.equal(log.term(1), undefined);
  assert.equal(log.term(2), 1, 'the compaction point keeps its term');
  assert.equal(log.term(5), undefined);
  assert.equal(log.firstIndex(), 3);
});

test('committed entries are handed out only up to the durable index', () => {
  const log = logOf([1, 1, 1, 1, 1, 2, 2, 2], 5);
  log.commitTo(8);
  assert.equal(log.stableLastIndex(), 5);
  assert.deepEqual(
    log.nextCommittedEntries().map((e) => e.index),
    [1, 2, 3, 4, 5],
  );
  log.applying = 5;
  assert.equal(log.hasNextCommittedEntries(), false, 'entries 6..8 are committed but not durable here');
  void log.storage.append(log.unstable.nextEntries()); // the application writes them, then reports it
  log.unstable.stableTo(8, 2);
  assert.deepEqual(
    log.nextCommittedEntries().map((e) => e.index),
    [6, 7, 8],
  );
});

test('append never overwrites committed entries', () => {
  const log = logOf([1, 1, 1]);
  log.commitTo(3);
  assert.throws(() => log.append([entry(3, 2)]), AssertionError);
  assert.throws(() => log.commitTo(9), AssertionError, 'commit past the last index');
});

test('restore replaces the log by a snapshot; nothing is applied until it is durable', () => {
  const log = logOf([1, 1, 1]);
  log.commitTo(2);
  log.restore({
    meta: {
      index: 20,
      term: 4,
      confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    },
    data: new Uint8Array(),
  });
  assert.equal(log.firstIndex(), 21);
  assert.equal(log.lastIndex(), 20);
  assert.equal(log.lastTerm(), 4);
  assert.equal(log.committed, 20);
  assert.equal(log.stableLastIndex(), 0, 'nothing past the old log counts as durable yet');
  assert.equal(log.hasNextCommittedEntries(), false);
  assert.equal(log.snapshot().meta.index, 20, 'the pending snapshot is the one to send on');
});
