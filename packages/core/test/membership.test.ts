/**
 * Membership (thesis §4): learners that replicate but neither vote nor campaign, promotion, joint consensus
 * with automatic and explicit leave, single-server changes, one pending change at a time, a removed leader
 * stepping down, and a restart that replays committed changes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type ConfChange,
  decodeConfChange,
  EntryKind,
  InvalidConfChangeError,
  type Message,
  ProposalDroppedError,
} from '@flotilla/core';
import { Cluster, GROUP } from './harness.ts';

/** Conf changes node `id` applied after bootstrap, in order. */
function appliedChanges(c: Cluster, id: number): ConfChange[] {
  return c
    .node(id)
    .applied.filter((e) => e.kind === EntryKind.ConfChange && e.index > 3)
    .map((e) => decodeConfChange(e.data));
}

const confState = (c: Cluster, id: number) => c.raft(id).status().confState;

function withLearner(): Cluster {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.addEmptyNode(4);
  c.raft(1).proposeConfChange({ changes: [{ op: 'addLearner', nodeId: 4 }] });
  c.run(3);
  return c;
}

const notTouching =
  (...ids: number[]) =>
  (m: Message) =>
    !ids.includes(m.to) && !ids.includes(m.from);

test('a learner replicates and applies the log', () => {
  const c = withLearner();
  c.put(1, 'k', 'v');
  c.stabilize();
  assert.deepEqual(confState(c, 4).learners, [4]);
  assert.deepEqual(confState(c, 1).voters, [1, 2, 3]);
  assert.equal(c.node(4).sm.get('k'), 'v');
  assert.equal(c.raft(4).commitIndex, c.raft(1).commitIndex);
});

test('a learner never campaigns, even after long silence or when asked', () => {
  const c = withLearner();
  const term = c.raft(4).term;
  c.isolate(4);
  c.run(100, [4]);
  c.raft(4).campaign();
  c.process(4);
  assert.equal(c.raft(4).term, term);
  assert.equal(c.raft(4).role, 'follower');
  assert.equal(c.sentWhere((m) => m.from === 4 && (m.type === 'vote' || m.type === 'preVote')).length, 0);
});

test('a learner is not asked for votes and does not count toward commit', () => {
  const c = withLearner();
  c.raft(1).transferLeadership(2);
  c.stabilize();
  assert.equal(c.leader(), 2);
  assert.equal(c.sentWhere((m) => m.to === 4 && (m.type === 'vote' || m.type === 'preVote')).length, 0);
  const before = c.raft(2).commitIndex;
  c.put(2, 'k', 'v');
  c.stabilize(notTouching(1, 3)); // only the learner answers
  assert.ok(
    c
      .node(4)
      .entries()
      .some((e) => e.index === before + 1),
    'the learner holds the entry',
  );
  assert.equal(c.raft(2).commitIndex, before, 'leader + learner is no majority');
  c.stabilize();
  assert.equal(c.raft(2).commitIndex, before + 1);
});

test('a promoted learner votes, counts and can lead', () => {
  const c = withLearner();
  c.raft(1).proposeConfChange({ changes: [{ op: 'addVoter', nodeId: 4 }] });
  c.run(3);
  assert.deepEqual(confState(c, 1), {
    voters: [1, 2, 3, 4],
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  });
  assert.deepEqual(confState(c, 4).voters, [1, 2, 3, 4]);
  c.raft(1).transferLeadership(4);
  c.stabilize();
  assert.equal(c.leader(), 4);
  c.put(4, 'from-4', 'yes');
  c.stabilize();
  assert.equal(c.node(2).sm.get('from-4'), 'yes');
});

test('single-server change: one voter is added directly, without a joint configuration', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.addEmptyNode(4);
  c.raft(1).proposeConfChange({ changes: [{ op: 'addVoter', nodeId: 4 }] });
  c.run(3);
  assert.deepEqual(
    appliedChanges(c, 1).map((cc) => cc.changes),
    [[{ op: 'addVoter', nodeId: 4 }]],
    'one entry, no leave',
  );
  assert.deepEqual(confState(c, 1).votersOutgoing, []);
  assert.deepEqual(confState(c, 4).voters, [1, 2, 3, 4]);
});

test('joint consensus: replacing a voter goes through a joint configuration the leader leaves by itself', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.addEmptyNode(4);
  c.raft(1).proposeConfChange({
    changes: [
      { op: 'addVoter', nodeId: 4 },
      { op: 'removeNode', nodeId: 3 },
    ],
  });
  c.run(5);
  const changes = appliedChanges(c, 1);
  assert.equal(changes.length, 2, 'the joint entry, then the automatic leave');
  assert.equal(changes[0]!.changes.length, 2);
  assert.deepEqual(changes[1]!.changes, [], 'the leave entry was appended by the leader');
  for (const id of [1, 2, 4]) {
    assert.deepEqual(
      confState(c, id),
      { voters: [1, 2, 4], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
      `node ${id}`,
    );
  }
  c.put(1, 'k', 'v');
  c.stabilize();
  assert.equal(c.node(4).sm.get('k'), 'v');
});

test('joint consensus: a new leader leaves a joint configuration its predecessor entered (auto-leave)', () => {
  // One entry per append, so that only the append carrying the leave entry can be lost.
  const c = new Cluster({ voters: [1, 2, 3], options: { appendBytesMax: 1 } });
  c.elect(1);
  c.addEmptyNode(4);
  c.addEmptyNode(5);
  // Leader 1's automatic leave entry never reaches anyone, then leader 1 is cut off.
  c.drop = (m) =>
    m.from === 1 &&
    m.type === 'append' &&
    m.entries.some((e) => e.kind === EntryKind.ConfChange && decodeConfChange(e.data).changes.length === 0);
  c.raft(1).proposeConfChange({
    changes: [
      { op: 'addVoter', nodeId: 4 },
      { op: 'addVoter', nodeId: 5 },
    ],
  });
  c.run(3);
  for (const id of [2, 3, 4, 5])
    assert.deepEqual(confState(c, id).votersOutgoing, [1, 2, 3], `node ${id} is joint`);
  c.heal();
  c.isolate(1);
  c.tickUntil(() => [2, 3, 4, 5].some((id) => c.raft(id).role === 'leader'), 100, [2, 3, 4, 5]);
  c.run(20, [2, 3, 4, 5]);
  for (const id of [2, 3, 4, 5]) {
    assert.deepEqual(confState(c, id).votersOutgoing, [], `node ${id} left the joint configuration`);
    assert.deepEqual(confState(c, id).voters, [1, 2, 3, 4, 5]);
  }
});

test('joint consensus: while joint, commit needs a majority of both configurations; explicit leave', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.addEmptyNode(4);
  c.addEmptyNode(5);
  c.raft(1).proposeConfChange({
    transition: 'joint-explicit',
    changes: [
      { op: 'addVoter', nodeId: 4 },
      { op: 'addVoter', nodeId: 5 },
      { op: 'removeNode', nodeId: 2 },
      { op: 'removeNode', nodeId: 3 },
    ],
  });
  c.run(5);
  assert.deepEqual(confState(c, 1), {
    voters: [1, 4, 5],
    learners: [],
    votersOutgoing: [1, 2, 3],
    learnersNext: [],
    autoLeave: false,
  });
  const commit = c.raft(1).commitIndex;
  c.put(1, 'a', '1');
  c.stabilize(notTouching(4, 5)); // the old configuration alone acknowledges
  assert.equal(c.raft(1).commitIndex, commit, 'a majority of {1,2,3} is not enough');
  c.stabilize();
  assert.equal(c.raft(1).commitIndex, commit + 1);
  c.put(1, 'b', '2');
  c.stabilize(notTouching(2, 3)); // the new configuration alone acknowledges
  assert.equal(c.raft(1).commitIndex, commit + 1, 'a majority of {1,4,5} is not enough either');
  c.stabilize();
  c.run(3);
  assert.deepEqual(confState(c, 1).votersOutgoing, [1, 2, 3], 'explicit: no automatic leave');
  c.raft(1).proposeConfChange({ changes: [] });
  c.run(3);
  assert.deepEqual(confState(c, 1), {
    voters: [1, 4, 5],
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  });
  const after = c.raft(1).commitIndex;
  c.put(1, 'c', '3');
  c.stabilize(notTouching(2, 3));
  assert.equal(c.raft(1).commitIndex, after + 1, 'now {1,4,5} alone decides');
});

test('only one conf change may be pending: a second one is dropped with ProposalDroppedError', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.addEmptyNode(4);
  c.addEmptyNode(5);
  c.raft(1).proposeConfChange({ changes: [{ op: 'addLearner', nodeId: 4 }] });
  const last = c.raft(1).status().lastIndex;
  assert.throws(
    () => c.raft(1).proposeConfChange({ changes: [{ op: 'addLearner', nodeId: 5 }] }),
    (error: unknown) => {
      assert.ok(error instanceof ProposalDroppedError);
      assert.equal(error.code, 'FLOTILLA_PROPOSAL_DROPPED');
      assert.equal(error.group, GROUP);
      assert.match(error.reason, /conf change/);
      return true;
    },
  );
  assert.equal(c.raft(1).status().lastIndex, last, 'nothing was appended');
  c.put(1, 'k', 'v'); // ordinary proposals are not affected
  c.run(3);
  c.raft(1).proposeConfChange({ changes: [{ op: 'addLearner', nodeId: 5 }] });
  c.run(3);
  assert.deepEqual(confState(c, 1).learners, [4, 5]);
});

test('an invalid conf change is refused at proposal and never enters the log', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  const last = c.raft(1).status().lastIndex;
  assert.throws(
    () => c.raft(1).proposeConfChange({ changes: [] }),
    InvalidConfChangeError,
    'leave when not joint',
  );
  assert.throws(
    () => c.raft(1).proposeConfChange({ changes: [{ op: 'addVoter', nodeId: 0 }] }),
    InvalidConfChangeError,
  );
  assert.equal(c.raft(1).status().lastIndex, last);
  c.raft(1).proposeConfChange({ changes: [{ op: 'removeNode', nodeId: 3 }] }); // still accepted afterwards
});

test('a removed leader steps down and the remaining voters carry on', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.raft(1).proposeConfChange({ changes: [{ op: 'removeNode', nodeId: 1 }] });
  c.stabilize();
  assert.notEqual(c.raft(1).role, 'leader', 'it stepped down once the change applied');
  const leader = c.waitForLeader();
  assert.ok(leader === 2 || leader === 3);
  for (const id of [2, 3]) assert.deepEqual(confState(c, id).voters, [2, 3]);
  c.put(leader, 'k', 'v');
  c.run(3);
  assert.equal(c.node(2).sm.get('k'), 'v');
  assert.equal(c.node(3).sm.get('k'), 'v');
  c.run(50);
  assert.equal(c.leader(), leader, 'the removed node does not disrupt the new leader');
});

test('a leader replaced through joint consensus steps down once the joint configuration is left', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.addEmptyNode(4);
  c.raft(1).proposeConfChange({
    changes: [
      { op: 'addVoter', nodeId: 4 },
      { op: 'removeNode', nodeId: 1 },
    ],
  });
  c.run(5);
  assert.equal(c.raft(1).role, 'follower');
  const leader = c.waitForLeader();
  assert.ok([2, 3, 4].includes(leader));
  for (const id of [2, 3, 4]) assert.deepEqual(confState(c, id).voters, [2, 3, 4]);
  c.put(leader, 'k', 'v');
  c.run(3);
  assert.equal(c.node(4).sm.get('k'), 'v');
});

test('a restarted node replays committed conf changes and knows the latest membership at once', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  for (const id of [4, 5]) {
    c.addEmptyNode(id);
    c.raft(1).proposeConfChange({ changes: [{ op: 'addVoter', nodeId: id }] });
    c.run(3);
  }
  for (const id of [1, 2, 3, 4, 5]) c.stop(id);
  for (const id of [1, 2, 3, 4, 5]) {
    c.restart(id);
    assert.deepEqual(confState(c, id).voters, [1, 2, 3, 4, 5], `node ${id} before any Ready`);
  }
  // 3, 4 and 5 are a majority only of the new membership: they can elect a leader by themselves.
  c.isolate(1, 2);
  c.tickUntil(() => [3, 4, 5].some((id) => c.raft(id).role === 'leader'), 100, [3, 4, 5]);
});

test('after compaction, a restarted node takes its membership from the snapshot', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.addEmptyNode(4);
  c.raft(1).proposeConfChange({ changes: [{ op: 'addLearner', nodeId: 4 }] });
  c.run(3);
  c.put(1, 'k', 'v');
  c.stabilize();
  c.compact(2);
  c.stop(2);
  c.restart(2);
  assert.deepEqual(confState(c, 2).learners, [4]);
  assert.equal(c.node(2).sm.get('k'), 'v');
});
