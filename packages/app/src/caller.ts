/**
 * Typed calls from one definition: `execute` a command on a group or on the shard of a key, `query` at a
 * consistency, and entity refs whose methods are the entity's commands and queries — with input and result
 * types inferred. `Calls` validates, encodes and attaches a session; a `CallPort` carries the request (the
 * client over WebSocket, a node in process, an actor through its node's gateway): the same calls everywhere.
 */
import { randomBytes } from 'node:crypto';
import { encodeCall } from './define/calls.ts';
import { type AnyEntity, ENTITY_ID } from './define/entity.ts';
import type { AnyMachine, CommandsOf, Fence, QueriesOf } from './define/machine.ts';
import { type CallerInputOf, type Operations, type OutputOf, parseWith } from './define/schema.ts';
import type { Target } from './wire/topology.ts';

/**
 * - `linearizable`: ReadIndex (thesis §6.4); sees every command acknowledged before the query began.
 * - `lease`: the leader answers from its lease when it holds (bounded clock drift assumed), else as linearizable.
 * - `stale`: the replica's state as it is, possibly behind; no coordination (any replica may answer).
 */
export type ReadConsistency = 'linearizable' | 'lease' | 'stale';

export const READ_CONSISTENCIES: readonly ReadConsistency[] = ['linearizable', 'lease', 'stale'];

/** A client session: a retry of (clientId, sequence) is applied once; its first result is returned again. */
export interface Session {
  readonly clientId: string;
  readonly sequence: number;
}

export interface CommandRequest {
  readonly kind: string;
  readonly target: Target;
  /** `[name, input]`, validated (see `encodeCall`). */
  readonly payload: Uint8Array;
  readonly session?: Session;
  readonly fence?: Fence;
}

export interface QueryRequest {
  readonly kind: string;
  readonly target: Target;
  readonly payload: Uint8Array;
  readonly consistency: ReadConsistency;
}

export interface CallOptions {
  /** Bound on the whole call, waiting for a leader and retries included. */
  readonly timeoutMs?: number;
}

export interface QueryOptions extends CallOptions {
  /** Default `linearizable`. */
  readonly consistency?: ReadConsistency;
}

/** Carries validated requests to a node; resolves with the result (or rejects with the typed error). */
export interface CallPort {
  command(request: CommandRequest, options: CallOptions): Promise<unknown>;
  query(request: QueryRequest, options: CallOptions): Promise<unknown>;
}

type CommandName<M> = keyof CommandsOf<M> & string;
type QueryName<M> = keyof QueriesOf<M> & string;

/** An entity by id: one method per command (options: timeout) and per query (options: consistency too). */
export type EntityRef<E extends AnyEntity> = {
  readonly id: string;
  readonly entity: E['name'];
} & {
  readonly [K in keyof E['commands']]: (
    input: CallerInputOf<E['commands'][K]>,
    options?: CallOptions,
  ) => Promise<OutputOf<E['commands'][K]>>;
} & {
  readonly [K in keyof E['queries']]: (
    input: CallerInputOf<E['queries'][K]>,
    options?: QueryOptions,
  ) => Promise<OutputOf<E['queries'][K]>>;
};

/** Runs `fn`, turning a synchronous throw (a schema error) into a rejected promise. */
function attempt<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (error) {
    return Promise.reject(error);
  }
}

/** The sequence numbers of one session, shared by every view of it (`fenced`). */
class SessionCounter {
  private sequence = 0;
  constructor(readonly clientId: string) {}
  next(): Session {
    return { clientId: this.clientId, sequence: ++this.sequence };
  }
}

/** A fresh client id: 72 random bits (unique enough for sessions, short: it travels in every command). */
export function newClientId(): string {
  return randomBytes(9).toString('base64url');
}

export class Calls {
  private port: CallPort;
  private readonly counter: SessionCounter;
  /** The fencing token every command of this view carries (leader-only actors). */
  readonly fence: Fence | undefined;

  constructor(port: CallPort, options: { clientId?: string; fence?: Fence } = {}) {
    this.port = port;
    this.counter = new SessionCounter(options.clientId ?? newClientId());
    this.fence = options.fence;
  }

  /** The session id every command of this caller carries. */
  get clientId(): string {
    return this.counter.clientId;
  }

  /** The same caller (same session, same fence) sending through `port` (for example to one node only). */
  via(port: CallPort): Calls {
    const view = Object.create(this) as Calls;
    view.port = port;
    return view;
  }

  /** The same caller (same session) whose commands carry `fence`. */
  fenced(fence: Fence): Calls {
    const view = Object.create(this) as Calls;
    Object.defineProperty(view, 'fence', { value: fence });
    return view;
  }

  /** Runs command `name` of `machine` on the target group (or the shard of a key); resolves with its result. */
  execute<M extends AnyMachine, K extends CommandName<M>>(
    machine: M,
    target: Target,
    name: K,
    input: CallerInputOf<CommandsOf<M>[K]>,
    options: CallOptions = {},
  ): Promise<OutputOf<CommandsOf<M>[K]>> {
    let payload: Uint8Array;
    try {
      payload = encodeCall(machine, 'command', name, input).payload;
    } catch (error) {
      return Promise.reject(error);
    }
    const request: CommandRequest = {
      kind: machine.name,
      target,
      payload,
      session: this.counter.next(),
      ...(this.fence ? { fence: this.fence } : {}),
    };
    return this.port.command(request, options) as Promise<OutputOf<CommandsOf<M>[K]>>;
  }

  /** Runs query `name` of `machine` at the asked consistency (default linearizable). */
  query<M extends AnyMachine, K extends QueryName<M>>(
    machine: M,
    target: Target,
    name: K,
    input: CallerInputOf<QueriesOf<M>[K]>,
    options: QueryOptions = {},
  ): Promise<OutputOf<QueriesOf<M>[K]>> {
    let payload: Uint8Array;
    try {
      payload = encodeCall(machine, 'query', name, input).payload;
    } catch (error) {
      return Promise.reject(error);
    }
    const consistency = options.consistency ?? 'linearizable';
    return this.port.query({ kind: machine.name, target, payload, consistency }, options) as Promise<
      OutputOf<QueriesOf<M>[K]>
    >;
  }

  /**
   * A reference to entity `id` of type `entity`: its commands and queries as methods, routed to its shard.
   * Inputs are checked against the entity's own schemas first, so an error names the entity's field.
   */
  entity<E extends AnyEntity>(entity: E, id: string): EntityRef<E> {
    const target: Target = { key: id, shards: entity.shardPrefix };
    const ref: Record<string, unknown> = { id, entity: entity.name };
    const machine = entity.machine as AnyMachine;
    const checked = (ops: Operations, name: string, input: unknown) =>
      ({
        id: parseWith(ENTITY_ID, id, entity.name, 'id'),
        input: parseWith(ops[name]!.input, input, entity.name, name),
      }) as never;
    for (const name of Object.keys(entity.commands as Operations)) {
      ref[name] = (input: unknown, options?: CallOptions) =>
        attempt(() =>
          this.execute(machine, target, name as never, checked(entity.commands, name, input), options),
        );
    }
    for (const name of Object.keys(entity.queries as Operations)) {
      ref[name] = (input: unknown, options?: QueryOptions) =>
        attempt(() =>
          this.query(machine, target, name as never, checked(entity.queries, name, input), options),
        );
    }
    return Object.freeze(ref) as EntityRef<E>;
  }
}
