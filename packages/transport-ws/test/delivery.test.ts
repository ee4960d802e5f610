/**
 * Delivery across two processes on loopback: many groups, per-link order, one frame per event-loop turn,
 * and recovery when the peer process is killed and restarted on the same port.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeMessage } from '@flotilla/core';
import { WsTransport } from '../src/index.ts';
import { PeerProcess, Recorder, SECRET, sequenced, waitUntil } from './helpers.ts';

const GROUPS = ['meta', 'jobs', 'users:0', 'users:1', 'users:31', 'shared:0', 'grüppe:ü'];
const recorder = new Recorder();
const local = new WsTransport({
  nodeId: 1,
  clusterSecret: SECRET,
  reconnectDelayMinMs: 20,
  reconnectDelayMaxMs: 200,
});
let peer: PeerProcess | undefined;

const sequenceOf = (payload: Uint8Array): number => {
  const message = decodeMessage(payload);
  assert.equal(message.type, 'heartbeat');
  return message.type === 'heartbeat' ? message.commit : -1;
};

/** Both directions are up: our link to 2 is open and 2's link to us is accepted. */
const linkOpen = () =>
  local.linkInfo().find((l) => l.peer === 2)?.state === 'open' && local.inboundConnections > 0;

async function startPeer(port = 0): Promise<PeerProcess> {
  const p = await PeerProcess.start({
    nodeId: 2,
    port,
    peers: [[1, local.url]],
    secret: SECRET,
    mode: 'echo',
  });
  peer = p;
  return p;
}

before(async () => {
  await local.start(recorder);
  const p = await startPeer();
  local.addPeer(2, p.url);
  await waitUntil(linkOpen, 10_000, 'link 1→2 open');
});

after(async () => {
  await peer?.kill();
  await local.stop();
});

test('20,000 messages of 7 groups go to the other process and come back complete and in order', {
  timeout: 30_000,
}, async () => {
  const total = 20_000;
  const start = recorder.delivered.length;
  for (let seq = 0; seq < total; seq++) {
    local.send(2, GROUPS[seq % GROUPS.length]!, sequenced(1, 2, seq));
    if (seq % 250 === 249) await new Promise((r) => setImmediate(r));
  }
  await waitUntil(() => recorder.delivered.length - start >= total, 20_000, 'all echoes');
  const echoes = recorder.delivered.slice(start);
  assert.equal(echoes.length, total);
  echoes.forEach((d, i) => {
    assert.equal(d.from, 2);
    assert.equal(d.group, GROUPS[i % GROUPS.length]);
    assert.equal(sequenceOf(d.payload), i);
  });
  assert.equal(local.stats().messagesDropped.queueFull, 0);
});

test('messages queued in one event-loop turn leave as one frame per peer', { timeout: 15_000 }, async () => {
  const p = peer!;
  const before = local.stats();
  const peerBefore = (await p.request({ cmd: 'stats' })).stats as ReturnType<WsTransport['stats']>;
  const start = recorder.delivered.length;
  for (let seq = 0; seq < 500; seq++) local.send(2, GROUPS[seq % GROUPS.length]!, sequenced(1, 2, seq));
  await waitUntil(() => recorder.delivered.length - start >= 500, 10_000, '500 echoes');
  const afterStats = local.stats();
  const peerAfter = (await p.request({ cmd: 'stats' })).stats as ReturnType<WsTransport['stats']>;
  assert.equal(afterStats.messagesSent - before.messagesSent, 500);
  assert.equal(afterStats.framesSent - before.framesSent, 1, 'one frame out');
  assert.equal(peerAfter.framesReceived - peerBefore.framesReceived, 1, 'one frame in at the peer');
  assert.equal(peerAfter.framesSent - peerBefore.framesSent, 1, 'the echoes of one frame leave as one frame');
  assert.equal(afterStats.framesReceived - before.framesReceived, 1);
});

test('node-channel records travel in the same frames as group records, in order, never as a group', {
  timeout: 15_000,
}, async () => {
  const start = recorder.delivered.length;
  const nodeStart = recorder.nodeDelivered.length;
  const before = local.stats();
  for (let seq = 0; seq < 300; seq++) {
    if (seq % 3 === 0) local.sendNode(2, seq % 2 === 0 ? 'rpc' : 'actors', Uint8Array.of(seq & 0xff, 7));
    else local.send(2, 'jobs', sequenced(1, 2, seq));
  }
  await waitUntil(
    () => recorder.delivered.length - start >= 200 && recorder.nodeDelivered.length - nodeStart >= 100,
    10_000,
    'echoes of both kinds',
  );
  assert.equal(local.stats().framesSent - before.framesSent, 1, 'one frame carried both kinds');
  const nodeEchoes = recorder.nodeDelivered.slice(nodeStart);
  assert.deepEqual(
    nodeEchoes.map((d) => [d.channel, d.payload[0]]),
    Array.from({ length: 100 }, (_, i) => [(i * 3) % 2 === 0 ? 'rpc' : 'actors', (i * 3) & 0xff]),
  );
  assert.ok(
    recorder.delivered.slice(start).every((d) => d.group === 'jobs'),
    'no channel record became a group',
  );
});

test('a killed peer is reported unreachable, and after it restarts on its port traffic flows again', {
  timeout: 30_000,
}, async () => {
  const old = peer!;
  const port = old.port;
  const unreachableBefore = recorder.unreachable.length;
  await old.kill();
  await waitUntil(() => recorder.unreachable.length > unreachableBefore, 10_000, 'peerUnreachable(2)');
  assert.ok(recorder.unreachable.slice(unreachableBefore).every((id) => id === 2));
  assert.notEqual(local.linkInfo().find((l) => l.peer === 2)?.state, 'open');
  local.send(2, 'meta', sequenced(1, 2, 0));

  const afterKill = recorder.unreachable.length;
  await startPeer(port);
  await waitUntil(linkOpen, 15_000, 'link 1→2 open again');
  assert.ok(local.stats().reconnects >= 1);
  assert.ok(
    recorder.unreachable.length > afterKill,
    'the reconnect is reported so in-flight appends are retried',
  );

  const start = recorder.delivered.length;
  for (let seq = 0; seq < 1000; seq++) local.send(2, 'jobs', sequenced(1, 2, seq));
  await waitUntil(() => recorder.delivered.length - start >= 1000, 10_000, 'echoes after restart');
  assert.deepEqual(
    recorder.delivered.slice(start).map((d) => sequenceOf(d.payload)),
    Array.from({ length: 1000 }, (_, i) => i),
  );
});
