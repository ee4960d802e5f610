/**
 * One simulated replica: a RaftNode over in-memory storage, a KV state machine, and a disk whose writes
 * become durable only when the simulator says so (a crash loses the write in flight, or a prefix of it).
 */
import {
  type Entry,
  EntryKind,
  MemoryLogStorage,
  MemoryStableStorage,
  type Message,
  type NodeId,
  type RaftConfig,
  RaftNode,
  type ReadState,
  type Ready,
} from '@flotilla/core';
import { type KvResult, MemoryKvStateMachine } from './kv-machine.ts';

export interface AppliedEntry {
  readonly node: NodeId;
  readonly entry: Entry;
  readonly result: KvResult | undefined;
}

export interface SimNodeHooks {
  /** Messages leaving this node (immediately, or after the write they depend on is durable). */
  send(messages: readonly Message[]): void;
  applied(applied: AppliedEntry): void;
  readReady(node: NodeId, read: ReadState): void;
  readFailed(node: NodeId, context: Uint8Array): void;
  snapshotInstalled(node: NodeId, index: number): void;
}

export type RaftOptions = Omit<
  RaftConfig,
  'id' | 'group' | 'logStorage' | 'stableStorage' | 'applied' | 'random'
>;

export class SimNode {
  log = new MemoryLogStorage();
  readonly stable = new MemoryStableStorage();
  sm = new MemoryKvStateMachine();
  raft: RaftNode | undefined;
  /** Readies whose writes are in flight (not yet durable), oldest first; they become durable in order. */
  pending: Ready[] = [];
  /** Ticks per simulated tick: 1 normally; 0 while paused. */
  tickRate = 1;
  restarts = 0;
  /**
   * A disk that lies about fsync (test of the checker itself): a crash loses writes it had acknowledged.
   * Recent durable states are kept so the crash can roll back to one of them.
   */
  lyingDisk = false;
  private readonly durableHistory: {
    lastIndex: number;
    hardState: ReturnType<MemoryStableStorage['hardState']>;
  }[] = [];

  constructor(
    readonly id: NodeId,
    private readonly options: RaftOptions,
    private readonly seed: number,
    private readonly hooks: SimNodeHooks,
  ) {}

  get up(): boolean {
    return this.raft !== undefined;
  }

  /** Starts (or restarts) the replica from what its disk holds; the state machine restarts from the snapshot. */
  start(): void {
    this.sm = new MemoryKvStateMachine();
    const snap = this.log.snapshot();
    if (snap.meta.index > 0) this.sm.restore(snap.data, snap.meta);
    this.raft = new RaftNode({
      ...this.options,
      id: this.id,
      group: 'sim',
      logStorage: this.log,
      stableStorage: this.stable,
      applied: snap.meta.index,
      // Distinct per node and per restart: equal seeds would time out together forever (split votes).
      random: (this.seed * 7919 + this.id * 104_729 + this.restarts * 31) >>> 0,
    });
  }

  /** Takes the next Ready if no write is in flight: sends what may leave now, starts the write. */
  collect(): boolean {
    const raft = this.raft;
    if (!raft?.hasReady()) return false;
    const rd = raft.ready();
    this.hooks.send(rd.messages);
    this.pending.push(rd);
    return true;
  }

  /**
   * Makes the write in flight durable, sends what waited for it, applies committed entries and advances.
   */
  flush(): boolean {
    const raft = this.raft;
    const rd = this.pending[0];
    if (!raft || !rd) return false;
    this.persist(rd, 3);
    this.hooks.send(rd.messagesAfterPersist);
    if (rd.snapshot) {
      this.sm.restore(rd.snapshot.data, rd.snapshot.meta);
      this.hooks.snapshotInstalled(this.id, rd.snapshot.meta.index);
    }
    this.apply(rd.committedEntries);
    for (const read of rd.readStates) this.hooks.readReady(this.id, read);
    for (const context of rd.failedReads) this.hooks.readFailed(this.id, context);
    this.pending.shift();
    raft.advance(rd);
    return true;
  }

  /** Writes the first `parts` of [snapshot, entries, hard state] (3 = all): a crash may cut the sequence. */
  private persist(rd: Ready, parts: number): void {
    if (parts >= 1 && rd.snapshot) void this.log.installSnapshot(rd.snapshot);
    if (parts >= 2 && rd.entries.length > 0) void this.log.append(rd.entries);
    if (parts >= 3 && rd.hardState) void this.stable.setHardState(rd.hardState);
    if (this.lyingDisk) {
      this.durableHistory.push({ lastIndex: this.log.lastIndex(), hardState: this.stable.hardState() });
      if (this.durableHistory.length > 8) this.durableHistory.shift();
    }
  }

  /** The lying disk loses recently acknowledged writes: log suffix and hard state roll back. */
  private rollBack(): void {
    const back = this.durableHistory[0];
    if (!back) return;
    const old = this.log;
    const keepTo = Math.min(Math.max(back.lastIndex, old.snapshot().meta.index), old.lastIndex());
    const log = new MemoryLogStorage();
    if (old.snapshot().meta.index > 0) void log.installSnapshot(old.snapshot());
    if (keepTo >= old.firstIndex())
      void log.append(old.entries(old.firstIndex(), keepTo + 1, Number.MAX_SAFE_INTEGER));
    this.log = log;
    void this.stable.setHardState({ ...back.hardState, commit: Math.min(back.hardState.commit, keepTo) });
    this.durableHistory.length = 0;
  }

  private apply(entries: readonly Entry[]): void {
    for (const e of entries) {
      let result: KvResult | undefined;
      if (e.kind === EntryKind.Normal && e.data.length > 0) {
        result = this.sm.apply([{ index: e.index, term: e.term, data: e.data }])[0];
      } else {
        this.sm.advanceAppliedIndex(e.index);
      }
      this.hooks.applied({ node: this.id, entry: e, result });
    }
  }

  /**
   * Crashes the process. Writes complete in order: all but the newest write in flight survive, and the newest
   * only up to `persistedParts` of its 3 parts.
   */
  crash(persistedParts: number): void {
    const last = this.pending.length - 1;
    for (let i = 0; i <= last; i++) this.persist(this.pending[i]!, i === last ? persistedParts : 3);
    if (this.lyingDisk) this.rollBack();
    this.pending = [];
    this.raft = undefined;
    this.restarts++;
  }

  tick(): void {
    for (let i = 0; i < this.tickRate; i++) this.raft?.tick();
  }

  /** Takes a snapshot of the state machine at its applied index and compacts the log behind it. */
  snapshotAndCompact(keepEntries: number): boolean {
    const raft = this.raft;
    if (!raft || this.pending.length > 0) return false;
    const applied = this.sm.appliedIndex;
    if (applied <= this.log.snapshot().meta.index) return false;
    const confState = raft.confStateForSnapshot(applied);
    if (!confState) return false;
    void this.log.saveSnapshot(
      { index: applied, term: this.log.term(applied), confState },
      this.sm.snapshot(),
    );
    const compactTo = applied - keepEntries;
    if (compactTo >= this.log.firstIndex()) void this.log.compact(compactTo);
    return true;
  }
}
