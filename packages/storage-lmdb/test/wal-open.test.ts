/**
 * Opening a WAL directory written by another format version, or holding foreign contents, fails with a typed
 * error before anything in it changes; invalid options and over-long group ids fail with a typed error too.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openWal, WAL_FORMAT_VERSION } from '../src/index.ts';
import { digest, rejectsDir, tempDirs } from './helpers.ts';

const newDir = tempDirs('wal-open');
const openAs = (dir: string, nodeId = 1) => openWal({ dir, nodeId, segmentBytes: 65536 });

describe('opening a WAL directory', () => {
  it('refuses another format version and foreign contents without touching them', async () => {
    const dir = newDir();
    await (await openAs(dir)).close();
    const meta = JSON.parse(readFileSync(join(dir, 'meta'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'meta'), JSON.stringify({ ...meta, version: WAL_FORMAT_VERSION + 1 }));
    const before = digest(dir);
    await rejectsDir(openAs(dir), 'format-version');
    assert.equal(digest(dir), before);

    const garbled = newDir();
    writeFileSync(join(garbled, 'meta'), 'not json');
    await rejectsDir(openAs(garbled), 'foreign');

    const foreign = newDir();
    mkdirSync(join(foreign, 'wal'));
    writeFileSync(join(foreign, 'wal', 'something'), 'x');
    const untouched = digest(foreign);
    await rejectsDir(openAs(foreign), 'foreign');
    assert.equal(digest(foreign), untouched);
  });

  it('rejects invalid options and group ids longer than 100 bytes with a typed error', async () => {
    await assert.rejects(openWal({ dir: newDir(), nodeId: 0 }), { code: 'FLOTILLA_INVALID_CONFIG' });
    await assert.rejects(openWal({ dir: newDir(), nodeId: 1, segmentBytes: 10 }), {
      code: 'FLOTILLA_INVALID_CONFIG',
      key: 'segmentBytes',
    });
    const s = await openAs(newDir());
    assert.throws(() => s.group('x'.repeat(101)), { code: 'FLOTILLA_INVALID_CONFIG' });
    assert.ok(s.group('x'.repeat(100)));
    await s.close();
  });
});
