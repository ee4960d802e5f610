/**
 * Snapshot streaming across two processes with a restart in the middle, in both directions: the broken
 * transfer fails on the surviving side (sender's promise, or receiver's chunks), and a new one completes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { SnapshotAbortedError, WsTransport } from '../src/index.ts';
import { PeerProcess, Recorder, SECRET, SNAPSHOT_META, snapshotChunks, waitUntil } from './helpers.ts';

const CHUNKS = 200;
const CHUNK_BYTES = 16 * 1024;
const recorder = new Recorder();
const local = new WsTransport({
  nodeId: 1,
  clusterSecret: SECRET,
  reconnectDelayMinMs: 20,
  reconnectDelayMaxMs: 200,
});
let peer: PeerProcess | undefined;

async function expectedSha256(): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of snapshotChunks(CHUNKS, CHUNK_BYTES)) hash.update(chunk);
  return hash.digest('hex');
}

async function startPeer(port: number): Promise<PeerProcess> {
  peer = await PeerProcess.start({
    nodeId: 2,
    port,
    peers: [[1, local.url]],
    secret: SECRET,
    mode: 'sink',
    snapshotChunkDelayMs: 2,
  });
  return peer;
}

const bothLinksUp = () => local.linkInfo()[0]?.state === 'open' && local.inboundConnections > 0;

before(async () => {
  await local.start(recorder);
  const p = await startPeer(0);
  local.addPeer(2, p.url);
  await waitUntil(bothLinksUp, 10_000, 'links up');
});

after(async () => {
  await peer?.kill();
  await local.stop();
});

test('receiver restarted mid-transfer: the sender’s promise rejects, the next transfer completes', {
  timeout: 40_000,
}, async () => {
  const first = peer!;
  const sending = local.sendSnapshot(2, 'users:9', SNAPSHOT_META, snapshotChunks(CHUNKS, CHUNK_BYTES));
  const failure = assert.rejects(sending, (error) => error instanceof SnapshotAbortedError);
  await first.waitFor(
    (e) => e.type === 'snapshotChunk' && (e.count as number) >= 20,
    15_000,
    '20 chunks taken',
  );
  await first.kill();
  await failure;

  const second = await startPeer(first.port);
  await waitUntil(bothLinksUp, 15_000, 'links up again');
  await local.sendSnapshot(2, 'users:9', SNAPSHOT_META, snapshotChunks(CHUNKS, CHUNK_BYTES));
  const done = await second.waitFor((e) => e.type === 'snapshotReceived', 5_000, 'snapshot stored');
  assert.equal(done.count, CHUNKS);
  assert.equal(done.index, SNAPSHOT_META.index);
  assert.equal(done.sha256, await expectedSha256());
});

test('sender restarted mid-transfer: the receiver’s chunks error, the next transfer completes', {
  timeout: 40_000,
}, async () => {
  const outcomes: (
    | { ok: true; sha256: string; count: number }
    | { ok: false; error: unknown; count: number }
  )[] = [];
  recorder.onSnapshot = async (from, group, _meta, chunks) => {
    assert.equal(from, 2);
    assert.equal(group, 'jobs');
    const hash = createHash('sha256');
    let count = 0;
    try {
      for await (const chunk of chunks) {
        await new Promise((r) => setTimeout(r, 2));
        hash.update(chunk);
        count++;
      }
    } catch (error) {
      outcomes.push({ ok: false, error, count });
      throw error;
    }
    outcomes.push({ ok: true, sha256: hash.digest('hex'), count });
  };
  const first = peer!;
  void first
    .request(
      { cmd: 'sendSnapshot', to: 1, group: 'jobs', chunkCount: CHUNKS, chunkBytes: CHUNK_BYTES },
      30_000,
    )
    .catch(() => {});
  await waitUntil(() => local.stats().bytesReceived > 20 * CHUNK_BYTES, 15_000, 'transfer under way');
  await first.kill();
  const broken = await waitUntil(() => outcomes[0], 10_000, 'receiver outcome');
  assert.equal(broken.ok, false);
  assert.ok(!broken.ok && broken.error instanceof SnapshotAbortedError);
  assert.ok(broken.count < CHUNKS);

  const second = await startPeer(first.port);
  await waitUntil(bothLinksUp, 15_000, 'links up again');
  const reply = await second.request(
    { cmd: 'sendSnapshot', to: 1, group: 'jobs', chunkCount: CHUNKS, chunkBytes: CHUNK_BYTES },
    30_000,
  );
  assert.equal(reply.type, 'ok');
  assert.deepEqual(outcomes[1], { ok: true, sha256: await expectedSha256(), count: CHUNKS });
});
