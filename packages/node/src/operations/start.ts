/**
 * Starting a node process from its configuration: the application's registry, the peer links (WsTransport;
 * none in standalone mode), the node, the client API and the admin endpoint (status, cluster view, dashboard
 * and its calls) — and stopping them in the reverse order. Standalone mode (no `[cluster]`) runs the same
 * engine as a cluster of one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Topology } from '@flotilla/app';
import { type GroupId, InvalidConfigError, type NodeId, type Transport } from '@flotilla/core';
import { WsTransport } from '@flotilla/transport-ws';
import { AdminServer } from '../api/admin.ts';
import { adminCalls } from '../api/admin-call.ts';
import { ApiAuth } from '../api/api-auth.ts';
import { type ApiBackend, ApiServer } from '../api/api-server.ts';
import { clusterView } from '../api/cluster-view.ts';
import { createMetrics } from '../api/metrics.ts';
import type { CatalogNode } from '../cluster/catalog.ts';
import { NoPeersTransport } from '../cluster/no-peers.ts';
import { FlotillaNode, type PeerDirectory } from '../cluster/node.ts';
import { connectRemoteActors, type RemoteActors } from '../execution/remote-actors.ts';
import { loadRegistry } from '../machines/registry.ts';
import { releaseLogStore, threadLogStore } from '../replicas/thread-storage.ts';
import type { NodeConfig } from './config.ts';
import { FaultyTransport } from './faults.ts';
import { createLogger, type Logger } from './logger.ts';

export interface RunningNode {
  readonly nodeId: NodeId;
  readonly mode: 'cluster' | 'standalone';
  readonly node: FlotillaNode;
  readonly api: ApiServer;
  readonly admin: AdminServer;
  status(): Promise<unknown>;
  /** Resolves when a peer says this node was removed from the cluster (then stop it: it serves nothing more). */
  readonly removed: Promise<void>;
  stop(): Promise<void>;
}

/** Liveness ping of the peer links: idle (quiesced) groups learn of a dead peer from it. */
const PEER_PING_INTERVAL_MS = 250;

/** True for addresses only this host can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function split(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) };
}

interface Links {
  readonly transport: Transport;
  readonly peers: PeerDirectory;
  readonly ws: WsTransport | undefined;
  readonly faulty: FaultyTransport | undefined;
}

function links(config: NodeConfig, logger: Logger): Links {
  if (!config.cluster)
    return {
      transport: new NoPeersTransport(),
      peers: { setPeer: () => {} },
      ws: undefined,
      faulty: undefined,
    };
  const { host, port } = split(config.node.rpc);
  const tls = config.security.tls;
  const scheme = tls ? 'wss' : 'ws';
  const ws = new WsTransport({
    nodeId: config.node.id,
    host,
    port,
    clusterSecret: config.security.secret,
    pingIntervalMs: PEER_PING_INTERVAL_MS,
    logger,
    ...(tls ? { tls: { certFile: tls.cert, keyFile: tls.key, caFile: tls.ca } } : {}),
  });
  const faulty = config.testing.faultInjection ? new FaultyTransport(ws) : undefined;
  return {
    transport: faulty ?? ws,
    peers: { setPeer: (id, rpc) => (rpc ? ws.addPeer(id, `${scheme}://${rpc}`) : ws.removePeer(id)) },
    ws,
    faulty,
  };
}

export async function startNode(
  config: NodeConfig,
  logger: Logger = createLogger({ level: config.node.logLevel }),
): Promise<RunningNode> {
  const log = logger.child({ component: 'cluster', node: config.node.id });
  checkLogEngine(config);
  const registry = await loadRegistry(config.app, config.machines.kvState);
  // Opened here first so that a directory of another node or format fails the start with a clear error.
  await threadLogStore(config.node.dataDir, config.node.id, config.storage, config.machines.stateCommitMs);
  const { transport, peers, ws, faulty } = links(config, logger);
  const node = new FlotillaNode({
    config,
    transport,
    peers,
    logger,
    registry,
    app: config.app,
    layout: config.layout,
  });
  await node.start();
  const remote: RemoteActors | undefined = ws
    ? connectRemoteActors(node, transport, { linkUp: (peer) => linkUp(ws, faulty, peer) })
    : undefined;
  const mode = config.cluster ? 'cluster' : 'standalone';
  const status = async () => ({
    nodeId: config.node.id,
    mode,
    kinds: registry.kinds,
    groups: await node.groupStatuses(),
    refused: [...node.refused.values()],
    alarms: [
      ...node.divergences.map((d) => ({ type: 'divergence', ...d })),
      ...node.storageFailures.map((f) => ({ type: 'storage', ...f })),
    ],
    leaderActors: Object.fromEntries(node.leaderActorsRunning),
    nodes: [...node.catalog.nodes.values()],
    links: ws?.linkInfo() ?? [],
    transport: ws?.stats(),
    remoteActors: remote?.stats(),
    counters: node.counters,
    api: api.counters,
    watches: { ...node.watches.counters, groups: node.watches.stats().filter((g) => g.watchers > 0) },
  });
  const backend: ApiBackend = {
    nodeId: config.node.id,
    calls: node.executor,
    status,
    topology: (): Topology => topologyOf(config, node, api.address),
    leaderOf: (group: GroupId) => node.replicas.get(group)?.leaderId ?? 0,
    transferLeader: (group: GroupId, to: NodeId) => node.transferLeader(group, to),
    createGroup: (id: GroupId, kind: string) => node.createGroup(id, kind),
    createShards: (prefix: string, count: number, kind: string) => node.createShards(prefix, count, kind),
    deleteGroup: (id: GroupId) => node.deleteGroup(id),
    watch: (group, filter, fromRevision, progressMs, sink) =>
      node.watches.watch(group, filter, fromRevision, progressMs, sink),
    ...(config.cluster
      ? {
          addNode: (n: CatalogNode) => node.addNode(n),
          removeNode: (id: NodeId) => node.removeNode(id),
        }
      : {}),
    ...(faulty
      ? {
          injectActorFault: (group: GroupId, kind: 'crash-actor' | 'exit-thread' | 'fail-storage') =>
            node.injectActorFault(group, kind),
          injectFaults: (blocked: readonly NodeId[]) => {
            faulty.block(blocked);
            return { blocked: faulty.blockedPeers };
          },
        }
      : {}),
  };
  const auth = new ApiAuth(config.security.clients);
  const apiAddress = split(config.node.api);
  if (auth.open) {
    // Anyone who reaches an open API may remove nodes and delete groups: keep it on this host.
    const moved = !isLoopback(apiAddress.host);
    if (moved) apiAddress.host = '127.0.0.1';
    log[moved ? 'warn' : 'info'](
      { api: `${apiAddress.host}:${apiAddress.port}`, configured: config.node.api },
      'client API: no [[security.clients]] configured, so it listens on loopback only and every connection may do everything',
    );
  }
  const api = await ApiServer.listen(backend, {
    ...apiAddress,
    watchBufferBytesMax: config.watch.bufferBytesMax,
    auth,
    ...(config.security.tls ? { tls: { cert: config.security.tls.cert, key: config.security.tls.key } } : {}),
    logger: log,
  });
  node.statusSource = status; // peers ask for it (the admin's cluster view); it reads the API's counters
  const metrics = createMetrics({
    node,
    transport: () => (ws ? flatten(ws.stats()) : {}),
    app: { definition: registry.app, calls: node.executor },
  });
  const admin = await AdminServer.listen(
    {
      status,
      metrics,
      cluster: () =>
        clusterView({
          self: config.node.id,
          status,
          members: () => membersOf(config, node),
          statusOf: (id, timeoutMs) => node.rpc.call(id, { type: 'status' }, timeoutMs),
        }),
      tabs: registry.app.dashboard,
      call: adminCalls(registry, node.executor),
    },
    split(config.node.admin).host,
    split(config.node.admin).port,
  );
  log.info({ api: api.address, admin: admin.address, rpc: ws?.url, mode }, 'node started');
  let stopping: Promise<void> | undefined;
  const running: RunningNode = {
    nodeId: config.node.id,
    mode,
    node,
    api,
    admin,
    status,
    removed: new Promise<void>((resolve) => {
      node.onRemoved = () => resolve();
    }),
    stop() {
      stopping ??= (async () => {
        await api.close();
        // A removed node has nothing to hand over: its peers no longer count it.
        await node.stop({
          transferLeadership: !node.removed,
          transferWaitMs: config.node.shutdownTransferMs,
        });
        await admin.close();
        await releaseLogStore(config.node.dataDir);
      })();
      return stopping;
    },
  };
  return running;
}

/** The link to `peer` is open and not cut by fault injection (a broken link makes its actors unreachable). */
function linkUp(ws: WsTransport, faulty: FaultyTransport | undefined, peer: NodeId): boolean {
  if (faulty?.blockedPeers.includes(peer)) return false;
  return ws.linkInfo().some((l) => l.peer === peer && l.state === 'open');
}

/** A data directory keeps the log engine it was created with; switching would silently lose the logs. */
function checkLogEngine(config: NodeConfig): void {
  const dir = config.node.dataDir;
  const engine = config.storage.log;
  if (engine === 'lmdb' && existsSync(join(dir, 'wal'))) {
    throw new InvalidConfigError(
      'storage.log',
      `${dir} holds a WAL log; keep storage.log = 'wal' for this directory`,
    );
  }
}

/** The members: the catalog's nodes, or the configured founders until the catalog has them. */
function membersOf(config: NodeConfig, node: FlotillaNode): NodeId[] {
  const catalog = [...node.catalog.nodes.keys()];
  return catalog.length > 0 ? catalog : (config.cluster?.members.map((m) => m.id) ?? []);
}

/** `selfApi`: where this node's API really listens (its configured port may be 0, or its host moved to loopback). */
function topologyOf(config: NodeConfig, node: FlotillaNode, selfApi: string): Topology {
  const catalog = node.catalog;
  const leaders: Record<string, number> = {};
  for (const g of node.replicas.values()) leaders[g.id] = g.leaderId;
  const groups: Record<string, string> = {};
  for (const g of catalog.groups.values()) groups[g.id] = g.kind;
  const nodes: Record<string, string> = {};
  for (const n of catalog.nodes.values()) nodes[String(n.id)] = n.api;
  const self = String(config.node.id);
  const configured = nodes[self] ?? config.node.api;
  nodes[self] = configured.endsWith(':0') || config.cluster === undefined ? selfApi : configured;
  return {
    nodeId: config.node.id,
    nodes,
    groups,
    leaders,
    shards: [...catalog.shards.values()],
    ready: node.ready,
  };
}

function flatten(stats: object, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(stats)) {
    if (typeof v === 'number') out[prefix + k] = v;
    else if (v && typeof v === 'object') Object.assign(out, flatten(v, `${prefix}${k}_`));
  }
  return out;
}
