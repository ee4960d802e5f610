import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { eventually, kvOf, ProcessCluster, statusOf, waitForFormation } from './process-cluster.ts';

const cluster = new ProcessCluster({ userShards: 4, extraToml: '[hosts]\nthreads = 1\n' });
after(() => cluster.stop());

test('group actors on a host thread: a failed replica and a dead host thread restart from LMDB, no write lost', {
  timeout: 120_000,
}, async () => {
  await cluster.start([1, 2, 3]);
  const client = await cluster.client();
  await waitForFormation(cluster, client, [1, 2, 3]);
  const group = 'user:2';
  // A watch on every node's replica (host-thread replicas publish their changes through the router): each
  // must see every write once, in order, through the crash of a replica and the death of a host thread.
  const seen = new Map<number, [number, string][]>();
  const watches = [1, 2, 3].map((node) => {
    seen.set(node, []);
    return client.watch(
      { group, prefix: '', node },
      { onEvents: (events) => seen.get(node)!.push(...events.map((e): [number, string] => [e[0], e[1]])) },
    );
  });
  await eventually('watches live', 10_000, async () =>
    watches.every((w) => w.node !== 0) ? true : undefined,
  );
  const acked = new Map<string, string>();
  const write = async (n: number, prefix: string) => {
    for (let i = 0; i < n; i++) {
      const key = `${prefix}${i}`;
      if ((await kvOf(client).put(key, `v-${key}`, group)).ok) acked.set(key, `v-${key}`);
    }
  };
  await write(50, 'a');
  const s1 = await statusOf(client, cluster.api(1));
  const leader = s1.groups.find((g) => g.id === group)!.leaderId;

  // The leader's replica actor fails: its supervisor restarts it, and it reloads its state from storage.
  const crashed = (await client.injectActorFault(cluster.api(leader), group, 'crash-actor')) as {
    slot: number;
  };
  assert.equal(crashed.slot, 0, 'the replica lives on host thread 0, not on the main thread');
  await write(50, 'b');
  const restarted = await eventually('restart counted', 10_000, async () => {
    const s = await statusOf(client, cluster.api(leader));
    return s.counters.restarts! >= 1 ? s : undefined;
  });
  assert.ok(restarted.groups.some((g) => g.id === group));

  // The whole host thread of a follower dies (process.exit in the worker): the root supervisor replaces it
  // and re-spawns every replica it held.
  const follower = [1, 2, 3].find((id) => id !== leader)!;
  const before = (await statusOf(client, cluster.api(follower))).counters.restarts!;
  await client.injectActorFault(cluster.api(follower), group, 'exit-thread');
  await eventually('host thread replaced', 15_000, async () => {
    const s = await statusOf(client, cluster.api(follower));
    return s.counters.restarts! > before && s.groups.length === 3 + 4 + 1 ? true : undefined;
  });
  await write(50, 'c');
  for (const [key, value] of acked)
    assert.equal((await kvOf(client).get(key, 'linearizable', group)).value, value, key);
  // The follower's restarted replica caught up from its own disk plus the leader.
  await eventually('follower replica caught up', 15_000, async () => {
    const r = (await kvOf(client).readFrom(cluster.api(follower), group, 'c49')) as {
      value: string | null;
    };
    return r.value === 'v-c49' ? true : undefined;
  });
  assert.equal(acked.size, 150);
  for (const [node, events] of seen) {
    await eventually(`node ${node}'s watch saw every write`, 15_000, async () =>
      new Set(events.map((e) => e[1])).size >= acked.size ? true : undefined,
    );
    const keys = events.map((e) => e[1]);
    assert.equal(new Set(keys).size, keys.length, `node ${node}: no change delivered twice`);
    assert.ok(
      events.every((e, i) => i === 0 || e[0] > events[i - 1]![0]),
      `node ${node}: in log order`,
    );
    for (const key of acked.keys()) assert.ok(keys.includes(key), `node ${node} missed ${key}`);
  }
  for (const w of watches) w.close();
});
