/**
 * Live queries against three node processes: 10,000 subscriptions over 1,000 users, served by every node,
 * while writes flow; kill -9 of one serving node. Every subscription resumes on another node, its record
 * moves there (the dead node's records are gone), and every subscriber saw every acknowledged change of its
 * key exactly once and in log order, checked against the revisions the writes were acknowledged at.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  type FlotillaClient,
  KvMachine,
  SchemaError,
  UnknownGroupError,
  type WatchEvent,
} from '@flotilla/client';
import { cliCommand } from '../../node/src/operations/local-cluster.ts';
import { eventually, ProcessCluster, waitForFormation } from '../../node/test/process-cluster.ts';
import { LiveQueries, type LiveSubscription } from '../src/index.ts';
import { live } from './fixtures/app.ts';

const APP = fileURLToPath(new URL('./fixtures/app.ts', import.meta.url));
const USERS = 1_000;
const PER_USER = 10;
const KILLED = 3;
/** Subscriptions whose subscribers die with the killed node: the reapers remove them. */
const ORPHANS = 50;

const cluster = new ProcessCluster({ userShards: 4, extraToml: `[app]\nmodule = "${APP}"\n` });
const clients = new Map<number, FlotillaClient>();

before(async () => {
  await cluster.start([1, 2, 3]);
  for (const id of [1, 2, 3]) clients.set(id, await cluster.client([id], 10_000));
  await waitForFormation(cluster, clients.get(1)!, [1, 2, 3], 30_000);
  for (const c of clients.values()) await c.refreshTopology(); // the shard sets, as the formed cluster has them
});
after(() => cluster.stop());

const until = (what: string, ms: number, check: () => boolean | Promise<boolean>) =>
  eventually(what, ms, async () => ((await check()) ? true : undefined));

interface Subscriber {
  readonly user: string;
  readonly key: string;
  readonly group: string;
  readonly node: number;
  readonly seen: WatchEvent[];
  sub?: LiveSubscription;
}

test('bad input is refused with typed errors and registers nothing', async () => {
  const liveQueries = new LiveQueries(clients.get(1)!, live);
  const handlers = { onChanges: () => {} };
  await assert.rejects(
    liveQueries.subscribe({ user: 'bad user!', query: { group: 'user:0', key: 'k' } }, handlers),
    SchemaError,
  );
  await assert.rejects(
    liveQueries.subscribe({ user: 'u', query: { group: 'user:0', key: 'k', prefix: 'p' } }, handlers),
    SchemaError,
  );
  await assert.rejects(
    liveQueries.subscribe({ user: 'u', query: { group: 'user:0' } }, handlers),
    SchemaError,
  );
  await assert.rejects(
    liveQueries.subscribe({ user: 'u', query: { group: 'user:0', key: 'k' }, fromRevision: 0 }, handlers),
    SchemaError,
  );
  await assert.rejects(
    liveQueries.subscribe({ user: 'u', query: { group: 'no-such-group', key: 'k' } }, handlers),
    UnknownGroupError,
  );
  assert.equal((await liveQueries.counts()).total, 0);
});

test('10,000 subscriptions, kill -9 of a serving node: every one resumes, every change seen once in order', async () => {
  const client1 = clients.get(1)!;
  const subscribers: Subscriber[] = [];
  for (let u = 0; u < USERS; u++)
    for (let j = 0; j < PER_USER; j++) {
      const key = `u${u}/k${j}`;
      subscribers.push({
        user: `user-${u}`,
        key,
        group: client1.groupOf(KvMachine, { key, shards: 'user' }),
        node: ((u * PER_USER + j) % 3) + 1,
        seen: [],
      });
    }
  // Subscribe through the client of the serving node, 500 at a time.
  const started = performance.now();
  for (let i = 0; i < subscribers.length; i += 500)
    await Promise.all(
      subscribers.slice(i, i + 500).map(async (s) => {
        const liveQueries = new LiveQueries(clients.get(s.node)!, live);
        s.sub = await liveQueries.subscribe(
          { user: s.user, query: { group: s.group, key: s.key }, node: s.node, progressMs: 500 },
          { onChanges: (events) => s.seen.push(...events) },
        );
      }),
    );
  const subscribeMs = performance.now() - started;
  const liveQueries = new LiveQueries(client1, live);
  const counts = await liveQueries.counts();
  assert.equal(counts.total, USERS * PER_USER);
  for (const node of [1, 2, 3]) assert.ok((counts.byNode[String(node)] ?? 0) > 3_000, JSON.stringify(counts));

  // Writers: random keys; every acknowledged write is remembered with its revision.
  const acked = new Map<string, number[]>();
  let stop = false;
  let writes = 0;
  const writer = async () => {
    while (!stop) {
      const s = subscribers[Math.floor(Math.random() * subscribers.length)]!;
      try {
        const r = await client1.execute(KvMachine, s.group, 'put', { key: s.key, value: `w${writes++}` });
        const list = acked.get(s.key) ?? [];
        list.push(r.index);
        acked.set(s.key, list);
      } catch {
        // in flight during the kill: not acknowledged, so not expected (it may still show up, once)
      }
    }
  };
  const writers = Array.from({ length: 16 }, writer);
  await until('writes before the kill', 30_000, () => writes > 3_000);
  // Subscribers that die with their node (their watches closed, their records left behind): no client will
  // move these, so only the shards' reapers can remove them.
  const orphans = await Promise.all(
    Array.from({ length: ORPHANS }, (_, i) =>
      new LiveQueries(clients.get(KILLED)!, live).subscribe(
        {
          user: `orphan-${i}`,
          query: { group: subscribers[i]!.group, key: subscribers[i]!.key },
          node: KILLED,
        },
        { onChanges: () => {} },
      ),
    ),
  );
  for (const o of orphans) o.watch.close();
  assert.equal((await liveQueries.counts()).total, USERS * PER_USER + ORPHANS);
  await cluster.kill(KILLED);
  const served = subscribers.filter((s) => s.node === KILLED);
  await until('every subscription of the killed node resumed elsewhere', 60_000, () =>
    served.every((s) => s.sub!.watch.resumes >= 1 && s.sub!.watch.node !== KILLED && s.sub!.watch.node !== 0),
  );
  const writesAtResume = writes;
  await until('writes after the resume', 30_000, () => writes > writesAtResume + 3_000);
  stop = true;
  await Promise.all(writers);

  // Everyone catches up past the last acknowledged revision of its group.
  const lastOf = new Map<string, number>();
  for (const s of subscribers)
    lastOf.set(s.group, Math.max(lastOf.get(s.group) ?? 0, ...(acked.get(s.key) ?? [0])));
  await until('every subscriber caught up', 60_000, () =>
    subscribers.every((s) => (s.sub!.nextRevision ?? 0) > (acked.get(s.key)?.at(-1) ?? 0)),
  );
  let gaps = 0;
  let duplicates = 0;
  let disorder = 0;
  let delivered = 0;
  for (const s of subscribers) {
    const revisions = s.seen.map((e) => e[0]);
    delivered += revisions.length;
    if (new Set(revisions).size !== revisions.length) duplicates++;
    if (revisions.some((r, i) => i > 0 && r <= revisions[i - 1]!)) disorder++;
    const got = new Set(revisions);
    if ((acked.get(s.key) ?? []).some((r) => !got.has(r))) gaps++;
    for (const e of s.seen) assert.equal(e[1], s.key);
  }
  console.log(
    JSON.stringify({
      check: 'live-failover',
      subscriptions: subscribers.length,
      resumed: served.length,
      subscribe_ms: Math.round(subscribeMs),
      writes,
      delivered,
      gaps,
      duplicates,
      disorder,
    }),
  );
  assert.equal(gaps, 0, 'no acknowledged change missed');
  assert.equal(duplicates, 0, 'no change delivered twice');
  assert.equal(disorder, 0, 'changes in log order');

  // The records followed: none left on the dead node — moved by their clients, the orphans removed by the
  // reapers of their shards (fenced commands).
  await until('no subscription left on the killed node', 30_000, async () => {
    const c = await liveQueries.counts();
    return (c.byNode[String(KILLED)] ?? 0) === 0 && c.total === USERS * PER_USER;
  });
  const moved = await liveQueries.list({ user: served[0]!.user });
  assert.ok(moved.every((r) => r.node !== KILLED));

  // Closing a subscription removes its record.
  await subscribers[0]!.sub!.close();
  assert.equal((await liveQueries.counts()).total, USERS * PER_USER - 1);
  for (const s of subscribers.slice(1)) s.sub!.watch.close();
});

test('flotilla live-queries lists them from a shell; a bad option is refused naming it', async () => {
  const { command, args } = cliCommand();
  const run = (...more: string[]) =>
    promisify(execFile)(command, [...args, 'live-queries', '--api', cluster.api(1), ...more], {
      timeout: 60_000,
    });
  const out = JSON.parse((await run('--user', 'user-1')).stdout) as {
    total: number;
    byNode: Record<string, number>;
    subscriptions: { user: string; node: number }[];
  };
  assert.equal(out.total, USERS * PER_USER - 1);
  assert.equal(out.subscriptions.length, PER_USER);
  assert.ok(out.subscriptions.every((s) => s.user === 'user-1' && s.node !== KILLED));
  await assert.rejects(run('--node', 'x'), (e: { stderr?: string }) => /node/.test(e.stderr ?? ''));
});
