/**
 * Opening a data directory, run against each engine: one instance per directory in the process, refcounted by
 * close(); another node's directory refused untouched; group ids checked, and a closed store refuses to serve.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Engine } from './engines.ts';
import { digest, makeEntries, rejectsDir, tempDirs } from './helpers.ts';

export function contractOpen(engine: Engine): void {
  const newDir = tempDirs(`${engine.name}-open`);

  describe('opening a data directory', () => {
    it('shares one instance per directory in the process, refcounted by close()', async () => {
      const dir = newDir();
      const a = await engine.open(dir, { nodeId: 3 });
      const b = await engine.open(`${dir}/.`, { nodeId: 3 });
      assert.equal(a, b);
      await a.group('g').append(makeEntries('g', 1, 3, 1));
      await a.close();
      assert.equal(b.group('g').lastIndex(), 3, 'still open for the second holder');
      await rejectsDir(engine.open(dir, { nodeId: 4 }), 'node-id');
      await b.close();
    });

    it('refuses another node id without touching the directory', async () => {
      const dir = newDir();
      const s = await engine.open(dir, { nodeId: 1 });
      await s.group('g').setHardState({ term: 1, vote: 1, commit: 0 });
      await s.close();
      const before = digest(dir);
      await rejectsDir(engine.open(dir, { nodeId: 2 }), 'node-id');
      assert.equal(digest(dir), before);
      const again = await engine.open(dir, { nodeId: 1 });
      assert.deepEqual(again.group('g').hardState(), { term: 1, vote: 1, commit: 0 });
      await again.close();
    });

    it('refuses an empty group id, and every group once closed, with typed errors', async () => {
      const s = await engine.open(newDir());
      assert.throws(() => s.group(''), { code: 'FLOTILLA_INVALID_CONFIG' });
      await s.close();
      assert.throws(() => s.group('g'), { code: 'FLOTILLA_STORAGE', storageCode: 'FLOTILLA_STORAGE_CLOSED' });
    });
  });
}
