import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Kv } from '@flotilla/kv';
import { InvalidNodeError } from '@flotilla/node';
import { inProcessCluster } from './helpers.ts';

const cluster = inProcessCluster([1, 2, 3]);
after(() => cluster.stopAll());

test('three in-process nodes form: every catalog group elects a leader', async () => {
  await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
  for (const node of cluster.nodes.values()) await node.waitForClusterFormation(10_000);
  const node1 = cluster.nodes.get(1)!;
  assert.equal(node1.catalog.groups.size, 3 + 4 + 1);
  assert.equal(node1.replicas.size, 8);
});

test('a command sent to any node is forwarded to the leader, committed and readable everywhere', async () => {
  const group = 'user:1';
  for (const [id, node] of cluster.nodes) {
    const result = await new Kv(node.calls).put(`k${id}`, `v${id}`, { group });
    assert.equal(result.previous, null);
  }
  for (const node of cluster.nodes.values()) {
    for (const id of [1, 2, 3]) {
      const read = await new Kv(node.calls).get(`k${id}`, 'linearizable', { group });
      assert.equal(read.value, `v${id}`);
    }
  }
});

test('a node asked to remove itself refuses with a typed error and changes nothing', async () => {
  const node1 = cluster.nodes.get(1)!;
  await assert.rejects(node1.removeNode(1), (error: unknown) => {
    assert.ok(error instanceof InvalidNodeError, String(error));
    assert.equal(error.reason, 'self-removal');
    return true;
  });
  assert.ok(node1.catalog.nodes.has(1));
  const status = await node1.executor.leaderStatus('meta:system');
  assert.ok(
    status.progress.some((p) => p.id === 1),
    'node 1 is still a member of the catalog group',
  );
});
