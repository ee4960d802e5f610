/**
 * Benchmarks of the actor runtime, printed as JSON lines: tell throughput within a thread, tell throughput
 * across threads and ask round trip across threads, each beside the raw postMessage baseline of the same run,
 * and tell throughput to another node through an in-memory bridge. Baseline and actor rounds alternate, so
 * drift in a noisy machine's load hits both alike.
 */
import { Worker } from 'node:worker_threads';
import { ActorSystem, type NodeLinks } from '../src/index.ts';
import { RAW_WORKER_SOURCE } from './raw-worker.ts';
import { Sink, SinkKind } from './sink.ts';

const LOCAL_MESSAGES = 3_000_000;
const LOCAL_BURST = 4_000;
const CROSS_MESSAGES = 500_000;
const CROSS_BURST = 1_000;
/** Bursts in flight: 3 × (1000 tells + 1 ask) stays under the default mailbox capacity of 4096. */
const CROSS_WINDOW_BURSTS = 3;
const RTT_SAMPLES_PER_ROUND = 1_000;
const RTT_WARMUP = 500;
const ROUNDS = 5;

type ActorRefOf = Awaited<ReturnType<typeof spawnSink>>;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const nowUs = () => Number(process.hrtime.bigint()) / 1_000;
const round = (x: number, digits = 0) => Number(x.toFixed(digits));

async function localTell(): Promise<number> {
  const system = await ActorSystem.start({ hosts: 0 });
  const sink = await system.spawn(Sink);
  const rates: number[] = [];
  for (let run = 0; run < ROUNDS; run++) {
    const start = nowUs();
    for (let sent = 0; sent < LOCAL_MESSAGES; sent += LOCAL_BURST) {
      for (let i = 0; i < LOCAL_BURST; i++) system.tell(sink, { type: 'add', n: 1 });
      await undefined; // the dispatcher's microtask drains the burst
    }
    await system.ask(sink, { type: 'count' });
    rates.push(LOCAL_MESSAGES / ((nowUs() - start) / 1e6));
  }
  await system.shutdown();
  return median(rates);
}

/** Two nodes in one process (main threads only): batches cross an in-memory bridge on the next turn. */
async function remoteTell(): Promise<number> {
  const systems = [
    await ActorSystem.start({ hosts: 0, nodeId: 1 }),
    await ActorSystem.start({ hosts: 0, nodeId: 2 }),
  ];
  const links = new Map<number, NodeLinks>();
  systems.forEach((system, i) => {
    const from = i + 1;
    const send = (to: number, batch: Uint8Array) => setImmediate(() => links.get(to)?.receive(from, batch));
    links.set(from, system.connectNodes({ send }));
  });
  const sink = await systems[1]!.spawn(Sink);
  const rates: number[] = [];
  for (let run = 0; run < ROUNDS; run++) rates.push(await crossTellRound(systems[0]!, sink));
  await Promise.all(systems.map((system) => system.shutdown()));
  return median(rates);
}

function spawnSink(system: ActorSystem) {
  return system.spawn(SinkKind, { host: 0 });
}

async function crossTellRound(system: ActorSystem, sink: ActorRefOf): Promise<number> {
  const start = nowUs();
  const inFlight: Promise<number>[] = [];
  for (let sent = 0; sent < CROSS_MESSAGES; sent += CROSS_BURST) {
    for (let i = 0; i < CROSS_BURST; i++) system.tell(sink, { type: 'add', n: 1 });
    inFlight.push(system.ask(sink, { type: 'count' }));
    if (inFlight.length >= CROSS_WINDOW_BURSTS) await inFlight.shift();
  }
  await Promise.all(inFlight);
  return CROSS_MESSAGES / ((nowUs() - start) / 1e6);
}

async function askRound(system: ActorSystem, sink: ActorRefOf, samples: number[]): Promise<void> {
  for (let i = 0; i < RTT_SAMPLES_PER_ROUND; i++) {
    const start = nowUs();
    await system.ask(sink, { type: 'ping' });
    samples.push(nowUs() - start);
  }
}

function nextMessage(worker: Worker): Promise<unknown> {
  return new Promise((resolve) => worker.once('message', resolve));
}

/** One small message per postMessage, to a worker that counts them. */
async function rawTellRound(worker: Worker): Promise<number> {
  worker.postMessage({ type: 'expect', n: CROSS_MESSAGES });
  const done = nextMessage(worker);
  const start = nowUs();
  for (let i = 0; i < CROSS_MESSAGES; i++) worker.postMessage({ type: 'add', n: 1 });
  await done;
  return CROSS_MESSAGES / ((nowUs() - start) / 1e6);
}

async function rawPingRound(worker: Worker, samples: number[]): Promise<void> {
  for (let i = 0; i < RTT_SAMPLES_PER_ROUND; i++) {
    const start = nowUs();
    worker.postMessage({ type: 'ping' });
    await nextMessage(worker);
    samples.push(nowUs() - start);
  }
}

const local = await localTell();
const remote = await remoteTell();

const worker = new Worker(RAW_WORKER_SOURCE, { eval: true });
const system = await ActorSystem.start({ hosts: 1 });
const sink = await spawnSink(system);
for (let i = 0; i < RTT_WARMUP; i++) {
  await system.ask(sink, { type: 'ping' });
  worker.postMessage({ type: 'ping' });
  await nextMessage(worker);
}
const rawRates: number[] = [];
const crossRates: number[] = [];
const rawRtt: number[] = [];
const askRtt: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  rawRates.push(await rawTellRound(worker));
  crossRates.push(await crossTellRound(system, sink));
  await rawPingRound(worker, rawRtt);
  await askRound(system, sink, askRtt);
}
await system.shutdown();
await worker.terminate();

const cross = median(crossRates);
const raw = median(rawRates);
rawRtt.sort((a, b) => a - b);
askRtt.sort((a, b) => a - b);
const p50 = percentile(askRtt, 0.5);
const rawP50 = percentile(rawRtt, 0.5);

console.log(JSON.stringify({ bench: 'actors-local-tell', msgs_per_s: round(local) }));
console.log(
  JSON.stringify({
    bench: 'actors-cross-tell',
    msgs_per_s: round(cross),
    baseline_msgs_per_s: round(raw),
    ratio: round(cross / raw, 2),
  }),
);
console.log(JSON.stringify({ bench: 'actors-remote-tell', msgs_per_s: round(remote) }));
console.log(
  JSON.stringify({
    bench: 'actors-ask-rtt',
    p50_us: round(p50, 1),
    p99_us: round(percentile(askRtt, 0.99), 1),
    baseline_p50_us: round(rawP50, 1),
    ratio: round(p50 / rawP50, 2),
  }),
);
