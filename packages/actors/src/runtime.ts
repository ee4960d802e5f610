/**
 * The actor runtime of one thread: registry of cells, routing (local mailbox, a link's outbox, or another
 * node), the dispatcher's run queue, asks and replies. Main thread, host threads and the testkit each run one.
 */
import type { MessagePort } from 'node:worker_threads';
import { assert, assertNever } from '@flotilla/core';
import { AskTable, type ReplyAddress } from './asks.ts';
import { ActorCell } from './cell.ts';
import { ClassLoader } from './classes.ts';
import type { ChildOptionsBase } from './context.ts';
import { Dispatcher } from './dispatcher.ts';
import {
  ActorNotFoundError,
  ActorStoppedError,
  describeError,
  type ErrorDescriptor,
  errorText,
  HostFailedError,
  MailboxFullError,
  NameTakenError,
  rebuildError,
} from './errors.ts';
import type { DeadLetter, DeadLetterReason, SystemEvent } from './events.ts';
import {
  type ActorId,
  type Control,
  F_CONTROL,
  F_DELIVER,
  F_REMOTE,
  F_REPLY,
  F_TELLS,
  type Frame,
} from './frames.ts';
import { startCell, stopCell } from './lifecycle.ts';
import { Link, type LinkOwner, LinkSet } from './link.ts';
import type { Logger } from './logger.ts';
import { NodeRoute, type NodeRouteOwner } from './node-route.ts';
import type { ActorKind, AnyActorClass, AnyActorRef, Message } from './protocol.ts';
import type { Scheduler } from './scheduler.ts';
import type { StrategySettings, SupervisorStrategy } from './supervision.ts';
import { HostTicker, TimerMark } from './timers.ts';
import { refKey, WatchBook } from './watch.ts';

/** Thread-specific behaviour plugged into the runtime (main, host and testkit differ here). */
export interface RuntimeHooks {
  deadLetter(letter: DeadLetter): void;
  event(event: SystemEvent): void;
  /** The thread's guardian failed (a top-level actor escalated past its restart limit). */
  escalate(error: unknown): void;
  /** A top-level actor stopped for good (not during a reset or a shutdown). */
  topLevelStopped(path: string, uid: number): void;
  /** Control frames the runtime does not handle itself. */
  control(fromSlot: number, control: Control): void;
}

export interface RuntimeSettings {
  readonly slot: number;
  readonly nodeId: number | undefined;
  readonly scheduler: Scheduler;
  readonly random: () => number;
  readonly newUid: () => number;
  readonly log: Logger;
  readonly mailboxCapacity: number;
  readonly askTimeoutMs: number;
  readonly asksPendingMax: number;
  /** Strategy of the thread's guardian and of actors that declare none. */
  readonly supervision: StrategySettings;
  readonly throughputPerActor: number;
  readonly dispatchBudgetMessages: number;
  readonly batchMessagesMax: number;
  readonly tickIntervalMs: number;
}

export class Runtime implements LinkOwner, NodeRouteOwner {
  readonly slot: number;
  readonly nodeId: number | undefined;
  readonly scheduler: Scheduler;
  readonly random: () => number;
  readonly log: Logger;
  readonly defaultStrategy: SupervisorStrategy;
  readonly classes = new ClassLoader();
  readonly asks: AskTable;
  readonly ticker: HostTicker<ActorCell>;
  readonly guardian: ActorCell;
  readonly watches: WatchBook;
  /** Set while a reset or shutdown stops top-level actors on purpose (no `topLevelStopped` notices). */
  private quietStops = false;
  /** Set during a reset: top-level actors come back with the same ref, so their watchers are kept. */
  private keepWatchers = false;
  private readonly keptWatchers = new Map<string, Map<string, AnyActorRef>>();
  private readonly settings: RuntimeSettings;
  private readonly hooks: RuntimeHooks;
  private readonly cells = new Map<string, ActorCell>();
  readonly links: LinkSet;
  private readonly dispatcher: Dispatcher;
  /** Frames to and from actors of other nodes. */
  readonly nodes: NodeRoute;

  constructor(settings: RuntimeSettings, hooks: RuntimeHooks) {
    this.settings = settings;
    this.hooks = hooks;
    this.slot = settings.slot;
    this.nodeId = settings.nodeId;
    this.scheduler = settings.scheduler;
    this.random = settings.random;
    this.log = settings.log;
    this.defaultStrategy = settings.supervision;
    this.asks = new AskTable(settings.scheduler, settings.asksPendingMax);
    this.dispatcher = new Dispatcher(
      settings.scheduler,
      settings.throughputPerActor,
      settings.dispatchBudgetMessages,
    );
    this.ticker = new HostTicker(settings.tickIntervalMs, settings.scheduler, (cell, message) =>
      this.deliverToCell(cell, message, undefined, undefined),
    );
    this.watches = new WatchBook(this);
    this.links = new LinkSet(settings.scheduler);
    this.nodes = new NodeRoute(this);
    const guardianInit = {
      name: '',
      path: '/',
      uid: 0,
      parent: undefined,
      source: undefined,
      props: undefined,
    };
    this.guardian = new ActorCell(this, { ...guardianInit, mailboxCapacity: 1 });
    this.guardian.instance = { receive: () => {}, supervisorStrategy: settings.supervision };
    this.guardian.state = 'running';
  }

  // ---- sending ---------------------------------------------------------------------------------------

  /** Fire and forget. A local target with a full mailbox throws `MailboxFullError`. */
  tell(target: AnyActorRef, message: Message, sender: AnyActorRef | undefined): void {
    if (this.isLocal(target)) this.deliverLocal(target.path, target.uid, message, sender, undefined, false);
    else this.sendRemote(target, message, sender, 0);
  }

  ask(target: AnyActorRef, message: Message, sender: AnyActorRef | undefined, timeoutMs?: number) {
    const timeout = timeoutMs ?? this.settings.askTimeoutMs;
    const node = target.node === this.nodeId ? undefined : target.node;
    let registered: ReturnType<AskTable['register']>;
    try {
      registered = this.asks.register(node, target.slot, target.path, message.type, timeout);
    } catch (error) {
      return Promise.reject(error);
    }
    const { id, promise } = registered;
    if (this.isLocal(target)) {
      const reply = { slot: this.slot, id, node: undefined };
      this.deliverLocal(target.path, target.uid, message, sender, reply, false);
    } else {
      this.sendRemote(target, message, sender, id);
    }
    return promise;
  }

  /** Answers an ask wherever the asker lives; with no ask to answer the reply is a dead letter. */
  reply(address: ReplyAddress | undefined, ok: boolean, value: unknown, from: AnyActorRef | undefined): void {
    if (address === undefined) {
      this.deadLetter(from ?? this.guardian.ref, value, from, 'no-asker');
      return;
    }
    if (address.node !== undefined) {
      const to = { node: address.node, slot: address.slot };
      this.nodes.toNode(to, [F_REPLY, address.id, ok, ok ? value : describeError(value)]);
      return;
    }
    if (address.slot === this.slot) {
      this.asks.settle(address.id, ok, value);
      return;
    }
    // The asker's thread may be gone: its asks went with it, nothing is waiting for this reply.
    this.links.get(address.slot)?.push([F_REPLY, address.id, ok, ok ? value : describeError(value)]);
  }

  private isLocal(target: AnyActorRef): boolean {
    return target.slot === this.slot && (target.node === undefined || target.node === this.nodeId);
  }

  private sendRemote(target: AnyActorRef, message: Message, sender: AnyActorRef | undefined, askId: number) {
    if (target.node !== undefined && target.node !== this.nodeId) {
      this.nodes.send(target.node, target, message, sender, askId);
      return;
    }
    const link = this.links.get(target.slot);
    if (link === undefined || link.isClosed) {
      if (askId > 0)
        this.asks.settle(askId, false, new HostFailedError(target.slot, `host-down for ${target.path}`));
      else this.deadLetter(target, message, sender, 'host-down');
      return;
    }
    if (askId === 0) link.pushTell(target.path, target.uid, sender, message);
    else link.push([F_DELIVER, target.path, target.uid, message, sender, this.slot, askId]);
  }

  /** A control frame for thread `to.slot` of node `to.node` (this node when absent or equal). */
  sendControl(to: { readonly slot: number; readonly node?: number | undefined }, control: Control): void {
    if (to.node !== undefined && to.node !== this.nodeId)
      this.nodes.toNode({ node: to.node, slot: to.slot }, [F_CONTROL, control]);
    else this.links.get(to.slot)?.push([F_CONTROL, control]);
  }

  /** A ref minted here: it names this node when the system has a node id, so it still points home elsewhere. */
  refOf(path: string, uid: number, slot: number): AnyActorRef {
    const node = this.nodeId;
    return node === undefined ? { path, uid, slot } : { path, uid, slot, node };
  }

  /**
   * Puts a message in a local mailbox. Every message that reaches no actor is reported once: a tell as a
   * dead letter (a local tell to a full mailbox as a thrown `MailboxFullError`), an ask as a rejection.
   */
  deliverLocal(
    path: string,
    uid: number,
    message: Message,
    sender: AnyActorRef | undefined,
    reply: ReplyAddress | undefined,
    remote: boolean,
  ): void {
    const cell = this.cells.get(path);
    if (cell === undefined || cell.uid !== uid || cell.state === 'stopping' || cell.state === 'stopped') {
      if (reply !== undefined) this.reply(reply, false, new ActorNotFoundError(path), undefined);
      else {
        const reason = cell === undefined || cell.uid !== uid ? 'unknown-actor' : 'stopped';
        this.deadLetter(this.refOf(path, uid, this.slot), message, sender, reason);
      }
      return;
    }
    if (cell.offer(message, sender, reply)) return;
    const full = new MailboxFullError(path, cell.mailbox.capacity);
    if (reply !== undefined) this.reply(reply, false, full, cell.ref);
    else if (remote) this.deadLetter(cell.ref, message, sender, 'mailbox-full');
    else throw full;
  }

  /** Timer and ticker messages: a full mailbox makes them dead letters (nobody to throw to). */
  deliverToCell(
    cell: ActorCell,
    message: Message,
    sender: AnyActorRef | undefined,
    mark: TimerMark | undefined,
  ) {
    if (cell.state === 'stopping' || cell.state === 'stopped') return;
    if (!cell.offer(message, sender, mark)) this.deadLetter(cell.ref, message, sender, 'mailbox-full');
  }

  deadLetter(
    recipient: AnyActorRef,
    message: unknown,
    sender: AnyActorRef | undefined,
    reason: DeadLetterReason,
  ) {
    this.hooks.deadLetter({ recipient, message, sender, reason, slot: this.slot });
  }

  emit(event: SystemEvent): void {
    this.hooks.event(event);
  }

  // ---- dispatch --------------------------------------------------------------------------------------

  schedule(cell: ActorCell): void {
    this.dispatcher.schedule(cell);
  }

  /** True when no live actor has mail or an async step in flight and nothing waits to be sent. */
  get isIdle(): boolean {
    if (!this.dispatcher.isEmpty || this.links.hasDirty || this.nodes.hasQueued) return false;
    for (const cell of this.cells.values()) {
      if (cell.state === 'running' && (cell.busy || cell.mailbox.size > 0)) return false;
      if (cell.state === 'starting') return false;
    }
    return true;
  }

  // ---- cells -----------------------------------------------------------------------------------------

  spawnChild(
    parent: ActorCell,
    source: AnyActorClass | ActorKind<AnyActorClass>,
    options: ChildSpawnOptions,
  ) {
    assert(parent.state !== 'stopping' && parent.state !== 'stopped', () => `${parent.path} is stopping`);
    const name = options.name ?? parent.nextChildName();
    assert(
      /^[^/#\s]+$/.test(name),
      () => `actor name ${JSON.stringify(name)} must not be empty or contain / # or spaces`,
    );
    const path = parent === this.guardian ? `/${name}` : `${parent.path}/${name}`;
    if (parent.children.has(name) || this.cells.has(path)) throw new NameTakenError(path);
    const cell = new ActorCell(this, {
      name,
      path,
      uid: options.uid ?? this.settings.newUid(),
      parent,
      source: typeof source === 'function' ? { cls: source } : { kind: source },
      props: options.props,
      mailboxCapacity: options.mailboxCapacity ?? this.settings.mailboxCapacity,
    });
    parent.children.set(name, cell);
    this.cells.set(path, cell);
    const kept = this.keptWatchers.get(refKey(cell.ref));
    if (kept !== undefined) {
      this.keptWatchers.delete(refKey(cell.ref));
      for (const [key, watcher] of kept) cell.watchers.set(key, watcher);
    }
    startCell(cell);
    return cell.ref;
  }

  /** A top-level actor named by module + export: loads the class first, so a missing one rejects the spawn. */
  async spawnTopLevel(kind: ActorKind<AnyActorClass>, options: ChildSpawnOptions): Promise<AnyActorRef> {
    const path = `/${options.name ?? '?'}`;
    await this.classes.load(kind, path);
    return this.spawnChild(this.guardian, kind, options);
  }

  /** The live cell at `path` with `uid`, if any. */
  liveCell(path: string, uid: number): ActorCell | undefined {
    const cell = this.cells.get(path);
    return cell !== undefined && cell.uid === uid && cell.state !== 'stopping' && cell.state !== 'stopped'
      ? cell
      : undefined;
  }

  /** Every cell on this thread (for watch bookkeeping after a host restart). */
  allCells(): IterableIterator<ActorCell> {
    return this.cells.values();
  }

  /** Last step of a stop: leftover mail is reported, watchers told, the cell forgotten. */
  retire(cell: ActorCell): void {
    cell.mailbox.drainTo((message, sender, reply) => {
      if (reply instanceof TimerMark) return;
      if (reply !== undefined) this.reply(reply, false, new ActorStoppedError(cell.path), cell.ref);
      else this.deadLetter(cell.ref, message, sender, 'stopped');
    });
    const keep = this.keepWatchers && cell.parent === this.guardian;
    if (keep && cell.watchers.size > 0) this.keptWatchers.set(refKey(cell.ref), new Map(cell.watchers));
    this.watches.retire(cell, !keep);
    if (this.cells.get(cell.path) === cell) this.cells.delete(cell.path);
    const parent = cell.parent;
    if (parent !== undefined && parent.children.get(cell.name) === cell) parent.children.delete(cell.name);
    if (parent === this.guardian && !this.quietStops) this.hooks.topLevelStopped(cell.path, cell.uid);
  }

  escalateFromGuardian(error: unknown): void {
    this.log.error({ err: errorText(error) }, 'top-level actor escalated to the root');
    this.hooks.escalate(error);
  }

  /**
   * Stops every top-level actor (children first) without reporting them as stopped for good. With
   * `keepWatchers` (a reset: the root re-spawns them with the same refs) their watchers carry over.
   */
  async stopTopLevel(keepWatchers: boolean): Promise<void> {
    this.quietStops = true;
    this.keepWatchers = keepWatchers;
    this.keptWatchers.clear();
    try {
      await Promise.all([...this.guardian.children.values()].map(stopCell));
    } finally {
      this.quietStops = false;
      this.keepWatchers = false;
    }
    this.guardian.state = 'running';
    this.guardian.restartLog.length = 0;
  }

  // ---- links -----------------------------------------------------------------------------------------

  /** A link to thread `slot` that routes messages at once. */
  addLink(slot: number, port: MessagePort): Link {
    const link = this.createLink(slot, port);
    this.links.register(link);
    return link;
  }

  /** A link whose incoming frames are handled, but which carries no routed messages until registered. */
  createLink(slot: number, port: MessagePort): Link {
    return new Link(slot, port, this, this.settings.batchMessagesMax);
  }

  /** The thread at `slot` died: close the link, fail the asks it held, forget its watchers; tell other nodes. */
  peerDown(slot: number, reason: string): void {
    this.links.remove(slot);
    this.asks.rejectForSlot(slot, undefined, () => new HostFailedError(slot, reason));
    this.watches.peerDown(slot, undefined);
    this.nodes.broadcast({ type: 'peer-down', slot });
  }

  /** Thread `slot` is back with `respawned` top-level actors: re-watch them here and on other nodes. */
  hostRestarted(slot: number, respawned: readonly ActorId[]): void {
    this.watches.hostRestarted(slot, respawned, undefined);
    this.nodes.broadcast({ type: 'host-restarted', slot, respawned });
  }

  markDirty(link: Link): void {
    this.links.markDirty(link);
  }

  onFrames(fromSlot: number, frames: Frame[]): void {
    for (const frame of frames) {
      switch (frame[0]) {
        case F_DELIVER: {
          const reply = frame[6] > 0 ? { slot: frame[5], id: frame[6], node: undefined } : undefined;
          this.deliverLocal(frame[1], frame[2], frame[3] as Message, frame[4], reply, true);
          break;
        }
        case F_TELLS:
          this.deliverRun(frame[1], frame[2], frame[3], frame[4] as Message[]);
          break;
        case F_REPLY:
          this.asks.settle(
            frame[1],
            frame[2],
            frame[2] ? frame[3] : rebuildError(frame[3] as ErrorDescriptor),
          );
          break;
        case F_CONTROL:
          if (!this.watches.onControl(frame[1])) this.hooks.control(fromSlot, frame[1]);
          break;
        case F_REMOTE:
          this.nodes.onRemoteFrame(frame);
          break;
        default:
          assertNever(frame[0]);
      }
    }
  }

  /** Tells that arrived as a run: one lookup, then each message in order (the rest as dead letters). */
  deliverRun(path: string, uid: number, sender: AnyActorRef | undefined, messages: Message[]): void {
    const cell = this.liveCell(path, uid);
    let i = 0;
    if (cell !== undefined) {
      while (i < messages.length && cell.offer(messages[i]!, sender, undefined)) i++;
    }
    for (; i < messages.length; i++) this.deliverLocal(path, uid, messages[i]!, sender, undefined, true);
  }

  onUnsendable(toSlot: number, frame: Frame, error: unknown): void {
    if (frame[0] === F_TELLS) {
      const target = { path: frame[1], uid: frame[2], slot: toSlot };
      for (const message of frame[4]) this.deadLetter(target, message, frame[3], 'not-cloneable');
    } else if (frame[0] === F_DELIVER) {
      const target = { path: frame[1], uid: frame[2], slot: toSlot };
      if (frame[6] > 0) this.asks.settle(frame[6], false, error);
      else this.deadLetter(target, frame[3], frame[4], 'not-cloneable');
    } else if (frame[0] === F_REPLY) {
      this.links.get(toSlot)?.push([F_REPLY, frame[1], false, describeError(error)]);
    } else if (frame[0] === F_REMOTE) {
      this.nodes.onUnsendable(toSlot, frame, error);
    } else {
      this.log.error({ err: errorText(error), control: frame[1].type }, 'control frame not cloneable');
    }
  }
}

export interface ChildSpawnOptions extends ChildOptionsBase {
  readonly props?: unknown;
  /** Given by the root for top-level actors, so a re-spawn after a host death keeps the ref valid. */
  readonly uid?: number;
}
