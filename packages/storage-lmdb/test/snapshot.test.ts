/**
 * Snapshots: written and read back as streams of chunks, installed from a leader (replacing the log) or
 * saved locally; the last complete one survives an interrupted write and reopening.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EMPTY_CONF_STATE, SnapshotOutOfDateError } from '@flotilla/core';
import { type NodeStorage, openStorage, type SnapshotReader } from '../src/index.ts';
import { makeEntries, sameBytes, tempDir } from './helpers.ts';

const dir = tempDir('snap');
const CHUNK = 1024;
let storage: NodeStorage;

const open = () =>
  openStorage({ path: dir.path, nodeId: 1, snapshotChunkBytes: CHUNK, deleteChunkEntries: 50 });
const meta = (index: number, term: number) => ({
  index,
  term,
  confState: { ...EMPTY_CONF_STATE, voters: [1, 2, 3] },
});

function bytesOf(seed: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

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

async function reopen(): Promise<void> {
  await storage.close();
  storage = await open();
}

before(async () => {
  storage = await open();
});
after(async () => {
  await storage.close();
  dir.remove();
});

describe('snapshots', () => {
  it('saves a local snapshot in chunks and reads it back whole and as a stream, after reopening too', async () => {
    const g = storage.group('local');
    await g.append(makeEntries('local', 1, 20, 2));
    const data = bytesOf(1, 10 * CHUNK + 17);
    await g.saveSnapshot(meta(15, 2), data);
    assert.ok(sameBytes(g.snapshot().data, data));
    await reopen();
    const r = storage.group('local');
    assert.deepEqual(r.snapshot().meta, meta(15, 2));
    assert.ok(sameBytes(r.snapshot().data, data));
    assert.ok(sameBytes(await readAll(r.readSnapshot()), data));
    assert.equal(r.lastIndex(), 20, 'a local snapshot leaves the log alone');
    await assert.rejects(r.saveSnapshot(meta(10, 2), data), SnapshotOutOfDateError);
  });

  it('keeps the previous snapshot when a streamed write is interrupted, and collects the pieces', async () => {
    const g = storage.group('interrupted');
    await g.append(makeEntries('interrupted', 1, 30, 1));
    const first = bytesOf(2, 5000);
    await g.writeSnapshot(meta(10, 1), stream(first), { install: false });
    await assert.rejects(g.writeSnapshot(meta(20, 1), stream(bytesOf(3, 5000), 3), { install: false }));
    assert.equal(g.snapshotMeta().index, 10);
    assert.ok(sameBytes(await readAll(g.readSnapshot()), first));
    await storage.collected();
    await reopen();
    const txn = storage.lastTransactionId();
    const r = storage.group('interrupted');
    assert.equal(r.snapshotMeta().index, 10);
    assert.ok(sameBytes(r.snapshot().data, first));
    await storage.collected();
    assert.equal(storage.lastTransactionId(), txn, 'no leftover chunks to collect');
  });

  it('installs a snapshot from the leader: the log is replaced, in chunks when long', async () => {
    const g = storage.group('install');
    await g.append(makeEntries('install', 1, 500, 1));
    const data = bytesOf(4, 3000);
    const installing = g.writeSnapshot(meta(300, 3), stream(data), { install: true });
    await installing;
    assert.equal(g.firstIndex(), 301);
    assert.equal(g.lastIndex(), 300);
    assert.equal(g.term(300), 3);
    await g.append(makeEntries('install', 301, 302, 3));
    await reopen();
    const r = storage.group('install');
    assert.equal(r.firstIndex(), 301);
    assert.equal(r.lastIndex(), 302);
    assert.equal(r.term(300), 3);
    assert.ok(sameBytes(r.snapshot().data, data));
    await assert.rejects(r.installSnapshot({ meta: meta(100, 3), data }), SnapshotOutOfDateError);
  });

  it('installSnapshot(buffer) takes effect at once for reads and in order for later writes', async () => {
    const g = storage.group('install-buffer');
    await g.append(makeEntries('install-buffer', 1, 200, 1));
    const data = bytesOf(5, 4 * CHUNK);
    const install = g.installSnapshot({ meta: meta(50, 2), data });
    const after = g.append(makeEntries('install-buffer', 51, 52, 2));
    assert.equal(g.lastIndex(), 52);
    assert.ok(sameBytes(g.snapshot().data, data));
    await Promise.all([install, after]);
    await reopen();
    const r = storage.group('install-buffer');
    assert.equal(r.firstIndex(), 51);
    assert.equal(r.lastIndex(), 52);
    assert.ok(sameBytes(r.snapshot().data, data));
  });

  it('lets a reader finish an old snapshot while a newer one replaces it', async () => {
    const g = storage.group('reader');
    await g.append(makeEntries('reader', 1, 40, 1));
    const old = bytesOf(6, 6 * CHUNK);
    await g.saveSnapshot(meta(10, 1), old);
    const reader = g.readSnapshot();
    assert.ok(reader);
    const firstChunk = await reader.chunks.next();
    await g.saveSnapshot(meta(20, 1), bytesOf(7, 3 * CHUNK));
    await storage.collected();
    const rest = await collect(reader.chunks);
    assert.ok(sameBytes(Buffer.concat([firstChunk.value as Uint8Array, ...rest]), old));
    assert.equal(g.snapshotMeta().index, 20);
  });
});
