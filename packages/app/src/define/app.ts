/**
 * `defineApp`: everything an application registers with the nodes that run it — machine kinds, entity types,
 * the groups and shard sets to create with the cluster, actors to start on every node, and leader-only
 * actors (started on the leader of each matching group, stopped when it loses leadership, fenced by term),
 * and tabs of the admin dashboard. A node loads it by module reference (`[app] module` in its config), on
 * every thread that needs it.
 */
import { type GroupId, InvalidConfigError } from '@flotilla/core';
import type { AnyEntity } from './entity.ts';
import { type AnyMachine, KIND_NAME } from './machine.ts';
import type { MetricsHook } from './metrics.ts';

/** Where a thread finds an actor class (structurally the same as @flotilla/actors' `ActorKind`). */
export interface ActorKindRef {
  readonly module: string;
  readonly exportName: string;
}

/** A plain actor reference (structurally @flotilla/actors' `ActorRef`). */
export interface ActorRefData {
  readonly path: string;
  readonly uid: number;
  readonly slot: number;
  readonly node?: number;
}

/** A machine kind named by its definition, its entity type, or its name. */
export type KindRef = string | AnyMachine | AnyEntity;

/** Which groups a leader-only actor follows. */
export type GroupSelector =
  | { readonly kind: KindRef }
  | { readonly prefix: string }
  | { readonly ids: readonly GroupId[] };

export interface GroupSpec {
  readonly id: GroupId;
  readonly kind: string;
}

/** A shard set: groups `<prefix>:0..count-1` running one kind; keys and entity ids route to them by hash. */
export interface ShardSetSpec {
  readonly prefix: string;
  readonly count: number;
  readonly kind: string;
}

export interface NodeActorSpec {
  /** Top-level actor name on each node (other nodes find it with `lookupRemote(node, name)`). */
  readonly name: string;
  readonly kind: ActorKindRef;
  readonly props?: unknown;
}

export interface LeaderActorSpec {
  /** Base name; the actor of group `g` is named `<name>@<g>`. */
  readonly name: string;
  readonly kind: ActorKindRef;
  readonly groups: GroupSelector;
  readonly props?: unknown;
}

/**
 * What a leader-only actor is constructed with: the application's props plus the group it leads, the term
 * it leads in (its fencing token), this node's id and the node's gateway (for `gatewayCalls`).
 */
export type LeaderProps<P = unknown> = P & {
  readonly group: GroupId;
  readonly term: number;
  readonly nodeId: number;
  readonly gateway: ActorRefData;
};

/** What an actor started on every node is constructed with. */
export type NodeActorProps<P = unknown> = P & { readonly nodeId: number; readonly gateway: ActorRefData };

/**
 * A tab of the node's admin dashboard. `script` is the body of a browser-side function called once, when the
 * tab is first opened, with `(root, api)`: `root` the tab's element, `api.call({ kind, target, type, name,
 * input, consistency? })` a Promise of the call's result (JSON; a failed call rejects with an Error carrying
 * the typed error's name, code and fields), `api.cluster()` the last `/cluster` view.
 */
export interface DashboardTab {
  /** A short identifier (letters, digits, `_`, `-`; starting with a letter): the tab's element ids use it. */
  readonly id: string;
  readonly title: string;
  readonly script: string;
}

export interface AppSpec {
  readonly machines?: readonly AnyMachine[];
  readonly entities?: readonly AnyEntity[];
  /** Groups created with the cluster (besides the node's configured layout). */
  readonly groups?: readonly { readonly id: GroupId; readonly kind: KindRef }[];
  /** Shard sets created with the cluster (an entity type needs one, unless the layout has it). */
  readonly shards?: readonly { readonly prefix: string; readonly count: number; readonly kind: KindRef }[];
  readonly actors?: readonly NodeActorSpec[];
  readonly leaderActors?: readonly LeaderActorSpec[];
  /** Tabs the admin dashboard shows after its cluster view. */
  readonly dashboard?: readonly DashboardTab[];
  /** Metrics the application adds to every node's `/metrics`. */
  readonly metrics?: readonly MetricsHook[];
}

export interface AppDefinition {
  readonly __app: true;
  /** Machine kinds by name, entity machines included. */
  readonly machines: ReadonlyMap<string, AnyMachine>;
  readonly entities: ReadonlyMap<string, AnyEntity>;
  readonly groups: readonly GroupSpec[];
  readonly shards: readonly ShardSetSpec[];
  readonly actors: readonly NodeActorSpec[];
  readonly leaderActors: readonly (LeaderActorSpec & { readonly groups: ResolvedSelector })[];
  readonly dashboard: readonly DashboardTab[];
  readonly metrics: readonly MetricsHook[];
}

export type ResolvedSelector =
  | { readonly kind: string }
  | { readonly prefix: string }
  | { readonly ids: readonly GroupId[] };

/** The kind name of a machine, an entity type (its generated machine) or a name. */
export function kindName(kind: KindRef): string {
  if (typeof kind === 'string') return kind;
  if ('__entity' in kind) return kind.machine.name;
  return kind.name;
}

function resolveSelector(selector: GroupSelector): ResolvedSelector {
  if ('kind' in selector) return { kind: kindName(selector.kind) };
  return selector;
}

/** True when `group` (running `kind`) is followed by `selector`. */
export function selects(selector: ResolvedSelector, group: GroupId, kind: string): boolean {
  if ('kind' in selector) return selector.kind === kind;
  if ('prefix' in selector) return group.startsWith(`${selector.prefix}:`);
  return selector.ids.includes(group);
}

const ACTOR_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** A dashboard tab's id: short, and safe inside element ids and URLs. */
const TAB_ID = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;
/** Longest dashboard tab title (it sits in the tab bar). */
const TAB_TITLE_CHARS_MAX = 64;

function checkDashboard(tabs: readonly DashboardTab[]): readonly DashboardTab[] {
  const seen = new Set<string>();
  return tabs.map((tab, i) => {
    const id: unknown = tab.id;
    if (typeof id !== 'string' || !TAB_ID.test(id))
      throw new InvalidConfigError(
        `dashboard.${i}.id`,
        'must be 1-32 characters of A-Z a-z 0-9 _ -, starting with a letter',
      );
    if (seen.has(id)) throw new InvalidConfigError(`dashboard.${id}.id`, `tab ${id} is defined twice`);
    seen.add(id);
    const title: unknown = tab.title;
    if (typeof title !== 'string' || title.trim() === '' || title.length > TAB_TITLE_CHARS_MAX)
      throw new InvalidConfigError(
        `dashboard.${id}.title`,
        `must be a non-empty string of at most ${TAB_TITLE_CHARS_MAX} characters`,
      );
    if (typeof tab.script !== 'string')
      throw new InvalidConfigError(`dashboard.${id}.script`, 'must be a string (a function body)');
    return { id, title, script: tab.script };
  });
}

function checkMetrics(hooks: readonly MetricsHook[]): readonly MetricsHook[] {
  hooks.forEach((hook, i) => {
    if (typeof hook !== 'function')
      throw new InvalidConfigError(`metrics.${i}`, 'must be a function (sink, context)');
  });
  return hooks;
}

export function defineApp(spec: AppSpec): AppDefinition {
  const machines = new Map<string, AnyMachine>();
  const add = (m: AnyMachine, where: string) => {
    const known = machines.get(m.name);
    if (known !== undefined && known !== m)
      throw new InvalidConfigError(where, `machine kind ${m.name} is registered twice`);
    machines.set(m.name, m);
  };
  for (const m of spec.machines ?? []) add(m, 'machines');
  const entities = new Map<string, AnyEntity>();
  for (const e of spec.entities ?? []) {
    if (entities.has(e.name))
      throw new InvalidConfigError('entities', `entity type ${e.name} is registered twice`);
    entities.set(e.name, e);
    add(e.machine, 'entities');
  }
  const groups = (spec.groups ?? []).map((g) => ({ id: g.id, kind: kindName(g.kind) }));
  const shards = (spec.shards ?? []).map((s) => ({
    prefix: s.prefix,
    count: s.count,
    kind: kindName(s.kind),
  }));
  for (const s of shards) {
    if (!Number.isSafeInteger(s.count) || s.count < 1)
      throw new InvalidConfigError(`shards.${s.prefix}.count`, 'must be an integer ≥ 1');
    if (!KIND_NAME.test(s.kind))
      throw new InvalidConfigError(`shards.${s.prefix}.kind`, `bad kind ${s.kind}`);
  }
  for (const a of [...(spec.actors ?? []), ...(spec.leaderActors ?? [])])
    if (!ACTOR_NAME.test(a.name))
      throw new InvalidConfigError(`actors.${a.name}`, 'must be 1-64 characters of A-Z a-z 0-9 _ . -');
  return {
    __app: true,
    machines,
    entities,
    groups,
    shards,
    actors: spec.actors ?? [],
    leaderActors: (spec.leaderActors ?? []).map((a) => ({ ...a, groups: resolveSelector(a.groups) })),
    dashboard: checkDashboard(spec.dashboard ?? []),
    metrics: checkMetrics(spec.metrics ?? []),
  };
}

/** One app from several (the node's built-in kinds and the application's); a kind defined twice is an error. */
export function mergeApps(...apps: readonly AppDefinition[]): AppDefinition {
  return defineApp({
    machines: apps.flatMap((a) => [...a.machines.values()].filter((m) => !m.name.startsWith('entity:'))),
    entities: apps.flatMap((a) => [...a.entities.values()]),
    groups: apps.flatMap((a) => a.groups),
    shards: apps.flatMap((a) => a.shards),
    actors: apps.flatMap((a) => a.actors),
    leaderActors: apps.flatMap((a) =>
      a.leaderActors.map((l) => ({ ...l, groups: l.groups as GroupSelector })),
    ),
    dashboard: apps.flatMap((a) => a.dashboard),
    metrics: apps.flatMap((a) => a.metrics),
  });
}

/** True for what `defineApp` returned (a module's export is checked before use). */
export function isAppDefinition(value: unknown): value is AppDefinition {
  return typeof value === 'object' && value !== null && (value as AppDefinition).__app === true;
}
