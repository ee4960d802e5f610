/**
 * The node's view of its log (Raft §5.3): durable entries in `LogStorage` followed by `Unstable` ones, plus
 * `committed` and `applied`. It answers terms and slices across both and implements the append rules.
 */
import { assert } from './assert.ts';
import { CompactedError, UnavailableError } from './errors.ts';
import type { LogStorage } from './storage.ts';
import type { Entry, Snapshot } from './types.ts';
import { Unstable } from './unstable.ts';

export class RaftLog {
  readonly unstable: Unstable;
  /** Highest index known committed (Raft §5.3). */
  committed: number;
  /** Highest index handed to the application for applying (and acknowledged by `advance`). */
  applied: number;
  /** Highest index handed to the application in a Ready not yet advanced. */
  applying: number;

  constructor(
    readonly storage: LogStorage,
    readonly committedBytesPerReadyMax: number,
  ) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /**
   * Last index known durable: everything below the unstable part. While a received snapshot is not yet
   * durable nothing past the old log counts, so this answers 0 (only followers receive snapshots).
   */
  stableLastIndex(): number {
    if (this.unstable.snapshot) return 0;
    return this.unstable.offset - 1;
  }

  /** Term of `index`, or undefined when compacted or past the end. */
  term(index: number): number | undefined {
    const fromUnstable = this.unstable.maybeTerm(index);
    if (fromUnstable !== undefined) return fromUnstable;
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    try {
      return this.storage.term(index);
    } catch (error) {
      if (error instanceof CompactedError || error instanceof UnavailableError) return undefined;
      throw error;
    }
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, 'the last entry has no term');
    return t;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries in `[lo, hi)` up to `maxBytes` (at least one). Throws `CompactedError` when `lo` is compacted.
   */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    assert(hi <= this.lastIndex() + 1, () => `slice [${lo},${hi}) past last index ${this.lastIndex()}`);
    const out: Entry[] = [];
    let bytes = 0;
    const unstableStart = this.unstable.offset;
    if (lo < unstableStart) {
      const stored = this.storage.entries(lo, Math.min(hi, unstableStart), maxBytes);
      for (const e of stored) {
        bytes += e.data.length;
        out.push(e);
      }
      if (out.length < Math.min(hi, unstableStart) - lo) return out; // storage hit maxBytes
    }
    if (hi > unstableStart) {
      for (const e of this.unstable.slice(Math.max(lo, unstableStart), hi)) {
        bytes += e.data.length;
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(e);
      }
    }
    return out;
  }

  /** Entries from `lo` to the end, up to `maxBytes`. */
  entriesFrom(lo: number, maxBytes: number): Entry[] {
    return this.slice(lo, this.lastIndex() + 1, maxBytes);
  }

  /**
   * The follower side of AppendEntries (§5.3): if our log has (index, logTerm), append `entries` (dropping a
   * conflicting suffix) and advance commit. Returns the last index now known to match, or undefined.
   */
  maybeAppend(index: number, logTerm: number, commit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(
        conflict > this.committed,
        () => `entry ${conflict} conflicts with committed entry ${this.committed}`,
      );
      this.append(entries.slice(conflict - entries[0]!.index));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** Appends entries after the current last index (or over an uncommitted suffix). Returns the new last index. */
  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0]!.index - 1;
    assert(
      after >= this.committed,
      () => `append after ${after} would overwrite committed ${this.committed}`,
    );
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /**
   * Index of the first entry whose term differs from ours, or of the first new entry; 0 when all are present.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index ≤ `index` whose term is ≤ `term` (etcd's findConflictByTerm).
   * Every entry above it has a term > `term` and so cannot match the leader's entry at `index`.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; i >= this.firstIndex() - 1; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), () => `commit ${index} is past the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Highest committed index that may be handed out for applying: committed and durable here. */
  private applyLimit(): number {
    return Math.min(this.committed, this.stableLastIndex());
  }

  hasNextCommittedEntries(): boolean {
    return this.applying < this.applyLimit() && !this.unstable.snapshot;
  }

  /** The next committed, durable entries to apply, bounded by bytes. */
  nextCommittedEntries(): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    return this.slice(this.applying + 1, this.applyLimit() + 1, this.committedBytesPerReadyMax);
  }

  /** The snapshot to send to a follower whose log is behind our first index. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Replaces the whole log by a snapshot received from the leader. */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.meta.index;
    this.unstable.restore(snapshot);
  }
}
