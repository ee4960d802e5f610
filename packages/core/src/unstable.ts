/**
 * The part of the log not yet known durable: entries (and possibly an incoming snapshot) that were handed
 * to the application in a `Ready` or are still waiting to be. Once the application reports them written
 * (`advance`), they are dropped from here and read from `LogStorage` instead.
 */
import { assert } from './assert.ts';
import type { Entry, Snapshot } from './types.ts';

export class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  /** Index of `entries[0]` (or where the next entry would go). */
  offset: number;
  /** Entries below this index (and the snapshot if `snapshotInProgress`) were handed out for writing. */
  offsetInProgress: number;
  snapshotInProgress = false;

  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  /** Last index held here, if any. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.meta.index;
  }

  /** Index of the first entry that could be held here: the snapshot's index + 1. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.meta.index + 1 : undefined;
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      if (this.snapshot && this.snapshot.meta.index === index) return this.snapshot.meta.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || index > last) return undefined;
    return this.entries[index - this.offset]?.term;
  }

  /** Entries not yet handed out for writing. */
  nextEntries(): Entry[] {
    const start = this.offsetInProgress - this.offset;
    return start >= this.entries.length ? [] : this.entries.slice(start);
  }

  nextSnapshot(): Snapshot | undefined {
    return this.snapshot && !this.snapshotInProgress ? this.snapshot : undefined;
  }

  /** Marks everything currently here as handed out. */
  acceptInProgress(): void {
    if (this.entries.length > 0) this.offsetInProgress = this.offset + this.entries.length;
    if (this.snapshot) this.snapshotInProgress = true;
  }

  /**
   * Entries up to (`index`, `term`) are durable: drop them. The term check ignores acknowledgments of
   * entries that were since replaced by a conflicting append.
   */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    if (t === undefined || t !== term || index < this.offset) return;
    const n = index + 1 - this.offset;
    this.entries = this.entries.slice(n);
    this.offset = index + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
  }

  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.meta.index === index) {
      this.snapshot = undefined;
      this.snapshotInProgress = false;
    }
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.meta.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = snapshot;
    this.snapshotInProgress = false;
  }

  /** Appends `entries`, first truncating anything here at or after `entries[0].index`. */
  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0]!.index;
    const end = this.offset + this.entries.length;
    if (first === end) {
      for (const e of entries) this.entries.push(e);
    } else if (first <= this.offset) {
      // Replaces everything here; the storage's entries at ≥ first are overwritten on the next write.
      this.offset = first;
      this.offsetInProgress = first;
      this.entries = [...entries];
    } else {
      assert(first < end, () => `unstable append at ${first} leaves a gap after ${end - 1}`);
      this.entries = [...this.entries.slice(0, first - this.offset), ...entries];
      this.offsetInProgress = Math.min(this.offsetInProgress, first);
    }
  }

  slice(lo: number, hi: number): Entry[] {
    assert(
      lo >= this.offset && hi <= this.offset + this.entries.length,
      () => `unstable slice [${lo},${hi}) out of range`,
    );
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
