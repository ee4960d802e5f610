/**
 * LMDB deletes long ranges (a truncated suffix, compacted entries) in chunks of `deleteChunkEntries`, one
 * transaction each, so that no transaction grows with the log; a short suffix goes in the writing transaction.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LMDB_TEST_OPTIONS, lmdb, useFixture } from './engines.ts';
import { assertEntries, makeEntries, meta } from './helpers.ts';

const CHUNK = LMDB_TEST_OPTIONS.deleteChunkEntries;
const f = useFixture(lmdb);

describe('chunked deletes', () => {
  it('replaces a short suffix in one transaction, and truncates a long one in one transaction per chunk', async () => {
    const g = f.store.group('trunc');
    await g.append(makeEntries('trunc', 1, 1000, 1));
    let before = f.store.lastTransactionId();
    await g.append(makeEntries('trunc', 990, 990, 2));
    assert.equal(f.store.lastTransactionId() - before, 1, `${1000 - 990} entries: one transaction`);
    before = f.store.lastTransactionId();
    await g.append(makeEntries('trunc', 1, 1, 3));
    const transactions = f.store.lastTransactionId() - before;
    assert.ok(transactions >= Math.ceil(989 / CHUNK), `${transactions} transactions for 989 entries`);
    assert.equal(g.lastIndex(), 1);
  });

  it('deletes compacted entries in the background, in chunks, and leaves nothing to collect after reopening', async () => {
    const g = f.store.group('compact-big');
    await g.append(makeEntries('compact-big', 1, 2000, 1));
    await g.saveSnapshot(meta(1500, 1), new Uint8Array([9]));
    const before = f.store.lastTransactionId();
    await g.compact(1500);
    await f.store.collected();
    assert.ok(f.store.lastTransactionId() - before >= 1500 / CHUNK, 'one transaction per chunk');
    assert.equal(g.firstIndex(), 1501);
    assertEntries(g.entries(1501, 1503, 1e9), makeEntries('compact-big', 1501, 1502, 1));
    await f.reopen();
    const txn = f.store.lastTransactionId();
    assert.equal(f.store.group('compact-big').firstIndex(), 1501);
    await f.store.collected();
    assert.equal(f.store.lastTransactionId(), txn, 'no garbage left to collect after reopening');
  });
});
