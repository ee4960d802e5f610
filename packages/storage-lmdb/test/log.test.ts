/**
 * LogStorage and StableStorage on LMDB: reads, appends, truncation, compaction and recovery after reopening,
 * checked against what core's in-memory storage answers for the same operations.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CompactedError,
  EMPTY_CONF_STATE,
  EMPTY_HARD_STATE,
  type Entry,
  MemoryLogStorage,
  UnavailableError,
} from '@flotilla/core';
import { type NodeStorage, openStorage } from '../src/index.ts';
import { makeEntries, sameBytes, tempDir } from './helpers.ts';

const NODE = 1;
const dir = tempDir('log');
let storage: NodeStorage;

async function reopen(options: { deleteChunkEntries?: number } = {}): Promise<NodeStorage> {
  await storage.close();
  storage = await openStorage({ path: dir.path, nodeId: NODE, ...options });
  return storage;
}

function assertEntries(actual: Entry[], expected: Entry[]): void {
  assert.deepEqual(
    actual.map((e) => [e.index, e.term]),
    expected.map((e) => [e.index, e.term]),
  );
  for (let i = 0; i < actual.length; i++) {
    assert.ok(sameBytes((actual[i] as Entry).data, (expected[i] as Entry).data), `data of ${i}`);
  }
}

const meta = (index: number, term: number) => ({ index, term, confState: EMPTY_CONF_STATE });

before(async () => {
  storage = await openStorage({ path: dir.path, nodeId: NODE });
});

after(async () => {
  await storage.close();
  dir.remove();
});

describe('a group that never wrote', () => {
  it('answers like an empty in-memory log, and survives a reopen without writing anything', async () => {
    const g = storage.group('never');
    const mem = new MemoryLogStorage();
    assert.equal(g.firstIndex(), mem.firstIndex());
    assert.equal(g.lastIndex(), mem.lastIndex());
    assert.equal(g.term(0), 0);
    assert.deepEqual(g.entries(1, 1, 100), []);
    assert.throws(() => g.term(1), UnavailableError);
    assert.throws(() => g.entries(0, 1, 100), CompactedError);
    assert.deepEqual(g.hardState(), EMPTY_HARD_STATE);
    assert.equal(g.snapshot().meta.index, 0);
    const txn = storage.lastTransactionId();
    await reopen();
    assert.equal(storage.lastTransactionId(), txn);
    assert.equal(storage.group('never').lastIndex(), 0);
    assert.ok(!storage.groupIds().includes('never'));
  });
});

describe('append and read', () => {
  it('reads back what was appended, honours maxBytes, and recovers bounds after reopening', async () => {
    const g = storage.group('a');
    const entries = makeEntries('a', 1, 50, 1);
    await g.append(entries);
    assert.equal(g.firstIndex(), 1);
    assert.equal(g.lastIndex(), 50);
    assert.equal(g.term(50), 1);
    assertEntries(g.entries(1, 51, Number.MAX_SAFE_INTEGER), entries);
    assert.equal(g.entries(1, 51, 250).length, 2, 'stops before exceeding maxBytes');
    assert.equal(g.entries(5, 51, 0).length, 1, 'at least one entry');
    assert.throws(() => g.entries(1, 52, 100), UnavailableError);
    await reopen();
    const r = storage.group('a');
    assert.equal(r.lastIndex(), 50);
    assertEntries(r.entries(10, 20, 1e9), entries.slice(9, 19));
  });

  it('reads writes still in flight, and keeps writes of one group in issue order', async () => {
    const g = storage.group('inflight');
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
    await reopen();
    assert.equal(storage.group('inflight').lastIndex(), 16);
    assert.equal(storage.group('inflight').term(16), 2);
  });
});

describe('suffix truncation', () => {
  it('replaces a conflicting suffix, in one transaction when small', async () => {
    const g = storage.group('trunc-small');
    await g.append(makeEntries('trunc-small', 1, 20, 1));
    await g.append(makeEntries('trunc-small', 8, 9, 3));
    assert.equal(g.lastIndex(), 9);
    await reopen();
    const r = storage.group('trunc-small');
    assert.equal(r.lastIndex(), 9);
    assertEntries(r.entries(1, 10, 1e9), [
      ...makeEntries('trunc-small', 1, 7, 1),
      ...makeEntries('trunc-small', 8, 9, 3),
    ]);
  });

  it('truncates to the first index in chunks, one transaction per chunk, other groups still writing', async () => {
    await reopen({ deleteChunkEntries: 100 });
    const g = storage.group('trunc-big');
    await g.append(makeEntries('trunc-big', 1, 1000, 1));
    const before = storage.lastTransactionId();
    const truncate = g.append(makeEntries('trunc-big', 1, 1, 2));
    const later = g.setHardState({ term: 2, vote: 1, commit: 0 });
    const other = storage.group('bystander').append(makeEntries('bystander', 1, 1, 1));
    await other;
    await Promise.all([truncate, later]);
    assert.ok(storage.lastTransactionId() - before >= 10, 'at least 999/100 delete transactions');
    assert.equal(g.lastIndex(), 1);
    await reopen();
    const r = storage.group('trunc-big');
    assert.equal(r.lastIndex(), 1);
    assert.equal(r.term(1), 2);
    assert.deepEqual(r.hardState(), { term: 2, vote: 1, commit: 0 });
  });
});

describe('compaction', () => {
  it('compacts to the last index: first = last + 1, term of the marker still answers', async () => {
    const g = storage.group('compact');
    await g.append(makeEntries('compact', 1, 30, 4));
    await g.saveSnapshot(meta(30, 4), new Uint8Array([1, 2, 3]));
    await g.compact(30);
    assert.equal(g.firstIndex(), 31);
    assert.equal(g.lastIndex(), 30);
    assert.equal(g.term(30), 4);
    assert.throws(() => g.term(29), CompactedError);
    assert.throws(() => g.entries(30, 31, 100), CompactedError);
    await storage.collected();
    await reopen();
    const r = storage.group('compact');
    assert.equal(r.firstIndex(), 31);
    assert.equal(r.lastIndex(), 30);
    assert.equal(r.term(30), 4);
    await r.append(makeEntries('compact', 31, 32, 5));
    assertEntries(r.entries(31, 33, 1e9), makeEntries('compact', 31, 32, 5));
  });

  it('deletes compacted entries in the background, in chunks', async () => {
    await reopen({ deleteChunkEntries: 64 });
    const g = storage.group('compact-big');
    await g.append(makeEntries('compact-big', 1, 2000, 1));
    await g.saveSnapshot(meta(1500, 1), new Uint8Array([9]));
    const before = storage.lastTransactionId();
    await g.compact(1500);
    await storage.collected();
    assert.ok(storage.lastTransactionId() - before >= 1500 / 64, 'one transaction per chunk');
    assert.equal(g.firstIndex(), 1501);
    assertEntries(g.entries(1501, 1503, 1e9), makeEntries('compact-big', 1501, 1502, 1));
    await reopen();
    const txn = storage.lastTransactionId();
    assert.equal(storage.group('compact-big').firstIndex(), 1501);
    await storage.collected();
    assert.equal(storage.lastTransactionId(), txn, 'no garbage left to collect after reopening');
  });
});

describe('hard state', () => {
  it('keeps the last durable hard state across reopening', async () => {
    const g = storage.group('hs');
    await g.setHardState({ term: 1, vote: 2, commit: 0 });
    const last = g.setHardState({ term: 3, vote: 1, commit: 7 });
    assert.deepEqual(g.hardState(), { term: 3, vote: 1, commit: 7 });
    await last;
    await reopen();
    assert.deepEqual(storage.group('hs').hardState(), { term: 3, vote: 1, commit: 7 });
    assert.ok(storage.groupIds().includes('hs'));
  });
});

describe('group commit', () => {
  it('commits the appends and hard states of many groups issued in one turn in one transaction', async () => {
    const groups = Array.from({ length: 36 }, (_, i) => storage.group(`gc:${i}`));
    const before = storage.lastTransactionId();
    await Promise.all(
      groups.flatMap((g) => [
        g.append(makeEntries(g.group, 1, 64, 1)),
        g.setHardState({ term: 1, vote: 1, commit: 0 }),
      ]),
    );
    assert.equal(storage.lastTransactionId() - before, 1);
  });
});
