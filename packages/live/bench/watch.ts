/**
 * `pnpm bench:watch` (a benchmark, not a test): live queries on three node processes (compiled code, fsync
 * on, every leader on node 1, the application test/fixtures/app.ts), driven from this process.
 *
 * 1. SUBSCRIPTIONS subscriptions over USERS users, each on one KV key, served round-robin by the three nodes
 *    (each node's own client; subscribed 500 at a time).
 * 2. Paced: RATE writes/s to random subscribed keys for SECONDS. Per change: notify = the moment its
 *    subscriber received it − the moment the write's acknowledgement reached the writer (the commit, as a
 *    client learns it; 0 when the change arrived first), in this process's clock; also from the write's send.
 * 3. Flat out: FLAT_INFLIGHT writes in flight for FLAT_SECONDS: changes delivered per second.
 * 4. Failover: paced writes again, kill -9 of node 3 (a third of the subscriptions' node), more writes; then
 *    every subscription must have resumed on another node and have seen every acknowledged change of its key
 *    exactly once, in order.
 *
 * Prints {"bench":"watch","subscriptions":N,"events_per_s":E,"notify_p50_ms":P,"notify_p99_ms":Q,…} and
 * {"check":"watch-failover","subscriptions":N,"resumed":R,"gaps":0,"duplicates":0,…}; exits 1 when the check
 * fails. Options (environment): BENCH_WATCH_SUBSCRIPTIONS (10000), BENCH_WATCH_USERS (1000), BENCH_WATCH_RATE
 * (1000), BENCH_WATCH_SECONDS (10), BENCH_WATCH_FLAT_SECONDS (5), BENCH_WATCH_FLAT_INFLIGHT (128),
 * BENCH_BASE_PORT (8300).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlotillaClient, KvMachine, type WatchEvent } from '@flotilla/client';
import { LocalCluster } from '@flotilla/node';
import { LiveQueries, type LiveSubscription } from '../src/index.ts';
import { live } from '../test/fixtures/app.ts';

function intOption(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be an integer ≥ ${min}`);
  return value;
}

const SUBSCRIPTIONS = intOption('BENCH_WATCH_SUBSCRIPTIONS', 10_000);
const USERS = intOption('BENCH_WATCH_USERS', 1_000);
const RATE = intOption('BENCH_WATCH_RATE', 1_000);
const SECONDS = intOption('BENCH_WATCH_SECONDS', 10);
const FLAT_SECONDS = intOption('BENCH_WATCH_FLAT_SECONDS', 5);
const FLAT_INFLIGHT = intOption('BENCH_WATCH_FLAT_INFLIGHT', 128);
const BASE_PORT = intOption('BENCH_BASE_PORT', 8_300);
const NODES = 3;
const KILLED = 3;
/** Paced writes leave in bursts this often. */
const PACE_MS = 10;
/** Subscriptions made at once. */
const SUBSCRIBE_CHUNK = 500;
/** Bounds on the phases that wait for the cluster. */
const RESUME_TIMEOUT_MS = 60_000;
const CATCH_UP_TIMEOUT_MS = 60_000;

const APP = fileURLToPath(new URL('../test/fixtures/app.ts', import.meta.url));
const print = (line: Record<string, unknown>) => console.log(JSON.stringify(line));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

const percentile = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const ms = (n: number) => Number(n.toFixed(2));

interface Subscriber {
  readonly key: string;
  readonly group: string;
  readonly node: number;
  readonly seen: WatchEvent[];
  sub?: LiveSubscription;
}

/** When each write (group/revision) was sent and acknowledged, and when its change was received. */
interface Timing {
  sent: number;
  acked: number;
  received: number;
}

async function until(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

async function main(): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-watch-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const cluster = LocalCluster.start({ nodes: NODES, dir, basePort: BASE_PORT, app: APP, output: 'ignore' });
  const clients = new Map<number, FlotillaClient>();
  try {
    const first = await cluster.connect(30_000);
    await cluster.formed(first);
    first.close();
    for (let id = 1; id <= NODES; id++)
      clients.set(id, await FlotillaClient.connect({ addresses: [cluster.api(id)], timeoutMs: 10_000 }));
    const client = clients.get(1)!;
    await client.refreshTopology();

    const timings = new Map<string, Timing>();
    const subscribers: Subscriber[] = Array.from({ length: SUBSCRIPTIONS }, (_, i) => {
      const key = `u${i % USERS}/k${Math.floor(i / USERS)}`;
      return {
        key,
        group: client.groupOf(KvMachine, { key, shards: 'user' }),
        node: (i % NODES) + 1,
        seen: [],
      };
    });
    const subscribeStarted = performance.now();
    for (let i = 0; i < subscribers.length; i += SUBSCRIBE_CHUNK)
      await Promise.all(
        subscribers.slice(i, i + SUBSCRIBE_CHUNK).map(async (s, j) => {
          const liveQueries = new LiveQueries(clients.get(s.node)!, live);
          s.sub = await liveQueries.subscribe(
            { user: `user-${(i + j) % USERS}`, query: { group: s.group, key: s.key }, node: s.node },
            {
              onChanges: (events) => {
                const now = performance.now();
                for (const e of events) {
                  s.seen.push(e);
                  const id = `${s.group}/${e[0]}`;
                  const t = timings.get(id);
                  // A change may arrive before its write's acknowledgement: the write fills in the rest.
                  if (t === undefined) timings.set(id, { sent: 0, acked: 0, received: now });
                  else if (t.received === 0) t.received = now;
                }
              },
            },
          );
        }),
      );
    const subscribeSeconds = (performance.now() - subscribeStarted) / 1000;

    const acked = new Map<string, number[]>();
    let failedWrites = 0;
    const write = async () => {
      const s = subscribers[Math.floor(Math.random() * subscribers.length)]!;
      const sent = performance.now();
      try {
        const r = await client.execute(KvMachine, s.group, 'put', { key: s.key, value: String(sent) });
        const t = timings.get(`${s.group}/${r.index}`);
        const now = performance.now();
        if (t === undefined) timings.set(`${s.group}/${r.index}`, { sent, acked: now, received: 0 });
        else {
          t.sent = sent;
          t.acked = now;
        }
        const list = acked.get(s.key) ?? [];
        list.push(r.index);
        acked.set(s.key, list);
      } catch {
        failedWrites++;
      }
    };
    const paced = async (seconds: number, during?: () => Promise<void>) => {
      const writes: Promise<void>[] = [];
      const perBurst = Math.max(1, Math.round((RATE * PACE_MS) / 1000));
      const started = performance.now();
      let bursts = 0;
      let extra: Promise<void> | undefined;
      while (performance.now() - started < seconds * 1000) {
        for (let i = 0; i < perBurst; i++) writes.push(write());
        bursts++;
        if (during !== undefined && extra === undefined && performance.now() - started > (seconds * 1000) / 3)
          extra = during();
        const next = started + bursts * PACE_MS;
        await sleep(Math.max(0, next - performance.now()));
      }
      await Promise.all(writes);
      await extra;
      return { writes: writes.length, seconds: (performance.now() - started) / 1000 };
    };
    const delivered = () => subscribers.reduce((n, s) => n + s.seen.length, 0);

    // Warm-up (JIT), then the paced run whose changes are timed.
    await paced(2);
    timings.clear();
    const pacedRun = await paced(SECONDS);
    await sleep(500);
    const notify: number[] = [];
    const fromSend: number[] = [];
    const writeLatency: number[] = [];
    for (const t of timings.values()) {
      if (t.acked === 0 || t.received === 0) continue;
      notify.push(Math.max(0, t.received - t.acked));
      fromSend.push(t.received - t.sent);
      writeLatency.push(t.acked - t.sent);
    }
    for (const a of [notify, fromSend, writeLatency]) a.sort((x, y) => x - y);

    // Flat out: changes delivered per second.
    const deliveredBefore = delivered();
    const flatStarted = performance.now();
    let flatWrites = 0;
    await Promise.all(
      Array.from({ length: FLAT_INFLIGHT }, async () => {
        while (performance.now() - flatStarted < FLAT_SECONDS * 1000) {
          await write();
          flatWrites++;
        }
      }),
    );
    await sleep(500);
    const flatSeconds = (performance.now() - flatStarted) / 1000;
    const eventsPerSecond = Math.round((delivered() - deliveredBefore) / flatSeconds);
    print({
      bench: 'watch',
      subscriptions: SUBSCRIPTIONS,
      events_per_s: eventsPerSecond,
      notify_p50_ms: ms(percentile(notify, 0.5)),
      notify_p99_ms: ms(percentile(notify, 0.99)),
      paced_writes_per_s: Math.round(pacedRun.writes / pacedRun.seconds),
      timed_changes: notify.length,
      notify_from_send_p50_ms: ms(percentile(fromSend, 0.5)),
      notify_from_send_p99_ms: ms(percentile(fromSend, 0.99)),
      write_p50_ms: ms(percentile(writeLatency, 0.5)),
      flat_writes_per_s: Math.round(flatWrites / flatSeconds),
      subscribe_per_s: Math.round(SUBSCRIPTIONS / subscribeSeconds),
    });

    // Failover: kill -9 of node 3 a third into a paced run.
    const served = subscribers.filter((s) => s.node === KILLED);
    let killedAt = 0;
    let resumedMs = 0;
    await paced(SECONDS, async () => {
      killedAt = performance.now();
      await cluster.kill(KILLED);
      await until('every subscription of the killed node resumed', RESUME_TIMEOUT_MS, () =>
        served.every(
          (s) => s.sub!.watch.resumes >= 1 && s.sub!.watch.node !== KILLED && s.sub!.watch.node !== 0,
        ),
      );
      resumedMs = performance.now() - killedAt;
    });
    await until('every subscriber caught up', CATCH_UP_TIMEOUT_MS, () =>
      subscribers.every((s) => (s.sub!.nextRevision ?? 0) > (acked.get(s.key)?.at(-1) ?? 0)),
    );
    let gaps = 0;
    let duplicates = 0;
    let disorder = 0;
    for (const s of subscribers) {
      const revisions = s.seen.map((e) => e[0]);
      if (new Set(revisions).size !== revisions.length) duplicates++;
      if (revisions.some((r, i) => i > 0 && r <= revisions[i - 1]!)) disorder++;
      const got = new Set(revisions);
      if ((acked.get(s.key) ?? []).some((r) => !got.has(r))) gaps++;
    }
    const resumed = served.filter((s) => s.sub!.watch.resumes >= 1).length;
    print({
      check: 'watch-failover',
      subscriptions: SUBSCRIPTIONS,
      resumed,
      of_killed_node: served.length,
      gaps,
      duplicates,
      disorder,
      all_resumed_ms: Math.round(resumedMs),
      failed_writes: failedWrites,
    });
    return gaps === 0 && duplicates === 0 && disorder === 0 && resumed === served.length;
  } finally {
    for (const c of clients.values()) c.close();
    await cluster.stop();
  }
}

process.exitCode = (await main()) ? 0 : 1;
