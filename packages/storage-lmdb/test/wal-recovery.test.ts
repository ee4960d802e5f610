/**
 * WAL recovery: a torn tail (a file cut mid-record, garbage or a lost page after the last batch) is cut off
 * and writing resumes after the valid data; a damaged record that valid data follows is a typed error
 * naming the segment and offset.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { openWal, WalCorruptError } from '../src/index.ts';
import { makeEntries, sameBytes, tempDirs } from './helpers.ts';
import { lastIndexAfterReopen, lastSegment, walOptions as options, writeAndClose } from './wal-helpers.ts';

const newDir = tempDirs('wal-recovery');
const UNALLOCATED = { preallocate: false };

describe('a torn tail', () => {
  it('cut mid-record: the last batch is dropped, writing resumes after the valid data', async () => {
    const dir = newDir();
    const sizes = await writeAndClose(dir, 5, UNALLOCATED);
    truncateSync(lastSegment(dir), (sizes[4] as number) - 37);
    const again = await openWal(options(dir, UNALLOCATED));
    const g = again.group('g');
    assert.equal(g.lastIndex(), 40, 'the torn batch is gone, the four before it are intact');
    assert.equal(statSync(lastSegment(dir)).size, sizes[3], 'the torn tail was cut off');
    await g.append(makeEntries('g', 41, 45, 2));
    await again.close();
    const reopened = await openWal(options(dir, UNALLOCATED));
    const r = reopened.group('g');
    assert.equal(r.lastIndex(), 45);
    assert.equal(r.term(45), 2);
    assert.equal(r.term(40), 1);
    await reopened.close();
  });

  it('garbage after the last batch is cut off, and writes after it survive the next reopen', async () => {
    const dir = newDir();
    await writeAndClose(dir, 3, UNALLOCATED);
    appendFileSync(lastSegment(dir), randomBytes(5000));
    const again = await openWal(options(dir, UNALLOCATED));
    assert.equal(again.group('g').lastIndex(), 30);
    await again.group('g').append(makeEntries('g', 31, 32, 1));
    await again.close();
    assert.equal(await lastIndexAfterReopen(dir, UNALLOCATED), 32);
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
    const sizes = await writeAndClose(dir, 5, UNALLOCATED);
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
