/**
 * The in-memory state of one group's log: live entries (an array indexed by `index - markerIndex - 1`), the
 * compaction marker, the hard state and the snapshot pointer. Reads never touch the disk; memory is bounded
 * only by the application compacting its log (the node snapshots and compacts every N entries).
 */
import {
  assert,
  assertNever,
  CompactedError,
  EMPTY_HARD_STATE,
  type Entry,
  type HardState,
  UnavailableError,
} from '@flotilla/core';
import type { GroupOp, SnapshotRef } from './ops.ts';

export class GroupLog {
  markerIndex = 0;
  markerTerm = 0;
  entries: Entry[] = [];
  hard: HardState = EMPTY_HARD_STATE;
  snap: SnapshotRef | undefined = undefined;

  get lastIndex(): number {
    return this.markerIndex + this.entries.length;
  }

  /** True for a group that never wrote anything: it is left out of checkpoints. */
  isEmpty(): boolean {
    const h = this.hard;
    const noHard = h.term === 0 && h.vote === 0 && h.commit === 0;
    return noHard && this.markerIndex === 0 && this.entries.length === 0 && this.snap === undefined;
  }

  /** A copy that shares the (immutable) entries, so that it can move ahead of this one. */
  clone(): GroupLog {
    const copy = new GroupLog();
    copy.markerIndex = this.markerIndex;
    copy.markerTerm = this.markerTerm;
    copy.entries = this.entries.slice();
    copy.hard = this.hard;
    copy.snap = this.snap;
    return copy;
  }

  term(index: number): number {
    if (index === this.markerIndex) return this.markerTerm;
    if (index < this.markerIndex) throw new CompactedError(index, this.markerIndex + 1);
    if (index > this.lastIndex) throw new UnavailableError(index, this.lastIndex);
    return (this.entries[index - this.markerIndex - 1] as Entry).term;
  }

  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.markerIndex) throw new CompactedError(lo, this.markerIndex + 1);
    if (hi > this.lastIndex + 1) throw new UnavailableError(hi - 1, this.lastIndex);
    const out: Entry[] = [];
    let bytes = 0;
    for (let at = lo - this.markerIndex - 1; at < hi - this.markerIndex - 1; at++) {
      const entry = this.entries[at] as Entry;
      bytes += entry.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  /** Applies one normalized write. Throws `AssertionError` when `op` does not fit this log. */
  apply(op: GroupOp): void {
    switch (op.type) {
      case 'entries': {
        assert(
          op.first > this.markerIndex,
          () => `entries at ${op.first} under the marker ${this.markerIndex}`,
        );
        assert(
          op.first <= this.lastIndex + 1,
          () => `entries at ${op.first} leave a gap after ${this.lastIndex}`,
        );
        this.entries.length = op.first - this.markerIndex - 1;
        for (const entry of op.entries) this.entries.push(entry);
        return;
      }
      case 'hardState':
        this.hard = op.state;
        return;
      case 'compact':
        this.compact(op.index, op.term);
        return;
      case 'snapshot':
        this.snap = op.ref;
        if (op.install) {
          this.entries = [];
          this.markerIndex = op.ref.meta.index;
          this.markerTerm = op.ref.meta.term;
        }
        return;
      default:
        assertNever(op);
    }
  }

  /** Also used by checkpoints on an empty log, where the marker is simply set. */
  private compact(index: number, term: number): void {
    assert(index > this.markerIndex, () => `compact(${index}) at or below the marker ${this.markerIndex}`);
    this.entries = index >= this.lastIndex ? [] : this.entries.slice(index - this.markerIndex);
    this.markerIndex = index;
    this.markerTerm = term;
  }
}
