/**
 * Expected failures of the actor runtime, each a class with a stable `code` and the context a caller needs
 * (the actor's path, the host slot). Errors cross threads as plain descriptors and are rebuilt as the same class.
 */

import { FlotillaError } from '@flotilla/core';

export type ActorErrorCode =
  | 'FLOTILLA_MAILBOX_FULL'
  | 'FLOTILLA_ASK_TIMEOUT'
  | 'FLOTILLA_ACTOR_NOT_FOUND'
  | 'FLOTILLA_ACTOR_STOPPED'
  | 'FLOTILLA_ACTOR_FAILED'
  | 'FLOTILLA_SPAWN_FAILED'
  | 'FLOTILLA_NAME_TAKEN'
  | 'FLOTILLA_HOST_FAILED'
  | 'FLOTILLA_RESTART_LIMIT'
  | 'FLOTILLA_TOO_MANY_ASKS'
  | 'FLOTILLA_SYSTEM_STOPPED'
  | 'FLOTILLA_NODE_UNREACHABLE';

/** Base of every runtime error: a `FlotillaError` whose `code` is one of the runtime's. */
export class ActorError extends FlotillaError {
  declare readonly code: ActorErrorCode;
  constructor(code: ActorErrorCode, message: string) {
    super(code, message);
  }
}

/** The actor's bounded mailbox holds `capacity` messages already; the message was not enqueued. */
export class MailboxFullError extends ActorError {
  readonly path: string;
  readonly capacity: number;
  constructor(path: string, capacity: number) {
    super('FLOTILLA_MAILBOX_FULL', `mailbox of actor ${path} is full (capacity ${capacity})`);
    this.path = path;
    this.capacity = capacity;
  }
}

/** No reply to an `ask` within `timeoutMs`. */
export class AskTimeoutError extends ActorError {
  readonly path: string;
  readonly timeoutMs: number;
  readonly messageType: string;
  constructor(path: string, timeoutMs: number, messageType: string) {
    super('FLOTILLA_ASK_TIMEOUT', `ask ${messageType} to ${path} got no reply within ${timeoutMs} ms`);
    this.path = path;
    this.timeoutMs = timeoutMs;
    this.messageType = messageType;
  }
}

/** The ref names no live actor (never spawned, stopped, or an older incarnation). */
export class ActorNotFoundError extends ActorError {
  readonly path: string;
  constructor(path: string) {
    super('FLOTILLA_ACTOR_NOT_FOUND', `no actor at ${path}`);
    this.path = path;
  }
}

/** The actor stopped while the ask was still waiting in its mailbox. */
export class ActorStoppedError extends ActorError {
  readonly path: string;
  constructor(path: string) {
    super('FLOTILLA_ACTOR_STOPPED', `actor ${path} stopped before replying`);
    this.path = path;
  }
}

/** The actor's `receive` threw (or rejected) while handling the ask; `detail` is the thrown error's text. */
export class ActorFailedError extends ActorError {
  readonly path: string;
  readonly detail: string;
  constructor(path: string, detail: string) {
    super('FLOTILLA_ACTOR_FAILED', `actor ${path} failed handling the message: ${detail}`);
    this.path = path;
    this.detail = detail;
  }
}

/** The actor's class could not be loaded (module or export missing, not a class). */
export class SpawnError extends ActorError {
  readonly path: string;
  constructor(path: string, reason: string) {
    super('FLOTILLA_SPAWN_FAILED', `cannot spawn ${path}: ${reason}`);
    this.path = path;
  }
}

/** Another live actor already has this path (top-level names are unique per system, child names per parent). */
export class NameTakenError extends ActorError {
  readonly path: string;
  constructor(path: string) {
    super('FLOTILLA_NAME_TAKEN', `an actor named ${path} already exists`);
    this.path = path;
  }
}

/** The host thread died (uncaught error, exit, out of memory) or could not start. Slot -1 is the main thread. */
export class HostFailedError extends ActorError {
  readonly slot: number;
  readonly reason: string;
  constructor(slot: number, reason: string) {
    super('FLOTILLA_HOST_FAILED', `host ${slot} failed: ${reason}`);
    this.slot = slot;
    this.reason = reason;
  }
}

/** A supervisor saw more than `maxRestarts` failures of `path` within `withinMs` and escalated. */
export class RestartLimitError extends ActorError {
  readonly path: string;
  readonly maxRestarts: number;
  readonly withinMs: number;
  readonly detail: string;
  constructor(path: string, maxRestarts: number, withinMs: number, detail: string) {
    super(
      'FLOTILLA_RESTART_LIMIT',
      `${path} failed more than ${maxRestarts} time(s) within ${withinMs} ms (last: ${detail})`,
    );
    this.path = path;
    this.maxRestarts = maxRestarts;
    this.withinMs = withinMs;
    this.detail = detail;
  }
}

/** This thread already waits on `asksPendingMax` replies; the ask was not sent. */
export class TooManyAsksError extends ActorError {
  readonly pending: number;
  constructor(pending: number) {
    super(
      'FLOTILLA_TOO_MANY_ASKS',
      `${pending} asks already wait for a reply on this thread (asksPendingMax)`,
    );
    this.pending = pending;
  }
}

/** The system is shutting down or stopped; it spawns nothing and accepts no more asks. */
export class SystemStoppedError extends ActorError {
  constructor(operation: string) {
    super('FLOTILLA_SYSTEM_STOPPED', `actor system is stopped: cannot ${operation}`);
  }
}

/**
 * The actor's node cannot be reached: no bridge to other nodes is connected, the node was reported down
 * (`NodeLinks.nodeDown`), or the outbox to it is full for this turn (`remoteOutboxMessagesMax`).
 */
export class NodeUnreachableError extends ActorError {
  readonly node: number;
  readonly reason: string;
  constructor(node: number, reason: string) {
    super('FLOTILLA_NODE_UNREACHABLE', `node ${node} is unreachable: ${reason}`);
    this.node = node;
    this.reason = reason;
  }
}

/** An error as plain data, so that it survives `postMessage` with its class and fields. */
export interface ErrorDescriptor {
  readonly code: string | undefined;
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  readonly fields: Record<string, unknown>;
}

const CLASSES: Record<ActorErrorCode, { prototype: ActorError }> = {
  FLOTILLA_MAILBOX_FULL: MailboxFullError,
  FLOTILLA_ASK_TIMEOUT: AskTimeoutError,
  FLOTILLA_ACTOR_NOT_FOUND: ActorNotFoundError,
  FLOTILLA_ACTOR_STOPPED: ActorStoppedError,
  FLOTILLA_ACTOR_FAILED: ActorFailedError,
  FLOTILLA_SPAWN_FAILED: SpawnError,
  FLOTILLA_NAME_TAKEN: NameTakenError,
  FLOTILLA_HOST_FAILED: HostFailedError,
  FLOTILLA_RESTART_LIMIT: RestartLimitError,
  FLOTILLA_TOO_MANY_ASKS: TooManyAsksError,
  FLOTILLA_SYSTEM_STOPPED: SystemStoppedError,
  FLOTILLA_NODE_UNREACHABLE: NodeUnreachableError,
};

export function describeError(error: unknown): ErrorDescriptor {
  if (error instanceof Error) {
    const code = error instanceof ActorError ? error.code : undefined;
    return { code, name: error.name, message: error.message, stack: error.stack, fields: { ...error } };
  }
  return { code: undefined, name: 'Error', message: String(error), stack: undefined, fields: {} };
}

/** Rebuilds an error from `describeError`: runtime errors get their class back, others become `Error`. */
export function rebuildError(descriptor: ErrorDescriptor): Error {
  const cls = descriptor.code === undefined ? undefined : CLASSES[descriptor.code as ActorErrorCode];
  const error: Error = cls === undefined ? new Error(descriptor.message) : Object.create(cls.prototype);
  Object.assign(error, descriptor.fields);
  Object.defineProperty(error, 'message', { value: descriptor.message, writable: true, configurable: true });
  Object.defineProperty(error, 'stack', { value: descriptor.stack, writable: true, configurable: true });
  if (cls === undefined) error.name = descriptor.name;
  return error;
}

/** Short text of any thrown value, for logs and error details. */
export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
