import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster } from './harness.ts';

const quiesced = (c: Cluster, id: number) => c.raft(id).status().quiesced;

test('an idle group quiesces: no heartbeats, no elections, however long it sleeps', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.put(1, 'k', 'v');
  c.tickUntil(() => [1, 2, 3].every((id) => quiesced(c, id)), 50);
  assert.ok(
    [1, 2, 3].every((id) => quiesced(c, id)),
    'leader and followers asleep',
  );
  const mark = c.sent.length;
  c.run(500);
  assert.equal(c.sent.length, mark, 'not one message in 500 ticks');
  assert.equal(c.raft(1).role, 'leader');
  assert.equal(c.raft(1).term, c.raft(2).term);
});

test('a proposal wakes the group; it commits and the group quiesces again', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickUntil(() => quiesced(c, 1) && quiesced(c, 2), 50);
  c.put(1, 'k', 'again');
  c.stabilize();
  assert.equal(c.node(2).sm.get('k'), 'again');
  assert.equal(quiesced(c, 2), false, 'the append woke the follower');
  c.tickUntil(() => quiesced(c, 1) && quiesced(c, 2) && quiesced(c, 3), 50);
  assert.ok(quiesced(c, 1));
});

test('a group with a lagging or silent member does not quiesce', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.isolate(3);
  c.put(1, 'k', 'v');
  c.run(30);
  assert.equal(quiesced(c, 1), false, 'node 3 lacks the last entry');
});

test('the transport reporting a dead leader wakes its followers, which elect a new one', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickUntil(() => quiesced(c, 2) && quiesced(c, 3), 50);
  c.stop(1);
  c.run(100, [2, 3]);
  assert.equal(c.raft(2).role, 'follower', 'asleep: nobody noticed the leader is gone');
  for (const id of [2, 3]) c.raft(id).reportUnreachable(1);
  c.tickUntil(() => c.raft(2).role === 'leader' || c.raft(3).role === 'leader', 100, [2, 3]);
  assert.ok(c.raft(2).role === 'leader' || c.raft(3).role === 'leader');
});

test('a read wakes a quiesced leader and is confirmed by a fresh round', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickUntil(() => quiesced(c, 1), 50);
  c.raft(1).readIndex(new TextEncoder().encode('r'));
  assert.equal(quiesced(c, 1), false);
  c.stabilize();
  assert.equal(c.node(1).readStates.length, 1);
});
