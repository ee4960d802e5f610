/**
 * Strangers are kept out at the upgrade: a wrong secret, an unknown node id and a client without credentials
 * get HTTP 401, are logged with their address and counted, and never reach the handler.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import WebSocket from 'ws';
import { authHeaders, PEER_PATH, WsTransport } from '../src/index.ts';
import { Recorder, SECRET, sequenced, waitUntil } from './helpers.ts';

const logs: Record<string, unknown>[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
const recorder = new Recorder();
const server = new WsTransport({ nodeId: 1, clusterSecret: SECRET, logger, reconnectDelayMinMs: 50 });
const started: WsTransport[] = [];

async function node(id: number, secret: string): Promise<WsTransport> {
  const t = new WsTransport({
    nodeId: id,
    clusterSecret: secret,
    peers: new Map([[1, server.url]]),
    reconnectDelayMinMs: 50,
    reconnectDelayMaxMs: 200,
  });
  started.push(t);
  await t.start(new Recorder());
  return t;
}

const refusedLog = (reason: string) =>
  logs.find((l) => l.msg === 'peer link refused' && l.reason === reason && l.remoteAddress === '127.0.0.1');

function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => reject(new Error('stranger was let in')));
    ws.on('error', () => {});
  });
}

before(async () => {
  await server.start(recorder);
});

after(async () => {
  for (const t of started) await t.stop();
  await server.stop();
});

test('a node with the wrong cluster secret is refused with 401, logged with its address and counted', {
  timeout: 15_000,
}, async () => {
  const intruder = await node(2, 'not-the-cluster-secret-at-all!!');
  server.addPeer(2, intruder.url);
  await waitUntil(() => server.stats().rejections.badSignature > 0, 10_000, 'badSignature rejection');
  assert.ok(refusedLog('badSignature'), 'rejection logged with the remote address');
  await waitUntil(() => intruder.stats().dialFailures > 0, 10_000, 'the intruder sees its dial fail');
  assert.notEqual(intruder.linkInfo()[0]?.state, 'open');
  intruder.send(1, 'meta', sequenced(2, 1, 1));
  assert.equal(server.inboundConnections, 0);
  assert.equal(recorder.delivered.length, 0);
  const wrong = Buffer.from('not-the-cluster-secret-at-all!!');
  assert.equal(await upgradeStatus(`${server.url}${PEER_PATH}`, authHeaders(wrong, 2, 1, Date.now())), 401);
  await intruder.stop();
  server.removePeer(2);
});

test('a node id the cluster does not know is refused with 401 even with the right secret', {
  timeout: 15_000,
}, async () => {
  const stranger = await node(3, SECRET);
  await waitUntil(() => server.stats().rejections.unknownNode > 0, 10_000, 'unknownNode rejection');
  assert.ok(refusedLog('unknownNode'));
  assert.equal(logs.find((l) => l.reason === 'unknownNode')?.claimedNode, 3);
  assert.notEqual(stranger.linkInfo()[0]?.state, 'open');
  assert.equal(server.inboundConnections, 0);
  const secret = Buffer.from(SECRET);
  assert.equal(await upgradeStatus(`${server.url}${PEER_PATH}`, authHeaders(secret, 3, 1, Date.now())), 401);
  await stranger.stop();
});

test('a plain WebSocket client without credentials gets 401; other paths 404; plain HTTP 426', {
  timeout: 15_000,
}, async () => {
  const before = server.stats();
  assert.equal(await upgradeStatus(`${server.url}${PEER_PATH}`), 401);
  assert.equal(await upgradeStatus(`${server.url}/`), 404);
  const status = await new Promise<number>((resolve, reject) => {
    get(`http://127.0.0.1:${server.port}/`, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
  assert.equal(status, 426);
  const afterStats = server.stats();
  assert.equal(afterStats.rejections.noCredentials - before.rejections.noCredentials, 1);
  assert.equal(afterStats.rejections.badPath - before.rejections.badPath, 1);
  assert.equal(afterStats.errors.httpRequest - before.errors.httpRequest, 1);
  assert.equal(afterStats.rejectedPeers - before.rejectedPeers, 2);
  assert.ok(refusedLog('noCredentials'));
});

test('a known node with the right secret is let in and its messages are delivered', {
  timeout: 15_000,
}, async () => {
  const member = await node(2, SECRET);
  server.addPeer(2, member.url);
  await waitUntil(() => member.linkInfo()[0]?.state === 'open', 10_000, 'member link open');
  member.send(1, 'meta', sequenced(2, 1, 42));
  await waitUntil(() => recorder.delivered.length === 1, 10_000, 'delivery from the member');
  assert.equal(recorder.delivered[0]?.from, 2);
  assert.equal(recorder.delivered[0]?.group, 'meta');
});
