/**
 * Message handling and requests of a leader (Raft §5.3, §5.4.2; thesis §3.10 transfer, §6.4 ReadIndex):
 * track follower progress, commit by quorum, serve reads once leadership is confirmed, hand over leadership.
 */

import { decodeConfChange, entriesDataBytes } from './codec.ts';
import { applyConfChange } from './confchange.ts';
import { InvalidConfChangeError, ProposalDroppedError, TooManyUncommittedError } from './errors.ts';
import type { AppendResponseMessage, HeartbeatResponseMessage, Message } from './messages.ts';
import { leaderCanQuiesce } from './quiescence.ts';
import { jointCommittedIndex } from './quorum/joint.ts';
import type { Raft } from './raft.ts';
import { bcastAppend, bcastHeartbeat, sendAppend } from './replication.ts';
import { EntryKind, NONE, type NodeId } from './types.ts';

export function becomeLeaderAndAnnounce(r: Raft): void {
  r.becomeLeader();
  bcastAppend(r);
}

export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case 'appendResponse':
      handleAppendResponse(r, m);
      return;
    case 'heartbeatResponse':
      handleHeartbeatResponse(r, m);
      return;
    case 'propose':
      try {
        leaderPropose(r, m.entries);
      } catch (error) {
        // A forwarded proposal that cannot be appended is dropped; its sender times out and retries.
        if (!(error instanceof ProposalDroppedError || error instanceof TooManyUncommittedError)) throw error;
      }
      return;
    case 'readIndex':
      leaderReadIndex(r, m.from, m.context, false);
      return;
    case 'transferLeader':
      leaderTransfer(r, m.target);
      return;
    case 'append':
    case 'heartbeat':
    case 'snapshot':
    case 'timeoutNow':
    case 'vote':
    case 'preVote':
    case 'voteResponse':
    case 'preVoteResponse':
    case 'readIndexResponse':
      return;
  }
}

function handleAppendResponse(r: Raft, m: AppendResponseMessage): void {
  const pr = r.tracker.get(m.from);
  if (!pr) return;
  pr.recentActive = true;
  if (m.reject) {
    // Fast backtracking (thesis §5.3): skip every entry of a term the follower does not have.
    const hint = m.hintTerm > 0 ? r.log.findConflictByTerm(m.hintIndex, m.hintTerm).index : m.hintIndex;
    if (pr.maybeDecrTo(m.index, hint)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      sendAppend(r, m.from, false);
    }
    return;
  }
  const wasPaused = pr.isPaused();
  const updated = pr.maybeUpdate(m.index);
  if (!updated && !(pr.state === 'probe' && pr.matchIndex === m.index)) return;
  if (pr.state === 'probe') {
    pr.becomeReplicate();
  } else if (pr.state === 'snapshot' && pr.matchIndex + 1 >= r.log.firstIndex()) {
    // The follower caught up through the snapshot: resume normal replication after it.
    pr.becomeProbe();
    pr.becomeReplicate();
  }
  if (updated && commitAndRelease(r)) {
    r.broadcastPending = true;
  } else if (wasPaused || pr.state === 'replicate') {
    sendAppend(r, m.from, false);
  }
  if (m.from === r.leadTransferee && pr.matchIndex === r.log.lastIndex()) sendTimeoutNow(r, m.from);
}

function handleHeartbeatResponse(r: Raft, m: HeartbeatResponseMessage): void {
  const pr = r.tracker.get(m.from);
  if (!pr) return;
  pr.recentActive = true;
  pr.appendFlowPaused = false;
  // If every append that filled the window was lost, nothing would ever free it: free one slot per
  // heartbeat so one more append goes out; a gap makes the follower reject it and we probe (etcd does this).
  if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
  // With sendIfEmpty: a follower whose appends were all lost is probed even when nothing new is proposed.
  if (pr.matchIndex < r.log.lastIndex()) sendAppend(r, m.from, true);
  if (m.readRound === 0) return;
  r.readOnly.ack(m.from, m.readRound);
  confirmRounds(r);
}

/**
 * The newest round a (joint) quorum acknowledged confirms every read registered before it, and renews
 * the lease: voters that answered will not vote for anyone else until an election timeout after the
 * round was sent (they are in lease, see `Raft.inLease`). Two ticks of margin cover tick phase offsets.
 */
function confirmRounds(r: Raft): void {
  const quorumRound = jointCommittedIndex(r.tracker.config.voters, (id) => r.readOnly.ackedRound(id, r.id));
  if (quorumRound === 0) return;
  const sentAt = r.readOnly.sentAt(quorumRound);
  if (sentAt !== undefined && quorumRound >= r.leaseMinRound) {
    r.leaseUntilTick = Math.max(r.leaseUntilTick, sentAt + r.cfg.electionTicks - 2);
  }
  for (const read of r.readOnly.takeConfirmed(quorumRound))
    answerRead(r, read.from, read.index, read.context);
}

/** Advances commit; the first commit of the term unblocks the reads that waited for it. */
export function commitAndRelease(r: Raft): boolean {
  if (!r.maybeCommit()) return false;
  if (r.pendingReadsBeforeCommit.length > 0 && committedInCurrentTerm(r)) {
    const waiting = r.pendingReadsBeforeCommit;
    r.pendingReadsBeforeCommit = [];
    for (const read of waiting) leaderReadIndex(r, read.from, read.context, read.lease);
  }
  return true;
}

function committedInCurrentTerm(r: Raft): boolean {
  return r.log.term(r.log.committed) === r.term;
}

function answerRead(r: Raft, from: NodeId, index: number, context: Uint8Array): void {
  if (from === r.id) r.readStates.push({ index, context });
  else
    r.send({ type: 'readIndexResponse', from: r.id, to: from, term: r.term, index, context, reject: false });
}

function refuseRead(r: Raft, from: NodeId, context: Uint8Array): void {
  if (from === r.id) r.failedReads.push(context);
  else
    r.send({
      type: 'readIndexResponse',
      from: r.id,
      to: from,
      term: r.term,
      index: 0,
      context,
      reject: true,
    });
}

/** ReadIndex on the leader (thesis §6.4), for itself or for a follower (`from`). */
export function leaderReadIndex(
  r: Raft,
  from: NodeId,
  context: Uint8Array,
  lease = r.cfg.readOnly === 'lease',
): void {
  const voters = r.tracker.voterIds();
  if (voters.size === 1 && voters.has(r.id)) {
    answerRead(r, from, r.log.committed, context);
    return;
  }
  if (!committedInCurrentTerm(r)) {
    // Step 1 of §6.4: until an entry of this term commits, our commit index may be behind the cluster's.
    if (r.pendingReadsBeforeCommit.length >= r.cfg.pendingReadsMax) refuseRead(r, from, context);
    else r.pendingReadsBeforeCommit.push({ from, context, lease });
    return;
  }
  if (lease && r.cfg.checkQuorum && r.leadTransferee === NONE && r.leaderTicks < r.leaseUntilTick) {
    answerRead(r, from, r.log.committed, context);
    return;
  }
  if (r.readOnly.size >= r.cfg.pendingReadsMax) {
    refuseRead(r, from, context);
    return;
  }
  r.readOnly.add({ index: r.log.committed, context, from });
  // One heartbeat round per Ready confirms every read registered before it (see RaftNode.ready).
  r.heartbeatForReadsPending = true;
}

export function flushReadHeartbeats(r: Raft): void {
  if (!r.heartbeatForReadsPending) return;
  r.heartbeatForReadsPending = false;
  bcastHeartbeat(r);
}

export interface NewEntry {
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** Appends client entries on the leader (thesis §6: proposals); throws the typed reason when it cannot. */
export function leaderPropose(
  r: Raft,
  entries: readonly NewEntry[],
): { firstIndex: number; lastIndex: number } {
  if (r.leadTransferee !== NONE)
    throw new ProposalDroppedError(r.group, `leadership is moving to node ${r.leadTransferee}`);
  if (!r.tracker.get(r.id)) throw new ProposalDroppedError(r.group, 'this node was removed from the group');
  const bytes = entriesDataBytes(entries);
  if (r.uncommittedBytes > 0 && r.uncommittedBytes + bytes > r.cfg.uncommittedBytesMax) {
    throw new TooManyUncommittedError(r.group, r.uncommittedBytes, r.cfg.uncommittedBytesMax);
  }
  const confChanges = entries.filter((e) => e.kind === EntryKind.ConfChange);
  if (confChanges.length > 0) checkConfChangeAllowed(r, confChanges);
  const appended = r.appendEntries(entries);
  if (confChanges.length > 0) r.pendingConfIndex = appended.lastIndex;
  r.broadcastPending = true;
  // A single voter commits by itself once its own write is durable (see RaftNode.advance).
  return appended;
}

function checkConfChangeAllowed(r: Raft, confChanges: readonly NewEntry[]): void {
  if (confChanges.length > 1) throw new ProposalDroppedError(r.group, 'one conf change at a time');
  if (r.pendingConfIndex > r.log.applied) {
    throw new ProposalDroppedError(r.group, 'a previous conf change is not applied yet');
  }
  // Validate now, against the configuration it will apply to, so a bad change never enters the log.
  try {
    applyConfChange(r.tracker.config, decodeConfChange(confChanges[0]!.data));
  } catch (error) {
    if (error instanceof InvalidConfChangeError) throw error;
    throw new InvalidConfChangeError((error as Error).message);
  }
}

/** Starts a leadership transfer to `target` (thesis §3.10): catch it up, then tell it to campaign. */
export function leaderTransfer(r: Raft, target: NodeId): void {
  if (target === r.id) return;
  if (!r.tracker.isVoter(target) || r.tracker.isLearner(target)) return;
  if (r.leadTransferee === target) return;
  r.abortLeaderTransfer();
  // The transfer must finish within one election timeout, or it is aborted (see tick).
  r.electionElapsed = 0;
  r.leadTransferee = target;
  const pr = r.tracker.get(target)!;
  if (pr.matchIndex === r.log.lastIndex()) sendTimeoutNow(r, target);
  else sendAppend(r, target, false);
}

function sendTimeoutNow(r: Raft, to: NodeId): void {
  r.send({ type: 'timeoutNow', from: r.id, to, term: r.term });
  // The target will campaign past its voters' leases: the lease ends now and only later rounds renew it.
  r.leaseUntilTick = 0;
  r.leaseMinRound = r.readOnly.nextRound(r.leaderTicks) + 1;
}

export function tickLeader(r: Raft): void {
  r.leaderTicks++;
  r.heartbeatElapsed++;
  r.electionElapsed++;
  if (r.electionElapsed >= r.cfg.electionTicks) {
    r.electionElapsed = 0;
    if (r.cfg.checkQuorum) {
      if (!r.tracker.quorumActive(r.id)) {
        // Thesis §6.2: without a quorum of recent contact another leader may exist; step down.
        r.becomeFollower(r.term, NONE);
        return;
      }
      for (const [id, pr] of r.tracker.progress) pr.recentActive = id === r.id;
    }
    if (r.leadTransferee !== NONE) r.abortLeaderTransfer();
  }
  if (r.heartbeatElapsed >= r.cfg.heartbeatTicks) {
    r.heartbeatElapsed = 0;
    const quiesce = leaderCanQuiesce(r);
    const round = bcastHeartbeat(r, quiesce);
    if (quiesce) {
      r.quiesced = true;
      // A quiesced leader's clock stops and its followers stop honouring its lease: give the lease up now,
      // and let no acknowledgment of this round (or earlier) renew it. Reads then confirm with a new round.
      r.leaseUntilTick = 0;
      r.leaseMinRound = round + 1;
    }
  }
}
