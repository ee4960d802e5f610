/**
 * Starting a node process from its configuration: storage, peer links (WsTransport), the cluster node or the
 * standalone executor, the client API and the admin endpoint — and stopping them in the reverse order.
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { GroupId, NodeId } from '@flotilla/core';
import { InvalidConfigError } from '@flotilla/core';
import { openStorage } from '@flotilla/storage-lmdb';
import { WsTransport } from '@flotilla/transport-ws';
import { AdminServer } from './admin.ts';
import type { Topology } from './api-protocol.ts';
import { type ApiBackend, ApiServer } from './api-server.ts';
import type { CatalogNode } from './catalog.ts';
import { ClusterNode } from './cluster-node.ts';
import type { NodeConfig } from './config.ts';
import { DirectExecutor } from './direct-executor.ts';
import type { CommandExecutor } from './executor.ts';
import { FaultyTransport } from './faults.ts';
import { defaultLayout } from './layout.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { releaseLogStore, threadLogStore } from './thread-context.ts';

export interface RunningNode {
  readonly nodeId: NodeId;
  readonly mode: 'cluster' | 'standalone';
  readonly cluster: ClusterNode | undefined;
  readonly executor: CommandExecutor;
  readonly api: ApiServer;
  readonly admin: AdminServer;
  status(): unknown;
  stop(): Promise<void>;
}

function split(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) };
}

export async function startNode(
  config: NodeConfig,
  logger: Logger = createLogger({ level: config.node.logLevel }),
): Promise<RunningNode> {
  const log = logger.child({ component: 'cluster', node: config.node.id });
  checkLogEngine(config);
  if (!config.cluster)
    return startStandalone(
      config,
      await openStorage({ path: config.node.dataDir, nodeId: config.node.id }),
      log,
    );
  // Opened here first so that a directory of another node or format fails the start with a clear error.
  await threadLogStore(config.node.dataDir, config.node.id, config.storage);
  const { host, port } = split(config.node.rpc);
  const scheme = config.security.tls ? 'wss' : 'ws';
  const tls = config.security.tls;
  const transport = new WsTransport({
    nodeId: config.node.id,
    host,
    port,
    clusterSecret: config.security.secret,
    // Idle (quiesced) groups learn of a dead or frozen peer from the link's liveness: keep it prompt.
    pingIntervalMs: 250,
    logger,
    ...(tls ? { tls: { certFile: tls.cert, keyFile: tls.key, caFile: tls.ca } } : {}),
  });
  const faulty = config.testing.faultInjection ? new FaultyTransport(transport) : undefined;
  const cluster = new ClusterNode({
    config,
    transport: faulty ?? transport,
    logger,
    peers: {
      setPeer: (id, rpc) => (rpc ? transport.addPeer(id, `${scheme}://${rpc}`) : transport.removePeer(id)),
    },
  });
  await cluster.start();
  const status = async () => ({
    nodeId: config.node.id,
    mode: 'cluster',
    groups: await cluster.groupStatuses(),
    nodes: [...cluster.catalog.nodes.values()],
    links: transport.linkInfo(),
    transport: transport.stats(),
    counters: cluster.counters,
    api: api.counters,
  });
  const backend: ApiBackend = {
    nodeId: config.node.id,
    executor: cluster.executor,
    status,
    topology: (): Topology => topologyOf(config, cluster),
    addNode: (node: CatalogNode) => cluster.addNode(node),
    removeNode: (id: NodeId) => cluster.removeNode(id),
    transferLeader: (group: GroupId, to: NodeId) => cluster.transferLeader(group, to),
    leaderOf: (group: GroupId) => cluster.groups.get(group)?.leaderId ?? 0,
    createGroup: (id: GroupId) => cluster.createGroup(id),
    deleteGroup: (id: GroupId) => cluster.deleteGroup(id),
    ...(faulty
      ? {
          injectActorFault: (group: GroupId, kind: 'crash-actor' | 'exit-thread') =>
            cluster.injectActorFault(group, kind),
          injectFaults: (peers: readonly NodeId[]) => {
            faulty.block(peers);
            return { blocked: faulty.blockedPeers };
          },
        }
      : {}),
  };
  const api = await ApiServer.listen(backend, { ...split(config.node.api), logger: log });
  const metrics = createMetrics({ node: cluster, transport: () => flatten(transport.stats()) });
  const admin = await AdminServer.listen(
    { status, metrics },
    split(config.node.admin).host,
    split(config.node.admin).port,
  );
  log.info({ api: api.address, admin: admin.address, rpc: transport.url }, 'node started');
  return {
    nodeId: config.node.id,
    mode: 'cluster',
    cluster,
    executor: cluster.executor,
    api,
    admin,
    status,
    async stop() {
      await api.close();
      await cluster.stop();
      await admin.close();
      await releaseLogStore(config.node.dataDir);
    },
  };
}

/** A data directory keeps the log engine it was created with; switching would silently lose the logs. */
function checkLogEngine(config: NodeConfig): void {
  const dir = config.node.dataDir;
  const engine = config.storage.log;
  if (config.cluster && engine === 'lmdb' && existsSync(join(dir, 'wal'))) {
    throw new InvalidConfigError(
      'storage.log',
      `${dir} holds a WAL log; keep storage.log = 'wal' for this directory`,
    );
  }
  if (
    config.cluster &&
    engine === 'wal' &&
    existsSync(join(dir, 'data.mdb')) &&
    !existsSync(join(dir, 'wal'))
  ) {
    throw new InvalidConfigError(
      'storage.log',
      `${dir} holds LMDB logs; keep storage.log = 'lmdb' for this directory`,
    );
  }
}

async function startStandalone(
  config: NodeConfig,
  storage: Awaited<ReturnType<typeof openStorage>>,
  log: Logger,
): Promise<RunningNode> {
  const layout = defaultLayout(config.sharding);
  const executor = new DirectExecutor(storage, layout);
  const status = () => ({
    nodeId: config.node.id,
    mode: 'standalone',
    groups: executor.groups().map((id) => ({
      id,
      role: 'standalone',
      term: 0,
      leaderId: config.node.id,
      commitIndex: 0,
      appliedIndex: 0,
      voters: [config.node.id],
    })),
  });
  const topology = (): Topology => ({
    nodeId: config.node.id,
    userShards: config.sharding.userShards,
    leaders: Object.fromEntries(executor.groups().map((g) => [g, config.node.id])),
    nodes: { [String(config.node.id)]: config.node.api },
  });
  const api = await ApiServer.listen(
    { nodeId: config.node.id, executor, status, topology },
    { ...split(config.node.api), logger: log },
  );
  const admin = await AdminServer.listen(
    { status, metrics: undefined },
    split(config.node.admin).host,
    split(config.node.admin).port,
  );
  log.info({ api: api.address, admin: admin.address }, 'standalone node started');
  return {
    nodeId: config.node.id,
    mode: 'standalone',
    cluster: undefined,
    executor,
    api,
    admin,
    status,
    async stop() {
      await api.close();
      await admin.close();
      await storage.close();
    },
  };
}

function topologyOf(config: NodeConfig, cluster: ClusterNode): Topology {
  const leaders: Record<string, number> = {};
  for (const g of cluster.groups.values()) leaders[g.id] = g.leaderId;
  const nodes: Record<string, string> = {};
  for (const n of cluster.catalog.nodes.values()) nodes[String(n.id)] = n.api;
  if (!nodes[String(config.node.id)]) nodes[String(config.node.id)] = config.node.api;
  return { nodeId: config.node.id, userShards: config.sharding.userShards, leaders, nodes };
}

function flatten(stats: object, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(stats)) {
    if (typeof v === 'number') out[prefix + k] = v;
    else if (v && typeof v === 'object') Object.assign(out, flatten(v, `${prefix}${k}_`));
  }
  return out;
}
