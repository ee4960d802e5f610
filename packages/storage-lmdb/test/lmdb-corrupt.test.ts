/**
 * A stored value that cannot be decoded yields a typed error naming the group and index, and only that
 * group is affected: the others keep reading and writing.
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { open } from 'lmdb';
import { CorruptValueError, openStorage } from '../src/index.ts';
import { makeEntries, tempDir } from './helpers.ts';

const dir = tempDir('corrupt');
after(() => dir.remove());

function isCorrupt(group: string, index: number | undefined, record: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof CorruptValueError);
    assert.equal(error.code, 'FLOTILLA_STORAGE');
    assert.equal(error.storageCode, 'FLOTILLA_STORAGE_CORRUPT');
    assert.equal(error.group, group);
    assert.equal(error.index, index);
    assert.equal(error.record, record);
    return true;
  };
}

it('reports undecodable values with group and index, and keeps serving the other groups', async () => {
  const first = await openStorage({ path: dir.path, nodeId: 1 });
  for (const g of ['bad-entry', 'bad-last', 'bad-hard', 'good']) {
    await first.group(g).append(makeEntries(g, 1, 10, 1));
    await first.group(g).setHardState({ term: 1, vote: 1, commit: 0 });
  }
  await first.close();

  const raw = open({ path: dir.path, maxDbs: 12 });
  const log = raw.openDB({ name: 'log', encoding: 'binary' });
  const hard = raw.openDB({ name: 'hard', encoding: 'binary' });
  await log.put(['bad-entry', 5], Buffer.from([0xc1]));
  await log.put(['bad-last', 10], Buffer.from([0x93, 1, 2]));
  await hard.put('bad-hard', Buffer.from('not msgpack'));
  await raw.close();

  const storage = await openStorage({ path: dir.path, nodeId: 1 });
  try {
    const bad = storage.group('bad-entry');
    assert.throws(() => bad.entries(1, 11, 1e9), isCorrupt('bad-entry', 5, 'log'));
    assert.throws(() => bad.term(5), isCorrupt('bad-entry', 5, 'log'));
    assert.equal(bad.term(4), 1, 'the rest of the group is readable');
    assert.throws(() => storage.group('bad-last'), isCorrupt('bad-last', 10, 'log'));
    assert.throws(() => storage.group('bad-hard'), isCorrupt('bad-hard', undefined, 'hard'));
    const good = storage.group('good');
    assert.equal(good.entries(1, 11, 1e9).length, 10);
    await good.append(makeEntries('good', 11, 12, 2));
    assert.equal(good.lastIndex(), 12);
  } finally {
    await storage.close();
  }
});
