/**
 * Bounded waiting: deadlines, capped exponential backoff with jitter, and promise timeouts.
 * Every retry loop in the node uses these, with its bounds from configuration.
 */
import type { GroupId } from '@flotilla/core';
import { RequestTimeoutError } from './errors.ts';

export interface BackoffSettings {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** Delay before retry number `attempt` (0-based): base·2^attempt capped at max, with ±50% jitter. */
export function backoffMs(settings: BackoffSettings, attempt: number): number {
  const capped = Math.min(settings.maxMs, settings.baseMs * 2 ** Math.min(attempt, 20));
  return Math.max(1, Math.round(capped * (0.5 + Math.random())));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Races `promise` against a timer; the timer never outlives the race. */
export function withTimeout<T>(
  promise: Promise<T>,
  timeoutMs: number,
  group: GroupId,
  what: string,
): Promise<T> {
  if (timeoutMs <= 0) {
    void promise.catch(() => {});
    return Promise.reject(new RequestTimeoutError(group, 0, what));
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RequestTimeoutError(group, timeoutMs, what)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
