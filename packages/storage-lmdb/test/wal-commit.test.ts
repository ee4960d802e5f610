/**
 * Group commit on the WAL (one write and one fdatasync per turn is in the contract suite): records issued while
 * a batch is in flight form the next batch; dsync; every bound has a typed error; a failed fdatasync is final.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openWal, WalFailedError, type WalOptions, WalOverloadedError, type WalStore } from '../src/index.ts';
import { makeEntries, meta, tempDirs } from './helpers.ts';
import { type CountingIo, countingIo } from './wal-helpers.ts';

const newDir = tempDirs('wal-commit');

async function fresh(
  options: Partial<WalOptions> = {},
): Promise<{ store: WalStore; io: CountingIo; path: string }> {
  const path = newDir();
  const io = countingIo();
  const store = await openWal({ dir: path, nodeId: 1, segmentBytes: 1 << 20, io, ...options });
  return { store, io, path };
}

describe('group commit', () => {
  it('puts writes issued while a batch is in flight into the next batch, in order', async () => {
    const { store, io, path } = await fresh();
    const g = store.group('pipe');
    const h = store.group('other');
    const before = { ...store.stats(), syncs: io.syncs };
    const order: string[] = [];
    const first = g.append(makeEntries('pipe', 1, 10, 1)).then(() => order.push('first'));
    await new Promise((resolve) => setImmediate(resolve));
    // The first batch is being written now: these wait for the next one.
    const second = g.append(makeEntries('pipe', 11, 20, 1)).then(() => order.push('second'));
    const third = h.append(makeEntries('other', 1, 5, 1)).then(() => order.push('third'));
    await Promise.all([first, second, third]);
    assert.deepEqual(order, ['first', 'second', 'third']);
    assert.equal(io.syncs - before.syncs, 2, 'two batches');
    assert.equal(store.stats().batches - before.batches, 2, 'stats count the batches');
    assert.equal(store.stats().fdatasyncs - before.fdatasyncs, 2, 'and their fdatasyncs');
    await store.close();
    const again = await openWal({ dir: path, nodeId: 1, segmentBytes: 1 << 20 });
    assert.equal(again.group('pipe').lastIndex(), 20);
    assert.equal(again.group('other').lastIndex(), 5);
    await again.close();
  });

  it('writes a batch larger than writeBytesMax in several writes and still one fdatasync', async () => {
    const { store, io } = await fresh({ writeBytesMax: 8192 });
    const before = { writes: io.writes, syncs: io.syncs };
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.group(`big:${i}`).append(makeEntries(`big:${i}`, 1, 64, 1))),
    );
    assert.equal(io.syncs - before.syncs, 1, 'one fdatasync');
    assert.ok(io.writes - before.writes >= 8, `${io.writes - before.writes} writes of at most 8 KiB`);
    await store.close();
  });
});

describe("batchBoundary: 'microtask'", () => {
  it('closes a batch when the issuing callback is done, not at the end of the turn', async () => {
    const { store, io } = await fresh({ batchBoundary: 'microtask' });
    const before = io.syncs;
    // One callback: every group's write shares one batch.
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => store.group(`m:${i}`).append(makeEntries(`m:${i}`, 1, 3, 1))),
    );
    assert.equal(io.syncs - before, 1, 'one callback, one batch');
    // Two callbacks of the same turn: with the turn boundary they would share a batch; here they do not.
    const mid = io.syncs;
    await new Promise<void>((done) => {
      let left = 2;
      const write = (i: number) =>
        store
          .group(`n:${i}`)
          .append(makeEntries(`n:${i}`, 1, 3, 1))
          .then(() => --left === 0 && done());
      setImmediate(() => write(0));
      setImmediate(() => write(1));
    });
    assert.equal(io.syncs - mid, 2, 'each callback is its own batch');
    await store.close();
  });
});

describe("syncMethod: 'dsync'", () => {
  it('makes a batch that fits one write durable with one O_DSYNC write and no fdatasync', async () => {
    const { store, io, path } = await fresh({ syncMethod: 'dsync', writeBytesMax: 256 * 1024 });
    const groups = Array.from({ length: 36 }, (_, i) => store.group(`ds:${i}`));
    const before = { ...store.stats(), writes: io.writes, syncs: io.syncs };
    await Promise.all(groups.map((g) => g.append(makeEntries(g.group, 1, 8, 1))));
    assert.equal(io.writes - before.writes, 1, 'one write');
    assert.equal(io.syncs - before.syncs, 0, 'no fdatasync');
    assert.equal(store.stats().dsyncWrites - before.dsyncWrites, 1);
    // Past writeBytesMax: several writes through the plain descriptor, then one fdatasync.
    await Promise.all(groups.map((g) => g.append(makeEntries(g.group, 9, 108, 1))));
    assert.equal(io.syncs - before.syncs, 1, 'one fdatasync for the large batch');
    await store.close();
    const again = await openWal({ dir: path, nodeId: 1, segmentBytes: 1 << 20, syncMethod: 'dsync' });
    assert.equal(again.group('ds:35').lastIndex(), 108);
    await again.close();
  });
});

describe('bounds', () => {
  it('refuses records past pendingRecordsMax and bytes past pendingBytesMax with a typed error', async () => {
    const { store, path } = await fresh({ pendingRecordsMax: 4, pendingBytesMax: 64 * 1024 });
    const g = store.group('bounded');
    const accepted = [1, 2, 3, 4].map((i) => g.append(makeEntries('bounded', i, i, 1)));
    await assert.rejects(g.append(makeEntries('bounded', 5, 5, 1)), (error: unknown) => {
      assert.ok(error instanceof WalOverloadedError);
      assert.equal(error.storageCode, 'FLOTILLA_STORAGE_OVERLOADED');
      assert.equal(error.limit, 'pendingRecordsMax');
      return true;
    });
    await Promise.all(accepted);
    assert.equal(g.lastIndex(), 4, 'the refused write changed nothing');
    await assert.rejects(g.append(makeEntries('bounded', 5, 1000, 1)), { limit: 'pendingBytesMax' });
    await g.append(makeEntries('bounded', 5, 6, 1));
    await store.close();
    const again = await openWal({ dir: path, nodeId: 1, segmentBytes: 1 << 20 });
    assert.equal(again.group('bounded').lastIndex(), 6);
    await again.close();
  });

  it('refuses writes held behind a snapshot file past heldWritesMax', async () => {
    const { store } = await fresh({ heldWritesMax: 3 });
    const g = store.group('held');
    await g.append(makeEntries('held', 1, 10, 1));
    const snap = g.saveSnapshot(meta(5, 1), new Uint8Array(100));
    const held = [11, 12].map((i) => g.append(makeEntries('held', i, i, 1)));
    await assert.rejects(g.append(makeEntries('held', 13, 13, 1)), { limit: 'heldWritesMax' });
    await Promise.all([snap, ...held]);
    assert.equal(g.lastIndex(), 12);
    await store.close();
  });
});

describe('a failed fdatasync', () => {
  it('fails the batch and every later write with WalFailedError; reopening recovers what was durable', async () => {
    const { store, io, path } = await fresh();
    const g = store.group('failing');
    await g.append(makeEntries('failing', 1, 10, 1));
    io.failSync = new Error('EIO: injected');
    await assert.rejects(g.append(makeEntries('failing', 11, 20, 1)), (error: unknown) => {
      assert.ok(error instanceof WalFailedError);
      assert.equal(error.storageCode, 'FLOTILLA_STORAGE_IO');
      return true;
    });
    await assert.rejects(g.setHardState({ term: 1, vote: 1, commit: 0 }), WalFailedError);
    await assert.rejects(store.group('bystander').append(makeEntries('bystander', 1, 1, 1)), WalFailedError);
    await store.close();
    const again = await openWal({ dir: path, nodeId: 1, segmentBytes: 1 << 20 });
    assert.ok(again.group('failing').lastIndex() >= 10, 'what was durable is still there');
    await again.close();
  });
});
