/**
 * Majority quorum arithmetic over one voter set (Raft §5.2, §5.3): which index a majority has acknowledged,
 * and whether a vote is won, lost or still pending. Pure functions; table-tested in test/quorum.test.ts.
 */
import type { NodeId } from '../types.ts';

export type VoteResult = 'won' | 'lost' | 'pending';

/**
 * The largest index acknowledged by a majority of `voters`. Voters without an acknowledgment count as 0.
 * An empty voter set answers `Infinity`, so that it never limits a joint configuration (thesis §4.3).
 */
export function majorityCommittedIndex(
  voters: ReadonlySet<NodeId>,
  acked: (id: NodeId) => number | undefined,
): number {
  const n = voters.size;
  if (n === 0) return Number.POSITIVE_INFINITY;
  const indexes: number[] = [];
  for (const id of voters) indexes.push(acked(id) ?? 0);
  indexes.sort((x, y) => y - x);
  // Sorted descending, the (majority)th value is acknowledged by at least a majority.
  return indexes[Math.floor(n / 2)]!;
}

/** Tallies `votes` (true = granted) over `voters`; an empty voter set wins (it cannot object). */
export function majorityVoteResult(
  voters: ReadonlySet<NodeId>,
  votes: (id: NodeId) => boolean | undefined,
): VoteResult {
  if (voters.size === 0) return 'won';
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const quorum = Math.floor(voters.size / 2) + 1;
  if (granted >= quorum) return 'won';
  if (granted + missing >= quorum) return 'pending';
  return 'lost';
}
