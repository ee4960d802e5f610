/**
 * Group ids and the shard router of the multi-Raft layout: a stable hash maps a key (a user id, a topic) to
 * one of N shards, so every node, every process and every restart route the same key to the same group.
 */
import { InvalidConfigError } from './errors.ts';
import type { GroupId } from './types.ts';

/** FNV-1a over the UTF-8 bytes of `key`: stable across processes and versions, fast, well spread. */
export function stableHash32(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    let code = key.charCodeAt(i);
    // Encode as UTF-8 so the hash does not depend on the string representation.
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < key.length) {
      code = 0x10000 + ((code - 0xd800) << 10) + (key.charCodeAt(++i) - 0xdc00);
    }
    if (code < 0x80) hash = Math.imul(hash ^ code, 0x01000193);
    else {
      const bytes =
        code < 0x800
          ? [0xc0 | (code >> 6), 0x80 | (code & 63)]
          : code < 0x10000
            ? [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63)]
            : [
                0xf0 | (code >> 18),
                0x80 | ((code >> 12) & 63),
                0x80 | ((code >> 6) & 63),
                0x80 | (code & 63),
              ];
      for (const b of bytes) hash = Math.imul(hash ^ b, 0x01000193);
    }
  }
  return hash >>> 0;
}

/** Builds `prefix:index` group ids (`user:7`). */
export function shardGroupId(prefix: string, index: number): GroupId {
  return `${prefix}:${index}`;
}

/** Splits `user:7` into its prefix and shard index; undefined for ids without a numeric suffix. */
export function parseShardGroupId(group: GroupId): { prefix: string; index: number } | undefined {
  const at = group.lastIndexOf(':');
  if (at <= 0) return undefined;
  const index = Number(group.slice(at + 1));
  if (!Number.isSafeInteger(index) || index < 0 || String(index) !== group.slice(at + 1)) return undefined;
  return { prefix: group.slice(0, at), index };
}

export class ShardRouter {
  constructor(
    readonly prefix: string,
    readonly shardCount: number,
  ) {
    if (!Number.isSafeInteger(shardCount) || shardCount <= 0) {
      throw new InvalidConfigError('sharding.shards', `must be a positive integer, got ${shardCount}`);
    }
    if (prefix.length === 0 || prefix.includes(' '))
      throw new InvalidConfigError('sharding.prefix', 'must be a non-empty word');
  }

  shardOf(key: string): number {
    return stableHash32(key) % this.shardCount;
  }

  groupOf(key: string): GroupId {
    return shardGroupId(this.prefix, this.shardOf(key));
  }

  /** Every group of this router, in shard order. */
  groups(): GroupId[] {
    return Array.from({ length: this.shardCount }, (_, i) => shardGroupId(this.prefix, i));
  }
}
