/**
 * Per-actor timers (single and periodic, by key) that die with the actor, and the per-host shared ticker.
 * A timer's message carries a mark; a message of a cancelled or replaced timer still in the mailbox is dropped.
 */
import type { Message } from './protocol.ts';
import type { Scheduler, TimerHandle } from './scheduler.ts';

/** Put in the mailbox's reply slot of a timer message, so dispatch can tell stale timer messages apart. */
export class TimerMark {
  readonly key: string;
  readonly generation: number;
  constructor(key: string, generation: number) {
    this.key = key;
    this.generation = generation;
  }
}

export interface Timers<P extends Message> {
  /** Sends `message` to self once after `delayMs`; replaces a timer with the same key. */
  startSingle(key: string, message: P, delayMs: number): void;
  /** Sends `message` to self every `intervalMs`; replaces a timer with the same key. */
  startPeriodic(key: string, message: P, intervalMs: number): void;
  cancel(key: string): void;
  isActive(key: string): boolean;
}

interface ActiveTimer {
  readonly generation: number;
  readonly message: Message;
  readonly intervalMs: number | undefined;
  handle: TimerHandle;
}

export class ActorTimers implements Timers<Message> {
  private readonly scheduler: Scheduler;
  private readonly deliver: (message: Message, mark: TimerMark) => void;
  private readonly active = new Map<string, ActiveTimer>();
  private generation = 0;

  constructor(scheduler: Scheduler, deliver: (message: Message, mark: TimerMark) => void) {
    this.scheduler = scheduler;
    this.deliver = deliver;
  }

  startSingle(key: string, message: Message, delayMs: number): void {
    this.start(key, message, delayMs, undefined);
  }

  startPeriodic(key: string, message: Message, intervalMs: number): void {
    if (!(intervalMs > 0)) throw new RangeError(`timer ${key}: intervalMs ${intervalMs} must be > 0`);
    this.start(key, message, intervalMs, intervalMs);
  }

  cancel(key: string): void {
    const timer = this.active.get(key);
    if (timer === undefined) return;
    this.scheduler.clearTimeout(timer.handle);
    this.active.delete(key);
  }

  isActive(key: string): boolean {
    return this.active.has(key);
  }

  cancelAll(): void {
    for (const timer of this.active.values()) this.scheduler.clearTimeout(timer.handle);
    this.active.clear();
  }

  /** At dispatch: true if the timer that sent this message is still current (a fired single timer ends here). */
  accept(mark: TimerMark): boolean {
    const timer = this.active.get(mark.key);
    if (timer === undefined || timer.generation !== mark.generation) return false;
    if (timer.intervalMs === undefined) this.active.delete(mark.key);
    return true;
  }

  private start(key: string, message: Message, delayMs: number, intervalMs: number | undefined): void {
    this.cancel(key);
    const generation = ++this.generation;
    const timer: ActiveTimer = { generation, message, intervalMs, handle: undefined };
    timer.handle = this.scheduler.setTimeout(() => this.fire(key, timer), delayMs);
    this.active.set(key, timer);
  }

  private fire(key: string, timer: ActiveTimer): void {
    if (this.active.get(key) !== timer) return;
    if (timer.intervalMs !== undefined) {
      timer.handle = this.scheduler.setTimeout(() => this.fire(key, timer), timer.intervalMs);
    }
    this.deliver(timer.message, new TimerMark(key, timer.generation));
  }
}

/** The per-host shared tick: subscribe to get `message` on every tick of this thread's single tick timer. */
export interface Ticker<P extends Message> {
  readonly intervalMs: number;
  subscribe(message: P): void;
  unsubscribe(): void;
}

/**
 * One timer per thread for every subscriber (a Raft host ticks thousands of groups with one timer; idle
 * groups unsubscribe to quiesce). Runs only while someone is subscribed.
 */
export class HostTicker<S> {
  readonly intervalMs: number;
  private readonly scheduler: Scheduler;
  private readonly deliver: (subscriber: S, message: Message) => void;
  private readonly subscribers = new Map<S, Message>();
  private handle: TimerHandle | undefined;

  constructor(intervalMs: number, scheduler: Scheduler, deliver: (subscriber: S, message: Message) => void) {
    this.intervalMs = intervalMs;
    this.scheduler = scheduler;
    this.deliver = deliver;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  subscribe(subscriber: S, message: Message): void {
    this.subscribers.set(subscriber, message);
    if (this.handle === undefined) this.arm();
  }

  unsubscribe(subscriber: S): void {
    this.subscribers.delete(subscriber);
    if (this.subscribers.size === 0 && this.handle !== undefined) {
      this.scheduler.clearTimeout(this.handle);
      this.handle = undefined;
    }
  }

  private arm(): void {
    this.handle = this.scheduler.setTimeout(() => this.tick(), this.intervalMs);
  }

  private tick(): void {
    this.handle = undefined;
    for (const [subscriber, message] of this.subscribers) this.deliver(subscriber, message);
    if (this.subscribers.size > 0) this.arm();
  }
}
