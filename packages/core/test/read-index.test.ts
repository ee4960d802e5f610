/**
 * Linearizable reads (thesis §6.4): ReadIndex confirmed by a quorum heartbeat round, never before the
 * leader committed an entry of its term, forwarded from followers, failed when leadership is lost; and
 * lease reads (§6.4.1) answered without a round while the lease holds, but not during a transfer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NotLeaderError } from '@flotilla/core';
import { bytes, Cluster, text } from './harness.ts';

const reads = (c: Cluster, id: number) => c.node(id).readStates.map((r) => `${text(r.context)}@${r.index}`);

test('a leader read is confirmed only once a quorum answered a heartbeat round sent after it', () => {
  const c = new Cluster({ voters: [1, 2, 3, 4, 5] });
  c.elect(1);
  c.raft(1).readIndex(bytes('r1'));
  c.process(1);
  const round = c.queue.filter((m) => m.type === 'heartbeat');
  assert.equal(round.length, 4, 'the read triggers one heartbeat round');
  assert.ok(round.every((m) => m.type === 'heartbeat' && m.readRound > 0));
  assert.deepEqual(reads(c, 1), [], 'not confirmed before anyone answered');
  c.deliver((m) => m.to === 2);
  c.process(2);
  c.deliver((m) => m.from === 2);
  c.process(1);
  assert.deepEqual(reads(c, 1), [], 'leader + one follower are not a majority of five');
  c.deliver((m) => m.to === 3);
  c.process(3);
  c.deliver((m) => m.from === 3);
  c.process(1);
  assert.deepEqual(reads(c, 1), ['r1@6'], 'confirmed at the commit index it arrived at');
});

test('reads registered before one round are all confirmed by it', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  for (const r of ['a', 'b', 'c']) c.raft(1).readIndex(bytes(r));
  const mark = c.sent.length;
  c.stabilize();
  assert.deepEqual(reads(c, 1), ['a@4', 'b@4', 'c@4']);
  assert.equal(
    c.sent.slice(mark).filter((m) => m.type === 'heartbeat').length,
    2,
    'one round for three reads',
  );
});

test('a new leader serves no read before it commits an entry of its own term', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.raft(1).campaign();
  const noAppends = (m: { type: string }) => m.type !== 'append';
  c.stabilize(noAppends); // elected, but its no-op is not replicated yet
  assert.equal(c.raft(1).role, 'leader');
  assert.equal(c.raft(1).commitIndex, 3);
  c.raft(1).readIndex(bytes('early'));
  for (let t = 0; t < 3; t++) {
    c.tick([1]); // heartbeat rounds are answered …
    c.stabilize(noAppends);
  }
  assert.ok(c.sentWhere((m) => m.type === 'heartbeatResponse').length > 0);
  assert.deepEqual(reads(c, 1), [], '… but the commit index from the old term may be stale');
  c.stabilize(); // the no-op commits
  assert.deepEqual(reads(c, 1), ['early@4'], 'served at the first commit index of the new term');
});

test('a follower read is forwarded to the leader and answered on the follower', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.put(1, 'k', 'v');
  c.stabilize();
  c.raft(2).readIndex(bytes('f'));
  c.stabilize();
  assert.ok(c.sentWhere((m) => m.type === 'readIndex' && m.from === 2 && m.to === 1).length === 1);
  assert.deepEqual(reads(c, 2), ['f@5']);
  assert.deepEqual(reads(c, 1), [], 'the leader answers by message, not in its own Ready');
  assert.ok(c.node(2).sm.appliedIndex >= 5);
  assert.equal(c.node(2).sm.get('k'), 'v', 'the follower serves the latest write once applied');
});

test('a read on a node that knows no leader throws NotLeaderError', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  assert.throws(() => c.raft(2).readIndex(bytes('x')), NotLeaderError);
});

test('pending reads fail when the leader loses leadership', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.isolate(1);
  c.raft(1).readIndex(bytes('lost'));
  c.tickUntil(() => c.raft(1).role !== 'leader', 25, [1]);
  c.process(1);
  assert.deepEqual(
    c.node(1).failedReads.map((r) => text(r)),
    ['lost'],
  );
  assert.deepEqual(reads(c, 1), []);
});

test('reads waiting for the first commit of the term also fail when leadership is lost', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.raft(1).campaign();
  c.stabilize((m) => m.type !== 'append');
  c.raft(1).readIndex(bytes('early'));
  c.isolate(1);
  c.tickUntil(() => c.raft(1).role !== 'leader', 25, [1]);
  c.process(1);
  assert.deepEqual(
    c.node(1).failedReads.map((r) => text(r)),
    ['early'],
  );
});

function leaseCluster(): Cluster {
  const c = new Cluster({ voters: [1, 2, 3], options: { readOnly: 'lease' } });
  c.elect(1);
  c.run(1); // one acknowledged heartbeat round grants the lease
  return c;
}

test('lease reads: answered at once, without a heartbeat round, while the lease holds', () => {
  const c = leaseCluster();
  c.raft(1).readIndex(bytes('fast'));
  c.process(1);
  const rd = c.node(1).readys.at(-1)!;
  assert.deepEqual(
    rd.readStates.map((r) => text(r.context)),
    ['fast'],
  );
  assert.equal(rd.messages.filter((m) => m.type === 'heartbeat').length, 0, 'no round trip');
});

test('lease reads: once the lease has run out without contact, a read needs a round again', () => {
  const c = leaseCluster();
  c.isolate(2, 3);
  c.run(9, [1]);
  assert.equal(c.raft(1).role, 'leader', 'check-quorum has not stepped down yet');
  c.raft(1).readIndex(bytes('late'));
  c.process(1);
  assert.deepEqual(reads(c, 1), [], 'the lease expired: no answer without a quorum round');
});

test('lease reads: not answered from the lease during a leadership transfer', () => {
  const c = leaseCluster();
  c.drop = (m) => m.type === 'timeoutNow'; // keep the transfer pending
  c.raft(1).transferLeadership(2);
  c.stabilize();
  assert.equal(c.raft(1).status().leadTransferee, 2);
  c.raft(1).readIndex(bytes('moving'));
  c.process(1);
  const rd = c.node(1).readys.at(-1)!;
  assert.deepEqual(rd.readStates, [], 'the target may already be campaigning past its voters’ leases');
  assert.ok(
    rd.messages.some((m) => m.type === 'heartbeat'),
    'a quorum round is used instead',
  );
});

test('lease reads: not answered from the lease while a lagging transfer target catches up', () => {
  const c = leaseCluster();
  c.put(1, 'k', 'v');
  c.stabilize((m) => m.to !== 3 && m.from !== 3); // node 3 lags; the lease still holds
  c.raft(1).readIndex(bytes('before'));
  c.process(1);
  assert.deepEqual(reads(c, 1), ['before@5'], 'the lease answers');
  c.raft(1).transferLeadership(3); // no TimeoutNow yet: node 3 must catch up first
  c.raft(1).readIndex(bytes('during'));
  c.process(1);
  assert.deepEqual(reads(c, 1), ['before@5'], 'no lease answer once a transfer has started');
});

test('quiescence: an idle leader gives its lease up, so a leader elected behind its back cannot be outrun by a lease read', () => {
  const c = new Cluster({ voters: [1, 2, 3], options: { checkQuorum: true } });
  c.elect(1);
  c.put(1, 'k', 'old');
  c.tickUntil(() => c.raft(1).status().quiesced, 50);
  assert.equal(c.raft(1).status().quiesced, true, 'the idle group quiesced');
  // Node 2 missed the quiescing heartbeat and campaigns; nothing reaches node 1 (and no one reports it).
  c.drop = (m) => m.to === 1;
  c.raft(2).campaign();
  c.tickUntil(() => c.raft(2).role === 'leader', 100, [2, 3]);
  assert.equal(c.raft(2).role, 'leader', 'quiesced followers hold no lease and vote');
  c.put(2, 'k', 'new');
  // The old leader still believes it leads, but its lease was given up when it quiesced.
  assert.equal(c.raft(1).role, 'leader');
  c.raft(1).readIndex(bytes('lease-read'), { lease: true });
  c.process(1);
  assert.deepEqual(reads(c, 1), [], 'no read from a lease that followers no longer honour');
});
