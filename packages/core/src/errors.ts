/**
 * Expected failures of the consensus core, each a class with a stable `code` and the context a caller needs
 * (group id, leader hint). Programmer errors are `AssertionError`s from `assert.ts`, not these.
 */
import type { GroupId, NodeId } from './types.ts';

export type FlotillaErrorCode =
  | 'FLOTILLA_NOT_LEADER'
  | 'FLOTILLA_PROPOSAL_DROPPED'
  | 'FLOTILLA_TOO_MANY_UNCOMMITTED'
  | 'FLOTILLA_COMPACTED'
  | 'FLOTILLA_UNAVAILABLE'
  | 'FLOTILLA_INVALID_CONFIG'
  | 'FLOTILLA_INVALID_CONF_CHANGE'
  | 'FLOTILLA_INVALID_MESSAGE'
  | 'FLOTILLA_SNAPSHOT_OUT_OF_DATE'
  | 'FLOTILLA_STORAGE'
  | 'FLOTILLA_PEER_UNREACHABLE';

/** Codes of other packages follow the same `FLOTILLA_` convention, listed in their own errors.ts. */
export type AnyFlotillaErrorCode = FlotillaErrorCode | `FLOTILLA_${string}`;

export class FlotillaError extends Error {
  readonly code: AnyFlotillaErrorCode;
  constructor(code: AnyFlotillaErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The node is not the leader of `group` and could not forward. `leaderHint` is 0 when no leader is known. */
export class NotLeaderError extends FlotillaError {
  readonly group: GroupId;
  readonly leaderHint: NodeId;
  constructor(group: GroupId, leaderHint: NodeId) {
    super(
      'FLOTILLA_NOT_LEADER',
      `not the leader of group ${group}${leaderHint ? `; leader is node ${leaderHint}` : '; no leader known'}`,
    );
    this.group = group;
    this.leaderHint = leaderHint;
  }
}

/** The proposal was not appended (a leadership transfer is in progress, or a conf change is pending). */
export class ProposalDroppedError extends FlotillaError {
  readonly group: GroupId;
  readonly reason: string;
  constructor(group: GroupId, reason: string) {
    super('FLOTILLA_PROPOSAL_DROPPED', `proposal to group ${group} dropped: ${reason}`);
    this.group = group;
    this.reason = reason;
  }
}

/** The leader holds more uncommitted bytes than `maxUncommittedBytes`; retry after commits catch up. */
export class TooManyUncommittedError extends FlotillaError {
  readonly group: GroupId;
  readonly uncommittedBytes: number;
  readonly maxUncommittedBytes: number;
  constructor(group: GroupId, uncommittedBytes: number, maxUncommittedBytes: number) {
    super(
      'FLOTILLA_TOO_MANY_UNCOMMITTED',
      `group ${group} has ${uncommittedBytes} uncommitted bytes (max ${maxUncommittedBytes})`,
    );
    this.group = group;
    this.uncommittedBytes = uncommittedBytes;
    this.maxUncommittedBytes = maxUncommittedBytes;
  }
}

/** The requested index is older than the log's first index: it was compacted into a snapshot. */
export class CompactedError extends FlotillaError {
  readonly index: number;
  constructor(index: number, firstIndex: number) {
    super('FLOTILLA_COMPACTED', `index ${index} is compacted (first index ${firstIndex})`);
    this.index = index;
  }
}

/** The requested index is past the log's last index. */
export class UnavailableError extends FlotillaError {
  readonly index: number;
  constructor(index: number, lastIndex: number) {
    super('FLOTILLA_UNAVAILABLE', `index ${index} is unavailable (last index ${lastIndex})`);
    this.index = index;
  }
}

/** A configuration value is missing or out of range; `key` names it. */
export class InvalidConfigError extends FlotillaError {
  readonly key: string;
  constructor(key: string, problem: string) {
    super('FLOTILLA_INVALID_CONFIG', `invalid config ${key}: ${problem}`);
    this.key = key;
  }
}

/** A membership change that cannot be applied (would remove every voter, demote in one step, …). */
export class InvalidConfChangeError extends FlotillaError {
  constructor(problem: string) {
    super('FLOTILLA_INVALID_CONF_CHANGE', `invalid conf change: ${problem}`);
  }
}

/** Bytes that do not decode to a well-formed message or entry. */
export class InvalidMessageError extends FlotillaError {
  constructor(problem: string) {
    super('FLOTILLA_INVALID_MESSAGE', `invalid message: ${problem}`);
  }
}

/** A snapshot older than what the storage already has. */
export class SnapshotOutOfDateError extends FlotillaError {
  constructor(index: number, current: number) {
    super(
      'FLOTILLA_SNAPSHOT_OUT_OF_DATE',
      `snapshot at ${index} is older than current snapshot at ${current}`,
    );
  }
}

/** A stored value that cannot be read back (corrupt bytes, wrong format); names where it was found. */
export class StorageError extends FlotillaError {
  readonly group: GroupId | undefined;
  readonly index: number | undefined;
  constructor(message: string, where: { group?: GroupId; index?: number } = {}) {
    super('FLOTILLA_STORAGE', message);
    this.group = where.group;
    this.index = where.index;
  }
}

/** No link to the peer right now (it is down, partitioned or not yet connected). */
export class PeerUnreachableError extends FlotillaError {
  readonly peer: NodeId;
  constructor(peer: NodeId, detail = '') {
    super('FLOTILLA_PEER_UNREACHABLE', `node ${peer} is unreachable${detail ? `: ${detail}` : ''}`);
    this.peer = peer;
  }
}
