/**
 * Runs actors in one thread on a manual scheduler with virtual time: nothing happens until the test runs the
 * queued work (`runUntilIdle`) or moves the clock (`advance`), so actor logic is tested deterministically.
 */
import { AssertionError } from '@flotilla/core';
import type { ActorCell } from './cell.ts';
import type { AskOptions, ChildOptions, OptionsArgs } from './context.ts';
import type { DeadLetter, SystemEvent } from './events.ts';
import { stopCell } from './lifecycle.ts';
import { silentLogger } from './logger.ts';
import { ManualScheduler } from './manual-scheduler.ts';
import type {
  ActorRef,
  AnyActorClass,
  AnyActorRef,
  AskableOf,
  Message,
  ProtocolOf,
  ReplyFor,
} from './protocol.ts';
import { seededRandom } from './random.ts';
import { Runtime } from './runtime.ts';
import { oneForOne, type StrategySettings } from './supervision.ts';

export interface TestKitOptions {
  /** Source for backoff jitter; default a PRNG seeded with `seed`. */
  readonly random?: () => number;
  readonly seed?: number;
  readonly mailboxCapacity?: number;
  readonly askTimeoutMs?: number;
  readonly asksPendingMax?: number;
  /** Strategy of the guardian (top-level actors) and of actors that declare none. */
  readonly supervision?: StrategySettings;
  readonly tickIntervalMs?: number;
  /** Bound on scheduler steps and settle rounds in one `runUntilIdle` (a livelock fails the test). */
  readonly idleStepsMax?: number;
}

export class TestKit {
  /** Every dead letter, in order. */
  readonly deadLetters: DeadLetter[] = [];
  /** Every system event (failures, restarts, escalations), in order. */
  readonly events: SystemEvent[] = [];
  /** Errors that top-level actors escalated past the guardian (the root would restart the host here). */
  readonly escalations: unknown[] = [];
  private readonly scheduler = new ManualScheduler();
  private readonly runtime: Runtime;
  private readonly idleStepsMax: number;
  private uidSeq = 0;

  constructor(options: TestKitOptions = {}) {
    this.idleStepsMax = options.idleStepsMax ?? 1_000_000;
    this.runtime = new Runtime(
      {
        slot: -1,
        nodeId: undefined,
        scheduler: this.scheduler,
        random: options.random ?? seededRandom(options.seed ?? 1),
        newUid: () => ++this.uidSeq,
        log: silentLogger,
        mailboxCapacity: options.mailboxCapacity ?? 4096,
        askTimeoutMs: options.askTimeoutMs ?? 5_000,
        asksPendingMax: options.asksPendingMax ?? 65_536,
        supervision: options.supervision ?? oneForOne(),
        throughputPerActor: 64,
        dispatchBudgetMessages: 10_000,
        batchMessagesMax: 4096,
        tickIntervalMs: options.tickIntervalMs ?? 100,
      },
      {
        deadLetter: (letter) => this.deadLetters.push(letter),
        event: (event) => this.events.push(event),
        escalate: (error) => this.escalations.push(error),
        topLevelStopped: () => {},
        control: () => {},
      },
    );
  }

  /** Virtual milliseconds since the kit started. */
  now(): number {
    return this.scheduler.now();
  }

  spawn<C extends AnyActorClass>(
    cls: C,
    ...options: OptionsArgs<ChildOptions<C>, C>
  ): ActorRef<ProtocolOf<C>> {
    return this.runtime.spawnChild(this.runtime.guardian, cls, options[0] ?? {}) as ActorRef<ProtocolOf<C>>;
  }

  tell<P extends Message>(ref: ActorRef<P>, message: NoInfer<P>): void {
    this.runtime.tell(ref as AnyActorRef, message, undefined);
  }

  ask<P extends Message, T extends AskableOf<P>['type']>(
    ref: ActorRef<P>,
    message: AskableOf<P> & { readonly type: T },
    options?: AskOptions,
  ): Promise<ReplyFor<P, T>> {
    return this.runtime.ask(ref as AnyActorRef, message, undefined, options?.timeoutMs) as Promise<
      ReplyFor<P, T>
    >;
  }

  /** Stops an actor (children first) and runs until idle. */
  async stop(ref: AnyActorRef): Promise<void> {
    const cell = this.cellOf(ref);
    const stopped = stopCell(cell);
    await this.runUntilIdle();
    await stopped;
  }

  /** A probe: an actor that records what it receives, to pass as a reply-to or watcher. */
  probe<P extends Message = Message>(name?: string): TestProbe<P> {
    const received: P[] = [];
    const ref = this.runtime.spawnChild(this.runtime.guardian, ProbeActor, {
      props: { sink: received as Message[] },
      ...(name === undefined ? {} : { name }),
    });
    return new TestProbe<P>(ref as ActorRef<P>, received, this.cellOf(ref), this.runtime);
  }

  /** True if the actor is alive (not stopped). */
  isAlive(ref: AnyActorRef): boolean {
    return this.runtime.liveCell(ref.path, ref.uid) !== undefined;
  }

  /** Runs queued work and settles promises until nothing is left to do at the current virtual time. */
  async runUntilIdle(): Promise<void> {
    for (let round = 0; round < this.idleStepsMax; round++) {
      this.scheduler.runPending(this.idleStepsMax);
      await settlePromises();
      if (!this.scheduler.hasPending && this.runtime.isIdle) return;
    }
    throw new AssertionError(
      `not idle after ${this.idleStepsMax} rounds (an async receive waits on real I/O?)`,
    );
  }

  /** Moves virtual time forward by `ms`, firing timers in order and running until idle after each. */
  async advance(ms: number): Promise<void> {
    const target = this.scheduler.now() + ms;
    await this.runUntilIdle();
    for (
      let due = this.scheduler.nextDueAt(target);
      due !== undefined;
      due = this.scheduler.nextDueAt(target)
    ) {
      this.scheduler.fireDue(due);
      await this.runUntilIdle();
    }
    this.scheduler.setTime(target);
  }

  private cellOf(ref: AnyActorRef): ActorCell {
    const cell = this.runtime.liveCell(ref.path, ref.uid);
    if (cell === undefined) throw new AssertionError(`no live actor ${ref.path}`);
    return cell;
  }
}

// A real macrotask boundary: every promise continuation queued so far (async receive steps) runs first.
function settlePromises(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

class ProbeActor {
  private readonly sink: Message[];
  constructor(props: { sink: Message[] }) {
    this.sink = props.sink;
  }
  receive(message: Message): void {
    this.sink.push(message);
  }
}

export class TestProbe<P extends Message> {
  readonly ref: ActorRef<P>;
  /** Received and not yet taken by an `expect…`, oldest first. */
  readonly messages: P[];
  private readonly cell: ActorCell;
  private readonly runtime: Runtime;

  constructor(ref: ActorRef<P>, messages: P[], cell: ActorCell, runtime: Runtime) {
    this.ref = ref;
    this.messages = messages;
    this.cell = cell;
    this.runtime = runtime;
  }

  /** Takes the oldest message; fails if there is none. */
  expectMessage(): P {
    const message = this.messages.shift();
    if (message === undefined) throw new AssertionError(`probe ${this.ref.path} received nothing`);
    return message;
  }

  /** Takes the oldest message and checks its type. */
  expectMessageOfType<T extends P['type']>(type: T): Extract<P, { type: T }> {
    const message = this.expectMessage();
    if (message.type !== type) {
      throw new AssertionError(`probe ${this.ref.path} expected ${type}, got ${JSON.stringify(message)}`);
    }
    return message as Extract<P, { type: T }>;
  }

  expectNoMessage(): void {
    if (this.messages.length > 0) {
      throw new AssertionError(`probe ${this.ref.path} has unexpected ${JSON.stringify(this.messages[0])}`);
    }
  }

  /** The probe watches `ref` and will receive `Terminated` when it stops. */
  watch(ref: AnyActorRef): void {
    this.runtime.watches.watch(this.cell, ref);
  }
}
