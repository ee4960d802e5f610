/**
 * Bounded retrying, the one loop every caller uses (client, node executor): attempts until the deadline or
 * the attempt limit, capped exponential backoff with jitter between them, and each attempt handed the time
 * left. Whether an error is worth another attempt is the caller's decision.
 */

export interface RetryPolicy {
  /** First backoff; doubles per attempt up to `maxMs` (±50% jitter). */
  readonly baseMs: number;
  readonly maxMs: number;
  /** Attempts in all, besides the time bound. */
  readonly attemptsMax: number;
}

/** Delay before retry number `attempt` (0-based): base·2^attempt capped at max, with ±50% jitter. */
export function backoffMs(policy: Pick<RetryPolicy, 'baseMs' | 'maxMs'>, attempt: number): number {
  const capped = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 20));
  return Math.max(1, Math.round(capped * (0.5 + Math.random())));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `attempt(n, remainingMs)` until it resolves. After a rejection `retry(error, n)` decides; the loop
 * also stops (rethrowing the last error) at `deadline` (performance.now() ms) or after `attemptsMax`.
 */
export async function retrying<T>(
  deadline: number,
  policy: RetryPolicy,
  attempt: (n: number, remainingMs: number) => Promise<T>,
  retry: (error: unknown, n: number) => boolean,
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt(n, Math.max(1, deadline - performance.now()));
    } catch (error) {
      if (!retry(error, n) || n + 1 >= policy.attemptsMax || performance.now() + 1 >= deadline) throw error;
      await sleep(Math.min(backoffMs(policy, n), Math.max(1, deadline - performance.now())));
    }
  }
}
