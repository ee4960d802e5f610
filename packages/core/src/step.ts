/**
 * The rules every role applies to an incoming message before its role handler sees it (Raft §5.1 term
 * rules, thesis §9.6 pre-vote, §6.2 leader lease, §3.10 transfer) and the vote decision itself (§5.2, §5.4.1).
 */
import { stepCandidate } from './candidate.ts';
import { stepFollower } from './follower.ts';
import { stepLeader } from './leader.ts';
import { assertNever, isLocalTermless, type Message, type VoteMessage } from './messages.ts';
import { wakesUp } from './quiescence.ts';
import type { Raft } from './raft.ts';
import { NONE } from './types.ts';

export function step(r: Raft, m: Message): void {
  if (r.quiesced && wakesUp(m)) r.unquiesce();
  if (!isLocalTermless(m.type) && !applyTermRules(r, m)) return;
  switch (m.type) {
    case 'vote':
    case 'preVote':
      handleVoteRequest(r, m);
      return;
    default:
      stepRole(r, m);
  }
}

function stepRole(r: Raft, m: Message): void {
  switch (r.role) {
    case 'leader':
      stepLeader(r, m);
      return;
    case 'candidate':
    case 'preCandidate':
      stepCandidate(r, m);
      return;
    case 'follower':
      stepFollower(r, m);
      return;
    default:
      assertNever(r.role);
  }
}

/** Returns false when the message must be dropped (stale term, or a vote request inside a lease). */
function applyTermRules(r: Raft, m: Message): boolean {
  if (m.term > r.term) return onHigherTerm(r, m);
  if (m.term < r.term) {
    onLowerTerm(r, m);
    return false;
  }
  return true;
}

function onHigherTerm(r: Raft, m: Message): boolean {
  if (m.type === 'vote' || m.type === 'preVote') {
    // A node that heard from a leader within the election timeout ignores disruptive candidates
    // (thesis §4.2.3), unless the candidate is the target of a leadership transfer.
    if (!m.transfer && r.inLease()) return false;
  }
  switch (m.type) {
    case 'preVote':
      return true; // a pre-vote never changes our term
    case 'preVoteResponse':
      // A granted pre-vote carries the future term; only a rejection tells us of a real higher term.
      if (!m.reject) return true;
      r.becomeFollower(m.term, NONE);
      return true;
    case 'append':
    case 'heartbeat':
    case 'snapshot':
      r.becomeFollower(m.term, m.from);
      return true;
    default:
      r.becomeFollower(m.term, NONE);
      return true;
  }
}

function onLowerTerm(r: Raft, m: Message): void {
  if ((r.cfg.checkQuorum || r.cfg.preVote) && (m.type === 'append' || m.type === 'heartbeat')) {
    // A stale leader (e.g. after a partition healed) learns our term and steps down. Without this it
    // could never learn it when pre-vote or the lease keeps us from starting a real election.
    r.send({
      type: 'appendResponse',
      from: r.id,
      to: m.from,
      term: r.term,
      index: 0,
      reject: true,
      hintIndex: 0,
      hintTerm: 0,
    });
  } else if (m.type === 'preVote') {
    // Tell a lagging pre-candidate our term so that it can catch up (etcd does the same).
    r.send({ type: 'preVoteResponse', from: r.id, to: m.from, term: r.term, reject: true });
  }
}

function handleVoteRequest(r: Raft, m: VoteMessage): void {
  const responseType = m.type === 'vote' ? 'voteResponse' : 'preVoteResponse';
  // We may vote for: the node we already voted for (a duplicate request); anyone, if we have not voted in
  // this term and know no leader; or, for a pre-vote, anyone asking about a future term.
  const canVote =
    r.vote === m.from || (r.vote === NONE && r.lead === NONE) || (m.type === 'preVote' && m.term > r.term);
  if (canVote && r.log.isUpToDate(m.index, m.logTerm)) {
    r.send({ type: responseType, from: r.id, to: m.from, term: m.term, reject: false });
    if (m.type === 'vote') {
      r.electionElapsed = 0;
      r.vote = m.from;
    }
    return;
  }
  r.send({ type: responseType, from: r.id, to: m.from, term: r.term, reject: true });
}
