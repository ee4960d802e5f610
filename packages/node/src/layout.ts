/**
 * The default group layout of a node (DESIGN §4): the catalog `meta:system`, `meta:users`, `meta:jobs`,
 * the user shards `user:0..N-1` and `shared:0..M-1`, each with the kind of state machine it runs.
 */
import { type GroupId, ShardRouter, shardGroupId } from '@flotilla/core';

/** What a group runs: `catalog` is the cluster's own catalog; `kv` is a key-value store with sessions. */
export type GroupKind = 'catalog' | 'kv';

export interface GroupSpec {
  readonly id: GroupId;
  readonly kind: GroupKind;
}

/** A group in the catalog: its spec and the nodes that bootstrap it (the members when it was created). */
export interface CatalogGroup extends GroupSpec {
  readonly founders: readonly number[];
}

export const CATALOG_GROUP: GroupId = 'meta:system';

export function defaultLayout(sharding: { userShards: number; sharedShards: number }): GroupSpec[] {
  const groups: GroupSpec[] = [
    { id: CATALOG_GROUP, kind: 'catalog' },
    { id: 'meta:users', kind: 'kv' },
    { id: 'meta:jobs', kind: 'kv' },
  ];
  for (const id of new ShardRouter('user', sharding.userShards).groups()) groups.push({ id, kind: 'kv' });
  for (let i = 0; i < sharding.sharedShards; i++) groups.push({ id: shardGroupId('shared', i), kind: 'kv' });
  return groups;
}

/** Routes a user (or any key) to its `user:k` shard. */
export function userRouter(userShards: number): ShardRouter {
  return new ShardRouter('user', userShards);
}
