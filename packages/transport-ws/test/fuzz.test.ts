/**
 * Fuzz: over 100,000 random, truncated, oversized and wrongly shaped frames from an authenticated peer, and
 * thousands of upgrade attempts from strangers, against a node in its own process. It must stay up, count
 * exactly what was sent, close each offending connection with the right code, and still serve a real peer.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { test } from 'node:test';
import {
  authHeaders,
  FRAME_CLOSE_CODES,
  type FrameErrorKind,
  PEER_PATH,
  WsTransport,
  type WsTransportStats,
} from '../src/index.ts';
import { type FuzzFrame, FuzzFrames, prng } from './fuzz-frames.ts';
import { PeerProcess, Recorder, SECRET, sequenced, waitUntil } from './helpers.ts';

const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
const BAD_FRAMES_MIN = 100_000;
const STRANGER_ATTEMPTS = 3000;
const BUDGET = 64;
const CONCURRENCY = 8;
const secret = Buffer.from(SECRET);

interface Exchange {
  readonly status: number;
  readonly closeCode: number | undefined;
}

/** Sends an HTTP upgrade plus `body` in one write; answers the server's close; resolves when the socket closes. */
function exchange(port: number, head: string, body: Buffer): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let status = 0;
    let closeCode: number | undefined;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within 10 s (status ${status})`));
    }, 10_000);
    socket.on('connect', () => socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body])));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      status = Number(received.subarray(9, 12).toString('latin1'));
      const frames = received.subarray(end + 4);
      if (status === 101 && frames.length >= 4 && frames[0] === 0x88 && closeCode === undefined) {
        closeCode = frames.readUInt16BE(2);
        socket.end();
      }
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ status, closeCode });
    });
  });
}

function upgradeHead(headers: Record<string, string>, path = PEER_PATH): string {
  const lines = [
    `GET ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Runs `jobs` with at most CONCURRENCY in flight. */
async function pool(count: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await job(next++);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

const expectedCloseCode = (last: FuzzFrame): number =>
  last.expect === 'valid' ? 1000 : FRAME_CLOSE_CODES[last.expect as FrameErrorKind];

interface PeerFuzz {
  readonly expected: Map<string, number>;
  readonly badFrames: number;
  readonly records: number;
  readonly connections: number;
  /** Credentials that were accepted, for replay attempts. */
  readonly usedHeaders: Record<string, string>[];
}

/** An authenticated peer sends bad frames (and some valid ones) until `badFramesMin`; each connection is closed on. */
async function fuzzPeer(
  port: number,
  gen: FuzzFrames,
  budget: number,
  badFramesMin: number,
): Promise<PeerFuzz> {
  const expected = new Map<string, number>();
  let badFrames = 0;
  let records = 0;
  let connections = 0;
  const usedHeaders: Record<string, string>[] = [];
  const batches: FuzzFrame[][] = [];
  while (badFrames < badFramesMin) {
    const frames = gen.connection(budget);
    for (const f of frames) {
      if (f.expect === 'valid') records += f.records;
      else {
        badFrames++;
        expected.set(f.expect, (expected.get(f.expect) ?? 0) + 1);
      }
    }
    batches.push(frames);
  }
  await pool(batches.length, async (i) => {
    const frames = batches[i]!;
    const headers = authHeaders(secret, 2, 1, Date.now());
    if (i % 10 === 0) usedHeaders.push(headers);
    const result = await exchange(port, upgradeHead(headers), Buffer.concat(frames.map((f) => f.bytes)));
    connections++;
    assert.equal(result.status, 101);
    const last = frames[frames.length - 1];
    if (last !== undefined)
      assert.equal(result.closeCode, expectedCloseCode(last), `close code after ${last.expect}`);
  });
  return { expected, badFrames, records, connections, usedHeaders };
}

function assertFrameCounters(stats: WsTransportStats, fuzz: PeerFuzz): void {
  for (const kind of Object.keys(FRAME_CLOSE_CODES) as FrameErrorKind[]) {
    assert.equal(stats.errors[kind], fuzz.expected.get(kind) ?? 0, `errors.${kind}`);
  }
  assert.equal(stats.messagesReceived, fuzz.records, 'valid records delivered');
  assert.equal(stats.errors.internal, 0);
  assert.equal(stats.errors.handler, 0);
}

/** Strangers try every kind of refused upgrade, each carrying fuzz frames that must never be parsed. */
async function fuzzStrangers(
  port: number,
  gen: FuzzFrames,
  usedHeaders: Record<string, string>[],
): Promise<{ expected: Map<string, number>; frames: number }> {
  const expected = new Map<string, number>();
  const bump = (key: string) => expected.set(key, (expected.get(key) ?? 0) + 1);

  let strangerFrames = 0;
  const wrongSecret = Buffer.from('not-the-cluster-secret-at-all!!');
  const kinds: [string, () => string | Buffer, number][] = [
    ['noCredentials', () => upgradeHead({}), 401],
    ['badSignature', () => upgradeHead(authHeaders(wrongSecret, 2, 1, Date.now())), 401],
    ['unknownNode', () => upgradeHead(authHeaders(secret, 3, 1, Date.now())), 401],
    ['staleTimestamp', () => upgradeHead(authHeaders(secret, 2, 1, Date.now() - 120_000)), 401],
    [
      'malformedCredentials',
      () => upgradeHead({ 'x-flotilla-node': '2', 'x-flotilla-auth': 'v1.garbage' }),
      401,
    ],
    ['replayedNonce', () => upgradeHead(usedHeaders[Math.floor(Math.random() * usedHeaders.length)]!), 401],
    ['badPath', () => upgradeHead(authHeaders(secret, 2, 1, Date.now()), '/admin'), 404],
    [
      'httpParse',
      () => Buffer.concat([Buffer.from([0x80 + Math.floor(Math.random() * 128)]), randomBytes(64)]),
      400,
    ],
  ];
  await pool(STRANGER_ATTEMPTS, async (i) => {
    const [reason, head, status] = kinds[i % kinds.length]!;
    const frames = Array.from({ length: 1 + (i % 5) }, () => gen.invalid().bytes);
    strangerFrames += frames.length;
    bump(`stranger:${reason}`);
    const request = head();
    const body = Buffer.concat(frames);
    const result =
      typeof request === 'string'
        ? await exchange(port, request, body)
        : await exchange(port, '', Buffer.concat([request, body]));
    assert.equal(result.status, status, `stranger ${reason}`);
  });
  return { expected, frames: strangerFrames };
}

const fuzzServer = (options: Record<string, number>): Promise<PeerProcess> =>
  PeerProcess.start({
    nodeId: 1,
    peers: [[2, 'ws://127.0.0.1:9']],
    secret: SECRET,
    mode: 'echo',
    options: {
      maxPayloadBytes: 65_536,
      snapshotChunkBytesMax: 32_768,
      reconnectDelayMinMs: 1000,
      ...options,
    },
  });

test(`fuzzed frames and strangers are counted exactly and the node keeps serving (SEED=${SEED})`, {
  timeout: 120_000,
}, async (t) => {
  let server: PeerProcess | undefined;
  let member: WsTransport | undefined;
  try {
    server = await fuzzServer({ frameErrorsPerConnectionMax: BUDGET, inboundConnectionsPerPeerMax: 64 });
    const port = server.port;
    const gen = new FuzzFrames(prng(SEED));
    const started = Date.now();
    const fuzz = await fuzzPeer(port, gen, BUDGET, BAD_FRAMES_MIN);
    const { badFrames, records, connections } = fuzz;
    t.diagnostic(
      `${badFrames} bad frames, ${records} valid records over ${connections} connections in ${Date.now() - started} ms`,
    );
    const strangers = await fuzzStrangers(port, gen, fuzz.usedHeaders);
    t.diagnostic(`${STRANGER_ATTEMPTS} stranger attempts carrying ${strangers.frames} frames`);
    assert.ok(badFrames >= BAD_FRAMES_MIN);

    const stats = (await server.request({ cmd: 'stats' })).stats as WsTransportStats;
    assert.ok(server.running, 'the server process is still up');
    assertFrameCounters(stats, fuzz);
    for (const [key, count] of strangers.expected) {
      const reason = key.slice('stranger:'.length);
      if (reason === 'httpParse') assert.equal(stats.errors.httpParse, count);
      else assert.equal(stats.rejections[reason as keyof WsTransportStats['rejections']], count, reason);
    }
    const parseErrors = strangers.expected.get('stranger:httpParse') ?? 0;
    assert.equal(stats.rejectedPeers, STRANGER_ATTEMPTS - parseErrors);

    // A real peer is still served: links both ways, messages echoed in order.
    const recorder = new Recorder();
    member = new WsTransport({ nodeId: 2, clusterSecret: SECRET, peers: new Map([[1, server.url]]) });
    await member.start(recorder);
    await server.request({ cmd: 'addPeer', peer: 2, url: member.url });
    await waitUntil(() => member?.linkInfo()[0]?.state === 'open', 10_000, 'member link open');
    for (let i = 0; i < 100; i++) member.send(1, 'meta', sequenced(2, 1, i));
    await waitUntil(() => recorder.delivered.length >= 100, 15_000, 'echoes from the fuzzed node');
    assert.equal(recorder.delivered.length, 100);
  } finally {
    await member?.stop();
    await server?.kill();
  }
});

test(`with the default budget every bad frame closes its connection, and all are counted (SEED=${SEED})`, {
  timeout: 60_000,
}, async (t) => {
  let server: PeerProcess | undefined;
  try {
    server = await fuzzServer({ inboundConnectionsPerPeerMax: 64 });
    const started = Date.now();
    const fuzz = await fuzzPeer(server.port, new FuzzFrames(prng(SEED + 1)), 1, 5000);
    t.diagnostic(
      `${fuzz.badFrames} bad frames over ${fuzz.connections} connections in ${Date.now() - started} ms`,
    );
    assert.ok(fuzz.connections >= fuzz.badFrames);
    assertFrameCounters((await server.request({ cmd: 'stats' })).stats as WsTransportStats, fuzz);
    assert.ok(server.running);
  } finally {
    await server?.kill();
  }
});
