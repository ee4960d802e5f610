/**
 * How one thread's runtime reaches actors of other nodes: frames out (a host through main, main into the node
 * outboxes), checked frames in, and what becomes of a frame that cannot cross (dead letter, rejected ask).
 */
import { assert, assertNever } from '@flotilla/core';
import type { AskTable, ReplyAddress } from './asks.ts';
import {
  describeError,
  type ErrorDescriptor,
  HostFailedError,
  NodeUnreachableError,
  rebuildError,
} from './errors.ts';
import type { DeadLetterReason } from './events.ts';
import {
  type Control,
  F_CONTROL,
  F_DELIVER,
  F_REMOTE,
  F_REPLY,
  F_TELLS,
  type NodeFrame,
  type RemoteFrame,
} from './frames.ts';
import type { LinkSet } from './link.ts';
import type { Logger } from './logger.ts';
import type { NodeOutboxes, NodeSlot } from './nodes.ts';
import type { AnyActorRef, Message } from './protocol.ts';
import type { WatchBook } from './watch.ts';

const NO_BRIDGE = 'no bridge to other nodes is connected (ActorSystem.connectNodes)';

/** What the route needs from its thread's runtime, as `LinkOwner` is for links. */
export interface NodeRouteOwner {
  readonly slot: number;
  readonly asks: AskTable;
  readonly watches: WatchBook;
  readonly links: LinkSet;
  readonly log: Logger;
  refOf(path: string, uid: number, slot: number): AnyActorRef;
  deliverLocal(
    path: string,
    uid: number,
    message: Message,
    sender: AnyActorRef | undefined,
    reply: ReplyAddress | undefined,
    remote: boolean,
  ): void;
  deliverRun(path: string, uid: number, sender: AnyActorRef | undefined, messages: Message[]): void;
  deadLetter(
    recipient: AnyActorRef,
    message: unknown,
    sender: AnyActorRef | undefined,
    reason: DeadLetterReason,
  ): void;
  reply(address: ReplyAddress | undefined, ok: boolean, value: unknown, from: AnyActorRef | undefined): void;
}

export class NodeRoute {
  private readonly owner: NodeRouteOwner;
  /** Main thread with a bridge connected: the outboxes to other nodes (`ActorSystem.connectNodes`). */
  private outboxes: NodeOutboxes | undefined;

  constructor(owner: NodeRouteOwner) {
    this.owner = owner;
  }

  /** True while frames wait for the end-of-turn flush to other nodes. */
  get hasQueued(): boolean {
    return this.outboxes?.hasQueued === true;
  }

  /** Main thread: frames for other nodes go to `outboxes` from now on (until then: no route). */
  attach(outboxes: NodeOutboxes): void {
    assert(this.owner.slot === -1, 'only the main thread talks to other nodes');
    this.outboxes = outboxes;
  }

  /** Main thread: a control for every node this one has heard from (this node's host deaths and restarts). */
  broadcast(control: Control): void {
    this.outboxes?.broadcast(control);
  }

  // ---- outbound --------------------------------------------------------------------------------------

  /** A tell (`askId` 0) or an ask to `target`, an actor of node `node`. */
  send(node: number, target: AnyActorRef, message: Message, sender: AnyActorRef | undefined, askId: number) {
    const { path, uid, slot } = target;
    const owner = this.owner;
    if (askId > 0) this.toNode({ node, slot }, [F_DELIVER, path, uid, message, sender, owner.slot, askId]);
    else if (owner.slot !== -1) owner.links.get(-1)?.pushRemoteTell(node, slot, path, uid, sender, message);
    else if (this.outboxes !== undefined) this.outboxes.pushTell({ node, slot }, path, uid, sender, message);
    else owner.deadLetter(target, message, sender, 'no-route');
  }

  /** A frame for thread `to.slot` of node `to.node`: a host hands it to main, main to that node's outbox. */
  toNode(to: NodeSlot, frame: NodeFrame): void {
    const owner = this.owner;
    if (owner.slot !== -1) owner.links.get(-1)?.push([F_REMOTE, to.node, to.slot, frame]);
    else if (this.outboxes !== undefined) this.outboxes.push(to, frame);
    else this.refuse(to, frame, 'no-route', new NodeUnreachableError(to.node, NO_BRIDGE));
  }

  /**
   * A frame of this node for thread `to.slot` of node `to.node` cannot leave (no bridge, outbox full, not
   * encodable): its tells are dead letters, its ask rejects, a watch terminates at once. Returns dead letters made.
   */
  refuse(to: NodeSlot, frame: NodeFrame, reason: DeadLetterReason, error: Error): number {
    const owner = this.owner;
    const { node, slot } = to;
    switch (frame[0]) {
      case F_TELLS: {
        const target = { path: frame[1], uid: frame[2], slot, node };
        for (const message of frame[4]) owner.deadLetter(target, message, frame[3], reason);
        return frame[4].length;
      }
      case F_DELIVER:
        if (frame[6] > 0) {
          owner.reply({ slot: frame[5], id: frame[6], node: undefined }, false, error, undefined);
          return 0;
        }
        owner.deadLetter({ path: frame[1], uid: frame[2], slot, node }, frame[3], frame[4], reason);
        return 1;
      case F_REPLY:
        // An unencodable reply still answers the ask (with the encoding error, which encodes); past the outbox
        // bound the reply is lost and the asker times out.
        if (reason === 'not-cloneable') this.toNode(to, [F_REPLY, frame[1], false, describeError(error)]);
        return 0;
      case F_CONTROL:
        this.refuseControl(to, frame[1], reason, error);
        return 0;
      default:
        return assertNever(frame[0]);
    }
  }

  private refuseControl(to: NodeSlot, control: Control, reason: DeadLetterReason, error: Error): void {
    const owner = this.owner;
    if (control.type === 'watch') {
      const { path, uid } = control.target;
      owner.watches.sendTerminated(control.watcher, { path, uid, slot: to.slot, node: to.node });
    } else if (control.type === 'lookup') {
      owner.asks.settle(control.id, false, error);
    } else {
      owner.log.warn(
        { node: to.node, control: control.type, reason },
        'control frame for another node dropped',
      );
    }
  }

  // ---- inbound ---------------------------------------------------------------------------------------

  /**
   * Main thread: a checked frame from node `from` for thread `slot` here; a host that is down answers its
   * asks with `HostFailedError`. Returns the dead letters it made.
   */
  fromNode(from: number, slot: number, frame: NodeFrame): number {
    const owner = this.owner;
    if (slot === owner.slot) {
      this.onNodeFrame(from, frame);
      return 0;
    }
    const link = owner.links.get(slot);
    if (link !== undefined && !link.isClosed) {
      link.push([F_REMOTE, from, slot, frame]);
      return 0;
    }
    return this.undeliverable(
      { node: from, slot },
      frame,
      'host-down',
      new HostFailedError(slot, 'host is down'),
    );
  }

  /** An `F_REMOTE` frame on a link. On main: a host's frame for another node. On a host: one from a node. */
  onRemoteFrame(frame: RemoteFrame): void {
    if (this.owner.slot === -1) this.toNode({ node: frame[1], slot: frame[2] }, frame[3]);
    else this.onNodeFrame(frame[1], frame[3]);
  }

  /** An `F_REMOTE` frame the codec refused on the link to `toSlot`. */
  onUnsendable(toSlot: number, frame: RemoteFrame, error: unknown): void {
    const refused = error instanceof Error ? error : new Error(String(error));
    const route = { node: frame[1], slot: frame[2] };
    if (toSlot === -1) this.refuse(route, frame[3], 'not-cloneable', refused);
    else this.undeliverable(route, frame[3], 'not-cloneable', refused);
  }

  /** Node `node` is gone: asks to its actors reject, watches of them terminate, its watchers are forgotten. */
  nodeDown(node: number): void {
    this.owner.asks.rejectForNode(node, () => new NodeUnreachableError(node, 'node down'));
    this.owner.watches.nodeDown(node);
  }

  /** A frame from node `node` for this thread (checked on arrival by node-wire.ts). */
  private onNodeFrame(node: number, frame: NodeFrame): void {
    const owner = this.owner;
    switch (frame[0]) {
      case F_DELIVER: {
        const reply = frame[6] > 0 ? { slot: frame[5], id: frame[6], node } : undefined;
        owner.deliverLocal(frame[1], frame[2], frame[3] as Message, frame[4], reply, true);
        return;
      }
      case F_TELLS:
        owner.deliverRun(frame[1], frame[2], frame[3], frame[4] as Message[]);
        return;
      case F_REPLY: {
        const [, id, ok, value] = frame;
        owner.asks.settleFromNode(id, node, ok, () => (ok ? value : rebuildError(value as ErrorDescriptor)));
        return;
      }
      case F_CONTROL:
        this.onNodeControl(node, frame[1]);
        return;
      default:
        assertNever(frame[0]);
    }
  }

  /** Death watch, and (main, then every host) the other node's host deaths and restarts. */
  private onNodeControl(node: number, control: Control): void {
    const owner = this.owner;
    if (owner.watches.onControl(control)) return;
    if (control.type === 'peer-down') {
      const { slot } = control;
      owner.asks.rejectForSlot(
        slot,
        node,
        () => new HostFailedError(slot, `host thread of node ${node} died`),
      );
      owner.watches.peerDown(slot, node);
    } else if (control.type === 'host-restarted') {
      owner.watches.hostRestarted(control.slot, control.respawned, node);
    } else {
      owner.log.warn({ node, control: control.type }, 'unexpected control frame from another node');
      return;
    }
    if (owner.slot !== -1) return;
    for (const link of owner.links.all()) link.push([F_REMOTE, node, link.slot, [F_CONTROL, control]]);
  }

  /**
   * A frame from node `route.node` for thread `route.slot` here cannot be delivered (that thread is down). An ask
   * is answered with `error`; a watch is dropped (the node re-sends it when told `host-restarted`). Returns dead
   * letters made.
   */
  private undeliverable(route: NodeSlot, frame: NodeFrame, reason: DeadLetterReason, error: Error): number {
    const owner = this.owner;
    const { node, slot } = route;
    switch (frame[0]) {
      case F_TELLS: {
        const target = owner.refOf(frame[1], frame[2], slot);
        for (const message of frame[4]) owner.deadLetter(target, message, frame[3], reason);
        return frame[4].length;
      }
      case F_DELIVER:
        if (frame[6] > 0) {
          owner.reply({ slot: frame[5], id: frame[6], node }, false, error, undefined);
          return 0;
        }
        owner.deadLetter(owner.refOf(frame[1], frame[2], slot), frame[3], frame[4], reason);
        return 1;
      case F_REPLY: // the asker's thread died, and its asks with it
      case F_CONTROL:
        return 0;
      default:
        return assertNever(frame[0]);
    }
  }
}
