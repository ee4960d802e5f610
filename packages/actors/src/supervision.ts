/**
 * Supervisor strategies (one-for-one, one-for-all, rest-for-one), restart intensity and backoff, as pure data
 * and pure functions; the cells apply them (failure.ts). Defaults follow OTP: at most 1 restart per 5 s.
 */
import { SpawnError } from './errors.ts';

export type SupervisorKind = 'one-for-one' | 'one-for-all' | 'rest-for-one';

/** What a supervisor does with a failed child. `resume` keeps the instance and its state. */
export type Directive = 'restart' | 'stop' | 'resume' | 'escalate';

/** Restart delay: `minMs * 2^(attempt-1)` capped at `maxMs`, times a random factor in `1 ± jitter`. */
export interface Backoff {
  readonly minMs: number;
  readonly maxMs: number;
  readonly jitter: number;
}

/** The data part of a strategy; it crosses threads (system options configure each host's supervisor). */
export interface StrategySettings {
  readonly kind: SupervisorKind;
  /** Past `maxRestarts` restarts of one child within `withinMs`, the failure escalates to the parent. */
  readonly maxRestarts: number;
  readonly withinMs: number;
  readonly backoff: Backoff;
}

export interface SupervisorStrategy extends StrategySettings {
  /** Picks the directive per error; default: restart, except `SpawnError` (a missing class) which stops. */
  readonly decide?: (error: unknown) => Directive;
}

export interface StrategyOptions {
  readonly maxRestarts?: number;
  readonly withinMs?: number;
  readonly backoff?: Partial<Backoff>;
  readonly decide?: (error: unknown) => Directive;
}

export const DEFAULT_BACKOFF: Backoff = { minMs: 100, maxMs: 10_000, jitter: 0.2 };
export const DEFAULT_MAX_RESTARTS = 1;
export const DEFAULT_WITHIN_MS = 5_000;

function strategy(kind: SupervisorKind, options: StrategyOptions): SupervisorStrategy {
  const settings: StrategySettings = {
    kind,
    maxRestarts: options.maxRestarts ?? DEFAULT_MAX_RESTARTS,
    withinMs: options.withinMs ?? DEFAULT_WITHIN_MS,
    backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
  };
  validateStrategy(settings);
  return options.decide === undefined ? settings : { ...settings, decide: options.decide };
}

/** Restart only the child that failed. */
export function oneForOne(options: StrategyOptions = {}): SupervisorStrategy {
  return strategy('one-for-one', options);
}

/** Restart every child when one fails (children that only make sense together). */
export function oneForAll(options: StrategyOptions = {}): SupervisorStrategy {
  return strategy('one-for-all', options);
}

/** Restart the failed child and every child spawned after it (later children depend on earlier ones). */
export function restForOne(options: StrategyOptions = {}): SupervisorStrategy {
  return strategy('rest-for-one', options);
}

export function validateStrategy(s: StrategySettings): void {
  if (!Number.isInteger(s.maxRestarts) || s.maxRestarts < 0)
    throw new RangeError(`maxRestarts ${s.maxRestarts}`);
  if (!(s.withinMs > 0)) throw new RangeError(`withinMs ${s.withinMs}`);
  if (!(s.backoff.minMs >= 0) || !(s.backoff.maxMs >= s.backoff.minMs)) {
    throw new RangeError(`backoff ${s.backoff.minMs}..${s.backoff.maxMs} ms`);
  }
  if (!(s.backoff.jitter >= 0 && s.backoff.jitter <= 1)) throw new RangeError(`jitter ${s.backoff.jitter}`);
}

export function decideDirective(s: SupervisorStrategy, error: unknown): Directive {
  if (s.decide !== undefined) return s.decide(error);
  return error instanceof SpawnError ? 'stop' : 'restart';
}

/**
 * Records a restart in `log` (timestamps of recent restarts of one child) if the intensity allows it.
 * Returns the attempt number within the window (1 = first), or 0 when the limit is reached (escalate).
 */
export function admitRestart(log: number[], nowMs: number, s: StrategySettings): number {
  const horizon = nowMs - s.withinMs;
  while (log.length > 0 && log[0]! <= horizon) log.shift();
  if (log.length >= s.maxRestarts) return 0;
  log.push(nowMs);
  return log.length;
}

export function backoffDelayMs(b: Backoff, attempt: number, random: () => number): number {
  const base = Math.min(b.maxMs, b.minMs * 2 ** Math.max(0, attempt - 1));
  const factor = 1 + b.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base * factor));
}
