/**
 * LMDB snapshots as streams of chunks: read back as a stream, written from a stream (saved or installed from
 * a leader), the last complete one kept when a stream is interrupted, and an old one readable while replaced.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SnapshotReader } from '../src/index.ts';
import { LMDB_TEST_OPTIONS, lmdb, useFixture } from './engines.ts';
import { bytesOf, makeEntries, meta, sameBytes } from './helpers.ts';

const CHUNK = LMDB_TEST_OPTIONS.snapshotChunkBytes;
const f = useFixture(lmdb);

async function* stream(
  data: Uint8Array,
  failAfterChunks = Number.POSITIVE_INFINITY,
): AsyncGenerator<Uint8Array> {
  for (let at = 0, n = 0; at < data.length; at += 700, n++) {
    if (n >= failAfterChunks) throw new Error('sender went away');
    yield data.subarray(at, at + 700);
  }
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

async function readAll(reader: SnapshotReader | undefined): Promise<Uint8Array> {
  assert.ok(reader);
  return Buffer.concat(await collect(reader.chunks));
}

describe('snapshots as streams', () => {
  it('saves a local snapshot in chunks and reads it back as a stream after reopening', async () => {
    const g = f.store.group('local');
    await g.append(makeEntries('local', 1, 20, 2));
    const data = bytesOf(1, 10 * CHUNK + 17);
    await g.saveSnapshot(meta(15, 2), data);
    await f.reopen();
    const reader = f.store.group('local').readSnapshot();
    assert.deepEqual(reader?.meta, meta(15, 2));
    assert.equal(reader?.bytes, data.length);
    assert.ok(sameBytes(await readAll(reader), data));
  });

  it('keeps the previous snapshot when a streamed write is interrupted, and collects the pieces', async () => {
    const g = f.store.group('interrupted');
    await g.append(makeEntries('interrupted', 1, 30, 1));
    const first = bytesOf(2, 5000);
    await g.writeSnapshot(meta(10, 1), stream(first), { install: false });
    await assert.rejects(g.writeSnapshot(meta(20, 1), stream(bytesOf(3, 5000), 3), { install: false }));
    assert.equal(g.snapshotMeta().index, 10);
    assert.ok(sameBytes(await readAll(g.readSnapshot()), first));
    await f.store.collected();
    await f.reopen();
    const txn = f.store.lastTransactionId();
    const r = f.store.group('interrupted');
    assert.equal(r.snapshotMeta().index, 10);
    assert.ok(sameBytes(r.snapshot().data, first));
    await f.store.collected();
    assert.equal(f.store.lastTransactionId(), txn, 'no leftover chunks to collect');
  });

  it('installs a snapshot streamed from the leader: the log is replaced, in chunks when long', async () => {
    const g = f.store.group('install');
    await g.append(makeEntries('install', 1, 500, 1));
    const data = bytesOf(4, 3000);
    await g.writeSnapshot(meta(300, 3), stream(data), { install: true });
    assert.equal(g.firstIndex(), 301);
    assert.equal(g.lastIndex(), 300);
    assert.equal(g.term(300), 3);
    await g.append(makeEntries('install', 301, 302, 3));
    await f.reopen();
    const r = f.store.group('install');
    assert.equal(r.firstIndex(), 301);
    assert.equal(r.lastIndex(), 302);
    assert.equal(r.term(300), 3);
    assert.ok(sameBytes(r.snapshot().data, data));
  });

  it('lets a reader finish an old snapshot while a newer one replaces it', async () => {
    const g = f.store.group('reader');
    await g.append(makeEntries('reader', 1, 40, 1));
    const old = bytesOf(6, 6 * CHUNK);
    await g.saveSnapshot(meta(10, 1), old);
    const reader = g.readSnapshot();
    assert.ok(reader);
    const firstChunk = await reader.chunks.next();
    await g.saveSnapshot(meta(20, 1), bytesOf(7, 3 * CHUNK));
    await f.store.collected();
    const rest = await collect(reader.chunks);
    assert.ok(sameBytes(Buffer.concat([firstChunk.value as Uint8Array, ...rest]), old));
    assert.equal(g.snapshotMeta().index, 20);
  });
});
