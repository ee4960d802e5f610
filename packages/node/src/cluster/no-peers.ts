/**
 * The transport of a standalone node (no `[cluster]`): a cluster of one has no peers, so nothing is ever
 * sent; anything addressed to another node is dropped and counted, exactly as for an unreachable peer.
 */
import {
  type GroupId,
  type NodeChannel,
  type NodeId,
  PeerUnreachableError,
  type SnapshotMeta,
  type Transport,
  type TransportHandler,
} from '@flotilla/core';

export class NoPeersTransport implements Transport {
  readonly counters = { dropped: 0 };

  start(_handler: TransportHandler): Promise<void> {
    return Promise.resolve();
  }

  send(_to: NodeId, _group: GroupId, _payload: Uint8Array): void {
    this.counters.dropped++;
  }

  sendNode(_to: NodeId, _channel: NodeChannel, _payload: Uint8Array): void {
    this.counters.dropped++;
  }

  isHeld(): boolean {
    return false;
  }

  sendSnapshot(
    to: NodeId,
    _group: GroupId,
    _meta: SnapshotMeta,
    _chunks: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    return Promise.reject(new PeerUnreachableError(to, 'a standalone node has no peers'));
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
