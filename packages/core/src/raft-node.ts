/**
 * `RaftNode`: the public face of one replica, in the style of etcd's RawNode. Inputs are method calls
 * (`tick`, `step`, `propose`, …); the output is a `Ready` (see ready.ts for the persistence contract).
 * It does no I/O and reads no clock, so a whole cluster can be driven from a seed.
 */
import { assert } from './assert.ts';
import { encodeConfChange } from './codec.ts';
import { type RaftConfig, resolveConfig } from './config.ts';
import { startElection } from './election.ts';
import { NotLeaderError, ProposalDroppedError } from './errors.ts';
import {
  commitAndRelease,
  flushReadHeartbeats,
  leaderPropose,
  leaderReadIndex,
  leaderTransfer,
  tickLeader,
} from './leader.ts';
import type { Message } from './messages.ts';
import type { ProgressState } from './progress.ts';
import { Raft } from './raft.ts';
import { mustWaitForPersist, type Ready } from './ready.ts';
import { bcastAppend } from './replication.ts';
import { step } from './step.ts';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryKind,
  type GroupId,
  type HardState,
  NONE,
  type NodeId,
  type Role,
  type SoftState,
} from './types.ts';

/** Where a proposal went: appended here (leader) with its log position, or forwarded to the leader. */
export type ProposeResult =
  | {
      readonly forwarded: false;
      readonly term: number;
      readonly firstIndex: number;
      readonly lastIndex: number;
    }
  | { readonly forwarded: true; readonly leaderId: NodeId };

export interface FollowerStatus {
  readonly id: NodeId;
  readonly matchIndex: number;
  readonly nextIndex: number;
  readonly state: ProgressState;
  readonly recentActive: boolean;
  readonly inflightMessages: number;
  readonly isLearner: boolean;
}

export interface Status {
  readonly id: NodeId;
  readonly group: GroupId;
  readonly term: number;
  readonly vote: NodeId;
  readonly leaderId: NodeId;
  readonly role: Role;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly confState: ConfState;
  readonly leadTransferee: NodeId;
  readonly uncommittedBytes: number;
  readonly electionsStarted: number;
  readonly leaderChanges: number;
  /** The group is idle and not ticking (see quiescence.ts). */
  readonly quiesced: boolean;
  /** Leader only: one entry per member (replication lag = lastIndex − matchIndex). */
  readonly progress: readonly FollowerStatus[];
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export class RaftNode {
  private readonly r: Raft;
  /** Soft and hard state as of the last Ready handed out (what the next Ready reports changes against). */
  private prevSoft: SoftState;
  private prevHard: HardState;
  /** Readies handed out and not yet advanced, oldest first (see `readiesInFlightMax`). */
  private readonly outstanding: Ready[] = [];

  constructor(config: RaftConfig) {
    this.r = new Raft(resolveConfig(config));
    this.prevSoft = this.r.softState();
    this.prevHard = this.r.hardState();
  }

  get id(): NodeId {
    return this.r.id;
  }

  get group(): GroupId {
    return this.r.group;
  }

  get role(): Role {
    return this.r.role;
  }

  get leaderId(): NodeId {
    return this.r.lead;
  }

  get term(): number {
    return this.r.term;
  }

  get commitIndex(): number {
    return this.r.log.committed;
  }

  get appliedIndex(): number {
    return this.r.log.applied;
  }

  // ---------------------------------------------------------------------------------------------- inputs

  /** Advances logical time by one tick (elections, heartbeats, check-quorum, transfer timeout). */
  tick(): void {
    const r = this.r;
    if (r.quiesced) return; // an idle group costs nothing until something wakes it
    if (r.role === 'leader') {
      tickLeader(r);
      return;
    }
    r.electionElapsed++;
    if (r.promotable() && r.pastElectionTimeout()) {
      r.electionElapsed = 0;
      startElection(r, false);
    }
  }

  /** Feeds a message from another node. Messages not addressed to us, or from non-members' responses, are ignored. */
  step(m: Message): void {
    if (m.to !== this.r.id) return;
    if (m.from === this.r.id) return;
    step(this.r, m);
  }

  /** Proposes one command. See `proposeBatch`. */
  propose(data: Uint8Array): ProposeResult {
    return this.proposeEntries([{ kind: EntryKind.Normal, data }]);
  }

  /**
   * Proposes commands as consecutive entries. On the leader they are appended (and the result tells their
   * indexes); on a follower they are forwarded to the leader unless forwarding is disabled.
   * Throws `NotLeaderError` (no leader known, or forwarding disabled), `ProposalDroppedError`
   * (transfer in progress) or `TooManyUncommittedError`.
   */
  proposeBatch(data: readonly Uint8Array[]): ProposeResult {
    return this.proposeEntries(data.map((d) => ({ kind: EntryKind.Normal, data: d })));
  }

  /** Proposes a membership change (see `ConfChange`). Only one may be pending at a time. */
  proposeConfChange(change: ConfChange): ProposeResult {
    return this.proposeEntries([{ kind: EntryKind.ConfChange, data: encodeConfChange(change) }]);
  }

  private proposeEntries(entries: { kind: EntryKind; data: Uint8Array }[]): ProposeResult {
    const r = this.r;
    r.unquiesce();
    if (entries.length === 0 || entries.length > r.cfg.proposalEntriesMax) {
      throw new ProposalDroppedError(
        r.group,
        `a batch holds 1..${r.cfg.proposalEntriesMax} entries, got ${entries.length}`,
      );
    }
    if (r.role === 'leader') {
      const { firstIndex, lastIndex } = leaderPropose(r, entries);
      return { forwarded: false, term: r.term, firstIndex, lastIndex };
    }
    if (r.role !== 'follower' || r.lead === NONE || r.cfg.disableProposalForwarding) {
      throw new NotLeaderError(r.group, r.lead);
    }
    const forwarded = entries.map((e) => ({ term: 0, index: 0, kind: e.kind, data: e.data }));
    r.send({ type: 'propose', from: r.id, to: r.lead, term: 0, entries: forwarded });
    return { forwarded: true, leaderId: r.lead };
  }

  /**
   * Requests a linearizable read point (thesis §6.4). The answer comes as a `ReadState` with the same
   * `context` in a later Ready (or in `failedReads`). Throws `NotLeaderError` when no leader is known.
   * `lease` (default: the configured `readOnly`) answers from the leader's lease when it holds (requires
   * `checkQuorum`; see `RaftConfig.readOnly` for the clock assumption); a follower's read always confirms.
   */
  readIndex(context: Uint8Array, options: { readonly lease?: boolean } = {}): void {
    const r = this.r;
    r.unquiesce();
    if (r.role === 'leader') {
      leaderReadIndex(r, r.id, context, options.lease ?? r.cfg.readOnly === 'lease');
      return;
    }
    if (r.role !== 'follower' || r.lead === NONE) throw new NotLeaderError(r.group, r.lead);
    r.send({ type: 'readIndex', from: r.id, to: r.lead, term: 0, context });
  }

  /** Asks the leader to hand leadership to `target` (a voter); forwarded when we are a follower. */
  transferLeadership(target: NodeId): void {
    const r = this.r;
    r.unquiesce();
    if (r.role === 'leader') {
      leaderTransfer(r, target);
      return;
    }
    if (r.lead === NONE) throw new NotLeaderError(r.group, NONE);
    r.send({ type: 'transferLeader', from: r.id, to: r.lead, term: 0, target });
  }

  /** Starts an election now (pre-vote first when enabled). */
  campaign(): void {
    this.r.unquiesce();
    startElection(this.r, false);
  }

  /** The link to `id` broke: stop pipelining to it and probe again (anything in flight may be lost). */
  reportUnreachable(id: NodeId): void {
    // A quiesced group wakes when its leader (or, for the leader, a member) may be gone: elections and
    // check-quorum need their timers again.
    if (this.r.quiesced && (id === this.r.lead || this.r.tracker.get(id))) this.r.unquiesce();
    const pr = this.r.role === 'leader' ? this.r.tracker.get(id) : undefined;
    if (pr && pr.state === 'replicate') pr.becomeProbe();
  }

  /**
   * The snapshot sent to `id` was delivered (`ok`) or its transfer failed. The application must report
   * every `snapshot` message's outcome: until it does, the leader sends nothing else to that follower.
   */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.r.unquiesce();
    const pr = this.r.role === 'leader' ? this.r.tracker.get(id) : undefined;
    if (pr?.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshotIndex = 0;
    pr.becomeProbe();
    // Wait for the follower's answer (or the next heartbeat) before probing again.
    pr.appendFlowPaused = true;
  }

  // ---------------------------------------------------------------------------------------------- output

  hasReady(): boolean {
    const r = this.r;
    if (!this.mayHandOut()) return false;
    if (r.msgs.length > 0 || r.readStates.length > 0 || r.failedReads.length > 0) return true;
    if (r.broadcastPending || r.heartbeatForReadsPending) return true;
    if (!sameSoftState(r.softState(), this.prevSoft) || !sameHardState(r.hardState(), this.prevHard))
      return true;
    const u = r.log.unstable;
    return u.nextSnapshot() !== undefined || u.nextEntries().length > 0 || r.log.hasNextCommittedEntries();
  }

  /**
   * Whether another Ready may be handed out now: fewer than `readiesInFlightMax` outstanding, and none when a
   * snapshot is involved (a snapshot Ready is persisted and advanced alone).
   */
  private mayHandOut(): boolean {
    const n = this.outstanding.length;
    if (n === 0) return true;
    if (n >= this.r.cfg.readiesInFlightMax) return false;
    return this.r.log.unstable.nextSnapshot() === undefined && !this.outstanding.some((rd) => rd.snapshot);
  }

  /** Collects what the application must persist, send and apply. See ready.ts for the contract. */
  ready(): Ready {
    assert(this.mayHandOut(), 'ready() called with the most Readies outstanding; advance() first');
    const r = this.r;
    if (r.role === 'leader' && r.broadcastPending) {
      r.broadcastPending = false;
      bcastAppend(r);
    }
    if (r.role === 'leader') flushReadHeartbeats(r);
    const u = r.log.unstable;
    const snapshot = u.nextSnapshot();
    const entries = u.nextEntries();
    u.acceptInProgress();
    const committedEntries = r.log.nextCommittedEntries();
    if (committedEntries.length > 0) r.log.applying = committedEntries[committedEntries.length - 1]!.index;
    const soft = r.softState();
    const hard = r.hardState();
    const messages: Message[] = [];
    const messagesAfterPersist: Message[] = [];
    for (const m of r.msgs) (mustWaitForPersist(m) ? messagesAfterPersist : messages).push(m);
    const hardChanged = !sameHardState(hard, this.prevHard);
    const rd: Ready = {
      ...(sameSoftState(soft, this.prevSoft) ? {} : { softState: soft }),
      ...(hardChanged ? { hardState: hard } : {}),
      ...(snapshot ? { snapshot } : {}),
      entries,
      committedEntries,
      messages,
      messagesAfterPersist,
      readStates: r.readStates,
      failedReads: r.failedReads,
      mustSync:
        entries.length > 0 ||
        snapshot !== undefined ||
        (hardChanged && (hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote)),
    };
    r.msgs = [];
    r.readStates = [];
    r.failedReads = [];
    if (rd.softState) this.prevSoft = rd.softState;
    if (rd.hardState) this.prevHard = rd.hardState;
    this.outstanding.push(rd);
    return rd;
  }

  /** Reports that `rd` was persisted (its messages sent) and its committed entries applied. */
  advance(rd: Ready): void {
    assert(this.outstanding[0] === rd, 'advance() of a Ready that is not the oldest outstanding one');
    this.outstanding.shift();
    const r = this.r;
    if (rd.snapshot) {
      r.log.unstable.stableSnapTo(rd.snapshot.meta.index);
      r.log.applied = Math.max(r.log.applied, rd.snapshot.meta.index);
      r.log.applying = r.log.applied;
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last) r.log.unstable.stableTo(last.index, last.term);
    for (const e of rd.committedEntries) {
      if (e.kind === EntryKind.ConfChange) r.applyConfChangeEntry(e);
      r.log.applied = e.index;
    }
    r.log.applying = Math.max(r.log.applying, r.log.applied);
    r.maybeAutoLeave();
    if (r.role === 'leader') this.leaderOwnWriteDurable();
  }

  /** The leader's own log counts toward commit only once durable (thesis §10.2.1). */
  private leaderOwnWriteDurable(): void {
    const r = this.r;
    const self = r.tracker.get(r.id);
    if (!self) return;
    if (self.maybeUpdate(r.log.stableLastIndex()) && commitAndRelease(r)) r.broadcastPending = true;
  }

  /** Term of the entry at `index` in this replica's log (durable or not), undefined when compacted or absent. */
  logTerm(index: number): number | undefined {
    return this.r.log.term(index);
  }

  /** Entries `[lo, hi)` of this replica's log, for inspection (tools, checkers). `lo` must not be compacted. */
  logEntries(lo: number, hi: number): readonly Entry[] {
    const last = this.r.log.lastIndex();
    return this.r.log.slice(
      Math.max(lo, this.r.log.firstIndex()),
      Math.min(hi, last + 1),
      Number.MAX_SAFE_INTEGER,
    );
  }

  /**
   * The membership to record in a snapshot taken at `appliedIndex`, or undefined when the configuration in
   * force already includes changes past that index (after a restart replay): snapshot again later.
   */
  confStateForSnapshot(appliedIndex: number): ConfState | undefined {
    if (appliedIndex < this.r.confIndex || appliedIndex > this.r.log.applied) return undefined;
    return this.r.confState();
  }

  status(): Status {
    const r = this.r;
    const progress: FollowerStatus[] = [];
    if (r.role === 'leader') {
      for (const id of r.tracker.members()) {
        const pr = r.tracker.get(id)!;
        progress.push({
          id,
          matchIndex: pr.matchIndex,
          nextIndex: pr.nextIndex,
          state: pr.state,
          recentActive: pr.recentActive,
          inflightMessages: pr.inflights.size,
          isLearner: pr.isLearner,
        });
      }
    }
    return {
      id: r.id,
      group: r.group,
      term: r.term,
      vote: r.vote,
      leaderId: r.lead,
      role: r.role,
      commitIndex: r.log.committed,
      appliedIndex: r.log.applied,
      firstIndex: r.log.firstIndex(),
      lastIndex: r.log.lastIndex(),
      confState: r.confState(),
      leadTransferee: r.leadTransferee,
      uncommittedBytes: r.uncommittedBytes,
      electionsStarted: r.electionsStarted,
      leaderChanges: r.leaderChanges,
      quiesced: r.quiesced,
      progress,
    };
  }
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leaderId === b.leaderId && a.role === b.role;
}
