/**
 * @flotilla/app — what both sides of a Flotilla application share: the definitions (`defineMachine`,
 * `defineEntity`, `defineApp`) with their schemas, typed calls (`Calls`), the client protocol, routing, and
 * the typed errors with their one wire registry. No server dependency: clients install only this and core.
 */

export {
  FlotillaError,
  InvalidConfigError,
  NotLeaderError,
  PeerUnreachableError,
  ProposalDroppedError,
  TooManyUncommittedError,
} from '@flotilla/core';
export {
  type CallOptions,
  type CallPort,
  Calls,
  type CommandRequest,
  type EntityRef,
  newClientId,
  type QueryOptions,
  type QueryRequest,
  READ_CONSISTENCIES,
  type ReadConsistency,
  type Session,
} from './caller.ts';
export {
  type ActorKindRef,
  type ActorRefData,
  type AppDefinition,
  type AppSpec,
  type DashboardTab,
  defineApp,
  type GroupSelector,
  type GroupSpec,
  isAppDefinition,
  type KindRef,
  kindName,
  type LeaderActorSpec,
  type LeaderProps,
  mergeApps,
  type NodeActorProps,
  type NodeActorSpec,
  type ResolvedSelector,
  type ShardSetSpec,
  selects,
} from './define/app.ts';
export {
  CALL_BYTES_MAX,
  type CheckedCall,
  checkCall,
  decodeCall,
  decodeValue,
  encodeCall,
  encodeValue,
  type OperationType,
} from './define/calls.ts';
export {
  type AnyEntity,
  type Decision,
  defineEntity,
  ENTITY_ID,
  type EntityContext,
  type EntityDefinition,
  type EntityQueryContext,
  type EntitySpec,
} from './define/entity.ts';
export {
  type AnyMachine,
  type ApplyContext,
  type CommandsOf,
  defineMachine,
  type Fence,
  KIND_NAME,
  type MachineDefinition,
  type MachineStore,
  type MemoryState,
  memory,
  operationOf,
  type QueriesOf,
  type QueryContext,
  type StateSpec,
  type StoreKey,
  type StoreState,
  store,
  WATCH_KEY_CHARS_MAX,
} from './define/machine.ts';
export {
  type HistogramSeries,
  METRIC_NAME,
  type MetricLabels,
  type MetricsContext,
  type MetricsHook,
  type MetricsSink,
} from './define/metrics.ts';
export {
  type CallerInputOf,
  type InputOf,
  type Operation,
  type Operations,
  type OutputOf,
  parseWith,
  z,
} from './define/schema.ts';
export * from './errors.ts';
export {
  type Asker,
  GATEWAY_CALL_TIMEOUT_MS,
  type GatewayReply,
  type GatewayRequest,
  gatewayCalls,
} from './gateway.ts';
export { backoffMs, type RetryPolicy, retrying, sleep } from './retry.ts';
export {
  API_ARGS,
  API_OPS,
  type ApiArgs,
  type ApiArgsIn,
  type ApiOp,
  type ApiPush,
  type ApiRequest,
  type ApiResponse,
  decodeRequests,
  decodeResponses,
  encodeRequests,
  encodeResponses,
  FRAME_ITEMS_MAX,
  isPush,
  type OutgoingRequest,
  type RefusedRequest,
  type WatchEvent,
  type WatchItem,
} from './wire/protocol.ts';
export { groupOfTarget, shardSetFor, type Target, type Topology } from './wire/topology.ts';
