/**
 * Opening a WAL directory: one instance per directory in the process, and a refused directory (another node,
 * another format version, foreign contents) fails with a typed error before anything in it changes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DataDirMismatchError, openWal, WAL_FORMAT_VERSION } from '../src/index.ts';
import { makeEntries, tempDir } from './helpers.ts';

const dirs: { remove(): void }[] = [];
after(() => {
  for (const d of dirs) d.remove();
});

function newDir(): string {
  const d = tempDir('wal-open');
  dirs.push(d);
  return d.path;
}

/** A digest of every file (name, size, bytes) under `path`. */
function digest(path: string): string {
  const hash = createHash('sha256');
  const walk = (at: string): void => {
    for (const name of readdirSync(at).sort()) {
      const full = join(at, name);
      hash.update(full);
      if (statSync(full).isDirectory()) walk(full);
      else hash.update(readFileSync(full));
    }
  };
  walk(path);
  return hash.digest('hex');
}

async function rejects(dir: string, nodeId: number, reason: string): Promise<void> {
  await assert.rejects(openWal({ dir, nodeId, segmentBytes: 65536 }), (error: unknown) => {
    assert.ok(error instanceof DataDirMismatchError);
    assert.equal(error.code, 'FLOTILLA_STORAGE');
    assert.equal(error.storageCode, 'FLOTILLA_STORAGE_DIR_MISMATCH');
    assert.equal(error.reason, reason);
    return true;
  });
}

describe('opening a WAL directory', () => {
  it('shares one instance per directory in the process, refcounted by close()', async () => {
    const dir = newDir();
    const a = await openWal({ dir, nodeId: 3, segmentBytes: 65536 });
    const b = await openWal({ dir: `${dir}/.`, nodeId: 3 });
    assert.equal(a, b);
    await a.group('g').append(makeEntries('g', 1, 3, 1));
    await a.close();
    assert.equal(b.group('g').lastIndex(), 3, 'still open for the second holder');
    await rejects(dir, 4, 'node-id');
    await b.close();
  });

  it('refuses another node id without touching the directory', async () => {
    const dir = newDir();
    const s = await openWal({ dir, nodeId: 1, segmentBytes: 65536 });
    await s.group('g').setHardState({ term: 1, vote: 1, commit: 0 });
    await s.close();
    const before = digest(dir);
    await rejects(dir, 2, 'node-id');
    assert.equal(digest(dir), before);
    const again = await openWal({ dir, nodeId: 1, segmentBytes: 65536 });
    assert.deepEqual(again.group('g').hardState(), { term: 1, vote: 1, commit: 0 });
    await again.close();
  });

  it('refuses another format version and foreign contents without touching them', async () => {
    const dir = newDir();
    const s = await openWal({ dir, nodeId: 1, segmentBytes: 65536 });
    await s.close();
    const meta = JSON.parse(readFileSync(join(dir, 'meta'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'meta'), JSON.stringify({ ...meta, version: WAL_FORMAT_VERSION + 1 }));
    const before = digest(dir);
    await rejects(dir, 1, 'format-version');
    assert.equal(digest(dir), before);

    const garbled = newDir();
    writeFileSync(join(garbled, 'meta'), 'not json');
    await rejects(garbled, 1, 'foreign');

    const foreign = newDir();
    mkdirSync(join(foreign, 'wal'));
    writeFileSync(join(foreign, 'wal', 'something'), 'x');
    const untouched = digest(foreign);
    await rejects(foreign, 1, 'foreign');
    assert.equal(digest(foreign), untouched);
  });

  it('rejects invalid options and group ids with a typed error', async () => {
    await assert.rejects(openWal({ dir: newDir(), nodeId: 0 }), { code: 'FLOTILLA_INVALID_CONFIG' });
    await assert.rejects(openWal({ dir: newDir(), nodeId: 1, segmentBytes: 10 }), {
      code: 'FLOTILLA_INVALID_CONFIG',
      key: 'segmentBytes',
    });
    const s = await openWal({ dir: newDir(), nodeId: 1, segmentBytes: 65536 });
    assert.throws(() => s.group(''), { code: 'FLOTILLA_INVALID_CONFIG' });
    assert.throws(() => s.group('x'.repeat(101)), { code: 'FLOTILLA_INVALID_CONFIG' });
    await s.close();
    assert.throws(() => s.group('g'), { code: 'FLOTILLA_STORAGE' });
  });
});
