/**
 * Leadership transfer (thesis §3.10): the leader catches the target up, then sends TimeoutNow; the target
 * wins at once and the old leader follows. Proposals are refused during a transfer, a transfer that does
 * not finish within an election timeout is aborted, and a follower may ask for one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Message, ProposalDroppedError } from '@flotilla/core';
import { Cluster, GROUP } from './harness.ts';

const notTouching =
  (...ids: number[]) =>
  (m: Message) =>
    !ids.includes(m.to) && !ids.includes(m.from);

test('transfer to an up-to-date follower: TimeoutNow at once, it wins, the old leader follows', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.put(1, 'k', 'v');
  c.stabilize();
  const term = c.raft(1).term;
  c.raft(1).transferLeadership(2);
  c.process(1);
  assert.deepEqual(
    c
      .node(1)
      .readys.at(-1)!
      .messages.map((m) => `${m.type}:${m.to}`),
    ['timeoutNow:2'],
  );
  c.stabilize();
  assert.equal(c.leader(), 2);
  assert.equal(c.raft(2).term, term + 1);
  assert.equal(c.raft(1).role, 'follower');
  assert.equal(c.raft(1).leaderId, 2);
  assert.equal(c.raft(3).leaderId, 2);
  assert.equal(
    c.sentWhere((m) => m.from === 2 && m.type === 'preVote').length,
    0,
    'no pre-vote: it campaigns at once',
  );
  c.put(2, 'k', 'w');
  c.stabilize();
  assert.equal(c.node(1).sm.get('k'), 'w');
});

test('transfer to a lagging follower: it is caught up first, then told to campaign', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  for (let i = 0; i < 5; i++) c.put(1, `k${i}`, 'v');
  c.stabilize(notTouching(3)); // node 3's messages are delayed: it lags
  const last = c.raft(1).status().lastIndex;
  c.raft(1).transferLeadership(3);
  c.process(1);
  assert.equal(c.sentWhere((m) => m.type === 'timeoutNow').length, 0, 'not before the target is caught up');
  c.stabilize();
  const caughtUp = c.sent.findIndex(
    (m) => m.type === 'appendResponse' && m.from === 3 && !m.reject && m.index === last,
  );
  const timeoutNow = c.sent.findIndex((m) => m.type === 'timeoutNow' && m.to === 3);
  assert.ok(
    caughtUp >= 0 && timeoutNow > caughtUp,
    'TimeoutNow follows the acknowledgment of the last entry',
  );
  assert.equal(c.leader(), 3);
  assert.equal(c.node(3).sm.get('k4'), 'v');
});

test('proposals are dropped with ProposalDroppedError while a transfer is in progress', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.put(1, 'k', 'v');
  c.stabilize(notTouching(3));
  c.raft(1).transferLeadership(3);
  assert.throws(
    () => c.put(1, 'k', 'w'),
    (error: unknown) => {
      assert.ok(error instanceof ProposalDroppedError);
      assert.equal(error.code, 'FLOTILLA_PROPOSAL_DROPPED');
      assert.equal(error.group, GROUP);
      assert.match(error.reason, /node 3/);
      return true;
    },
  );
  c.stabilize();
  assert.equal(c.leader(), 3);
  c.put(3, 'k', 'w'); // the new leader takes proposals
});

test('a transfer that cannot finish is aborted after an election timeout; the leader carries on', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.isolate(3);
  c.raft(1).transferLeadership(3);
  assert.equal(c.raft(1).status().leadTransferee, 3);
  const ticks = c.tickUntil(() => c.raft(1).status().leadTransferee === 0, 25, [1, 2]);
  assert.ok(ticks <= 10, `aborted after ${ticks} ticks (electionTicks = 10)`);
  assert.equal(c.leader(), 1);
  c.put(1, 'k', 'v');
  c.stabilize();
  assert.equal(c.node(2).sm.get('k'), 'v', 'proposals are accepted again');
});

test('a follower may ask for a transfer: the request is forwarded to the leader', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.raft(3).transferLeadership(2);
  c.stabilize();
  assert.equal(c.sentWhere((m) => m.type === 'transferLeader' && m.from === 3 && m.to === 1).length, 1);
  assert.equal(c.leader(), 2);
});

test('a transfer to itself, a learner or a non-member is ignored', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.addEmptyNode(4);
  c.raft(1).proposeConfChange({ changes: [{ op: 'addLearner', nodeId: 4 }] });
  c.run(3);
  for (const target of [1, 4, 9]) {
    c.raft(1).transferLeadership(target);
    assert.equal(c.raft(1).status().leadTransferee, 0, `target ${target}`);
  }
  c.stabilize();
  assert.equal(c.sentWhere((m) => m.type === 'timeoutNow').length, 0);
  assert.equal(c.leader(), 1);
});
