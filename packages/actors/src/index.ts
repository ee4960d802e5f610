/**
 * @flotilla/actors — typed actors with bounded mailboxes on piscina host threads, supervision trees, death
 * watch, asks with timeouts, refs that work across nodes, and a testkit that runs the same actors in virtual time.
 */

export type { ActorSystemOptions, LogLevel, RestartIntensity } from './config.ts';
export type {
  ActorContext,
  AskOptions,
  ChildOptions,
  ChildOptionsBase,
  OptionsArgs,
  PropsOption,
} from './context.ts';
export * from './errors.ts';
export type { DeadLetter, DeadLetterReason, SystemEvent } from './events.ts';
export { Stream } from './events.ts';
export type { Logger } from './logger.ts';
export { silentLogger } from './logger.ts';
export type { NodeBridge, NodeLinks, NodeLinksStats } from './nodes.ts';
export type {
  Actor,
  ActorKind,
  ActorRef,
  AnyActorClass,
  AnyActorRef,
  Ask,
  AskableOf,
  Message,
  PendingReply,
  PropsOf,
  ProtocolOf,
  ReplyFor,
  ReplyOf,
  Terminated,
} from './protocol.ts';
export { actorKind } from './protocol.ts';
export { seededRandom } from './random.ts';
export {
  type Backoff,
  DEFAULT_BACKOFF,
  type Directive,
  oneForAll,
  oneForOne,
  restForOne,
  type StrategyOptions,
  type StrategySettings,
  type SupervisorKind,
  type SupervisorStrategy,
} from './supervision.ts';
export { ActorSystem, type Placement, type SpawnOptions, type SystemStats } from './system.ts';
export { TestKit, type TestKitOptions, TestProbe } from './testkit.ts';
export type { Ticker, Timers } from './timers.ts';
