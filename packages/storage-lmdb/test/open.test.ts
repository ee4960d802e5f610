/**
 * Opening a data directory: one environment per directory in the process, and a refused directory (other
 * format version, other node, foreign data) fails with a typed error before anything is written.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { open } from 'lmdb';
import { DataDirMismatchError, FORMAT_VERSION, openStorage } from '../src/index.ts';
import { makeEntries, tempDir } from './helpers.ts';

const dirs: { remove(): void }[] = [];
after(() => {
  for (const d of dirs) d.remove();
});

function newDir(): string {
  const d = tempDir('open');
  dirs.push(d);
  return d.path;
}

const digest = (path: string) =>
  createHash('sha256')
    .update(readFileSync(join(path, 'data.mdb')))
    .digest('hex');

async function rejects(path: string, nodeId: number, reason: string): Promise<void> {
  await assert.rejects(openStorage({ path, nodeId }), (error: unknown) => {
    assert.ok(error instanceof DataDirMismatchError);
    assert.equal(error.code, 'FLOTILLA_STORAGE');
    assert.equal(error.storageCode, 'FLOTILLA_STORAGE_DIR_MISMATCH');
    assert.equal(error.reason, reason);
    return true;
  });
}

describe('opening a data directory', () => {
  it('shares one instance per directory in the process, refcounted by close()', async () => {
    const path = newDir();
    const a = await openStorage({ path, nodeId: 3 });
    const b = await openStorage({ path: `${path}/.`, nodeId: 3 });
    assert.equal(a, b);
    await a.group('g').append(makeEntries('g', 1, 3, 1));
    await a.close();
    assert.equal(b.group('g').lastIndex(), 3, 'still open for the second holder');
    await rejects(path, 4, 'node-id');
    await b.close();
  });

  it('refuses another node id without touching the directory', async () => {
    const path = newDir();
    const s = await openStorage({ path, nodeId: 1 });
    await s.group('g').setHardState({ term: 1, vote: 1, commit: 0 });
    await s.close();
    const before = digest(path);
    await rejects(path, 2, 'node-id');
    assert.equal(digest(path), before);
    const again = await openStorage({ path, nodeId: 1 });
    assert.deepEqual(again.group('g').hardState(), { term: 1, vote: 1, commit: 0 });
    await again.close();
  });

  it('refuses another format version and foreign data without touching them', async () => {
    const path = newDir();
    const raw = open({ path });
    await raw.put('flotilla.format', { version: FORMAT_VERSION + 1, nodeId: 1 });
    await raw.close();
    const before = digest(path);
    await rejects(path, 1, 'format-version');
    assert.equal(digest(path), before);

    const foreign = newDir();
    const other = open({ path: foreign });
    await other.put('someone-else', 42);
    await other.close();
    await rejects(foreign, 1, 'foreign');
  });

  it('rejects invalid options with a typed error', async () => {
    await assert.rejects(openStorage({ path: newDir(), nodeId: 0 }), { code: 'FLOTILLA_INVALID_CONFIG' });
    await assert.rejects(openStorage({ path: newDir(), nodeId: 1, deleteChunkEntries: 0 }), {
      code: 'FLOTILLA_INVALID_CONFIG',
    });
  });
});
