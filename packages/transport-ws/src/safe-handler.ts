/**
 * Wraps the node's `TransportHandler` so that an exception in one of its callbacks is logged and counted
 * (`errors.handler`) instead of unwinding into ws or the event loop, where it would crash the process.
 */
import type { GroupId, NodeChannel, NodeId, SnapshotMeta, TransportHandler } from '@flotilla/core';
import type { Logger } from 'pino';
import type { WsTransportStats } from './stats.ts';

export function safeHandler(inner: TransportHandler, stats: WsTransportStats, log: Logger): TransportHandler {
  const failed = (what: string, error: unknown): void => {
    stats.errors.handler++;
    log.error({ err: error, callback: what }, 'transport handler threw');
  };
  return {
    deliver(from: NodeId, group: GroupId, payload: Uint8Array): void {
      try {
        inner.deliver(from, group, payload);
      } catch (error) {
        failed('deliver', error);
      }
    },
    deliverNode(from: NodeId, channel: NodeChannel, payload: Uint8Array): void {
      try {
        inner.deliverNode(from, channel, payload);
      } catch (error) {
        failed('deliverNode', error);
      }
    },
    peerUnreachable(peer: NodeId): void {
      try {
        inner.peerUnreachable(peer);
      } catch (error) {
        failed('peerUnreachable', error);
      }
    },
    peerBackpressure(peer: NodeId, held: boolean): void {
      try {
        inner.peerBackpressure(peer, held);
      } catch (error) {
        failed('peerBackpressure', error);
      }
    },
    removedByPeer(peer: NodeId): void {
      try {
        inner.removedByPeer?.(peer);
      } catch (error) {
        failed('removedByPeer', error);
      }
    },
    receiveSnapshot(
      from: NodeId,
      group: GroupId,
      meta: SnapshotMeta,
      chunks: AsyncIterable<Uint8Array>,
    ): Promise<void> {
      try {
        return Promise.resolve(inner.receiveSnapshot(from, group, meta, chunks));
      } catch (error) {
        failed('receiveSnapshot', error);
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
  };
}
