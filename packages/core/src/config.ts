/**
 * Configuration of one Raft node (one replica of one group), with defaults and validation.
 * Every bound the core enforces is named here, units last (CONVENTIONS.md rule 4).
 */
import { InvalidConfigError } from './errors.ts';
import { type Random, Xoshiro128 } from './prng.ts';
import type { LogStorage, StableStorage } from './storage.ts';
import type { GroupId, NodeId } from './types.ts';

export interface RaftConfig {
  /** This node's id (> 0). */
  readonly id: NodeId;
  /** The group this replica belongs to; carried in errors. */
  readonly group: GroupId;
  readonly logStorage: LogStorage;
  readonly stableStorage: StableStorage;
  /** Highest index the state machine has durably applied (restart resumes after it). Default: 0. */
  readonly applied?: number;
  /** A follower campaigns after a random timeout in [electionTicks, 2 * electionTicks). Default 10. */
  readonly electionTicks?: number;
  /** Leader heartbeat interval in ticks; must be < electionTicks. Default 1. */
  readonly heartbeatTicks?: number;
  /** Seed or generator for the randomized election timeout. Default: seeded from `id`. */
  readonly random?: Random | number;
  /** Thesis §9.6: a pre-election round so a partitioned node cannot disrupt the cluster. Default true. */
  readonly preVote?: boolean;
  /** Thesis §6.2: a leader steps down without recent contact with a quorum. Default true. */
  readonly checkQuorum?: boolean;
  /**
   * `safe`: ReadIndex confirms leadership with a heartbeat round (thesis §6.4).
   * `lease`: the leader answers from its lease without a round (thesis §6.4.1). Requires `checkQuorum` and
   * assumes clocks that advance at the same rate within a bound smaller than the election timeout: a
   * partitioned leader may otherwise serve a stale read while a new leader already committed.
   */
  readonly readOnly?: 'safe' | 'lease';
  /** Bytes of entry data per append message (at least one entry is always sent). Default 1 MiB. */
  readonly appendBytesMax?: number;
  /** Appends in flight per follower in replicate state. Default 256. */
  readonly inflightMessagesMax?: number;
  /** Bytes of entry data in flight per follower (0 = only the count limits). Default 32 MiB. */
  readonly inflightBytesMax?: number;
  /** Bytes of uncommitted entry data the leader accepts before `TooManyUncommittedError`. Default 64 MiB. */
  readonly uncommittedBytesMax?: number;
  /** Bytes of committed entries handed out per Ready. Default 16 MiB. */
  readonly committedBytesPerReadyMax?: number;
  /** Followers refuse proposals instead of forwarding them to the leader. Default false. */
  readonly disableProposalForwarding?: boolean;
  /** ReadIndex requests waiting on the leader (and forwarded reads buffered before its first commit). Default 4096. */
  readonly pendingReadsMax?: number;
  /** Entries a single `propose` batch may carry. Default 4096. */
  readonly proposalEntriesMax?: number;
  /** Idle groups stop heartbeating and ticking (see quiescence.ts). Default true. */
  readonly quiesce?: boolean;
  /**
   * Readies that may be outstanding (handed out, not yet advanced) at once; see ready.ts. 1 (the default)
   * is the classic contract. More lets a leader send new entries while its previous writes are in flight
   * (etcd's asynchronous storage writes): storage must then complete writes in the order they were issued.
   */
  readonly readiesInFlightMax?: number;
}

export type ResolvedRaftConfig = Required<Omit<RaftConfig, 'random'>> & { readonly random: Random };

function positiveInt(key: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new InvalidConfigError(key, `must be a positive integer, got ${value}`);
  return value;
}

function nonNegativeInt(key: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new InvalidConfigError(key, `must be a non-negative integer, got ${value}`);
  return value;
}

export function resolveConfig(config: RaftConfig): ResolvedRaftConfig {
  const id = positiveInt('id', config.id);
  if (typeof config.group !== 'string' || config.group.length === 0) {
    throw new InvalidConfigError('group', 'must be a non-empty string');
  }
  const electionTicks = positiveInt('electionTicks', config.electionTicks ?? 10);
  const heartbeatTicks = positiveInt('heartbeatTicks', config.heartbeatTicks ?? 1);
  if (heartbeatTicks >= electionTicks) {
    throw new InvalidConfigError('heartbeatTicks', `must be less than electionTicks (${electionTicks})`);
  }
  const checkQuorum = config.checkQuorum ?? true;
  const readOnly = config.readOnly ?? 'safe';
  if (readOnly !== 'safe' && readOnly !== 'lease')
    throw new InvalidConfigError('readOnly', "must be 'safe' or 'lease'");
  if (readOnly === 'lease' && !checkQuorum) {
    throw new InvalidConfigError(
      'readOnly',
      'lease reads require checkQuorum (the lease is the check-quorum interval)',
    );
  }
  const random = config.random;
  return {
    id,
    group: config.group,
    logStorage: config.logStorage,
    stableStorage: config.stableStorage,
    applied: nonNegativeInt('applied', config.applied ?? 0),
    electionTicks,
    heartbeatTicks,
    random: typeof random === 'object' ? random : new Xoshiro128(random ?? id),
    readiesInFlightMax: positiveInt('readiesInFlightMax', config.readiesInFlightMax ?? 1),
    preVote: config.preVote ?? true,
    checkQuorum,
    readOnly,
    appendBytesMax: positiveInt('appendBytesMax', config.appendBytesMax ?? 1 << 20),
    inflightMessagesMax: positiveInt('inflightMessagesMax', config.inflightMessagesMax ?? 256),
    inflightBytesMax: nonNegativeInt('inflightBytesMax', config.inflightBytesMax ?? 32 << 20),
    uncommittedBytesMax: positiveInt('uncommittedBytesMax', config.uncommittedBytesMax ?? 64 << 20),
    committedBytesPerReadyMax: positiveInt(
      'committedBytesPerReadyMax',
      config.committedBytesPerReadyMax ?? 16 << 20,
    ),
    disableProposalForwarding: config.disableProposalForwarding ?? false,
    pendingReadsMax: positiveInt('pendingReadsMax', config.pendingReadsMax ?? 4096),
    proposalEntriesMax: positiveInt('proposalEntriesMax', config.proposalEntriesMax ?? 4096),
    quiesce: config.quiesce ?? true,
  };
}
