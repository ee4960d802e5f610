/**
 * The Ready contract with asynchronous storage (thesis §10.2.1): the leader sends appends before its own
 * write is durable and counts itself toward commit only after `advance`; followers answer only once their
 * writes are durable; committed entries are handed out only when durable locally; hard state and mustSync.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AppendMessage,
  bootstrapStorage,
  EntryKind,
  MemoryLogStorage,
  MemoryStableStorage,
  type Message,
  RaftNode,
  type Ready,
} from '@flotilla/core';
import { bytes, Cluster } from './harness.ts';

const PROMISES_DURABLE_STATE: ReadonlySet<Message['type']> = new Set([
  'appendResponse',
  'vote',
  'voteResponse',
  'heartbeatResponse',
]);

test('the leader sends appends before its write is durable, and commits only once it is', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.isolate(3); // the leader needs its own vote: 1 + 2 is the only majority left
  c.node(1).hold = true;
  c.put(1, 'k', 'v');
  c.process(1);
  const rd = c.node(1).held!;
  assert.deepEqual(
    rd.entries.map((e) => e.index),
    [5],
  );
  const append = rd.messages.find((m): m is AppendMessage => m.type === 'append' && m.to === 2);
  assert.deepEqual(
    append?.entries.map((e) => e.index),
    [5],
    'the append leaves with the Ready, before persistence',
  );
  c.stabilize(); // node 2 persists and acknowledges; the leader's own write is still in flight
  assert.ok(c.sentWhere((m) => m.type === 'appendResponse' && m.from === 2 && m.index === 5).length > 0);
  assert.equal(c.raft(1).commitIndex, 4, 'one durable copy of two needed: not committed');
  c.node(1).hold = false;
  c.flush(1); // the leader's write is durable now
  assert.equal(c.raft(1).commitIndex, 5);
  c.stabilize();
  assert.equal(c.node(1).sm.get('k'), 'v');
  assert.equal(c.raft(2).commitIndex, 5, 'the new commit index is broadcast');
});

test('a follower acknowledges only after its write is durable (messagesAfterPersist)', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.isolate(3);
  c.node(2).hold = true;
  c.put(1, 'k', 'v');
  c.stabilize();
  const rd = c.node(2).held!;
  assert.equal(rd.entries.length, 1);
  assert.equal(rd.mustSync, true);
  assert.equal(
    rd.messages.filter((m) => m.type === 'appendResponse').length,
    0,
    'nothing acknowledges before persistence',
  );
  assert.deepEqual(
    rd.messagesAfterPersist.map((m) => `${m.type}:${m.to}:${'index' in m ? m.index : ''}`),
    ['appendResponse:1:5'],
  );
  assert.equal(c.raft(1).commitIndex, 4, 'the leader has no durable acknowledgment yet');
  c.node(2).hold = false;
  c.flush(2);
  c.stabilize();
  assert.equal(c.raft(1).commitIndex, 5);
});

test('a follower that crashes before its write is durable never acknowledged the entries it lost', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.isolate(3);
  c.node(2).hold = true;
  c.put(1, 'k', 'v');
  c.stabilize();
  c.stop(2); // crash: the held Ready is never persisted
  c.restart(2);
  assert.equal(c.node(2).log.lastIndex(), 4, 'the entry was lost with the crash');
  assert.equal(c.raft(1).commitIndex, 4, 'so it must not count as replicated');
  c.node(2).hold = false;
  c.run(3);
  assert.equal(c.raft(1).commitIndex, 5, 'the leader resends it after the restart');
  assert.equal(c.node(2).sm.get('k'), 'v');
});

test('committed entries are applied only once durable locally', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.isolate(3);
  c.raft(1).propose(bytes('a'));
  c.raft(1).propose(bytes('b'));
  c.stabilize();
  assert.equal(c.raft(1).commitIndex, 6);
  // Node 3 receives entries 5 and 6 in an append that already says they are committed.
  const [e5, e6] = c.node(1).entries(5);
  c.node(3).hold = true;
  c.raft(3).step({
    type: 'append',
    from: 1,
    to: 3,
    term: c.raft(1).term,
    index: 4,
    logTerm: c.raft(1).logTerm(4)!,
    entries: [e5!, e6!],
    commit: 6,
  });
  c.process(3);
  const rd = c.node(3).held!;
  assert.deepEqual(
    rd.entries.map((e) => e.index),
    [5, 6],
  );
  assert.equal(rd.hardState?.commit, 6, 'the commit index is known (and persisted after the entries)');
  assert.ok(
    rd.committedEntries.every((e) => e.index <= 4),
    'but entries 5 and 6 are not handed out for applying before they are durable',
  );
  c.node(3).hold = false;
  c.flush(3);
  c.process(3);
  assert.deepEqual(
    c
      .node(3)
      .readys.at(-1)!
      .committedEntries.map((e) => e.index),
    [5, 6],
  );
});

test('hard state and mustSync: set on term or vote changes; a commit-only change needs no fsync', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.raft(1).campaign();
  c.stabilize();
  const voterReady = c
    .node(2)
    .readys.find((rd) => rd.messagesAfterPersist.some((m) => m.type === 'voteResponse'))!;
  assert.deepEqual(
    voterReady.hardState && { term: voterReady.hardState.term, vote: voterReady.hardState.vote },
    {
      term: 2,
      vote: 1,
    },
  );
  assert.equal(voterReady.mustSync, true, 'a vote must be durable before it is sent');
  const candidateReady = c
    .node(1)
    .readys.find((rd) => rd.messagesAfterPersist.some((m) => m.type === 'vote'))!;
  assert.equal(candidateReady.hardState?.vote, 1, 'the self-vote is persisted before vote requests leave');
  assert.equal(candidateReady.mustSync, true);
  const preVoteReady = c.node(1).readys[0]!;
  assert.ok(
    preVoteReady.messages.some((m) => m.type === 'preVote'),
    'pre-votes promise nothing',
  );
  assert.equal(preVoteReady.hardState, undefined);
  assert.equal(preVoteReady.mustSync, false);
  // After the leader's no-op commits, followers learn the new commit index alone.
  const commitOnly = c.node(2).readys.find((rd) => rd.entries.length === 0 && rd.hardState?.commit === 4);
  assert.ok(commitOnly, 'a Ready that only moves commit');
  assert.equal(commitOnly.mustSync, false);
});

test('through a whole scenario, no message that promises durable state leaves before persistence', () => {
  const c = new Cluster({ voters: [1, 2, 3, 4, 5], seed: 3 });
  const leader = c.waitForLeader();
  for (let i = 0; i < 20; i++) c.put(leader, `k${i}`, 'v');
  c.isolate(leader);
  c.run(30);
  c.heal();
  c.run(30);
  let readys = 0;
  for (const id of c.ids()) {
    for (const rd of c.node(id).readys as Ready[]) {
      readys++;
      for (const m of rd.messages)
        assert.ok(!PROMISES_DURABLE_STATE.has(m.type), `${m.type} sent before persistence`);
      if (rd.entries.length > 0 || rd.snapshot) assert.equal(rd.mustSync, true);
    }
  }
  assert.ok(readys > 50);
});

test('several Readies in flight (readiesInFlightMax): handed out in order, each entry once, advanced in order', async () => {
  const log = new MemoryLogStorage();
  const stable = new MemoryStableStorage();
  await bootstrapStorage(log, stable, [1]);
  const node = new RaftNode({
    id: 1,
    group: 'g',
    logStorage: log,
    stableStorage: stable,
    readiesInFlightMax: 2,
  });
  const persist = async (rd: Ready) => {
    if (rd.entries.length > 0) await log.append(rd.entries);
    if (rd.hardState) await stable.setHardState(rd.hardState);
  };
  const applied: string[] = [];
  const drain = async () => {
    while (node.hasReady()) {
      const rd = node.ready();
      await persist(rd);
      for (const e of rd.committedEntries)
        if (e.kind === EntryKind.Normal && e.data.length > 0) applied.push(new TextDecoder().decode(e.data));
      node.advance(rd);
    }
  };
  node.campaign();
  await drain();
  assert.equal(node.role, 'leader');

  node.propose(bytes('a'));
  const first = node.ready();
  node.propose(bytes('b'));
  assert.ok(node.hasReady(), 'a second Ready while the first is in flight');
  const second = node.ready();
  assert.deepEqual(
    [first.entries.map((e) => e.index), second.entries.map((e) => e.index)],
    [[first.entries[0]!.index], [first.entries[0]!.index + 1]],
    'each entry is handed out once',
  );
  node.propose(bytes('c'));
  assert.equal(node.hasReady(), false, 'two outstanding: the most allowed');
  assert.throws(() => node.ready(), /outstanding/);
  assert.throws(() => node.advance(second), /oldest outstanding/, 'advance in the order handed out');

  await persist(first);
  node.advance(first);
  assert.ok(node.hasReady());
  await persist(second);
  node.advance(second);
  await drain();
  assert.deepEqual(applied, ['a', 'b', 'c'], 'committed once each, in order, only once durable');
});
