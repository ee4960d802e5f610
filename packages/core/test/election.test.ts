/**
 * Leader election (Raft §5.2, thesis §9.6 pre-vote, §6.2 check-quorum): randomized seeded timeouts, one
 * leader per term, partitioned nodes that cannot disrupt, leaders that step down without a quorum.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bootstrapStorage,
  EntryKind,
  MemoryLogStorage,
  MemoryStableStorage,
  type Message,
  RaftNode,
} from '@flotilla/core';
import { Cluster } from './harness.ts';

/** Ticks a lone member of a 3-voter group (nobody answers) and returns the ticks between its elections. */
function electionIntervals(seed: number, count: number, electionTicks = 10): number[] {
  const log = new MemoryLogStorage();
  const stable = new MemoryStableStorage();
  void bootstrapStorage(log, stable, [1, 2, 3]);
  const node = new RaftNode({
    id: 1,
    group: 'g',
    logStorage: log,
    stableStorage: stable,
    random: seed,
    electionTicks,
    preVote: false,
  });
  const intervals: number[] = [];
  let term = node.term;
  let ticks = 0;
  while (intervals.length < count) {
    node.tick();
    ticks++;
    if (node.term !== term) {
      assert.equal(node.role, 'candidate');
      intervals.push(ticks);
      term = node.term;
      ticks = 0;
    }
    assert.ok(ticks < 100, 'the node must campaign');
  }
  return intervals;
}

test('election timeouts are random in [electionTicks, 2 * electionTicks) and replay from a seed', () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 100; seed++) {
    const intervals = electionIntervals(seed, 5);
    for (const t of intervals) {
      assert.ok(t >= 10 && t < 20, `seed ${seed}: timeout ${t} out of range`);
      seen.add(t);
    }
    assert.deepEqual(electionIntervals(seed, 5), intervals, `seed ${seed} replays the same timeouts`);
  }
  assert.equal(seen.size, 10, 'every value of the range occurs');
  assert.notDeepEqual(
    electionIntervals(1, 8),
    electionIntervals(2, 8),
    'different seeds, different timeouts',
  );
});

function checkOneLeaderPerTerm(c: Cluster, leadersByTerm: Map<number, number>): void {
  for (const id of c.leaders()) {
    const term = c.raft(id).term;
    const known = leadersByTerm.get(term);
    assert.ok(known === undefined || known === id, `two leaders in term ${term}: ${known} and ${id}`);
    leadersByTerm.set(term, id);
  }
}

for (const size of [3, 5]) {
  test(`a ${size}-node cluster elects exactly one leader that everyone follows (10 seeds)`, () => {
    for (let seed = 1; seed <= 10; seed++) {
      const voters = Array.from({ length: size }, (_, i) => i + 1);
      const c = new Cluster({ voters, seed });
      const byTerm = new Map<number, number>();
      c.tickUntil(() => {
        checkOneLeaderPerTerm(c, byTerm);
        return c.leaders().length === 1;
      }, 100);
      const leader = c.leader();
      c.run(50); // a stable leader keeps leading
      checkOneLeaderPerTerm(c, byTerm);
      assert.equal(c.leader(), leader, `seed ${seed}: leadership is stable without faults`);
      for (const id of voters) {
        assert.equal(c.raft(id).leaderId, leader, `seed ${seed}: node ${id} follows the leader`);
        assert.equal(c.raft(id).term, c.raft(leader).term);
      }
    }
  });
}

test('the leader appends a no-op of its term on election and commits it everywhere', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(2);
  const term = c.raft(2).term;
  const last = c.node(2).entries().at(-1)!;
  assert.deepEqual(
    { index: last.index, term: last.term, kind: last.kind, size: last.data.length },
    {
      index: 4, // after the three bootstrap entries
      term,
      kind: EntryKind.Normal,
      size: 0,
    },
  );
  for (const id of [1, 2, 3]) {
    assert.equal(c.raft(id).commitIndex, 4, `node ${id} committed the no-op`);
    assert.equal(c.node(id).applied.at(-1)?.term, term);
  }
});

test('pre-vote: an isolated node does not raise its term and does not disrupt the leader on rejoin', () => {
  const c = new Cluster({ voters: [1, 2, 3], options: { preVote: true, checkQuorum: true } });
  c.elect(1);
  const term = c.raft(1).term;
  c.isolate(3);
  c.run(100);
  assert.equal(c.raft(3).term, term, 'pre-votes never move the term');
  assert.notEqual(c.raft(3).role, 'leader');
  assert.ok(c.sentWhere((m) => m.from === 3 && m.type === 'preVote').length > 0, 'it did try');
  assert.equal(c.sentWhere((m) => m.from === 3 && m.type === 'vote').length, 0, 'but never a real election');
  c.heal();
  c.run(30);
  assert.equal(c.leader(), 1, 'the leader survives the rejoin');
  assert.equal(c.raft(1).term, term);
  assert.equal(c.raft(3).leaderId, 1);
});

test('pre-vote: answering a pre-vote request changes neither the term nor the vote of the receiver', () => {
  const c = new Cluster({ voters: [1, 2, 3], options: { preVote: true, checkQuorum: false } });
  c.elect(1);
  const term = c.raft(2).term;
  const last = c.raft(3).status().lastIndex;
  c.raft(2).step({
    type: 'preVote',
    from: 3,
    to: 2,
    term: term + 1,
    index: last,
    logTerm: c.raft(3).logTerm(last)!,
    transfer: false,
  });
  c.process(2);
  assert.equal(c.raft(2).term, term);
  assert.equal(c.raft(2).status().vote, 1);
  assert.equal(c.raft(2).leaderId, 1, 'it keeps following its leader');
  const answer = c
    .node(2)
    .readys.at(-1)!
    .messages.find((m) => m.type === 'preVoteResponse');
  assert.ok(answer && answer.type === 'preVoteResponse' && !answer.reject, 'granted, for the future term');
  assert.equal(answer.term, term + 1);
});

test('without pre-vote an isolated node raises its term, and its rejoin deposes the leader', () => {
  const c = new Cluster({ voters: [1, 2, 3], options: { preVote: false, checkQuorum: true } });
  c.elect(1);
  const term = c.raft(1).term;
  c.isolate(3);
  c.run(100);
  assert.ok(c.raft(3).term >= term + 5, `isolated node at term ${c.raft(3).term}, started at ${term}`);
  c.heal();
  c.run(60);
  assert.ok(c.raft(c.leader()).term > term + 4, 'the cluster had to move to the partitioned node’s term');
});

test('check-quorum: an isolated leader steps down within two election timeouts; the rest elect another', () => {
  const c = new Cluster({ voters: [1, 2, 3], options: { checkQuorum: true } });
  c.elect(1);
  c.isolate(1);
  // The transport notices the broken links (a quiesced idle group relies on it to start its timers again).
  c.raft(1).reportUnreachable(2);
  c.raft(1).reportUnreachable(3);
  for (const id of [2, 3]) c.raft(id).reportUnreachable(1);
  const ticks = c.tickUntil(() => c.raft(1).role !== 'leader', 25, [1]);
  assert.ok(ticks >= 10 && ticks <= 20, `stepped down after ${ticks} ticks`);
  assert.equal(c.raft(1).role, 'follower');
  assert.equal(c.raft(1).leaderId, 0);
  const newLeader = c.waitForLeader();
  assert.ok(newLeader === 2 || newLeader === 3);
});

test('without check-quorum an isolated leader keeps believing it leads', () => {
  const c = new Cluster({ voters: [1, 2, 3], options: { checkQuorum: false } });
  c.elect(1);
  c.isolate(1);
  c.run(100, [1]);
  assert.equal(c.raft(1).role, 'leader');
});

function voteRequest(c: Cluster, from: number, to: number, transfer: boolean): Message {
  const r = c.raft(from);
  const last = r.status().lastIndex;
  return { type: 'vote', from, to, term: r.term + 1, index: last, logTerm: r.logTerm(last)!, transfer };
}

test('check-quorum lease: a follower that heard the leader recently ignores vote requests', () => {
  const c = new Cluster({ voters: [1, 2, 3], options: { checkQuorum: true } });
  c.elect(1);
  const term = c.raft(2).term;
  c.raft(2).step(voteRequest(c, 3, 2, false));
  c.stabilize();
  assert.equal(c.raft(2).term, term, 'the request did not even move the term');
  assert.equal(
    c.sentWhere((m) => m.from === 2 && m.to === 3 && m.type === 'voteResponse').length,
    0,
    'no answer at all',
  );
  assert.equal(c.leader(), 1);
  // A leadership transfer's campaign is allowed through the lease.
  c.isolate(1);
  c.raft(2).step(voteRequest(c, 3, 2, true));
  c.process(2);
  const answer = c.sentWhere((m) => m.from === 2 && m.type === 'voteResponse').at(-1);
  assert.equal(answer?.type === 'voteResponse' && answer.reject, false);
});

test('without check-quorum the same vote request is granted and moves the term', () => {
  const c = new Cluster({ voters: [1, 2, 3], options: { checkQuorum: false, preVote: false } });
  c.elect(1);
  const term = c.raft(2).term;
  c.isolate(1, 3);
  c.raft(2).step(voteRequest(c, 3, 2, false));
  c.process(2);
  assert.equal(c.raft(2).term, term + 1);
  const answer = c.sentWhere((m) => m.from === 2 && m.type === 'voteResponse').at(-1);
  assert.equal(answer?.type === 'voteResponse' && answer.reject, false);
});

test('a candidate with a shorter log cannot win (election restriction, Raft §5.4.1)', () => {
  const c = new Cluster({ voters: [1, 2, 3], options: { checkQuorum: false, preVote: false } });
  c.elect(1);
  c.isolate(3);
  c.put(1, 'k', 'v');
  c.stabilize(); // 1 and 2 hold the entry; 3 does not
  c.heal();
  c.isolate(1);
  c.raft(3).campaign();
  c.stabilize();
  assert.notEqual(c.raft(3).role, 'leader');
  const answer = c.sentWhere((m) => m.from === 2 && m.to === 3 && m.type === 'voteResponse').at(-1);
  assert.equal(answer?.type === 'voteResponse' && answer.reject, true, 'node 2 refused the stale candidate');
  c.raft(2).campaign();
  c.stabilize();
  assert.equal(c.raft(2).role, 'leader', 'the up-to-date node wins');
});
