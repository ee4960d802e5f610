/**
 * Expected failures of the LMDB storage, each a `StorageError` (code `FLOTILLA_STORAGE`) with a finer stable
 * `storageCode` and the context needed to act on it: the data directory, the group and the index.
 */
import { type GroupId, type NodeId, StorageError } from '@flotilla/core';

export type StorageErrorCode =
  | 'FLOTILLA_STORAGE_DIR_MISMATCH'
  | 'FLOTILLA_STORAGE_CORRUPT'
  | 'FLOTILLA_STORAGE_CLOSED'
  | 'FLOTILLA_STORAGE_OVERLOADED'
  | 'FLOTILLA_STORAGE_IO';

/** Why a data directory was refused. */
export type DirMismatchReason = 'format-version' | 'node-id' | 'foreign';

/**
 * The data directory belongs to another format version or another node, or is not a Flotilla directory.
 * Raised before anything is written to it.
 */
export class DataDirMismatchError extends StorageError {
  readonly storageCode: StorageErrorCode = 'FLOTILLA_STORAGE_DIR_MISMATCH';
  readonly path: string;
  readonly reason: DirMismatchReason;
  readonly expected: number | undefined;
  readonly found: number | undefined;
  constructor(path: string, reason: DirMismatchReason, expected?: number, found?: number) {
    super(`data directory ${path} refused: ${describe(reason, expected, found)}`);
    this.path = path;
    this.reason = reason;
    this.expected = expected;
    this.found = found;
  }
}

function describe(reason: DirMismatchReason, expected?: number, found?: number): string {
  if (reason === 'format-version') return `format version ${found}, this build reads ${expected}`;
  if (reason === 'node-id') return `it belongs to node ${found}, not node ${expected}`;
  return 'it holds data that is not a Flotilla store';
}

/** A stored value that cannot be decoded. Only the group it belongs to is affected. */
export class CorruptValueError extends StorageError {
  readonly storageCode: StorageErrorCode = 'FLOTILLA_STORAGE_CORRUPT';
  /** Which record: `log`, `hard`, `group`, `snap` or `sm`. */
  readonly record: string;
  constructor(record: string, group: GroupId, index: number | undefined, problem: string) {
    const where = index === undefined ? `group ${group}` : `group ${group} at index ${index}`;
    super(
      `corrupt ${record} record in ${where}: ${problem}`,
      index === undefined ? { group } : { group, index },
    );
    this.record = record;
  }
}

/** The storage was closed; no more reads or writes. */
export class StorageClosedError extends StorageError {
  readonly storageCode: StorageErrorCode = 'FLOTILLA_STORAGE_CLOSED';
  constructor(path: string, nodeId: NodeId) {
    super(`storage of node ${nodeId} at ${path} is closed`);
  }
}

/**
 * A WAL record that fails its check where a torn write cannot explain it (valid data follows it), or that
 * verifies but does not decode or does not fit the log. Names the segment file and the byte offset.
 */
export class WalCorruptError extends StorageError {
  readonly storageCode: StorageErrorCode = 'FLOTILLA_STORAGE_CORRUPT';
  readonly segment: string;
  readonly offset: number;
  constructor(segment: string, offset: number, problem: string) {
    super(`corrupt WAL record in ${segment} at offset ${offset}: ${problem}`);
    this.segment = segment;
    this.offset = offset;
  }
}

/** A WAL limit (`limit` names the option) would be exceeded by this write; nothing was written. */
export class WalOverloadedError extends StorageError {
  readonly storageCode: StorageErrorCode = 'FLOTILLA_STORAGE_OVERLOADED';
  readonly limit: string;
  readonly max: number;
  constructor(limit: string, max: number, group?: GroupId) {
    super(
      `WAL ${limit} (${max}) reached${group === undefined ? '' : ` by group ${group}`}`,
      group === undefined ? {} : { group },
    );
    this.limit = limit;
    this.max = max;
  }
}

/**
 * A write or sync of the WAL failed. After a failed fsync the page cache cannot be trusted, so the store
 * refuses every later write; reopening it recovers what is durable.
 */
export class WalFailedError extends StorageError {
  readonly storageCode: StorageErrorCode = 'FLOTILLA_STORAGE_IO';
  readonly path: string;
  constructor(path: string, cause: unknown) {
    super(`WAL at ${path} failed: ${(cause as Error)?.message ?? String(cause)}`);
    this.path = path;
    this.cause = cause;
  }
}
