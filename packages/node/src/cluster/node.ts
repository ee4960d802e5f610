/**
 * A Flotilla node: the group replicas of this process as actors (on host threads or the main thread),
 * reconciled from the replicated catalog (`meta:system`); the executor that validates calls and forwards
 * them to leaders; the gateway actors call through; leader-only actors; leadership events; membership.
 * Standalone mode is a node whose cluster is itself: the same engine, with no peers.
 *
 *   transport ─deliver─▶ ReplicaHandle ─(direct | tell)─▶ ReplicaActor ─Ready─▶ WAL / LMDB (one write per turn)
 *       ▲                                                     │
 *       └──────── transport.send (main) ◀── RouterActor ◀─────┘ (host threads)    catalog applied ─▶ reconcile()
 */
import { type ActorRef, ActorSystem, Stream } from '@flotilla/actors';
import {
  type ActorRefData,
  type AppDefinition,
  Calls,
  ClusterFormationError,
  encodeCall,
  InvalidGroupError,
  InvalidNodeError,
  NodeStoppedError,
  RequestTimeoutError,
  sleep,
  UnknownGroupError,
  UnknownKindError,
} from '@flotilla/app';
import type { ConfChange, GroupId, NodeId, SnapshotMeta, Transport } from '@flotilla/core';
import { Executor } from '../execution/executor.ts';
import { GatewayActor, type GatewayMessage } from '../execution/gateway.ts';
import { LeaderActors, type LeadershipEvent } from '../execution/leader-actors.ts';
import { NodeRpc } from '../execution/node-rpc.ts';
import { encodeEnvelope } from '../machines/envelope.ts';
import type { DivergenceReport, MachineInstance } from '../machines/machine-instance.ts';
import type { AppRef, Registry } from '../machines/registry.ts';
import type { NodeConfig } from '../operations/config.ts';
import type { Logger } from '../operations/logger.ts';
import type { Replica } from '../replicas/replica.ts';
import type { ReplicaFault } from '../replicas/replica-actor.ts';
import {
  type LocalLinks,
  ReplicaActor,
  ReplicaKind,
  type ReplicaMessage,
  type ReplicaProps,
  type ReplicaStatus,
  type RouterMessage,
} from '../replicas/replica-actor.ts';
import { ReplicaHandle } from '../replicas/replica-handle.ts';
import { chunksOf, RouterActor } from '../replicas/router.ts';
import type { ChangeBatch } from '../watch/feed.ts';
import { WatchHub } from '../watch/hub.ts';
import {
  CATALOG_GROUP,
  type CatalogGroup,
  CatalogMachine,
  type CatalogNode,
  type CatalogState,
  catalogView,
} from './catalog.ts';
import type { Layout } from './layout.ts';
import { LeaderBalancer } from './leader-balancer.ts';
import { addNodeToCluster, type MembershipStatus, removeNodeFromCluster } from './membership.ts';

/** Group ids a user may create: printable, short (they name files and travel in every frame). */
const GROUP_ID = /^[A-Za-z0-9:_.-]{1,100}$/;
/** Divergence reports kept for `/status` (the newest). */
const DIVERGENCES_KEPT = 100;
/** Proposal latencies kept between two metric scrapes. */
const LATENCIES_KEPT = 100_000;
/** Mailbox of a replica actor. */
const REPLICA_MAILBOX = 1 << 16;
/** Mailbox of the router and the gateway (every replica of a host thread, every actor's calls). */
const MAIN_MAILBOX = 1 << 20;
/** Poll period while waiting for the catalog to reach this node. */
const WAIT_POLL_MS = 5;
/** Longest pause between attempts to create the application's groups; a warning every so many attempts. */
const APP_LAYOUT_RETRY_MAX_MS = 2_000;
const APP_LAYOUT_LOG_EVERY = 10;

export interface PeerDirectory {
  /** The transport learns (or forgets) a peer's address. */
  setPeer(id: NodeId, rpcAddress: string | undefined): void;
}

export interface FlotillaNodeOptions {
  readonly config: NodeConfig;
  readonly transport: Transport;
  readonly peers: PeerDirectory;
  readonly logger: Logger;
  /** The kinds this node can run (built-ins plus the application). */
  readonly registry: Registry;
  /** Where host threads load the application from (the same module the registry came from). */
  readonly app: AppRef | undefined;
  /** The groups and shard sets the cluster starts with (the application's are added). */
  readonly layout: Layout;
}

export interface GroupStatusView {
  readonly id: GroupId;
  readonly kind: string;
  readonly role: string;
  readonly term: number;
  readonly leaderId: NodeId;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly outcomeHash: string;
  /** On the leader: how far the most lagging other member's log is behind (lastIndex − matchIndex); else null. */
  readonly followerLagMax: number | null;
}

/** A replica this node does not run because it lacks the code for its kind (a rolling deploy in progress). */
export interface RefusedReplica {
  readonly group: GroupId;
  readonly kind: string;
  readonly reason: string;
}

/**
 * A replica whose durable writes fail this many times within the window is no longer served by this node (the
 * first failure restarts it from disk; a second one soon after means the disk, not a passing fault).
 */
const STORAGE_FAILURES_MAX = 2;
const STORAGE_FAILURE_WINDOW_MS = 60_000;

const EMPTY_CATALOG: CatalogState = { nodes: new Map(), groups: new Map(), shards: new Map() };

export class FlotillaNode {
  readonly id: NodeId;
  readonly config: NodeConfig;
  readonly replicas = new Map<GroupId, ReplicaHandle>();
  readonly refused = new Map<GroupId, RefusedReplica>();
  readonly rpc: NodeRpc;
  readonly executor: Executor;
  /** This node's own typed calls (one session), e.g. for catalog commands and in-process applications. */
  readonly calls: Calls;
  /** Leadership changes of every group, as this node sees them (hashicorp/raft's observer). */
  readonly leadership: Stream<LeadershipEvent>;
  readonly divergences: DivergenceReport[] = [];
  readonly counters = {
    unknownGroupMessages: 0,
    snapshotsReceived: 0,
    nodeAdditions: 0,
    restarts: 0,
    divergences: 0,
    storageFailures: 0,
  };
  /** Per group: when its recent durable writes failed (performance.now() ms). */
  private readonly recentStorageFailures = new Map<GroupId, number[]>();
  /** The latest durable-write failures of this node's replicas (each replica restarted from disk after it). */
  readonly storageFailures: { readonly group: GroupId; readonly error: string; readonly at: string }[] = [];
  /**
   * What this node answers a peer's `status` request with (the admin's cluster view): its groups until the
   * process that runs it sets its full `/status` (start.ts).
   */
  statusSource: () => Promise<unknown> = async () => ({
    nodeId: this.id,
    groups: await this.groupStatuses(),
  });
  /** Proposal latencies (ms) since the last metrics scrape; bounded. */
  readonly latencies: number[] = [];
  readonly balancer: LeaderBalancer;
  readonly registry: Registry;
  /** Watches of the changes this node's replicas apply (served to clients by the API). */
  readonly watches: WatchHub;
  private readonly leaderActors: LeaderActors;
  private readonly options: FlotillaNodeOptions;
  private readonly log: Logger;
  /** The node's logger without a component (each part binds its own). */
  private readonly root: Logger;
  private readonly raftLog: Logger;
  private system: ActorSystem | undefined;
  private router: ActorRef<RouterMessage> | undefined;
  private gatewayRef: ActorRef<GatewayMessage> | undefined;
  private catalogMachine: MachineInstance | undefined;
  private stopped = false;
  private reconciling: Promise<void> | undefined;
  private reconcileAgain = false;
  /** Peer links made from the catalog (id → rpc address), so a changed address relinks and a removal unlinks. */
  private readonly peersLinked = new Map<NodeId, string>();

  constructor(options: FlotillaNodeOptions) {
    this.options = options;
    this.config = options.config;
    this.id = options.config.node.id;
    this.registry = options.registry;
    this.watches = new WatchHub(options.config.watch);
    // Children name their own component from `root` (pino would repeat a key bound twice).
    this.root = options.logger.child({ node: this.id });
    this.log = this.root.child({ component: 'cluster' });
    this.raftLog = this.root.child({ component: 'raft' });
    this.leadership = new Stream((error) => this.log.error({ err: error }, 'leadership listener threw'));
    this.rpc = new NodeRpc(options.transport, (_from, request) => {
      if (this.stopped) return Promise.reject(new NodeStoppedError(this.id));
      if (request.type === 'status') return this.statusSource();
      return this.executor.serve(request);
    });
    const cluster = this.config.cluster;
    this.executor = new Executor({
      selfId: this.id,
      replicas: this.replicas,
      rpc: this.rpc,
      registry: this.registry,
      kindOf: (group) => this.catalog.groups.get(group)?.kind,
      shards: () => [...this.catalog.shards.values()],
      requestTimeoutMs: this.config.node.requestTimeoutMs,
      retry: {
        baseMs: cluster?.peerWaitBackoffMs ?? 50,
        maxMs: cluster?.peerWaitBackoffMaxMs ?? 2_000,
        attemptsMax: Math.max(1, cluster?.peerWaitRetries ?? 50),
      },
    });
    this.calls = new Calls(this.executor);
    const intervalMs = cluster?.leaderBalanceIntervalMs ?? 0;
    this.balancer = new LeaderBalancer({
      selfId: this.id,
      groups: () => this.replicas.values(),
      members: () => [...this.catalog.nodes.keys()],
      intervalMs,
      holdMs: 2 * intervalMs,
      transfersPerRound: 4,
      preferredLeaders: cluster?.preferredLeaders ?? [],
      logger: this.root.child({ component: 'raft' }),
    });
    this.leaderActors = new LeaderActors({
      selfId: this.id,
      system: () => this.system,
      specs: this.app.leaderActors,
      gateway: () => this.gatewayRef,
      logger: this.log,
    });
  }

  get app(): AppDefinition {
    return this.registry.app;
  }

  /** The replicated catalog as this node has applied it. */
  get catalog(): CatalogState {
    return (this.catalogMachine?.state as CatalogState | undefined) ?? EMPTY_CATALOG;
  }

  /** The actor system hosting the replicas and the application's actors (after `start`). */
  get actors(): ActorSystem | undefined {
    return this.system;
  }

  /** The gateway actor's ref: hand it to actors that make calls (`gatewayCalls`). */
  get gateway(): ActorRefData | undefined {
    return this.gatewayRef;
  }

  /** Leader-only actors running on this node: name → term. */
  get leaderActorsRunning(): ReadonlyMap<string, number> {
    return this.leaderActors.active;
  }

  private members(): { id: NodeId; rpc: string; api: string }[] {
    const node = this.config.node;
    return (
      this.config.cluster?.members.map((m) => ({ ...m })) ?? [{ id: this.id, rpc: node.rpc, api: node.api }]
    );
  }

  /** Starts the actor system, links and the catalog replica; other replicas follow from the catalog. */
  async start(): Promise<void> {
    this.system = await ActorSystem.start({
      logger: this.root,
      hosts: this.config.hosts.threads,
      tickIntervalMs: this.config.raft.tickMs,
      askTimeoutMs: this.config.node.requestTimeoutMs,
      nodeId: this.id,
    });
    this.system.events.subscribe((event) => {
      if (event.type === 'actor-restarted' || event.type === 'host-started') this.counters.restarts++;
    });
    if (this.config.hosts.threads > 0) {
      this.router = await this.system.spawn(RouterActor, {
        name: 'router',
        host: 'main',
        props: {
          transport: this.options.transport,
          leaderChanged: (group: string, leaderId: number, term: number) =>
            this.leaderChanged(group, leaderId, term),
          diverged: (report: DivergenceReport) => this.diverged(report),
          changes: (group: string, batch: ChangeBatch) => this.watches.publish(group, batch),
          position: (group: string, index: number) => this.watches.position(group, index),
          storageFailed: (group: string, error: string) => this.storageFailed(group, error),
        },
        mailboxCapacity: MAIN_MAILBOX,
      });
    }
    this.gatewayRef = await this.system.spawn(GatewayActor, {
      name: 'gateway',
      host: 'main',
      props: { port: this.executor },
      mailboxCapacity: MAIN_MAILBOX,
    });
    const cluster = this.config.cluster;
    for (const m of this.members()) if (m.id !== this.id) this.options.peers.setPeer(m.id, m.rpc);
    await this.options.transport.start({
      deliver: (_from, group, payload) => this.deliver(group, payload),
      deliverNode: (from, channel, payload) => {
        if (channel === 'rpc') this.rpc.receive(from, payload);
        else this.onActorFrames?.(from, payload);
      },
      peerUnreachable: (peer) => {
        for (const g of this.replicas.values()) this.system?.tell(g.ref, { type: 'unreachable', peer });
        this.onPeerUnreachable?.(peer);
      },
      peerBackpressure: () => {},
      removedByPeer: (peer) => this.removedByPeer(peer),
      receiveSnapshot: (from, group, meta, chunks) => this.receiveSnapshot(from, group, meta, chunks),
    });
    const founders = cluster?.join ? [] : this.members().map((m) => m.id);
    await this.openReplica({ id: CATALOG_GROUP, kind: CatalogMachine.name, founders }, [
      this.initialCatalog(),
    ]);
    this.balancer.start();
    await this.startNodeActors();
    this.appLayout = this.ensureAppLayout();
  }

  /**
   * Called once when a peer says this node was removed from the cluster (it closed our link for that reason and
   * refuses us from now on): the process that runs the node stops it (start.ts).
   */
  onRemoved: ((peer: NodeId) => void) | undefined;
  /** A peer told this node it was removed from the cluster. */
  removed = false;

  private removedByPeer(peer: NodeId): void {
    if (this.removed || this.stopped) return;
    this.removed = true;
    this.log.error(
      { peer },
      `node ${peer} closed its link because this node was removed from the cluster; it stops serving`,
    );
    this.onRemoved?.(peer);
  }

  /** Resolves once the application's groups and shard sets are in the catalog (proposed after formation). */
  appLayout: Promise<void> = Promise.resolve();

  /** The application's groups and shard sets are in the catalog, and every replica here knows a leader. */
  get ready(): boolean {
    const catalog = this.catalog;
    if (catalog.groups.size === 0) return false;
    if (this.app.groups.some((g) => !catalog.groups.has(g.id))) return false;
    if (this.app.shards.some((s) => !catalog.shards.has(s.prefix))) return false;
    for (const id of catalog.groups.keys()) {
      if (this.refused.has(id)) continue;
      if ((this.replicas.get(id)?.leaderId ?? 0) === 0) return false;
    }
    return true;
  }

  /**
   * The application's groups and shard sets, created through the catalog once it has a leader: not in the
   * bootstrap entry, which must be identical on every founder whatever code each one runs (a node without
   * the application refuses those replicas instead). Every node proposes them; repeats change nothing.
   */
  private async ensureAppLayout(): Promise<void> {
    const { groups, shards } = this.app;
    const missing = () =>
      groups.some((g) => !this.catalog.groups.has(g.id)) ||
      shards.some((s) => !this.catalog.shards.has(s.prefix));
    for (let attempt = 0; missing() && !this.stopped; attempt++) {
      try {
        for (const g of groups)
          if (!this.catalog.groups.has(g.id))
            await this.calls.execute(CatalogMachine, CATALOG_GROUP, 'createGroup', g);
        for (const s of shards)
          if (!this.catalog.shards.has(s.prefix))
            await this.calls.execute(CatalogMachine, CATALOG_GROUP, 'createShards', s);
      } catch (error) {
        if (attempt % APP_LAYOUT_LOG_EVERY === 0)
          this.log.warn({ err: error, attempt }, 'application groups not created yet; retrying');
        await sleep(Math.min(APP_LAYOUT_RETRY_MAX_MS, 50 * 2 ** Math.min(attempt, 6)));
      }
    }
  }

  /** Hooks for the cross-node actor bridge (set by `connectRemoteActors`). */
  onActorFrames: ((from: NodeId, payload: Uint8Array) => void) | undefined;
  onPeerUnreachable: ((peer: NodeId) => void) | undefined;

  /**
   * The catalog's first entry, identical on every founder: the members and the configured layout (both from
   * the config, which founders must share). The application's groups follow by command (`ensureAppLayout`).
   */
  private initialCatalog(): Uint8Array {
    const layout = this.options.layout;
    const call = encodeCall(CatalogMachine, 'command', 'init', {
      nodes: this.members(),
      groups: [{ id: CATALOG_GROUP, kind: CatalogMachine.name }, ...layout.groups],
      shards: [...layout.shards],
    });
    return encodeEnvelope({ session: undefined, fence: undefined, timestampMs: 0, call: call.payload });
  }

  /** The application's per-node actors (`defineApp({ actors })`). */
  private async startNodeActors(): Promise<void> {
    const system = this.system;
    const gateway = this.gatewayRef;
    if (system === undefined || gateway === undefined) return;
    for (const spec of this.app.actors) {
      const props = { ...((spec.props ?? {}) as object), nodeId: this.id, gateway };
      await system.spawn(spec.kind as never, { name: spec.name, host: 'auto', props } as never);
    }
  }

  private leaderChanged(group: GroupId, leaderId: NodeId, term: number): void {
    const g = this.replicas.get(group);
    if (!g) return;
    if (g.leaderId !== leaderId) g.leaderSinceMs = performance.now();
    g.leaderId = leaderId;
    g.term = term;
    this.raftLog.info({ group, leader: leaderId, term }, 'leader changed');
    const event: LeadershipEvent = { group, kind: g.kind, leaderId, term, local: leaderId === this.id };
    this.leaderActors.changed(event);
    this.leadership.publish(event);
  }

  /**
   * A replica's durable write failed: it restarts from disk (its supervisor); counted, kept for the alarms. When
   * it keeps failing (STORAGE_FAILURES_MAX within STORAGE_FAILURE_WINDOW_MS), this node stops serving the group:
   * its replica is stopped and refused (listed in `/status`) until the node restarts; the other replicas serve on.
   */
  private storageFailed(group: GroupId, error: string): void {
    this.counters.storageFailures++;
    const now = performance.now();
    this.storageFailures.push({ group, error, at: new Date().toISOString() });
    if (this.storageFailures.length > DIVERGENCES_KEPT) this.storageFailures.shift();
    const log = this.root.child({ component: 'storage' });
    const recent = (this.recentStorageFailures.get(group) ?? []).filter(
      (t) => now - t < STORAGE_FAILURE_WINDOW_MS,
    );
    recent.push(now);
    this.recentStorageFailures.set(group, recent);
    if (recent.length < STORAGE_FAILURES_MAX) {
      log.error({ group, err: error }, 'a durable write failed; the replica restarts from disk');
      return;
    }
    const handle = this.replicas.get(group);
    const reason = `storage keeps failing (${recent.length} failed writes within ${STORAGE_FAILURE_WINDOW_MS / 1000} s; last: ${error}); restart the node once the disk is fixed`;
    this.refused.set(group, { group, kind: handle?.kind ?? '', reason });
    if (handle !== undefined) {
      this.replicas.delete(group);
      this.watches.drop(group, new UnknownGroupError(group));
      void this.system?.stop(handle.ref);
    }
    log.error({ group, err: error }, `this node stops serving the group: ${reason}`);
  }

  private diverged(report: DivergenceReport): void {
    this.counters.divergences++;
    this.divergences.push(report);
    if (this.divergences.length > DIVERGENCES_KEPT) this.divergences.shift();
    this.raftLog.error(
      {
        group: report.group,
        index: report.index,
        local: report.local,
        leader: report.leader,
      },
      'replica diverged: its outcome hash differs from the leader at this index',
    );
  }

  private deliver(group: GroupId, payload: Uint8Array): void {
    const g = this.replicas.get(group);
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
    const g = this.replicas.get(group);
    if (!g || !this.system) throw new UnknownGroupError(group);
    this.counters.snapshotsReceived++;
    this.system.tell(g.ref, { type: 'stageSnapshot', meta, data: Buffer.concat(parts) });
  }

  /** The node's side of a replica living on the main thread. */
  private localLinks(handle: () => ReplicaHandle | undefined, spec: CatalogGroup): LocalLinks {
    const transport = this.options.transport;
    return {
      attach: (replica: Replica | undefined) => {
        handle()?.attach(replica);
        if (spec.id === CATALOG_GROUP && replica !== undefined) {
          this.catalogMachine = replica.machine;
          this.scheduleReconcile();
        }
      },
      send: (to, group, payload) => transport.send(to, group, payload),
      sendSnapshot: (to, group, meta, data) => transport.sendSnapshot(to, group, meta, chunksOf(data)),
      leaderChanged: (group, leaderId, term) => this.leaderChanged(group, leaderId, term),
      diverged: (report) => this.diverged(report),
      changes: (group, batch) => this.watches.publish(group, batch),
      position: (group, index) => this.watches.position(group, index),
      storageFailed: (group, error) => this.storageFailed(group, error),
      applied: spec.id === CATALOG_GROUP ? () => this.scheduleReconcile() : undefined,
    };
  }

  /** Spawns one replica actor (it bootstraps itself when this node founded the group and storage is empty). */
  private async openReplica(spec: CatalogGroup, initialCommands: Uint8Array[] = []): Promise<void> {
    const system = this.system;
    if (!system || this.replicas.has(spec.id)) return;
    if (!this.registry.has(spec.kind)) {
      this.refuse(spec);
      return;
    }
    let handle: ReplicaHandle | undefined;
    // The catalog lives on the main thread (the node reads it directly); others follow `[hosts] threads`.
    const onMain = spec.id === CATALOG_GROUP || this.config.hosts.threads === 0;
    const props: ReplicaProps = {
      nodeId: this.id,
      spec,
      app: this.options.app,
      dataDir: this.config.node.dataDir,
      storage: this.config.storage,
      raft: this.config.raft,
      machines: this.config.machines,
      requestTimeoutMs: this.config.node.requestTimeoutMs,
      initialCommands,
      ...(onMain ? { local: this.localLinks(() => handle, spec) } : { router: this.router! }),
    };
    const name = `replica:${spec.id}`;
    const ref = onMain
      ? await system.spawn(ReplicaActor, { name, host: 'main', props, mailboxCapacity: REPLICA_MAILBOX })
      : await system.spawn(ReplicaKind, { name, host: 'auto', props, mailboxCapacity: REPLICA_MAILBOX });
    handle = new ReplicaHandle(spec.id, spec.kind, ref as ActorRef<ReplicaMessage>, this.id, system);
    handle.onLatency = (ms) => {
      if (this.latencies.push(ms) > LATENCIES_KEPT) this.latencies.splice(0, LATENCIES_KEPT / 2);
    };
    this.replicas.set(spec.id, handle);
    this.refused.delete(spec.id);
  }

  private refuse(spec: CatalogGroup): void {
    if (this.refused.has(spec.id)) return;
    const reason = new UnknownKindError(spec.kind, spec.id).message;
    this.refused.set(spec.id, { group: spec.id, kind: spec.kind, reason });
    this.root
      .child({ component: 'shard' })
      .error({ group: spec.id, kind: spec.kind }, `replica refused: ${reason}`);
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
    const meta = this.root.child({ component: 'meta' });
    const shard = this.root.child({ component: 'shard' });
    const catalog = this.catalog;
    for (const node of catalog.nodes.values()) {
      if (node.id === this.id || this.peersLinked.get(node.id) === node.rpc) continue;
      this.options.peers.setPeer(node.id, node.rpc);
      this.peersLinked.set(node.id, node.rpc);
      meta.info({ peer: node.id, rpc: node.rpc }, 'peer linked from the catalog');
    }
    for (const [id] of this.peersLinked) {
      if (catalog.nodes.has(id)) continue;
      this.options.peers.setPeer(id, undefined);
      this.peersLinked.delete(id);
      this.onPeerUnreachable?.(id);
      meta.info({ peer: id }, 'peer unlinked: removed from the catalog');
    }
    for (const spec of catalog.groups.values()) {
      if (this.replicas.has(spec.id) || this.refused.has(spec.id)) continue;
      await this.openReplica(spec);
      if (this.replicas.has(spec.id))
        shard.info(
          { group: spec.id, kind: spec.kind, founders: spec.founders },
          'replica spawned from the catalog',
        );
    }
    for (const [id, g] of [...this.replicas]) {
      if (id === CATALOG_GROUP || catalog.groups.has(id)) continue;
      this.replicas.delete(id);
      this.watches.drop(id, new UnknownGroupError(id));
      await this.system?.stop(g.ref);
      shard.info({ group: id }, 'replica stopped: group deleted from the catalog');
    }
    for (const id of [...this.refused.keys()]) if (!catalog.groups.has(id)) this.refused.delete(id);
  }

  // ---------------------------------------------------------------------------------------- operations

  /** Resolves once every group this node runs has a leader known here; else `ClusterFormationError`. */
  async waitForClusterFormation(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const groups = [...this.catalog.groups.keys()].filter((id) => !this.refused.has(id));
      const missing = groups.filter((id) => (this.replicas.get(id)?.leaderId ?? 0) === 0);
      if (missing.length === 0 && groups.length > 0) return;
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
      catalog: () => this.catalog,
      executor: this.executor,
      addToCatalog: (node: CatalogNode) =>
        this.calls.execute(CatalogMachine, CATALOG_GROUP, 'addNode', { node }),
      removeFromCatalog: (id: NodeId) =>
        this.calls.execute(CatalogMachine, CATALOG_GROUP, 'removeNode', { id }),
    };
  }

  /** Test-only (fault injection): makes a group's replica actor fail, or kills the thread hosting it. */
  injectActorFault(group: GroupId, kind: ReplicaFault): { slot: number } {
    const g = this.replicas.get(group);
    if (!g || !this.system) throw new UnknownGroupError(group);
    this.system.tell(g.ref, { type: 'fault', kind });
    return { slot: g.ref.slot };
  }

  /**
   * Creates a group of a registered kind (for example one per topic partition): a command to the catalog,
   * after which every node spawns its replica (and bootstraps it, as a founder). Resolves once this node hosts it.
   */
  async createGroup(id: GroupId, kind: string, timeoutMs = this.config.node.requestTimeoutMs) {
    if (!GROUP_ID.test(id) || id === CATALOG_GROUP)
      throw new InvalidGroupError(id, 'must be 1-100 characters of A-Z a-z 0-9 : _ . -, not the catalog');
    if (!this.registry.has(kind)) throw new UnknownKindError(kind, id);
    const result = await this.calls.execute(CatalogMachine, CATALOG_GROUP, 'createGroup', { id, kind });
    await this.waitHosted([id], timeoutMs);
    return { id, kind, created: result.changed };
  }

  /** Creates a shard set `<prefix>:0..count-1` of a registered kind; keys and entity ids route to it. */
  async createShards(
    prefix: string,
    count: number,
    kind: string,
    timeoutMs = this.config.node.requestTimeoutMs,
  ) {
    if (!this.registry.has(kind)) throw new UnknownKindError(kind, `${prefix}:*`);
    const result = await this.calls.execute(CatalogMachine, CATALOG_GROUP, 'createShards', {
      prefix,
      count,
      kind,
    });
    await this.waitHosted(
      Array.from({ length: count }, (_, i) => `${prefix}:${i}`),
      timeoutMs,
    );
    return { prefix, count, kind, created: result.changed };
  }

  private async waitHosted(groups: readonly GroupId[], timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (groups.some((g) => !this.replicas.has(g)) && performance.now() < deadline)
      await sleep(WAIT_POLL_MS);
  }

  /** Deletes a group: every node stops its replica (its log stays on disk until the data dir is cleaned). */
  async deleteGroup(id: GroupId): Promise<{ id: GroupId; deleted: boolean }> {
    if (id === CATALOG_GROUP) throw new InvalidGroupError(id, 'the catalog cannot be deleted');
    // Keys and entity ids still route to a shard: deleting it would lose them on every call.
    for (const set of this.catalog.shards.values()) {
      const at = id.lastIndexOf(':');
      const n = Number(id.slice(at + 1));
      if (id.slice(0, at) === set.prefix && Number.isSafeInteger(n) && n >= 0 && n < set.count)
        throw new InvalidGroupError(
          id,
          `shard ${n} of the shard set ${set.prefix} (${set.count} shards): keys route to it, so it cannot be deleted`,
        );
    }
    const result = await this.calls.execute(CatalogMachine, CATALOG_GROUP, 'deleteGroup', { id });
    return { id, deleted: result.changed };
  }

  /**
   * Moves `group`'s leadership to node `to` and waits (bounded by the request timeout) until this node sees it
   * there. Refused at once for a group or node that does not exist, or a node that is not a voter of it.
   */
  async transferLeader(
    group: GroupId,
    to: NodeId,
  ): Promise<{ group: GroupId; from: NodeId; to: NodeId; term: number; ms: number }> {
    const handle = this.replicas.get(group);
    if (handle === undefined) throw new UnknownGroupError(group);
    if (!this.catalog.nodes.has(to))
      throw new InvalidNodeError(to, 'not-member', 'no such node in the cluster');
    const started = performance.now();
    const from = handle.leaderId;
    if (from !== to) await this.executor.transferLeader(group, to);
    const timeoutMs = this.config.node.requestTimeoutMs;
    while (handle.leaderId !== to) {
      if (performance.now() - started > timeoutMs)
        throw new RequestTimeoutError(
          group,
          timeoutMs,
          `leadership did not reach node ${to} (leader: ${handle.leaderId})`,
        );
      await sleep(WAIT_POLL_MS);
    }
    return { group, from, to, term: handle.term, ms: Math.round(performance.now() - started) };
  }

  changeMembership(group: GroupId, change: ConfChange): Promise<unknown> {
    return this.executor.changeMembership(group, change);
  }

  /** Every local replica's full status (asked of the replicas, in parallel). */
  async replicaStatuses(): Promise<ReplicaStatus[]> {
    const statuses = await Promise.all(
      [...this.replicas.values()].map((g) => g.status().catch(() => undefined)),
    );
    return statuses.filter((s): s is ReplicaStatus => s !== undefined);
  }

  async groupStatuses(): Promise<GroupStatusView[]> {
    return (await this.replicaStatuses()).map(view);
  }

  /** A plain view of the catalog. */
  catalogView() {
    return catalogView(this.catalog);
  }

  /**
   * Graceful shutdown: hands leadership of every group this node leads to the most caught-up voter, waits
   * (bounded) for the handover, then stops leader-only actors, replicas, host threads and links.
   */
  async stop(options: { transferLeadership?: boolean; transferWaitMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    await this.balancer.stop();
    if ((options.transferLeadership ?? true) && this.system && this.config.cluster)
      await this.handOverLeadership(options.transferWaitMs ?? 2_000);
    this.stopped = true;
    this.watches.close(new NodeStoppedError(this.id));
    await this.leaderActors.stopAll();
    await this.reconciling;
    this.rpc.stop();
    await this.system?.shutdown();
    await this.options.transport.stop();
  }

  private async handOverLeadership(waitMs: number): Promise<void> {
    const led = [...this.replicas.values()].filter((g) => g.isLeader);
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
    while (led.some((g) => g.isLeader) && performance.now() < deadline) await sleep(WAIT_POLL_MS);
    const kept = led.filter((g) => g.isLeader).map((g) => g.id);
    this.log[kept.length > 0 ? 'warn' : 'info'](
      {
        led: led.length,
        transferred: led.length - kept.length,
        kept,
        waitMs: waitMs,
        ms: Math.round(performance.now() - started),
      },
      kept.length > 0
        ? `leadership handed over before stopping, except ${kept.length} groups still led after ${waitMs} ms (node.shutdown_transfer_ms)`
        : 'leadership handed over before stopping',
    );
  }
}

function view(s: ReplicaStatus): GroupStatusView {
  return {
    id: s.group,
    kind: s.kind,
    role: s.role,
    term: s.term,
    leaderId: s.leaderId,
    commitIndex: s.commitIndex,
    appliedIndex: s.appliedIndex,
    firstIndex: s.firstIndex,
    lastIndex: s.lastIndex,
    voters: s.confState.voters,
    learners: s.confState.learners,
    outcomeHash: s.outcomeHash.hash,
    followerLagMax:
      s.role === 'leader'
        ? Math.max(0, ...s.progress.filter((p) => p.id !== s.id).map((p) => s.lastIndex - p.matchIndex))
        : null,
  };
}
