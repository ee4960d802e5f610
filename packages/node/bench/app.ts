/**
 * `pnpm bench:app` (a benchmark, not a test): the application API's cost on the write path, and actor
 * messages between processes against raw WebSocket messages, each pair measured in the same run.
 *
 * 1. Three node processes (compiled, fsync on, leaders on node 1), 32 KV shards and 32 entity shards: a typed
 *    entity command (`client.entity(Register, id).set(…)`) against the KV put of the same value, at 1 and
 *    256 in flight, KV before and after the entity run (their mean is the baseline). One line per level:
 *    {"bench":"app-vs-kv","inflight":C,"ops_per_s":N,"kv_ops_per_s":K,"ratio":R}
 * 2. `remote-tell.ts`: {"bench":"remote-tell","msgs_per_s":N,"raw_msgs_per_s":W,"ratio":R}
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FlotillaClient, Kv } from '@flotilla/client';
import { LocalCluster } from '@flotilla/node';
import { Register } from './app-fixture.ts';

const LEVELS = (process.env.BENCH_LEVELS ?? '1,256').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const VALUE = 'x'.repeat(100);
/** Bound on waiting for every leader to move to node 1 (the balancer moves a few groups per second). */
const PLACEMENT_TIMEOUT_MS = 60_000;
/** Distinct keys (and entity ids) written: enough to spread over every shard. */
const KEYS = 10_000;

async function rate(
  inflight: number,
  seconds: number,
  write: (i: number) => Promise<unknown>,
): Promise<number> {
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  let done = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (performance.now() < until) {
        await write(next++ % KEYS);
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

/** Waits (bounded) until node 1 leads every group: the placement both runs are measured in. */
async function placedOnNode1(client: FlotillaClient): Promise<void> {
  const deadline = performance.now() + PLACEMENT_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const leaders = Object.values((await client.refreshTopology()).leaders);
    if (leaders.length > 0 && leaders.every((l) => l === 1)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  console.log(JSON.stringify({ bench: 'app-vs-kv', warning: 'leaders not all on node 1; measuring anyway' }));
}

async function measure(client: FlotillaClient): Promise<void> {
  const kv = new Kv(client);
  const put = (i: number) => kv.put(`k${i}`, VALUE);
  const set = (i: number) => client.entity(Register, `r${i}`).set({ value: VALUE });
  await rate(64, WARMUP_SECONDS, put);
  await rate(64, WARMUP_SECONDS, set);
  for (const inflight of LEVELS) {
    const kvBefore = await rate(inflight, SECONDS, put);
    const app = await rate(inflight, SECONDS, set);
    const kvAfter = await rate(inflight, SECONDS, put);
    const baseline = (kvBefore + kvAfter) / 2;
    console.log(
      JSON.stringify({
        bench: 'app-vs-kv',
        inflight,
        ops_per_s: Math.round(app),
        kv_ops_per_s: Math.round(baseline),
        kv_runs: [Math.round(kvBefore), Math.round(kvAfter)],
        ratio: Number((app / baseline).toFixed(2)),
      }),
    );
  }
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-app-'));
const cluster = LocalCluster.start({
  nodes: 3,
  dir,
  basePort: Number(process.env.BENCH_BASE_PORT ?? 7800),
  app: fileURLToPath(new URL('./app-fixture.ts', import.meta.url)),
  output: 'ignore',
});
try {
  const client = await cluster.connect(10_000);
  await cluster.formed(client);
  await placedOnNode1(client);
  await measure(client);
  client.close();
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}

execFileSync(
  process.execPath,
  ['--conditions=source', '--import', 'tsx', fileURLToPath(new URL('./remote-tell.ts', import.meta.url))],
  { stdio: 'inherit' },
);
