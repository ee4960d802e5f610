import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { eventually, kvOf, ProcessCluster, waitForFormation } from './process-cluster.ts';

const cluster = new ProcessCluster();
after(() => cluster.stop());

test('three processes form a cluster: all 36 groups elect a leader and every write reaches every replica', {
  timeout: 90_000,
}, async () => {
  await cluster.start([1, 2, 3]);
  const client = await cluster.client();
  const statuses = await waitForFormation(cluster, client, [1, 2, 3]);
  assert.equal(statuses[0]!.groups.length, 36);
  const ids = new Set(statuses[0]!.groups.map((g) => g.id));
  for (const id of ['meta:system', 'meta:users', 'meta:jobs', 'shared:0', 'user:0', 'user:31'])
    assert.ok(ids.has(id), id);

  // One write per group (meta:users and the shards), through the client.
  const groups = [...ids].filter((g) => g !== 'meta:system');
  const acked = await Promise.all(groups.map((g, i) => kvOf(client).put(`key-${i}`, `value-${i}`, g)));
  assert.ok(acked.every((r) => r.ok));
  // Every replica applies every write: each node's own state machine (a stale read there) has every value.
  for (const id of [1, 2, 3]) {
    await eventually(`replica ${id} applied every write`, 10_000, async () => {
      for (const [i, g] of groups.entries()) {
        const read = await kvOf(client).readFrom(cluster.api(id), g, `key-${i}`);
        if (read.value !== `value-${i}`) return undefined;
      }
      return true;
    });
  }
  for (const [i, g] of groups.entries()) {
    const read = await kvOf(client).get(`key-${i}`, 'linearizable', g);
    assert.equal(read.value, `value-${i}`);
  }
});
