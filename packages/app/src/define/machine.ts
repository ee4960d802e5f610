/**
 * `defineMachine`: a replicated state machine as an application defines it — a kind name, schema-typed
 * commands and queries, a deterministic `apply` per command and a read-only handler per query (dragonboat's
 * Update / Lookup split), and where its state lives (memory, or the LMDB store the framework provides).
 */
import type { GroupId } from '@flotilla/core';
import { InvalidConfigError } from '@flotilla/core';
import type { z } from 'zod';
import type { InputOf, Operations, OutputOf } from './schema.ts';

/** A fencing token: the group a leader-only actor was started for and the term it leads in. */
export interface Fence {
  readonly group: GroupId;
  readonly term: number;
}

/** What `apply` knows besides the command: all of it replicated, so every replica sees the same. */
export interface ApplyContext {
  readonly group: GroupId;
  /** Log index of the entry carrying this command. */
  readonly index: number;
  /** Term of that entry (the term of the leader that appended it). */
  readonly term: number;
  /**
   * Wall-clock time (ms since the epoch) the leader stamped on the command when it proposed it, carried in
   * the entry; it never decreases within a group. `apply` reads this, never a clock.
   */
  readonly timestampMs: number;
  /** Uniform in [0, 1), seeded from the group and the index: the same sequence on every replica. */
  random(): number;
  /** The fencing token the command carries (leader-only actors attach theirs), if any. */
  readonly fence: Fence | undefined;
  /**
   * Refuses the command (with `StaleFenceError`) unless it carries a current fencing token: fenced by this
   * group, its term must be the entry's term (the leader that appended it); fenced by another group, its
   * term must not be older than any this group has seen from that one.
   */
  requireFence(): void;
  /** Refuses the command: the caller receives an `ApplicationError` with `reason`. Deterministic. */
  reject(reason: string, message: string, details?: unknown): never;
  /**
   * Declares a change that watchers see: `key` (what a watch filters on, by key or by prefix) and `data` (any
   * msgpack-encodable value), at this command's revision (its log index). Kept only if the command succeeds;
   * deterministic, like the rest of `apply`. This is how a machine says what can be watched.
   */
  emit(key: string, data: unknown): void;
}

/** Bound on a watchable key's length (a watch filters by key or by prefix). */
export const WATCH_KEY_CHARS_MAX = 1024;

/** What a query handler knows: the state it reads is as of `appliedIndex`. */
export interface QueryContext {
  readonly group: GroupId;
  readonly appliedIndex: number;
  /** The timestamp of the last applied command (0 before any). */
  readonly timestampMs: number;
}

/** Keys of the store: a string, a number, or a tuple of them (ordered element by element). */
export type StoreKey = string | number | readonly (string | number)[];

/**
 * The LMDB store a machine with `storage: 'store'` keeps its state in. Reads see every write applied so far
 * (durable or not); writes of a batch of applied entries commit with the applied index, in one transaction.
 * Values are any msgpack-encodable data. Keys starting with `\u0000` are reserved for the framework.
 */
export interface MachineStore {
  get<V = unknown>(key: StoreKey): V | undefined;
  has(key: StoreKey): boolean;
  put(key: StoreKey, value: unknown): void;
  delete(key: StoreKey): void;
  /**
   * Entries with `start <= key < end` in key order (at most `limit`); tuple keys sort element by element,
   * so `{ start: ['job', 'a'], end: ['job', 'a', '\uffff'] }` lists one prefix.
   */
  range<V = unknown>(options: {
    readonly start?: StoreKey;
    readonly end?: StoreKey;
    readonly limit?: number;
    readonly reverse?: boolean;
  }): Iterable<{ readonly key: StoreKey; readonly value: V }>;
}

/** State kept in memory, rebuilt from the latest snapshot plus the log after a restart. */
export interface MemoryState<S> {
  readonly storage: 'memory';
  /** The state of a fresh group. */
  init(): S;
  /**
   * The state as chunks (any msgpack-encodable values), streamed to followers and stored in order; default
   * one chunk holding the whole state. Yield many smaller chunks for a large state.
   */
  snapshot?(state: S): Iterable<unknown>;
  /** Rebuilds the state from the chunks `snapshot` produced, in order. */
  restore?(chunks: Iterable<unknown>): S;
}

/** State kept in LMDB (`MachineStore`): it may be larger than memory, and survives restarts as it is. */
export interface StoreState {
  readonly storage: 'store';
}

export type StateSpec<S> = MemoryState<S> | StoreState;

/** The state handlers receive: the memory state, or the store. */
export type StateOf<Spec> = Spec extends MemoryState<infer S> ? S : MachineStore;

export type ApplyHandlers<C extends Operations, S> = {
  readonly [K in keyof C]: (state: S, input: InputOf<C[K]>, ctx: ApplyContext) => OutputOf<C[K]>;
};

export type QueryHandlers<Q extends Operations, S> = {
  readonly [K in keyof Q]: (state: S, input: InputOf<Q[K]>, ctx: QueryContext) => OutputOf<Q[K]>;
};

export interface MachineSpec<
  Name extends string,
  C extends Operations,
  Q extends Operations,
  Spec extends StateSpec<unknown>,
> {
  /** The kind's name: what the catalog records for each group running it. */
  readonly name: Name;
  readonly commands: C;
  readonly queries: Q;
  readonly state: Spec;
  readonly apply: ApplyHandlers<C, StateOf<Spec>>;
  readonly query: QueryHandlers<Q, StateOf<Spec>>;
}

/** A defined machine kind (what `defineMachine` returns); the node runs it, callers call it. */
export interface MachineDefinition<
  Name extends string = string,
  C extends Operations = Operations,
  Q extends Operations = Operations,
  Spec extends StateSpec<unknown> = StateSpec<unknown>,
> extends MachineSpec<Name, C, Q, Spec> {
  readonly __machine: true;
}

// biome-ignore lint/suspicious/noExplicitAny: the widest machine type, for registries and constraints
export type AnyMachine = MachineDefinition<string, any, any, any>;

export type CommandsOf<M> =
  M extends MachineDefinition<string, infer C, Operations, StateSpec<unknown>> ? C : never;
export type QueriesOf<M> =
  M extends MachineDefinition<string, Operations, infer Q, StateSpec<unknown>> ? Q : never;

/** Kind names: printable, short (they travel in the catalog and in every request). */
export const KIND_NAME = /^[a-z][a-z0-9_.:-]{0,63}$/;
/** Operation (command / query) names. */
const OPERATION_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

function checkOperations(kind: string, what: string, ops: Operations, handlers: object): void {
  for (const name of Object.keys(ops)) {
    if (!OPERATION_NAME.test(name))
      throw new InvalidConfigError(
        `${kind}.${what}.${name}`,
        'must be an identifier of at most 64 characters',
      );
    const op = ops[name]!;
    if (typeof op?.input?.safeParse !== 'function' || typeof op?.output?.safeParse !== 'function')
      throw new InvalidConfigError(`${kind}.${what}.${name}`, 'needs zod schemas { input, output }');
    if (typeof (handlers as Record<string, unknown>)[name] !== 'function')
      throw new InvalidConfigError(`${kind}.${what}.${name}`, 'has no handler');
  }
  for (const name of Object.keys(handlers))
    if (!(name in ops))
      throw new InvalidConfigError(`${kind}.${what}.${name}`, 'is a handler without a schema');
}

/**
 * Defines a machine kind. Checked at once (a bad definition is a programmer error at start, not at the
 * first command): names, a schema and a handler for every command and query, and no other handlers.
 */
export function defineMachine<
  const Name extends string,
  C extends Operations,
  Q extends Operations,
  Spec extends StateSpec<unknown>,
>(spec: MachineSpec<Name, C, Q, Spec>): MachineDefinition<Name, C, Q, Spec> {
  if (!KIND_NAME.test(spec.name))
    throw new InvalidConfigError('name', `machine kind ${JSON.stringify(spec.name)} must match ${KIND_NAME}`);
  checkOperations(spec.name, 'commands', spec.commands, spec.apply);
  checkOperations(spec.name, 'queries', spec.queries, spec.query);
  const storage = (spec.state as { storage?: unknown }).storage;
  if (storage !== 'memory' && storage !== 'store')
    throw new InvalidConfigError(`${spec.name}.state`, 'must be memory(…) or store()');
  return Object.freeze({ ...spec, __machine: true as const });
}

/** State in memory: `init` makes a fresh one; `snapshot`/`restore` (optional) stream it in chunks. */
export function memory<S>(
  init: () => S,
  chunks: { snapshot?(state: S): Iterable<unknown>; restore?(chunks: Iterable<unknown>): S } = {},
): MemoryState<S> {
  return { storage: 'memory', init, ...chunks };
}

/** State in the framework's LMDB store. */
export function store(): StoreState {
  return { storage: 'store' };
}

/** The schema of one command or query, for callers that need it by name. */
export function operationOf(
  machine: AnyMachine,
  type: 'command' | 'query',
  name: string,
): { input: z.ZodType; output: z.ZodType } | undefined {
  const ops: Operations = type === 'command' ? machine.commands : machine.queries;
  return Object.hasOwn(ops, name) ? ops[name] : undefined;
}
