/**
 * Fuzzing the client API port of a node (seeded, so a failure replays with FUZZ_SEED): well-framed requests
 * with unknown ops, wrong types, missing or hostile arguments and admin calls from a read-only client, pipelined
 * on long-lived connections; malformed frames (random bytes, truncated tuples, 0xC1, text, non-tuples, frames
 * over the size bound) each on a connection of its own; upgrades without a token. Over 100,000 frames in all:
 * the node never crashes, every well-framed request gets one typed answer, every bad frame a counted close.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { API_OPS, decodeResponses, encodeRequests, isPush } from '@flotilla/app';
import { FlotillaClient } from '@flotilla/client';
import { configFromToml, type RunningNode, silentLogger, startNode } from '@flotilla/node';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { API_PAYLOAD_BYTES_MAX } from '../src/api/api-server.ts';
import { freePort } from './ports.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261208);
const WELL_FRAMED = Number(process.env.FUZZ_WELL_FRAMED ?? 96_000);
const MALFORMED = Number(process.env.FUZZ_MALFORMED ?? 4_000);
const OVERSIZED = 4;
const STRANGERS = 200;
/** Requests in flight per connection while fuzzing (below the node's bound). */
const WINDOW = 2_000;
const CONNECTIONS = 4;
/** Bound on the node closing a connection after a malformed frame. */
const MALFORMED_CLOSE_MS = 5_000;
const READ_TOKEN = 'fuzz-reader-token-0123';
const ADMIN_TOKEN = 'fuzz-admin-token-01234';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-fuzz-'));
const packr = new Packr({ useRecords: false });
let node: RunningNode;
let address = '';

before(async () => {
  address = `127.0.0.1:${await freePort()}`;
  node = await startNode(
    configFromToml({
      node: { id: 1, data_dir: dir, api: address, admin: `127.0.0.1:${await freePort()}` },
      security: {
        clients: [
          { name: 'reader', token: READ_TOKEN, role: 'read' },
          { name: 'admin', token: ADMIN_TOKEN, role: 'admin' },
        ],
      },
    }),
    silentLogger(),
  );
});
after(async () => {
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** xorshift32: the same frames for the same seed. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  return {
    float: next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!,
    bytes: (n: number) => Uint8Array.from({ length: n }, () => Math.floor(next() * 256)),
  };
}

const HOSTILE: unknown[] = [
  null,
  true,
  -1,
  1e308,
  Number.NaN,
  '',
  'x'.repeat(5_000),
  '\u0000',
  '__proto__',
  [],
  [[[[]]]],
  {},
  { __proto__: { polluted: true } },
  { constructor: { prototype: {} } },
  new Uint8Array(3),
];

/** Well-formed arguments of admin calls (sent by the read-only client only: they must be refused by role). */
const ADMIN_ARGS: Record<string, unknown> = {
  addNode: { id: 9, rpc: '127.0.0.1:1', api: '127.0.0.1:2' },
  removeNode: { id: 1 },
  transfer: { group: 'user:0', to: 1 },
  createGroup: { id: 'fuzz', kind: 'kv' },
  deleteGroup: { id: 'user:0' },
  createShards: { prefix: 'fuzz', count: 2, kind: 'kv' },
  faults: { blockPeers: [2] },
};

/** Arguments for `op` that are wrong in some way, or occasionally right. */
function argsFor(r: ReturnType<typeof rng>, op: string, readOnly: boolean): unknown {
  if (readOnly && op in ADMIN_ARGS && r.float() < 0.5) return ADMIN_ARGS[op];
  switch (r.int(6)) {
    case 0:
      return r.pick(HOSTILE);
    case 1:
      return { group: r.pick(HOSTILE), kind: r.pick(HOSTILE), payload: r.pick(HOSTILE) };
    case 2:
      return {
        group: 'user:0',
        kind: 'kv',
        payload: r.bytes(r.int(64)),
        consistency: r.pick(['stale', 'x', 1]),
      };
    case 3:
      return op === 'watch'
        ? { group: 'user:0', key: 'a', prefix: 'b' }
        : { id: r.pick(HOSTILE), to: r.pick(HOSTILE) };
    case 4:
      return { group: `g${r.int(1000)}`, fromRevision: r.pick([0, -5, 1.5, 2 ** 60]) };
    default:
      return {};
  }
}

interface Tally {
  readonly sent: number;
  readonly answers: Map<string, number>;
}

/** Sends `count` well-framed requests on one authenticated connection, WINDOW at a time; tallies the answers. */
async function fuzzConnection(token: string, count: number, seed: number): Promise<Tally> {
  const r = rng(seed);
  const ws = new WebSocket(`ws://${address}`, {
    perMessageDeflate: false,
    headers: { authorization: `Bearer ${token}` },
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const answers = new Map<string, number>();
  const waiting = new Set<number>();
  let wake: (() => void) | undefined;
  ws.on('message', (data) => {
    for (const response of decodeResponses(data as Buffer)) {
      if (isPush(response)) {
        // A watch that opened: its first item answers it (it ends when the connection closes).
        if (waiting.delete(response.id)) answers.set('watch-live', (answers.get('watch-live') ?? 0) + 1);
        continue;
      }
      if (!waiting.delete(response.id)) continue;
      const key = response.ok ? 'ok' : response.error.code;
      answers.set(key, (answers.get(key) ?? 0) + 1);
    }
    if (waiting.size === 0) wake?.();
  });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  let id = 1;
  for (let done = 0; done < count; ) {
    const n = Math.min(WINDOW, count - done);
    for (let i = 0; i < n; i++) {
      const op =
        r.float() < 0.85 ? r.pick(API_OPS) : r.pick(['nope', '', 'constructor', '__proto__', 'EXECUTE']);
      const requestId = id++;
      waiting.add(requestId);
      // Unwatch of a watch that opened would end it; watches that open are answered when closed below.
      ws.send(
        encodeRequests([
          { id: requestId, op: op as never, args: argsFor(r, op, token === READ_TOKEN) as never },
        ]),
      );
    }
    await new Promise<void>((resolve) => {
      wake = resolve;
      if (waiting.size === 0) resolve();
      setTimeout(resolve, 10_000);
    });
    done += n;
    if (waiting.size > 0 && ws.readyState !== ws.OPEN) break;
  }
  ws.close();
  await closed;
  return { sent: id - 1, answers };
}

/** One malformed frame on a connection of its own: the node must close it (counted), nothing else. */
async function malformed(frame: Uint8Array | string): Promise<number> {
  const ws = new WebSocket(`ws://${address}`, {
    perMessageDeflate: false,
    headers: { authorization: `Bearer ${READ_TOKEN}` },
    maxPayload: 1 << 20,
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
  ws.on('error', () => {});
  ws.send(frame);
  // A connection the node leaves open after a bad frame fails the test with the frame (hex) that did it.
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ws.terminate();
      const shown = typeof frame === 'string' ? frame : Buffer.from(frame).toString('hex').slice(0, 400);
      reject(new Error(`the node left the connection open after the frame ${shown}`));
    }, MALFORMED_CLOSE_MS);
  });
  return Promise.race([code, hung]).finally(() => clearTimeout(timer));
}

test('over 100,000 fuzzed frames: the node stays up, every bad frame gets a typed answer or a counted close', {
  timeout: 300_000,
}, async () => {
  const r = rng(SEED);
  const before = { ...node.api.counters };
  // Well-framed requests, on long-lived connections (a read-only client and an admin).
  const tallies = await Promise.all(
    Array.from({ length: CONNECTIONS }, (_, i) =>
      fuzzConnection(i % 2 === 0 ? READ_TOKEN : ADMIN_TOKEN, WELL_FRAMED / CONNECTIONS, SEED + i + 1),
    ),
  );
  const answers = new Map<string, number>();
  let sent = 0;
  for (const t of tallies) {
    sent += t.sent;
    for (const [k, v] of t.answers) answers.set(k, (answers.get(k) ?? 0) + v);
  }
  const answered = [...answers.values()].reduce((a, b) => a + b, 0);
  assert.equal(answered, sent, 'every well-framed request answered once (a watch by going live)');
  assert.ok((answers.get('FLOTILLA_PROTOCOL') ?? 0) > sent / 10, JSON.stringify(Object.fromEntries(answers)));
  assert.ok(
    (answers.get('FLOTILLA_FORBIDDEN') ?? 0) > sent / 100,
    'a read-only client is refused admin calls',
  );
  for (const code of answers.keys())
    assert.ok(code === 'ok' || code === 'watch-live' || code.startsWith('FLOTILLA_'), `typed: ${code}`);
  assert.equal(answers.get('FLOTILLA_INTERNAL'), undefined, 'no request makes the node throw');

  // Malformed frames, one connection each: random bytes, a truncated request, 0xC1, text, not tuples.
  const valid = encodeRequests([{ id: 1, op: 'status', args: {} }]);
  const kinds = [
    () => r.bytes(1 + r.int(200)),
    () => valid.subarray(0, r.int(valid.length)),
    () => Uint8Array.of(0xc1),
    () => 'a text frame',
    () => packr.pack(r.pick([{ a: 1 }, 42, 'str', [], [['x', 'status', {}]], [[-1, 'status', {}]]])),
    () => packr.pack([1, 'status']),
  ];
  const codes = new Map<number, number>();
  for (let i = 0; i < MALFORMED; i++) {
    const code = await malformed(r.pick(kinds)());
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  // Frames over the size bound are cut off by the WebSocket layer (1009), before any decoding.
  const big = new Uint8Array(API_PAYLOAD_BYTES_MAX + 1);
  for (let i = 0; i < OVERSIZED; i++) {
    const code = await malformed(big);
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  // Strangers: no token, a wrong one; refused at the upgrade.
  let refused = 0;
  for (let i = 0; i < STRANGERS; i++)
    await FlotillaClient.connect({
      addresses: [address],
      timeoutMs: 2_000,
      ...(i % 2 ? { token: `guess-${i}` } : {}),
    }).then(
      (c) => c.close(),
      () => refused++,
    );

  const after = node.api.counters;
  const malformedCounted = after.malformed - before.malformed;
  console.log(
    JSON.stringify({
      fuzz: 'api',
      seed: SEED,
      frames: sent + MALFORMED + OVERSIZED,
      well_framed: sent,
      answers: Object.fromEntries(answers),
      malformed_sent: MALFORMED,
      malformed_closed: malformedCounted,
      close_codes: Object.fromEntries(codes),
      oversized: OVERSIZED,
      strangers_refused: refused,
      unauthenticated_counted: after.unauthenticated - before.unauthenticated,
    }),
  );
  assert.ok(sent + MALFORMED + OVERSIZED >= 100_000);
  // Every text or undecodable frame closed its connection and was counted (oversized ones never reach it).
  assert.equal(malformedCounted, MALFORMED);
  assert.equal(
    (codes.get(1002) ?? 0) + (codes.get(1009) ?? 0),
    MALFORMED + OVERSIZED,
    JSON.stringify(Object.fromEntries(codes)),
  );
  assert.equal(refused, STRANGERS);
  assert.equal(after.unauthenticated - before.unauthenticated, STRANGERS);
  // Still serving.
  const admin = await FlotillaClient.connect({ addresses: [address], timeoutMs: 3_000, token: ADMIN_TOKEN });
  try {
    assert.equal(((await admin.status(address)) as { nodeId: number }).nodeId, 1);
  } finally {
    admin.close();
  }
});
