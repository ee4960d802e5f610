/**
 * Snapshots on the WAL: data in one file per snapshot, the WAL record pointing at it written only once the
 * file is durable; saved locally or installed from a leader; the previous one survives an interrupted
 * write; older files are deleted; a damaged file is a typed error naming the group.
 */
import assert from 'node:assert/strict';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SnapshotOutOfDateError } from '@flotilla/core';
import { CorruptValueError, openWal, type WalStore } from '../src/index.ts';
import { makeEntries, sameBytes, tempDir } from './helpers.ts';
import { meta, snapFiles } from './wal-helpers.ts';

const dir = tempDir('wal-snap');
let store: WalStore;
const open = () => openWal({ dir: dir.path, nodeId: 1, segmentBytes: 1 << 20 });

function bytesOf(seed: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

const hex = (group: string) => Buffer.from(group).toString('hex');
const filesOf = (group: string) => snapFiles(dir.path).filter((name) => name.startsWith(`${hex(group)}-`));

async function reopen(): Promise<void> {
  await store.close();
  store = await open();
}

before(async () => {
  store = await open();
});
after(async () => {
  await store.close();
  dir.remove();
});

describe('snapshots', () => {
  it('saves a local snapshot, reads it back after reopening, and keeps only the latest file', async () => {
    const g = store.group('local');
    await g.append(makeEntries('local', 1, 20, 2));
    const first = bytesOf(1, 10_000);
    await g.saveSnapshot(meta(10, 2), first);
    assert.ok(sameBytes(g.snapshot().data, first));
    const data = bytesOf(2, 20_000);
    await g.saveSnapshot(meta(15, 2), data);
    await reopen();
    const r = store.group('local');
    assert.deepEqual(r.snapshot().meta, meta(15, 2));
    assert.ok(sameBytes(r.snapshot().data, data));
    assert.equal(r.lastIndex(), 20, 'a local snapshot leaves the log alone');
    assert.equal(r.firstIndex(), 1);
    assert.deepEqual(filesOf('local'), [`${hex('local')}-15-2.snap`], 'the older file is deleted');
    await assert.rejects(r.saveSnapshot(meta(10, 2), data), SnapshotOutOfDateError);
  });

  it('copies the data: a caller reusing its buffer does not change the snapshot', async () => {
    const g = store.group('copied');
    await g.append(makeEntries('copied', 1, 5, 1));
    const data = bytesOf(3, 4096);
    const saving = g.saveSnapshot(meta(5, 1), data);
    data.fill(0);
    await saving;
    await reopen();
    assert.ok(sameBytes(store.group('copied').snapshot().data, bytesOf(3, 4096)));
  });

  it('installs a snapshot from the leader: the log is replaced; later writes of the turn follow it', async () => {
    const g = store.group('install');
    await g.append(makeEntries('install', 1, 500, 1));
    const data = bytesOf(4, 3000);
    const install = g.installSnapshot({ meta: meta(300, 3), data });
    const append = g.append(makeEntries('install', 301, 302, 3));
    const hard = g.setHardState({ term: 3, vote: 2, commit: 300 });
    // Reads see the writes at once, even while the snapshot file is still being written.
    assert.equal(g.firstIndex(), 301);
    assert.equal(g.lastIndex(), 302);
    assert.equal(g.term(300), 3);
    assert.ok(sameBytes(g.snapshot().data, data));
    await Promise.all([install, append, hard]);
    await reopen();
    const r = store.group('install');
    assert.equal(r.firstIndex(), 301);
    assert.equal(r.lastIndex(), 302);
    assert.equal(r.term(300), 3);
    assert.equal(r.term(302), 3);
    assert.deepEqual(r.hardState(), { term: 3, vote: 2, commit: 300 });
    assert.ok(sameBytes(r.snapshot().data, data));
    await assert.rejects(r.installSnapshot({ meta: meta(100, 3), data }), SnapshotOutOfDateError);
  });

  it('installs a snapshot past the end of the log, and twice at the same index', async () => {
    const g = store.group('ahead');
    await g.append(makeEntries('ahead', 1, 5, 1));
    await g.installSnapshot({ meta: meta(50, 2), data: bytesOf(5, 10) });
    await g.installSnapshot({ meta: meta(50, 2), data: bytesOf(6, 10) });
    await reopen();
    const r = store.group('ahead');
    assert.equal(r.firstIndex(), 51);
    assert.equal(r.lastIndex(), 50);
    assert.ok(sameBytes(r.snapshot().data, bytesOf(6, 10)));
    assert.equal(filesOf('ahead').length, 1);
  });

  it('keeps the previous snapshot when a snapshot write is interrupted, and collects leftovers on open', async () => {
    const g = store.group('interrupted');
    await g.append(makeEntries('interrupted', 1, 30, 1));
    const first = bytesOf(7, 5000);
    await g.saveSnapshot(meta(10, 1), first);
    const snapDir = join(dir.path, 'snap');
    renameSync(snapDir, `${snapDir}.aside`);
    writeFileSync(snapDir, 'not a directory');
    await assert.rejects(g.saveSnapshot(meta(20, 1), bytesOf(8, 5000)));
    rmSync(snapDir);
    renameSync(`${snapDir}.aside`, snapDir);
    // What a crash in the middle of writing leaves: a temporary file and a file no record points at.
    writeFileSync(join(snapDir, `${hex('interrupted')}-20-99.snap.tmp`), 'partial');
    writeFileSync(join(snapDir, `${hex('interrupted')}-20-98.snap`), 'unreferenced');
    await reopen();
    const r = store.group('interrupted');
    assert.equal(r.snapshotMeta().index, 10);
    assert.ok(sameBytes(r.snapshot().data, first));
    assert.deepEqual(filesOf('interrupted'), [`${hex('interrupted')}-10-${fileSeqOf('interrupted')}.snap`]);
    await r.saveSnapshot(meta(20, 1), bytesOf(9, 100));
    assert.ok(!filesOf('interrupted').some((name) => name.endsWith('-98.snap') || name.endsWith('-99.snap')));
  });
});

function fileSeqOf(group: string): string {
  const name = filesOf(group)[0] ?? '';
  return name.slice(name.lastIndexOf('-') + 1, -'.snap'.length);
}

describe('a damaged snapshot file', () => {
  it('is reported as CorruptValueError naming the group; its log and the other groups still work', async () => {
    for (const group of ['altered', 'missing', 'fine']) {
      const g = store.group(group);
      await g.append(makeEntries(group, 1, 10, 1));
      await g.saveSnapshot(meta(5, 1), bytesOf(10, 2000));
    }
    await store.close();
    const altered = join(dir.path, 'snap', filesOf('altered')[0] as string);
    const bytes = readFileSync(altered);
    bytes[100] = (bytes[100] as number) ^ 1;
    writeFileSync(altered, bytes);
    rmSync(join(dir.path, 'snap', filesOf('missing')[0] as string));
    store = await open();
    for (const group of ['altered', 'missing']) {
      const g = store.group(group);
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
    assert.ok(sameBytes(store.group('fine').snapshot().data, bytesOf(10, 2000)));
    const repaired = store.group('missing');
    await repaired.saveSnapshot(meta(8, 1), bytesOf(11, 10));
    assert.ok(sameBytes(repaired.snapshot().data, bytesOf(11, 10)), 'a new snapshot replaces the lost one');
  });
});
