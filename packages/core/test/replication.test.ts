/**
 * Log replication (Raft §5.3, §5.4.2): entries reach every follower and commit, a long divergent follower
 * log is repaired in a few round trips thanks to term hints, and a leader never commits an entry of an
 * earlier term by counting replicas (the Figure 8 scenario of the Raft paper).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Message } from '@flotilla/core';
import { bytes, Cluster } from './harness.ts';

function sameLog(c: Cluster, a: number, b: number): void {
  const terms = (id: number) =>
    c
      .node(id)
      .entries()
      .map((e) => `${e.index}:${e.term}`);
  assert.deepEqual(terms(a), terms(b), `logs of ${a} and ${b}`);
}

test('proposed entries replicate to every follower, commit and apply in order', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  for (let i = 0; i < 10; i++) c.put(1, `k${i}`, `v${i}`);
  c.stabilize();
  const commit = c.raft(1).commitIndex;
  assert.equal(commit, 4 + 10);
  for (const id of [1, 2, 3]) {
    assert.equal(c.raft(id).commitIndex, commit, `node ${id} commit`);
    assert.equal(c.node(id).sm.get('k9'), 'v9');
    assert.equal(c.node(id).sm.appliedIndex, commit);
    sameLog(c, 1, id);
  }
});

test('a majority commits while a follower is down; the follower catches up with the next proposal', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.isolate(3);
  for (let i = 0; i < 5; i++) c.put(1, 'k', `v${i}`);
  c.stabilize();
  assert.equal(c.raft(1).commitIndex, 9, 'leader + one follower is a majority');
  assert.equal(c.node(3).sm.get('k'), null);
  c.heal();
  c.put(1, 'k', 'v5');
  c.run(3);
  assert.equal(c.node(3).sm.get('k'), 'v5');
  sameLog(c, 1, 3);
});

test('a follower whose appends were lost catches up on heartbeats alone in a quiet cluster', () => {
  // Node 3 is in replicate state when the appends to it are lost (a partition the transport did not report).
  // Nothing more is proposed: the heartbeat exchange must be enough to find and resend the missing entries.
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.isolate(3);
  for (let i = 0; i < 5; i++) c.put(1, 'k', `v${i}`);
  c.stabilize();
  c.heal();
  c.run(10); // heartbeat rounds answered by node 3 (until the caught-up group quiesces)
  assert.ok(c.sentWhere((m) => m.type === 'heartbeatResponse' && m.from === 3).length >= 1);
  assert.equal(c.raft(3).commitIndex, 9, 'node 3 received the entries committed while it was cut off');
  assert.equal(c.node(3).sm.get('k'), 'v4');
});

test('fast backtracking: a 100-entry divergent follower log is repaired in two appends', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  // Node 1 leads, is cut off, and appends 100 entries nobody else will ever see (term 2).
  c.isolate(1);
  for (let i = 0; i < 100; i++) c.raft(1).propose(bytes(`stale-${i}`));
  c.stabilize();
  // Nodes 2 and 3 elect a leader and commit 100 entries of their own (term 3) …
  c.tickUntil(() => c.raft(2).role === 'leader' || c.raft(3).role === 'leader', 100, [2, 3]);
  const first = c.raft(2).role === 'leader' ? 2 : 3;
  const other = first === 2 ? 3 : 2;
  for (let i = 0; i < 100; i++) c.raft(first).propose(bytes(`new-${i}`));
  c.stabilize();
  // … then hand over leadership, so the new leader starts probing node 1 from its own last index.
  c.raft(first).transferLeadership(other);
  c.stabilize();
  assert.equal(c.raft(other).role, 'leader');
  const divergent = c
    .node(1)
    .entries(5)
    .filter((e) => e.term === 2).length;
  assert.equal(divergent, 100);
  c.heal();
  const mark = c.sent.length;
  c.tick([other]); // one heartbeat reaches node 1
  c.stabilize();
  const appends = c.sent.slice(mark).filter((m) => m.type === 'append' && m.from === other && m.to === 1);
  const rejections = c.sent
    .slice(mark)
    .filter(
      (m): m is Message & { type: 'appendResponse' } =>
        m.type === 'appendResponse' && m.from === 1 && m.reject,
    );
  sameLog(c, other, 1);
  assert.equal(c.raft(1).commitIndex, c.raft(other).commitIndex);
  assert.ok(appends.length <= 3, `${appends.length} appends to repair ${divergent} divergent entries`);
  assert.equal(rejections.length, 1, 'one rejection, whose hint skips the whole stale term');
  assert.ok(rejections[0]!.hintTerm === 2, 'the hint names the term the follower holds');
});

test('Figure 8: a leader does not commit an old-term entry held by a majority; it is later overwritten safely', () => {
  // Plain Raft (no pre-vote, no check-quorum) so that the paper's elections can be forced one by one;
  // appendBytesMax = 1 makes each append carry one entry, as in the figure.
  const c = new Cluster({
    voters: [1, 2, 3, 4, 5],
    options: { preVote: false, checkQuorum: false, appendBytesMax: 1 },
  });
  c.elect(1); // term 2, no-op at 6
  // (a) S1 replicates index 7 (term 2) to S2 only.
  c.isolate(3, 4, 5);
  c.raft(1).propose(bytes('XX'));
  c.stabilize();
  assert.equal(c.raft(2).logTerm(7), 2);
  // (b) S1 crashes (it stays cut off and restarts later); S5 wins term 3 with S3 and S4, appends index 7 (term 3) locally only.
  c.heal();
  c.isolate(1, 2);
  c.drop = (m) => m.from === 5 && m.type === 'append';
  c.elect(5);
  assert.equal(c.raft(5).logTerm(7), 3);
  // (c) S5 crashes; S1 returns, wins term 4 with S2 and S3 and replicates index 7 (term 2) to S3.
  c.heal();
  c.isolate(4, 5);
  c.restart(1);
  // S3 may receive index 7, but never the term-4 no-op after it.
  c.drop = (m) =>
    m.type === 'append' && m.to === 3 && m.entries.some((e) => e.term === 4) && c.raft(3).logTerm(7) === 2;
  c.raft(1).campaign();
  c.stabilize();
  if (c.raft(1).role !== 'leader') c.elect(1);
  assert.equal(c.raft(1).term, 4);
  const holders = [1, 2, 3].filter((id) => c.raft(id).logTerm(7) === 2);
  assert.deepEqual(holders, [1, 2, 3], 'the term-2 entry is on a majority of five');
  assert.equal(c.raft(1).commitIndex, 6, 'but the term-4 leader does not commit it by counting');
  // (d) S1 crashes again; S5 restarts and wins term 5 with S3 and S4 and overwrites index 7 everywhere.
  c.heal();
  c.isolate(1);
  c.restart(5);
  c.raft(5).campaign();
  c.stabilize();
  if (c.raft(5).role !== 'leader') c.elect(5);
  c.heal();
  c.run(5);
  for (const id of [1, 2, 3, 4, 5]) {
    assert.equal(c.raft(id).logTerm(7), 3, `node ${id}: index 7 is S5's entry`);
    assert.ok(c.raft(id).commitIndex >= 8);
    const appliedSeven = c
      .node(id)
      .applied.filter((e) => e.index === 7)
      .map((e) => e.term);
    assert.ok(appliedSeven.length > 0, `node ${id} applied index 7`);
    assert.ok(
      appliedSeven.every((t) => t === 3),
      `node ${id} never applied the overwritten entry (applied terms ${appliedSeven})`,
    );
  }
});
