/**
 * The per-group metadata record (`group` database): compaction marker and snapshot pointer, written in one
 * put so that a snapshot install switches both at once. Decoding validates every field.
 */
import {
  decodeEntry,
  decodeHardState,
  decodeSnapshotMeta,
  type Entry,
  encodeSnapshotMeta,
  type GroupId,
  type HardState,
  type SnapshotMeta,
} from '@flotilla/core';
import { CorruptValueError } from './errors.ts';

/** Where the latest complete snapshot of a group lives: chunks `[group, id, 0 .. chunks-1]`. */
export interface SnapshotPointer {
  readonly id: number;
  readonly meta: SnapshotMeta;
  readonly chunks: number;
  readonly bytes: number;
}

export interface GroupRecord {
  /** The compaction marker: the log holds no entry at or below it; `term(markerIndex)` is `markerTerm`. */
  readonly markerIndex: number;
  readonly markerTerm: number;
  readonly snapshot: SnapshotPointer | undefined;
  /**
   * Log keys `[garbageFrom, garbageTo]` are a truncated suffix still being deleted (0 when none): the log
   * ends at `garbageFrom - 1`. Written before a chunked deletion starts, cleared when it ends.
   */
  readonly garbageFrom: number;
  readonly garbageTo: number;
}

export const EMPTY_GROUP_RECORD: GroupRecord = Object.freeze({
  markerIndex: 0,
  markerTerm: 0,
  snapshot: undefined,
  garbageFrom: 0,
  garbageTo: 0,
});

type Stored = [1, number, number, unknown[] | null, number, number];

export function encodeGroupRecord(record: GroupRecord): Stored {
  const s = record.snapshot;
  return [
    1,
    record.markerIndex,
    record.markerTerm,
    s ? [s.id, encodeSnapshotMeta(s.meta), s.chunks, s.bytes] : null,
    record.garbageFrom,
    record.garbageTo,
  ];
}

function uint(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new Error('not a uint');
  return value;
}

function decodePointer(value: unknown): SnapshotPointer | undefined {
  if (value === null) return undefined;
  if (!Array.isArray(value) || !(value[1] instanceof Uint8Array)) throw new Error('bad snapshot pointer');
  return {
    id: uint(value[0]),
    meta: decodeSnapshotMeta(value[1]),
    chunks: uint(value[2]),
    bytes: uint(value[3]),
  };
}

export function decodeGroupRecord(value: unknown, group: GroupId): GroupRecord {
  if (value === undefined) return EMPTY_GROUP_RECORD;
  try {
    if (!Array.isArray(value) || value[0] !== 1) throw new Error('unknown record layout');
    return {
      markerIndex: uint(value[1]),
      markerTerm: uint(value[2]),
      snapshot: decodePointer(value[3]),
      garbageFrom: uint(value[4]),
      garbageTo: uint(value[5]),
    };
  } catch (error) {
    throw new CorruptValueError('group', group, undefined, (error as Error).message);
  }
}

/** Decodes a stored log entry and checks it is the one its key names. */
export function decodeStoredEntry(bytes: Uint8Array, group: GroupId, index: number): Entry {
  let entry: Entry;
  try {
    entry = decodeEntry(bytes);
  } catch (error) {
    throw new CorruptValueError('log', group, index, (error as Error).message);
  }
  if (entry.index !== index) {
    throw new CorruptValueError('log', group, index, `entry says index ${entry.index}`);
  }
  return entry;
}

export function decodeStoredHardState(bytes: Uint8Array, group: GroupId): HardState {
  try {
    return decodeHardState(bytes);
  } catch (error) {
    throw new CorruptValueError('hard', group, undefined, (error as Error).message);
  }
}
