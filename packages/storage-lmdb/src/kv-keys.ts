/**
 * Keys of store machines and their order: tuples of strings and numbers compared element by element (as
 * LMDB's ordered-binary encoding sorts them), one id string per key for hash lookups, and the overlay of
 * pending writes on a sorted range of LMDB entries.
 */
import { compareKeys } from 'lmdb';

/** Keys of the state machine: a string, a number, or a tuple of them (ordered element by element). */
export type KvKey = string | number | readonly (string | number)[];

/** A range of keys: `start <= key < end`, in key order (or reversed), at most `limit` entries. */
export interface KvRange {
  readonly start?: KvKey;
  readonly end?: KvKey;
  readonly limit?: number;
  readonly reverse?: boolean;
}

/** Separates the parts of a tuple key's id (a part holding it falls back to JSON). */
const PART = '\u0001';

/**
 * One string per key, so that `'1'`, `1` and `['1']` are three keys (as they are in LMDB). Hot: every read
 * and write of a store machine computes one, so tuples are joined rather than serialized.
 */
export function keyId(key: KvKey): string {
  if (typeof key === 'string') return `s${key}`;
  if (typeof key === 'number') return `n${key}`;
  let id = 't';
  for (const part of key) {
    if (typeof part === 'number') id += `${PART}#${part}`;
    else if (part.includes(PART)) return `j${JSON.stringify(key)}`;
    else id += `${PART}${part}`;
  }
  return id;
}

export function parts(key: KvKey): readonly (string | number)[] {
  return typeof key === 'object' ? key : [key];
}

/** Key order as LMDB has it (tuples element by element). */
export function compareKvKeys(a: KvKey, b: KvKey): number {
  return compareKeys(parts(a) as never, parts(b) as never);
}

export function inRange(key: KvKey, range: KvRange): boolean {
  if (range.start !== undefined && compareKvKeys(key, range.start) < 0) return false;
  if (range.end !== undefined && compareKvKeys(key, range.end) >= 0) return false;
  return true;
}

/**
 * `base` (sorted as asked) with `changes` laid over it: a change replaces or deletes the base entry of the
 * same key, and inserts a new one in order. `changes` holds only keys in the range.
 */
export function* overlay(
  base: Iterable<{ key: KvKey; value: Uint8Array }>,
  changes: readonly { key: KvKey; value: Uint8Array | null }[],
  range: KvRange,
): Generator<{ key: KvKey; value: Uint8Array }> {
  const sign = range.reverse ? -1 : 1;
  const sorted = [...changes].sort((a, b) => sign * compareKvKeys(a.key, b.key));
  const changed = new Set(sorted.map((c) => keyId(c.key)));
  let next = 0;
  let left = range.limit ?? Number.POSITIVE_INFINITY;
  if (left <= 0) return;
  for (const entry of base) {
    while (next < sorted.length && sign * compareKvKeys(sorted[next]!.key, entry.key) < 0) {
      const c = sorted[next++]!;
      if (c.value !== null) {
        yield { key: c.key, value: c.value };
        if (--left <= 0) return;
      }
    }
    if (changed.has(keyId(entry.key))) continue;
    yield entry;
    if (--left <= 0) return;
  }
  for (; next < sorted.length; next++) {
    const c = sorted[next]!;
    if (c.value === null) continue;
    yield { key: c.key, value: c.value };
    if (--left <= 0) return;
  }
}
