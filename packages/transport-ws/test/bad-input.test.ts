/**
 * Bad input that is well-formed on the wire: records for groups this node does not host (dropped or closed
 * on, as configured) and a handler that throws. Both are counted; neither crashes the process or the link.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { authHeaders, PEER_PATH, WsTransport } from '../src/index.ts';
import { Recorder, SECRET, sequenced, waitUntil } from './helpers.ts';

const knowsGroup = (group: string): boolean => group !== 'nowhere';

/** A frame with one record per group, built by hand as a peer would send it. */
function frameFor(groups: string[]): Buffer {
  const parts = [Buffer.from([1, 1])];
  for (const [i, group] of groups.entries()) {
    const payload = Buffer.from(sequenced(2, 1, i));
    const head = Buffer.alloc(5 + group.length);
    head[0] = group.length;
    head.write(group, 1, 'latin1');
    head.writeUInt32LE(payload.length, 1 + group.length);
    parts.push(head, payload);
  }
  return Buffer.concat(parts);
}

/** Opens an authenticated raw link as node 2, sends `frames`, resolves the close code (or 'open' after 300 ms). */
function sendRaw(server: WsTransport, frames: Buffer[]): Promise<number | 'open'> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.url}${PEER_PATH}`, {
      headers: authHeaders(Buffer.from(SECRET), 2, 1, Date.now()),
    });
    ws.on('open', () => {
      for (const f of frames) ws.send(f);
      setTimeout(() => {
        resolve('open');
        ws.terminate();
      }, 300);
    });
    ws.on('close', (code) => resolve(code));
    ws.on('error', reject);
  });
}

async function withServer(
  options: { unknownGroupAction: 'drop' | 'close'; isValidPayload?: (payload: Uint8Array) => boolean },
  recorder: Recorder,
  run: (server: WsTransport) => Promise<void>,
): Promise<void> {
  const server = new WsTransport({
    nodeId: 1,
    clusterSecret: SECRET,
    peers: new Map([[2, 'ws://127.0.0.1:9']]),
    knowsGroup,
    reconnectDelayMinMs: 1000,
    ...options,
  });
  await server.start(recorder);
  try {
    await run(server);
  } finally {
    await server.stop();
  }
}

test('unknownGroupAction drop: records for unknown groups are dropped and counted, the link stays', {
  timeout: 10_000,
}, async () => {
  const recorder = new Recorder();
  await withServer({ unknownGroupAction: 'drop' }, recorder, async (server) => {
    const outcome = await sendRaw(server, [frameFor(['meta', 'nowhere', 'jobs'])]);
    assert.equal(outcome, 'open');
    assert.deepEqual(
      recorder.delivered.map((d) => d.group),
      ['meta', 'jobs'],
    );
    const stats = server.stats();
    assert.equal(stats.errors.unknownGroup, 1);
    assert.equal(stats.messagesDropped.unknownGroup, 1);
    assert.equal(stats.messagesReceived, 2);
  });
});

test('unknownGroupAction close: a frame naming an unknown group is refused whole with 1008', {
  timeout: 10_000,
}, async () => {
  const recorder = new Recorder();
  await withServer({ unknownGroupAction: 'close' }, recorder, async (server) => {
    const outcome = await sendRaw(server, [frameFor(['meta', 'nowhere', 'jobs'])]);
    assert.equal(outcome, 1008);
    assert.equal(recorder.delivered.length, 0, 'nothing of the bad frame was delivered');
    assert.equal(server.stats().errors.unknownGroup, 1);
  });
});

test('a handler that throws is counted and the following messages are still delivered', {
  timeout: 10_000,
}, async () => {
  const recorder = new Recorder();
  let calls = 0;
  const deliver = recorder.deliver.bind(recorder);
  recorder.deliver = (from, group, payload) => {
    calls++;
    if (calls === 1) throw new Error('bug in the node');
    deliver(from, group, payload);
  };
  await withServer({ unknownGroupAction: 'drop' }, recorder, async (server) => {
    const outcome = await sendRaw(server, [frameFor(['meta', 'jobs']), frameFor(['users:1'])]);
    assert.equal(outcome, 'open');
    await waitUntil(() => recorder.delivered.length === 2, 5_000, 'later deliveries');
    assert.deepEqual(
      recorder.delivered.map((d) => d.group),
      ['jobs', 'users:1'],
    );
    assert.equal(server.stats().errors.handler, 1);
  });
});

test('payloads failing the shape check refuse the frame; a custom check can carry other payloads', {
  timeout: 10_000,
}, async () => {
  const raw = Buffer.from([1, 1, 3, 0x72, 0x70, 0x63, 2, 0, 0, 0, 0x01, 0x02]);
  const strict = new Recorder();
  await withServer({ unknownGroupAction: 'drop' }, strict, async (server) => {
    assert.equal(await sendRaw(server, [raw]), 1007);
    assert.equal(strict.delivered.length, 0);
    assert.equal(server.stats().errors.invalidPayload, 1);
  });
  const lenient = new Recorder();
  await withServer({ unknownGroupAction: 'drop', isValidPayload: () => true }, lenient, async (server) => {
    assert.equal(await sendRaw(server, [raw]), 'open');
    assert.deepEqual(lenient.delivered, [{ from: 2, group: 'rpc', payload: Uint8Array.of(1, 2) }]);
  });
});
