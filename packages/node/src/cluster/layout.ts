/**
 * The groups a cluster starts with: the catalog `meta:system`, then a mapping of groups and shard sets to
 * machine kinds. It is data: `[layout]` in the config replaces the default, and an application adds its
 * own (`defineApp({ groups, shards })`). The default is the seed layout: `meta:users` and `meta:jobs` (kv),
 * `user:0..N-1` and `shared:0..M-1` (kv shard sets).
 */
import type { GroupSpec, ShardSetSpec } from '@flotilla/app';

export interface Layout {
  readonly groups: readonly GroupSpec[];
  readonly shards: readonly ShardSetSpec[];
}

export function defaultLayout(sharding: { userShards: number; sharedShards: number }): Layout {
  return {
    groups: [
      { id: 'meta:users', kind: 'kv' },
      { id: 'meta:jobs', kind: 'kv' },
    ],
    shards: [
      { prefix: 'user', count: sharding.userShards, kind: 'kv' },
      ...(sharding.sharedShards > 0 ? [{ prefix: 'shared', count: sharding.sharedShards, kind: 'kv' }] : []),
    ],
  };
}
