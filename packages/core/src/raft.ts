/**
 * The Raft state of one replica: term, vote, role, log, membership and progress, with the role transitions
 * (`become*`, the only place a role changes) and the helpers every role uses to send messages.
 * Message handling lives in step.ts (rules shared by all roles) and follower/candidate/leader.ts.
 */
import { assert } from './assert.ts';
import { decodeConfChange, encodeConfChange, entriesDataBytes } from './codec.ts';
import { applyConfChange, configFromConfState } from './confchange.ts';
import type { ResolvedRaftConfig } from './config.ts';
import { commitAndRelease } from './leader.ts';
import type { Message } from './messages.ts';
import { Progress } from './progress.ts';
import { RaftLog } from './raft-log.ts';
import { ReadOnly } from './read-only.ts';
import { bcastAppend } from './replication.ts';
import { isJoint, ProgressTracker, type TrackerConfig, toConfState } from './tracker.ts';
import {
  type ConfState,
  type Entry,
  EntryKind,
  type GroupId,
  type HardState,
  NONE,
  type NodeId,
  type ReadState,
  type Role,
  type SoftState,
} from './types.ts';

const EMPTY = new Uint8Array(0);

/** Messages a role produces in one call, before the Ready splits them. Distributed in `Ready`. */
export type Outbox = Message[];

export class Raft {
  readonly id: NodeId;
  readonly group: GroupId;
  readonly cfg: ResolvedRaftConfig;
  readonly log: RaftLog;
  readonly tracker = new ProgressTracker();
  readonly readOnly: ReadOnly;

  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = 'follower';
  isLearner = false;

  /** Messages waiting to be handed out in the next Ready. */
  msgs: Outbox = [];
  readStates: ReadState[] = [];
  /** Contexts of local reads that can no longer be served (leadership lost). */
  failedReads: Uint8Array[] = [];
  /** Reads that arrived before the leader committed an entry of its term (thesis §6.4 step 1). */
  pendingReadsBeforeCommit: { from: NodeId; context: Uint8Array; lease: boolean }[] = [];

  /** The follower leadership is being transferred to (thesis §3.10), NONE when no transfer runs. */
  leadTransferee: NodeId = NONE;
  /** Index of the last conf change the leader appended; no other is accepted until it is applied. */
  pendingConfIndex = 0;
  /** Bytes of entry data appended in this leader term and not yet committed. */
  uncommittedBytes = 0;
  /** Leader: new entries or commit to broadcast; done once per Ready so proposals batch (RaftNode.ready). */
  broadcastPending = false;
  /** Leader: reads registered since the last heartbeat round; one round per Ready confirms them all. */
  heartbeatForReadsPending = false;

  electionElapsed = 0;
  heartbeatElapsed = 0;
  /** Leader: ticks since it became leader (the clock of heartbeat rounds and the lease). */
  leaderTicks = 0;
  /** Leader: lease reads may be answered while `leaderTicks < leaseUntilTick` (thesis §6.4.1). */
  leaseUntilTick = 0;
  /** Leader: only rounds at or after this one renew the lease (rounds before a TimeoutNow do not). */
  leaseMinRound = 0;
  randomizedElectionTimeout = 0;
  /**
   * An idle group stops ticking: the leader saw every member holding its whole log and told them so with a
   * quiescing heartbeat. Anything that happens (a proposal, a read, a message, an unreachable peer) wakes it.
   */
  quiesced = false;
  /** Index of the last conf change applied to `tracker` (skips re-applying after a restart replay). */
  confIndex = 0;

  // Counters for observability (Status).
  electionsStarted = 0;
  leaderChanges = 0;

  constructor(cfg: ResolvedRaftConfig) {
    this.cfg = cfg;
    this.id = cfg.id;
    this.group = cfg.group;
    this.log = new RaftLog(cfg.logStorage, cfg.committedBytesPerReadyMax);
    this.readOnly = new ReadOnly(cfg.pendingReadsMax);
    const snapshot = cfg.logStorage.snapshot();
    this.installConfig(configFromConfState(snapshot.meta.confState));
    this.confIndex = snapshot.meta.index;
    const hs = cfg.stableStorage.hardState();
    this.loadHardState(hs);
    // A state machine that keeps its applied index durably with its state may be ahead of the commit index
    // of the hard state (a commit-only hard state need not be synced on its own): what it applied was
    // committed, and the log holds it (entries are durable before they are applied).
    if (cfg.applied > this.log.committed) this.log.commitTo(Math.min(cfg.applied, this.log.lastIndex()));
    this.replayConfChanges();
    if (cfg.applied > 0) {
      const applied = Math.min(cfg.applied, this.log.committed);
      assert(applied >= this.log.firstIndex() - 1, () => `applied ${applied} is below the snapshot`);
      this.log.applied = applied;
      this.log.applying = applied;
    }
    this.becomeFollower(this.term, NONE);
  }

  private loadHardState(hs: HardState): void {
    const first = this.log.firstIndex();
    const last = this.log.lastIndex();
    assert(hs.commit <= last, () => `hard state commit ${hs.commit} is past the last index ${last}`);
    this.term = hs.term;
    this.vote = hs.vote;
    this.log.committed = Math.max(hs.commit, first - 1);
  }

  /**
   * Membership changes take effect when applied. On restart the committed conf changes after the snapshot
   * are applied at once, so that the node never campaigns or votes with a stale configuration.
   */
  private replayConfChanges(): void {
    const from = this.log.firstIndex();
    const to = this.log.committed;
    for (let lo = from; lo <= to; ) {
      const batch = this.log.slice(lo, to + 1, 8 << 20);
      for (const e of batch) if (e.kind === EntryKind.ConfChange) this.applyConfChangeEntry(e);
      lo += batch.length;
    }
  }

  // ------------------------------------------------------------------------------------------ state views

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { leaderId: this.lead, role: this.role };
  }

  confState(): ConfState {
    return toConfState(this.tracker.config);
  }

  /** A node may campaign only as a voter of its current configuration. */
  promotable(): boolean {
    return this.tracker.isVoter(this.id) && !this.log.unstable.snapshot;
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  /**
   * True while a leader lease protects against disruptive votes (check-quorum, thesis §6.2 / §4.2.3). A
   * quiesced follower holds no lease: its leader stopped renewing it (and gave its own up when quiescing).
   */
  inLease(): boolean {
    return (
      this.cfg.checkQuorum &&
      this.lead !== NONE &&
      !this.quiesced &&
      this.electionElapsed < this.cfg.electionTicks
    );
  }

  /** Leaves quiescence: ticking (elections, heartbeats, check-quorum) resumes. */
  unquiesce(): void {
    this.quiesced = false;
  }

  // ------------------------------------------------------------------------------------------ transitions

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.quiesced = false;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.leaderTicks = 0;
    this.leaseUntilTick = 0;
    this.leaseMinRound = 0;
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.cfg.random.int(this.cfg.electionTicks);
    this.abortLeaderTransfer();
    this.tracker.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.tracker.progress) {
      pr.matchIndex = 0;
      pr.becomeProbe();
      pr.nextIndex = last + 1;
      pr.recentActive = false;
      if (id === this.id) pr.matchIndex = this.log.stableLastIndex();
    }
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.broadcastPending = false;
    this.heartbeatForReadsPending = false;
    // Reads waiting on a leadership we no longer hold fail; followers' forwarded reads time out there.
    for (const read of [...this.pendingReadsBeforeCommit, ...this.readOnly.clear()]) {
      if (read.from === this.id) this.failedReads.push(read.context);
    }
    this.pendingReadsBeforeCommit = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    const wasLeaderKnown = this.lead;
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
    if (lead !== NONE && lead !== wasLeaderKnown) this.leaderChanges++;
  }

  becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a pre-candidate');
    // Pre-vote changes neither term nor vote: a lost pre-election leaves no trace (thesis §9.6).
    this.tracker.resetVotes();
    this.role = 'preCandidate';
    this.lead = NONE;
  }

  becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.electionsStarted++;
  }

  becomeLeader(): void {
    assert(this.role === 'candidate', () => `only a candidate becomes leader (was ${this.role})`);
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    this.leaderChanges++;
    const self = this.tracker.get(this.id);
    if (self) self.becomeReplicate();
    // Conf changes not yet applied may be in the log: be conservative and wait until all are (etcd).
    this.pendingConfIndex = this.log.lastIndex();
    // Raft §8: a no-op of the new term lets the leader learn what is committed.
    this.appendEntries([{ kind: EntryKind.Normal, data: EMPTY }]);
  }

  // ------------------------------------------------------------------------------------------ sending

  send(m: Message): void {
    this.msgs.push(m);
  }

  /** Leader: assigns term and index to new entries and appends them to its own log. */
  appendEntries(entries: readonly { kind: EntryKind; data: Uint8Array }[]): {
    firstIndex: number;
    lastIndex: number;
  } {
    const last = this.log.lastIndex();
    const stamped: Entry[] = entries.map((e, i) => ({
      term: this.term,
      index: last + 1 + i,
      kind: e.kind,
      data: e.data,
    }));
    this.uncommittedBytes += entriesDataBytes(stamped);
    const newLast = this.log.append(stamped);
    return { firstIndex: last + 1, lastIndex: newLast };
  }

  /** Leader: commits what a quorum has acknowledged, only counting entries of its own term (Raft §5.4.2). */
  maybeCommit(): boolean {
    const index = this.tracker.committedIndex();
    if (index <= this.log.committed) return false;
    if (this.log.term(index) !== this.term) return false;
    const before = this.log.committed;
    this.log.commitTo(index);
    this.reduceUncommitted(before, index);
    return true;
  }

  private reduceUncommitted(from: number, to: number): void {
    if (this.uncommittedBytes === 0) return;
    // Only this term's entries were counted; older ones are in storage and need no reading to subtract.
    const lo = Math.max(from + 1, this.log.firstIndex());
    let freed = 0;
    for (const e of this.log.slice(lo, to + 1, Number.MAX_SAFE_INTEGER))
      if (e.term === this.term) freed += e.data.length;
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - freed);
  }

  /**
   * Thesis §4.3: a leader leaves a joint configuration that asks for it (`autoLeave`) by itself, once every
   * earlier conf change is applied — whoever entered it (a new leader may inherit the joint configuration).
   */
  maybeAutoLeave(): void {
    const config = this.tracker.config;
    if (this.role !== 'leader' || !isJoint(config) || !config.autoLeave) return;
    if (this.pendingConfIndex > this.log.applied) return;
    const { lastIndex } = this.appendEntries([
      { kind: EntryKind.ConfChange, data: encodeConfChange({ changes: [] }) },
    ]);
    this.pendingConfIndex = lastIndex;
    this.broadcastPending = true;
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // ------------------------------------------------------------------------------------------ membership

  private installConfig(config: TrackerConfig): void {
    const last = this.log.lastIndex();
    const members = new Set([
      ...config.voters.incoming,
      ...config.voters.outgoing,
      ...config.learners,
      ...config.learnersNext,
    ]);
    for (const id of [...this.tracker.progress.keys()])
      if (!members.has(id)) this.tracker.progress.delete(id);
    for (const id of members) {
      const existing = this.tracker.progress.get(id);
      const isLearner = config.learners.has(id);
      if (existing) {
        existing.isLearner = isLearner;
        continue;
      }
      const pr = new Progress({
        nextIndex: last + 1,
        inflightMessagesMax: this.cfg.inflightMessagesMax,
        inflightBytesMax: this.cfg.inflightBytesMax,
        isLearner,
      });
      // A new member has not been heard from; counting it as active would hide a lost quorum.
      pr.recentActive = id === this.id;
      if (id === this.id) pr.matchIndex = this.log.stableLastIndex();
      this.tracker.progress.set(id, pr);
    }
    this.tracker.config = config;
    this.tracker.checkInvariants();
    this.isLearner = config.learners.has(this.id);
  }

  /** Applies a committed conf change entry (called in apply order). */
  applyConfChangeEntry(entry: Entry): void {
    if (entry.index <= this.confIndex) return; // already applied during the restart replay
    this.confIndex = entry.index;
    const cc = decodeConfChange(entry.data);
    const next = applyConfChange(this.tracker.config, cc);
    this.installConfig(next);
    this.onConfigChanged();
  }

  /** Applies a configuration carried by a snapshot. */
  restoreConfState(cs: ConfState, index: number): void {
    this.installConfig(configFromConfState(cs));
    this.confIndex = index;
  }

  private onConfigChanged(): void {
    if (this.role !== 'leader') return;
    const self = this.tracker.get(this.id);
    if (!self || this.isLearner) {
      // A removed (or demoted) leader steps down; the remaining voters elect a new one.
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.leadTransferee !== NONE && !this.tracker.isVoter(this.leadTransferee))
      this.abortLeaderTransfer();
    // The quorum changed: something may now be committed; new members need appends either way.
    commitAndRelease(this);
    bcastAppend(this);
  }
}
