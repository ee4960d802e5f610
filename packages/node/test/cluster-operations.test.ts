import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { InvalidGroupError, UnknownGroupError, UnknownKindError } from '@flotilla/node';
import { cliCommand } from '../src/operations/local-cluster.ts';
import { eventually, kvOf, ProcessCluster, statusOf, waitForFormation } from './process-cluster.ts';

const run = promisify(execFile);
const cluster = new ProcessCluster({ userShards: 4, logLevel: 'info' });
after(() => cluster.stop());

test('operating a cluster: groups created and deleted by command, the CLI, /metrics and /status, graceful handover', {
  timeout: 120_000,
}, async (t) => {
  await cluster.start([1, 2, 3]);
  const client = await cluster.client();
  await waitForFormation(cluster, client, [1, 2, 3]);

  await t.test(
    'creating a group is a catalog command: every node spawns a replica; deleting stops them',
    async () => {
      await assert.rejects(client.createGroup('bad id!', 'kv'), InvalidGroupError);
      await assert.rejects(client.createGroup('topic:x', 'no-such-kind'), UnknownKindError);
      const created = await client.createGroup('topic:0', 'kv');
      assert.deepEqual(created, { id: 'topic:0', kind: 'kv', created: true });
      await eventually('every node hosts topic:0 with a leader', 10_000, async () => {
        const statuses = await Promise.all([1, 2, 3].map((id) => statusOf(client, cluster.api(id))));
        const views = statuses.map((s) => s.groups.find((g) => g.id === 'topic:0'));
        return views.every((v) => v && v.leaderId > 0 && v.voters.length === 3) ? true : undefined;
      });
      assert.equal((await kvOf(client).put('offset', '42', 'topic:0')).ok, true);
      assert.equal((await kvOf(client).get('offset', 'linearizable', 'topic:0')).value, '42');
      assert.deepEqual(await client.deleteGroup('topic:0'), { id: 'topic:0', deleted: true });
      await eventually('every node stopped its topic:0 replica', 10_000, async () => {
        const statuses = await Promise.all([1, 2, 3].map((id) => statusOf(client, cluster.api(id))));
        return statuses.every((s) => !s.groups.some((g) => g.id === 'topic:0')) ? true : undefined;
      });
      await assert.rejects(kvOf(client).put('offset', '43', 'topic:0'), UnknownGroupError);
      // A shard keys route to cannot be deleted; the catalog cannot either.
      await assert.rejects(
        client.deleteGroup('user:0'),
        (e: unknown) => e instanceof InvalidGroupError && /shard set user/.test(e.message),
      );
      assert.equal((await kvOf(client).put('still-routed', 'yes')).ok, true);
    },
  );

  await t.test(
    'the flotilla CLI reports status and transfers leadership; bad options are named',
    async () => {
      const { command, args } = cliCommand();
      const status = JSON.parse(
        (await run(command, [...args, 'status', '--api', cluster.api(2), '--json'])).stdout,
      ) as {
        nodeId: number;
        groups: { id: string; leaderId: number }[];
      };
      assert.equal(status.nodeId, 2);
      assert.equal(status.groups.length, 3 + 4 + 1);
      // For a person: a table, one row per group.
      const table = (await run(command, [...args, 'status', '--api', cluster.api(2)])).stdout.split('\n');
      assert.match(table[0]!, /^node 2 \(cluster\): 8 groups/);
      assert.ok(table.some((l) => /^group\s+kind\s+role\s+leader/.test(l)));
      assert.equal(table.filter((l) => /^(meta|user|shared):/.test(l)).length, 8);
      const group = status.groups.find((g) => g.id === 'user:0')!;
      const target = group.leaderId === 3 ? 2 : 3;
      const moved = JSON.parse(
        (
          await run(command, [
            ...args,
            'transfer-leader',
            '--api',
            cluster.api(1),
            '--group',
            'user:0',
            '--to',
            String(target),
          ])
        ).stdout,
      ) as { group: string; to: number; term: number };
      assert.equal(moved.group, 'user:0');
      assert.equal(moved.to, target);
      const refused = (more: string[], pattern: RegExp) =>
        assert.rejects(run(command, [...args, ...more]), (e: { stderr?: string }) =>
          pattern.test(e.stderr ?? ''),
        );
      await refused(
        ['transfer-leader', '--api', cluster.api(1), '--group', 'user:0', '--to', '9'],
        /node 9: no such node/,
      );
      await refused(
        ['transfer-leader', '--api', cluster.api(1), '--group', 'user:0', '--to', 'x'],
        /--to must be/,
      );
      await refused(
        ['remove-node', '--api', cluster.api(1), '--id', 'abc'],
        /--id must be a positive integer/,
      );
      await refused(['transfer-leader', '--api', cluster.api(1), '--group', 'nope:0', '--to', '1'], /nope:0/);
      await eventually(`node ${target} leads user:0`, 10_000, async () => {
        const s = await statusOf(client, cluster.api(target));
        return s.groups.find((g) => g.id === 'user:0')?.role === 'leader' ? true : undefined;
      });
    },
  );

  await t.test('the admin port serves Prometheus metrics, JSON status and the dashboard', async () => {
    const admin = `http://127.0.0.1:${cluster.ports.get(1)!.admin}`;
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    for (const name of [
      'flotilla_raft_elections_total',
      'flotilla_raft_leader_changes_total',
      'flotilla_raft_term{',
      'flotilla_raft_commit_index{',
      'flotilla_raft_applied_index{',
      'flotilla_raft_replication_lag_entries',
      'flotilla_proposal_latency_seconds_bucket',
      'flotilla_node_additions_total',
      'flotilla_mailbox_depth',
      'flotilla_restarts_total',
      'flotilla_transport{',
      'flotilla_watch_watchers',
      'flotilla_watch_events_delivered_total',
      'flotilla_watch_events_published_total',
      'flotilla_watch_delivery_lag_seconds_bucket',
      'flotilla_watch_opened_total',
      'flotilla_watch_refused_total',
    ]) {
      assert.ok(metrics.includes(name), `metric ${name}`);
    }
    // Counts are counters, levels are gauges; the process reports its own CPU and memory.
    for (const line of metrics.split('\n').filter((l) => l.startsWith('# TYPE flotilla_'))) {
      const [, , name, type] = line.split(' ');
      assert.equal(
        type,
        name!.endsWith('_total') ? 'counter' : type === 'histogram' ? 'histogram' : 'gauge',
        line,
      );
    }
    assert.match(metrics, /# TYPE flotilla_raft_elections_total counter/);
    assert.match(metrics, /^process_cpu_seconds_total/m);
    assert.match(metrics, /^nodejs_heap_size_used_bytes/m);
    const status = (await (await fetch(`${admin}/status`)).json()) as { nodeId: number; groups: unknown[] };
    assert.equal(status.nodeId, 1);
    assert.equal(status.groups.length, 8);
    assert.match(await (await fetch(`${admin}/`)).text(), /Flotilla node/);
  });

  await t.test(
    'a failed durable write is loud: logged, counted, an alarm, and the replica restarts from disk',
    async () => {
      const group = 'user:1';
      // Its leader: a failed write there fails the proposals waiting on it (outcome unknown: retried by session).
      const victim = (await statusOf(client, cluster.api(1))).groups.find((g) => g.id === group)!.leaderId;
      const before = await statusOf(client, cluster.api(victim));
      await client.injectActorFault(cluster.api(victim), group, 'fail-storage');
      for (let i = 0; i < 20; i++) assert.equal((await kvOf(client).put(`sf${i}`, `v${i}`, group)).ok, true);
      const after = await eventually('the failure reported and the replica restarted', 15_000, async () => {
        const s = (await statusOf(client, cluster.api(victim))) as unknown as {
          counters: { storageFailures: number; restarts: number };
          alarms: { type: string; group?: string; error?: string }[];
        };
        return s.counters.storageFailures >= 1 && s.counters.restarts > before.counters.restarts!
          ? s
          : undefined;
      });
      assert.ok(
        after.alarms.some((a) => a.type === 'storage' && a.group === group && /injected/.test(a.error ?? '')),
      );
      assert.ok(
        cluster.output.get(victim)!.some((l) => l.includes('storage write failed') && l.includes(group)),
        'the replica said why it stopped',
      );
      // The restarted replica serves again, with every acknowledged write.
      await eventually('the victim caught up', 15_000, async () => {
        const r = (await kvOf(client).readFrom(cluster.api(victim), group, 'sf19')) as {
          value: string | null;
        };
        return r.value === 'v19' ? true : undefined;
      });
      for (let i = 0; i < 20; i++)
        assert.equal((await kvOf(client).get(`sf${i}`, 'linearizable', group)).value, `v${i}`);
      const metrics = await (
        await fetch(`http://127.0.0.1:${cluster.ports.get(victim)!.admin}/metrics`)
      ).text();
      assert.match(metrics, new RegExp(`flotilla_storage_failures_total\\{node="${victim}"\\} [1-9]`));

      // A disk that keeps failing: after a second failure within a minute node 2 stops serving the group
      // (listed as refused, with why); the group goes on with its other replicas.
      await eventually('the replica is back before the next failure', 15_000, async () =>
        (await statusOf(client, cluster.api(victim))).groups.some((g) => g.id === group) ? true : undefined,
      );
      await client.injectActorFault(cluster.api(victim), group, 'fail-storage');
      for (let i = 0; i < 3; i++) await kvOf(client).put(`sf-again-${i}`, 'x', group);
      const refused = await eventually('the victim stopped serving the group', 15_000, async () => {
        const s = (await statusOf(client, cluster.api(victim))) as unknown as {
          groups: { id: string }[];
          refused: { group: string; reason: string }[];
        };
        return s.refused.some((r) => r.group === group) && !s.groups.some((g) => g.id === group)
          ? s
          : undefined;
      });
      assert.match(refused.refused.find((r) => r.group === group)!.reason, /storage keeps failing/);
      assert.equal((await kvOf(client).put('after-refusal', 'ok', group)).ok, true);
      assert.equal((await kvOf(client).get('after-refusal', 'linearizable', group)).value, 'ok');
    },
  );

  await t.test('a gracefully stopped node hands its leaderships over before it exits', async () => {
    const statuses = await Promise.all([1, 2, 3].map((id) => statusOf(client, cluster.api(id))));
    const led = statuses.map((s) => s.groups.filter((g) => g.role === 'leader').length);
    const victim = led.indexOf(Math.max(...led)) + 1;
    assert.ok(led[victim - 1]! > 0);
    await cluster.kill(victim, 'SIGTERM');
    const line = cluster.output.get(victim)!.find((l) => l.includes('leadership handed over'));
    for (const l of cluster.output.get(victim)!)
      assert.ok((l.match(/"component":/g) ?? []).length <= 1, `a key bound twice: ${l.slice(0, 200)}`);
    assert.ok(line, 'the node logged its handover');
    const handover = JSON.parse(line) as { led: number; transferred: number };
    assert.equal(handover.transferred, handover.led, 'every group it led got a new leader before it stopped');
    assert.ok(handover.led >= led[victim - 1]!);
  });
});
