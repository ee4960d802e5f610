/**
 * The messages Raft nodes exchange: a discriminated union on `type`, one payload per variant.
 * Names follow the Raft paper (term, logTerm = prevLogTerm, index = prevLogIndex, commit = leaderCommit).
 */
import type { Entry, NodeId, Snapshot } from './types.ts';

interface Base {
  readonly from: NodeId;
  readonly to: NodeId;
  /** Sender's term; 0 for messages that carry no term (forwarded proposals and reads). */
  readonly term: number;
}

/** AppendEntries (§5.3): entries after (index, logTerm); commit is the leader's commit index. */
export interface AppendMessage extends Base {
  readonly type: 'append';
  readonly index: number;
  readonly logTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * AppendEntries reply. On success `index` is the last index now matching the leader.
 * On rejection `index` is the rejected prevLogIndex and (`hintIndex`, `hintTerm`) let the leader skip a
 * whole conflicting term at once (fast backtracking, thesis §5.3 / etcd's findConflictByTerm).
 */
export interface AppendResponseMessage extends Base {
  readonly type: 'appendResponse';
  readonly index: number;
  readonly reject: boolean;
  readonly hintIndex: number;
  readonly hintTerm: number;
}

/** RequestVote (§5.2) and PreVote (thesis §9.6). `index`/`logTerm` describe the candidate's last entry. */
export interface VoteMessage extends Base {
  readonly type: 'vote' | 'preVote';
  readonly index: number;
  readonly logTerm: number;
  /** Set by a leadership transfer: voters ignore their leader lease (thesis §6.4.1 / §3.10). */
  readonly transfer: boolean;
}

export interface VoteResponseMessage extends Base {
  readonly type: 'voteResponse' | 'preVoteResponse';
  readonly reject: boolean;
}

/** Leader heartbeat: keeps followers from campaigning and carries commit (capped at the follower's match). */
export interface HeartbeatMessage extends Base {
  readonly type: 'heartbeat';
  readonly commit: number;
  /** ReadIndex round this heartbeat belongs to (0 = none). */
  readonly readRound: number;
  /**
   * The group is idle and every member has everything: stop ticking until something happens (see
   * `Raft.quiesced`). Idle groups then cost no heartbeats and no timer work.
   */
  readonly quiesce: boolean;
}

export interface HeartbeatResponseMessage extends Base {
  readonly type: 'heartbeatResponse';
  readonly readRound: number;
}

/** InstallSnapshot (§7): the follower replaces its log by the snapshot. */
export interface SnapshotMessage extends Base {
  readonly type: 'snapshot';
  readonly snapshot: Snapshot;
}

/** Leadership transfer: the target starts an election at once, bypassing its timeout (thesis §3.10). */
export interface TimeoutNowMessage extends Base {
  readonly type: 'timeoutNow';
}

/** A proposal forwarded by a follower to its leader. */
export interface ProposeMessage extends Base {
  readonly type: 'propose';
  readonly entries: readonly Entry[];
}

/** A ReadIndex request forwarded by a follower to its leader (thesis §6.4). */
export interface ReadIndexMessage extends Base {
  readonly type: 'readIndex';
  readonly context: Uint8Array;
}

/** The leader's answer to a forwarded ReadIndex: the commit index the read must wait for. */
export interface ReadIndexResponseMessage extends Base {
  readonly type: 'readIndexResponse';
  readonly index: number;
  readonly context: Uint8Array;
  /** True when the leader could not serve the read (it lost leadership or has not committed in its term). */
  readonly reject: boolean;
}

/** A transfer request forwarded by a follower to its leader. */
export interface TransferLeaderMessage extends Base {
  readonly type: 'transferLeader';
  readonly target: NodeId;
}

export type Message =
  | AppendMessage
  | AppendResponseMessage
  | VoteMessage
  | VoteResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | SnapshotMessage
  | TimeoutNowMessage
  | ProposeMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage
  | TransferLeaderMessage;

export type MessageType = Message['type'];

/** Messages that do not take part in the term rules (they may travel with term 0). */
export function isLocalTermless(type: MessageType): boolean {
  return type === 'propose' || type === 'readIndex' || type === 'transferLeader';
}

/** Compile-time exhaustiveness for `switch` over unions. */
export function assertNever(value: never): never {
  throw new Error(`unexpected variant: ${JSON.stringify(value)}`);
}
