/**
 * `defineEntity`: sharded, replicated actors in the style of Akka sharding + persistence and Orleans grains.
 * An entity type is a state per id, typed commands that change it and reply, and typed queries; an id maps
 * to a shard group, whose machine (generated here, kind `entity:<name>`) keeps every entity's state in LMDB.
 */
import { InvalidConfigError } from '@flotilla/core';
import { z } from 'zod';
import {
  type ApplyContext,
  defineMachine,
  type MachineDefinition,
  type MachineStore,
  type QueryContext,
  type StoreState,
  store,
} from './machine.ts';
import type { InputOf, Operation, Operations, OutputOf } from './schema.ts';

/** Names an entity's operations cannot take: its refs have these properties. */
const RESERVED = ['id', 'entity', 'then'];

/** Entity ids: 1–256 characters. */
export const ENTITY_ID = z.string().min(1).max(256);

export interface EntityContext extends ApplyContext {
  /** The entity's id. */
  readonly id: string;
}

export interface EntityQueryContext extends QueryContext {
  readonly id: string;
}

/**
 * What a command handler decides: the reply, and the entity's new state (omitted: unchanged) or its
 * deletion (the next command sees `initial(id)` again).
 */
export type Decision<S, R> =
  | { readonly reply: R; readonly state?: S; readonly deleted?: false }
  | { readonly reply: R; readonly deleted: true };

export type CommandHandlers<C extends Operations, S> = {
  readonly [K in keyof C]: (
    state: S,
    input: InputOf<C[K]>,
    ctx: EntityContext,
  ) => Decision<S, OutputOf<C[K]>>;
};

export type EntityQueryHandlers<Q extends Operations, S> = {
  readonly [K in keyof Q]: (state: S, input: InputOf<Q[K]>, ctx: EntityQueryContext) => OutputOf<Q[K]>;
};

export interface EntitySpec<Name extends string, S, C extends Operations, Q extends Operations> {
  /** The entity type's name; its groups run machine kind `entity:<name>`. */
  readonly name: Name;
  /** Prefix of the shard set holding this type's entities (`<shards>:0..N-1`); default: the name. */
  readonly shards?: string;
  /** The state of an entity never written (or deleted). */
  initial(id: string): S;
  readonly commands: C;
  readonly queries: Q;
  readonly handle: CommandHandlers<C, S>;
  readonly query: EntityQueryHandlers<Q, S>;
}

/** An operation on one entity: the entity's id beside the operation's own input. */
type Keyed<Op> =
  Op extends Operation<infer I, infer O>
    ? Operation<z.ZodObject<{ id: typeof ENTITY_ID; input: I }>, O>
    : never;

export type KeyedOperations<O extends Operations> = { readonly [K in keyof O]: Keyed<O[K]> };

export interface EntityDefinition<
  Name extends string = string,
  S = unknown,
  C extends Operations = Operations,
  Q extends Operations = Operations,
> extends EntitySpec<Name, S, C, Q> {
  readonly __entity: true;
  /** The shard-set prefix (the name unless `shards` says otherwise). */
  readonly shardPrefix: string;
  /** The machine kind every shard group of this type runs. */
  readonly machine: MachineDefinition<`entity:${Name}`, KeyedOperations<C>, KeyedOperations<Q>, StoreState>;
}

// biome-ignore lint/suspicious/noExplicitAny: the widest entity type, for registries and constraints
export type AnyEntity = EntityDefinition<string, any, any, any>;

function keyed<O extends Operations>(ops: O): KeyedOperations<O> {
  const out: Record<string, Operation> = {};
  for (const [name, op] of Object.entries(ops))
    out[name] = { input: z.object({ id: ENTITY_ID, input: op.input }), output: op.output };
  return out as KeyedOperations<O>;
}

/** The context a handler of entity `id` sees: the apply context plus the id (methods kept). */
function withId<T extends object>(ctx: T, id: string): T & { readonly id: string } {
  return Object.create(ctx, { id: { value: id, enumerable: true } }) as T & { readonly id: string };
}

/** Defines an entity type; its machine (kind `entity:<name>`) is generated and checked at once. */
export function defineEntity<const Name extends string, S, C extends Operations, Q extends Operations>(
  spec: EntitySpec<Name, S, C, Q>,
): EntityDefinition<Name, S, C, Q> {
  for (const name of Object.keys(spec.queries))
    if (Object.hasOwn(spec.commands, name))
      throw new InvalidConfigError(`${spec.name}.${name}`, 'is both a command and a query');
  for (const name of RESERVED)
    if (Object.hasOwn(spec.commands, name) || Object.hasOwn(spec.queries, name))
      throw new InvalidConfigError(`${spec.name}.${name}`, 'is reserved (entity refs have it as a property)');
  const apply: Record<
    string,
    (store: MachineStore, input: { id: string; input: unknown }, ctx: ApplyContext) => unknown
  > = {};
  for (const name of Object.keys(spec.commands)) {
    const handler = (
      spec.handle as Record<string, (s: S, i: unknown, c: EntityContext) => Decision<S, unknown>>
    )[name];
    if (typeof handler !== 'function')
      throw new InvalidConfigError(`${spec.name}.handle.${name}`, 'is missing');
    apply[name] = (state, { id, input }, ctx) => {
      const current = state.get<S>(id) ?? spec.initial(id);
      const decision = handler(current, input, withId(ctx, id));
      // Watchers of an entity (key = its id) see every change of its state: the new state, or its deletion.
      if (decision.deleted === true) {
        state.delete(id);
        ctx.emit(id, { command: name, deleted: true });
      } else if (decision.state !== undefined) {
        state.put(id, decision.state);
        ctx.emit(id, { command: name, state: decision.state });
      }
      return decision.reply;
    };
  }
  const query: Record<
    string,
    (store: MachineStore, input: { id: string; input: unknown }, ctx: QueryContext) => unknown
  > = {};
  for (const name of Object.keys(spec.queries)) {
    const handler = (spec.query as Record<string, (s: S, i: unknown, c: EntityQueryContext) => unknown>)[
      name
    ];
    if (typeof handler !== 'function')
      throw new InvalidConfigError(`${spec.name}.query.${name}`, 'is missing');
    query[name] = (state, { id, input }, ctx) =>
      handler(state.get<S>(id) ?? spec.initial(id), input, withId(ctx, id));
  }
  const machine = defineMachine({
    name: `entity:${spec.name}` as `entity:${Name}`,
    commands: keyed(spec.commands),
    queries: keyed(spec.queries),
    state: store(),
    apply: apply as never,
    query: query as never,
  });
  return Object.freeze({ ...spec, __entity: true as const, shardPrefix: spec.shards ?? spec.name, machine });
}
