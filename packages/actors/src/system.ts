/**
 * `ActorSystem`: the main-thread face of the runtime. Spawns top-level actors on host threads (or on the main
 * thread with `hosts: 0`), sends from outside any actor, reports dead letters and events, connects to other
 * nodes, and shuts down cleanly.
 */
import { randomInt } from 'node:crypto';
import { assert, InvalidConfigError } from '@flotilla/core';
import { type ActorSystemOptions, hostConfigOf, resolveOptions, type SystemSettings } from './config.ts';
import type { AskOptions, ChildOptionsBase, OptionsArgs, PropsOption } from './context.ts';
import { waitIdle } from './dispatcher.ts';
import { errorText, NameTakenError, NodeUnreachableError, SpawnError, SystemStoppedError } from './errors.ts';
import { type DeadLetter, type DeadLetterReason, Stream, type SystemEvent } from './events.ts';
import { F_CONTROL, type SpawnSpec } from './frames.ts';
import { stopCell } from './lifecycle.ts';
import { type NodeBridge, type NodeLinks, NodeRouter } from './nodes.ts';
import type {
  ActorKind,
  ActorRef,
  AnyActorClass,
  AnyActorRef,
  AskableOf,
  Message,
  ProtocolOf,
  ReplyFor,
} from './protocol.ts';
import { type HostState, Root } from './root.ts';
import { Runtime } from './runtime.ts';
import { realScheduler } from './scheduler.ts';

/** Where a top-level actor lives: a host slot, the least loaded host (default), or the main thread. */
export type Placement = number | 'auto' | 'main';

export type SpawnOptions<C> = ChildOptionsBase & PropsOption<C> & { readonly host?: Placement };

interface TopLevel {
  readonly name: string;
  readonly path: string;
  readonly uid: number;
  readonly slot: number;
  readonly props: unknown;
  readonly mailboxCapacity: number | undefined;
  /** Host actors, and main actors spawned by kind. */
  readonly kind: ActorKind<AnyActorClass> | undefined;
  /** Main actors spawned from a class. */
  readonly cls: AnyActorClass | undefined;
}

function specOf(top: TopLevel): SpawnSpec {
  const kind = top.kind!;
  const { name, path, uid, props, mailboxCapacity } = top;
  return { name, path, uid, module: kind.module, exportName: kind.exportName, props, mailboxCapacity };
}

function childOptionsOf(top: TopLevel) {
  const options = { name: top.name, uid: top.uid, props: top.props };
  return top.mailboxCapacity === undefined ? options : { ...options, mailboxCapacity: top.mailboxCapacity };
}

export interface SystemStats {
  readonly hosts: readonly {
    readonly slot: number;
    readonly state: HostState;
    readonly generation: number;
  }[];
  /** Host threads alive in the pools. */
  readonly threads: number;
  readonly topLevelActors: number;
  readonly deadLetters: Readonly<Record<DeadLetterReason, number>>;
  /** Dead letters a host counted but did not forward (past `deadLettersPerTurnMax`). */
  readonly deadLettersDropped: number;
  /** Host tasks that rejected during shutdown; a clean shutdown leaves 0. */
  readonly shutdownRejections: number;
}

export class ActorSystem {
  /** Every message that reached no actor, from every thread. */
  readonly deadLetters: Stream<DeadLetter>;
  /** Failures, restarts, host deaths. */
  readonly events: Stream<SystemEvent>;
  /** Resolves when the system has stopped: `undefined` after `shutdown()`, the error if it failed. */
  readonly terminated: Promise<Error | undefined>;
  private readonly settings: SystemSettings;
  private readonly runtime: Runtime;
  private readonly root: Root;
  private readonly tops = new Map<string, TopLevel>();
  private readonly deadLetterCounts: Record<DeadLetterReason, number> = {
    'unknown-actor': 0,
    stopped: 0,
    'mailbox-full': 0,
    'host-down': 0,
    'no-asker': 0,
    'no-route': 0,
    'not-cloneable': 0,
    'outbox-full': 0,
  };
  private deadLettersDropped = 0;
  private nodes: NodeRouter | undefined;
  private nameSeq = 0;
  private state: 'running' | 'stopping' | 'stopped' = 'running';
  private shutdownPromise: Promise<void> | undefined;
  private resolveTerminated!: (error: Error | undefined) => void;

  private constructor(settings: SystemSettings) {
    this.settings = settings;
    const log = settings.logger.child({ component: 'actors' });
    const onListenerError = (error: unknown) => log.error({ err: errorText(error) }, 'listener threw');
    this.deadLetters = new Stream(onListenerError);
    this.events = new Stream(onListenerError);
    this.terminated = new Promise((resolve) => {
      this.resolveTerminated = resolve;
    });
    this.runtime = new Runtime(
      {
        slot: -1,
        nodeId: settings.nodeId,
        scheduler: realScheduler,
        random: settings.random,
        newUid: () => randomInt(1, 2 ** 47),
        log,
        mailboxCapacity: settings.mailboxCapacity,
        askTimeoutMs: settings.askTimeoutMs,
        asksPendingMax: settings.asksPendingMax,
        supervision: settings.supervision,
        throughputPerActor: settings.throughputPerActor,
        dispatchBudgetMessages: settings.dispatchBudgetMessages,
        batchMessagesMax: settings.batchMessagesMax,
        tickIntervalMs: settings.tickIntervalMs,
      },
      {
        deadLetter: (letter) => this.onDeadLetters([letter], 0),
        event: (event) => this.events.publish(event),
        escalate: (error) => this.onMainEscalation(error),
        topLevelStopped: (path, uid) => this.forgetTop(path, uid),
        control: (from, control) => this.root.onControl(from, control),
      },
    );
    this.root = new Root(settings, hostConfigOf(settings), this.runtime, {
      emit: (event) => this.events.publish(event),
      deadLetters: (letters, dropped) => this.onDeadLetters(letters, dropped),
      topLevelStopped: (path, uid) => this.forgetTop(path, uid),
      specsOf: (slot) => [...this.tops.values()].filter((t) => t.slot === slot).map(specOf),
      forget: (path) => this.tops.delete(path),
      failed: (error) => this.fail(error),
    });
  }

  /** Starts the host threads (all up before this resolves). */
  static async start(options: ActorSystemOptions = {}): Promise<ActorSystem> {
    const system = new ActorSystem(resolveOptions(options));
    try {
      await system.root.start();
    } catch (error) {
      await system.shutdown();
      throw error;
    }
    return system;
  }

  /** Number of host threads (M); 0 means actors live on the main thread. */
  get hostCount(): number {
    return this.settings.hosts;
  }

  /**
   * Spawns a top-level actor. On a host thread the class is named by an `ActorKind` (module + export); a class
   * itself can be given for the main thread (`host: 'main'`, or a system with `hosts: 0`). Resolves once the
   * class is loaded and the actor registered (messages sent after this are queued even during `preStart`).
   */
  async spawn<C extends AnyActorClass>(
    source: ActorKind<C> | C,
    ...args: OptionsArgs<SpawnOptions<C>, C>
  ): Promise<ActorRef<ProtocolOf<C>>> {
    if (this.state !== 'running') throw new SystemStoppedError('spawn');
    const options: ChildOptionsBase & { readonly props?: unknown; readonly host?: Placement } = args[0] ?? {};
    const name = options.name ?? `$${++this.nameSeq}`;
    const path = `/${name}`;
    if (this.tops.has(path)) throw new NameTakenError(path);
    const slot = this.place(options.host);
    const isClass = typeof source === 'function';
    if (isClass && slot !== -1) {
      throw new SpawnError(
        path,
        'a class can be spawned only on the main thread; name an actorKind(module, export)',
      );
    }
    const top: TopLevel = {
      name,
      path,
      uid: randomInt(1, 2 ** 47),
      slot,
      props: slot === -1 ? options.props : cloneable(path, options.props),
      mailboxCapacity: options.mailboxCapacity,
      kind: isClass ? undefined : (source as ActorKind<AnyActorClass>),
      cls: isClass ? (source as AnyActorClass) : undefined,
    };
    if (slot !== -1) await this.root.whenUp(slot);
    if (this.tops.has(path)) throw new NameTakenError(path);
    this.tops.set(path, top);
    try {
      await this.spawnTop(top);
    } catch (error) {
      this.forgetTop(path, top.uid);
      throw error;
    }
    return this.runtime.refOf(path, top.uid, slot) as ActorRef<ProtocolOf<C>>;
  }

  private async spawnTop(top: TopLevel): Promise<void> {
    if (top.slot >= 0) {
      const spec = specOf(top);
      await this.root.request(top.slot, (reqId) => ({ type: 'spawn', reqId, spec }));
    } else if (top.cls !== undefined) {
      this.runtime.spawnChild(this.runtime.guardian, top.cls, childOptionsOf(top));
    } else {
      await this.runtime.spawnTopLevel(top.kind!, childOptionsOf(top));
    }
  }

  /** Fire and forget from outside any actor. A main-thread target with a full mailbox throws `MailboxFullError`. */
  tell<P extends Message>(ref: ActorRef<P>, message: NoInfer<P>): void {
    this.runtime.tell(ref as AnyActorRef, message, undefined);
  }

  /** Rejects with `AskTimeoutError`, `MailboxFullError`, `ActorNotFoundError`, `ActorFailedError`, … */
  ask<P extends Message, T extends AskableOf<P>['type']>(
    ref: ActorRef<P>,
    message: AskableOf<P> & { readonly type: T },
    options?: AskOptions,
  ): Promise<ReplyFor<P, T>> {
    if (this.state === 'stopped') return Promise.reject(new SystemStoppedError('ask'));
    const reply = this.runtime.ask(ref as AnyActorRef, message, undefined, options?.timeoutMs);
    return reply as Promise<ReplyFor<P, T>>;
  }

  /**
   * Stops any actor of this node by ref (children first); a stopped top-level actor is not re-spawned after a
   * host death. Another node's actors are stopped from their own node.
   */
  async stop(ref: AnyActorRef): Promise<void> {
    assert(
      ref.node === undefined || ref.node === this.settings.nodeId,
      () => `${ref.path} lives on node ${ref.node}: stop it there`,
    );
    if (ref.slot === -1) {
      const cell = this.runtime.liveCell(ref.path, ref.uid);
      if (cell !== undefined) await stopCell(cell);
      return;
    }
    await this.root.request(ref.slot, (reqId) => ({ type: 'stop', reqId, path: ref.path, uid: ref.uid }));
  }

  /** The ref of a top-level actor by name. */
  lookup(name: string): AnyActorRef | undefined {
    const top = this.tops.get(`/${name}`);
    return top === undefined ? undefined : this.runtime.refOf(top.path, top.uid, top.slot);
  }

  /**
   * Connects this system to the actor systems of other nodes (main thread, once; needs `nodeId`). From then on
   * refs of other nodes are told, asked and watched through `bridge`; the node feeds what arrives, and which
   * nodes went down, into the returned `NodeLinks`.
   */
  connectNodes(bridge: NodeBridge): NodeLinks {
    const nodeId = this.settings.nodeId;
    if (nodeId === undefined) throw new InvalidConfigError('nodeId', 'connectNodes needs the nodeId option');
    assert(this.nodes === undefined, 'connectNodes may be called once');
    const runtime = this.runtime;
    const router = new NodeRouter(
      bridge,
      {
        nodeId,
        scheduler: realScheduler,
        log: runtime.log,
        asks: runtime.asks,
        fromNode: (from, slot, frame) => runtime.nodes.fromNode(from, slot, frame),
        refuseToNode: (to, frame, reason, error) => runtime.nodes.refuse(to, frame, reason, error),
        nodeDown: (node) => this.nodeDown(node),
        lookup: (name) => this.lookup(name),
      },
      { remoteOutboxMessagesMax: this.settings.remoteOutboxMessagesMax },
    );
    this.nodes = router;
    runtime.nodes.attach(router);
    return {
      receive: (from, batch) => router.receive(from, batch),
      nodeDown: (node) => router.nodeDown(node),
      stats: () => router.stats(),
    };
  }

  /**
   * The current ref (slot and uid) of node `node`'s top-level actor `name`, undefined if it has none. Rejects
   * with `AskTimeoutError` after `timeoutMs` (default `askTimeoutMs`), `NodeUnreachableError` without a bridge
   * or when the node is reported down meanwhile.
   */
  lookupRemote(
    node: number,
    name: string,
    options?: { readonly timeoutMs?: number },
  ): Promise<AnyActorRef | undefined> {
    if (this.state === 'stopped') return Promise.reject(new SystemStoppedError('look up'));
    if (this.nodes === undefined) {
      const reason = 'no bridge to other nodes is connected (ActorSystem.connectNodes)';
      return Promise.reject(new NodeUnreachableError(node, reason));
    }
    return this.nodes.lookup(node, name, options?.timeoutMs ?? this.settings.askTimeoutMs);
  }

  /** Node `node` is gone: main forgets it now, each host when its notice arrives. */
  private nodeDown(node: number): void {
    this.runtime.nodes.nodeDown(node);
    for (const link of this.runtime.links.all()) link.push([F_CONTROL, { type: 'node-down', node }]);
  }

  stats(): SystemStats {
    const hosts = [];
    for (let slot = 0; slot < this.settings.hosts; slot++) {
      hosts.push({ slot, state: this.root.state(slot) ?? 'down', generation: this.root.generation(slot) });
    }
    return {
      hosts,
      threads: this.root.threadCount,
      topLevelActors: this.tops.size,
      deadLetters: { ...this.deadLetterCounts },
      deadLettersDropped: this.deadLettersDropped,
      shutdownRejections: this.root.shutdownRejections,
    };
  }

  /**
   * Graceful shutdown: drain mailboxes (bounded by `drainTimeoutMs`), stop every actor children first, end the
   * host tasks, close the pools (bounded by `stopTimeoutMs`). Idempotent.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.runShutdown(undefined);
    return this.shutdownPromise;
  }

  private async runShutdown(failure: Error | undefined): Promise<void> {
    this.state = 'stopping';
    const { drainTimeoutMs, stopTimeoutMs } = this.settings;
    // Two passes: messages that cross threads during the first pass are drained by the second.
    const deadline = Date.now() + drainTimeoutMs;
    for (let pass = 0; pass < 2; pass++) {
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) break;
      await Promise.all([this.root.drain(leftMs), waitIdle(this.runtime, leftMs)]);
    }
    await Promise.all([
      this.root.stopAll(stopTimeoutMs),
      withTimeout(this.runtime.stopTopLevel(false), stopTimeoutMs),
    ]);
    await this.root.close(stopTimeoutMs);
    this.runtime.links.closeAll();
    this.nodes?.close();
    this.runtime.asks.rejectAll(() => new SystemStoppedError('wait for a reply'));
    this.state = 'stopped';
    this.resolveTerminated(failure);
  }

  private fail(error: Error): void {
    this.settings.logger.error({ err: errorText(error) }, 'actor system failed');
    this.events.publish({ type: 'system-failed', error: errorText(error) });
    this.shutdownPromise ??= this.runShutdown(error);
  }

  private place(host: Placement | undefined): number {
    if (host === 'main' || this.settings.hosts === 0) {
      if (typeof host === 'number')
        throw new InvalidConfigError('host', `${host}: this system has no host threads`);
      return -1;
    }
    if (typeof host === 'number') {
      if (!Number.isInteger(host) || host < 0 || host >= this.settings.hosts) {
        throw new InvalidConfigError('host', `${host} is not a host slot (0..${this.settings.hosts - 1})`);
      }
      return host;
    }
    // Least loaded: fewest top-level actors among the hosts that are up (ties: lowest slot).
    const load = new Array<number>(this.settings.hosts).fill(0);
    for (const top of this.tops.values()) if (top.slot >= 0) load[top.slot]!++;
    let best = -1;
    for (let slot = 0; slot < load.length; slot++) {
      const up = this.root.state(slot) === 'up';
      if (up && (best < 0 || load[slot]! < load[best]!)) best = slot;
    }
    return Math.max(best, 0);
  }

  private forgetTop(path: string, uid: number): void {
    if (this.tops.get(path)?.uid === uid) this.tops.delete(path);
  }

  private onDeadLetters(letters: readonly DeadLetter[], droppedCount: number): void {
    this.deadLettersDropped += droppedCount;
    for (const letter of letters) {
      this.deadLetterCounts[letter.reason]++;
      this.deadLetters.publish(letter);
    }
  }

  /** A main-thread top-level actor escalated: restart the main supervisor (same refs), within intensity. */
  private onMainEscalation(error: unknown): void {
    const failure = error instanceof Error ? error : new Error(String(error));
    this.events.publish({ type: 'host-supervisor-restarted', slot: -1, error: errorText(error) });
    this.root.afterIntensity(-1, failure, () => void this.resetMain());
  }

  private async resetMain(): Promise<void> {
    await this.runtime.stopTopLevel(true);
    for (const top of [...this.tops.values()]) {
      if (top.slot !== -1) continue;
      try {
        await this.spawnTop(top);
      } catch (error) {
        this.settings.logger.error({ actor: top.path, err: errorText(error) }, 'cannot re-spawn');
        this.forgetTop(top.path, top.uid);
      }
    }
  }
}

function cloneable(path: string, props: unknown): unknown {
  try {
    structuredClone(props);
  } catch (error) {
    throw new SpawnError(path, `props cannot cross threads (structured clone): ${errorText(error)}`);
  }
  return props;
}

async function withTimeout(work: Promise<void>, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([work, timeout]);
  clearTimeout(timer);
}
