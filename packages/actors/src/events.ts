/**
 * What the runtime reports to the user: dead letters (messages that reached no actor) and system events
 * (failures, restarts, host deaths). Both are streams with subscribers; hosts forward theirs to the main thread.
 */
import type { AnyActorRef } from './protocol.ts';

/**
 * Why a message reached no actor. `mailbox-full`: a cross-thread tell found the mailbox full (a local tell
 * throws `MailboxFullError` instead). `host-down`: the target's thread was dead or restarting. `not-cloneable`:
 * structured clone (or msgpack, to another node) refused the message. `no-asker`: a reply to a message that was
 * told, not asked. `no-route`: the target is on another node and no bridge to other nodes is connected.
 * `outbox-full`: the outbox to the target's node already held `remoteOutboxMessagesMax` messages this turn.
 */
export type DeadLetterReason =
  | 'unknown-actor'
  | 'stopped'
  | 'mailbox-full'
  | 'host-down'
  | 'no-asker'
  | 'no-route'
  | 'not-cloneable'
  | 'outbox-full';

export interface DeadLetter {
  readonly recipient: AnyActorRef;
  readonly message: unknown;
  readonly sender: AnyActorRef | undefined;
  readonly reason: DeadLetterReason;
  /** The thread that found the letter dead (-1 = main). */
  readonly slot: number;
}

export type SystemEvent =
  | { readonly type: 'actor-failed'; readonly path: string; readonly slot: number; readonly error: string }
  | {
      readonly type: 'actor-restarted';
      readonly path: string;
      readonly slot: number;
      readonly attempt: number;
      readonly delayMs: number;
    }
  | { readonly type: 'actor-escalated'; readonly path: string; readonly slot: number; readonly error: string }
  | { readonly type: 'host-died'; readonly slot: number; readonly error: string }
  | {
      readonly type: 'host-started';
      readonly slot: number;
      readonly generation: number;
      readonly respawned: number;
    }
  | { readonly type: 'host-supervisor-restarted'; readonly slot: number; readonly error: string }
  /** A host did not come up in time (a worker failed at bootstrap): its task moves to a freshly built pool. */
  | { readonly type: 'host-pool-rebuilt'; readonly slot: number }
  | { readonly type: 'system-failed'; readonly error: string };

/** A minimal synchronous pub/sub. A listener that throws is reported to `onListenerError`, never to the publisher. */
export class Stream<T> {
  private readonly listeners = new Set<(value: T) => void>();
  private readonly onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void = () => {}) {
    this.onListenerError = onListenerError;
  }

  get hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  /** Returns the function that unsubscribes. */
  subscribe(listener: (value: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(value: T): void {
    for (const listener of this.listeners) {
      try {
        listener(value);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }
}
