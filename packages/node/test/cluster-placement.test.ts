import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  eventually,
  kvOf,
  leadersPerNode,
  ProcessCluster,
  statusOf,
  waitForFormation,
} from './process-cluster.ts';

const cluster = new ProcessCluster({
  userShards: 4,
  clusterToml: 'preferred_leaders = [1]\nleader_balance_interval_ms = 200',
});
after(() => cluster.stop());

/** Leaders per node as node `viewer` sees them. */
async function leaderCounts(viewer: number): Promise<Record<number, number>> {
  const client = await cluster.client([viewer]);
  return leadersPerNode(await statusOf(client, cluster.api(viewer)));
}

test('leader preferences: every group moves to the preferred node, away while it is down, and back when it returns', {
  timeout: 120_000,
}, async () => {
  await cluster.start([1, 2, 3]);
  const client = await cluster.client();
  await waitForFormation(cluster, client, [1, 2, 3]);
  const groups = 3 + 4 + 1;

  await eventually('node 1 leads every group', 20_000, async () =>
    (await leaderCounts(2))[1] === groups ? true : undefined,
  );

  await cluster.kill(1);
  const without = await eventually('nodes 2 and 3 lead every group, evenly', 20_000, async () => {
    const counts = await leaderCounts(2);
    const two = counts[2] ?? 0;
    const three = counts[3] ?? 0;
    return two + three === groups && Math.abs(two - three) <= 1 ? counts : undefined;
  });
  assert.equal(without[1], undefined);
  const survivors = await cluster.client([2, 3]);
  assert.equal((await kvOf(survivors).put('during', 'outage')).ok, true);

  cluster.spawn(1);
  await eventually('node 1 leads every group again', 30_000, async () =>
    (await leaderCounts(2))[1] === groups ? true : undefined,
  );
  assert.equal((await kvOf(client).get('during')).value, 'outage');
});
