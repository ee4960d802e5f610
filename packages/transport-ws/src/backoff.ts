/**
 * Reconnect delays: capped exponential backoff with jitter, so peers that lost a node do not redial it
 * in lockstep and a node that stays down costs one dial per `reconnectDelayMaxMs`.
 */

export interface BackoffOptions {
  readonly reconnectDelayMinMs: number;
  readonly reconnectDelayMaxMs: number;
  /** Each delay is reduced by `random() * reconnectJitterRatio` of itself. */
  readonly reconnectJitterRatio: number;
}

/** Delay before dial attempt `attempt` (0 = first retry): min · 2^attempt, capped, minus jitter; ≥ 1 ms. */
export function reconnectDelayMs(attempt: number, options: BackoffOptions, random: () => number): number {
  const exponent = Math.min(Math.max(attempt, 0), 30);
  const capped = Math.min(options.reconnectDelayMaxMs, options.reconnectDelayMinMs * 2 ** exponent);
  return Math.max(1, Math.round(capped * (1 - options.reconnectJitterRatio * random())));
}
