/**
 * Writes not yet in LMDB, by key and in key order: the overlay a store machine's reads go through (the
 * batch being applied, the writes waiting for their commit, one command's writes). A lookup is a hash get; a
 * range visits only the writes inside it (a B+ tree), so a machine making many range reads while many
 * writes wait pays for what it reads, not for everything pending.
 */
import { createRequire } from 'node:module';
import type * as btree from 'sorted-btree';
import { compareKvKeys, type KvKey, type KvRange, keyId } from './kv-keys.ts';

type BTree<K, V> = InstanceType<typeof btree.default.default<K, V>>;
const BTree = createRequire(import.meta.url)('sorted-btree').default as typeof btree.default.default;

/** A key in the tree: its order, then its id (`'x'` and `['x']` sort together but stay two entries). */
interface TreeKey {
  readonly key: KvKey;
  readonly id: string;
}

function compareTreeKeys(a: TreeKey, b: TreeKey): number {
  const order = compareKvKeys(a.key, b.key);
  if (order !== 0) return order;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The lowest tree key among those equal to `key` in order: a range bound. */
const bound = (key: KvKey): TreeKey => ({ key, id: '' });

/** A pending write: a value, or `null` for a delete. */
export interface PendingWrite {
  readonly key: KvKey;
  readonly value: Uint8Array | null;
}

export class SortedWrites<W extends PendingWrite = PendingWrite> {
  private readonly byId = new Map<string, W>();
  private readonly ordered: BTree<TreeKey, W> = new BTree<TreeKey, W>(undefined, compareTreeKeys);

  get size(): number {
    return this.byId.size;
  }

  get(key: KvKey): W | undefined {
    return this.byId.get(keyId(key));
  }

  getById(id: string): W | undefined {
    return this.byId.get(id);
  }

  /** Records `write` (its key's id may be given when the caller has it). */
  set(write: W, id = keyId(write.key)): void {
    this.byId.set(id, write);
    this.ordered.set({ key: write.key, id }, write);
  }

  /** Forgets the write of `key` (it reached LMDB). */
  deleteById(id: string): void {
    const w = this.byId.get(id);
    if (w === undefined) return;
    this.byId.delete(id);
    this.ordered.delete({ key: w.key, id });
  }

  clear(): void {
    this.byId.clear();
    this.ordered.clear();
  }

  values(): IterableIterator<W> {
    return this.byId.values();
  }

  /**
   * The writes inside `range`, in the range's order (ascending, or descending when `reverse`), lazily, from a
   * copy-on-write snapshot: writes made while the caller iterates do not disturb it.
   */
  *inRange(range: KvRange): Generator<W> {
    if (this.byId.size === 0) return;
    const { start, end } = range;
    const tree = this.ordered.clone();
    if (range.reverse) {
      const from = end === undefined ? undefined : bound(end);
      for (const [, w] of tree.entriesReversed(from, undefined, true)) {
        if (start !== undefined && compareKvKeys(w.key, start) < 0) return;
        yield w;
      }
      return;
    }
    for (const [, w] of tree.entries(start === undefined ? undefined : bound(start))) {
      if (end !== undefined && compareKvKeys(w.key, end) >= 0) return;
      yield w;
    }
  }
}
