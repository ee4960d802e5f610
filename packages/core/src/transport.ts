/**
 * The transport contract: moves encoded Raft messages of many groups between nodes, and the node's own
 * traffic (requests between nodes, actor messages) on separate channels of the same links.
 * Raft tolerates loss, duplication and reordering, so delivery is best effort; the transport's job is to
 * batch, to preserve per-link order when it can, and to report links that broke so in-flight appends are retried.
 */
import type { GroupId, NodeId, SnapshotMeta } from './types.ts';

/**
 * Node-level channels carried on the peer links beside Raft traffic: `rpc` (requests between nodes, such
 * as a command forwarded to a group's leader) and `actors` (messages between actor systems). They are not
 * Raft groups: a frame says which of the two a record is for, so neither can be mistaken for the other.
 */
export type NodeChannel = 'rpc' | 'actors';

/** Every node channel, in wire order (the wire carries `NODE_CHANNELS.indexOf(channel) + 1`). */
export const NODE_CHANNELS: readonly NodeChannel[] = ['rpc', 'actors'];

/** What the transport calls back into. Implemented by the node (it routes to group actors). */
export interface TransportHandler {
  /** An encoded message (see `codec.ts`) for `group` arrived from `from`. */
  deliver(from: NodeId, group: GroupId, payload: Uint8Array): void;
  /** A payload on a node channel arrived from `from` (the transport does not look inside it). */
  deliverNode(from: NodeId, channel: NodeChannel, payload: Uint8Array): void;
  /** The link to `peer` broke or reconnected: anything sent to it may be lost (core: `reportUnreachable`). */
  peerUnreachable(peer: NodeId): void;
  /** The link to `peer` is over (`held: true`) or back under (`false`) its buffered-bytes high-water mark. */
  peerBackpressure(peer: NodeId, held: boolean): void;
  /** `peer` closed our link because this node was removed from the cluster (it refuses us from now on). */
  removedByPeer?(peer: NodeId): void;
  /**
   * A snapshot for `group` is being streamed from `from`. The handler consumes `chunks` (flow control:
   * the sender waits while chunks are not consumed). Resolves when the snapshot is stored.
   */
  receiveSnapshot(
    from: NodeId,
    group: GroupId,
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<void>;
}

export interface Transport {
  /** Starts accepting and opening links; calls `handler` for everything that arrives. */
  start(handler: TransportHandler): Promise<void>;
  /**
   * Queues an encoded message for `to`. Never blocks and never throws for an unreachable peer (the message
   * is dropped and counted). Messages queued in one event-loop turn leave as one frame per peer, in order.
   */
  send(to: NodeId, group: GroupId, payload: Uint8Array): void;
  /** Queues a payload for a node channel of `to`; batched, ordered and dropped exactly as `send`. */
  sendNode(to: NodeId, channel: NodeChannel, payload: Uint8Array): void;
  /** True while the link to `to` is over its high-water mark; callers should hold new appends. */
  isHeld(to: NodeId): boolean;
  /** Streams a snapshot in chunks with flow control; resolves when the receiver stored it, rejects if broken. */
  sendSnapshot(
    to: NodeId,
    group: GroupId,
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<void>;
  /** Closes every link and the listener. */
  stop(): Promise<void>;
}
