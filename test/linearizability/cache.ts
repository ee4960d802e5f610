/**
 * Lowe's cache for the linearizability search: the set of explored configurations (set of linearized
 * operations, register value), with the set kept as a bitset whose hash is updated incrementally (Zobrist).
 * Lookups cost O(1) plus one exact comparison on a hash match, and stored sets live in one flat arena, so
 * millions of configurations stay affordable in time and memory.
 */

/** splitmix32: fixed per-operation hash keys, so a search is deterministic. */
function zobristKeys(count: number, seed: number): Uint32Array {
  const out = new Uint32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    out[i] = (z ^ (z >>> 16)) >>> 0;
  }
  return out;
}

/** FNV-1a of a register value (null hashes apart from every string). */
function valueHash(value: string | null): number {
  if (value === null) return 0x6a09e667;
  let h = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class ConfigCache {
  /** The current set of linearized operations. */
  private readonly words: Uint32Array;
  private readonly keyHigh: Uint32Array;
  private readonly keyLow: Uint32Array;
  private hashHigh = 0;
  private hashLow = 0;
  /** Stored sets, `words.length` words each; entry e's value is `values[e]`. */
  private arena: Uint32Array;
  private readonly values: (string | null)[] = [];
  /** Hash → entry, or entries on a collision. */
  private readonly buckets = new Map<number, number | number[]>();

  constructor(operations: number) {
    this.words = new Uint32Array(Math.max(1, Math.ceil(operations / 32)));
    this.keyHigh = zobristKeys(operations, 0x1234567);
    this.keyLow = zobristKeys(operations, 0x7654321);
    this.arena = new Uint32Array(this.words.length * 1024);
  }

  get size(): number {
    return this.values.length;
  }

  /** Bytes a stored configuration takes in the arena (for memory bounds). */
  get entryBytes(): number {
    return this.words.length * 4;
  }

  /** Adds operation i to the current set, or removes it (the same call undoes itself). */
  toggle(i: number): void {
    this.words[i >>> 5]! ^= 1 << (i & 31);
    this.hashHigh ^= this.keyHigh[i]!;
    this.hashLow ^= this.keyLow[i]!;
  }

  private sameAs(entry: number, value: string | null): boolean {
    if (this.values[entry] !== value) return false;
    const base = entry * this.words.length;
    for (let w = 0; w < this.words.length; w++) if (this.arena[base + w] !== this.words[w]) return false;
    return true;
  }

  private store(value: string | null): number {
    const entry = this.values.length;
    const base = entry * this.words.length;
    if (base + this.words.length > this.arena.length) {
      const grown = new Uint32Array(this.arena.length * 2);
      grown.set(this.arena);
      this.arena = grown;
    }
    this.arena.set(this.words, base);
    this.values.push(value);
    return entry;
  }

  /** Records (current set, `value`); false when that configuration was already explored. */
  add(value: string | null): boolean {
    const high = (this.hashHigh ^ valueHash(value)) >>> 0;
    const key = high * 0x200000 + (this.hashLow & 0x1fffff);
    const bucket = this.buckets.get(key);
    if (bucket === undefined) {
      this.buckets.set(key, this.store(value));
      return true;
    }
    const entries = typeof bucket === 'number' ? [bucket] : bucket;
    if (entries.some((e) => this.sameAs(e, value))) return false;
    entries.push(this.store(value));
    this.buckets.set(key, entries);
    return true;
  }
}
