/**
 * In-memory `LogStorage` and `StableStorage`: the reference implementation of the storage contracts, used by
 * tests and the simulator. Every write is durable the moment it is issued (the simulator models loss itself).
 */
import { assert } from './assert.ts';
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from './errors.ts';
import type { LogStorage, StableStorage } from './storage.ts';
import {
  EMPTY_HARD_STATE,
  EMPTY_SNAPSHOT,
  type Entry,
  EntryKind,
  type HardState,
  type Snapshot,
  type SnapshotMeta,
} from './types.ts';

const RESOLVED: Promise<void> = Promise.resolve();

export class MemoryLogStorage implements LogStorage {
  /** `log[0]` is a marker at the compaction point: its index and term answer `term(firstIndex - 1)`. */
  private log: Entry[] = [{ term: 0, index: 0, kind: EntryKind.Normal, data: new Uint8Array(0) }];
  private snap: Snapshot = EMPTY_SNAPSHOT;

  private get offset(): number {
    return this.log[0]!.index;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.log.length - 1;
  }

  term(index: number): number {
    if (index < this.offset) throw new CompactedError(index, this.firstIndex());
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    return this.log[index - this.offset]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.offset) throw new CompactedError(lo, this.firstIndex());
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.log[i - this.offset]!;
      bytes += e.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  append(entries: readonly Entry[]): Promise<void> {
    if (entries.length === 0) return RESOLVED;
    const first = entries[0]!.index;
    assert(first <= this.lastIndex() + 1, () => `append at ${first} leaves a gap after ${this.lastIndex()}`);
    if (first <= this.offset) {
      // Entries already covered by the snapshot are skipped (they are committed and identical).
      entries = entries.slice(this.offset + 1 - first);
      if (entries.length === 0) return RESOLVED;
    }
    const at = entries[0]!.index - this.offset;
    this.log.length = at;
    for (const e of entries) this.log.push(e);
    return RESOLVED;
  }

  installSnapshot(snapshot: Snapshot): Promise<void> {
    if (snapshot.meta.index < this.snap.meta.index) {
      return Promise.reject(new SnapshotOutOfDateError(snapshot.meta.index, this.snap.meta.index));
    }
    this.snap = snapshot;
    this.log = [
      {
        term: snapshot.meta.term,
        index: snapshot.meta.index,
        kind: EntryKind.Normal,
        data: new Uint8Array(0),
      },
    ];
    return RESOLVED;
  }

  saveSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    if (meta.index < this.snap.meta.index) {
      return Promise.reject(new SnapshotOutOfDateError(meta.index, this.snap.meta.index));
    }
    assert(
      meta.index <= this.lastIndex(),
      () => `snapshot at ${meta.index} is past the log (${this.lastIndex()})`,
    );
    this.snap = { meta, data };
    return RESOLVED;
  }

  compact(index: number): Promise<void> {
    if (index <= this.offset) return RESOLVED;
    assert(
      index <= this.snap.meta.index,
      () => `compact(${index}) past the snapshot at ${this.snap.meta.index}`,
    );
    assert(index <= this.lastIndex(), () => `compact(${index}) past the last index ${this.lastIndex()}`);
    const marker = this.log[index - this.offset]!;
    this.log = [{ ...marker, data: new Uint8Array(0) }, ...this.log.slice(index - this.offset + 1)];
    return RESOLVED;
  }
}

export class MemoryStableStorage implements StableStorage {
  private state: HardState = EMPTY_HARD_STATE;

  hardState(): HardState {
    return this.state;
  }

  setHardState(state: HardState): Promise<void> {
    this.state = state;
    return RESOLVED;
  }
}
