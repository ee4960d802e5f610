/**
 * One replica of one Raft group, driven for real: it feeds its `RaftNode`, persists each `Ready` through the
 * group's storage (the host batches every group's writes of a turn into one transaction), sends messages,
 * applies committed entries to the group's machine instance and resolves the proposals and reads that wait
 * on them. The leader wraps each command in the framework envelope (session, timestamp, fence).
 */

import { type Fence, type ReadConsistency, RequestTimeoutError, type Session } from '@flotilla/app';
import {
  type ConfChange,
  decodeMessage,
  type Entry,
  EntryKind,
  type GroupId,
  type HardState,
  type LogStorage,
  type Message,
  type NodeId,
  NotLeaderError,
  ProposalDroppedError,
  type ProposeResult,
  type RaftConfig,
  RaftNode,
  type Ready,
  type SnapshotMeta,
  type StableStorage,
  type Status,
} from '@flotilla/core';
import { encodeCheckpointCall, encodeEnvelope } from '../machines/envelope.ts';
import type { DivergenceReport, MachineInstance } from '../machines/machine-instance.ts';
import { ProposalWaiters } from './proposal-waiters.ts';
import { RaftClock } from './raft-clock.ts';

export interface GroupLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A command for the leader to propose: the validated call and the framework fields of its envelope. */
export interface ProposeRequest {
  /** The encoded `[name, input]`. */
  readonly call: Uint8Array;
  readonly session?: Session;
  readonly fence?: Fence;
}

export interface ReplicaIo {
  /** Queues an encoded message for a peer (the host batches them per turn). */
  send(to: NodeId, message: Message): void;
  /** Streams a snapshot to a peer; resolves when the peer stored it. */
  sendSnapshot(to: NodeId, meta: SnapshotMeta, data: Uint8Array): Promise<void>;
  /** Asks the host to process this group's Ready in the current turn's batch. */
  schedule(replica: Replica): void;
  /** Role or leader changed. */
  leaderChanged?(replica: Replica, leaderId: NodeId, term: number): void;
  /** Committed conf changes were applied (membership may have changed). */
  membershipChanged?(replica: Replica): void;
  /** A checkpoint from the leader disagreed with this replica's outcome hash. */
  diverged?(replica: Replica, report: DivergenceReport): void;
  /** A durable write failed: the replica stopped and must be rebuilt from disk (its actor fails, and restarts). */
  storageFailed?(replica: Replica, error: Error): void;
}

export interface ReplicaOptions {
  readonly nodeId: NodeId;
  readonly group: GroupId;
  readonly storage: LogStorage & StableStorage;
  readonly machine: MachineInstance;
  readonly raft: Omit<RaftConfig, 'id' | 'group' | 'logStorage' | 'stableStorage' | 'applied'>;
  /** A snapshot is taken about every this many applied entries (see `snapshotGap`). */
  readonly snapshotEntries: number;
  /** Uniform in [0, 1): the jitter of the snapshot gaps (default `Math.random`). */
  readonly random?: () => number;
  readonly compactionMarginEntries: number;
  readonly io: ReplicaIo;
  /** Reads still unanswered after this long fail with `RequestTimeoutError`. */
  readonly requestTimeoutMs: number;
  readonly logger: GroupLogger;
  /** Proposals waiting for commit per group; past it `propose` fails fast (backpressure). */
  readonly pendingProposalsMax?: number;
  /** Real time of one Raft tick (the host's ticker period). */
  readonly tickMs: number;
  /** Monotonic clock in ms (default `performance.now`); the group's ticks follow it, see `RaftClock`. */
  readonly now?: () => number;
  /** Wall clock in ms since the epoch (default `Date.now`): the timestamp the leader stamps on commands. */
  readonly wallClock?: () => number;
}

/** Proposals waiting for commit per replica, by default; past it `propose` fails fast (backpressure). */
export const PENDING_PROPOSALS_MAX = 65_536;

interface ReadWaiter {
  index: number | undefined;
  readonly startedMs: number;
  resolve(appliedIndex: number): void;
  reject(error: Error): void;
}

/**
 * Entries between two snapshots: `entries` ± 25%, drawn afresh each time. Groups under the same load reach
 * a fixed threshold together, and their snapshots (each packs the whole state machine on this thread) then
 * stall the node all at once. Measured at 256 in flight: throughput dips every ≈13 s, more often with
 * `snapshot_entries = 2000`; jitter spreads the snapshots (dips from other causes, GC among them, remain).
 */
export function snapshotGap(entries: number, random: () => number): number {
  return Math.max(1, Math.round(entries * (0.75 + 0.5 * random())));
}

export class Replica {
  readonly id: GroupId;
  readonly raft: RaftNode;
  readonly machine: MachineInstance;
  private readonly options: ReplicaOptions;
  private readonly proposals: ProposalWaiters;
  private readonly reads = new Map<number, ReadWaiter>();
  private nextReadId = 1;
  /** The latest hard state whose only change (commit) has not been written yet; see `processReady`. */
  private unwrittenHardState: HardState | undefined;
  /**
   * Completion of the newest Ready still being persisted, if any. Readies complete in the order they were
   * taken (several may be in flight with `readiesInFlightMax` > 1, see core's ready.ts), so each waits for
   * the one before it as well as for its own writes.
   */
  private lastCompletion: Promise<void> | undefined;
  private snapshotting = false;
  private lastSnapshotIndex: number;
  /** Applied entries after `lastSnapshotIndex` that trigger the next snapshot (jittered, see `snapshotGap`). */
  private nextSnapshotGap: number;
  private stopped = false;
  /** Test-only: fail the next write (`failNextWrite`). */
  private injectedWriteFailure = false;
  private lastLeader = 0;
  /** Snapshot data streamed in by the transport, waiting for the leader's snapshot message. */
  private stagedSnapshot: { meta: SnapshotMeta; data: Uint8Array } | undefined;
  readonly counters = { proposals: 0, applied: 0, decodeErrors: 0, snapshotsSent: 0, snapshotsInstalled: 0 };
  private readonly clock: RaftClock;

  constructor(options: ReplicaOptions) {
    this.options = options;
    this.id = options.group;
    this.machine = options.machine;
    this.proposals = new ProposalWaiters(options.group, options.requestTimeoutMs);
    const snap = options.storage.snapshot();
    // A store machine's state is durable up to its own applied index; memory ones start from the snapshot.
    if (snap.meta.index > options.machine.appliedIndex) options.machine.restore(snap.data, snap.meta);
    this.lastSnapshotIndex = snap.meta.index;
    this.nextSnapshotGap = snapshotGap(options.snapshotEntries, options.random ?? Math.random);
    this.raft = new RaftNode({
      ...options.raft,
      id: options.nodeId,
      group: options.group,
      logStorage: options.storage,
      stableStorage: options.storage,
      applied: options.machine.appliedIndex,
    });
    // Two of the longest election timeouts: past that every timer has fired, more ticks change nothing.
    const burstMax = 4 * (options.raft.electionTicks ?? 10);
    this.clock = new RaftClock(options.tickMs, options.now ?? (() => performance.now()), burstMax);
  }

  get isLeader(): boolean {
    return this.raft.role === 'leader';
  }

  get leaderId(): NodeId {
    return this.raft.leaderId;
  }

  status(): Status {
    return this.raft.status();
  }

  /** The host's ticker fired: delivers the ticks real time says are due (see `RaftClock`). */
  tick(): void {
    if (this.stopped) return;
    this.catchUpClock();
    this.expireReads();
    this.proposals.expire();
    this.kick();
  }

  /** Brings the core's tick count up to real time; called before anything that depends on it (leases). */
  private catchUpClock(): void {
    for (let n = this.clock.due(); n > 0; n--) this.raft.tick();
  }

  /** Reads whose answer never came (a forwarded read lost with its leader) fail after the request timeout. */
  private expireReads(): void {
    if (this.reads.size === 0) return;
    const now = performance.now();
    const timeoutMs = this.options.requestTimeoutMs;
    for (const [id, read] of this.reads) {
      if (now - read.startedMs <= timeoutMs) continue;
      this.reads.delete(id);
      read.reject(new RequestTimeoutError(this.id, timeoutMs, 'no read index from the leader'));
    }
  }

  /** An encoded message from a peer. Malformed bytes are counted and dropped. */
  deliver(payload: Uint8Array): void {
    if (this.stopped) return;
    let message: Message;
    try {
      message = decodeMessage(payload);
    } catch {
      this.counters.decodeErrors++;
      return;
    }
    if (
      message.type === 'snapshot' &&
      message.snapshot.data.length === 0 &&
      message.snapshot.meta.index > 0
    ) {
      // The data came ahead through the transport's snapshot stream; attach it.
      const staged = this.stagedSnapshot;
      if (!staged || staged.meta.index !== message.snapshot.meta.index) return;
      this.stagedSnapshot = undefined;
      message = { ...message, snapshot: { meta: message.snapshot.meta, data: staged.data } };
    }
    // A message may be judged on the clock (a follower's forwarded lease read, a vote during a lease).
    this.catchUpClock();
    this.raft.step(message);
    this.kick();
  }

  /** A snapshot streamed from the leader; it is installed when the leader's snapshot message follows. */
  stageSnapshot(meta: SnapshotMeta, data: Uint8Array): void {
    if (!this.stagedSnapshot || this.stagedSnapshot.meta.index <= meta.index)
      this.stagedSnapshot = { meta, data };
  }

  /**
   * Proposes a command on the leader, stamped with this leader's wall clock; resolves with its outcome once
   * applied here (or `undefined` for a framework entry).
   */
  propose(request: ProposeRequest): Promise<unknown> {
    const max = this.options.pendingProposalsMax ?? PENDING_PROPOSALS_MAX;
    if (this.proposals.size >= max) {
      return Promise.reject(new ProposalDroppedError(this.id, `${max} proposals already pending`));
    }
    const data = encodeEnvelope({
      session: request.session,
      fence: request.fence,
      timestampMs: (this.options.wallClock ?? Date.now)(),
      call: request.call,
    });
    return this.track(() => this.raft.propose(data));
  }

  /** The leader proposes a checkpoint of its outcome hash; followers compare theirs (no one waits on it). */
  proposeCheckpoint(index: number, hash: string): void {
    if (!this.isLeader || this.stopped) return;
    this.propose({ call: encodeCheckpointCall(index, hash) }).catch(() => {});
  }

  proposeConfChange(change: ConfChange): Promise<unknown> {
    return this.track(() => this.raft.proposeConfChange(change));
  }

  /**
   * Proposes on the leader and waits for the entry to apply here. Every refusal of the core (a transfer in
   * progress, too many uncommitted bytes, an invalid conf change) becomes a rejected promise: it must never
   * escape as a throw, which would fail the replica's actor.
   */
  private track(propose: () => ProposeResult): Promise<unknown> {
    if (this.stopped) return Promise.reject(new ProposalDroppedError(this.id, 'the group is stopping'));
    if (!this.isLeader) return Promise.reject(new NotLeaderError(this.id, this.raft.leaderId));
    let result: ProposeResult;
    try {
      result = propose();
    } catch (error) {
      return Promise.reject(error);
    }
    if (result.forwarded) return Promise.reject(new NotLeaderError(this.id, result.leaderId));
    this.counters.proposals++;
    const promise = this.proposals.wait(result.lastIndex, result.term);
    this.kick();
    return promise;
  }

  /**
   * Waits until a read at this moment is linearizable here (ReadIndex, thesis §6.4): resolves with the applied
   * index the read may be served at. `lease` answers from the leader's lease when it holds.
   */
  readBarrier(lease = false): Promise<number> {
    // A follower that knows no leader cannot confirm anything: say so at once (the caller retries), rather
    // than wait out the request timeout for an answer no one will send.
    if (this.raft.role !== 'leader' && this.raft.leaderId === 0)
      return Promise.reject(new NotLeaderError(this.id, 0));
    const id = this.nextReadId++;
    const context = new Uint8Array(8);
    new DataView(context.buffer).setFloat64(0, id);
    const promise = new Promise<number>((resolve, reject) =>
      this.reads.set(id, { index: undefined, startedMs: performance.now(), resolve, reject }),
    );
    try {
      if (lease) this.catchUpClock(); // a process resumed from a pause must not trust its old lease
      this.raft.readIndex(context, { lease });
    } catch (error) {
      this.reads.delete(id);
      return Promise.reject(error);
    }
    this.kick();
    return promise;
  }

  /** Answers a query (validated by the caller) at the asked consistency: ReadIndex, lease, or as it is. */
  async query(name: string, input: unknown, consistency: ReadConsistency): Promise<unknown> {
    if (consistency !== 'stale') await this.readBarrier(consistency === 'lease');
    return this.machine.query(name, input);
  }

  transferLeadership(to: NodeId): void {
    this.raft.transferLeadership(to);
    this.kick();
  }

  campaign(): void {
    this.raft.campaign();
    this.kick();
  }

  reportUnreachable(peer: NodeId): void {
    this.raft.reportUnreachable(peer);
  }

  private kick(): void {
    if (!this.stopped && this.raft.hasReady()) this.options.io.schedule(this);
  }

  /** Called by the host once per turn for each scheduled group: takes a Ready and starts its writes. */
  processReady(): void {
    if (this.stopped || !this.raft.hasReady()) return;
    const rd = this.raft.ready();
    for (const m of rd.messages) this.sendMessage(m);
    const writes: Promise<void>[] = [];
    const storage = this.options.storage;
    if (rd.snapshot) writes.push(storage.installSnapshot(rd.snapshot));
    if (rd.entries.length > 0) writes.push(storage.append(rd.entries));
    if (this.injectedWriteFailure && writes.length > 0) {
      this.injectedWriteFailure = false;
      writes.push(Promise.reject(new Error(`injected storage failure of ${this.id}`)));
    }
    const hardState = rd.hardState ?? this.unwrittenHardState;
    if (hardState && (rd.mustSync || writes.length > 0)) {
      writes.push(storage.setHardState(hardState));
      this.unwrittenHardState = undefined;
    } else if (hardState) {
      // Only commit moved. Raft needs no durable commit index (it is learned again from the leader), so it
      // rides along with the next write that must be synced instead of costing an fsync of its own (etcd
      // writes it without syncing, to the same effect).
      this.unwrittenHardState = hardState;
    }
    // Committed entries are already durable here (core hands out only those), so they are applied while
    // this Ready's own writes are in flight: a commit costs no extra fsync on the way to the caller.
    this.applyReady(rd);
    const durable = writes.length === 0 ? undefined : Promise.all(writes);
    durable?.catch((error: unknown) => this.failStorage(error));
    // Nothing the after-persist messages promise changed (only commit did): no need to wait for the write.
    const own = durable && rd.mustSync ? durable : undefined;
    const before = this.lastCompletion;
    if (!own && !before) {
      this.completeReady(rd);
      return;
    }
    const done = Promise.all([before, own]).then(
      () => this.completeReady(rd),
      () => {},
    );
    this.lastCompletion = done;
    void done.then(() => {
      if (this.lastCompletion === done) this.lastCompletion = undefined;
    });
  }

  private applyReady(rd: Ready): void {
    if (rd.softState && rd.softState.role !== 'leader') this.proposals.orphan();
    if (rd.softState && rd.softState.leaderId !== this.lastLeader) {
      this.lastLeader = rd.softState.leaderId;
      this.failUnconfirmedReads();
      this.options.io.leaderChanged?.(this, rd.softState.leaderId, this.raft.term);
    }
    if (rd.snapshot) {
      this.machine.restore(rd.snapshot.data, rd.snapshot.meta);
      this.lastSnapshotIndex = rd.snapshot.meta.index;
      this.counters.snapshotsInstalled++;
    }
    this.apply(rd.committedEntries);
    for (const read of rd.readStates) this.readReady(read.context, read.index);
    for (const context of rd.failedReads) this.readFailed(context);
    this.serveReads();
  }

  private completeReady(rd: Ready): void {
    if (this.stopped) return;
    for (const m of rd.messagesAfterPersist) this.sendMessage(m);
    this.raft.advance(rd);
    this.maybeSnapshot();
    this.kick();
  }

  private failStorage(error: unknown): void {
    // A failed durable write leaves this replica unable to promise anything: stop it, say so, and have its actor
    // fail so that the supervisor rebuilds the group from disk, exactly as after a crash.
    if (this.stopped) return;
    const failure = error instanceof Error ? error : new Error(String(error));
    this.options.logger.error(
      { err: failure.message, group: this.id },
      'storage write failed; the replica stops and restarts from disk',
    );
    // What was waiting may still commit through the other replicas: its outcome is unknown (a caller with a
    // session retries it safely), not a failure of the command.
    this.stop(
      new RequestTimeoutError(this.id, 0, `storage write failed (${failure.message}); outcome unknown`),
    );
    this.options.io.storageFailed?.(this, failure);
  }

  /** Test-only: the next durable write of this replica fails (as a disk error would). */
  failNextWrite(): void {
    this.injectedWriteFailure = true;
  }

  private sendMessage(m: Message): void {
    if (m.type === 'snapshot') {
      this.sendSnapshot(m);
      return;
    }
    this.options.io.send(m.to, m);
  }

  /** Streams the snapshot data, then sends the snapshot message without data (see `deliver`). */
  private sendSnapshot(m: Extract<Message, { type: 'snapshot' }>): void {
    this.counters.snapshotsSent++;
    const { meta, data } = m.snapshot;
    this.options.io.sendSnapshot(m.to, meta, data).then(
      () => {
        if (this.stopped) return;
        this.options.io.send(m.to, { ...m, snapshot: { meta, data: new Uint8Array(0) } });
        this.raft.reportSnapshot(m.to, true);
        this.kick();
      },
      (error: unknown) => {
        if (this.stopped) return;
        this.options.logger.warn({ err: error, group: this.id, to: m.to }, 'snapshot transfer failed');
        this.raft.reportSnapshot(m.to, false);
        this.kick();
      },
    );
  }

  private apply(entries: readonly Entry[]): void {
    let membership = false;
    // Consecutive commands go to the state machine as one batch; no-ops and conf changes only move its index.
    const results = new Map<number, unknown>();
    let batch: Entry[] = [];
    const flush = () => {
      if (batch.length === 0) return;
      const out = this.machine.apply(batch);
      for (let i = 0; i < batch.length; i++) results.set(batch[i]!.index, out[i]);
      batch = [];
    };
    for (const e of entries) {
      if (e.kind === EntryKind.Normal && e.data.length > 0) {
        batch.push(e);
        continue;
      }
      flush();
      this.machine.advanceAppliedIndex(e.index);
      if (e.kind === EntryKind.ConfChange) membership = true;
    }
    flush();
    for (const e of entries) {
      const result = results.get(e.index);
      this.counters.applied++;
      this.proposals.applied(e.index, e.term, result);
    }
    if (membership) this.options.io.membershipChanged?.(this);
  }

  /**
   * The leader changed: reads still waiting for a read index from the old one will never get it (it is gone
   * or deposed); fail them now so that their callers retry with the new leader instead of timing out. Reads
   * that already have their index stay: a leader confirmed them.
   */
  private failUnconfirmedReads(): void {
    for (const [id, read] of this.reads) {
      if (read.index !== undefined) continue;
      this.reads.delete(id);
      read.reject(new NotLeaderError(this.id, this.raft.leaderId));
    }
  }

  private readId(context: Uint8Array): number {
    return new DataView(context.buffer, context.byteOffset, context.byteLength).getFloat64(0);
  }

  private readReady(context: Uint8Array, index: number): void {
    const read = this.reads.get(this.readId(context));
    if (read) read.index = index;
  }

  private readFailed(context: Uint8Array): void {
    const id = this.readId(context);
    const read = this.reads.get(id);
    if (!read) return;
    this.reads.delete(id);
    read.reject(new NotLeaderError(this.id, this.raft.leaderId));
  }

  private serveReads(): void {
    const applied = this.machine.appliedIndex;
    for (const [id, read] of this.reads) {
      if (read.index !== undefined && read.index <= applied) {
        this.reads.delete(id);
        read.resolve(applied);
      }
    }
  }

  /**
   * Snapshots the machine about every `snapshotEntries` applied entries and compacts the log behind it —
   * never above what the machine has made durable (a store machine commits its state on its own).
   */
  private maybeSnapshot(): void {
    const applied = this.machine.appliedIndex;
    if (this.snapshotting || applied - this.lastSnapshotIndex < this.nextSnapshotGap) return;
    this.nextSnapshotGap = snapshotGap(this.options.snapshotEntries, this.options.random ?? Math.random);
    const confState = this.raft.confStateForSnapshot(applied);
    const term = this.raft.logTerm(applied);
    if (!confState || term === undefined) return;
    this.snapshotting = true;
    const storage = this.options.storage;
    const data = this.machine.snapshot();
    storage
      .saveSnapshot({ index: applied, term, confState }, data)
      .then(() => {
        this.lastSnapshotIndex = applied;
        const durable = Math.min(applied, this.machine.durableAppliedIndex);
        const compactTo = durable - this.options.compactionMarginEntries;
        return compactTo >= storage.firstIndex() ? storage.compact(compactTo) : undefined;
      })
      .catch((error: unknown) => this.options.logger.warn({ err: error, group: this.id }, 'snapshot failed'))
      .finally(() => {
        this.snapshotting = false;
      });
  }

  /**
   * Stops the replica: every waiting proposal and read fails with `error` — by default an unknown outcome
   * (an appended entry may still commit elsewhere; only a command with a session may be retried).
   */
  stop(error: Error = new RequestTimeoutError(this.id, 0, 'the replica stopped; outcome unknown')): void {
    if (this.stopped) return;
    this.stopped = true;
    this.proposals.rejectAll(error);
    for (const r of this.reads.values()) r.reject(error);
    this.reads.clear();
  }

  get isStopped(): boolean {
    return this.stopped;
  }
}
