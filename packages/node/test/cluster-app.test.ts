/**
 * An application's machines, entities and actors on three real processes: typed calls and errors, fencing
 * by term, leader-only actors following leadership, actor references across processes with death watch,
 * divergence detection, and no acknowledged command lost when a leader is killed under load.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type FlotillaClient, StaleFenceError } from '@flotilla/client';
import { exerciseApp } from './app-exercise.ts';
import { Account, Chaos, Counter, Observations } from './fixtures/app.ts';
import { eventually, ProcessCluster, statusOf, waitForFormation } from './process-cluster.ts';

const APP = fileURLToPath(new URL('./fixtures/app.ts', import.meta.url));
const cluster = new ProcessCluster({
  userShards: 4,
  extraToml: `[app]\nmodule = "${APP}"\n\n[machines]\ncheckpoint_entries = 50\n`,
});
after(() => cluster.stop());

async function leaderOf(client: FlotillaClient, group: string, ids: readonly number[]) {
  const statuses = await Promise.all(ids.map((id) => statusOf(client, cluster.api(id))));
  const views = statuses.flatMap((s) => s.groups.filter((g) => g.id === group && g.role === 'leader'));
  return views.sort((a, b) => b.term - a.term)[0];
}

/** The latest claim of counter:0's leader-only actor newer than `term`, by `node` when given. */
async function claimAfter(client: FlotillaClient, term: number, node?: number) {
  const claims = await client.query(Counter, 'counter:0', 'claims', {});
  return claims.find((c) => c.term > term && (node === undefined || c.node === node));
}

test('an application on three processes: machines, entities, fencing, leader-only and remote actors, divergence', {
  timeout: 180_000,
}, async (t) => {
  await cluster.start([1, 2, 3]);
  const client = await cluster.client([1, 2, 3], 6_000);
  await waitForFormation(cluster, client, [1, 2, 3]);

  await t.test('typed calls of a machine and an entity, with typed errors for bad input', () =>
    exerciseApp(client),
  );

  await t.test(
    'an entity is watchable: every change of its state, in order; a refusal emits nothing',
    async () => {
      await client.refreshTopology();
      const id = 'watched-account';
      const group = client.groupOf(Account, { key: id, shards: Account.shardPrefix });
      const changes: { revision: number; data: unknown }[] = [];
      const watch = client.watch(
        { group, key: id, node: 2 },
        { onEvents: (events) => changes.push(...events.map((e) => ({ revision: e[0], data: e[2] }))) },
      );
      await eventually('live', 10_000, async () => (watch.node === 2 ? true : undefined));
      const account = client.entity(Account, id);
      await account.deposit({ amount: 5 });
      await assert.rejects(account.withdraw({ amount: 50 }));
      await account.withdraw({ amount: 2 });
      await eventually('two changes', 10_000, async () => (changes.length >= 2 ? true : undefined));
      watch.close();
      assert.deepEqual(
        changes.map((c) => c.data),
        [
          { command: 'deposit', state: { balance: 5, operations: 1 } },
          { command: 'withdraw', state: { balance: 3, operations: 2 } },
        ],
      );
      assert.ok(changes[0]!.revision < changes[1]!.revision);
    },
  );

  await t.test(
    'a leader-only actor runs on the leader with its term; a transfer moves it within 1 s',
    async () => {
      const leader = await eventually('counter:0 led', 10_000, () =>
        leaderOf(client, 'counter:0', [1, 2, 3]),
      );
      const claim = await eventually('the sentinel claimed counter:0', 10_000, () =>
        claimAfter(client, 0, leader.leaderId),
      );
      assert.equal(claim.term, leader.term, 'its fencing token is the leader term');
      const to = [1, 2, 3].find((id) => id !== leader.leaderId)!;
      const started = performance.now();
      await client.transferLeader('counter:0', to);
      const moved = await eventually('the sentinel moved', 10_000, () => claimAfter(client, leader.term, to));
      const ms = performance.now() - started;
      console.log(
        JSON.stringify({ test: 'leader-actor-transfer', from: leader.leaderId, to, ms: Math.round(ms) }),
      );
      assert.ok(ms < 1_000, `the leader-only actor took ${Math.round(ms)} ms to move`);

      // A command fenced by the old term is refused at commit; the current term is accepted.
      await assert.rejects(
        client
          .fenced({ group: 'counter:0', term: leader.term })
          .execute(Counter, 'counter:0', 'fencedAdd', { key: 'f', by: 1 }),
        (e: unknown) => e instanceof StaleFenceError && e.fenceTerm === leader.term,
      );
      assert.equal(
        await client
          .fenced({ group: 'counter:0', term: moved.term })
          .execute(Counter, 'counter:0', 'fencedAdd', { key: 'f', by: 1 }),
        1,
      );
    },
  );

  await t.test('actor refs across processes: ask, tell and death watch when a node is killed', async () => {
    const notes = () => client.query(Observations, 'observations:0', 'notes', {});
    await eventually('every node asked and told every other', 20_000, async () => {
      const seen = new Set((await notes()).map((n) => `${n.from}>${n.to}:${n.what}`));
      for (const a of [1, 2, 3])
        for (const b of [1, 2, 3])
          if (a !== b && !(seen.has(`${a}>${b}:ask-ok`) && seen.has(`${a}>${b}:tells-ok`))) return undefined;
      return true;
    });
    // Node 3 must not lead the observations group (its notes must still commit): move it if it does.
    const obs = await leaderOf(client, 'observations:0', [1, 2, 3]);
    if (obs?.leaderId === 3) await client.transferLeader('observations:0', 1);
    await cluster.kill(3, 'SIGKILL');
    const died = await eventually('nodes 1 and 2 saw node 3 go', 15_000, async () => {
      const all = await notes();
      const about3 = (from: number, what: string) =>
        all.find((n) => n.from === from && n.to === 3 && n.what === what);
      const seen = [1, 2].map((from) => [about3(from, 'terminated'), about3(from, 'hold-rejected')]);
      return seen.every(([terminated, rejected]) => terminated && rejected) ? seen : undefined;
    });
    for (const [, rejected] of died) assert.equal(rejected?.detail, 'FLOTILLA_NODE_UNREACHABLE');
    cluster.spawn(3);
    await waitForFormation(cluster, client, [1, 2, 3], 30_000);
  });

  await t.test(
    'a nondeterministic machine raises a divergence alarm naming its group and index',
    async () => {
      await client.createGroup('chaos:0', Chaos.name);
      for (let i = 0; i < 120; i++) await client.execute(Chaos, 'chaos:0', 'roll', {});
      const alarms = await eventually('a divergence alarm', 15_000, async () => {
        const statuses = await Promise.all([1, 2, 3].map((id) => statusOf(client, cluster.api(id))));
        const found = statuses.flatMap(
          (s) => (s as unknown as { alarms: { group: string; index: number }[] }).alarms,
        );
        return found.some((a) => a.group === 'chaos:0') ? found : undefined;
      });
      assert.ok(
        alarms.every((a) => a.group === 'chaos:0' && a.index > 0),
        JSON.stringify(alarms),
      );
      // The followers raise it (each compares with the leader's checkpoint): some node counts it.
      const counted = await Promise.all(
        [1, 2, 3].map(async (id) => {
          const metrics = await (
            await fetch(`http://127.0.0.1:${cluster.ports.get(id)!.admin}/metrics`)
          ).text();
          return /flotilla_machine_divergences_total\{[^}]*\} [1-9]/.test(metrics);
        }),
      );
      assert.ok(counted.some(Boolean), 'the divergence metric counts it');
    },
  );

  await t.test(
    'kill -9 of a leader under load: no acknowledged command lost; the leader-only actor follows',
    async () => {
      const accounts = Array.from({ length: 40 }, (_, i) => `acct-${i}`);
      const acked = new Map<string, number>();
      const unknown = new Map<string, number>();
      let stop = false;
      let n = 0;
      const writers = Promise.all(
        Array.from({ length: 16 }, async () => {
          while (!stop) {
            const id = accounts[n++ % accounts.length]!;
            try {
              await client.entity(Account, id).deposit({ amount: 1 });
              acked.set(id, (acked.get(id) ?? 0) + 1);
            } catch {
              unknown.set(id, (unknown.get(id) ?? 0) + 1);
            }
          }
        }),
      );
      try {
        await new Promise((r) => setTimeout(r, 1_500));
        const leader = (await leaderOf(client, 'counter:0', [1, 2, 3]))!;
        const survivors = [1, 2, 3].filter((id) => id !== leader.leaderId);
        const killedAt = performance.now();
        await cluster.kill(leader.leaderId, 'SIGKILL');
        const moved = await eventually('the sentinel on a survivor', 10_000, () =>
          claimAfter(client, leader.term),
        );
        const ms = performance.now() - killedAt;
        console.log(
          JSON.stringify({
            test: 'leader-actor-kill',
            killed: leader.leaderId,
            to: moved.node,
            ms: Math.round(ms),
          }),
        );
        assert.ok(survivors.includes(moved.node));
        assert.ok(ms < 1_000, `the leader-only actor took ${Math.round(ms)} ms to move after the kill`);
        await new Promise((r) => setTimeout(r, 1_500));
      } finally {
        stop = true;
        await writers;
      }
      const total = [...acked.values()].reduce((a, b) => a + b, 0);
      assert.ok(total > 200, `only ${total} deposits acknowledged`);
      for (const id of accounts) {
        const { balance } = await client.entity(Account, id).balance({});
        const ok = acked.get(id) ?? 0;
        assert.ok(balance >= ok, `${id}: ${ok} acknowledged deposits, balance ${balance}`);
        assert.ok(balance <= ok + (unknown.get(id) ?? 0), `${id}: a deposit applied twice`);
      }
    },
  );
});
