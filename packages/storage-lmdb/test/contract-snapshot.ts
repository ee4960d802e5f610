/**
 * The snapshot part of the LogStorage contract, run against each engine: saved locally (the log untouched) or
 * installed from a leader (the log replaced, later writes of the turn after it), and found again after reopening.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SnapshotOutOfDateError } from '@flotilla/core';
import { type Engine, useFixture } from './engines.ts';
import { bytesOf, makeEntries, meta, sameBytes } from './helpers.ts';

export function contractSnapshot(engine: Engine): void {
  const f = useFixture(engine);

  describe('snapshots', () => {
    it('saves a local snapshot, replaces it by a newer one, and reads it back after reopening', async () => {
      const g = f.store.group('local');
      await g.append(makeEntries('local', 1, 20, 2));
      const first = bytesOf(1, 10_000);
      await g.saveSnapshot(meta(10, 2), first);
      assert.ok(sameBytes(g.snapshot().data, first));
      const data = bytesOf(2, 20_000);
      await g.saveSnapshot(meta(15, 2), data);
      await f.reopen();
      const r = f.store.group('local');
      assert.deepEqual(r.snapshot().meta, meta(15, 2));
      assert.deepEqual(r.snapshotMeta(), meta(15, 2));
      assert.ok(sameBytes(r.snapshot().data, data));
      assert.equal(r.lastIndex(), 20, 'a local snapshot leaves the log alone');
      assert.equal(r.firstIndex(), 1);
      await assert.rejects(r.saveSnapshot(meta(10, 2), data), SnapshotOutOfDateError);
    });

    it('copies the data: a caller reusing its buffer does not change the snapshot', async () => {
      const g = f.store.group('copied');
      await g.append(makeEntries('copied', 1, 5, 1));
      const saved = bytesOf(3, 4096);
      const saving = g.saveSnapshot(meta(5, 1), saved);
      saved.fill(0);
      await saving;
      const installed = bytesOf(4, 4096);
      const installing = g.installSnapshot({ meta: meta(9, 2), data: installed });
      installed.fill(0);
      assert.ok(sameBytes(g.snapshot().data, bytesOf(4, 4096)), 'while being written');
      await installing;
      await f.reopen();
      assert.ok(sameBytes(f.store.group('copied').snapshot().data, bytesOf(4, 4096)));
    });

    it('installs a snapshot from the leader: the log is replaced at once, later writes of the turn follow it', async () => {
      const g = f.store.group('install');
      await g.append(makeEntries('install', 1, 500, 1));
      const data = bytesOf(4, 4000);
      const install = g.installSnapshot({ meta: meta(300, 3), data });
      const append = g.append(makeEntries('install', 301, 302, 3));
      const hard = g.setHardState({ term: 3, vote: 2, commit: 300 });
      // Reads see the writes at once, while the snapshot is still being written.
      assert.equal(g.firstIndex(), 301);
      assert.equal(g.lastIndex(), 302);
      assert.equal(g.term(300), 3);
      assert.ok(sameBytes(g.snapshot().data, data));
      await Promise.all([install, append, hard]);
      await f.reopen();
      const r = f.store.group('install');
      assert.equal(r.firstIndex(), 301);
      assert.equal(r.lastIndex(), 302);
      assert.equal(r.term(300), 3);
      assert.equal(r.term(302), 3);
      assert.deepEqual(r.hardState(), { term: 3, vote: 2, commit: 300 });
      assert.ok(sameBytes(r.snapshot().data, data));
      await assert.rejects(r.installSnapshot({ meta: meta(100, 3), data }), SnapshotOutOfDateError);
    });

    it('installs a snapshot past the end of the log, and twice at the same index', async () => {
      const g = f.store.group('ahead');
      await g.append(makeEntries('ahead', 1, 5, 1));
      await g.installSnapshot({ meta: meta(50, 2), data: bytesOf(5, 10) });
      await g.installSnapshot({ meta: meta(50, 2), data: bytesOf(6, 10) });
      await f.reopen();
      const r = f.store.group('ahead');
      assert.equal(r.firstIndex(), 51);
      assert.equal(r.lastIndex(), 50);
      assert.ok(sameBytes(r.snapshot().data, bytesOf(6, 10)));
    });
  });
}
