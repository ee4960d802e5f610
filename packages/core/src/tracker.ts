/**
 * The membership configuration and per-member progress the leader tracks (etcd's ProgressTracker):
 * voters (joint during a change), learners, and votes of the current election.
 */
import { assert } from './assert.ts';
import type { Progress } from './progress.ts';
import { allVoters, type JointVoters, jointCommittedIndex, jointVoteResult } from './quorum/joint.ts';
import type { VoteResult } from './quorum/majority.ts';
import type { ConfState, NodeId } from './types.ts';

export interface TrackerConfig {
  readonly voters: JointVoters;
  readonly learners: ReadonlySet<NodeId>;
  /** Outgoing voters that become learners when the joint configuration is left. */
  readonly learnersNext: ReadonlySet<NodeId>;
  readonly autoLeave: boolean;
}

export const EMPTY_TRACKER_CONFIG: TrackerConfig = {
  voters: { incoming: new Set(), outgoing: new Set() },
  learners: new Set(),
  learnersNext: new Set(),
  autoLeave: false,
};

export function isJoint(config: TrackerConfig): boolean {
  return config.voters.outgoing.size > 0;
}

export function toConfState(config: TrackerConfig): ConfState {
  const sorted = (s: ReadonlySet<NodeId>) => [...s].sort((a, b) => a - b);
  return {
    voters: sorted(config.voters.incoming),
    learners: sorted(config.learners),
    votersOutgoing: sorted(config.voters.outgoing),
    learnersNext: sorted(config.learnersNext),
    autoLeave: config.autoLeave,
  };
}

export class ProgressTracker {
  config: TrackerConfig = EMPTY_TRACKER_CONFIG;
  progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();

  isVoter(id: NodeId): boolean {
    return this.config.voters.incoming.has(id) || this.config.voters.outgoing.has(id);
  }

  isLearner(id: NodeId): boolean {
    return this.config.learners.has(id);
  }

  /** Every member that replicates (voters, learners, pending learners), ascending by id. */
  members(): NodeId[] {
    return [...this.progress.keys()].sort((a, b) => a - b);
  }

  voterIds(): Set<NodeId> {
    return allVoters(this.config.voters);
  }

  get(id: NodeId): Progress | undefined {
    return this.progress.get(id);
  }

  /** The highest index acknowledged by a (joint) quorum of voters. */
  committedIndex(): number {
    return jointCommittedIndex(this.config.voters, (id) => this.progress.get(id)?.matchIndex);
  }

  /** True when a quorum of voters was recently active (`self` always counts). */
  quorumActive(self: NodeId): boolean {
    const result = jointVoteResult(this.config.voters, (id) => {
      if (id === self) return true;
      const pr = this.progress.get(id);
      return pr ? pr.recentActive : false;
    });
    return result === 'won';
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records a vote; a node's first vote in an election counts, later ones are ignored. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voterIds()) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected, result: jointVoteResult(this.config.voters, (id) => this.votes.get(id)) };
  }

  /** Checks the structural invariants of a configuration and its progress map. */
  checkInvariants(): void {
    const { voters, learners, learnersNext } = this.config;
    for (const id of [...voters.incoming, ...voters.outgoing, ...learners, ...learnersNext]) {
      assert(this.progress.has(id), () => `member ${id} has no progress`);
    }
    for (const id of learners) {
      assert(!voters.incoming.has(id) && !voters.outgoing.has(id), () => `learner ${id} is also a voter`);
    }
    for (const id of learnersNext) {
      assert(voters.outgoing.has(id), () => `next learner ${id} is not an outgoing voter`);
      assert(!learners.has(id), () => `next learner ${id} is already a learner`);
    }
    if (!isJoint(this.config)) {
      assert(learnersNext.size === 0, 'next learners outside a joint configuration');
      assert(!this.config.autoLeave, 'autoLeave outside a joint configuration');
    }
  }
}
