/**
 * The framework's keys inside a machine's LMDB key space: tuples whose first element starts with `\u0000`,
 * which no application key may (the store refuses them), so the two can never collide.
 */
import type { KvKey } from '@flotilla/storage-lmdb';

export type FrameworkTable =
  /** Session outcomes: [S, client, sequence]. */
  | 'S'
  /** Session clients: [C, client]. */
  | 'C'
  /** Session age index: [A, second, client]. */
  | 'A'
  /** Fencing terms seen per source group: [F, group]. */
  | 'F'
  /** The machine's framework meta (log time, outcome hash): [M]. */
  | 'M';

export function frameworkKey(table: FrameworkTable, ...rest: (string | number)[]): KvKey {
  return [`\u0000${table}`, ...rest];
}

/** True for keys the application may not use. */
export function isReservedKey(key: KvKey): boolean {
  const first = typeof key === 'object' ? key[0] : key;
  return typeof first === 'string' && first.startsWith('\u0000');
}
