/**
 * ReadIndex and lease bookkeeping on the leader (thesis §6.4, §6.4.1). Every heartbeat broadcast is a
 * numbered round; followers echo the round. A read waits for the first round broadcast after it arrived:
 * once a quorum acknowledged that round (or a later one), leadership was confirmed after the read arrived
 * and it can be served at the commit index recorded on arrival. The tick each round was sent at gives
 * the lease: no other leader can exist before that tick plus the election timeout.
 */
import { assert } from './assert.ts';
import type { NodeId } from './types.ts';

export interface PendingRead {
  /** Commit index when the read arrived: the read is linearizable once the state machine applied it. */
  readonly index: number;
  readonly context: Uint8Array;
  /** Who asked: the leader itself (answer through `Ready.readStates`) or a follower (answer by message). */
  readonly from: NodeId;
  /** The heartbeat round that confirms this read. */
  readonly round: number;
}

export class ReadOnly {
  private pending: PendingRead[] = [];
  private round = 0;
  /** Highest round each voter acknowledged. */
  private readonly acked = new Map<NodeId, number>();
  /** Leader tick at which each unconfirmed round was broadcast (pruned as rounds are confirmed). */
  private readonly sentAtTick = new Map<number, number>();

  constructor(readonly pendingReadsMax: number) {}

  get size(): number {
    return this.pending.length;
  }

  /** Queues a read to be confirmed by the next round broadcast. */
  add(read: Omit<PendingRead, 'round'>): void {
    assert(this.pending.length < this.pendingReadsMax, 'read-only queue is full');
    this.pending.push({ ...read, round: this.round + 1 });
  }

  /** Starts a heartbeat round sent at leader tick `tick`; returns its number. */
  nextRound(tick: number): number {
    this.round++;
    this.sentAtTick.set(this.round, tick);
    return this.round;
  }

  /** Records that `voter` answered a heartbeat of `round`. */
  ack(voter: NodeId, round: number): void {
    if (round > (this.acked.get(voter) ?? 0)) this.acked.set(voter, round);
  }

  /** Rounds acknowledged so far by `voter`; the leader itself has seen every round it sent. */
  ackedRound(voter: NodeId, self: NodeId): number {
    return voter === self ? this.round : (this.acked.get(voter) ?? 0);
  }

  /** Tick at which `round` was sent, if still known. */
  sentAt(round: number): number | undefined {
    return this.sentAtTick.get(round);
  }

  /** Removes and returns the reads confirmed by a quorum having acknowledged `quorumRound`. */
  takeConfirmed(quorumRound: number): PendingRead[] {
    for (const round of this.sentAtTick.keys()) if (round < quorumRound) this.sentAtTick.delete(round);
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.round <= quorumRound) n++;
    if (n === 0) return [];
    const done = this.pending.slice(0, n);
    this.pending = this.pending.slice(n);
    return done;
  }

  /** Drops every pending read (leadership lost); returns them so their askers can be told. */
  clear(): PendingRead[] {
    const dropped = this.pending;
    this.pending = [];
    this.acked.clear();
    this.sentAtTick.clear();
    return dropped;
  }
}
