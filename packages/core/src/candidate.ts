/**
 * Message handling of a (pre-)candidate (Raft §5.2, thesis §9.6): count votes, yield to a leader of the
 * same term, and move on to the real election or leadership once a quorum granted.
 */
import { campaign } from './election.ts';
import { handleAppend, handleHeartbeat, handleSnapshot } from './follower.ts';
import { becomeLeaderAndAnnounce } from './leader.ts';
import type { Message } from './messages.ts';
import type { Raft } from './raft.ts';
import { NONE } from './types.ts';

export function stepCandidate(r: Raft, m: Message): void {
  switch (m.type) {
    case 'append':
      r.becomeFollower(m.term, m.from);
      handleAppend(r, m);
      return;
    case 'heartbeat':
      r.becomeFollower(m.term, m.from);
      handleHeartbeat(r, m);
      return;
    case 'snapshot':
      r.becomeFollower(m.term, m.from);
      handleSnapshot(r, m);
      return;
    case 'voteResponse':
    case 'preVoteResponse': {
      const mine = r.role === 'candidate' ? 'voteResponse' : 'preVoteResponse';
      if (m.type !== mine) return;
      r.tracker.recordVote(m.from, !m.reject);
      const { result } = r.tracker.tallyVotes();
      if (result === 'won') {
        if (r.role === 'preCandidate') campaign(r, 'election', false);
        else becomeLeaderAndAnnounce(r);
      } else if (result === 'lost') {
        // Our term may be behind the rejecting voters'; a new election will sort it out.
        r.becomeFollower(r.term, NONE);
      }
      return;
    }
    case 'propose':
    case 'readIndex':
    case 'transferLeader':
    case 'readIndexResponse':
    case 'timeoutNow':
    case 'appendResponse':
    case 'heartbeatResponse':
    case 'vote':
    case 'preVote':
      // No leader is known: proposals and reads fail at the RaftNode API; stray responses are ignored.
      return;
  }
}
