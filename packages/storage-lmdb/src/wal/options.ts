/**
 * Options of `openWal`, their defaults and validation. Every queue, batch and buffer of the WAL takes its
 * bound from here, so that a deployment tunes them in one place.
 */
import { InvalidConfigError, type NodeId } from '@flotilla/core';
import type { StorageLogger } from '../options.ts';
import { defaultFileIo, type WalFileIo } from './file-io.ts';

export interface WalOptions {
  /** The node's data directory (created if missing): holds `meta`, `wal/` and `snap/`. */
  readonly dir: string;
  /** The node that owns the directory; opening it as another node fails. */
  readonly nodeId: NodeId;
  /**
   * Size of a segment file (preallocated). Past 3/4 of it a rotation starts: a checkpoint of every group's
   * live log goes into a new segment, then the older ones are deleted. Default 64 MiB.
   */
  readonly segmentBytes?: number;
  /**
   * Fill segments with zeros before writing to them (the next one in the background), so that an append
   * does not change the file size and `fdatasync` flushes data only. Default true.
   */
  readonly preallocate?: boolean;
  /**
   * How a batch is made durable: `write` then `fdatasync` (default), or — for a batch that fits one write —
   * one write through an O_DSYNC descriptor, which saves a threadpool round trip per batch.
   */
  readonly syncMethod?: 'fdatasync' | 'dsync';
  /**
   * When a batch leaves: at the end of the event-loop turn (`turn`, default: every write of the turn shares
   * one sync), or as soon as the current callback and its microtasks are done (`microtask`: one loop
   * iteration sooner, for callers that already issue a whole turn's writes from one callback).
   */
  readonly batchBoundary?: 'turn' | 'microtask';
  /** Most bytes one `write` call writes; a larger batch is written in several calls, then synced once. */
  readonly writeBytesMax?: number;
  /** Most records waiting for the next batch; past it a write fails with `WalOverloadedError`. */
  readonly pendingRecordsMax?: number;
  /**
   * Most bytes waiting for the next batch; past it a write fails with `WalOverloadedError`. Also bounds the
   * records kept, during a rotation, to be written again after the new segment's checkpoint.
   */
  readonly pendingBytesMax?: number;
  /** Most writes of one group held back behind a snapshot file being written. */
  readonly heldWritesMax?: number;
  readonly logger?: StorageLogger;
  /** The write and sync calls of the write path (tests count or fail them). Default: node:fs, async. */
  readonly io?: WalFileIo;
}

export interface ResolvedWalOptions {
  readonly dir: string;
  readonly nodeId: NodeId;
  readonly segmentBytes: number;
  readonly preallocate: boolean;
  readonly syncMethod: 'fdatasync' | 'dsync';
  readonly batchBoundary: 'turn' | 'microtask';
  readonly writeBytesMax: number;
  readonly pendingRecordsMax: number;
  readonly pendingBytesMax: number;
  readonly heldWritesMax: number;
  readonly logger: StorageLogger;
  readonly io: WalFileIo;
}

export const WAL_DEFAULTS = {
  segmentBytes: 64 * 1024 * 1024,
  preallocate: true,
  syncMethod: 'fdatasync',
  writeBytesMax: 4 * 1024 * 1024,
  pendingRecordsMax: 1_000_000,
  pendingBytesMax: 256 * 1024 * 1024,
  heldWritesMax: 65_536,
} as const;

/** Size of the pooled chunks batches are built in (a larger record gets a chunk of its own). */
export const CHUNK_BYTES = 1024 * 1024;
/** Chunks kept for reuse between batches. */
export const FREE_CHUNKS_MAX = 8;
/** Longest group id in UTF-8 bytes: its hex form names snapshot files, which must stay under 255 bytes. */
export const GROUP_ID_BYTES_MAX = 100;

const NOOP_LOGGER: StorageLogger = { warn() {}, error() {} };

function positiveInt(key: string, value: number, min = 1): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidConfigError(key, `must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

export function resolveWalOptions(options: WalOptions): ResolvedWalOptions {
  if (typeof options.dir !== 'string' || options.dir.length === 0) {
    throw new InvalidConfigError('dir', 'must be a non-empty string');
  }
  const preallocate = options.preallocate ?? WAL_DEFAULTS.preallocate;
  if (typeof preallocate !== 'boolean') throw new InvalidConfigError('preallocate', 'must be a boolean');
  const syncMethod = options.syncMethod ?? WAL_DEFAULTS.syncMethod;
  if (syncMethod !== 'fdatasync' && syncMethod !== 'dsync') {
    throw new InvalidConfigError('syncMethod', "must be 'fdatasync' or 'dsync'");
  }
  const batchBoundary = options.batchBoundary ?? 'turn';
  if (batchBoundary !== 'turn' && batchBoundary !== 'microtask') {
    throw new InvalidConfigError('batchBoundary', "must be 'turn' or 'microtask'");
  }
  const d = WAL_DEFAULTS;
  return {
    dir: options.dir,
    nodeId: positiveInt('nodeId', options.nodeId),
    segmentBytes: positiveInt('segmentBytes', options.segmentBytes ?? d.segmentBytes, 4096),
    preallocate,
    syncMethod,
    batchBoundary,
    writeBytesMax: positiveInt('writeBytesMax', options.writeBytesMax ?? d.writeBytesMax, 4096),
    pendingRecordsMax: positiveInt('pendingRecordsMax', options.pendingRecordsMax ?? d.pendingRecordsMax),
    pendingBytesMax: positiveInt('pendingBytesMax', options.pendingBytesMax ?? d.pendingBytesMax, 4096),
    heldWritesMax: positiveInt('heldWritesMax', options.heldWritesMax ?? d.heldWritesMax),
    logger: options.logger ?? NOOP_LOGGER,
    io: options.io ?? defaultFileIo,
  };
}
