import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { FlotillaClient } from '@flotilla/client';
import {
  eventually,
  kvOf,
  type NodeStatus,
  ProcessCluster,
  statusOf,
  waitForFormation,
} from './process-cluster.ts';

const cluster = new ProcessCluster();
after(() => cluster.stop());

/** Keeps writing unique keys until stopped; remembers every acknowledged write. */
function startWriters(client: FlotillaClient, workers: number) {
  const acked = new Map<string, string>();
  let stop = false;
  let seq = 0;
  let failures = 0;
  const done = Promise.all(
    Array.from({ length: workers }, async () => {
      while (!stop) {
        const key = `k${seq++}`;
        try {
          const r = await kvOf(client).put(key, `v-${key}`);
          if (r.ok) acked.set(key, `v-${key}`);
        } catch {
          failures++;
        }
      }
    }),
  );
  return {
    acked,
    failures: () => failures,
    async stop() {
      stop = true;
      await done;
    },
  };
}

function leadersOf(statuses: readonly NodeStatus[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of statuses) for (const g of s.groups) if (g.role === 'leader') out.set(g.id, s.nodeId);
  return out;
}

test('kill -9 of a leader: new leaders within 1 s, no acknowledged write lost, the node rejoins from its disk', {
  timeout: 120_000,
}, async () => {
  await cluster.start([1, 2, 3]);
  const client = await cluster.client();
  const statuses = await waitForFormation(cluster, client, [1, 2, 3]);
  const leaders = leadersOf(statuses);
  const counts = [1, 2, 3].map((id) => [...leaders.values()].filter((l) => l === id).length);
  const victim = counts.indexOf(Math.max(...counts)) + 1;
  const survivors = [1, 2, 3].filter((id) => id !== victim);
  const led = [...leaders].filter(([, l]) => l === victim).map(([g]) => g);

  const writers = startWriters(client, 16);
  await new Promise((r) => setTimeout(r, 1_000));
  const killedAt = performance.now();
  await cluster.kill(victim, 'SIGKILL');
  const electedAt = await eventually('new leaders on the survivors', 10_000, async () => {
    const now = await Promise.all(survivors.map((id) => statusOf(client, cluster.api(id))));
    for (const g of led) {
      const views = now.map((s) => s.groups.find((x) => x.id === g)!);
      if (views.some((v) => v.leaderId === victim || v.leaderId === 0)) return undefined;
      if (new Set(views.map((v) => v.leaderId)).size !== 1) return undefined;
    }
    return performance.now();
  });
  const failoverMs = electedAt - killedAt;
  console.log(`{"test":"failover","groups_moved":${led.length},"failover_ms":${Math.round(failoverMs)}}`);
  assert.ok(failoverMs < 1_000, `new leaders took ${Math.round(failoverMs)} ms`);

  await new Promise((r) => setTimeout(r, 1_000));
  await writers.stop();
  assert.ok(writers.acked.size > 100, `only ${writers.acked.size} writes acknowledged`);
  for (const [key, value] of writers.acked) {
    const read = await kvOf(client).get(key, 'linearizable');
    assert.equal(read.value, value, `acknowledged write ${key} lost`);
  }

  // The killed node restarts from its own LMDB directory and catches up.
  cluster.spawn(victim);
  await eventually(`node ${victim} caught up`, 20_000, async () => {
    const [mine, theirs] = await Promise.all([
      statusOf(client, cluster.api(victim)),
      statusOf(client, cluster.api(survivors[0]!)),
    ]);
    for (const g of theirs.groups) {
      const m = mine.groups.find((x) => x.id === g.id);
      if (!m || m.appliedIndex < g.commitIndex) return undefined;
    }
    return true;
  });
  let checked = 0;
  for (const [key, value] of writers.acked) {
    if (checked++ > 300) break;
    const read = (await kvOf(client).readFrom(cluster.api(victim), kvOf(client).groupOf(key), key)) as {
      value: string;
    };
    assert.equal(read.value, value, `restarted node misses ${key}`);
  }
});
