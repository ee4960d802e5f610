/**
 * The catalog machine of `meta:system`, a registered machine like any other: which nodes form the cluster
 * (with their addresses), which groups exist with the machine kind each runs, and the shard sets keys and
 * entities route in. Every node reconciles its replicas and peer links from it, so no code path can forget
 * to create a replica: creating a group is a replicated command.
 */
import { defineMachine, type GroupSpec, memory, type ShardSetSpec, z } from '@flotilla/app';
import { type GroupId, type NodeId, shardGroupId } from '@flotilla/core';

export const CATALOG_GROUP: GroupId = 'meta:system';
export const CATALOG_KIND = 'catalog';

export interface CatalogNode {
  readonly id: NodeId;
  readonly rpc: string;
  readonly api: string;
}

/** A group in the catalog: its id and kind, and the nodes that bootstrap it (the members when created). */
export interface CatalogGroup extends GroupSpec {
  readonly founders: readonly NodeId[];
}

export interface CatalogState {
  readonly nodes: Map<NodeId, CatalogNode>;
  readonly groups: Map<GroupId, CatalogGroup>;
  readonly shards: Map<string, ShardSetSpec>;
}

/** A plain view of the catalog (what the `catalog` query answers). */
export interface CatalogView {
  readonly nodes: readonly CatalogNode[];
  readonly groups: readonly CatalogGroup[];
  readonly shards: readonly ShardSetSpec[];
}

const node = z.object({ id: z.number().int().positive(), rpc: z.string().min(3), api: z.string().min(3) });
const groupId = z.string().regex(/^[A-Za-z0-9:_.-]{1,100}$/);
const kind = z.string().min(1).max(64);
const group = z.object({ id: groupId, kind });
const shardSet = z.object({
  prefix: z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/),
  count: z.number().int().min(1).max(4096),
  kind,
});
const changed = z.object({ changed: z.boolean() });

function sortedIds(state: CatalogState): NodeId[] {
  return [...state.nodes.keys()].sort((a, b) => a - b);
}

/** The group ids of a shard set. */
export function shardGroups(set: ShardSetSpec): GroupId[] {
  return Array.from({ length: set.count }, (_, i) => shardGroupId(set.prefix, i));
}

export const CatalogMachine = defineMachine({
  name: CATALOG_KIND,
  commands: {
    /** Written by every founder at bootstrap (identical everywhere): the initial nodes, groups and shard sets. */
    init: {
      input: z.object({ nodes: z.array(node), groups: z.array(group), shards: z.array(shardSet) }),
      output: changed,
    },
    addNode: { input: z.object({ node }), output: changed },
    removeNode: { input: z.object({ id: z.number().int().positive() }), output: changed },
    createGroup: { input: group, output: changed },
    deleteGroup: { input: z.object({ id: groupId }), output: changed },
    createShards: { input: shardSet, output: changed },
  },
  queries: {
    catalog: { input: z.object({}), output: z.custom<CatalogView>() },
  },
  state: memory<CatalogState>(() => ({ nodes: new Map(), groups: new Map(), shards: new Map() })),
  apply: {
    init(state, input) {
      if (state.nodes.size > 0 || state.groups.size > 0) return { changed: false };
      for (const n of input.nodes) state.nodes.set(n.id, n);
      const founders = sortedIds(state);
      for (const g of input.groups) state.groups.set(g.id, { ...g, founders });
      for (const s of input.shards) {
        state.shards.set(s.prefix, s);
        for (const id of shardGroups(s)) state.groups.set(id, { id, kind: s.kind, founders });
      }
      return { changed: true };
    },
    addNode(state, { node: n }) {
      const known = state.nodes.get(n.id);
      state.nodes.set(n.id, n);
      return { changed: !known || known.rpc !== n.rpc || known.api !== n.api };
    },
    removeNode(state, { id }) {
      return { changed: state.nodes.delete(id) };
    },
    createGroup(state, g, ctx) {
      const known = state.groups.get(g.id);
      if (known !== undefined && known.kind !== g.kind)
        ctx.reject('exists', `group ${g.id} exists with kind ${known.kind}`);
      if (known !== undefined) return { changed: false };
      state.groups.set(g.id, { ...g, founders: sortedIds(state) });
      return { changed: true };
    },
    deleteGroup(state, { id }, ctx) {
      if (id === CATALOG_GROUP) ctx.reject('reserved', 'the catalog group cannot be deleted');
      const set = [...state.shards.values()].find((s) => shardGroups(s).includes(id));
      if (set !== undefined)
        ctx.reject('routed', `group ${id} belongs to shard set ${set.prefix}: keys route to it`);
      return { changed: state.groups.delete(id) };
    },
    createShards(state, s, ctx) {
      const known = state.shards.get(s.prefix);
      if (known !== undefined && (known.count !== s.count || known.kind !== s.kind))
        ctx.reject('exists', `shard set ${s.prefix} exists with ${known.count} shards of kind ${known.kind}`);
      if (known !== undefined) return { changed: false };
      for (const id of shardGroups(s)) {
        const g = state.groups.get(id);
        if (g !== undefined && g.kind !== s.kind)
          ctx.reject('exists', `group ${id} exists with kind ${g.kind}`);
      }
      state.shards.set(s.prefix, s);
      const founders = sortedIds(state);
      for (const id of shardGroups(s))
        if (!state.groups.has(id)) state.groups.set(id, { id, kind: s.kind, founders });
      return { changed: true };
    },
  },
  query: {
    catalog: (state) => catalogView(state),
  },
});

export function catalogView(state: CatalogState): CatalogView {
  return {
    nodes: [...state.nodes.values()],
    groups: [...state.groups.values()],
    shards: [...state.shards.values()],
  };
}
