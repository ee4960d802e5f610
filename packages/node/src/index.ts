/**
 * @flotilla/node — the multi-Raft node that runs Flotilla applications: replicas of every group as actors
 * (cluster/, replicas/), the machines applications define (machines/), the executor, gateway, leader-only
 * and cross-node actors (execution/), the client API and admin HTTP (api/), config, start and CLI
 * (operations/). Applications define themselves with @flotilla/app and call through @flotilla/client.
 */

export * from '@flotilla/app';
export {
  CATALOG_GROUP,
  type CatalogGroup,
  CatalogMachine,
  type CatalogNode,
  type CatalogView,
} from './cluster/catalog.ts';
export { defaultLayout, type Layout } from './cluster/layout.ts';
export type { MembershipStatus } from './cluster/membership.ts';
export {
  FlotillaNode,
  type GroupStatusView,
  type PeerDirectory,
  type RefusedReplica,
} from './cluster/node.ts';
export { GatewayActor, type GatewayMessage } from './execution/gateway.ts';
export type { LeadershipEvent } from './execution/leader-actors.ts';
export type { DivergenceReport } from './machines/machine-instance.ts';
export type { AppRef } from './machines/registry.ts';
export {
  configFromToml,
  loadConfig,
  type MemberConfig,
  type NodeConfig,
  type RaftSettings,
} from './operations/config.ts';
export { LocalCluster, type LocalClusterOptions } from './operations/local-cluster.ts';
export { createLogger, type Logger, silentLogger } from './operations/logger.ts';
export { type RunningNode, startNode } from './operations/start.ts';
