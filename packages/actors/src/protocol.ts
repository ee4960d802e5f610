/**
 * The typed vocabulary of actors: messages, refs, ask replies, the `Actor` interface and actor kinds.
 * Refs are plain data, so they cross threads (structured clone) and later processes unchanged; types ride on phantoms.
 */
import type { ActorContext } from './context.ts';
import type { SupervisorStrategy } from './supervision.ts';

/** Every message is a member of a discriminated union on `type` (one union per actor kind). */
export interface Message {
  readonly type: string;
}

/**
 * A message that expects a reply of type `R` when sent with `ask`. Only a phantom: at run time the message is
 * the plain `M`. Example: `type AccountMsg = { type: 'deposit'; amount: number } | Ask<{ type: 'balance' }, number>`.
 */
export type Ask<M extends Message, R> = M & { readonly __reply?: [R] };

/** The reply type of one message type (`never` if it is not an `Ask`). */
export type ReplyOf<M> = M extends unknown
  ? '__reply' extends keyof M
    ? Exclude<M['__reply' & keyof M], undefined> extends [infer R]
      ? R
      : never
    : never
  : never;

/** The reply type for the member of protocol `P` whose `type` is `T`. */
export type ReplyFor<P extends Message, T extends string> = ReplyOf<Extract<P, { readonly type: T }>>;

/** The members of `P` that can be asked (carry a reply type). */
export type AskableOf<P extends Message> = P extends unknown
  ? '__reply' extends keyof P
    ? P
    : never
  : never;

/**
 * A location-transparent address of an actor: plain, serializable data. `slot` is the thread that owns it
 * (-1 = main thread, 0..M-1 = host threads); `uid` tells incarnations of one path apart; `node` is the process
 * (node) it lives on, set by systems started with a `nodeId` (absent: this process). `__protocol` is a phantom
 * that types `tell` and `ask`.
 */
export interface ActorRef<P extends Message = Message> {
  readonly path: string;
  readonly uid: number;
  readonly slot: number;
  readonly node?: number;
  readonly __protocol?: (message: P) => void;
}

/** A ref whose protocol is unknown: it can be watched, stopped and compared, not told. */
export type AnyActorRef = ActorRef<never>;

/** Delivered to a watcher when a watched actor stops (or its thread died and it was not re-spawned). */
export interface Terminated {
  readonly type: 'actor-terminated';
  readonly ref: AnyActorRef;
}

/**
 * An actor: `receive` handles one message at a time (if it returns a promise, the next message waits for it).
 * Lifecycle: constructor + `preStart` → messages → `postStop`; on a supervised restart the old instance gets
 * `preRestart` (instead of `postStop`), its children are stopped, and a new instance is constructed.
 */
export interface Actor<P extends Message> {
  receive(message: P, context: ActorContext<P>): void | Promise<void>;
  preStart?(context: ActorContext<P>): void | Promise<void>;
  postStop?(context: ActorContext<P>): void | Promise<void>;
  preRestart?(error: unknown, context: ActorContext<P>): void | Promise<void>;
  /** How this actor supervises its children; the system default when absent. */
  readonly supervisorStrategy?: SupervisorStrategy | undefined;
}

/** An actor class: constructed with its props (which must be structured-cloneable to cross threads). */
export type AnyActorClass = new (props: never) => Actor<never>;

export type ProtocolOf<C> = C extends new (props: never) => Actor<infer P> ? P : never;
export type PropsOf<C> = C extends new (props: infer Props) => Actor<never> ? Props : never;

/**
 * Where a thread finds an actor class: a module URL and an export name. Declare it beside the class:
 * `export const AccountKind = actorKind<typeof Account>(import.meta.url, 'Account');`
 */
export interface ActorKind<C extends AnyActorClass> {
  readonly module: string;
  readonly exportName: string;
  readonly __class?: C;
}

/** `module` is a URL (`import.meta.url`), an absolute file path or a package specifier — never relative. */
export function actorKind<C extends AnyActorClass>(module: string | URL, exportName: string): ActorKind<C> {
  const specifier = typeof module === 'string' ? module : module.href;
  if (specifier.startsWith('.')) {
    throw new TypeError(
      `actorKind(${specifier}): a relative path means nothing on another thread; use import.meta.url`,
    );
  }
  return { module: specifier, exportName };
}

/** A reply the actor will give later (for example after a commit); from `context.replyLater(message)`. */
export interface PendingReply<R> {
  readonly settled: boolean;
  resolve(value: R): void;
  reject(error: unknown): void;
}
