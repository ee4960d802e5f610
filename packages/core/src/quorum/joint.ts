/**
 * Joint quorum (thesis §4.3): during a membership change decisions need a majority of the incoming AND of
 * the outgoing voter set. With an empty outgoing set this is exactly a simple majority.
 */
import type { NodeId } from '../types.ts';
import { majorityCommittedIndex, majorityVoteResult, type VoteResult } from './majority.ts';

export interface JointVoters {
  readonly incoming: ReadonlySet<NodeId>;
  readonly outgoing: ReadonlySet<NodeId>;
}

export function jointCommittedIndex(voters: JointVoters, acked: (id: NodeId) => number | undefined): number {
  const index = Math.min(
    majorityCommittedIndex(voters.incoming, acked),
    majorityCommittedIndex(voters.outgoing, acked),
  );
  // Both sets empty is a configuration without voters: nothing can commit.
  return index === Number.POSITIVE_INFINITY ? 0 : index;
}

export function jointVoteResult(voters: JointVoters, votes: (id: NodeId) => boolean | undefined): VoteResult {
  const a = majorityVoteResult(voters.incoming, votes);
  const b = majorityVoteResult(voters.outgoing, votes);
  if (a === b) return a;
  if (a === 'lost' || b === 'lost') return 'lost';
  return 'pending';
}

/** Every voter of either set, each once. */
export function allVoters(voters: JointVoters): Set<NodeId> {
  return new Set([...voters.incoming, ...voters.outgoing]);
}
