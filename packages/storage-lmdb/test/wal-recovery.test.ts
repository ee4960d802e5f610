/**
 * WAL recovery: a torn tail (a file cut mid-record, garbage or a lost page after the last batch) is cut off
 * and writing resumes after the valid data; a damaged record that valid data follows is a typed error
 * naming the segment and offset; rotation writes a checkpoint and deletes the older segments.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openWal, WalCorruptError, type WalOptions, type WalStore } from '../src/index.ts';
import { makeEntries, sameBytes, tempDir } from './helpers.ts';
import { meta, segmentFiles } from './wal-helpers.ts';

const dirs: { remove(): void }[] = [];
after(() => {
  for (const d of dirs) d.remove();
});

function newDir(): string {
  const d = tempDir('wal-recovery');
  dirs.push(d);
  return d.path;
}

const options = (dir: string, more: Partial<WalOptions> = {}): WalOptions => ({
  dir,
  nodeId: 1,
  segmentBytes: 1 << 20,
  ...more,
});

/** Writes `batches` batches of 10 entries (one per turn) to group `g`; returns the file size after each. */
async function writeBatches(store: WalStore, dir: string, batches: number): Promise<number[]> {
  const sizes: number[] = [];
  const g = store.group('g');
  for (let b = 0; b < batches; b++) {
    await g.append(makeEntries('g', b * 10 + 1, b * 10 + 10, 1));
    sizes.push(statSync(lastSegment(dir)).size);
  }
  return sizes;
}

const lastSegment = (dir: string) => join(dir, 'wal', segmentFiles(dir).at(-1) as string);

async function lastIndexAfterReopen(dir: string, more: Partial<WalOptions> = {}): Promise<number> {
  const store = await openWal(options(dir, more));
  try {
    return store.group('g').lastIndex();
  } finally {
    await store.close();
  }
}

describe('a torn tail', () => {
  it('cut mid-record: the last batch is dropped, writing resumes after the valid data', async () => {
    const dir = newDir();
    const store = await openWal(options(dir, { preallocate: false }));
    const sizes = await writeBatches(store, dir, 5);
    await store.close();
    truncateSync(lastSegment(dir), (sizes[4] as number) - 37);
    const again = await openWal(options(dir, { preallocate: false }));
    const g = again.group('g');
    assert.equal(g.lastIndex(), 40, 'the torn batch is gone, the four before it are intact');
    assert.equal(statSync(lastSegment(dir)).size, sizes[3], 'the torn tail was cut off');
    await g.append(makeEntries('g', 41, 45, 2));
    await again.close();
    const reopened = await openWal(options(dir, { preallocate: false }));
    const r = reopened.group('g');
    assert.equal(r.lastIndex(), 45);
    assert.equal(r.term(45), 2);
    assert.equal(r.term(40), 1);
    await reopened.close();
  });

  it('garbage after the last batch is cut off, and writes after it survive the next reopen', async () => {
    const dir = newDir();
    const store = await openWal(options(dir, { preallocate: false }));
    await writeBatches(store, dir, 3);
    await store.close();
    appendFileSync(lastSegment(dir), randomBytes(5000));
    const again = await openWal(options(dir, { preallocate: false }));
    assert.equal(again.group('g').lastIndex(), 30);
    await again.group('g').append(makeEntries('g', 31, 32, 1));
    await again.close();
    assert.equal(await lastIndexAfterReopen(dir, { preallocate: false }), 32);
  });

  it('a lost page inside the last batch of a preallocated segment: the whole batch is dropped', async () => {
    const dir = newDir();
    const store = await openWal(options(dir));
    const g = store.group('g');
    await g.append(makeEntries('g', 1, 10, 1));
    const end = store.stats().bytesWritten;
    await g.append(makeEntries('g', 11, 60, 1));
    await store.close();
    const path = lastSegment(dir);
    const bytes = readFileSync(path);
    bytes.fill(0, end + 1000, end + 2000);
    writeFileSync(path, bytes);
    assert.equal(await lastIndexAfterReopen(dir), 10);
    assert.equal(statSync(path).size, 1 << 20, 'the rest of the segment is preallocated again');
  });
});

describe('a damaged record that valid data follows', () => {
  it('fails the open with WalCorruptError naming the segment and the offset', async () => {
    const dir = newDir();
    const store = await openWal(options(dir, { preallocate: false }));
    const sizes = await writeBatches(store, dir, 5);
    await store.close();
    const path = lastSegment(dir);
    const original = readFileSync(path);
    const offset = (sizes[1] as number) + 200;
    const damaged = Buffer.from(original);
    damaged[offset] = (damaged[offset] as number) ^ 0x40;
    writeFileSync(path, damaged);
    await assert.rejects(openWal(options(dir)), (error: unknown) => {
      assert.ok(error instanceof WalCorruptError);
      assert.equal(error.code, 'FLOTILLA_STORAGE');
      assert.equal(error.storageCode, 'FLOTILLA_STORAGE_CORRUPT');
      assert.equal(error.segment, path);
      assert.ok(error.offset > (sizes[1] as number) && error.offset <= offset, `offset ${error.offset}`);
      return true;
    });
    assert.ok(sameBytes(readFileSync(path), damaged), 'the damaged segment is left as it was');

    // A damaged batch record (its length unknown) is found by the valid batches after it.
    const header = Buffer.from(original);
    header[(sizes[2] as number) + 5] = (header[(sizes[2] as number) + 5] as number) ^ 0x01;
    writeFileSync(path, header);
    await assert.rejects(openWal(options(dir)), { segment: path, offset: sizes[2] });
  });
});

describe('segment rotation', () => {
  it('checkpoints every group into the new segment, deletes the old ones, and recovers from it', async () => {
    const dir = newDir();
    const opts = options(dir, { segmentBytes: 64 * 1024 });
    const store = await openWal(opts);
    await store.group('idle-hard').setHardState({ term: 4, vote: 2, commit: 1 });
    const snapped = store.group('snapped');
    await snapped.append(makeEntries('snapped', 1, 20, 1));
    await snapped.saveSnapshot(meta(20, 1), new Uint8Array([42]));
    await snapped.compact(20);
    const busy = store.group('busy');
    for (let i = 0; i < 100; i++) {
      await busy.append(makeEntries('busy', i * 20 + 1, i * 20 + 20, 1));
      if (i % 10 === 9) {
        await busy.saveSnapshot(meta(i * 20 + 10, 1), new Uint8Array([i]));
        await busy.compact(i * 20 + 10);
      }
    }
    await store.flushed();
    const rotations = store.stats().rotations;
    assert.ok(rotations >= 5, `${rotations} rotations`);
    await store.close();
    assert.equal(segmentFiles(dir).length, 1, 'older segments are deleted');
    const again = await openWal(opts);
    assert.deepEqual(again.group('idle-hard').hardState(), { term: 4, vote: 2, commit: 1 });
    assert.equal(again.group('snapped').firstIndex(), 21);
    assert.equal(again.group('snapped').term(20), 1);
    assert.ok(sameBytes(again.group('snapped').snapshot().data, new Uint8Array([42])));
    const b = again.group('busy');
    assert.equal(b.firstIndex(), 1991);
    assert.equal(b.lastIndex(), 2000);
    assert.equal(b.term(1990), 1);
    assert.equal(b.entries(1991, 2001, 1e9).length, 10);
    assert.equal(b.snapshotMeta().index, 1990);
    assert.deepEqual(again.groupIds(), ['busy', 'idle-hard', 'snapped']);
    await again.close();
  });

  it('a checkpoint torn during rotation: its segment is deleted and the previous one is resumed', async () => {
    const dir = newDir();
    const store = await openWal(options(dir));
    await writeBatches(store, dir, 3);
    await store.close();
    const [current] = segmentFiles(dir) as [string];
    const seq = Number(current.slice(0, 16));
    const next = join(dir, 'wal', `${String(seq + 1).padStart(16, '0')}.wal`);
    // The new segment got its name but only part of its checkpoint batch.
    writeFileSync(next, readFileSync(join(dir, 'wal', current)).subarray(0, 30));
    assert.equal(await lastIndexAfterReopen(dir), 30);
    assert.deepEqual(segmentFiles(dir), [current]);
  });

  it('reads only the newest segment: older ones left by a crash before their deletion are just deleted', async () => {
    const dir = newDir();
    const store = await openWal(options(dir));
    await writeBatches(store, dir, 2);
    await store.close();
    const [current] = segmentFiles(dir) as [string];
    const seq = Number(current.slice(0, 16));
    writeFileSync(join(dir, 'wal', `${String(seq - 1).padStart(16, '0')}.wal`), randomBytes(4096));
    assert.equal(await lastIndexAfterReopen(dir), 20);
    assert.deepEqual(segmentFiles(dir), [current]);
  });
});
