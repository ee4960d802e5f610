/**
 * Jobs on three real processes: 10,000 jobs through a kill -9 of a jobs leader (every job completes once,
 * none lost, the external ledger holds each job's effect under the token of its accepted completion); a
 * worker paused past its lease (the job runs elsewhere; the paused attempt's report or write is refused).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { eventually, ProcessCluster, waitForFormation } from '../../node/test/process-cluster.ts';
import { type JobRecord, Jobs } from '../src/index.ts';
import { APP, leaderOf } from './cluster-helpers.ts';
import { jobs as definition, Slow, Work } from './fixtures/app.ts';
import { Ledger } from './ledger.ts';

const JOBS = 10_000;

const cluster = new ProcessCluster({ userShards: 2, extraToml: `[app]\nmodule = "${APP}"\n` });
let ledger: Ledger | undefined;
after(async () => {
  await cluster.stop();
  await ledger?.close();
});

/** Every job of `ids`, by id, read from its group (bounded retries while leaders move). */
async function records(jobs: Jobs, ids: readonly string[]): Promise<Map<string, JobRecord>> {
  const out = new Map<string, JobRecord>();
  for (const state of ['completed', 'dead', 'waiting', 'active', 'delayed'] as const) {
    const list = await jobs.list('work', state, 1_000_000);
    for (const r of list) out.set(r.id, r);
  }
  for (const id of ids)
    if (!out.has(id)) {
      const r = await jobs.get(id);
      if (r) out.set(id, r);
    }
  return out;
}

test('jobs on three processes: a jobs leader killed under 10,000 jobs; a worker paused past its lease', {
  timeout: 300_000,
}, async (t) => {
  ledger = await Ledger.start();
  process.env.JOBS_LEDGER_URL = ledger.url;
  await cluster.start([1, 2, 3]);
  const client = await cluster.client([1, 2, 3], 8_000);
  await waitForFormation(cluster, client, [1, 2, 3]);
  const jobs = new Jobs(client, definition);
  await jobs.ready();

  await t.test('kill -9 of a jobs leader while 10,000 jobs run: each completes once, none lost', async () => {
    const started = performance.now();
    const ids: string[] = [];
    const enqueuing = (async () => {
      for (let i = 0; i < JOBS; i += 1_000) {
        const batch = Array.from({ length: Math.min(1_000, JOBS - i) }, (_, k) => ({
          type: Work,
          input: { n: i + k, sleepMs: (i + k) % 7 },
        }));
        ids.push(...(await jobs.enqueueBulk(batch)));
      }
    })();
    // Mid-run: kill the node leading jobs:0, then bring it back.
    await eventually('a third of the jobs done', 60_000, async () => {
      const s = await jobs.summary();
      return s.stats.completed >= JOBS / 3 ? true : undefined;
    });
    const victim = await leaderOf(cluster, client, 'jobs:0');
    assert.ok(victim > 0);
    await cluster.kill(victim);
    const killedAt = performance.now();
    await enqueuing;
    cluster.spawn(victim);
    const done = await eventually('every job finished', 180_000, async () => {
      const s = await jobs.summary();
      const c = s.queues.work!.counts;
      return c.completed + c.dead === JOBS ? s : undefined;
    });
    const all = await records(jobs, ids);
    assert.equal(all.size, JOBS, 'no job lost');
    const dead = [...all.values()].filter((r) => r.state !== 'completed');
    assert.deepEqual(
      dead.map((r) => [r.id, r.state, r.errors]),
      [],
      'every job completed',
    );
    assert.equal(ledger!.entries.size, JOBS, 'every effect is in the ledger');
    let mismatched = 0;
    for (const r of all.values()) if (ledger!.entries.get(r.id)?.token !== r.lastToken) mismatched++;
    assert.equal(mismatched, 0, 'each effect stands under the token of the accepted completion');
    console.log(
      JSON.stringify({
        test: 'jobs-leader-kill',
        jobs: JOBS,
        victim,
        seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
        after_kill_s: Number(((performance.now() - killedAt) / 1000).toFixed(1)),
        stats: done.stats,
        ledger_writes: ledger!.writes,
        ledger_refused: ledger!.refused,
      }),
    );
  });

  await t.test(
    'a worker paused (SIGSTOP) past its lease: the job runs elsewhere; the paused attempt is refused',
    async () => {
      // A slow job; find which node runs it, pause that node past the lease (1.5 s), and let it resume.
      const id = await jobs.enqueue(Slow, { ms: 2_500 });
      const first = await eventually('the slow job claimed', 20_000, async () => {
        const r = await jobs.get(id);
        return r?.state === 'active' && r.lastWorker ? r : undefined;
      });
      const node = Number(first.lastWorker!.split('/')[0]);
      const group = id.slice(id.indexOf('@') + 1);
      const leader = await leaderOf(cluster, client, `jobs:${group}`);
      if (leader === node) {
        // The paused node must not lead the job's group (its dispatcher would pause with it): move it.
        const other = cluster.members.find((m) => m !== node)!;
        await client.transferLeader(`jobs:${group}`, other);
      }
      const before = (await jobs.summary()).stats;
      const stopped = cluster.processes.get(node)!;
      process.kill(stopped.pid!, 'SIGSTOP');
      try {
        const moved = await eventually('the job ran on another node', 30_000, async () => {
          const r = await jobs.get(id);
          return r?.state === 'completed' ? r : undefined;
        });
        assert.notEqual(Number(moved.lastWorker!.split('/')[0]), node);
        assert.ok(moved.attemptsMade >= 2);
      } finally {
        process.kill(stopped.pid!, 'SIGCONT');
      }
      // The paused attempt resumes and finishes: its write or its report must be refused, never accepted.
      await new Promise((r) => setTimeout(r, 4_000));
      const after = (await jobs.summary()).stats;
      const final = (await jobs.get(id))!;
      assert.equal(final.state, 'completed');
      assert.equal(ledger!.entries.get(id)?.token, final.lastToken, 'the effect is the accepted attempt’s');
      const refusals = after.staleRefused - before.staleRefused + (after.leasesLost - before.leasesLost);
      console.log(
        JSON.stringify({
          test: 'jobs-sigstop-worker',
          node,
          stale_refused: after.staleRefused - before.staleRefused,
          leases_lost: after.leasesLost - before.leasesLost,
          ledger_refused: ledger!.refused,
        }),
      );
      assert.ok(refusals >= 1 || ledger!.refused >= 1, 'the paused attempt was refused');
    },
  );
});
