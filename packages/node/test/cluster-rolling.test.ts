/**
 * A rolling deploy of new code: a node without the application's code refuses the replicas of its kinds
 * (naming the kind) and keeps serving the rest; callers reach those groups through the other nodes; once it
 * restarts with the code it runs those replicas and catches up.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FlotillaClient, Kv, UnknownKindError } from '@flotilla/client';
import { Counter } from './fixtures/app.ts';
import { eventually, ProcessCluster, statusOf, waitForFormation } from './process-cluster.ts';

const APP = fileURLToPath(new URL('./fixtures/app.ts', import.meta.url));
/** Node 3 runs the old code (no application) until it is restarted with it. */
let node3HasApp = false;
const cluster = new ProcessCluster({
  userShards: 4,
  nodeToml: (id) => (id !== 3 || node3HasApp ? `[app]\nmodule = "${APP}"\n` : ''),
});
after(() => cluster.stop());

interface RefusingStatus {
  readonly refused: readonly { group: string; kind: string; reason: string }[];
  readonly groups: readonly { id: string; appliedIndex: number; commitIndex: number; role: string }[];
}

test('a node without the code of a kind refuses its replicas, serves the rest, and runs them once deployed', {
  timeout: 120_000,
}, async () => {
  await cluster.start([1, 2, 3]);
  const client = await cluster.client([1, 2, 3], 6_000);
  await waitForFormation(cluster, client, [1, 2, 3], 30_000);

  const status3 = (await statusOf(client, cluster.api(3))) as unknown as RefusingStatus;
  const refused = status3.refused.find((r) => r.group === 'counter:0');
  assert.ok(refused, JSON.stringify(status3.refused));
  assert.equal(refused.kind, 'counter');
  assert.match(refused.reason, /no machine kind "counter" is registered here/);
  assert.ok(!status3.groups.some((g) => g.id === 'counter:0'), 'no replica of counter:0 on node 3');
  assert.ok(
    status3.groups.some((g) => g.id === 'user:0'),
    'node 3 serves the kinds it has',
  );

  // Through node 3 only: the KV works there; the counter is refused with the kind named, and the client
  // (which learns the other nodes from the topology) reaches it through them.
  const via3 = await FlotillaClient.connect({ addresses: [cluster.api(3)], timeoutMs: 6_000 });
  try {
    await new Kv(via3.at(cluster.api(3))).put('rolling', 'yes');
    await assert.rejects(
      via3.at(cluster.api(3)).execute(Counter, 'counter:0', 'add', { key: 'r', by: 1 }),
      (e: unknown) => e instanceof UnknownKindError && e.kind === 'counter',
    );
    for (let i = 0; i < 20; i++) await via3.execute(Counter, 'counter:0', 'add', { key: 'r', by: 1 });
    assert.equal(await via3.query(Counter, 'counter:0', 'get', { key: 'r' }), 20);
  } finally {
    via3.close();
  }

  // The new code reaches node 3: it runs the replicas it refused and catches up from the others.
  await cluster.kill(3, 'SIGTERM');
  node3HasApp = true;
  cluster.spawn(3);
  await eventually('node 3 runs counter:0 and caught up', 30_000, async () => {
    const [mine, theirs] = (await Promise.all([
      statusOf(client, cluster.api(3)),
      statusOf(client, cluster.api(1)),
    ])) as unknown as [RefusingStatus, RefusingStatus];
    const m = mine.groups.find((g) => g.id === 'counter:0');
    const t = theirs.groups.find((g) => g.id === 'counter:0');
    return m && t && mine.refused.length === 0 && m.appliedIndex >= t.commitIndex && t.commitIndex > 0
      ? true
      : undefined;
  });
  assert.equal(await client.query(Counter, 'counter:0', 'get', { key: 'r' }, { consistency: 'stale' }), 20);
});
