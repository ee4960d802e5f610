/**
 * How a leader feeds its followers (Raft §5.3, thesis §10.2): appends bounded by bytes and pipelined within
 * each follower's inflight window, snapshots for followers behind the log's first index, and heartbeats
 * that carry commit and ReadIndex rounds.
 */
import { entriesDataBytes } from './codec.ts';
import { CompactedError } from './errors.ts';
import type { Raft } from './raft.ts';
import type { NodeId } from './types.ts';

/** Appends in one burst to one follower: the inflight window is the real bound; this caps a single call. */
const APPENDS_PER_CALL_MAX = 64;

/**
 * Sends appends to `to` while its progress allows (one in probe state, up to the inflight window in
 * replicate state). With `sendIfEmpty`, sends an empty append when there is nothing new (to carry commit).
 * Returns true when something was sent.
 */
export function sendAppend(r: Raft, to: NodeId, sendIfEmpty: boolean): boolean {
  let sent = false;
  for (let i = 0; i < APPENDS_PER_CALL_MAX; i++) {
    const pr = r.tracker.get(to);
    if (!pr || pr.isPaused()) return sent;
    const prevIndex = pr.nextIndex - 1;
    const prevTerm = r.log.term(prevIndex);
    if (prevTerm === undefined) return sendSnapshot(r, to) || sent;
    let entries: ReturnType<Raft['log']['entriesFrom']>;
    try {
      entries =
        pr.nextIndex <= r.log.lastIndex() ? r.log.entriesFrom(pr.nextIndex, r.cfg.appendBytesMax) : [];
    } catch (error) {
      if (error instanceof CompactedError) return sendSnapshot(r, to) || sent;
      throw error;
    }
    if (entries.length === 0 && !(sendIfEmpty && !sent)) return sent;
    r.send({
      type: 'append',
      from: r.id,
      to,
      term: r.term,
      index: prevIndex,
      logTerm: prevTerm,
      entries,
      commit: r.log.committed,
    });
    pr.sentEntries(entries.length, prevIndex + entries.length, entriesDataBytes(entries));
    sent = true;
    if (pr.state !== 'replicate' || entries.length === 0) return sent;
  }
  return sent;
}

/** The follower is behind our first index: send the latest snapshot (only to a follower heard from lately). */
function sendSnapshot(r: Raft, to: NodeId): boolean {
  const pr = r.tracker.get(to);
  if (!pr?.recentActive) return false;
  const snapshot = r.log.snapshot();
  if (snapshot.meta.index === 0) return false; // nothing to send yet: the log was never compacted
  pr.becomeSnapshot(snapshot.meta.index);
  r.send({ type: 'snapshot', from: r.id, to, term: r.term, snapshot });
  return true;
}

/** Sends appends (or empty appends carrying commit) to every member but ourselves. */
export function bcastAppend(r: Raft): void {
  for (const id of r.tracker.members()) if (id !== r.id) sendAppend(r, id, true);
}

export function sendHeartbeat(r: Raft, to: NodeId, readRound: number, quiesce: boolean): void {
  const pr = r.tracker.get(to);
  // Never tell a follower to commit past what it is known to have (it may not have those entries).
  const commit = Math.min(pr?.matchIndex ?? 0, r.log.committed);
  r.send({ type: 'heartbeat', from: r.id, to, term: r.term, commit, readRound, quiesce });
}

/**
 * Broadcasts one heartbeat round: it carries commit, confirms pending reads and renews the lease. With
 * `quiesce`, it also tells the followers that the group goes idle.
 */
export function bcastHeartbeat(r: Raft, quiesce = false): number {
  const round = r.readOnly.nextRound(r.leaderTicks);
  for (const id of r.tracker.members()) if (id !== r.id) sendHeartbeat(r, id, round, quiesce);
  return round;
}
