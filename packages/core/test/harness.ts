/**
 * A deterministic test cluster for scenario tests: N `RaftNode`s over in-memory storage, a message queue the
 * test delivers explicitly, and per-node control over when a Ready is persisted (instantly, or held).
 */
import {
  bootstrapStorage,
  type Entry,
  EntryKind,
  MemoryLogStorage,
  MemoryStableStorage,
  type Message,
  type NodeId,
  type ProposeResult,
  type RaftConfig,
  RaftNode,
  type ReadState,
  type Ready,
} from '@flotilla/core';
import { encodeKvCommand, type KvResult, MemoryKvStateMachine } from '../sim/kv-machine.ts';

export type NodeOptions = Omit<RaftConfig, 'id' | 'group' | 'logStorage' | 'stableStorage' | 'applied'>;

export const GROUP = 'test-group';

/** One replica: its storage, state machine, and what it handed to the application so far. */
export class TestNode {
  readonly log = new MemoryLogStorage();
  readonly stable = new MemoryStableStorage();
  sm = new MemoryKvStateMachine();
  raft!: RaftNode;
  /** When true, Readys are taken but not persisted: the test inspects `held` and calls `Cluster.flush`. */
  hold = false;
  /** Readys taken while `hold` was set, oldest first (at most one: RaftNode allows one outstanding). */
  held: Ready | undefined;
  /** Every Ready this node produced, in order. */
  readonly readys: Ready[] = [];
  readonly applied: Entry[] = [];
  readonly results = new Map<number, KvResult>();
  readonly readStates: ReadState[] = [];
  readonly failedReads: Uint8Array[] = [];
  readonly snapshotsInstalled: number[] = [];

  constructor(
    readonly id: NodeId,
    private readonly options: NodeOptions,
  ) {}

  /** (Re)starts the replica from its storage; the state machine restarts from the stored snapshot. */
  start(): void {
    this.sm = new MemoryKvStateMachine();
    const snap = this.log.snapshot();
    if (snap.meta.index > 0) this.sm.restore(snap.data, snap.meta);
    this.held = undefined;
    this.raft = new RaftNode({
      ...this.options,
      id: this.id,
      group: GROUP,
      logStorage: this.log,
      stableStorage: this.stable,
      applied: snap.meta.index,
    });
  }

  /** Entries of the local log (durable or not) from `lo` to the end. */
  entries(lo = 1): readonly Entry[] {
    return this.raft.logEntries(lo, Number.MAX_SAFE_INTEGER);
  }
}

export interface ClusterOptions {
  /** Founding voters (bootstrapped with `bootstrapStorage`). */
  readonly voters: readonly NodeId[];
  /** Options for every node (merged under `perNode`). */
  readonly options?: NodeOptions;
  readonly perNode?: Readonly<Record<number, NodeOptions>>;
  /** Seeds every node's election timer (each node gets its own stream). Default 0. */
  readonly seed?: number;
}

/** Bound on delivery rounds in `stabilize`: a scenario that does not settle is a failure, not a hang. */
const STABILIZE_ROUNDS_MAX = 10_000;

export class Cluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages in flight, in send order. */
  queue: Message[] = [];
  /** Every message handed to the network (dropped or not), in send order. */
  readonly sent: Message[] = [];
  /** Nodes that neither send nor receive. */
  readonly isolated = new Set<NodeId>();
  /** Nodes that are stopped: not ticked, not stepped, no Ready taken. */
  readonly stopped = new Set<NodeId>();
  /** Messages for which this returns true are dropped when sent. */
  drop: (m: Message) => boolean = () => false;

  constructor(private readonly opts: ClusterOptions) {
    for (const id of opts.voters) {
      const node = this.createNode(id);
      void bootstrapStorage(node.log, node.stable, opts.voters);
      node.start();
    }
  }

  private createNode(id: NodeId): TestNode {
    const random = (this.opts.seed ?? 0) * 104_729 + id * 7919;
    const node = new TestNode(id, { random, ...this.opts.options, ...this.opts.perNode?.[id] });
    this.nodes.set(id, node);
    return node;
  }

  /** Adds a node with empty storage (to be added to the group by a conf change). */
  addEmptyNode(id: NodeId): TestNode {
    const node = this.createNode(id);
    node.start();
    return node;
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: NodeId): RaftNode {
    return this.node(id).raft;
  }

  ids(): NodeId[] {
    return [...this.nodes.keys()];
  }

  leaders(): NodeId[] {
    return this.ids().filter((id) => !this.stopped.has(id) && this.raft(id).role === 'leader');
  }

  /** The single leader among running nodes; throws when there is none or several. */
  leader(): NodeId {
    const ls = this.leaders();
    if (ls.length !== 1) throw new Error(`expected one leader, found [${ls.join(', ')}]`);
    return ls[0]!;
  }

  isolate(...ids: NodeId[]): void {
    for (const id of ids) this.isolated.add(id);
  }

  heal(): void {
    this.isolated.clear();
    this.drop = () => false;
  }

  /** Hands messages to the network, recording them; isolated endpoints and `drop` lose them. */
  send(messages: readonly Message[]): void {
    for (const m of messages) {
      this.sent.push(m);
      const lost = this.isolated.has(m.from) || this.isolated.has(m.to) || this.drop(m);
      if (lost) {
        if (m.type === 'snapshot') this.nodes.get(m.from)?.raft.reportSnapshot(m.to, false);
        continue;
      }
      this.queue.push(m);
    }
  }

  /** Takes a node's next Ready if any: sends `messages`, then persists it unless the node holds. */
  process(id: NodeId): boolean {
    const node = this.node(id);
    if (this.stopped.has(id) || node.held || !node.raft.hasReady()) return false;
    const rd = node.raft.ready();
    node.readys.push(rd);
    this.send(rd.messages);
    if (node.hold) node.held = rd;
    else this.persistAndAdvance(node, rd);
    return true;
  }

  /** Persists a held Ready: storage writes, then messages that waited for them, apply, advance. */
  flush(id: NodeId): void {
    const node = this.node(id);
    const rd = node.held;
    if (!rd) throw new Error(`node ${id} holds no Ready`);
    node.held = undefined;
    this.persistAndAdvance(node, rd);
  }

  private persistAndAdvance(node: TestNode, rd: Ready): void {
    if (rd.snapshot) void node.log.installSnapshot(rd.snapshot);
    if (rd.entries.length > 0) void node.log.append(rd.entries);
    if (rd.hardState) void node.stable.setHardState(rd.hardState);
    this.send(rd.messagesAfterPersist);
    if (rd.snapshot) {
      node.sm.restore(rd.snapshot.data, rd.snapshot.meta);
      node.snapshotsInstalled.push(rd.snapshot.meta.index);
    }
    for (const e of rd.committedEntries) {
      node.applied.push(e);
      if (e.kind === EntryKind.Normal && e.data.length > 0) {
        const [result] = node.sm.apply([{ index: e.index, term: e.term, data: e.data }]);
        node.results.set(e.index, result!);
      } else {
        node.sm.advanceAppliedIndex(e.index);
      }
    }
    node.readStates.push(...rd.readStates);
    node.failedReads.push(...rd.failedReads);
    node.raft.advance(rd);
  }

  /** Delivers the messages in flight (those matching `which`), in order. Returns how many. */
  deliver(which: (m: Message) => boolean = () => true): number {
    const now = this.queue.filter(which);
    this.queue = this.queue.filter((m) => !which(m));
    for (const m of now) {
      if (this.stopped.has(m.to) || this.isolated.has(m.to)) continue;
      const target = this.nodes.get(m.to);
      if (!target) continue;
      target.raft.step(m);
      if (m.type === 'snapshot') this.nodes.get(m.from)?.raft.reportSnapshot(m.to, true);
    }
    return now.length;
  }

  /**
   * Takes every Ready and delivers every message (matching `which`) until nothing moves. Held nodes stay
   * held; messages not matching `which` stay queued (delayed, not lost).
   */
  stabilize(which: (m: Message) => boolean = () => true): void {
    for (let round = 0; round < STABILIZE_ROUNDS_MAX; round++) {
      let moved = false;
      for (const id of this.ids()) while (this.process(id)) moved = true;
      if (this.deliver(which) > 0) moved = true;
      if (!moved) return;
    }
    throw new Error('cluster did not stabilize');
  }

  /** Like `stabilize`, but stops (returning true) as soon as `done` holds after a step. */
  stabilizeUntil(done: () => boolean): boolean {
    for (let round = 0; round < STABILIZE_ROUNDS_MAX; round++) {
      if (done()) return true;
      let moved = false;
      for (const id of this.ids()) while (this.process(id)) moved = true;
      if (done()) return true;
      const next = this.queue[0];
      if (next) {
        this.deliver((m) => m === next);
        moved = true;
      }
      if (!moved) return done();
    }
    throw new Error('cluster did not stabilize');
  }

  /** Ticks every running node once (or the given ones). */
  tick(ids: readonly NodeId[] = this.ids()): void {
    for (const id of ids) if (!this.stopped.has(id)) this.raft(id).tick();
  }

  /** Ticks and stabilizes, up to `ticksMax` times, until `done` holds. Returns the ticks it took. */
  tickUntil(done: () => boolean, ticksMax = 200, ids?: readonly NodeId[]): number {
    for (let t = 0; t < ticksMax; t++) {
      if (done()) return t;
      this.tick(ids);
      this.stabilize();
    }
    if (done()) return ticksMax;
    throw new Error(`condition not reached within ${ticksMax} ticks`);
  }

  /** Ticks and stabilizes `n` times. */
  run(n: number, ids?: readonly NodeId[]): void {
    for (let t = 0; t < n; t++) {
      this.tick(ids);
      this.stabilize();
    }
  }

  /** Makes `id` campaign and settles; it must win (its peers must be able to vote for it). */
  elect(id: NodeId): void {
    this.raft(id).campaign();
    this.stabilize();
    if (this.raft(id).role !== 'leader') throw new Error(`node ${id} did not win (${this.raft(id).role})`);
  }

  /** Ticks until exactly one running node leads, and returns it. */
  waitForLeader(ticksMax = 200): NodeId {
    this.tickUntil(() => this.leaders().length === 1, ticksMax);
    return this.leader();
  }

  /** Proposes a KV put (`key` = `value`) at `id` and returns where it went. */
  put(
    id: NodeId,
    key: string,
    value: string,
    session?: { clientId: string; sequence: number },
  ): ProposeResult {
    return this.raft(id).propose(encodeKvCommand({ op: 'put', key, value }, session));
  }

  /** Stops a node (as a crash: in-memory state is lost; storage keeps what was persisted). */
  stop(id: NodeId): void {
    this.stopped.add(id);
    this.queue = this.queue.filter((m) => m.to !== id);
  }

  /** Restarts a stopped (or running) node from its storage. */
  restart(id: NodeId): void {
    this.stopped.delete(id);
    this.node(id).start();
  }

  /** Snapshots the node's state machine at its applied index and compacts the log up to it. */
  compact(id: NodeId): number {
    const node = this.node(id);
    const applied = node.sm.appliedIndex;
    const confState = node.raft.confStateForSnapshot(applied);
    if (!confState) throw new Error(`node ${id} cannot snapshot at ${applied}`);
    void node.log.saveSnapshot(
      { index: applied, term: node.log.term(applied), confState },
      node.sm.snapshot(),
    );
    void node.log.compact(applied);
    return applied;
  }

  /** Messages sent so far that match `which`. */
  sentWhere(which: (m: Message) => boolean): Message[] {
    return this.sent.filter(which);
  }
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}
