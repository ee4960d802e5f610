/**
 * Starting an election (Raft §5.2): the pre-vote round (thesis §9.6) or the real one, the vote requests,
 * and the single-voter shortcut.
 */
import { becomeLeaderAndAnnounce } from './leader.ts';
import type { Raft } from './raft.ts';
import { EntryKind } from './types.ts';

export type CampaignKind = 'preElection' | 'election';

export function campaign(r: Raft, kind: CampaignKind, transfer: boolean): void {
  if (kind === 'preElection') r.becomePreCandidate();
  else r.becomeCandidate();
  const voteType = kind === 'preElection' ? 'preVote' : 'vote';
  // A pre-vote asks about the term we would campaign in, without moving to it.
  const term = kind === 'preElection' ? r.term + 1 : r.term;
  r.tracker.recordVote(r.id, true);
  if (r.tracker.tallyVotes().result === 'won') {
    // A single voter wins at once.
    if (kind === 'preElection') campaign(r, 'election', transfer);
    else becomeLeaderAndAnnounce(r);
    return;
  }
  const index = r.log.lastIndex();
  const logTerm = r.log.lastTerm();
  for (const id of r.tracker.voterIds()) {
    if (id === r.id) continue;
    r.send({ type: voteType, from: r.id, to: id, term, index, logTerm, transfer });
  }
}

/** A follower's election timeout fired, or the application asked this node to campaign. */
export function startElection(r: Raft, transfer: boolean): void {
  if (r.role === 'leader' || !r.promotable()) return;
  // Do not campaign while committed conf changes are not applied: our view of the voters may be stale.
  if (hasUnappliedConfChange(r)) return;
  if (r.cfg.preVote && !transfer) campaign(r, 'preElection', false);
  else campaign(r, 'election', transfer);
}

function hasUnappliedConfChange(r: Raft): boolean {
  const hi = Math.min(r.log.committed, r.log.lastIndex());
  for (let i = Math.max(r.log.applied, r.confIndex, r.log.firstIndex() - 1) + 1; i <= hi; ) {
    const batch = r.log.slice(i, hi + 1, 8 << 20);
    if (batch.some((e) => e.kind === EntryKind.ConfChange)) return true;
    i += batch.length;
  }
  return false;
}
