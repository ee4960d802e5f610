/**
 * A cluster node: the Raft group replicas of this process, reconciled from the replicated catalog
 * (`meta:system`), the peer links, the executor that forwards to leaders, and membership operations.
 *
 *   transport ─deliver─▶ GroupHost ─▶ RaftGroup(s) ─Ready─▶ LMDB (one txn per turn) ─▶ transport
 *                 └─ RPC ─▶ RaftExecutor.serveForwarded           catalog apply ─▶ reconcile()
 */
import {
  bootstrapStorage,
  type ConfChange,
  type GroupId,
  isStorageEmpty,
  MemoryKvStateMachine,
  type NodeId,
  type SnapshotMeta,
  type StateMachine,
  type Status,
  type Transport,
} from '@flotilla/core';
import type { NodeStorage } from '@flotilla/storage-lmdb';
import { type CatalogNode, CatalogStateMachine, encodeCatalogCommand } from './catalog.ts';
import type { NodeConfig } from './config.ts';
import { ClusterFormationError, NodeStoppedError } from './errors.ts';
import { GroupHost } from './group-host.ts';
import { CATALOG_GROUP, type CatalogGroup, defaultLayout } from './layout.ts';
import type { Logger } from './logger.ts';
import { addNodeToCluster, type MembershipStatus, removeNodeFromCluster } from './membership.ts';
import { RaftExecutor } from './raft-executor.ts';
import type { RaftGroup } from './raft-group.ts';
import { sleep } from './retry.ts';
import { NodeRpc, RPC_GROUP } from './rpc.ts';

export interface PeerDirectory {
  /** The transport learns (or forgets) a peer's address. */
  setPeer(id: NodeId, rpcAddress: string | undefined): void;
}

export interface ClusterNodeOptions {
  readonly config: NodeConfig;
  readonly storage: NodeStorage;
  readonly transport: Transport;
  readonly peers: PeerDirectory;
  readonly logger: Logger;
}

export interface GroupStatusView {
  readonly id: GroupId;
  readonly role: string;
  readonly term: number;
  readonly leaderId: NodeId;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export class ClusterNode {
  readonly id: NodeId;
  readonly config: NodeConfig;
  readonly host: GroupHost;
  readonly rpc: NodeRpc;
  readonly executor: RaftExecutor;
  readonly catalog = new CatalogStateMachine();
  private readonly options: ClusterNodeOptions;
  private stopped = false;
  private reconciling = false;
  readonly counters = { unknownGroupMessages: 0, snapshotsReceived: 0, nodeAdditions: 0 };

  constructor(options: ClusterNodeOptions) {
    this.options = options;
    this.config = options.config;
    this.id = options.config.node.id;
    const log = options.logger.child({ component: 'raft', node: this.id });
    this.host = new GroupHost({
      tickMs: this.config.raft.tickMs,
      logger: log,
      io: {
        send: (to, group, payload) => options.transport.send(to, group, payload),
        sendSnapshot: (to, group, meta, data) =>
          options.transport.sendSnapshot(to, group, meta, chunksOf(data)),
        leaderChanged: (g, leaderId, term) =>
          log.info({ group: g.id, leader: leaderId, term }, 'leader changed'),
        membershipChanged: () => {},
      },
    });
    this.rpc = new NodeRpc(options.transport, (from, op, args) => this.serveRpc(from, op, args));
    this.executor = new RaftExecutor({
      selfId: this.id,
      host: this.host,
      rpc: this.rpc,
      requestTimeoutMs: this.config.node.requestTimeoutMs,
      backoff: {
        baseMs: this.config.cluster?.peerWaitBackoffMs ?? 50,
        maxMs: this.config.cluster?.peerWaitBackoffMaxMs ?? 2000,
      },
      knowsGroup: (group) => this.catalog.groups.has(group),
    });
    this.catalog.onChange = () => this.scheduleReconcile();
  }

  /** Starts links and the catalog replica; the other replicas follow from the catalog (see `reconcile`). */
  async start(): Promise<void> {
    const cluster = this.config.cluster;
    if (!cluster) throw new NodeStoppedError(this.id);
    for (const m of cluster.members) if (m.id !== this.id) this.options.peers.setPeer(m.id, m.rpc);
    await this.options.transport.start({
      deliver: (from, group, payload) => this.deliver(from, group, payload),
      peerUnreachable: (peer) => {
        for (const g of this.host.groups.values()) g.reportUnreachable(peer);
      },
      peerBackpressure: () => {},
      receiveSnapshot: (from, group, meta, chunks) => this.receiveSnapshot(from, group, meta, chunks),
    });
    const founders = cluster.join ? [] : cluster.members.map((m) => m.id);
    const initialCatalog = encodeCatalogCommand({
      op: 'init',
      nodes: cluster.members.map((m) => ({ id: m.id, rpc: m.rpc, api: m.api })),
      groups: defaultLayout(this.config.sharding),
    });
    await this.openGroup({ id: CATALOG_GROUP, kind: 'catalog', founders }, [initialCatalog]);
    this.host.start();
  }

  private deliver(from: NodeId, group: GroupId, payload: Uint8Array): void {
    if (group === RPC_GROUP) {
      this.rpc.receive(from, payload);
      return;
    }
    if (!this.host.deliver(group, payload)) this.counters.unknownGroupMessages++;
  }

  private async receiveSnapshot(
    _from: NodeId,
    group: GroupId,
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    const parts: Uint8Array[] = [];
    let bytes = 0;
    for await (const chunk of chunks) {
      bytes += chunk.length;
      if (bytes > this.config.raft.snapshotBytesMax)
        throw new Error(`snapshot of ${group} exceeds ${this.config.raft.snapshotBytesMax} bytes`);
      parts.push(chunk);
    }
    const g = this.host.get(group);
    if (!g) throw new Error(`snapshot for unknown group ${group}`);
    this.counters.snapshotsReceived++;
    g.stageSnapshot(meta, Buffer.concat(parts));
  }

  /** Opens (bootstrapping when this node founded it and its storage is empty) one replica. */
  private async openGroup(spec: CatalogGroup, initialCommands: Uint8Array[] = []): Promise<RaftGroup> {
    const existing = this.host.get(spec.id);
    if (existing) return existing;
    const storage = this.options.storage.group(spec.id);
    if (spec.founders.includes(this.id) && isStorageEmpty(storage, storage)) {
      await bootstrapStorage(storage, storage, spec.founders, initialCommands);
    }
    const stateMachine: StateMachine<unknown> =
      spec.kind === 'catalog' ? this.catalog : new MemoryKvStateMachine();
    const r = this.config.raft;
    return this.host.add({
      nodeId: this.id,
      group: spec.id,
      storage,
      stateMachine,
      raft: {
        electionTicks: r.electionTicks,
        heartbeatTicks: r.heartbeatTicks,
        preVote: r.preVote,
        checkQuorum: r.checkQuorum,
        readOnly: r.readOnly,
        appendBytesMax: r.appendBytesMax,
        inflightMessagesMax: r.inflightMessagesMax,
        uncommittedBytesMax: r.uncommittedBytesMax,
        random: (this.id * 0x9e3779b1 + hash(spec.id)) >>> 0,
      },
      snapshotEntries: r.snapshotEntries,
      compactionMarginEntries: r.compactionMarginEntries,
      requestTimeoutMs: this.config.node.requestTimeoutMs,
    });
  }

  private scheduleReconcile(): void {
    if (this.reconciling || this.stopped) return;
    this.reconciling = true;
    queueMicrotask(() => {
      this.reconciling = false;
      void this.reconcile();
    });
  }

  /** Makes local replicas and peer links match the catalog: every node spawns or stops its replicas. */
  private async reconcile(): Promise<void> {
    for (const node of this.catalog.nodes.values())
      if (node.id !== this.id) this.options.peers.setPeer(node.id, node.rpc);
    for (const spec of this.catalog.groups.values()) {
      if (!this.host.get(spec.id)) await this.openGroup(spec);
    }
    for (const id of [...this.host.groups.keys()]) {
      if (id !== CATALOG_GROUP && !this.catalog.groups.has(id)) this.host.remove(id);
    }
  }

  private async serveRpc(_from: NodeId, op: string, args: unknown): Promise<unknown> {
    if (this.stopped) throw new NodeStoppedError(this.id);
    if (op === 'ping') return { id: this.id };
    return this.executor.serveForwarded(op, (args ?? {}) as Record<string, unknown>);
  }

  // ---------------------------------------------------------------------------------------- operations

  /** Resolves once every group in the catalog has a leader known here; else `ClusterFormationError`. */
  async waitForClusterFormation(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const missing = this.groupsWithoutLeader();
      if (missing.length === 0 && this.catalog.groups.size > 0) return;
      if (performance.now() >= deadline)
        throw new ClusterFormationError(timeoutMs, missing.length > 0 ? missing : [CATALOG_GROUP]);
      await sleep(20);
    }
  }

  private groupsWithoutLeader(): GroupId[] {
    const out: GroupId[] = [];
    for (const id of this.catalog.groups.keys()) {
      const g = this.host.get(id);
      if (!g || g.leaderId === 0) out.push(id);
    }
    return out;
  }

  async addNode(node: CatalogNode, timeoutMs = 60_000): Promise<MembershipStatus> {
    const result = await addNodeToCluster(this.membershipContext(), node, timeoutMs);
    this.counters.nodeAdditions++;
    return result;
  }

  removeNode(id: NodeId, timeoutMs = 60_000): Promise<MembershipStatus> {
    return removeNodeFromCluster(this.membershipContext(), id, timeoutMs);
  }

  private membershipContext() {
    return {
      selfId: this.id,
      catalog: this.catalog,
      executor: this.executor,
      proposeCatalog: (cmd: Parameters<typeof encodeCatalogCommand>[0]) =>
        this.executor.execute(CATALOG_GROUP, encodeCatalogCommand(cmd, this.session())),
    };
  }

  private sessionSequence = 0;
  private readonly sessionId = `node-${Math.random().toString(36).slice(2)}`;
  private session() {
    return { clientId: this.sessionId, sequence: ++this.sessionSequence };
  }

  transferLeader(group: GroupId, to: NodeId): Promise<unknown> {
    return this.executor.transferLeader(group, to);
  }

  changeMembership(group: GroupId, change: ConfChange): Promise<unknown> {
    return this.executor.changeMembership(group, change);
  }

  groupStatuses(): GroupStatusView[] {
    return [...this.host.groups.values()].map((g) => view(g.status()));
  }

  /**
   * Graceful shutdown: hands leadership of every group this node leads to the most caught-up voter, waits
   * (bounded) for the handover, then stops replicas and links.
   */
  async stop(options: { transferLeadership?: boolean; transferWaitMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    if (options.transferLeadership ?? true) await this.handOverLeadership(options.transferWaitMs ?? 2_000);
    this.stopped = true;
    this.host.stop();
    this.rpc.stop();
    await this.options.transport.stop();
  }

  private async handOverLeadership(waitMs: number): Promise<void> {
    const led = [...this.host.groups.values()].filter((g) => g.isLeader);
    for (const g of led) {
      const best = g
        .status()
        .progress.filter(
          (p) => p.id !== this.id && !p.isLearner && g.status().confState.voters.includes(p.id),
        )
        .sort((a, b) => b.matchIndex - a.matchIndex)[0];
      if (best) g.transferLeadership(best.id);
    }
    const deadline = performance.now() + waitMs;
    while (led.some((g) => g.isLeader) && performance.now() < deadline) await sleep(10);
  }
}

function view(s: Status): GroupStatusView {
  return {
    id: s.group,
    role: s.role,
    term: s.term,
    leaderId: s.leaderId,
    commitIndex: s.commitIndex,
    appliedIndex: s.appliedIndex,
    firstIndex: s.firstIndex,
    lastIndex: s.lastIndex,
    voters: s.confState.voters,
    learners: s.confState.learners,
  };
}

/** Splits snapshot data into chunks for the transport's flow-controlled stream. */
async function* chunksOf(data: Uint8Array, chunkBytes = 256 * 1024): AsyncIterable<Uint8Array> {
  for (let at = 0; at < data.length; at += chunkBytes)
    yield data.subarray(at, Math.min(data.length, at + chunkBytes));
  if (data.length === 0) yield data;
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) >>> 0;
  return h;
}
