/**
 * What the leader knows about one follower's log (thesis §3.5, etcd's Progress): `match` (highest index
 * known replicated), `next` (next index to send), and a state that decides how appends flow:
 *
 *   probe ──(append acknowledged)──▶ replicate ──(rejection / unreachable)──▶ probe
 *     │                                                                        ▲
 *     └──(log compacted below next)──▶ snapshot ──(snapshot applied/failed)───┘
 *
 * probe: one append per heartbeat interval until the follower's position is found.
 * replicate: optimistic pipelining, bounded by the inflight window (count and bytes).
 * snapshot: nothing is sent until the snapshot transfer ends.
 */
import { assert } from './assert.ts';
import { Inflights } from './inflights.ts';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  matchIndex = 0;
  nextIndex: number;
  state: ProgressState = 'probe';
  /** Index of the snapshot being sent while in `snapshot` state. */
  pendingSnapshotIndex = 0;
  /** Heard from since the last check-quorum round (thesis §6.2). */
  recentActive = false;
  /** In probe state: an append is out and we wait for its answer or the next heartbeat. */
  appendFlowPaused = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(options: {
    nextIndex: number;
    inflightMessagesMax: number;
    inflightBytesMax: number;
    isLearner: boolean;
  }) {
    this.nextIndex = options.nextIndex;
    this.inflights = new Inflights(options.inflightMessagesMax, options.inflightBytesMax);
    this.isLearner = options.isLearner;
  }

  private resetState(state: ProgressState): void {
    this.appendFlowPaused = false;
    this.pendingSnapshotIndex = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot the follower has at least the snapshot's index.
    const from =
      this.state === 'snapshot' ? Math.max(this.matchIndex, this.pendingSnapshotIndex) : this.matchIndex;
    this.resetState('probe');
    this.nextIndex = from + 1;
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.nextIndex = this.matchIndex + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshotIndex = snapshotIndex;
  }

  /** An append carrying entries up to `lastIndex` (and `bytes` of data) was just sent. */
  sentEntries(count: number, lastIndex: number, bytes: number): void {
    switch (this.state) {
      case 'replicate':
        if (count > 0) {
          this.nextIndex = lastIndex + 1;
          this.inflights.add(lastIndex, bytes);
        }
        this.appendFlowPaused = this.inflights.full();
        return;
      case 'probe':
        // One probe per heartbeat: wait for its answer (or the next heartbeat) before another.
        this.appendFlowPaused = true;
        return;
      case 'snapshot':
        assert(false, 'sending entries to a follower in snapshot state');
    }
  }

  /** The follower acknowledged `index`. Returns false when the acknowledgment is stale. */
  maybeUpdate(index: number): boolean {
    if (index <= this.matchIndex) return false;
    this.matchIndex = index;
    this.nextIndex = Math.max(this.nextIndex, index + 1);
    this.appendFlowPaused = false;
    this.inflights.freeLE(index);
    return true;
  }

  /**
   * The follower rejected an append whose previous index was `rejected`; `matchHint` is the highest index
   * that may still match (fast backtracking). Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.matchIndex) return false;
      this.nextIndex = this.matchIndex + 1;
      return true;
    }
    // In probe state only the rejection of the append we sent last matters.
    if (this.nextIndex - 1 !== rejected) return false;
    const next = Math.max(Math.min(rejected, matchHint + 1), this.matchIndex + 1);
    // Unchanged only when a follower contradicts its own acknowledgment (it lost durable entries): do not
    // answer at once, or the two would ping-pong; the next heartbeat probes again.
    if (next === this.nextIndex) return false;
    this.nextIndex = next;
    this.appendFlowPaused = false;
    return true;
  }

  /** True when no append should be sent now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.appendFlowPaused;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
