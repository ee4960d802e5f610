/**
 * Where requests go: a cluster's topology as nodes hand it to callers (each group's kind and leader, every
 * node's API address, the shard sets) and the routing of a key or entity id to its shard group.
 */
import { type GroupId, type NodeId, ShardRouter } from '@flotilla/core';
import type { ShardSetSpec } from '../define/app.ts';
import { UnknownEntityError, UnknownShardsError } from '../errors.ts';

/** Machine kinds generated for entity types are named `entity:<type>`. */
const ENTITY_KIND_PREFIX = 'entity:';

export interface Topology {
  /** The node that answered. */
  readonly nodeId: NodeId;
  /** API address (host:port) of every member, by node id. */
  readonly nodes: Readonly<Record<string, string>>;
  /** Each group's machine kind. */
  readonly groups: Readonly<Record<GroupId, string>>;
  /** Each group's leader as the answering node sees it (0 = none known). */
  readonly leaders: Readonly<Record<GroupId, NodeId>>;
  readonly shards: readonly ShardSetSpec[];
  /**
   * The answering node sees the groups and shard sets of its application in the catalog, and a leader for
   * every group it hosts: calls of that application can be made.
   */
  readonly ready: boolean;
}

/** A group by id, or the shard group of a key (within the shard set `shards`, or the one set of the kind). */
export type Target = GroupId | { readonly key: string; readonly shards?: string };

/** The shard set a key of `kind` routes in: the named one, or the only one running `kind`. */
export function shardSetFor(
  shards: readonly ShardSetSpec[],
  kind: string,
  prefix: string | undefined,
): ShardSetSpec {
  if (prefix !== undefined) {
    const set = shards.find((s) => s.prefix === prefix);
    if (set === undefined) throw new UnknownShardsError(prefix, 'no such shard set');
    return set;
  }
  const sets = shards.filter((s) => s.kind === kind);
  if (sets.length === 1) return sets[0]!;
  throw new UnknownShardsError(
    kind,
    sets.length === 0
      ? `no shard set runs kind ${kind}`
      : `${sets.length} shard sets run kind ${kind} (${sets.map((s) => s.prefix).join(', ')}); name one`,
  );
}

const routers = new Map<string, ShardRouter>();

/**
 * The group a target names: itself, or its key's shard (stable hash, the same on every caller). An entity
 * type without a shard set is unknown to the cluster: `UnknownEntityError` naming it.
 */
export function groupOfTarget(target: Target, kind: string, shards: readonly ShardSetSpec[]): GroupId {
  if (typeof target === 'string') return target;
  let set: ShardSetSpec;
  try {
    set = shardSetFor(shards, kind, target.shards);
  } catch (error) {
    if (kind.startsWith(ENTITY_KIND_PREFIX))
      throw new UnknownEntityError(kind.slice(ENTITY_KIND_PREFIX.length));
    throw error;
  }
  const key = `${set.prefix}/${set.count}`;
  let router = routers.get(key);
  if (router === undefined) {
    router = new ShardRouter(set.prefix, set.count);
    routers.set(key, router);
  }
  return router.groupOf(target.key);
}
