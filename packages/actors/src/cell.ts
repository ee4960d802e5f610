/**
 * The runtime's record of one actor: identity, mailbox, instance, children, watches, timers and restart log,
 * plus the hot loop that feeds messages to `receive` one at a time. Lifecycle and supervision live beside it.
 */
import type { ReplyAddress } from './asks.ts';
import { CellContext } from './context.ts';
import { ActorFailedError, errorText } from './errors.ts';
import { failCell } from './failure.ts';
import type { Logger } from './logger.ts';
import { Mailbox, type MailboxEntry } from './mailbox.ts';
import type { Actor, ActorKind, AnyActorClass, AnyActorRef, Message, Terminated } from './protocol.ts';
import type { Runtime } from './runtime.ts';
import type { SupervisorStrategy } from './supervision.ts';
import { ActorTimers, type Ticker, TimerMark } from './timers.ts';

/**
 * starting: class loading, constructor or preStart in progress (mail waits). running: processing.
 * suspended: failed, waiting for its supervisor (restart backoff). stopping → stopped: gone for good.
 */
export type CellState = 'starting' | 'running' | 'suspended' | 'stopping' | 'stopped';

/** How a cell gets its class: directly (same thread) or by module + export (any thread). */
export type ClassSource = { readonly cls: AnyActorClass } | { readonly kind: ActorKind<AnyActorClass> };

export interface CellInit {
  readonly name: string;
  readonly path: string;
  readonly uid: number;
  readonly parent: ActorCell | undefined;
  readonly source: ClassSource | undefined;
  readonly props: unknown;
  readonly mailboxCapacity: number;
}

type Entry = MailboxEntry<Message, AnyActorRef, ReplyAddress | TimerMark>;

export class ActorCell {
  readonly runtime: Runtime;
  readonly name: string;
  readonly path: string;
  readonly uid: number;
  readonly ref: AnyActorRef;
  readonly parent: ActorCell | undefined;
  readonly source: ClassSource | undefined;
  readonly props: unknown;
  readonly mailbox: Mailbox<Message, AnyActorRef, ReplyAddress | TimerMark>;
  /** In spawn order (rest-for-one restarts the failed child and those spawned after it). */
  readonly children = new Map<string, ActorCell>();
  /** Who watches this actor, by `WatchBook.key`. */
  readonly watchers = new Map<string, AnyActorRef>();
  /** Whom this actor watches, by `WatchBook.key`. */
  readonly watching = new Map<string, AnyActorRef>();
  /** Times of recent restarts, for restart intensity (kept across restarts). */
  readonly restartLog: number[] = [];
  readonly ctx: CellContext;
  instance: Actor<Message> | undefined;
  state: CellState = 'starting';
  /** An async step (receive, preStart, restart) is in flight: no other message may start. */
  busy = false;
  /** Queued in the runtime's run queue. */
  scheduled = false;
  /** A supervisor scheduled a restart (backoff running); cleared when it begins. */
  restartPending = false;
  currentSender: AnyActorRef | undefined;
  private currentReply: ReplyAddress | undefined;
  stopped: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];
  private childSeq = 0;
  private timersLazy: ActorTimers | undefined;
  private tickerLazy: Ticker<Message> | undefined;
  private logLazy: Logger | undefined;
  private readonly entry: Entry = { message: { type: '' }, sender: undefined, reply: undefined };

  constructor(runtime: Runtime, init: CellInit) {
    this.runtime = runtime;
    this.name = init.name;
    this.path = init.path;
    this.uid = init.uid;
    this.parent = init.parent;
    this.source = init.source;
    this.props = init.props;
    this.ref = runtime.refOf(init.path, init.uid, runtime.slot);
    this.mailbox = new Mailbox(init.mailboxCapacity);
    this.ctx = new CellContext(this);
  }

  get timers(): ActorTimers {
    this.timersLazy ??= new ActorTimers(this.runtime.scheduler, (message, mark) =>
      this.runtime.deliverToCell(this, message, undefined, mark),
    );
    return this.timersLazy;
  }

  get hasTimers(): boolean {
    return this.timersLazy !== undefined;
  }

  get tickerView(): Ticker<Message> {
    const ticker = this.runtime.ticker;
    this.tickerLazy ??= {
      intervalMs: ticker.intervalMs,
      subscribe: (message) => ticker.subscribe(this, message),
      unsubscribe: () => ticker.unsubscribe(this),
    };
    return this.tickerLazy;
  }

  get log(): Logger {
    this.logLazy ??= this.runtime.log.child({ actor: this.path });
    return this.logLazy;
  }

  get strategy(): SupervisorStrategy {
    return this.instance?.supervisorStrategy ?? this.runtime.defaultStrategy;
  }

  /** Enqueues unless full (returns false). Schedules the cell if it can run. */
  offer(
    message: Message,
    sender: AnyActorRef | undefined,
    reply: ReplyAddress | TimerMark | undefined,
  ): boolean {
    if (this.mailbox.isFull) return false;
    this.mailbox.push(message, sender, reply);
    if (!this.scheduled && this.state === 'running' && !this.busy) this.runtime.schedule(this);
    return true;
  }

  /** System messages (Terminated) bypass the capacity: there is at most one per watch. */
  offerSystem(message: Terminated): void {
    this.mailbox.pushOverCapacity(message, undefined, undefined);
    if (!this.scheduled && this.state === 'running' && !this.busy) this.runtime.schedule(this);
  }

  get canRun(): boolean {
    return this.state === 'running' && !this.busy && this.mailbox.size > 0;
  }

  /** Feeds up to `budget` messages to `receive`; stops early at an async receive or a failure. */
  process(budget: number): number {
    let n = 0;
    const entry = this.entry;
    while (n < budget && this.state === 'running' && !this.busy && this.mailbox.shift(entry)) {
      n++;
      this.invoke(entry.message, entry.sender, entry.reply);
    }
    entry.sender = undefined;
    entry.reply = undefined;
    return n;
  }

  private invoke(
    message: Message,
    sender: AnyActorRef | undefined,
    reply: ReplyAddress | TimerMark | undefined,
  ) {
    if (reply instanceof TimerMark) {
      if (!this.timers.accept(reply)) return;
      reply = undefined;
    }
    this.currentSender = sender;
    this.currentReply = reply;
    let result: void | Promise<void>;
    try {
      result = this.instance!.receive(message, this.ctx as never);
    } catch (error) {
      this.handlingFailed(error);
      return;
    }
    if (result !== undefined && typeof result.then === 'function') {
      this.busy = true;
      result.then(this.onAsyncDone, this.onAsyncFailed);
      return;
    }
    this.currentReply = undefined;
  }

  private readonly onAsyncDone = (): void => {
    this.currentReply = undefined;
    this.setIdle();
    if (this.canRun && !this.scheduled) this.runtime.schedule(this);
  };

  private readonly onAsyncFailed = (error: unknown): void => {
    this.setIdle();
    this.handlingFailed(error);
  };

  private handlingFailed(error: unknown): void {
    const reply = this.currentReply;
    this.currentReply = undefined;
    if (reply !== undefined) {
      this.runtime.reply(reply, false, new ActorFailedError(this.path, errorText(error)), this.ref);
    }
    failCell(this, error);
  }

  /** The reply address of the message being handled, once (a second reply has nowhere to go). */
  takeReplyAddress(): ReplyAddress | undefined {
    const reply = this.currentReply;
    this.currentReply = undefined;
    return reply;
  }

  setIdle(): void {
    this.busy = false;
    const waiters = this.idleWaiters;
    if (waiters.length === 0) return;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves once no async step is in flight. */
  whenIdle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  nextChildName(): string {
    return `$${++this.childSeq}`;
  }

  childByRef(ref: AnyActorRef): ActorCell | undefined {
    const name = ref.path.slice(ref.path.lastIndexOf('/') + 1);
    const child = this.children.get(name);
    return child !== undefined && child.path === ref.path && child.uid === ref.uid ? child : undefined;
  }
}
