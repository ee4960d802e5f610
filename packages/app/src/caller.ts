/**
 * Typed calls from one definition: `execute` a command on a group or on the shard of a key, `query` at a
 * consistency, and entity refs whose methods are the entity's commands and queries — with input and result
 * types inferred. `Calls` validates, encodes and attaches a session; a `CallPort` carries the request (the
 * client over WebSocket, a node in process, an actor through its node's gateway): the same calls everywhere.
 */
import { randomBytes } from 'node:crypto';
import { encodeCall, packCall } from './define/calls.ts';
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

/**
 * A client session (Raft thesis §6.3): a retry of (clientId, sequence) is applied once and its first result
 * returned again. `ackedBelow` is the lowest sequence the client still waits on: every call below it has been
 * answered (or given up), so a group may forget those outcomes, and a command below it that arrives late is
 * refused rather than applied. Outcomes kept per client are thus bounded by its calls in flight.
 */
export interface Session {
  readonly clientId: string;
  readonly sequence: number;
  readonly ackedBelow: number;
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
  /**
   * `false`: send the command without a session — at most once: nothing is kept for a retry, and a command
   * whose outcome is unknown (a timeout) is not sent again but fails. For commands that are safe to lose and
   * to repeat by the caller (heartbeats, reports checked against a claim), where keeping every outcome for
   * deduplication would cost more than it saves.
   */
  readonly session?: false;
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

/** What an entity ref holds; its methods live on one prototype per entity type. */
interface EntityHandle {
  id: string;
  calls: Calls;
  target: Target;
}

const prototypes = new WeakMap<AnyEntity, object>();

/** The methods of `entity`'s refs: one per command and query, built once per entity type. */
function entityPrototype(entity: AnyEntity): object {
  let proto = prototypes.get(entity);
  if (proto !== undefined) return proto;
  const methods: Record<string, unknown> = { entity: entity.name };
  for (const [type, ops] of [
    ['command', entity.commands],
    ['query', entity.queries],
  ] as const) {
    for (const name of Object.keys(ops as Operations)) {
      methods[name] = function (this: EntityHandle, input: unknown, options: QueryOptions = {}) {
        return this.calls.entityCall(entity, this, type, name, input, options);
      };
    }
  }
  proto = Object.freeze(methods);
  prototypes.set(entity, proto);
  return proto;
}

/** Runs `fn`, turning a synchronous throw (a schema error) into a rejected promise. */
function attempt<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * The sequence numbers of one session, shared by every view of it (`fenced`): the next one, and the lowest
 * still waiting for its answer (calls are issued in order; answers come in any order).
 */
class SessionCounter {
  private sequence = 0;
  /** Sequences issued and not yet answered, oldest first (answered ones are removed lazily from the head). */
  private readonly waiting: number[] = [];
  private head = 0;
  private readonly answered = new Set<number>();

  constructor(readonly clientId: string) {}

  next(): Session {
    const sequence = ++this.sequence;
    this.waiting.push(sequence);
    return { clientId: this.clientId, sequence, ackedBelow: this.lowestWaiting() };
  }

  /** The call of `sequence` got its answer (a result or an error): it no longer holds the watermark back. */
  answer(sequence: number): void {
    this.answered.add(sequence);
    while (this.head < this.waiting.length && this.answered.delete(this.waiting[this.head]!)) this.head++;
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }

  private lowestWaiting(): number {
    return this.waiting[this.head] ?? this.sequence + 1;
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
    return attempt(() =>
      this.send(machine.name, target, encodeCall(machine, 'command', name, input).payload, options),
    ) as Promise<OutputOf<CommandsOf<M>[K]>>;
  }

  /** Runs query `name` of `machine` at the asked consistency (default linearizable). */
  query<M extends AnyMachine, K extends QueryName<M>>(
    machine: M,
    target: Target,
    name: K,
    input: CallerInputOf<QueriesOf<M>[K]>,
    options: QueryOptions = {},
  ): Promise<OutputOf<QueriesOf<M>[K]>> {
    return attempt(() =>
      this.ask(machine.name, target, encodeCall(machine, 'query', name, input).payload, options),
    ) as Promise<OutputOf<QueriesOf<M>[K]>>;
  }

  /** Sends a validated command under this session (and fence); the answer moves the session's watermark. */
  private send(kind: string, target: Target, payload: Uint8Array, options: CallOptions): Promise<unknown> {
    if (options.session === false)
      return this.port.command(
        { kind, target, payload, ...(this.fence ? { fence: this.fence } : {}) },
        options,
      );
    const session = this.counter.next();
    const request: CommandRequest = {
      kind,
      target,
      payload,
      session,
      ...(this.fence ? { fence: this.fence } : {}),
    };
    const answered = () => this.counter.answer(session.sequence);
    const call = this.port.command(request, options);
    call.then(answered, answered);
    return call;
  }

  private ask(kind: string, target: Target, payload: Uint8Array, options: QueryOptions): Promise<unknown> {
    return this.port.query(
      { kind, target, payload, consistency: options.consistency ?? 'linearizable' },
      options,
    );
  }

  /**
   * A reference to entity `id` of type `entity`: its commands and queries as methods, routed to its shard.
   * Inputs are checked against the entity's own schemas, so an error names the entity's field.
   */
  entity<E extends AnyEntity>(entity: E, id: string): EntityRef<E> {
    const ref = Object.create(entityPrototype(entity)) as EntityHandle;
    ref.id = id;
    ref.calls = this;
    ref.target = { key: id, shards: entity.shardPrefix };
    return ref as unknown as EntityRef<E>;
  }

  /** @internal An entity operation, validated: used by entity refs. */
  entityCall(
    entity: AnyEntity,
    handle: EntityHandle,
    type: 'command' | 'query',
    name: string,
    input: unknown,
    options: QueryOptions,
  ): Promise<unknown> {
    return attempt(() => {
      const ops: Operations = type === 'command' ? entity.commands : entity.queries;
      const value = {
        id: parseWith(ENTITY_ID, handle.id, entity.name, 'id'),
        input: parseWith(ops[name]!.input, input, entity.name, name),
      };
      const payload = packCall(`${entity.name}.${name}`, name, value);
      const kind = entity.machine.name;
      return type === 'command'
        ? this.send(kind, handle.target, payload, options)
        : this.ask(kind, handle.target, payload, options);
    });
  }
}
