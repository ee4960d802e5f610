/**
 * Logging: one pino logger per thread; modules take child loggers bound with `{component, node, group}`
 * (components `raft`, `cluster`, `meta`, `shard`). Tests pass `silentLogger()`.
 */
import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({ level: options.level ?? 'info', ...(options.name ? { name: options.name } : {}) });
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
