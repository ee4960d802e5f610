/**
 * Snapshot streaming between two transports in one process: the sender never runs more than the credit
 * window ahead of the consumer, and every way a transfer can break settles both ends with a typed error.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { SnapshotAbortedError, SnapshotRejectedError, WsTransport } from '../src/index.ts';
import { Recorder, SECRET, SNAPSHOT_META, sleep, snapshotChunks, waitUntil } from './helpers.ts';

const WINDOW = 4;
const sender = new WsTransport({
  nodeId: 1,
  clusterSecret: SECRET,
  snapshotWindowChunks: WINDOW,
  snapshotChunkBytesMax: 1000,
});
const receiver = new WsTransport({ nodeId: 2, clusterSecret: SECRET, snapshotWindowChunks: WINDOW });
const received = new Recorder();

async function digest(chunks: AsyncIterable<Uint8Array>): Promise<{ sha256: string; count: number }> {
  const hash = createHash('sha256');
  let count = 0;
  for await (const chunk of chunks) {
    hash.update(chunk);
    count++;
  }
  return { sha256: hash.digest('hex'), count };
}

before(async () => {
  await receiver.start(received);
  await sender.start(new Recorder());
  sender.addPeer(2, receiver.url);
  receiver.addPeer(1, sender.url);
  await waitUntil(() => sender.linkInfo()[0]?.state === 'open', 10_000, 'link open');
});

after(async () => {
  await sender.stop();
  await receiver.stop();
});

test('the sender pulls at most the credit window ahead of a consumer that is not reading', {
  timeout: 15_000,
}, async () => {
  let pulled = 0;
  async function* source(): AsyncGenerator<Uint8Array> {
    for await (const chunk of snapshotChunks(40, 1000)) {
      pulled++;
      yield chunk;
    }
  }
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let result: { sha256: string; count: number } | undefined;
  received.onSnapshot = async (from, group, meta, chunks) => {
    assert.equal(from, 1);
    assert.equal(group, 'users:4');
    assert.deepEqual(meta, SNAPSHOT_META);
    await gate;
    result = await digest(chunks);
  };
  const sent = sender.sendSnapshot(2, 'users:4', SNAPSHOT_META, source());
  await sleep(300);
  assert.ok(pulled <= WINDOW + 1, `pulled ${pulled} chunks with no credit`);
  release();
  await sent;
  assert.deepEqual(result, await digest(snapshotChunks(40, 1000)));
  assert.equal(sender.stats().snapshotsSent, 1);
  assert.equal(receiver.stats().snapshotsReceived, 1);
});

test('chunks over snapshotChunkBytesMax are split; an empty snapshot is a valid transfer', {
  timeout: 15_000,
}, async () => {
  let sizes: number[] = [];
  received.onSnapshot = async (_from, _group, _meta, chunks) => {
    sizes = [];
    for await (const chunk of chunks) sizes.push(chunk.length);
  };
  await sender.sendSnapshot(2, 'g', SNAPSHOT_META, snapshotChunks(1, 2500));
  assert.deepEqual(sizes, [1000, 1000, 500]);
  await sender.sendSnapshot(2, 'g', SNAPSHOT_META, snapshotChunks(0, 1));
  assert.deepEqual(sizes, []);
});

test('a receiver that fails to store the snapshot rejects the sender with its reason', {
  timeout: 15_000,
}, async () => {
  received.onSnapshot = async (_from, _group, _meta, chunks) => {
    for await (const _ of chunks) throw new Error('disk full');
  };
  await assert.rejects(sender.sendSnapshot(2, 'g', SNAPSHOT_META, snapshotChunks(20, 1000)), (error) => {
    assert.ok(error instanceof SnapshotRejectedError);
    assert.equal(error.code, 'FLOTILLA_SNAPSHOT_REJECTED');
    assert.equal(error.reason, 'disk full');
    return true;
  });
});

test('a source that fails mid-way rejects the sender and errors the receiver’s chunks', {
  timeout: 15_000,
}, async () => {
  let receiverError: unknown;
  received.onSnapshot = async (_from, _group, _meta, chunks) => {
    try {
      for await (const _ of chunks);
    } catch (error) {
      receiverError = error;
      throw error;
    }
  };
  async function* broken(): AsyncGenerator<Uint8Array> {
    yield* snapshotChunks(3, 100);
    throw new Error('snapshot file vanished');
  }
  await assert.rejects(sender.sendSnapshot(2, 'g', SNAPSHOT_META, broken()), /snapshot file vanished/);
  await waitUntil(() => receiverError, 5_000, 'receiver error');
  assert.ok(receiverError instanceof SnapshotAbortedError);
  assert.equal(receiverError.code, 'FLOTILLA_SNAPSHOT_ABORTED');
});
