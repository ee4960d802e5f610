/**
 * WAL recovery: a torn tail (a file cut mid-record, garbage or a lost page after the last batch) is cut off
 * and writing resumes after the valid data; a damaged record that valid data follows is a typed error
 * naming the segment and offset.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openWal, WalCorruptError, type WalOptions, type WalStore } from '../src/index.ts';
import { makeEntries, sameBytes, tempDir } from './helpers.ts';
import { segmentFiles } from './wal-helpers.ts';

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
