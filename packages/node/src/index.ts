/**
 * @flotilla/node — the multi-Raft node: groups as replicas driven from LMDB, the replicated catalog, the
 * executor (standalone or Raft, with forwarding), membership, the client API, admin HTTP and the CLI.
 */

export type { Topology } from './api-protocol.ts';
export {
  type CatalogCommand,
  type CatalogNode,
  CatalogStateMachine,
  encodeCatalogCommand,
} from './catalog.ts';
export { type ClientOptions, FlotillaClient } from './client.ts';
export {
  ClusterNode,
  type ClusterNodeOptions,
  type GroupStatusView,
  type PeerDirectory,
} from './cluster-node.ts';
export {
  configFromToml,
  loadConfig,
  type MemberConfig,
  type NodeConfig,
  type RaftSettings,
} from './config.ts';
export { DirectExecutor } from './direct-executor.ts';
export * from './errors.ts';
export type { CommandExecutor, ReadConsistency, RequestOptions } from './executor.ts';
export {
  CATALOG_GROUP,
  type CatalogGroup,
  defaultLayout,
  type GroupKind,
  type GroupSpec,
  userRouter,
} from './layout.ts';
export { createLogger, type Logger, silentLogger } from './logger.ts';
export type { MembershipStatus } from './membership.ts';
export type { GetResult, Query } from './queries.ts';
export { RaftExecutor } from './raft-executor.ts';
export { type RunningNode, startNode } from './start.ts';
