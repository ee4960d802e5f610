/**
 * The writes a group makes, as plain values: the same `GroupOp` is applied to the in-memory log, encoded as a
 * WAL record and, after a restart, decoded and applied again, so the log in memory and on disk cannot drift.
 */
import type { Entry, HardState, SnapshotMeta } from '@flotilla/core';

/** Where a group's snapshot data lives: `snap/<group-hex>-<index>-<fileSeq>.snap`, `bytes` long, CRC-32C `crc`. */
export interface SnapshotRef {
  readonly meta: SnapshotMeta;
  readonly fileSeq: number;
  readonly bytes: number;
  readonly crc: number;
  /** The data while its file is still being written (it answers reads); dropped once the file is durable. */
  data: Uint8Array | undefined;
  /** Set when recovery found the file missing or of the wrong size; reads then fail with this problem. */
  problem: string | undefined;
}

/**
 * One write of one group, already normalized against the log it applies to (entries the compaction marker
 * covers are removed, the compacted term is resolved), so applying it again to the same state is exact.
 */
export type GroupOp =
  /** Removes every entry at `first` or later, then appends `entries` (contiguous from `first`). */
  | { readonly type: 'entries'; readonly first: number; readonly entries: readonly Entry[] }
  | { readonly type: 'hardState'; readonly state: HardState }
  /** Drops every entry at or below `index`; the marker answers `term(index) === term`. */
  | { readonly type: 'compact'; readonly index: number; readonly term: number }
  /** Points the group at a snapshot; `install` also replaces the log (marker = snapshot index and term). */
  | { readonly type: 'snapshot'; readonly ref: SnapshotRef; readonly install: boolean };
