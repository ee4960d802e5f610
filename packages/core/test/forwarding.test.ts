/**
 * Proposal forwarding and the typed errors of the proposal API: a follower forwards to its leader (unless
 * disabled), nodes without a leader refuse with `NotLeaderError` carrying the group and a leader hint.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NotLeaderError, ProposalDroppedError } from '@flotilla/core';
import { bytes, Cluster, GROUP } from './harness.ts';

function assertNotLeader(fn: () => unknown, leaderHint: number): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof NotLeaderError);
    assert.equal(error.code, 'FLOTILLA_NOT_LEADER');
    assert.equal(error.group, GROUP);
    assert.equal(error.leaderHint, leaderHint);
    return true;
  });
}

test('a follower forwards a proposal to the leader and it commits everywhere', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  const result = c.put(2, 'k', 'v');
  assert.deepEqual(result, { forwarded: true, leaderId: 1 });
  c.stabilize();
  assert.equal(c.sentWhere((m) => m.type === 'propose' && m.from === 2 && m.to === 1).length, 1);
  for (const id of [1, 2, 3]) assert.equal(c.node(id).sm.get('k'), 'v', `node ${id}`);
  const entry = c.node(1).entries().at(-1)!;
  assert.equal(entry.term, c.raft(1).term, 'the leader stamped it with its term');
});

test('with disableProposalForwarding a follower refuses with NotLeaderError naming the leader', () => {
  const c = new Cluster({ voters: [1, 2, 3], perNode: { 2: { disableProposalForwarding: true } } });
  c.elect(1);
  const before = c.sent.length;
  assertNotLeader(() => c.put(2, 'k', 'v'), 1);
  c.stabilize();
  assert.equal(c.sent.slice(before).filter((m) => m.type === 'propose').length, 0);
  assert.equal(c.put(3, 'k', 'v').forwarded, true, 'other followers still forward');
});

test('a node that knows no leader refuses with NotLeaderError (hint 0)', () => {
  const c = new Cluster({ voters: [1, 2, 3], options: { preVote: false } });
  assertNotLeader(() => c.put(2, 'k', 'v'), 0); // fresh follower
  c.isolate(1);
  c.raft(1).campaign();
  c.stabilize();
  assert.equal(c.raft(1).role, 'candidate');
  assertNotLeader(() => c.put(1, 'k', 'v'), 0);
});

test('a pre-candidate refuses too', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.isolate(1);
  c.raft(1).campaign();
  assert.equal(c.raft(1).role, 'preCandidate');
  assertNotLeader(() => c.put(1, 'k', 'v'), 0);
});

test('a forwarded proposal that reaches a non-leader is dropped, never forwarded again', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  const before = c.sent.length;
  c.raft(3).step({
    type: 'propose',
    from: 2,
    to: 3,
    term: 0,
    entries: [{ term: 0, index: 0, kind: 0, data: bytes('x') }],
  });
  c.stabilize();
  assert.equal(c.sent.slice(before).length, 0);
});

test('a proposal batch must hold 1..proposalEntriesMax entries', () => {
  const c = new Cluster({ voters: [1], options: { proposalEntriesMax: 3 } });
  c.elect(1);
  assert.throws(() => c.raft(1).proposeBatch([]), ProposalDroppedError);
  assert.throws(
    () => c.raft(1).proposeBatch([bytes('a'), bytes('b'), bytes('c'), bytes('d')]),
    ProposalDroppedError,
  );
  const r = c.raft(1).proposeBatch([bytes('a'), bytes('b'), bytes('c')]);
  assert.deepEqual(r, { forwarded: false, term: c.raft(1).term, firstIndex: 3, lastIndex: 5 });
  c.stabilize();
  assert.equal(c.raft(1).commitIndex, 5, 'a single voter commits by itself');
});
