/**
 * The storage contracts the core relies on: `LogStorage` (entries, snapshot) and `StableStorage` (hard state).
 * Reads are synchronous and only of what the core knows is stable; writes are asynchronous and durable on resolve.
 *
 * Ordering contract (what `Ready` relies on):
 * - A write's promise resolves only when the write is durable (fsynced): after a crash it is found again.
 * - Writes issued by one caller take effect in the order they were issued; a later write never becomes
 *   durable without the earlier ones (a crash may lose a suffix of the issued writes, never a middle one).
 * - Reads reflect every write whose promise has resolved. They may or may not reflect writes still in
 *   flight; the core never reads an index it has not seen acknowledged as stable.
 */
import type { Entry, HardState, Snapshot, SnapshotMeta } from './types.ts';

export interface LogStorage {
  /** Index of the first entry still in the log: the snapshot's index + 1 (1 for a fresh log). */
  firstIndex(): number;
  /** Index of the last entry, or the snapshot's index when the log is empty. */
  lastIndex(): number;
  /**
   * Term of the entry at `index`. `index === firstIndex() - 1` answers the snapshot's term.
   * Throws `CompactedError` below that and `UnavailableError` past `lastIndex()`.
   */
  term(index: number): number;
  /**
   * Entries in `[lo, hi)`. Returns at least one entry when `lo < hi` even if it alone exceeds `maxBytes`;
   * otherwise stops before the total of `data` lengths exceeds `maxBytes`.
   * Throws `CompactedError` when `lo < firstIndex()` and `UnavailableError` when `hi > lastIndex() + 1`.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The latest complete snapshot (`EMPTY_SNAPSHOT` when none). */
  snapshot(): Snapshot;

  /**
   * Appends entries, first removing every stored entry at `entries[0].index` or later (a follower's
   * conflicting suffix, §5.3). `entries` are contiguous and `entries[0].index <= lastIndex() + 1`.
   */
  append(entries: readonly Entry[]): Promise<void>;
  /**
   * Replaces the log by a snapshot received from the leader: afterwards `firstIndex() === meta.index + 1`,
   * `lastIndex() === meta.index` and `snapshot()` returns it. Throws `SnapshotOutOfDateError` when older than
   * the current snapshot.
   */
  installSnapshot(snapshot: Snapshot): Promise<void>;
  /**
   * Records a snapshot the local state machine produced at `meta.index` (≤ the applied index). The log is
   * not changed; call `compact` afterwards to drop the entries it covers.
   */
  saveSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void>;
  /**
   * Drops every entry at or below `index`, which must be ≤ the latest snapshot's index. Afterwards
   * `firstIndex() === index + 1` and `term(index)` still answers (from the snapshot or a kept marker).
   */
  compact(index: number): Promise<void>;
}

export interface StableStorage {
  /** The last durable hard state (`EMPTY_HARD_STATE` for a fresh node). */
  hardState(): HardState;
  /** Makes `state` durable. A vote once durable must never be lost (it would allow two votes in one term). */
  setHardState(state: HardState): Promise<void>;
}
