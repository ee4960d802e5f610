import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { eventually, kvOf, ProcessCluster, statusOf, waitForFormation } from './process-cluster.ts';

const cluster = new ProcessCluster({
  userShards: 2,
  extraToml: '[raft]\nsnapshot_entries = 100\ncompaction_margin_entries = 10\n',
});
after(() => cluster.stop());

test('a node down long enough to need a snapshot catches up through snapshot transfer', {
  timeout: 120_000,
}, async () => {
  await cluster.start([1, 2, 3]);
  const client = await cluster.client();
  await waitForFormation(cluster, client, [1, 2, 3]);
  const group = 'user:1';
  await cluster.kill(3);
  const survivors = await cluster.client([1, 2]);
  const writes = 600;
  for (let i = 0; i < writes; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, j) => kvOf(survivors).put(`k${i + j}`, `v${i + j}`, group)),
    );
  }
  // The leader compacted its log past everything node 3 has.
  const compacted = await eventually('leader compaction', 10_000, async () => {
    const statuses = await Promise.all([1, 2].map((id) => statusOf(survivors, cluster.api(id))));
    const leader = statuses.flatMap((s) => s.groups).find((g) => g.id === group && g.role === 'leader');
    return leader && leader.firstIndex > 100 ? leader : undefined;
  });
  cluster.spawn(3);
  const caughtUp = await eventually('node 3 caught up', 20_000, async () => {
    const s = await statusOf(client, cluster.api(3));
    const g = s.groups.find((x) => x.id === group);
    return g && g.appliedIndex >= compacted.commitIndex ? s : undefined;
  });
  assert.ok(caughtUp.counters.snapshotsReceived! >= 1, 'node 3 received a snapshot');
  for (const i of [0, 123, 599]) {
    const read = await kvOf(client).readFrom(cluster.api(3), group, `k${i}`);
    assert.equal(read.value, `v${i}`);
  }
  // And it keeps replicating normally after the snapshot.
  await kvOf(survivors).put('after', 'snapshot', group);
  await eventually('node 3 replicates after the snapshot', 10_000, async () => {
    const read = (await kvOf(client).readFrom(cluster.api(3), group, 'after')) as {
      value: string | null;
    };
    return read.value === 'snapshot' ? true : undefined;
  });
});
