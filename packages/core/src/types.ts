/**
 * Plain data of the Raft log: entries, hard state, membership (ConfState) and snapshots.
 * Everything here is serializable and immutable by convention; the codec encodes exactly these shapes.
 */

/** A node's id in the cluster. Always > 0; 0 means "none" (no vote, no leader). */
export type NodeId = number;

/** Id of a Raft group, for example `meta:system`, `jobs` or `user:7`. */
export type GroupId = string;

/** `0` stands for "no node": no vote cast, no leader known. */
export const NONE: NodeId = 0;

/** What an entry carries. `Normal` is application data (empty data = leader's no-op). */
export enum EntryKind {
  Normal = 0,
  ConfChange = 1,
}

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** The state a node must persist before it answers anyone (Raft §5.1 Figure 2: currentTerm, votedFor) plus commit. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: NONE, commit: 0 });

/**
 * Membership of a group. `voters` is the incoming (or only) configuration; during joint consensus
 * `votersOutgoing` is non-empty (thesis §4.3). `learnersNext` are voters of the outgoing config that become
 * learners when the joint config is left. `autoLeave` asks the leader to leave the joint config by itself.
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly votersOutgoing: readonly NodeId[];
  readonly learnersNext: readonly NodeId[];
  readonly autoLeave: boolean;
}

export const EMPTY_CONF_STATE: ConfState = Object.freeze({
  voters: [],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
});

export interface SnapshotMeta {
  /** Last log index the snapshot covers. */
  readonly index: number;
  /** Term of the entry at `index`. */
  readonly term: number;
  /** Membership as of `index`. */
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's image at `meta.index`, as produced by `StateMachine.snapshot()`. */
  readonly data: Uint8Array;
}

export const EMPTY_SNAPSHOT: Snapshot = Object.freeze({
  meta: Object.freeze({ index: 0, term: 0, confState: EMPTY_CONF_STATE }),
  data: new Uint8Array(0),
});

/** One change of membership. A ConfChange entry carries a list of them (joint consensus when > 1 voter moves). */
export type ConfChangeOp = 'addVoter' | 'addLearner' | 'removeNode';

export interface ConfChangeItem {
  readonly op: ConfChangeOp;
  readonly nodeId: NodeId;
}

/**
 * A membership change proposal.
 * - `transition: 'auto'` (default): a single voter change is applied directly (thesis §4.1); anything else
 *   goes through a joint configuration that the leader leaves by itself (thesis §4.3).
 * - `'joint-explicit'`: enter joint consensus and stay until an empty change (`changes: []`) leaves it.
 * - `changes: []` leaves a joint configuration.
 */
export interface ConfChange {
  readonly changes: readonly ConfChangeItem[];
  readonly transition?: 'auto' | 'joint-implicit' | 'joint-explicit';
  /** Opaque application context (for example the new node's addresses). */
  readonly context?: Uint8Array;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state the application may want to observe (who leads, in what role we are). */
export interface SoftState {
  readonly leaderId: NodeId;
  readonly role: Role;
}

/** A ReadIndex answer: once `appliedIndex >= index`, a read tagged with `context` is linearizable. */
export interface ReadState {
  readonly index: number;
  readonly context: Uint8Array;
}
