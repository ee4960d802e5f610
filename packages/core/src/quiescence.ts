/**
 * Quiescence of idle groups (as in CockroachDB): a leader whose whole log is held by every member stops
 * heartbeating, and its followers stop ticking, so thousands of idle groups cost no timer work and no
 * messages. Safety is untouched (only timing changes); liveness relies on the transport reporting a dead or
 * unreachable peer (`reportUnreachable`), which wakes the group so that an election can follow.
 */
import type { HeartbeatMessage, Message } from './messages.ts';
import type { Raft } from './raft.ts';
import { isJoint } from './tracker.ts';
import { NONE } from './types.ts';

/** True when the leader may put the group to sleep: nothing in flight, nothing unknown to any member. */
export function leaderCanQuiesce(r: Raft): boolean {
  if (!r.cfg.quiesce) return false;
  // A group configured for lease reads keeps its lease alive (a quiesced leader has none); with safe reads
  // (the default) a lease read asked per request on an idle group simply confirms with one round.
  if (r.cfg.readOnly === 'lease') return false;
  const last = r.log.lastIndex();
  if (r.log.committed !== last || r.log.applied !== r.log.committed) return false;
  if (r.leadTransferee !== NONE || isJoint(r.tracker.config)) return false;
  if (r.readOnly.size > 0 || r.pendingReadsBeforeCommit.length > 0) return false;
  if (r.broadcastPending || r.heartbeatForReadsPending || r.uncommittedBytes > 0) return false;
  for (const [id, pr] of r.tracker.progress) {
    if (pr.matchIndex !== last) return false;
    // A member not heard from lately might be down; a group with a missing member keeps heartbeating.
    if (id !== r.id && (pr.state !== 'replicate' || !pr.recentActive)) return false;
  }
  return true;
}

/** A follower goes to sleep with its leader when it holds everything the leader committed. */
export function followerMayQuiesce(r: Raft, m: HeartbeatMessage): boolean {
  return (
    m.quiesce && m.from === r.lead && r.log.committed === r.log.lastIndex() && m.commit === r.log.lastIndex()
  );
}

/** Every message wakes a quiesced node except the quiescing heartbeat itself and the answers to it. */
export function wakesUp(m: Message): boolean {
  if (m.type === 'heartbeat') return !m.quiesce;
  return m.type !== 'heartbeatResponse';
}
