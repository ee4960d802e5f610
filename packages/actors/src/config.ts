/**
 * Options of an actor system, their defaults and validation, and the serializable part each host thread
 * receives. Every queue, batch and retry has its bound here, named with its unit last.
 */
import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import { InvalidConfigError } from '@flotilla/core';
import type { Logger } from './logger.ts';
import { silentLogger } from './logger.ts';
import {
  type Backoff,
  DEFAULT_BACKOFF,
  oneForOne,
  type StrategySettings,
  validateStrategy,
} from './supervision.ts';

/** How often a thread may be restarted (host deaths and host-supervisor restarts) before the system fails. */
export interface RestartIntensity {
  readonly maxRestarts: number;
  readonly withinMs: number;
  readonly backoff: Backoff;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface ActorSystemOptions {
  /** Host threads (M). Default: cores − 1, at least 1. 0 runs every actor on the main thread (no worker). */
  readonly hosts?: number;
  /** Default mailbox capacity of an actor (4096); spawn options override it per actor. */
  readonly mailboxCapacity?: number;
  /** Default `ask` timeout (5000 ms). */
  readonly askTimeoutMs?: number;
  /** Asks one thread may wait on at once; past it `ask` rejects with `TooManyAsksError` (65536). */
  readonly asksPendingMax?: number;
  /** Strategy of each thread's supervisor (over top-level actors) and of actors that declare none. */
  readonly supervision?: StrategySettings;
  /** Restart intensity of host threads (default 1 per 5 s, as OTP); past it the system fails and stops. */
  readonly hostRestarts?: RestartIntensity;
  /**
   * A host not up within this time counts as failed at bootstrap and its pool is rebuilt (15000 ms); a pool
   * left without workers is detected sooner, by its thread count.
   */
  readonly hostStartTimeoutMs?: number;
  /** Bound on a main → host request: spawn, stop, reset (10000 ms). */
  readonly requestTimeoutMs?: number;
  /** Shutdown: time allowed for mailboxes to drain before actors are stopped (2000 ms). */
  readonly drainTimeoutMs?: number;
  /** Shutdown: time allowed for actors to stop and host tasks to end before threads are terminated (5000 ms). */
  readonly stopTimeoutMs?: number;
  /** Messages one actor handles before the dispatcher moves to the next (64). */
  readonly throughputPerActor?: number;
  /** Messages a thread handles per event-loop turn before it yields to I/O (10000). */
  readonly dispatchBudgetMessages?: number;
  /** Messages in one cross-thread batch; a fuller outbox is sent at once (4096). */
  readonly batchMessagesMax?: number;
  /** Period of each thread's shared ticker (100 ms). */
  readonly tickIntervalMs?: number;
  /** Dead letters a host forwards to the main thread per turn; the rest are counted as dropped (1024). */
  readonly deadLettersPerTurnMax?: number;
  /** Worker resource limits (heap sizes); a host past them dies with an out-of-memory error and is replaced. */
  readonly resourceLimits?: ResourceLimits;
  /** Module each host thread imports at bootstrap (hooks, telemetry). */
  readonly hostPreload?: string | URL;
  /** Main-thread logger (pino or compatible); default silent. */
  readonly logger?: Logger;
  /** Host threads log with pino at this level to stderr; default silent. */
  readonly hostLogLevel?: LogLevel;
  /** Random source for backoff jitter (default `Math.random`). */
  readonly random?: () => number;
  /**
   * This process's node id (an integer ≥ 0). With it every ref the system mints names this node, so refs stay
   * valid on other nodes; `connectNodes` needs it.
   */
  readonly nodeId?: number;
  /**
   * Messages (tells, asks, replies, watch frames) queued for one other node in one event-loop turn; past it a
   * tell is a dead letter (`outbox-full`) and an ask rejects with `NodeUnreachableError` (65536).
   */
  readonly remoteOutboxMessagesMax?: number;
}

/** What every host thread is told at start (plain data: it crosses postMessage). */
export interface HostConfig {
  readonly nodeId: number | undefined;
  readonly mailboxCapacity: number;
  readonly askTimeoutMs: number;
  readonly asksPendingMax: number;
  readonly supervision: StrategySettings;
  readonly throughputPerActor: number;
  readonly dispatchBudgetMessages: number;
  readonly batchMessagesMax: number;
  readonly tickIntervalMs: number;
  readonly deadLettersPerTurnMax: number;
  readonly hostLogLevel: LogLevel;
}

export interface SystemSettings extends HostConfig {
  readonly hosts: number;
  readonly hostRestarts: RestartIntensity;
  readonly hostStartTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly resourceLimits: ResourceLimits | undefined;
  readonly hostPreload: string | undefined;
  readonly logger: Logger;
  readonly random: () => number;
  readonly remoteOutboxMessagesMax: number;
}

function positiveInt(key: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new InvalidConfigError(key, `${value} is not an integer ≥ 1`);
  return value;
}

function positiveMs(key: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value))
    throw new InvalidConfigError(key, `${value} is not a duration > 0`);
  return value;
}

export function resolveOptions(options: ActorSystemOptions): SystemSettings {
  const hosts = options.hosts ?? Math.max(1, availableParallelism() - 1);
  if (!Number.isInteger(hosts) || hosts < 0)
    throw new InvalidConfigError('hosts', `${hosts} is not an integer ≥ 0`);
  const supervision = options.supervision ?? oneForOne();
  const hostRestarts = options.hostRestarts ?? { maxRestarts: 1, withinMs: 5_000, backoff: DEFAULT_BACKOFF };
  try {
    validateStrategy(supervision);
    validateStrategy({ kind: 'one-for-one', ...hostRestarts });
  } catch (error) {
    throw new InvalidConfigError('supervision', (error as Error).message);
  }
  const preload = options.hostPreload;
  const nodeId = options.nodeId;
  if (nodeId !== undefined && !(Number.isSafeInteger(nodeId) && nodeId >= 0))
    throw new InvalidConfigError('nodeId', `${nodeId} is not an integer ≥ 0`);
  return {
    hosts,
    nodeId,
    mailboxCapacity: positiveInt('mailboxCapacity', options.mailboxCapacity ?? 4096),
    askTimeoutMs: positiveMs('askTimeoutMs', options.askTimeoutMs ?? 5_000),
    asksPendingMax: positiveInt('asksPendingMax', options.asksPendingMax ?? 65_536),
    supervision: {
      kind: supervision.kind,
      maxRestarts: supervision.maxRestarts,
      withinMs: supervision.withinMs,
      backoff: supervision.backoff,
    },
    hostRestarts,
    hostStartTimeoutMs: positiveMs('hostStartTimeoutMs', options.hostStartTimeoutMs ?? 15_000),
    requestTimeoutMs: positiveMs('requestTimeoutMs', options.requestTimeoutMs ?? 10_000),
    drainTimeoutMs: positiveMs('drainTimeoutMs', options.drainTimeoutMs ?? 2_000),
    stopTimeoutMs: positiveMs('stopTimeoutMs', options.stopTimeoutMs ?? 5_000),
    throughputPerActor: positiveInt('throughputPerActor', options.throughputPerActor ?? 64),
    dispatchBudgetMessages: positiveInt('dispatchBudgetMessages', options.dispatchBudgetMessages ?? 10_000),
    batchMessagesMax: positiveInt('batchMessagesMax', options.batchMessagesMax ?? 4096),
    tickIntervalMs: positiveMs('tickIntervalMs', options.tickIntervalMs ?? 100),
    deadLettersPerTurnMax: positiveInt('deadLettersPerTurnMax', options.deadLettersPerTurnMax ?? 1024),
    resourceLimits: options.resourceLimits,
    hostPreload: preload === undefined ? undefined : typeof preload === 'string' ? preload : preload.href,
    logger: options.logger ?? silentLogger,
    hostLogLevel: options.hostLogLevel ?? 'silent',
    random: options.random ?? Math.random,
    remoteOutboxMessagesMax: positiveInt(
      'remoteOutboxMessagesMax',
      options.remoteOutboxMessagesMax ?? 65_536,
    ),
  };
}

export function hostConfigOf(s: SystemSettings): HostConfig {
  return {
    nodeId: s.nodeId,
    mailboxCapacity: s.mailboxCapacity,
    askTimeoutMs: s.askTimeoutMs,
    asksPendingMax: s.asksPendingMax,
    supervision: s.supervision,
    throughputPerActor: s.throughputPerActor,
    dispatchBudgetMessages: s.dispatchBudgetMessages,
    batchMessagesMax: s.batchMessagesMax,
    tickIntervalMs: s.tickIntervalMs,
    deadLettersPerTurnMax: s.deadLettersPerTurnMax,
    hostLogLevel: s.hostLogLevel,
  };
}
