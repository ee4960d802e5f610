/**
 * Snapshots and compaction (Raft §7): a follower behind the leader's first index gets the leader's snapshot
 * through `Ready.snapshot`, restores its state machine and catches up; failed transfers fall back to probe;
 * compacted groups keep working and restart; a snapshot older than the follower's own addition installs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster } from './harness.ts';

const progressOf = (c: Cluster, leader: number, id: number) =>
  c
    .raft(leader)
    .status()
    .progress.find((p) => p.id === id)!;

/** Node 3 misses 20 writes while the leader compacts them away. Returns the snapshot index. */
function laggingBehindCompaction(c: Cluster): number {
  c.elect(1);
  c.isolate(3);
  for (let i = 0; i < 20; i++) c.put(1, `k${i}`, `v${i}`);
  c.stabilize();
  const index = c.compact(1);
  assert.equal(c.raft(1).status().firstIndex, index + 1);
  c.heal();
  c.put(1, 'after', 'yes'); // traffic makes the leader look for node 3's position
  return index;
}

test('a follower behind the first index receives the snapshot, restores from it and catches up', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  const index = laggingBehindCompaction(c);
  c.run(5);
  assert.deepEqual(c.node(3).snapshotsInstalled, [index]);
  const rd = c.node(3).readys.find((r) => r.snapshot)!;
  assert.equal(rd.snapshot?.meta.index, index);
  assert.deepEqual(rd.snapshot?.meta.confState.voters, [1, 2, 3]);
  assert.equal(c.sentWhere((m) => m.type === 'snapshot' && m.to === 3).length, 1);
  assert.equal(c.raft(3).status().firstIndex, index + 1, 'the follower log starts after the snapshot');
  assert.equal(c.node(3).sm.get('k0'), 'v0', 'state that only the snapshot carried');
  assert.equal(c.node(3).sm.get('after'), 'yes', 'and entries after it');
  assert.equal(c.raft(3).commitIndex, c.raft(1).commitIndex);
  assert.equal(progressOf(c, 1, 3).state, 'replicate', 'normal replication resumed');
});

test('while a snapshot is in flight nothing else is sent; reportSnapshot(false) returns to probe', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  laggingBehindCompaction(c);
  const found = c.stabilizeUntil(() => c.queue.some((m) => m.type === 'snapshot'));
  assert.ok(found, 'the leader sends a snapshot');
  assert.equal(progressOf(c, 1, 3).state, 'snapshot');
  c.queue = c.queue.filter((m) => m.type !== 'snapshot'); // the transfer fails
  const mark = c.sent.length;
  c.put(1, 'more', 'x');
  c.stabilize();
  assert.equal(
    c.sent.slice(mark).filter((m) => m.to === 3 && (m.type === 'append' || m.type === 'snapshot')).length,
    0,
  );
  c.raft(1).reportSnapshot(3, false);
  assert.equal(progressOf(c, 1, 3).state, 'probe');
  c.run(5);
  assert.equal(c.node(3).snapshotsInstalled.length, 1, 'a later attempt delivers it');
  assert.equal(c.node(3).sm.get('more'), 'x');
});

test('compaction up to the applied index keeps the group working, across restarts', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 10; i++) c.put(1, `k${round}-${i}`, `${round}`);
    c.stabilize();
    for (const id of [1, 2, 3]) c.compact(id);
  }
  const applied = c.node(2).sm.appliedIndex;
  assert.equal(c.raft(2).status().firstIndex, applied + 1, 'everything applied was compacted');
  c.put(1, 'late', 'ok');
  c.stabilize();
  assert.equal(c.node(3).sm.get('late'), 'ok');
  // A node restarted from a compacted log restores its state machine from the snapshot.
  c.stop(2);
  c.restart(2);
  assert.equal(c.node(2).sm.get('k0-0'), '0');
  c.run(3);
  assert.equal(c.node(2).sm.get('late'), 'ok');
  assert.deepEqual(c.raft(2).status().confState.voters, [1, 2, 3]);
  // And a compacted node can still lead.
  c.raft(1).transferLeadership(2);
  c.stabilize();
  assert.equal(c.leader(), 2);
  c.put(2, 'from-2', 'yes');
  c.stabilize();
  assert.equal(c.node(1).sm.get('from-2'), 'yes');
});

test('a snapshot taken before the follower was added still installs, and the follower joins', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  for (let i = 0; i < 10; i++) c.put(1, `k${i}`, 'v');
  c.stabilize();
  const snapIndex = c.compact(1);
  c.addEmptyNode(4);
  const { lastIndex: ccIndex } = c
    .raft(1)
    .proposeConfChange({ changes: [{ op: 'addVoter', nodeId: 4 }] }) as {
    lastIndex: number;
  };
  c.run(5);
  assert.ok(snapIndex < ccIndex);
  assert.deepEqual(c.node(4).snapshotsInstalled, [snapIndex], 'the snapshot predating the addition');
  const snap = c.node(4).readys.find((r) => r.snapshot)!.snapshot!;
  assert.deepEqual(snap.meta.confState.voters, [1, 2, 3], 'its membership does not include node 4');
  assert.deepEqual(c.raft(4).status().confState.voters, [1, 2, 3, 4], 'node 4 then applied its own addition');
  assert.equal(c.node(4).sm.get('k9'), 'v');
  // Node 4 now counts: while messages to 2 and 3 are delayed, 1 and 4 are not a majority of four …
  const delayed = (m: { to: number; from: number }) => ![2, 3].includes(m.to) && ![2, 3].includes(m.from);
  c.put(1, 'x', '1');
  c.stabilize(delayed);
  assert.equal(c.raft(1).commitIndex, ccIndex, 'not committed by two of four');
  assert.ok(
    c
      .node(4)
      .entries()
      .some((e) => e.index === ccIndex + 1),
    'although node 4 holds the entry',
  );
  // … once node 3's messages flow, 1, 3 and 4 are.
  c.stabilize((m) => m.to !== 2 && m.from !== 2);
  assert.equal(c.raft(1).commitIndex, ccIndex + 1);
  c.stabilize();
  assert.equal(c.node(4).sm.get('x'), '1');
});
