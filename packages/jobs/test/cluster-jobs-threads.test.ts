/**
 * Jobs with worker pools on host threads: the thread running a job dies (process.exit in the worker) — the
 * job is retried (its claim recovered when the pool's death is seen or its lease ends) and completes.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { eventually, ProcessCluster, statusOf, waitForFormation } from '../../node/test/process-cluster.ts';
import { Jobs, JobsMachine } from '../src/index.ts';
import { APP } from './cluster-helpers.ts';
import { jobs as definition, Slow } from './fixtures/app.ts';
import { Ledger } from './ledger.ts';

const cluster = new ProcessCluster({
  userShards: 2,
  extraToml: `[app]\nmodule = "${APP}"\n\n[hosts]\nthreads = 1\n\n[storage]\nlog = "lmdb"\n`,
});
let ledger: Ledger | undefined;
after(async () => {
  await cluster.stop();
  await ledger?.close();
});

test('a host thread dying mid-job: the job is retried and completes', { timeout: 180_000 }, async () => {
  ledger = await Ledger.start();
  process.env.JOBS_LEDGER_URL = ledger.url;
  await cluster.start([1, 2, 3]);
  const client = await cluster.client([1, 2, 3], 8_000);
  await waitForFormation(cluster, client, [1, 2, 3]);
  const jobs = new Jobs(client, definition);
  await jobs.ready(60_000);
  const id = await jobs.enqueue(Slow, { ms: 4_000 });
  const first = await eventually('the job claimed', 30_000, async () => {
    const r = await jobs.get(id);
    return r?.state === 'active' && r.lastWorker ? r : undefined;
  });
  const node = Number(first.lastWorker!.split('/')[0]);
  const before = (await statusOf(client, cluster.api(node))).counters.restarts!;
  // Every actor of the node but the main thread's lives on host thread 0: the pool dies with it.
  const faultAt = Date.now();
  await client.injectActorFault(cluster.api(node), 'jobs:0', 'exit-thread');
  await eventually('host thread replaced', 20_000, async () => {
    const s = await statusOf(client, cluster.api(node));
    return s.counters.restarts! > before ? true : undefined;
  });
  const done = await eventually('the job completed on a second attempt', 60_000, async () => {
    const r = await jobs.get(id);
    return r?.state === 'completed' ? r : undefined;
  });
  assert.ok(done.attemptsMade >= 2, `attempts ${done.attemptsMade}`);
  assert.equal(ledger.entries.get(id)?.token, done.lastToken);
  // The node's pool came back with its thread (re-spawned, it registered again).
  await eventually('the pool of the node registered again', 20_000, async () => {
    const workers = await client.query(JobsMachine, 'jobs:0', 'workers', {}, { consistency: 'linearizable' });
    return workers.some((w) => w.node === node && w.queue === 'slow' && w.registeredAt >= faultAt)
      ? true
      : undefined;
  });
  console.log(
    JSON.stringify({
      test: 'jobs-host-thread-death',
      node,
      first: first.lastWorker,
      last: done.lastWorker,
      attempts: done.attemptsMade,
    }),
  );
});
