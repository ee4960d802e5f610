/**
 * Options of `openStorage`, their defaults and their validation. Every batch and queue of the package takes
 * its bound from here, so that a deployment can tune them in one place.
 */
import { InvalidConfigError, type NodeId } from '@flotilla/core';

/** The subset of a pino logger this package uses; the default does nothing. */
export interface StorageLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface StorageOptions {
  /** The node's data directory (created if missing). One LMDB environment per directory per process. */
  readonly path: string;
  /** The node that owns the directory; opening it as another node fails. */
  readonly nodeId: NodeId;
  /** Most keys one transaction deletes when truncating, compacting or collecting garbage. */
  readonly deleteChunkEntries?: number;
  /** Size of the chunks a `Uint8Array` snapshot is split into. */
  readonly snapshotChunkBytes?: number;
  /** Most snapshot chunks written but not yet committed, per snapshot being written. */
  readonly snapshotChunksInFlightMax?: number;
  /** Most writes of one group held back behind a multi-transaction write (truncation, snapshot install). */
  readonly heldWritesMax?: number;
  /**
   * Key-value state machines commit the writes of applied commands every this many ms, all of them in one
   * transaction, instead of one transaction per apply (0). Their state stays readable at once (an overlay);
   * it becomes durable later, with its applied index, and the Raft log is kept until then.
   */
  readonly stateCommitIntervalMs?: number;
  readonly logger?: StorageLogger;
}

export interface ResolvedOptions {
  readonly path: string;
  readonly nodeId: NodeId;
  readonly deleteChunkEntries: number;
  readonly snapshotChunkBytes: number;
  readonly snapshotChunksInFlightMax: number;
  readonly heldWritesMax: number;
  readonly stateCommitIntervalMs: number;
  readonly logger: StorageLogger;
}

const NOOP_LOGGER: StorageLogger = { warn() {}, error() {} };

export const DEFAULTS = {
  deleteChunkEntries: 4096,
  snapshotChunkBytes: 256 * 1024,
  snapshotChunksInFlightMax: 8,
  heldWritesMax: 65536,
  stateCommitIntervalMs: 0,
} as const;

function positiveInt(key: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidConfigError(key, `must be a positive integer, got ${value}`);
  }
  return value;
}

function nonNegativeInt(key: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidConfigError(key, `must be an integer >= 0, got ${value}`);
  }
  return value;
}

export function resolveOptions(options: StorageOptions): ResolvedOptions {
  if (typeof options.path !== 'string' || options.path.length === 0) {
    throw new InvalidConfigError('path', 'must be a non-empty string');
  }
  return {
    path: options.path,
    nodeId: positiveInt('nodeId', options.nodeId),
    deleteChunkEntries: positiveInt(
      'deleteChunkEntries',
      options.deleteChunkEntries ?? DEFAULTS.deleteChunkEntries,
    ),
    snapshotChunkBytes: positiveInt(
      'snapshotChunkBytes',
      options.snapshotChunkBytes ?? DEFAULTS.snapshotChunkBytes,
    ),
    snapshotChunksInFlightMax: positiveInt(
      'snapshotChunksInFlightMax',
      options.snapshotChunksInFlightMax ?? DEFAULTS.snapshotChunksInFlightMax,
    ),
    heldWritesMax: positiveInt('heldWritesMax', options.heldWritesMax ?? DEFAULTS.heldWritesMax),
    stateCommitIntervalMs: nonNegativeInt(
      'stateCommitIntervalMs',
      options.stateCommitIntervalMs ?? DEFAULTS.stateCommitIntervalMs,
    ),
    logger: options.logger ?? NOOP_LOGGER,
  };
}
