/**
 * The main thread's door to other nodes: one outbox per node, flushed as one `bridge.send` per event-loop turn,
 * and the delivery of the batches that arrive (checked by node-wire.ts). Host threads reach it through main.
 *
 *   host actor ─ F_REMOTE ─▶ main ──┐                                     (other node)
 *   main actor ─────────────────────┴─▶ outbox[node] ══ bridge.send ══▶ receive ─┬─▶ main: slot -1, lookups
 *                                                                                └─▶ host link: F_REMOTE
 */
import type { AskTable } from './asks.ts';
import { decodeValue, encodeValue } from './codec.ts';
import { errorText, NodeUnreachableError } from './errors.ts';
import type { DeadLetterReason } from './events.ts';
import { type Control, F_CONTROL, F_REPLY, F_TELLS, type NodeFrame, type TellsFrame } from './frames.ts';
import type { Logger } from './logger.ts';
import { batchEntries, checkFrame, checkRef, isNodeId, WIRE_VERSION } from './node-wire.ts';
import type { AnyActorRef } from './protocol.ts';
import type { Scheduler } from './scheduler.ts';

/** How an actor system reaches the actor systems of other nodes (the node implements it over its peer links). */
export interface NodeBridge {
  /**
   * Sends one encoded batch of actor frames to node `to`. Best effort (may be lost); batches to one node should
   * arrive in the order sent. Called at most once per node per event-loop turn; a throw is logged, not retried.
   */
  send(to: number, batch: Uint8Array): void;
}

export interface NodeLinksStats {
  readonly batchesSent: number;
  readonly batchesReceived: number;
  /** Frames in the batches sent (a run of tells to one actor is one frame). */
  readonly framesSent: number;
  /** Well-formed frames received. */
  readonly framesReceived: number;
  /** Batches that did not decode or were not batches, and frames of the wrong shape: dropped. */
  readonly malformed: number;
  /** Messages to or from other nodes that ended as dead letters here (outbox full, not encodable, host down). */
  readonly deadLetters: number;
}

/** What the node feeds back into the actor system. */
export interface NodeLinks {
  /**
   * A batch that arrived from node `from`; decoded and validated here (malformed batches or frames are counted
   * in stats and dropped, never thrown).
   */
  receive(from: number, batch: Uint8Array): void;
  /**
   * Node `node` is gone or unreachable: asks waiting on its actors reject with NodeUnreachableError, watchers of
   * its actors get Terminated, watches it held on our actors are dropped. Idempotent. Later sends to it are
   * attempted again (the bridge decides: the node may come back).
   */
  nodeDown(node: number): void;
  stats(): NodeLinksStats;
}

/** How the runtime hands frames for other nodes to the router (main thread only). */
export interface NodeOutboxes {
  /** True while frames wait for the end-of-turn flush. */
  readonly hasQueued: boolean;
  pushTell(to: NodeSlot, path: string, uid: number, sender: AnyActorRef | undefined, message: unknown): void;
  push(to: NodeSlot, frame: NodeFrame): void;
  /** A control for the main thread of every node this one has heard from (this node's host deaths, restarts). */
  broadcast(control: Control): void;
}

/** A thread of a node. */
export interface NodeSlot {
  readonly node: number;
  readonly slot: number;
}

/** What the router needs from the main thread (its runtime and system), as `LinkOwner` is for links. */
export interface NodeRouterOwner {
  readonly nodeId: number;
  readonly scheduler: Scheduler;
  readonly log: Logger;
  readonly asks: AskTable;
  /** A checked frame from node `from` for thread `slot` here; returns the dead letters it made. */
  fromNode(from: number, slot: number, frame: NodeFrame): number;
  /** A frame for another node that cannot leave; returns the dead letters it made. */
  refuseToNode(to: NodeSlot, frame: NodeFrame, reason: DeadLetterReason, error: Error): number;
  /** Node `node` is gone: every thread here forgets it (asks, watches). */
  nodeDown(node: number): void;
  /** This node's top-level actor `name` (`ActorSystem.lookup`). */
  lookup(name: string): AnyActorRef | undefined;
}

export interface NodeRouterSettings {
  readonly remoteOutboxMessagesMax: number;
}

/** Frames for one node this turn, as the batch they will be: `[WIRE_VERSION, slot, frame, …]`. */
class Outbox {
  readonly node: number;
  entries: unknown[] = [WIRE_VERSION];
  /** Messages queued (a tells run counts each of its messages). */
  messages = 0;
  /** The last frame if it is a tells run that more tells (same thread, actor and sender) can join. */
  run: TellsFrame | undefined = undefined;
  runSlot = 0;

  constructor(node: number) {
    this.node = node;
  }

  take(): unknown[] {
    const entries = this.entries;
    this.entries = [WIRE_VERSION];
    this.messages = 0;
    this.run = undefined;
    return entries;
  }
}

/** Senders of a host's runs arrive as copies, so runs join on equal refs, not only on the same object. */
function sameRef(a: AnyActorRef | undefined, b: AnyActorRef | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return a.path === b.path && a.uid === b.uid && a.slot === b.slot && a.node === b.node;
}

export class NodeRouter implements NodeLinks, NodeOutboxes {
  private readonly bridge: NodeBridge;
  private readonly owner: NodeRouterOwner;
  private readonly outboxMessagesMax: number;
  private readonly outboxes = new Map<number, Outbox>();
  private dirty: Outbox[] = [];
  private flushScheduled = false;
  /** Nodes heard from since they were last reported down: they are told of this node's host deaths. */
  private readonly peers = new Set<number>();
  private closed = false;
  private readonly counts = {
    batchesSent: 0,
    batchesReceived: 0,
    framesSent: 0,
    framesReceived: 0,
    malformed: 0,
    deadLetters: 0,
  };

  constructor(bridge: NodeBridge, owner: NodeRouterOwner, settings: NodeRouterSettings) {
    this.bridge = bridge;
    this.owner = owner;
    this.outboxMessagesMax = settings.remoteOutboxMessagesMax;
  }

  get hasQueued(): boolean {
    return this.dirty.length > 0;
  }

  stats(): NodeLinksStats {
    return { ...this.counts };
  }

  // ---- outbound ------------------------------------------------------------------------------------------

  pushTell(to: NodeSlot, path: string, uid: number, sender: AnyActorRef | undefined, message: unknown): void {
    const box = this.outbox(to.node);
    if (box === undefined) return;
    if (box.messages >= this.outboxMessagesMax) {
      this.refuseFull(to, [F_TELLS, path, uid, sender, [message]]);
      return;
    }
    const run = box.run;
    if (
      run !== undefined &&
      box.runSlot === to.slot &&
      run[1] === path &&
      run[2] === uid &&
      sameRef(run[3], sender)
    ) {
      run[4].push(message);
    } else {
      box.run = [F_TELLS, path, uid, sender, [message]];
      box.runSlot = to.slot;
      box.entries.push(to.slot, box.run);
    }
    this.counted(box);
  }

  push(to: NodeSlot, frame: NodeFrame): void {
    if (frame[0] === F_TELLS) {
      for (const message of frame[4]) this.pushTell(to, frame[1], frame[2], frame[3], message);
      return;
    }
    const box = this.outbox(to.node);
    if (box === undefined) return;
    if (box.messages >= this.outboxMessagesMax) {
      this.refuseFull(to, frame);
      return;
    }
    box.run = undefined;
    box.entries.push(to.slot, frame);
    this.counted(box);
  }

  broadcast(control: Control): void {
    for (const node of this.peers) this.push({ node, slot: -1 }, [F_CONTROL, control]);
  }

  private outbox(node: number): Outbox | undefined {
    if (this.closed) return undefined;
    let box = this.outboxes.get(node);
    if (box === undefined) {
      box = new Outbox(node);
      this.outboxes.set(node, box);
    }
    return box;
  }

  private counted(box: Outbox): void {
    if (++box.messages !== 1) return;
    this.dirty.push(box);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.owner.scheduler.runAtTurnEnd(this.flush);
    }
  }

  private refuseFull(to: NodeSlot, frame: NodeFrame): void {
    const error = new NodeUnreachableError(
      to.node,
      `outbox full (${this.outboxMessagesMax} messages this turn, remoteOutboxMessagesMax)`,
    );
    this.counts.deadLetters += this.owner.refuseToNode(to, frame, 'outbox-full', error);
  }

  /** One `bridge.send` per node with frames: everything the turn produced for it, in order. */
  readonly flush = (): void => {
    this.flushScheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const box of dirty) this.send(box.node, box.take());
  };

  private send(node: number, entries: unknown[]): void {
    let bytes: Uint8Array;
    try {
      bytes = encodeValue(entries);
    } catch {
      const encodable = this.dropUnencodable(node, entries);
      if (encodable.length === 1) return;
      try {
        bytes = encodeValue(encodable);
      } catch (error) {
        this.owner.log.error({ node, err: errorText(error) }, 'batch for another node not encodable');
        return;
      }
      entries = encodable;
    }
    this.counts.batchesSent++;
    this.counts.framesSent += (entries.length - 1) / 2;
    try {
      this.bridge.send(node, bytes);
    } catch (error) {
      this.owner.log.error({ node, err: errorText(error) }, 'node bridge threw on send');
    }
  }

  // One bad message must not sink its batch: keep what encodes, one message at a time, and refuse the rest.
  private dropUnencodable(node: number, entries: unknown[]): unknown[] {
    const kept: unknown[] = [WIRE_VERSION];
    for (let i = 1; i < entries.length; i += 2) {
      const slot = entries[i] as number;
      const frame = entries[i + 1] as NodeFrame;
      if (frame[0] !== F_TELLS) {
        if (this.encodes(node, slot, frame, [slot, frame])) kept.push(slot, frame);
        continue;
      }
      const [kind, path, uid, sender, messages] = frame;
      const good = messages.filter((m) => this.encodes(node, slot, [kind, path, uid, sender, [m]], m));
      if (good.length > 0) kept.push(slot, [kind, path, uid, sender, good]);
    }
    return kept;
  }

  private encodes(node: number, slot: number, frame: NodeFrame, value: unknown): boolean {
    try {
      encodeValue(value);
      return true;
    } catch (error) {
      const refused = error instanceof Error ? error : new Error(String(error));
      this.counts.deadLetters += this.owner.refuseToNode({ node, slot }, frame, 'not-cloneable', refused);
      return false;
    }
  }

  // ---- inbound -------------------------------------------------------------------------------------------

  receive(from: number, batch: Uint8Array): void {
    if (this.closed) return;
    this.counts.batchesReceived++;
    if (!isNodeId(from) || from === this.owner.nodeId) {
      this.counts.malformed++;
      return;
    }
    let entries: unknown[] | undefined;
    try {
      entries = batchEntries(decodeValue(batch));
    } catch {
      entries = undefined;
    }
    if (entries === undefined) {
      this.counts.malformed++;
      return;
    }
    this.peers.add(from);
    for (let i = 1; i < entries.length; i += 2) {
      const frame = checkFrame(entries[i], entries[i + 1], from);
      if (frame === undefined) this.counts.malformed++;
      else this.deliver(from, entries[i] as number, frame);
    }
  }

  private deliver(from: number, slot: number, frame: NodeFrame): void {
    this.counts.framesReceived++;
    try {
      if (slot === -1 && frame[0] === F_CONTROL && frame[1].type === 'lookup') {
        const { id, name } = frame[1];
        this.push({ node: from, slot: -1 }, [F_REPLY, id, true, this.owner.lookup(name) ?? null]);
        return;
      }
      this.counts.deadLetters += this.owner.fromNode(from, slot, frame);
    } catch (error) {
      // Delivery is the runtime's own code; a throw here is a bug, but one peer's frame must not stop the rest.
      this.owner.log.error({ node: from, err: errorText(error) }, 'frame from another node failed');
    }
  }

  nodeDown(node: number): void {
    if (this.closed || !isNodeId(node) || node === this.owner.nodeId) return;
    this.peers.delete(node);
    this.owner.nodeDown(node);
  }

  // ---- lookups -------------------------------------------------------------------------------------------

  /** Node `node`'s top-level actor `name`: a request to its main thread, bounded like an ask. */
  lookup(node: number, name: string, timeoutMs: number): Promise<AnyActorRef | undefined> {
    if (node === this.owner.nodeId) return Promise.resolve(this.owner.lookup(name));
    let registered: ReturnType<AskTable['register']>;
    try {
      registered = this.owner.asks.register(node, -1, `/${name}`, 'lookup', timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    this.push({ node, slot: -1 }, [F_CONTROL, { type: 'lookup', id: registered.id, name }]);
    return registered.promise.then((answer) => this.lookupAnswer(node, answer));
  }

  private lookupAnswer(node: number, answer: unknown): AnyActorRef | undefined {
    if (answer === null || answer === undefined) return undefined;
    const ref = checkRef(answer, node, true);
    if (ref !== undefined) return ref;
    this.counts.malformed++;
    throw new NodeUnreachableError(node, 'malformed answer to a lookup');
  }

  /** Flushes what is queued; afterwards nothing is sent or received. */
  close(): void {
    this.flush();
    this.closed = true;
  }
}
