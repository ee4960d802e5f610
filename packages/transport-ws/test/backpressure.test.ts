/**
 * Backpressure against a stalled peer process (SIGSTOP): the link tells senders to hold at its high-water
 * mark, a sender that ignores the hold gets its messages dropped and counted, and memory stays flat.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WsTransport, type WsTransportStats } from '../src/index.ts';
import { appendPayload, PeerProcess, Recorder, SECRET, waitUntil } from './helpers.ts';

const MiB = 1024 * 1024;
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a SIGSTOPped peer holds senders at the high-water mark and memory stays flat', {
  timeout: 60_000,
}, async () => {
  const recorder = new Recorder();
  const local = new WsTransport({
    nodeId: 1,
    clusterSecret: SECRET,
    highWaterMarkBytes: 1 * MiB,
    lowWaterMarkBytes: MiB / 2,
    bufferedBytesMax: 4 * MiB,
    // The stall must outlast this test; a real deployment would drop the link after pongTimeoutMs.
    pongTimeoutMs: 60_000,
  });
  let peer: PeerProcess | undefined;
  try {
    await local.start(recorder);
    peer = await PeerProcess.start({ nodeId: 2, peers: [[1, local.url]], secret: SECRET, mode: 'sink' });
    local.addPeer(2, peer.url);
    await waitUntil(() => local.linkInfo()[0]?.state === 'open', 10_000, 'link open');
    const payload = appendPayload(64, 100);
    const delivered = async () => (await peer!.request({ cmd: 'stats' })).delivered as number;

    for (let i = 0; i < 50; i++) local.send(2, 'users:1', payload);
    await waitUntil(async () => (await delivered()) >= 50, 10_000, 'warm-up delivered');
    peer.signal('SIGSTOP');

    // An obedient sender (the core's inflight window) stops when told to hold.
    let offered = 0;
    while (!local.isHeld(2) && offered < 200_000) {
      for (let i = 0; i < 64; i++) local.send(2, 'users:1', payload);
      offered += 64;
      await turn();
    }
    await waitUntil(
      () => recorder.backpressure.some((b) => b.peer === 2 && b.held),
      10_000,
      'hold signalled',
    );
    assert.ok(local.isHeld(2));

    // A sender that ignores the hold: 300 MB offered, the link keeps at most bufferedBytesMax.
    const baseline = process.memoryUsage();
    const before: WsTransportStats = local.stats();
    let maxPending = 0;
    let maxArrayBuffers = 0;
    const rounds = Math.ceil((300 * 1e6) / (payload.length * 500));
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < 500; i++) local.send(2, 'users:1', payload);
      await turn();
      maxPending = Math.max(maxPending, local.linkInfo()[0]!.pendingBytes);
      maxArrayBuffers = Math.max(maxArrayBuffers, process.memoryUsage().arrayBuffers);
    }
    const dropped = local.stats().messagesDropped.queueFull - before.messagesDropped.queueFull;
    assert.ok(maxPending <= 4 * MiB, `pending ${maxPending} stays under bufferedBytesMax`);
    assert.ok(dropped > rounds * 500 * 0.95, `dropped ${dropped} of ${rounds * 500} offered`);
    const growth = maxArrayBuffers - baseline.arrayBuffers;
    assert.ok(growth < 32 * MiB, `buffer memory grew ${(growth / MiB).toFixed(1)} MiB for 300 MB offered`);
    assert.equal(local.linkInfo()[0]?.state, 'open');

    // Resumed, the link drains, releases the hold and carries new messages.
    const deliveredBefore = recorder.backpressure.length;
    peer.signal('SIGCONT');
    await waitUntil(
      () => recorder.backpressure.slice(deliveredBefore).some((b) => b.peer === 2 && !b.held),
      20_000,
      'hold released',
    );
    assert.ok(!local.isHeld(2));
    const count = await delivered();
    for (let i = 0; i < 10; i++) local.send(2, 'users:1', payload);
    await waitUntil(async () => (await delivered()) >= count + 10, 10_000, 'delivery after resume');
  } finally {
    await peer?.kill();
    await local.stop();
  }
});
