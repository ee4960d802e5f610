/**
 * Snapshots on the WAL: data in one file per snapshot, the WAL record pointing at it written only once the
 * file is durable; older files are deleted; the previous one survives an interrupted write; a damaged file
 * is a typed error naming the group.
 */
import assert from 'node:assert/strict';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CorruptValueError } from '../src/index.ts';
import { useFixture, wal } from './engines.ts';
import { bytesOf, makeEntries, meta, sameBytes } from './helpers.ts';
import { snapFiles } from './wal-helpers.ts';

const f = useFixture(wal);
const hex = (group: string) => Buffer.from(group).toString('hex');
const filesOf = (group: string) => snapFiles(f.dir).filter((name) => name.startsWith(`${hex(group)}-`));

describe('snapshot files', () => {
  it('keeps one file per group, the latest: saved twice, or installed twice at the same index', async () => {
    const g = f.store.group('local');
    await g.append(makeEntries('local', 1, 20, 2));
    await g.saveSnapshot(meta(10, 2), bytesOf(1, 10_000));
    await g.saveSnapshot(meta(15, 2), bytesOf(2, 20_000));
    // The older file is deleted in the background once the record replacing it is durable.
    await until(() => filesOf('local').length === 1, 'the older file is deleted');
    assert.deepEqual(filesOf('local'), [`${hex('local')}-15-2.snap`]);
    const h = f.store.group('ahead');
    await h.installSnapshot({ meta: meta(50, 2), data: bytesOf(5, 10) });
    await h.installSnapshot({ meta: meta(50, 2), data: bytesOf(6, 10) });
    await f.reopen();
    assert.deepEqual(filesOf('local'), [`${hex('local')}-15-2.snap`]);
    assert.equal(filesOf('ahead').length, 1);
  });

  it('keeps the previous snapshot when a snapshot write is interrupted, and collects leftovers on open', async () => {
    const g = f.store.group('interrupted');
    await g.append(makeEntries('interrupted', 1, 30, 1));
    const first = bytesOf(7, 5000);
    await g.saveSnapshot(meta(10, 1), first);
    const snapDir = join(f.dir, 'snap');
    renameSync(snapDir, `${snapDir}.aside`);
    writeFileSync(snapDir, 'not a directory');
    await assert.rejects(g.saveSnapshot(meta(20, 1), bytesOf(8, 5000)));
    rmSync(snapDir);
    renameSync(`${snapDir}.aside`, snapDir);
    // What a crash in the middle of writing leaves: a temporary file and a file no record points at.
    writeFileSync(join(snapDir, `${hex('interrupted')}-20-99.snap.tmp`), 'partial');
    writeFileSync(join(snapDir, `${hex('interrupted')}-20-98.snap`), 'unreferenced');
    await f.reopen();
    const r = f.store.group('interrupted');
    assert.equal(r.snapshotMeta().index, 10);
    assert.ok(sameBytes(r.snapshot().data, first));
    assert.deepEqual(filesOf('interrupted'), [`${hex('interrupted')}-10-${fileSeqOf('interrupted')}.snap`]);
    await r.saveSnapshot(meta(20, 1), bytesOf(9, 100));
    assert.ok(!filesOf('interrupted').some((name) => name.endsWith('-98.snap') || name.endsWith('-99.snap')));
  });
});

/** Waits (at most 5 s, polling every 5 ms) until `done()` holds. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function fileSeqOf(group: string): string {
  const name = filesOf(group)[0] ?? '';
  return name.slice(name.lastIndexOf('-') + 1, -'.snap'.length);
}

describe('a damaged snapshot file', () => {
  it('is reported as CorruptValueError naming the group; its log and the other groups still work', async () => {
    for (const group of ['altered', 'missing', 'fine']) {
      const g = f.store.group(group);
      await g.append(makeEntries(group, 1, 10, 1));
      await g.saveSnapshot(meta(5, 1), bytesOf(10, 2000));
    }
    await f.store.close();
    const altered = join(f.dir, 'snap', filesOf('altered')[0] as string);
    const bytes = readFileSync(altered);
    bytes[100] = (bytes[100] as number) ^ 1;
    writeFileSync(altered, bytes);
    rmSync(join(f.dir, 'snap', filesOf('missing')[0] as string));
    await f.open();
    for (const group of ['altered', 'missing']) {
      const g = f.store.group(group);
      assert.throws(
        () => g.snapshot(),
        (error: unknown) => {
          assert.ok(error instanceof CorruptValueError);
          assert.equal(error.storageCode, 'FLOTILLA_STORAGE_CORRUPT');
          assert.equal(error.record, 'snap');
          assert.equal(error.group, group);
          assert.equal(error.index, 5);
          return true;
        },
      );
      assert.equal(g.snapshotMeta().index, 5, 'the pointer is known');
      assert.equal(g.entries(1, 11, 1e9).length, 10, 'the log is readable');
    }
    assert.ok(sameBytes(f.store.group('fine').snapshot().data, bytesOf(10, 2000)));
    const repaired = f.store.group('missing');
    await repaired.saveSnapshot(meta(8, 1), bytesOf(11, 10));
    assert.ok(sameBytes(repaired.snapshot().data, bytesOf(11, 10)), 'a new snapshot replaces the lost one');
  });
});
