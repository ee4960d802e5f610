/**
 * Watches against three node processes: changes in log order from a past revision, from a follower's
 * replica; resume on another node after kill -9 of the serving one with no gap and no duplicate; the typed
 * refusals (compacted, future revision, unknown group, malformed filter); a subscriber that stops reading is
 * cancelled with the revision to resume from.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeResponses, encodeRequests } from '@flotilla/app';
import {
  type FlotillaClient,
  KvMachine,
  ProtocolError,
  UnknownGroupError,
  WatchCompactedError,
  type WatchEvent,
  WatchFutureRevisionError,
} from '@flotilla/client';
import WebSocket from 'ws';
import { eventually, ProcessCluster, statusOf, waitForFormation } from './process-cluster.ts';

const HISTORY = 400;
const cluster = new ProcessCluster({
  userShards: 2,
  extraToml: `[watch]\nhistory_events = ${HISTORY}\nbuffer_bytes = 65536\nfuture_wait_ms = 300\n`,
});
let client: FlotillaClient;

before(async () => {
  await cluster.start([1, 2, 3]);
  client = await cluster.client();
  await waitForFormation(cluster, client, [1, 2, 3]);
  await client.refreshTopology(); // the shard sets, as the formed cluster has them
});
after(() => cluster.stop());

const groupOf = (key: string): string => client.groupOf(KvMachine, { key, shards: 'user' });
const until = (what: string, ms: number, check: () => boolean) =>
  eventually(what, ms, async () => (check() ? true : undefined));

/** Collects what a watch delivers, counting any revision that goes backwards. */
function collector() {
  const seen: WatchEvent[] = [];
  let backwards = 0;
  return {
    seen,
    backwards: () => backwards,
    onEvents(events: readonly WatchEvent[]) {
      for (const e of events) {
        if (seen.length > 0 && e[0] < seen.at(-1)![0]) backwards++;
        seen.push(e);
      }
    },
  };
}

test('a watch from a past revision on a follower delivers every change of its key in log order', async () => {
  const key = 'watched-key';
  const group = groupOf(key);
  const writes: number[] = [];
  for (let i = 0; i < 20; i++)
    writes.push((await client.execute(KvMachine, group, 'put', { key, value: `v${i}` })).index);
  await client.execute(KvMachine, group, 'put', { key: 'another-key', value: 'not watched' });
  const status = await statusOf(client, cluster.api(1));
  const leader = status.groups.find((g) => g.id === group)!.leaderId;
  const follower = [1, 2, 3].find((id) => id !== leader)!;
  const c = collector();
  let liveAt = 0;
  const watch = client.watch(
    { group, key, fromRevision: writes[0]!, node: follower },
    { onEvents: c.onEvents, onLive: (revision) => (liveAt = revision) },
  );
  await until('20 changes', 10_000, () => c.seen.length >= 20);
  assert.equal(liveAt, writes[0]);
  assert.equal(watch.node, follower);
  assert.deepEqual(
    c.seen.map((e) => e[0]),
    writes,
  );
  assert.deepEqual(
    c.seen.map((e) => (e[2] as { value: string }).value),
    writes.map((_, i) => `v${i}`),
  );
  // Live from then on; a delete is a change too.
  const del = await client.execute(KvMachine, group, 'delete', { key });
  await until('the delete', 5_000, () => c.seen.length === 21);
  assert.deepEqual(c.seen[20], [del.index, key, { deleted: true }]);
  watch.close();
  assert.equal(await watch.ended, undefined);
});

test('kill -9 of the serving node: a prefix watch resumes elsewhere with no gap and no duplicate', async () => {
  const prefix = 'resume/';
  const group = groupOf(`${prefix}0`);
  const c = collector();
  let lives = 0;
  const watch = client.watch(
    { group, prefix, node: 3, progressMs: 100 },
    { onEvents: c.onEvents, onLive: () => lives++ },
  );
  await until('live', 10_000, () => lives === 1);
  const acked: number[] = [];
  let stop = false;
  const writer = (async () => {
    for (let i = 0; !stop; i++) {
      try {
        const r = await client.execute(KvMachine, group, 'put', { key: `${prefix}${i % 7}`, value: `w${i}` });
        acked.push(r.index);
      } catch {
        // a write in flight when its node died: not acknowledged, so not expected
      }
    }
  })();
  await until('30 changes', 10_000, () => c.seen.length >= 30);
  await cluster.kill(3);
  await until('resumed on another node', 15_000, () => lives >= 2);
  assert.notEqual(watch.node, 3);
  const atResume = c.seen.length;
  await until('30 more changes', 15_000, () => c.seen.length >= atResume + 30);
  stop = true;
  await writer;
  const last = Math.max(...acked);
  await until('caught up', 10_000, () => (watch.nextRevision ?? 0) > last);
  watch.close();
  assert.equal(c.backwards(), 0, 'revisions in order');
  const revisions = c.seen.map((e) => e[0]);
  assert.equal(new Set(revisions).size, revisions.length, 'no revision delivered twice');
  const delivered = new Set(revisions);
  const first = revisions[0]!;
  assert.deepEqual(
    acked.filter((r) => r >= first && !delivered.has(r)),
    [],
    'every acknowledged write delivered',
  );
  assert.ok(watch.resumes >= 1);
  cluster.spawn(3);
});

test('refusals are typed and register nothing', async () => {
  const group = groupOf('k');
  const addr = cluster.api(1);
  await assert.rejects(client.request(addr, 'watch', { group: 'no-such-group' }), UnknownGroupError);
  await assert.rejects(client.request(addr, 'watch', { group, key: 'a', prefix: 'b' }), ProtocolError);
  await assert.rejects(client.request(addr, 'watch', { group, fromRevision: -3 }), ProtocolError);
  await assert.rejects(
    client.request(addr, 'watch', { group, fromRevision: 10_000_000 }),
    (e: unknown) => e instanceof WatchFutureRevisionError && e.revision === 10_000_000,
  );
  // Past the kept history: compacted, naming the oldest revision still watchable.
  const key = 'compact-me';
  const g = groupOf(key);
  let firstIndex = 0;
  for (let i = 0; i < HISTORY + 50; i++) {
    const r = await client.execute(KvMachine, g, 'put', { key, value: String(i) });
    if (i === 0) firstIndex = r.index;
  }
  await assert.rejects(
    client.request(cluster.api(2), 'watch', { group: g, fromRevision: firstIndex }),
    (e: unknown) =>
      e instanceof WatchCompactedError && e.revision === firstIndex && e.oldestRevision > firstIndex,
  );
  // The client tries every node before it gives up on a compacted revision (a restarted node keeps less).
  let reported: Error | undefined;
  const stale = client.watch(
    { group: g, fromRevision: firstIndex },
    { onEvents: () => assert.fail('nothing to deliver'), onError: (e) => (reported = e) },
  );
  const ended = await stale.ended;
  assert.ok(ended instanceof WatchCompactedError, String(ended));
  assert.equal(reported, ended);
  const status = (await client.status(addr)) as { watches: { groups: { group: string }[] } };
  assert.deepEqual(status.watches.groups, [], 'no watch registered');
});

test('a subscriber that stops reading is cancelled with the revision to resume from', async () => {
  const key = 'flood';
  const group = groupOf(key);
  const ws = new WebSocket(`ws://${cluster.api(1)}`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const frames: Buffer[] = [];
  ws.on('message', (data) => frames.push(data as Buffer));
  ws.send(encodeRequests([{ id: 7, op: 'watch', args: { group, key } }]));
  await until('live', 5_000, () => frames.length >= 1);
  // Stop reading: the node's send buffer fills while changes keep coming.
  const socket = (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  socket.pause();
  const big = 'x'.repeat(32 * 1024);
  for (let i = 0; i < 200; i++) await client.execute(KvMachine, group, 'put', { key, value: `${i}${big}` });
  socket.resume();
  const error = await eventually('the overflow error', 20_000, async () => {
    for (const f of frames)
      for (const r of decodeResponses(f)) if ('ok' in r && r.id === 7 && !r.ok) return r.error;
    return undefined;
  });
  assert.equal(error.code, 'FLOTILLA_WATCH_OVERFLOW');
  // It resumes right after what reached this subscriber: nothing dropped at the bound is skipped.
  let through = 0;
  for (const f of frames)
    for (const r of decodeResponses(f))
      if ('item' in r && r.id === 7 && r.item[0] !== 'live') through = Math.max(through, r.item[1]);
  assert.ok(through > 0, 'changes arrived before the cancel');
  assert.equal(error.resumeFrom, through + 1);
  ws.terminate();
});
