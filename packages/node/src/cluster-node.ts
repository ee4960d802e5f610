/**
 * A cluster node: the Raft group replicas of this process as actors on the host threads (or the main thread),
 * reconciled from the replicated catalog (`meta:system`), the peer links, the executor that forwards to
 * leaders, and membership operations.
 *
 *   transport ─deliver─▶ GroupHandle ─tell─▶ RaftGroupActor (host thread) ─Ready─▶ LMDB (one txn per turn)
 *       ▲                                            │
 *       └──────────────── RouterActor (main) ◀─tell──┘          catalog apply ─▶ reconcile()
 */

import { type ActorRef, ActorSystem } from '@flotilla/actors';
import type { ConfChange, GroupId, NodeId, SnapshotMeta, Status, Transport } from '@flotilla/core';
import {
  type CatalogCommand,
  type CatalogNode,
  CatalogStateMachine,
  encodeCatalogCommand,
} from './catalog.ts';
import type { NodeConfig } from './config.ts';
import { ClusterFormationError, InvalidGroupError, NodeStoppedError, UnknownGroupError } from './errors.ts';
import {
  type GroupActorProps,
  RaftGroupActor,
  RaftGroupKind,
  type ReplicaStatus,
  type RouterMessage,
} from './group-actor.ts';
import { GroupHandle } from './group-handle.ts';
import { CATALOG_GROUP, type CatalogGroup, defaultLayout, type GroupKind } from './layout.ts';
import { LeaderBalancer } from './leader-balancer.ts';
import type { Logger } from './logger.ts';
import { addNodeToCluster, type MembershipStatus, removeNodeFromCluster } from './membership.ts';
import { RaftExecutor } from './raft-executor.ts';
import { sleep } from './retry.ts';
import { RouterActor } from './router.ts';
import { NodeRpc } from './rpc.ts';

/** Group ids a user may create: printable, short (they name files and travel in every frame). */
const GROUP_ID = /^[A-Za-z0-9:_.-]{1,100}$/;

export interface PeerDirectory {
  /** The transport learns (or forgets) a peer's address. */
  setPeer(id: NodeId, rpcAddress: string | undefined): void;
}

export interface ClusterNodeOptions {
  readonly config: NodeConfig;
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
  readonly groups = new Map<GroupId, GroupHandle>();
  readonly rpc: NodeRpc;
  readonly executor: RaftExecutor;
  readonly catalog = new CatalogStateMachine();
  private system: ActorSystem | undefined;
  private router: ActorRef<RouterMessage> | undefined;
  private readonly options: ClusterNodeOptions;
  private readonly log: Logger;
  private stopped = false;
  private reconciling: Promise<void> | undefined;
  private reconcileAgain = false;
  readonly counters = { unknownGroupMessages: 0, snapshotsReceived: 0, nodeAdditions: 0, restarts: 0 };
  /** Proposal latencies (ms) since the last metrics scrape; bounded. */
  readonly latencies: number[] = [];

  constructor(options: ClusterNodeOptions) {
    this.options = options;
    this.config = options.config;
    this.id = options.config.node.id;
    this.log = options.logger.child({ component: 'cluster', node: this.id });
    this.rpc = new NodeRpc(options.transport, (from, op, args) => this.serveRpc(from, op, args));
    this.executor = new RaftExecutor({
      selfId: this.id,
      groups: this.groups,
      rpc: this.rpc,
      requestTimeoutMs: this.config.node.requestTimeoutMs,
      backoff: {
        baseMs: this.config.cluster?.peerWaitBackoffMs ?? 50,
        maxMs: this.config.cluster?.peerWaitBackoffMaxMs ?? 2000,
      },
      attemptsMax: Math.max(1, this.config.cluster?.peerWaitRetries ?? 50),
      knowsGroup: (group) => this.catalog.groups.has(group),
    });
    this.catalog.onChange = () => this.scheduleReconcile();
    const intervalMs = this.config.cluster?.leaderBalanceIntervalMs ?? 0;
    this.balancer = new LeaderBalancer({
      selfId: this.id,
      groups: () => this.groups.values(),
      members: () => [...this.catalog.nodes.keys()],
      intervalMs,
      holdMs: 2 * intervalMs,
      transfersPerRound: 4,
      preferredLeaders: this.config.cluster?.preferredLeaders ?? [],
      logger: this.log.child({ component: 'raft' }),
    });
  }

  /** Hands this node's excess leaderships to the members that lead fewest (see `leader-balancer.ts`). */
  readonly balancer: LeaderBalancer;

  /** The actor system hosting the replicas (after `start`). */
  get actors(): ActorSystem | undefined {
    return this.system;
  }

  /** Starts the host threads, links and the catalog replica; other replicas follow from the catalog. */
  async start(): Promise<void> {
    const cluster = this.config.cluster;
    if (!cluster) throw new NodeStoppedError(this.id);
    this.system = await ActorSystem.start({
      hosts: this.config.hosts.threads,
      tickIntervalMs: this.config.raft.tickMs,
      askTimeoutMs: this.config.node.requestTimeoutMs,
    });
    this.system.events.subscribe((event) => {
      if (event.type === 'actor-restarted' || event.type === 'host-started') this.counters.restarts++;
    });
    this.router = await this.system.spawn(RouterActor, {
      name: 'router',
      host: 'main',
      props: {
        transport: this.options.transport,
        leaderChanged: (group: string, leaderId: number, term: number) =>
          this.leaderChanged(group, leaderId, term),
      },
      mailboxCapacity: 1 << 20,
    });
    for (const m of cluster.members) if (m.id !== this.id) this.options.peers.setPeer(m.id, m.rpc);
    await this.options.transport.start({
      deliver: (from, group, payload) => this.deliver(from, group, payload),
      deliverNode: (from, channel, payload) => {
        if (channel === 'rpc') this.rpc.receive(from, payload);
      },
      peerUnreachable: (peer) => {
        for (const g of this.groups.values()) this.system?.tell(g.ref, { type: 'unreachable', peer });
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
    this.balancer.start();
  }

  private leaderChanged(group: GroupId, leaderId: NodeId, term: number): void {
    const g = this.groups.get(group);
    if (!g) return;
    if (g.leaderId !== leaderId) g.leaderSinceMs = performance.now();
    g.leaderId = leaderId;
    g.term = term;
    this.log.info({ component: 'raft', group, leader: leaderId, term }, 'leader changed');
  }

  private deliver(_from: NodeId, group: GroupId, payload: Uint8Array): void {
    const g = this.groups.get(group);
    if (g) g.deliver(payload);
    else this.counters.unknownGroupMessages++;
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
    const g = this.groups.get(group);
    if (!g || !this.system) throw new Error(`snapshot for unknown group ${group}`);
    this.counters.snapshotsReceived++;
    this.system.tell(g.ref, { type: 'stageSnapshot', meta, data: Buffer.concat(parts) });
  }

  /** Spawns one replica actor (it bootstraps itself when this node founded the group and storage is empty). */
  private async openGroup(spec: CatalogGroup, initialCommands: Uint8Array[] = []): Promise<void> {
    const system = this.system;
    if (!system || !this.router || this.groups.has(spec.id)) return;
    const props: GroupActorProps = {
      nodeId: this.id,
      spec,
      dataDir: this.config.node.dataDir,
      storage: this.config.storage,
      raft: this.config.raft,
      requestTimeoutMs: this.config.node.requestTimeoutMs,
      initialCommands,
      router: this.router,
    };
    const name = `group:${spec.id}`;
    // The catalog lives on the main thread: the node reconciles from its state machine directly.
    const ref =
      spec.kind === 'catalog'
        ? await system.spawn(RaftGroupActor, {
            name,
            host: 'main',
            props: { ...props, catalog: this.catalog },
            mailboxCapacity: 1 << 16,
          })
        : await system.spawn(RaftGroupKind, { name, host: 'auto', props, mailboxCapacity: 1 << 16 });
    const handle = new GroupHandle(spec.id, ref, this.id, system);
    handle.onLatency = (ms) => {
      if (this.latencies.push(ms) > 100_000) this.latencies.splice(0, 50_000);
    };
    this.groups.set(spec.id, handle);
  }

  private scheduleReconcile(): void {
    if (this.stopped) return;
    if (this.reconciling) {
      this.reconcileAgain = true;
      return;
    }
    this.reconciling = this.reconcile()
      .catch((error: unknown) => this.log.error({ err: error }, 'reconcile failed'))
      .finally(() => {
        this.reconciling = undefined;
        if (this.reconcileAgain) {
          this.reconcileAgain = false;
          this.scheduleReconcile();
        }
      });
  }

  /** Makes local replicas and peer links match the catalog: every node spawns or stops its replicas. */
  private async reconcile(): Promise<void> {
    const meta = this.log.child({ component: 'meta' });
    const shard = this.log.child({ component: 'shard' });
    for (const node of this.catalog.nodes.values()) {
      if (node.id === this.id || this.peersLinked.get(node.id) === node.rpc) continue;
      this.options.peers.setPeer(node.id, node.rpc);
      this.peersLinked.set(node.id, node.rpc);
      meta.info({ peer: node.id, rpc: node.rpc }, 'peer linked from the catalog');
    }
    for (const [id] of this.peersLinked) {
      if (this.catalog.nodes.has(id)) continue;
      this.options.peers.setPeer(id, undefined);
      this.peersLinked.delete(id);
      meta.info({ peer: id }, 'peer unlinked: removed from the catalog');
    }
    for (const spec of this.catalog.groups.values()) {
      if (this.groups.has(spec.id)) continue;
      await this.openGroup(spec);
      shard.info({ group: spec.id, founders: spec.founders }, 'replica spawned from the catalog');
    }
    for (const [id, g] of [...this.groups]) {
      if (id === CATALOG_GROUP || this.catalog.groups.has(id)) continue;
      this.groups.delete(id);
      await this.system?.stop(g.ref);
      shard.info({ group: id }, 'replica stopped: group deleted from the catalog');
    }
  }

  /** Peer links made from the catalog (id → rpc address), so a changed address relinks and a removal unlinks. */
  private readonly peersLinked = new Map<NodeId, string>();

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
      const missing = [...this.catalog.groups.keys()].filter(
        (id) => (this.groups.get(id)?.leaderId ?? 0) === 0,
      );
      if (missing.length === 0 && this.catalog.groups.size > 0) return;
      if (performance.now() >= deadline)
        throw new ClusterFormationError(timeoutMs, missing.length > 0 ? missing : [CATALOG_GROUP]);
      await sleep(20);
    }
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
      proposeCatalog: (cmd: CatalogCommand) => this.proposeCatalog(cmd),
    };
  }

  private sessionSequence = 0;
  private readonly sessionId = `node-${this.constructorTime()}-${Math.random().toString(36).slice(2)}`;
  private constructorTime(): number {
    return Math.round(performance.timeOrigin);
  }
  private session() {
    return { clientId: this.sessionId, sequence: ++this.sessionSequence };
  }

  /** Test-only (fault injection): makes a group's replica actor fail, or kills the thread hosting it. */
  injectActorFault(group: GroupId, kind: 'crash-actor' | 'exit-thread'): { slot: number } {
    const g = this.groups.get(group);
    if (!g || !this.system) throw new UnknownGroupError(group);
    this.system.tell(g.ref, { type: 'fault', kind });
    return { slot: g.ref.slot };
  }

  /**
   * Creates a group (for example one per topic partition): a command to the catalog, after which every node
   * spawns its replica (and bootstraps it, as a founder). Resolves once this node hosts it.
   */
  async createGroup(
    id: GroupId,
    kind: GroupKind = 'kv',
    timeoutMs = this.config.node.requestTimeoutMs,
  ): Promise<{ id: GroupId; created: boolean }> {
    if (!GROUP_ID.test(id) || id === CATALOG_GROUP)
      throw new InvalidGroupError(id, 'must be 1-100 characters of A-Z a-z 0-9 : _ . -, not the catalog');
    if (kind !== 'kv') throw new InvalidGroupError(id, `kind ${kind} cannot be created`);
    const result = (await this.proposeCatalog({ op: 'createGroup', group: { id, kind } })) as {
      changed: boolean;
    };
    const deadline = performance.now() + timeoutMs;
    while (!this.groups.has(id) && performance.now() < deadline) await sleep(5);
    return { id, created: result.changed };
  }

  /** Deletes a group: every node stops its replica (its log stays on disk until the data dir is cleaned). */
  async deleteGroup(id: GroupId): Promise<{ id: GroupId; deleted: boolean }> {
    if (id === CATALOG_GROUP) throw new InvalidGroupError(id, 'the catalog cannot be deleted');
    const result = (await this.proposeCatalog({ op: 'deleteGroup', id })) as { changed: boolean };
    return { id, deleted: result.changed };
  }

  private proposeCatalog(cmd: CatalogCommand): Promise<unknown> {
    return this.executor.execute(CATALOG_GROUP, encodeCatalogCommand(cmd, this.session()));
  }

  transferLeader(group: GroupId, to: NodeId): Promise<unknown> {
    return this.executor.transferLeader(group, to);
  }

  changeMembership(group: GroupId, change: ConfChange): Promise<unknown> {
    return this.executor.changeMembership(group, change);
  }

  /** Every local replica's full status (asked of the replicas, in parallel). */
  async replicaStatuses(): Promise<ReplicaStatus[]> {
    const statuses = await Promise.all(
      [...this.groups.values()].map((g) => g.status().catch(() => undefined)),
    );
    return statuses.filter((s): s is ReplicaStatus => s !== undefined);
  }

  async groupStatuses(): Promise<GroupStatusView[]> {
    return (await this.replicaStatuses()).map(view);
  }

  /**
   * Graceful shutdown: hands leadership of every group this node leads to the most caught-up voter, waits
   * (bounded) for the handover, then stops replicas, host threads and links.
   */
  async stop(options: { transferLeadership?: boolean; transferWaitMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    await this.balancer.stop();
    if ((options.transferLeadership ?? true) && this.system)
      await this.handOverLeadership(options.transferWaitMs ?? 2_000);
    this.stopped = true;
    await this.reconciling;
    this.rpc.stop();
    await this.system?.shutdown();
    await this.options.transport.stop();
  }

  private async handOverLeadership(waitMs: number): Promise<void> {
    const led = [...this.groups.values()].filter((g) => g.isLeader);
    const started = performance.now();
    await Promise.all(
      led.map(async (g) => {
        const s = await g.status().catch(() => undefined);
        if (s?.role !== 'leader') return;
        const best = s.progress
          .filter((p) => p.id !== this.id && s.confState.voters.includes(p.id))
          .sort((a, b) => b.matchIndex - a.matchIndex)[0];
        if (best) await g.transferLeadership(best.id, waitMs).catch(() => {});
      }),
    );
    const deadline = performance.now() + waitMs;
    while (led.some((g) => g.isLeader) && performance.now() < deadline) await sleep(5);
    const kept = led.filter((g) => g.isLeader).length;
    this.log.info(
      { led: led.length, transferred: led.length - kept, ms: Math.round(performance.now() - started) },
      'leadership handed over before stopping',
    );
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
