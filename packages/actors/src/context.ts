/**
 * What an actor sees of the world while it runs: itself, the sender, children, death watch, replies, timers and
 * the host's shared ticker. One context per actor cell, typed by the actor's protocol.
 */
import { assert } from '@flotilla/core';
import type { ActorCell } from './cell.ts';
import { stopCell } from './lifecycle.ts';
import type { Logger } from './logger.ts';
import type {
  ActorKind,
  ActorRef,
  AnyActorClass,
  AnyActorRef,
  AskableOf,
  Message,
  PendingReply,
  PropsOf,
  ProtocolOf,
  ReplyFor,
  ReplyOf,
  Terminated,
} from './protocol.ts';
import type { Ticker, Timers } from './timers.ts';

export interface AskOptions {
  /** Default: the system's `askTimeoutMs`. */
  readonly timeoutMs?: number;
}

export interface ChildOptionsBase {
  /** Unique among the parent's children; default `$<n>`. */
  readonly name?: string;
  /** Default: the system's `mailboxCapacity`. */
  readonly mailboxCapacity?: number;
}

export type PropsOption<C> =
  undefined extends PropsOf<C> ? { readonly props?: PropsOf<C> } : { readonly props: PropsOf<C> };

export type ChildOptions<C> = ChildOptionsBase & PropsOption<C>;

/** `[options?]` when the class needs no props, `[options]` when it does. */
export type OptionsArgs<O, C> = undefined extends PropsOf<C> ? [options?: O] : [options: O];

export interface ActorContext<P extends Message> {
  readonly self: ActorRef<P>;
  /** The actor that sent the current message (undefined for timers and senders outside actors). */
  readonly sender: AnyActorRef | undefined;
  readonly parent: AnyActorRef | undefined;
  /** The thread this actor lives on: -1 main, 0..M-1 host threads. */
  readonly slot: number;
  readonly log: Logger;
  readonly timers: Timers<P>;
  /** The host's single shared tick timer. */
  readonly ticker: Ticker<P>;
  /** Messages waiting in this actor's mailbox (for metrics and load shedding). */
  readonly mailboxSize: number;
  /** Monotonic milliseconds (virtual time in the testkit). */
  now(): number;
  /** A random number in [0, 1) from the system's source (seeded in the testkit). */
  random(): number;
  /** Throws `MailboxFullError` if the target is on this thread and its mailbox is full. */
  tell<Q extends Message>(ref: ActorRef<Q>, message: NoInfer<Q>): void;
  ask<Q extends Message, T extends AskableOf<Q>['type']>(
    ref: ActorRef<Q>,
    message: AskableOf<Q> & { readonly type: T },
    options?: AskOptions,
  ): Promise<ReplyFor<Q, T>>;
  /** Answers the ask being handled; `message` (the one being handled) types the reply. */
  reply<M extends P>(message: M, value: ReplyOf<M>): void;
  /** Keeps the ask being handled open, to answer after later messages (for example once a write committed). */
  replyLater<M extends P>(message: M): PendingReply<ReplyOf<M>>;
  /** A child on this thread, supervised by this actor (`supervisorStrategy`). */
  spawn<C extends AnyActorClass>(
    source: C | ActorKind<C>,
    ...options: OptionsArgs<ChildOptions<C>, C>
  ): ActorRef<ProtocolOf<C>>;
  /** Stops this actor (no argument) or one of its children, children first. */
  stop(ref?: AnyActorRef): void;
  /** A `Terminated` message arrives when `ref` stops; the protocol must include `Terminated`. */
  watch(ref: AnyActorRef, ...protocolCheck: Terminated extends P ? [] : [mustIncludeTerminated: never]): void;
  unwatch(ref: AnyActorRef): void;
  children(): AnyActorRef[];
  child(name: string): AnyActorRef | undefined;
}

/** The single implementation; the typed interface above is a view of it. */
export class CellContext {
  private readonly cell: ActorCell;

  constructor(cell: ActorCell) {
    this.cell = cell;
  }

  get self(): AnyActorRef {
    return this.cell.ref;
  }

  get sender(): AnyActorRef | undefined {
    return this.cell.currentSender;
  }

  get parent(): AnyActorRef | undefined {
    const parent = this.cell.parent;
    return parent === undefined || parent.parent === undefined ? undefined : parent.ref;
  }

  get slot(): number {
    return this.cell.runtime.slot;
  }

  get log(): Logger {
    return this.cell.log;
  }

  get timers(): Timers<Message> {
    return this.cell.timers;
  }

  get mailboxSize(): number {
    return this.cell.mailbox.size;
  }

  get ticker(): Ticker<Message> {
    return this.cell.tickerView;
  }

  now(): number {
    return this.cell.runtime.scheduler.now();
  }

  random(): number {
    return this.cell.runtime.random();
  }

  tell(ref: ActorRef<Message>, message: Message): void {
    this.cell.runtime.tell(ref, message, this.cell.ref);
  }

  ask(ref: ActorRef<Message>, message: Message, options?: AskOptions): Promise<unknown> {
    return this.cell.runtime.ask(ref, message, this.cell.ref, options?.timeoutMs);
  }

  reply(_message: Message, value: unknown): void {
    const address = this.cell.takeReplyAddress();
    this.cell.runtime.reply(address, true, value, this.cell.ref);
  }

  replyLater(_message: Message): PendingReply<unknown> {
    const address = this.cell.takeReplyAddress();
    const runtime = this.cell.runtime;
    const self = this.cell.ref;
    let settled = false;
    const settle = (ok: boolean, value: unknown) => {
      assert(!settled, () => `reply for ${self.path} settled twice`);
      settled = true;
      runtime.reply(address, ok, value, self);
    };
    return {
      get settled() {
        return settled;
      },
      resolve: (value) => settle(true, value),
      reject: (error) => settle(false, error),
    };
  }

  spawn(
    source: AnyActorClass | ActorKind<AnyActorClass>,
    options?: ChildOptions<AnyActorClass>,
  ): AnyActorRef {
    return this.cell.runtime.spawnChild(this.cell, source, options ?? {});
  }

  stop(ref?: AnyActorRef): void {
    if (ref === undefined || (ref.path === this.cell.path && ref.uid === this.cell.uid)) {
      void stopCell(this.cell);
      return;
    }
    const child = this.cell.childByRef(ref);
    assert(child !== undefined, () => `${this.cell.path} can stop only itself or a child, not ${ref.path}`);
    void stopCell(child);
  }

  watch(ref: AnyActorRef): void {
    this.cell.runtime.watches.watch(this.cell, ref);
  }

  unwatch(ref: AnyActorRef): void {
    this.cell.runtime.watches.unwatch(this.cell, ref);
  }

  children(): AnyActorRef[] {
    return [...this.cell.children.values()].map((c) => c.ref);
  }

  child(name: string): AnyActorRef | undefined {
    return this.cell.children.get(name)?.ref;
  }
}
