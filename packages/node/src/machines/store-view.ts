/**
 * The `MachineStore` an application's handlers get: typed values (msgpack) over the LMDB key-value view,
 * reserved framework keys refused, and for `apply` a per-command layer whose writes reach the batch only if
 * the handler returns — a command that throws leaves no trace in the store.
 */
import { decodeValue, encodeValue, type MachineStore, type StoreKey } from '@flotilla/app';
import {
  compareKvKeys,
  type KvKey,
  type KvRange,
  type KvView,
  keyId,
  overlayRange,
  unlimited,
} from '@flotilla/storage-lmdb';
import { isReservedKey } from './store-keys.ts';

function checkKey(key: StoreKey): KvKey {
  if (isReservedKey(key as KvKey))
    throw new RangeError(`store keys starting with \\u0000 are reserved: ${JSON.stringify(key)}`);
  if (typeof key === 'object' && key.length === 0)
    throw new RangeError('a tuple store key needs at least one element');
  return key as KvKey;
}

/** Application keys only: a range over everything skips the framework's tables. */
function userRange(range: KvRange): KvRange {
  return range.start === undefined && !range.reverse ? { ...range, start: '' } : range;
}

export class StoreView implements MachineStore {
  constructor(
    private readonly kv: KvView,
    private readonly writable: boolean,
  ) {}

  get<V = unknown>(key: StoreKey): V | undefined {
    const bytes = this.kv.get(checkKey(key));
    return bytes === undefined ? undefined : (decodeValue(bytes) as V);
  }

  has(key: StoreKey): boolean {
    return this.kv.get(checkKey(key)) !== undefined;
  }

  put(key: StoreKey, value: unknown): void {
    if (!this.writable) throw new TypeError('queries are read-only: put is not allowed');
    this.kv.put(checkKey(key), encodeValue(value));
  }

  delete(key: StoreKey): void {
    if (!this.writable) throw new TypeError('queries are read-only: delete is not allowed');
    this.kv.delete(checkKey(key));
  }

  *range<V = unknown>(options: {
    readonly start?: StoreKey;
    readonly end?: StoreKey;
    readonly limit?: number;
    readonly reverse?: boolean;
  }): Iterable<{ readonly key: StoreKey; readonly value: V }> {
    for (const { key, value } of this.kv.range(userRange(options as KvRange))) {
      if (isReservedKey(key)) continue;
      yield { key, value: decodeValue(value) as V };
    }
  }
}

/**
 * One command's writes over the batch view: applied to it by `commit`, dropped otherwise. Most commands only
 * read and write keys; when one reads a range, its writes are sorted once (and again after further writes).
 */
export class CommandLayer implements KvView {
  private readonly writes = new Map<string, { key: KvKey; value: Uint8Array | null }>();
  private sorted: { key: KvKey; value: Uint8Array | null }[] | undefined;

  constructor(private readonly base: KvView) {}

  get(key: KvKey): Uint8Array | undefined {
    const w = this.writes.get(keyId(key));
    return w !== undefined ? (w.value ?? undefined) : this.base.get(key);
  }

  put(key: KvKey, value: Uint8Array): void {
    this.writes.set(keyId(key), { key, value });
    this.sorted = undefined;
  }

  delete(key: KvKey): void {
    this.writes.set(keyId(key), { key, value: null });
    this.sorted = undefined;
  }

  range(range: KvRange): Iterable<{ readonly key: KvKey; readonly value: Uint8Array }> {
    if (this.writes.size === 0) return this.base.range(range);
    this.sorted ??= [...this.writes.values()].sort((a, b) => compareKvKeys(a.key, b.key));
    const base = this.base.range(unlimited(range));
    return overlayRange(
      base as Iterable<{ key: KvKey; value: Uint8Array }>,
      sliceOf(this.sorted, range),
      range,
    );
  }

  commit(): void {
    for (const w of this.writes.values()) {
      if (w.value === null) this.base.delete(w.key);
      else this.base.put(w.key, w.value);
    }
  }
}

/** The writes of `sorted` (ascending) inside `range`, in the range's order. */
function* sliceOf<W extends { readonly key: KvKey }>(sorted: readonly W[], range: KvRange): Generator<W> {
  // The first index at or after the start.
  let lo = 0;
  let hi = sorted.length;
  if (range.start !== undefined) {
    const start = range.start;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKvKeys(sorted[mid]!.key, start) < 0) lo = mid + 1;
      else hi = mid;
    }
  }
  let end = sorted.length;
  if (range.end !== undefined) {
    const stop = range.end;
    let a = lo;
    let b = sorted.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (compareKvKeys(sorted[mid]!.key, stop) < 0) a = mid + 1;
      else b = mid;
    }
    end = a;
  }
  if (range.reverse) for (let i = end - 1; i >= lo; i--) yield sorted[i]!;
  else for (let i = lo; i < end; i++) yield sorted[i]!;
}
