/**
 * Flow control on the leader (thesis §10.2): pipelined appends bounded by an inflight window (count and
 * bytes), proposals batched into one append per follower per Ready, the uncommitted-bytes bound with its
 * typed error, and recovery of a window whose appends were all lost.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AppendMessage, type Message, TooManyUncommittedError } from '@flotilla/core';
import { bytes, Cluster, GROUP } from './harness.ts';

const appendsTo = (ms: readonly Message[], to: number) =>
  ms.filter((m): m is AppendMessage => m.type === 'append' && m.to === to);

/** A leader (1) whose followers are in replicate state. */
function replicatingCluster(options: ConstructorParameters<typeof Cluster>[0]['options'] = {}): Cluster {
  const c = new Cluster({ voters: [1, 2, 3], options });
  c.elect(1);
  assert.ok(
    c
      .raft(1)
      .status()
      .progress.every((p) => p.state === 'replicate'),
  );
  return c;
}

test('pipelining: appends leave without waiting for acks, up to inflightMessagesMax per follower', () => {
  const c = replicatingCluster({ inflightMessagesMax: 4 });
  for (let i = 0; i < 10; i++) {
    c.raft(1).propose(bytes(`e${i}`));
    c.process(1); // one Ready per proposal; nothing is delivered in between
  }
  assert.equal(appendsTo(c.queue, 2).length, 4, 'four appends in flight to node 2, the fifth waits');
  const pr = c
    .raft(1)
    .status()
    .progress.find((p) => p.id === 2)!;
  assert.equal(pr.state, 'replicate');
  assert.equal(pr.inflightMessages, 4);
  c.stabilize();
  assert.equal(c.raft(2).commitIndex, 4 + 10, 'the rest follows as acknowledgments free the window');
});

test('pipelining: the window is also bounded by inflightBytesMax', () => {
  const c = replicatingCluster({ inflightMessagesMax: 100, inflightBytesMax: 100 });
  for (let i = 0; i < 6; i++) {
    c.raft(1).propose(new Uint8Array(40));
    c.process(1);
  }
  // 40 + 40 < 100 but 40 + 40 + 40 ≥ 100: the third append fills the window.
  assert.equal(appendsTo(c.queue, 2).length, 3);
  assert.equal(appendsTo(c.queue, 3).length, 3);
  c.stabilize();
  assert.equal(c.raft(3).commitIndex, 4 + 6);
});

test('a follower in probe state gets one append at a time', () => {
  const c = replicatingCluster();
  c.raft(1).reportUnreachable(2);
  assert.equal(
    c
      .raft(1)
      .status()
      .progress.find((p) => p.id === 2)!.state,
    'probe',
  );
  for (let i = 0; i < 5; i++) {
    c.raft(1).propose(bytes(`e${i}`));
    c.process(1);
  }
  assert.equal(appendsTo(c.queue, 2).length, 1, 'probe: one append until the follower answers');
  assert.equal(appendsTo(c.queue, 3).length, 5, 'the other follower still pipelines');
  c.stabilize();
  assert.equal(
    c
      .raft(1)
      .status()
      .progress.find((p) => p.id === 2)!.state,
    'replicate',
  );
  assert.equal(c.raft(2).commitIndex, 9);
});

test('proposal batching: many proposals between two Readys leave as one append per follower', () => {
  const c = replicatingCluster();
  const mark = c.sent.length;
  for (let i = 0; i < 50; i++) c.raft(1).propose(bytes(`e${i}`));
  assert.equal(c.queue.length, 0, 'nothing is sent before ready()');
  c.process(1);
  const rd = c.node(1).readys.at(-1)!;
  assert.equal(rd.entries.length, 50, 'one write of 50 entries');
  for (const to of [2, 3]) {
    const appends = appendsTo(rd.messages, to);
    assert.equal(appends.length, 1, `one append to ${to}`);
    assert.equal(appends[0]!.entries.length, 50);
  }
  c.stabilize();
  const withEntries = appendsTo(c.sent.slice(mark), 2).filter((m) => m.entries.length > 0);
  assert.equal(withEntries.length, 1, 'the whole batch went in a single append');
  assert.equal(c.raft(2).commitIndex, 54);
});

test('appendBytesMax splits a large backlog into several appends', () => {
  const c = replicatingCluster({ appendBytesMax: 100 });
  for (let i = 0; i < 10; i++) c.raft(1).propose(new Uint8Array(30));
  c.process(1);
  const appends = appendsTo(c.queue, 2);
  assert.deepEqual(
    appends.map((m) => m.entries.length),
    [3, 3, 3, 1],
  );
});

test('uncommitted bytes are bounded: TooManyUncommittedError carries the group and the numbers', () => {
  const c = replicatingCluster({ uncommittedBytesMax: 1000 });
  c.isolate(2, 3); // nothing can commit
  c.raft(1).propose(new Uint8Array(600));
  c.raft(1).propose(new Uint8Array(300));
  assert.throws(
    () => c.raft(1).propose(new Uint8Array(200)),
    (error: unknown) => {
      assert.ok(error instanceof TooManyUncommittedError);
      assert.equal(error.code, 'FLOTILLA_TOO_MANY_UNCOMMITTED');
      assert.equal(error.group, GROUP);
      assert.equal(error.uncommittedBytes, 900);
      assert.equal(error.maxUncommittedBytes, 1000);
      return true;
    },
  );
  assert.equal(c.raft(1).status().uncommittedBytes, 900, 'the refused proposal was not appended');
  c.heal();
  c.run(3);
  assert.equal(c.raft(1).status().uncommittedBytes, 0, 'commit releases the budget');
  c.raft(1).propose(new Uint8Array(900));
});

test('a single proposal larger than the bound is accepted when nothing is uncommitted', () => {
  const c = replicatingCluster({ uncommittedBytesMax: 1000 });
  const r = c.raft(1).propose(new Uint8Array(5000));
  assert.equal(r.forwarded, false);
  assert.throws(() => c.raft(1).propose(new Uint8Array(1)), TooManyUncommittedError);
});

test('a window filled by lost appends recovers: each heartbeat answer frees one slot', () => {
  const c = replicatingCluster({ inflightMessagesMax: 2 });
  const mark = c.sent.length;
  c.drop = (m) => m.type === 'append' && m.to === 2; // appends to 2 are lost, silently
  for (let i = 0; i < 6; i++) {
    c.raft(1).propose(bytes(`e${i}`));
    c.stabilize();
  }
  const carrying = appendsTo(c.sent.slice(mark), 2).filter((m) => m.entries.length > 0);
  assert.equal(carrying.length, 2, 'the window filled and stopped');
  assert.equal(c.raft(1).commitIndex, 10, 'node 3 keeps the group committing');
  c.drop = () => false;
  c.stabilize();
  assert.equal(c.raft(2).commitIndex, 4, 'without a heartbeat nothing frees the window');
  const ticks = c.tickUntil(() => c.raft(2).commitIndex === 10, 5);
  assert.ok(ticks <= 2, `caught up after ${ticks} heartbeats`);
  assert.equal(c.node(2).sm.appliedIndex, 10);
});

test('committed entries are handed to the application in Readys of at most committedBytesPerReadyMax', () => {
  const c = new Cluster({ voters: [1, 2, 3], perNode: { 3: { committedBytesPerReadyMax: 1000 } } });
  c.elect(1);
  c.node(3).hold = true; // node 3 takes in 30 entries of 100 bytes before applying any
  for (let i = 0; i < 30; i++) c.raft(1).propose(new Uint8Array(100));
  c.stabilize();
  c.node(3).hold = false;
  c.flush(3);
  c.stabilize();
  const sizes = c.node(3).readys.map((rd) => rd.committedEntries.reduce((n, e) => n + e.data.length, 0));
  assert.ok(
    sizes.every((s) => s <= 1000),
    `bytes per Ready: ${sizes}`,
  );
  assert.ok(sizes.filter((s) => s > 0).length >= 3, 'the backlog was split over several Readys');
  assert.equal(c.node(3).sm.appliedIndex, 4 + 30);
});
