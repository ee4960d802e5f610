/**
 * The callers waiting on a replica's proposals, keyed by log index and term, as etcd's are. Applying the
 * entry at a waiter's index settles it: its result when the term matches, a definite `ProposalDropped` when
 * another entry took the index. A change of leader does not fail them (the new leader may commit them);
 * one still unsettled a request timeout after leadership was lost reports that its outcome is unknown.
 */
import { RequestTimeoutError } from '@flotilla/app';
import { type GroupId, ProposalDroppedError } from '@flotilla/core';

interface Waiter {
  readonly term: number;
  /** Set when leadership was lost: past this time (performance.now() ms) the outcome is reported unknown. */
  orphanDeadline?: number;
  resolve(result: unknown): void;
  reject(error: Error): void;
}

export class ProposalWaiters {
  private readonly byIndex = new Map<number, Waiter>();
  /** Some waiters were orphaned by a lost leadership (see `orphan`). */
  private orphans = false;

  constructor(
    private readonly group: GroupId,
    private readonly timeoutMs: number,
  ) {}

  get size(): number {
    return this.byIndex.size;
  }

  /** Waits for the entry this leader just appended at `index` in `term`. */
  wait(index: number, term: number): Promise<unknown> {
    // A waiter left from an earlier term at this index lost its entry: this leader's log holds every
    // committed entry, and it has just put another one there.
    this.byIndex.get(index)?.reject(this.overwritten());
    return new Promise((resolve, reject) => this.byIndex.set(index, { term, resolve, reject }));
  }

  /** The entry at `index` (of `term`) was applied with `result`. */
  applied(index: number, term: number, result: unknown): void {
    const waiter = this.byIndex.get(index);
    if (!waiter) return;
    this.byIndex.delete(index);
    if (waiter.term === term) waiter.resolve(result);
    else waiter.reject(this.overwritten());
  }

  /** Leadership was lost: every waiter gets a request timeout to see its entry come back. */
  orphan(): void {
    if (this.byIndex.size === 0) return;
    const deadline = performance.now() + this.timeoutMs;
    for (const w of this.byIndex.values()) w.orphanDeadline ??= deadline;
    this.orphans = true;
  }

  /** Orphans whose entry did not come back in time learn that the outcome is unknown. */
  expire(now = performance.now()): void {
    if (!this.orphans) return;
    let left = false;
    for (const [index, w] of this.byIndex) {
      if (w.orphanDeadline === undefined) continue;
      if (now < w.orphanDeadline) {
        left = true;
        continue;
      }
      this.byIndex.delete(index);
      w.reject(
        new RequestTimeoutError(
          this.group,
          this.timeoutMs,
          'leadership lost and the entry did not come back; outcome unknown',
        ),
      );
    }
    this.orphans = left;
  }

  /** Fails every waiter with `error` (the replica stops). */
  rejectAll(error: Error): void {
    for (const w of this.byIndex.values()) w.reject(error);
    this.byIndex.clear();
    this.orphans = false;
  }

  private overwritten(): ProposalDroppedError {
    return new ProposalDroppedError(this.group, 'a new leader overwrote the entry');
  }
}
