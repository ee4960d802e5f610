/**
 * The LogStorage/StableStorage contract suite, run against each engine: reads, appends, truncation, compaction,
 * hard state, group commit and recovery after reopening, checked against what core's in-memory storage answers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CompactedError,
  EMPTY_HARD_STATE,
  type Entry,
  MemoryLogStorage,
  seededFloats,
  UnavailableError,
} from '@flotilla/core';
import { type Engine, useFixture } from './engines.ts';
import { assertEntries, makeEntries, meta, sameBytes } from './helpers.ts';

export function contractLog(engine: Engine): void {
  const f = useFixture(engine);

  describe('a group that never wrote', () => {
    it('answers like an empty in-memory log, and survives a reopen without writing anything', async () => {
      const costs = f.costs();
      const g = f.store.group('never');
      const mem = new MemoryLogStorage();
      assert.equal(g.firstIndex(), mem.firstIndex());
      assert.equal(g.lastIndex(), mem.lastIndex());
      assert.equal(g.term(0), 0);
      assert.deepEqual(g.entries(1, 1, 100), []);
      assert.throws(() => g.term(1), UnavailableError);
      assert.throws(() => g.entries(0, 1, 100), CompactedError);
      assert.deepEqual(g.hardState(), EMPTY_HARD_STATE);
      assert.equal(g.snapshot().meta.index, 0);
      assert.equal(g.snapshot().data.length, 0);
      await f.store.flushed();
      await f.reopen();
      assert.deepEqual(f.costs(), costs, 'reading and reopening wrote nothing');
      assert.equal(f.store.group('never').lastIndex(), 0);
      assert.ok(!f.store.groupIds().includes('never'));
    });
  });

  describe('append and read', () => {
    it('reads back what was appended, honours maxBytes, and recovers it after reopening', async () => {
      const g = f.store.group('a');
      const entries = makeEntries('a', 1, 50, 1);
      await g.append(entries);
      assert.equal(g.firstIndex(), 1);
      assert.equal(g.lastIndex(), 50);
      assert.equal(g.term(50), 1);
      assertEntries(g.entries(1, 51, Number.MAX_SAFE_INTEGER), entries);
      assert.equal(g.entries(1, 51, 250).length, 2, 'stops before exceeding maxBytes');
      assert.equal(g.entries(5, 51, 0).length, 1, 'at least one entry');
      assert.throws(() => g.entries(1, 52, 100), UnavailableError);
      await f.reopen();
      const r = f.store.group('a');
      assert.equal(r.lastIndex(), 50);
      assertEntries(r.entries(10, 20, 1e9), entries.slice(9, 19));
      assert.equal(f.store.groupIds().includes('a'), engine.listsGroupsWithEntriesOnly);
    });

    it('keeps its own copy of entry data: a caller reusing its buffer changes nothing', async () => {
      const g = f.store.group('copy');
      const entries = makeEntries('copy', 1, 3, 1);
      const expected = entries.map((e) => Uint8Array.from(e.data));
      const writing = g.append(entries);
      for (const e of entries) e.data.fill(0);
      await writing;
      await f.reopen();
      const r = f.store.group('copy').entries(1, 4, 1e9);
      for (let i = 0; i < 3; i++) assert.ok(sameBytes((r[i] as Entry).data, expected[i] as Uint8Array));
    });

    it('reads writes still in flight, and keeps writes of one group in issue order', async () => {
      const g = f.store.group('inflight');
      const first = g.append(makeEntries('inflight', 1, 10, 1));
      const second = g.append(makeEntries('inflight', 11, 20, 1));
      const replaced = makeEntries('inflight', 15, 16, 2);
      const third = g.append(replaced);
      assert.equal(g.lastIndex(), 16);
      assert.equal(g.term(16), 2);
      assert.equal(g.term(14), 1);
      assertEntries(g.entries(13, 17, 1e9), [...makeEntries('inflight', 13, 14, 1), ...replaced]);
      await Promise.all([first, second, third]);
      assertEntries(g.entries(13, 17, 1e9), [...makeEntries('inflight', 13, 14, 1), ...replaced]);
      await f.reopen();
      const r = f.store.group('inflight');
      assert.equal(r.lastIndex(), 16);
      assert.equal(r.term(16), 2);
      assert.equal(r.term(14), 1);
    });
  });

  describe('suffix truncation', () => {
    it('replaces a conflicting suffix', async () => {
      const g = f.store.group('trunc');
      await g.append(makeEntries('trunc', 1, 20, 1));
      await g.append(makeEntries('trunc', 8, 9, 3));
      assert.equal(g.lastIndex(), 9);
      await f.reopen();
      const r = f.store.group('trunc');
      assert.equal(r.lastIndex(), 9);
      assertEntries(r.entries(1, 10, 1e9), [
        ...makeEntries('trunc', 1, 7, 1),
        ...makeEntries('trunc', 8, 9, 3),
      ]);
    });

    it('truncates a long log to its first index, later writes in order, other groups still writing', async () => {
      const g = f.store.group('trunc-first');
      await g.append(makeEntries('trunc-first', 1, 1000, 1));
      const truncate = g.append(makeEntries('trunc-first', 1, 1, 2));
      const later = g.setHardState({ term: 2, vote: 1, commit: 0 });
      await f.store.group('bystander').append(makeEntries('bystander', 1, 1, 1));
      await Promise.all([truncate, later]);
      assert.equal(g.lastIndex(), 1);
      await f.reopen();
      const r = f.store.group('trunc-first');
      assert.equal(r.lastIndex(), 1);
      assert.equal(r.term(1), 2);
      assert.throws(() => r.term(2), UnavailableError);
      assert.deepEqual(r.hardState(), { term: 2, vote: 1, commit: 0 });
      assert.equal(f.store.group('bystander').lastIndex(), 1);
    });
  });

  describe('compaction', () => {
    it('compacts to the last index: first = last + 1, the marker term still answers, appends continue', async () => {
      const g = f.store.group('compact');
      await g.append(makeEntries('compact', 1, 30, 4));
      await g.saveSnapshot(meta(30, 4), new Uint8Array([1, 2, 3]));
      await g.compact(30);
      assert.equal(g.firstIndex(), 31);
      assert.equal(g.lastIndex(), 30);
      assert.equal(g.term(30), 4);
      assert.throws(() => g.term(29), CompactedError);
      assert.throws(() => g.entries(30, 31, 100), CompactedError);
      assert.deepEqual(g.entries(31, 31, 100), []);
      await f.settled();
      await f.reopen();
      const r = f.store.group('compact');
      assert.equal(r.firstIndex(), 31);
      assert.equal(r.lastIndex(), 30);
      assert.equal(r.term(30), 4);
      await r.append(makeEntries('compact', 29, 32, 5).slice(2));
      assertEntries(r.entries(31, 33, 1e9), makeEntries('compact', 31, 32, 5));
    });

    it('skips appended entries the marker covers, and compacting at or below the marker changes nothing', async () => {
      const g = f.store.group('compact-skip');
      await g.append(makeEntries('compact-skip', 1, 10, 1));
      await g.saveSnapshot(meta(6, 1), new Uint8Array([6]));
      await g.compact(6);
      await g.compact(3);
      await g.append(makeEntries('compact-skip', 5, 12, 1));
      assert.equal(g.firstIndex(), 7);
      assert.equal(g.lastIndex(), 12);
      await f.reopen();
      assertEntries(f.store.group('compact-skip').entries(7, 13, 1e9), makeEntries('compact-skip', 7, 12, 1));
    });
  });

  describe('hard state', () => {
    it('keeps the last hard state across reopening', async () => {
      const g = f.store.group('hs');
      await g.setHardState({ term: 1, vote: 2, commit: 0 });
      const last = g.setHardState({ term: 3, vote: 1, commit: 7 });
      assert.deepEqual(g.hardState(), { term: 3, vote: 1, commit: 7 });
      await last;
      await f.reopen();
      assert.deepEqual(f.store.group('hs').hardState(), { term: 3, vote: 1, commit: 7 });
      assert.ok(f.store.groupIds().includes('hs'));
    });
  });

  describe('group commit', () => {
    it('makes the appends and hard states of 36 groups issued in one turn durable at once', async () => {
      const groups = Array.from({ length: 36 }, (_, i) => f.store.group(`gc:${i}`));
      const before = f.costs();
      await Promise.all(
        groups.flatMap((g) => [
          g.append(makeEntries(g.group, 1, 64, 1)),
          g.setHardState({ term: 1, vote: 1, commit: 0 }),
        ]),
      );
      const spent = Object.entries(f.costs()).map(([what, n]) => [what, n - (before[what] ?? 0)]);
      assert.deepEqual(
        spent,
        Object.keys(before).map((what) => [what, 1]),
        'one of each (transaction; write, fdatasync)',
      );
    });
  });

  describe('against the in-memory storage', () => {
    it('answers like MemoryLogStorage after a random sequence of writes and reopenings', async () => {
      const random = seededFloats(42);
      let g = f.store.group('model');
      const mem = new MemoryLogStorage();
      let term = 1;
      for (let step = 0; step < 300; step++) {
        const last = mem.lastIndex();
        const first = mem.firstIndex();
        const dice = random();
        if (dice < 0.15 && last >= first) {
          term++;
          const lo = first + Math.floor(random() * (last - first + 1));
          const entries = makeEntries('model', lo, lo + Math.floor(random() * 5), term);
          await Promise.all([g.append(entries), mem.append(entries)]);
        } else if (dice < 0.22 && last >= first) {
          const index = first + Math.floor(random() * (last - first + 1));
          await g.saveSnapshot(meta(index, mem.term(index)), new Uint8Array([index & 0xff]));
          await mem.saveSnapshot(meta(index, mem.term(index)), new Uint8Array([index & 0xff]));
          await Promise.all([g.compact(index), mem.compact(index)]);
        } else {
          const entries = makeEntries('model', last + 1, last + 1 + Math.floor(random() * 8), term);
          await Promise.all([g.append(entries), mem.append(entries)]);
        }
        if (step % 100 === 99) g = (await f.reopen()).group('model');
        assert.equal(g.firstIndex(), mem.firstIndex(), `first index after step ${step}`);
        assert.equal(g.lastIndex(), mem.lastIndex(), `last index after step ${step}`);
      }
      assert.equal(g.term(mem.firstIndex() - 1), mem.term(mem.firstIndex() - 1));
      assertEntries(
        g.entries(g.firstIndex(), g.lastIndex() + 1, 1e9),
        mem.entries(mem.firstIndex(), mem.lastIndex() + 1, 1e9),
      );
      assert.deepEqual(g.snapshot().meta, mem.snapshot().meta);
    });
  });
}
