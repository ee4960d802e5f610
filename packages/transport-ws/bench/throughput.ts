/**
 * Benchmark: append-like messages (64 entries × 100 B) from one process to another over a WsTransport link,
 * against a raw `net` socket carrying the same bytes with the same batching, measured in the same run.
 * Prints one JSON line: {"bench":"ws-throughput","msgs_per_s","mb_per_s","baseline_mb_per_s","ratio",…}.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { EntryKind, encodeMessage } from '@flotilla/core';
import { WsTransport } from '../src/index.ts';

const SECRET = 'flotilla-bench-cluster-secret-000';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 3000);
const WARMUP_MS = 500;
/** Messages a busy leader might hand the transport in one event-loop turn. */
const MESSAGES_PER_TURN = 64;
/** Same bound as the transport's default high-water mark, for the raw socket. */
const RAW_HIGH_WATER_MARK_BYTES = 8 * 1024 * 1024;

const data = new Uint8Array(100).fill(0x5a);
const payload = Uint8Array.from(
  encodeMessage({
    type: 'append',
    from: 1,
    to: 2,
    term: 3,
    index: 1000,
    logTerm: 3,
    commit: 990,
    entries: Array.from({ length: 64 }, (_, i) => ({
      term: 3,
      index: 1001 + i,
      kind: EntryKind.Normal,
      data,
    })),
  }),
);

interface Result {
  readonly msgsPerS: number;
  readonly mbPerS: number;
}

/** Numbers the receiver process reports (`url` for the ws sink). */
type Reply = { readonly type: string; readonly url?: string; readonly port?: number } & Record<
  string,
  number
>;
type Ask = (message: object, type: string) => Promise<Reply>;

async function startReceiver(): Promise<{ child: ChildProcess; ask: Ask }> {
  const child = fork(new URL('./receiver.ts', import.meta.url).pathname, [], {
    execArgv: ['--conditions=source', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask: Ask = (message, type) =>
    new Promise((resolve) => {
      const onMessage = (m: Reply): void => {
        if (m.type !== type) return;
        child.off('message', onMessage);
        resolve(m);
      };
      child.on('message', onMessage);
      if (Object.keys(message).length > 0) child.send(message);
    });
  await ask({}, 'started');
  return { child, ask };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Runs `pump` (one turn's worth of sending, or waiting) until the measured window ends; returns the rate. */
async function measure(ask: Ask, pump: () => Promise<void>): Promise<Result> {
  const warmupEnd = performance.now() + WARMUP_MS;
  while (performance.now() < warmupEnd) await pump();
  await ask({ cmd: 'reset' }, 'reset');
  const end = performance.now() + MEASURE_MS;
  while (performance.now() < end) await pump();
  const report = await ask({ cmd: 'report' }, 'report');
  const seconds = report.elapsedMs! / 1000;
  return { msgsPerS: report.messages! / seconds, mbPerS: report.bytes! / 1e6 / seconds };
}

async function benchWs(): Promise<Result> {
  const { child, ask } = await startReceiver();
  let released: (() => void) | undefined;
  const sender = new WsTransport({ nodeId: 1, clusterSecret: SECRET });
  try {
    await sender.start({
      deliver: () => {},
      deliverNode: () => {},
      peerUnreachable: () => {},
      peerBackpressure: (_peer, held) => {
        if (!held) released?.();
      },
      receiveSnapshot: async () => {},
    });
    const { url } = await ask({ cmd: 'ws', secret: SECRET, senderUrl: sender.url }, 'ready');
    sender.addPeer(2, url ?? '');
    while (sender.linkInfo()[0]?.state !== 'open') await new Promise((r) => setTimeout(r, 10));
    return await measure(ask, async () => {
      if (sender.isHeld(2)) {
        await new Promise<void>((r) => {
          released = r;
          setTimeout(r, 50);
        });
        return;
      }
      for (let i = 0; i < MESSAGES_PER_TURN; i++) sender.send(2, `users:${i & 31}`, payload);
      await turn();
    });
  } finally {
    await sender.stop();
    child.kill('SIGKILL');
  }
}

async function benchRaw(): Promise<Result> {
  const { child, ask } = await startReceiver();
  let socket: Socket | undefined;
  try {
    const { port } = await ask({ cmd: 'raw' }, 'ready');
    const s = connect(port ?? 0, '127.0.0.1');
    socket = s;
    s.setNoDelay(true);
    await new Promise((r) => s.once('connect', r));
    const recordBytes = 4 + payload.length;
    const free: Buffer[] = [];
    return await measure(ask, async () => {
      if (s.writableLength > RAW_HIGH_WATER_MARK_BYTES) {
        await new Promise((r) => s.once('drain', r));
        return;
      }
      // The same work per turn as the transport: one buffer per turn (reused once written, as the transport
      // reuses its frame buffers), each payload copied once into it.
      const batch = free.pop() ?? Buffer.allocUnsafeSlow(recordBytes * MESSAGES_PER_TURN);
      for (let i = 0; i < MESSAGES_PER_TURN; i++) {
        batch.writeUInt32LE(payload.length, i * recordBytes);
        batch.set(payload, i * recordBytes + 4);
      }
      s.write(batch, (error) => {
        if (!error) free.push(batch);
      });
      await turn();
    });
  } finally {
    socket?.destroy();
    child.kill('SIGKILL');
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const ws: Result[] = [];
const raw: Result[] = [];
for (let round = 0; round < ROUNDS; round++) {
  raw.push(await benchRaw());
  ws.push(await benchWs());
}
const wsMb = median(ws.map((r) => r.mbPerS));
const rawMb = median(raw.map((r) => r.mbPerS));
const round2 = (x: number): number => Math.round(x * 100) / 100;
console.log(
  JSON.stringify({
    bench: 'ws-throughput',
    msgs_per_s: Math.round(median(ws.map((r) => r.msgsPerS))),
    mb_per_s: round2(wsMb),
    baseline_mb_per_s: round2(rawMb),
    ratio: round2(wsMb / rawMb),
    baseline_msgs_per_s: Math.round(median(raw.map((r) => r.msgsPerS))),
    msg_bytes: payload.length,
    rounds: ROUNDS,
  }),
);
