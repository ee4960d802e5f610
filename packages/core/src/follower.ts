/**
 * Message handling of a follower (Raft §5.3, §7): accept appends and snapshots from the leader, answer with
 * fast-backtracking hints, forward proposals, reads and transfer requests to the leader when it is known.
 */
import { startElection } from './election.ts';
import type { AppendMessage, HeartbeatMessage, Message, SnapshotMessage } from './messages.ts';
import { followerMayQuiesce } from './quiescence.ts';
import type { Raft } from './raft.ts';
import type { NodeId } from './types.ts';

export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case 'append':
      r.electionElapsed = 0;
      r.lead = m.from;
      handleAppend(r, m);
      return;
    case 'heartbeat':
      r.electionElapsed = 0;
      r.lead = m.from;
      handleHeartbeat(r, m);
      return;
    case 'snapshot':
      r.electionElapsed = 0;
      r.lead = m.from;
      handleSnapshot(r, m);
      return;
    case 'timeoutNow':
      // Leadership transfer: campaign at once, skipping pre-vote; voters ignore their lease (thesis §3.10).
      startElection(r, true);
      return;
    case 'readIndexResponse':
      if (m.reject) r.failedReads.push(m.context);
      else r.readStates.push({ index: m.index, context: m.context });
      return;
    case 'propose':
    case 'readIndex':
    case 'transferLeader':
      // Forwarded to us by a node that thought we lead. Passing it on could loop; its sender retries.
      return;
    case 'appendResponse':
    case 'heartbeatResponse':
    case 'vote':
    case 'preVote':
    case 'voteResponse':
    case 'preVoteResponse':
      return;
  }
}

/** An AppendEntries answer; a rejection carries the fast-backtracking hint (index, term). */
function respond(r: Raft, to: NodeId, index: number, reject = false, hint = { index: 0, term: 0 }): void {
  r.send({
    type: 'appendResponse',
    from: r.id,
    to,
    term: r.term,
    index,
    reject,
    hintIndex: hint.index,
    hintTerm: hint.term,
  });
}

export function handleAppend(r: Raft, m: AppendMessage): void {
  if (m.index < r.log.committed) {
    // Everything up to our commit is known to match: acknowledge it so the leader can move on.
    respond(r, m.from, r.log.committed);
    return;
  }
  const lastNew = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNew !== undefined) {
    respond(r, m.from, lastNew);
    return;
  }
  // Fast backtracking: point the leader at the last index whose term could match theirs.
  respond(
    r,
    m.from,
    m.index,
    true,
    r.log.findConflictByTerm(Math.min(m.index, r.log.lastIndex()), m.logTerm),
  );
}

export function handleHeartbeat(r: Raft, m: HeartbeatMessage): void {
  // The leader caps commit at our match index, so we always hold these entries.
  r.log.commitTo(Math.min(m.commit, r.log.lastIndex()));
  if (followerMayQuiesce(r, m)) {
    r.quiesced = true;
    r.electionElapsed = 0;
  }
  r.send({ type: 'heartbeatResponse', from: r.id, to: m.from, term: r.term, readRound: m.readRound });
}

export function handleSnapshot(r: Raft, m: SnapshotMessage): void {
  // Installed: we now end at the snapshot. Already covered: acknowledge our commit so replication resumes.
  respond(r, m.from, restoreSnapshot(r, m) ? r.log.lastIndex() : r.log.committed);
}

/** Installs a leader's snapshot unless our log already covers it. Returns true when installed. */
function restoreSnapshot(r: Raft, m: SnapshotMessage): boolean {
  const { meta } = m.snapshot;
  if (meta.index <= r.log.committed) return false;
  // A snapshot may predate our own addition to the group (etcd refuses it, which stalls a new node until
  // the leader snapshots again). Installing it is safe: we are simply not a member yet, so we neither
  // campaign nor count in any quorum, and the entry that adds us follows in the log.
  if (r.log.matchTerm(meta.index, meta.term)) {
    // Our log has the snapshot's last entry: just fast-forward commit (etcd does the same).
    r.log.commitTo(meta.index);
    return false;
  }
  r.log.restore(m.snapshot);
  r.restoreConfState(meta.confState, meta.index);
  return true;
}
