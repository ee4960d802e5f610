/**
 * Opening an LMDB data directory written by another format version or by something else fails with a typed
 * error before anything is written; invalid options fail with a typed error too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { open } from 'lmdb';
import { FORMAT_VERSION, openStorage } from '../src/index.ts';
import { digest, rejectsDir, tempDirs } from './helpers.ts';

const newDir = tempDirs('lmdb-open');

describe('opening an LMDB data directory', () => {
  it('refuses another format version and foreign data without touching them', async () => {
    const path = newDir();
    const raw = open({ path });
    await raw.put('flotilla.format', { version: FORMAT_VERSION + 1, nodeId: 1 });
    await raw.close();
    const before = digest(path);
    await rejectsDir(openStorage({ path, nodeId: 1 }), 'format-version');
    assert.equal(digest(path), before);

    const foreign = newDir();
    const other = open({ path: foreign });
    await other.put('someone-else', 42);
    await other.close();
    const untouched = digest(foreign);
    await rejectsDir(openStorage({ path: foreign, nodeId: 1 }), 'foreign');
    assert.equal(digest(foreign), untouched);
  });

  it('rejects invalid options with a typed error', async () => {
    await assert.rejects(openStorage({ path: newDir(), nodeId: 0 }), { code: 'FLOTILLA_INVALID_CONFIG' });
    await assert.rejects(openStorage({ path: newDir(), nodeId: 1, deleteChunkEntries: 0 }), {
      code: 'FLOTILLA_INVALID_CONFIG',
    });
  });
});
