import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { InvalidNodeError } from '@flotilla/node';
import { eventually, kvOf, ProcessCluster, statusOf, waitForFormation } from './process-cluster.ts';

const cluster = new ProcessCluster({ userShards: 4 });
after(() => cluster.stop());

test('add a fourth node and remove one under load; addNode refuses each invalid request with a typed error', {
  timeout: 180_000,
}, async () => {
  await cluster.start([1, 2, 3], { join: [4] });
  const client = await cluster.client([1, 2, 3], 10_000);
  await waitForFormation(cluster, client, [1, 2, 3]);

  // Each validation error of addNode, with its reason.
  const refusals: [Record<string, unknown>, string][] = [
    [{ id: 0, rpc: cluster.rpc(4), api: cluster.api(4) }, 'bad-id'],
    [{ id: -3, rpc: cluster.rpc(4), api: cluster.api(4) }, 'bad-id'],
    [{ id: 4, rpc: '', api: cluster.api(4) }, 'missing-rpc-address'],
    [{ id: 4, rpc: cluster.rpc(4), api: '' }, 'missing-api-address'],
    [{ id: 2, rpc: cluster.rpc(2), api: cluster.api(2) }, 'already-member'],
    [{ id: 4, rpc: cluster.rpc(2), api: cluster.api(4) }, 'address-in-use'],
    [{ id: 4, rpc: cluster.rpc(4), api: cluster.api(3) }, 'address-in-use'],
  ];
  for (const [node, reason] of refusals) {
    await assert.rejects(client.addNode(node as never), (error: unknown) => {
      assert.ok(error instanceof InvalidNodeError, `${reason}: ${String(error)}`);
      assert.equal(error.reason, reason);
      return true;
    });
  }

  // Load while the membership changes: every acknowledged write must survive.
  const acked = new Map<string, string>();
  let stop = false;
  let seq = 0;
  const load = Promise.all(
    Array.from({ length: 8 }, async () => {
      while (!stop) {
        const key = `m${seq++}`;
        const r = await kvOf(client)
          .put(key, `v-${key}`)
          .catch(() => undefined);
        if (r?.ok) acked.set(key, `v-${key}`);
      }
    }),
  );

  try {
    await changeMembershipUnderLoad();
  } finally {
    stop = true; // a failed step must not leave the writers running (they would keep the test alive)
    await load;
  }
  assert.ok(acked.size > 50, `only ${acked.size} writes acknowledged under load`);
  await checkNothingLost();

  async function changeMembershipUnderLoad(): Promise<void> {
    const added = (await client.addNode({ id: 4, rpc: cluster.rpc(4), api: cluster.api(4) }, 120_000)) as {
      groups: number;
    };
    assert.equal(added.groups, 3 + 4 + 1);
    const withFour = await eventually('node 4 votes in every group', 20_000, async () => {
      const s = await statusOf(client, cluster.api(1));
      return s.groups.every((g) => g.voters.includes(4)) ? s : undefined;
    });
    assert.equal(withFour.groups.length, 8);

    const removed = (await client.removeNode(1, 120_000)) as { groups: number };
    assert.equal(removed.groups, 8);
    // Node 1 learns it was removed (its peers close its links saying so) and stops by itself.
    await eventually('node 1 stopped by itself', 20_000, async () =>
      cluster.processes.get(1)!.exitCode === 0 ? true : undefined,
    );
    await eventually('node 1 left every group', 20_000, async () => {
      const s = await statusOf(client, cluster.api(2));
      return s.groups.every(
        (g) => !g.voters.includes(1) && g.voters.length === 3 && g.leaderId !== 1 && g.leaderId !== 0,
      )
        ? true
        : undefined;
    });
  }

  async function checkNothingLost(): Promise<void> {
    const remaining = await cluster.client([2, 3, 4], 10_000);
    for (const [key, value] of acked)
      assert.equal((await kvOf(remaining).get(key)).value, value, `lost ${key}`);
    // The new node holds the data too.
    const sample = [...acked.keys()].slice(0, 50);
    await eventually('node 4 applied everything', 15_000, async () => {
      for (const key of sample) {
        const r = (await kvOf(remaining).readFrom(cluster.api(4), kvOf(remaining).groupOf(key), key)) as {
          value: string | null;
        };
        if (r.value !== acked.get(key)) return undefined;
      }
      return true;
    });
  }
});
