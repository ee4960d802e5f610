/**
 * What threads (and, through the node bridge, other nodes) say to each other. A postMessage carries an array of
 * frames (one batch per destination per event-loop turn); hot frames are tuples, rare control frames objects.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ErrorDescriptor } from './errors.ts';
import type { DeadLetter, SystemEvent } from './events.ts';
import type { AnyActorRef } from './protocol.ts';

export const F_DELIVER = 0;
export const F_REPLY = 1;
export const F_CONTROL = 2;
export const F_TELLS = 3;
export const F_REMOTE = 4;

/**
 * A message for `path`#`uid`; `replyId` > 0 marks an ask whose reply goes to thread `replySlot` (of the node the
 * frame came from, when it came from another node).
 */
export type DeliverFrame = [
  kind: typeof F_DELIVER,
  path: string,
  uid: number,
  message: unknown,
  sender: AnyActorRef | undefined,
  replySlot: number,
  replyId: number,
];

/**
 * Consecutive tells from one sender to one actor, in order: the common case (a stream of messages to one
 * actor) costs one lookup and one small array per message instead of a frame each.
 */
export type TellsFrame = [
  kind: typeof F_TELLS,
  path: string,
  uid: number,
  sender: AnyActorRef | undefined,
  messages: unknown[],
];

/** The answer to ask `askId`: a value, or (ok = false) an `ErrorDescriptor`. */
export type ReplyFrame = [kind: typeof F_REPLY, askId: number, ok: boolean, value: unknown];

export type ControlFrame = [kind: typeof F_CONTROL, control: Control];

/** The frames that also travel between nodes (node-wire.ts validates each one that arrives). */
export type NodeFrame = DeliverFrame | TellsFrame | ReplyFrame | ControlFrame;

/**
 * A frame for another node, between a host thread and its main thread (the only thread that talks to the bridge).
 * Host → main: `node` is the destination, `slot` the thread there. Main → host: `node` is the origin (where a
 * reply to an ask goes), `slot` the host itself. A reply address in `frame` names a thread of that node.
 */
export type RemoteFrame = [kind: typeof F_REMOTE, node: number, slot: number, frame: NodeFrame];

export type Frame = NodeFrame | RemoteFrame;

/** Everything needed to (re)create a top-level actor on a thread that has never seen its class. */
export interface SpawnSpec {
  readonly name: string;
  readonly path: string;
  readonly uid: number;
  readonly module: string;
  readonly exportName: string;
  readonly props: unknown;
  readonly mailboxCapacity: number | undefined;
}

export interface ActorId {
  readonly path: string;
  readonly uid: number;
}

/** Main → host requests; the host answers each with a `response` carrying the same `reqId`. */
export type HostRequest =
  | { readonly type: 'spawn'; readonly reqId: number; readonly spec: SpawnSpec }
  | { readonly type: 'stop'; readonly reqId: number; readonly path: string; readonly uid: number }
  | { readonly type: 'reset'; readonly reqId: number }
  | { readonly type: 'drain'; readonly reqId: number; readonly timeoutMs: number }
  | { readonly type: 'stop-all'; readonly reqId: number; readonly timeoutMs: number };

export type Control =
  | HostRequest
  // main → host notifications (peer-down and host-restarted also go to the main thread of other nodes, about
  // this node's hosts; that main hands them on to its own hosts)
  | { readonly type: 'peer-up'; readonly slot: number; readonly port: MessagePort }
  | { readonly type: 'peer-down'; readonly slot: number }
  | { readonly type: 'host-restarted'; readonly slot: number; readonly respawned: readonly ActorId[] }
  | { readonly type: 'end' }
  /** Node `node` is gone: reject asks to its actors, terminate watches of them, forget its watchers. */
  | { readonly type: 'node-down'; readonly node: number }
  // host → main
  | { readonly type: 'ready'; readonly slot: number }
  | { readonly type: 'response'; readonly reqId: number; readonly error: ErrorDescriptor | undefined }
  | { readonly type: 'dead-letters'; readonly letters: readonly DeadLetter[]; readonly droppedCount: number }
  | { readonly type: 'event'; readonly event: SystemEvent }
  | { readonly type: 'escalate'; readonly error: ErrorDescriptor }
  | { readonly type: 'top-level-stopped'; readonly path: string; readonly uid: number }
  // any thread ↔ any thread (death watch)
  | { readonly type: 'watch'; readonly target: ActorId; readonly watcher: AnyActorRef }
  | { readonly type: 'unwatch'; readonly target: ActorId; readonly watcher: AnyActorRef }
  | { readonly type: 'terminated'; readonly watcher: ActorId; readonly ref: AnyActorRef }
  // main → main of another node: the top-level actor `name`, answered by a reply frame to ask `id` (ref or null)
  | { readonly type: 'lookup'; readonly id: number; readonly name: string };
