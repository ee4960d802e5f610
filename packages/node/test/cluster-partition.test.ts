import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { eventually, kvOf, ProcessCluster, statusOf, waitForFormation } from './process-cluster.ts';

const cluster = new ProcessCluster({ userShards: 4 });
after(() => cluster.stop());

test('a minority partition cannot commit, the majority can, and after healing the minority converges', {
  timeout: 120_000,
}, async () => {
  await cluster.start([1, 2, 3]);
  const client = await cluster.client();
  await waitForFormation(cluster, client, [1, 2, 3]);
  const group = 'user:0';
  // Make node 3 the leader of the group, then cut it off from 1 and 2 (both directions, on all nodes).
  await client.transferLeader(group, 3);
  await eventually('node 3 leads user:0', 10_000, async () => {
    const s = await statusOf(client, cluster.api(3));
    return s.groups.find((g) => g.id === group)?.role === 'leader' ? true : undefined;
  });
  await kvOf(client).put('before', 'partition', group);
  await client.injectFaults(cluster.api(3), [1, 2]);
  await client.injectFaults(cluster.api(1), [3]);
  await client.injectFaults(cluster.api(2), [3]);

  // The minority leader cannot commit: the write fails (timeout or lost leadership), it never succeeds.
  const minority = kvOf(client).putAt(cluster.api(3), group, 'minority', 'lost', 2_000);
  await assert.rejects(minority, (error: Error & { code?: string }) =>
    /FLOTILLA_(TIMEOUT|NOT_LEADER|PROPOSAL_DROPPED)/.test(String(error.code)),
  );

  // The majority elects a new leader and commits.
  const majority = await cluster.client([1, 2]);
  const written = await kvOf(majority).put('majority', 'committed', group);
  assert.equal(written.ok, true);
  const s1 = await statusOf(majority, cluster.api(1));
  const leader = s1.groups.find((g) => g.id === group)!.leaderId;
  assert.ok(leader === 1 || leader === 2, `majority leader is ${leader}`);

  // Heal: node 3 steps down, catches up, and never exposes the uncommitted write.
  for (const id of [1, 2, 3]) await client.injectFaults(cluster.api(id), []);
  await eventually('node 3 converged', 15_000, async () => {
    const [mine, theirs] = await Promise.all([
      statusOf(client, cluster.api(3)),
      statusOf(client, cluster.api(leader)),
    ]);
    const m = mine.groups.find((g) => g.id === group)!;
    const t = theirs.groups.find((g) => g.id === group)!;
    return m.role !== 'leader' && m.appliedIndex >= t.commitIndex ? true : undefined;
  });
  const onMinority = (await kvOf(client).readFrom(cluster.api(3), group, 'majority')) as {
    value: string;
  };
  assert.equal(onMinority.value, 'committed');
  const lost = (await kvOf(client).readFrom(cluster.api(3), group, 'minority')) as {
    value: string | null;
  };
  assert.equal(lost.value, null, 'the write made in the minority never took effect');
  assert.equal((await kvOf(majority).get('minority', 'linearizable', group)).value, null);
  assert.equal((await kvOf(majority).get('before', 'linearizable', group)).value, 'partition');
});
