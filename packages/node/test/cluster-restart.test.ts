import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { kvOf, ProcessCluster, waitForFormation } from './process-cluster.ts';

const cluster = new ProcessCluster({ userShards: 8 });
after(() => cluster.stop());

test('restart the whole cluster from disk: every acknowledged write is still there', {
  timeout: 120_000,
}, async () => {
  await cluster.start([1, 2, 3]);
  let client = await cluster.client();
  await waitForFormation(cluster, client, [1, 2, 3]);
  const acked = new Map<string, string>();
  await Promise.all(
    Array.from({ length: 16 }, async (_, w) => {
      for (let i = 0; i < 40; i++) {
        const key = `r${w}-${i}`;
        if ((await kvOf(client).put(key, `v${i}`)).ok) acked.set(key, `v${i}`);
      }
    }),
  );
  client.close();
  // Every process dies at once (kill -9: no graceful handover, no flush beyond what was acknowledged).
  await Promise.all([1, 2, 3].map((id) => cluster.kill(id)));
  for (const id of [1, 2, 3]) cluster.spawn(id);
  client = await cluster.client();
  await waitForFormation(cluster, client, [1, 2, 3]);
  assert.equal(acked.size, 640);
  for (const [key, value] of acked) assert.equal((await kvOf(client).get(key)).value, value, `lost ${key}`);
});
