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

/** The same range without its limit (a base under an overlay: deleted entries must not eat the limit). */
export function unlimited(range: KvRange): KvRange {
  const { limit: _, ...rest } = range;
  return rest;
}

/**
 * `base` (sorted as asked) with `changes` (sorted likewise, only keys in the range) laid over it, merged
 * lazily: a change replaces or deletes the base entry of the same key and inserts a new one in order. Both
 * are consumed only as far as the caller reads, so a range with a small limit costs what it returns.
 */
export function* overlay(
  base: Iterable<{ key: KvKey; value: Uint8Array }>,
  changes: Iterable<{ readonly key: KvKey; readonly value: Uint8Array | null }>,
  range: KvRange,
): Generator<{ key: KvKey; value: Uint8Array }> {
  const sign = range.reverse ? -1 : 1;
  let left = range.limit ?? Number.POSITIVE_INFINITY;
  if (left <= 0) return;
  const pending = changes[Symbol.iterator]();
  let change = pending.next();
  for (const entry of base) {
    let order = change.done ? 1 : sign * compareKvKeys(change.value.key, entry.key);
    while (!change.done && order < 0) {
      const c = change.value;
      change = pending.next();
      if (c.value !== null) {
        yield { key: c.key, value: c.value };
        if (--left <= 0) return;
      }
      order = change.done ? 1 : sign * compareKvKeys(change.value.key, entry.key);
    }
    if (!change.done && order === 0) {
      // The change stands for this key: its new value, or its deletion.
      const c = change.value;
      change = pending.next();
      if (c.value === null) continue;
      yield { key: c.key, value: c.value };
    } else {
      yield entry;
    }
    if (--left <= 0) return;
  }
  for (; !change.done; change = pending.next()) {
    const c = change.value;
    if (c.value === null) continue;
    yield { key: c.key, value: c.value };
    if (--left <= 0) return;
  }
}
