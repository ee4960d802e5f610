/**
 * Rebuilds one group's state from disk with a handful of bounded key lookups (never a scan of the log):
 * metadata record, hard state, last log key, leftover garbage and the highest snapshot id in use.
 */
import { EMPTY_HARD_STATE, type GroupId, type HardState } from '@flotilla/core';
import type { Env } from './env.ts';
import { decodeGroupRecord, decodeStoredEntry, decodeStoredHardState, type GroupRecord } from './records.ts';

/** Larger than any index or id we store; keys sort numerically within a group. */
export const MAX_KEY_NUMBER = Number.MAX_SAFE_INTEGER;

export interface RecoveredGroup {
  readonly record: GroupRecord;
  readonly hard: HardState;
  readonly lastIndex: number;
  /** Entries at or below the marker are still on disk (an interrupted compaction). */
  readonly garbageBelowMarker: boolean;
  /** Highest snapshot id with chunks on disk (0 when none); new snapshots take higher ids. */
  readonly maxSnapshotId: number;
}

/** Index of the last log key of `group` above `markerIndex`, or `markerIndex` when there is none. */
function lastLogIndex(env: Env, group: GroupId, markerIndex: number): number {
  for (const key of env.log.getKeys({
    start: [group, MAX_KEY_NUMBER],
    end: [group, markerIndex],
    reverse: true,
    limit: 1,
  })) {
    return key[1];
  }
  return markerIndex;
}

function hasKeyAtOrBelow(env: Env, group: GroupId, markerIndex: number): boolean {
  for (const _key of env.log.getKeys({
    start: [group, 0],
    end: [group, markerIndex],
    inclusiveEnd: true,
    limit: 1,
  })) {
    return true;
  }
  return false;
}

function maxSnapshotId(env: Env, group: GroupId): number {
  for (const key of env.snap.getKeys({
    start: [group, MAX_KEY_NUMBER, MAX_KEY_NUMBER],
    end: [group, 0, 0],
    inclusiveEnd: true,
    reverse: true,
    limit: 1,
  })) {
    return key[1];
  }
  return 0;
}

/** Throws `CorruptValueError` when the group's metadata, hard state or last entry cannot be decoded. */
export function recoverGroup(env: Env, group: GroupId): RecoveredGroup {
  const record = decodeGroupRecord(env.group.get(group), group);
  const hardBytes = env.hard.getBinary(group);
  const hard = hardBytes === undefined ? EMPTY_HARD_STATE : decodeStoredHardState(hardBytes, group);
  const lastIndex =
    record.garbageFrom > 0
      ? Math.max(record.markerIndex, record.garbageFrom - 1)
      : lastLogIndex(env, group, record.markerIndex);
  if (lastIndex > record.markerIndex) {
    // The last entry is the one a restarted node reads first (its term); check it now, not mid-election.
    decodeStoredEntry(env.log.getBinary([group, lastIndex]) as Uint8Array, group, lastIndex);
  }
  return {
    record,
    hard,
    lastIndex,
    garbageBelowMarker: hasKeyAtOrBelow(env, group, record.markerIndex),
    maxSnapshotId: Math.max(maxSnapshotId(env, group), record.snapshot?.id ?? 0),
  };
}
