/**
 * Configuration is checked once, at construction: a bad value fails with `InvalidConfigError` naming its key,
 * instead of surfacing later as a link that never opens or a queue without bound.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidConfigError } from '@flotilla/core';
import { WsTransport, type WsTransportOptions } from '../src/index.ts';
import { SECRET } from './helpers.ts';

const cases: [string, Partial<WsTransportOptions>, string][] = [
  ['a short secret', { clusterSecret: 'short' }, 'clusterSecret'],
  ['node id 0', { nodeId: 0 }, 'nodeId'],
  [
    'low-water mark above high-water mark',
    { highWaterMarkBytes: 100, lowWaterMarkBytes: 200 },
    'lowWaterMarkBytes',
  ],
  ['hard cap below high-water mark', { highWaterMarkBytes: 1000, bufferedBytesMax: 10 }, 'bufferedBytesMax'],
  [
    'snapshot chunks larger than a frame',
    { maxPayloadBytes: 1000, snapshotChunkBytesMax: 1000 },
    'snapshotChunkBytesMax',
  ],
  ['backoff max below min', { reconnectDelayMinMs: 500, reconnectDelayMaxMs: 100 }, 'reconnectDelayMaxMs'],
  ['jitter above 1', { reconnectJitterRatio: 1.5 }, 'reconnectJitterRatio'],
  ['a negative bound', { pingIntervalMs: -1 }, 'pingIntervalMs'],
  ['an http peer URL', { peers: new Map([[2, 'http://127.0.0.1:1']]) }, 'peers'],
  ['itself as a peer', { peers: new Map([[1, 'ws://127.0.0.1:1']]) }, 'peers'],
  ['peer id 0', { peers: new Map([[0, 'ws://127.0.0.1:1']]) }, 'peers'],
];

for (const [name, override, key] of cases) {
  test(`refused at construction: ${name}`, () => {
    assert.throws(
      () => new WsTransport({ nodeId: 1, clusterSecret: SECRET, ...override }),
      (error) => error instanceof InvalidConfigError && error.key === key,
    );
  });
}

test('peer URLs are normalized and can be changed at runtime before start', () => {
  const t = new WsTransport({
    nodeId: 1,
    clusterSecret: SECRET,
    peers: new Map([[2, 'ws://127.0.0.1:7000/x']]),
  });
  assert.deepEqual([...t.peers()], [[2, 'ws://127.0.0.1:7000']]);
  t.addPeer(3, 'wss://[::1]:7001');
  t.removePeer(2);
  assert.deepEqual([...t.peers()], [[3, 'wss://[::1]:7001']]);
});
