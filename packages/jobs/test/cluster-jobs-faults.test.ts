/**
 * Jobs under faults on three real processes: the leader of a jobs group cut off by a partition while jobs
 * run (its claims never take effect, its workers' late reports are refused; each job's effect stands under
 * its accepted token), and a cron schedule that fires exactly once per occurrence across five leader changes
 * and a restart of the whole cluster.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { FlotillaClient } from '@flotilla/client';
import { ShardRouter } from '@flotilla/core';
import { eventually, ProcessCluster, waitForFormation } from '../../node/test/process-cluster.ts';
import { type JobRecord, Jobs, partitionsOf } from '../src/index.ts';
import { APP, leaderOf } from './cluster-helpers.ts';
import { jobs as definition, Work } from './fixtures/app.ts';
import { Ledger } from './ledger.ts';

const cluster = new ProcessCluster({ userShards: 2, extraToml: `[app]\nmodule = "${APP}"\n` });
let ledger: Ledger | undefined;
after(async () => {
  await cluster.stop();
  await ledger?.close();
});

async function heal(client: FlotillaClient): Promise<void> {
  for (const id of cluster.members) await client.injectFaults(cluster.api(id), []).catch(() => {});
}

test('jobs under a partition of a jobs leader, and a schedule across leader changes and a full restart', {
  timeout: 300_000,
}, async (t) => {
  ledger = await Ledger.start();
  process.env.JOBS_LEDGER_URL = ledger.url;
  await cluster.start([1, 2, 3]);
  let client = await cluster.client([1, 2, 3], 8_000);
  await waitForFormation(cluster, client, [1, 2, 3]);
  let jobs = new Jobs(client, definition);
  await jobs.ready();

  await t.test(
    'the leader of jobs:0 cut off mid-run: nothing it claims after counts; every job once',
    async () => {
      const victim = await eventually(
        'jobs:0 led',
        10_000,
        async () => (await leaderOf(cluster, client, 'jobs:0')) || undefined,
      );
      const others = cluster.members.filter((m) => m !== victim);
      const ids = await jobs.enqueueBulk(
        Array.from({ length: 2_000 }, (_, n) => ({ type: Work, input: { n, sleepMs: 20 } })),
      );
      await eventually('jobs running', 30_000, async () =>
        (await jobs.summary()).stats.completed > 200 ? true : undefined,
      );
      // Cut the victim off both ways (its links to the others drop every frame).
      await client.injectFaults(cluster.api(victim), others);
      for (const o of others) await client.injectFaults(cluster.api(o), [victim]);
      const cutAt = performance.now();
      // The majority elects a new leader of jobs:0 and recovers the victim's claims when their leases end.
      client.close();
      client = await cluster.client(others, 8_000);
      jobs = new Jobs(client, definition);
      const newLeader = await eventually('a new leader of jobs:0', 20_000, async () => {
        const l = await leaderOf(cluster, client, 'jobs:0');
        return l !== 0 && l !== victim ? l : undefined;
      });
      await new Promise((r) => setTimeout(r, 4_000)); // past the 3 s lease, while the victim's side keeps trying
      await heal(client);
      const healedAt = performance.now();
      const done = await eventually('every job finished', 120_000, async () => {
        const s = await jobs.summary();
        const c = s.queues.work!.counts;
        return c.completed + c.dead >= 2_000 ? s : undefined;
      });
      const records: JobRecord[] = await jobs.list('work', 'completed', 1_000_000);
      const mine = new Map(records.filter((r) => ids.includes(r.id)).map((r) => [r.id, r]));
      assert.equal(mine.size, 2_000, 'every job completed');
      let mismatched = 0;
      for (const r of mine.values()) if (ledger!.entries.get(r.id)?.token !== r.lastToken) mismatched++;
      assert.equal(mismatched, 0, 'each effect stands under its accepted token');
      console.log(
        JSON.stringify({
          test: 'jobs-partitioned-leader',
          victim,
          new_leader: newLeader,
          cut_s: Number(((healedAt - cutAt) / 1000).toFixed(1)),
          stats: done.stats,
          ledger_refused: ledger!.refused,
        }),
      );
    },
  );

  await t.test(
    'a schedule fires exactly once per occurrence across 5 leader changes and a full restart',
    async () => {
      const id = 'every-second';
      const settings = definition.queues.get('cron')!;
      const shard = new ShardRouter('jobs', partitionsOf(settings, definition.groups)).shardOf(
        `schedule\u0000${id}`,
      );
      const group = `jobs:${shard}`;
      await jobs.schedule({
        id,
        queue: 'cron',
        name: 'tick',
        payload: null,
        cron: '* * * * * *',
        missed: 'all',
        overlap: 'allow',
      });
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 1_500));
        const leader = await eventually(
          `${group} led`,
          10_000,
          async () => (await leaderOf(cluster, client, group)) || undefined,
        );
        const to = cluster.members.find((m) => m !== leader)!;
        await client.transferLeader(group, to).catch(() => {});
        await eventually(`${group} moved to ${to}`, 10_000, async () =>
          (await leaderOf(cluster, client, group)) === to ? true : undefined,
        );
      }
      await new Promise((r) => setTimeout(r, 1_500));
      // The whole cluster down at once, then back from its disks.
      client.close();
      for (const m of cluster.members) await cluster.kill(m);
      await new Promise((r) => setTimeout(r, 3_000));
      for (const m of cluster.members) cluster.spawn(m);
      client = await cluster.client(cluster.members, 8_000);
      await waitForFormation(cluster, client, cluster.members);
      jobs = new Jobs(client, definition);
      await jobs.ready(60_000);
      await new Promise((r) => setTimeout(r, 3_000));
      await jobs.unschedule(id);
      const fired = await eventually('the occurrences ran', 30_000, async () => {
        const all: JobRecord[] = [];
        for (const state of ['completed', 'waiting', 'active'] as const)
          all.push(...(await jobs.list('cron', state, 100_000)));
        const mine = all.filter((r) => r.scheduleId === id);
        return mine.every((r) => r.state === 'completed') && mine.length > 0 ? mine : undefined;
      });
      const times = fired
        .map((r) => Number(r.id.slice(id.length + 1, r.id.indexOf('@'))))
        .sort((a, b) => a - b);
      assert.equal(new Set(times).size, times.length, 'no occurrence enqueued twice');
      for (let i = 1; i < times.length; i++)
        assert.equal(times[i]! - times[i - 1]!, 1_000, `no occurrence missed near ${times[i]}`);
      console.log(
        JSON.stringify({
          test: 'jobs-cron-exactly-once',
          occurrences: times.length,
          first: times[0],
          last: times.at(-1),
        }),
      );
      assert.ok(times.length >= 12, `ran ${times.length} occurrences`);
    },
  );
});
