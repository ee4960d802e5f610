import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeId } from '@flotilla/core';
import {
  type BalancedGroup,
  fairShare,
  LeaderBalancer,
  leaderCounts,
  pickReceiver,
  preferenceRank,
  preferredReceiver,
  readyVoters,
} from '../src/cluster/leader-balancer.ts';
import { silentLogger } from '../src/operations/logger.ts';
import type { ReplicaStatus } from '../src/replicas/replica-actor.ts';

function status(
  leader: NodeId,
  lastIndex: number,
  followers: { id: NodeId; match: number; state?: string }[],
): ReplicaStatus {
  return {
    role: 'leader',
    lastIndex,
    confState: { voters: [leader, ...followers.map((f) => f.id)], learners: [] },
    progress: [
      { id: leader, matchIndex: lastIndex, state: 'replicate', isLearner: false },
      ...followers.map((f) => ({
        id: f.id,
        matchIndex: f.match,
        state: f.state ?? 'replicate',
        isLearner: false,
      })),
    ],
  } as unknown as ReplicaStatus;
}

test('fair share, counts and the receiver: the least-loaded caught-up voter under its share', () => {
  assert.equal(fairShare(36, 3), 12);
  assert.equal(fairShare(8, 3), 3);
  const counts = leaderCounts([3, 3, 3, 1, 0], [1, 2, 3]);
  assert.deepEqual(
    [...counts],
    [
      [1, 1],
      [2, 0],
      [3, 3],
    ],
  );
  assert.equal(pickReceiver(counts, 2, [1, 2]), 2);
  assert.equal(pickReceiver(counts, 1, [1]), undefined, 'node 1 already holds its share');
  const s = status(3, 10, [
    { id: 1, match: 10 },
    { id: 2, match: 9 },
    { id: 4, match: 10, state: 'probe' },
  ]);
  assert.deepEqual(readyVoters(s, 3), [1], 'a lagging or probing voter cannot take over');
});

class FakeGroup implements BalancedGroup {
  transferredTo: NodeId | undefined;
  constructor(
    readonly id: string,
    public leaderId: NodeId,
    readonly self: NodeId,
    readonly leaderSinceMs = 0,
  ) {}
  get isLeader() {
    return this.leaderId === this.self;
  }
  status(): Promise<ReplicaStatus> {
    return Promise.resolve(
      status(
        this.self,
        5,
        [1, 2, 3].filter((n) => n !== this.self).map((id) => ({ id, match: 5 })),
      ),
    );
  }
  transferLeadership(to: NodeId): Promise<unknown> {
    this.transferredTo = to;
    this.leaderId = to;
    return Promise.resolve(null);
  }
}

test('a round hands only the excess, a few at a time, never a group led for less than the hold time', async () => {
  // Node 3 leads 9 of 12 groups (share 4); two of them it has just taken over.
  const groups = Array.from({ length: 12 }, (_, i) => {
    const leader = i < 9 ? 3 : 1;
    return new FakeGroup(`g${String(i).padStart(2, '0')}`, leader, 3, i < 2 ? 9_500 : 0);
  });
  const balancer = new LeaderBalancer({
    selfId: 3,
    groups: () => groups,
    members: () => [1, 2, 3],
    intervalMs: 1_000,
    holdMs: 2_000,
    transfersPerRound: 3,
    logger: silentLogger(),
  });
  assert.equal(await balancer.round(10_000), 3, 'bounded per round');
  assert.equal(groups[0]!.transferredTo, undefined, 'held: led for less than the hold time');
  assert.equal(groups[1]!.transferredTo, undefined);
  assert.deepEqual(
    groups.slice(2, 5).map((g) => g.transferredTo),
    [2, 2, 2],
    'to the member leading fewest',
  );
  assert.equal(await balancer.round(10_000), 2, 'the rest of the excess');
  const counts = leaderCounts(
    groups.map((g) => g.leaderId),
    [1, 2, 3],
  );
  assert.deepEqual([...counts.values()], [4, 4, 4]);
  assert.equal(await balancer.round(10_000), 0, 'balanced: nothing moves');
});

test('preferences: leadership goes to the first preferred caught-up voter, then balances among the rest', async () => {
  assert.equal(preferenceRank([2, 1], 2), 0);
  assert.equal(preferenceRank([2, 1], 3), Number.POSITIVE_INFINITY);
  assert.equal(preferredReceiver([2, 1], 3, [1, 2]), 2);
  assert.equal(preferredReceiver([2, 1], 1, [3]), undefined, 'node 1 outranks node 3');
  assert.equal(preferredReceiver([], 1, [2, 3]), undefined, 'no preferences: nobody outranks');

  // Node 3 (unlisted) leads 6 groups; node 1 is preferred. Everything goes to node 1, 4 per round.
  const groups = Array.from({ length: 6 }, (_, i) => new FakeGroup(`g${i}`, 3, 3));
  const options = {
    selfId: 3,
    groups: () => groups,
    members: () => [1, 2, 3],
    intervalMs: 1_000,
    holdMs: 0,
    transfersPerRound: 4,
    preferredLeaders: [1],
    logger: silentLogger(),
  };
  const balancer = new LeaderBalancer(options);
  assert.equal(await balancer.round(0), 4);
  assert.equal(await balancer.round(0), 2);
  assert.ok(groups.every((g) => g.leaderId === 1));

  // The preferred node keeps what it leads, however many.
  const onOne = Array.from({ length: 6 }, (_, i) => new FakeGroup(`h${i}`, 1, 1));
  const preferredNode = new LeaderBalancer({ ...options, selfId: 1, groups: () => onOne });
  assert.equal(await preferredNode.round(0), 0);
});
