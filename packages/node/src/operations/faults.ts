/**
 * Fault injection for tests of real processes (enabled by `[testing] fault_injection = true`, never by
 * default): wraps the transport so that traffic to and from chosen peers is dropped both ways, which is a
 * network partition as the Raft layer sees it, while the processes and their sockets stay up.
 */
import type { GroupId, NodeChannel, NodeId, SnapshotMeta, Transport, TransportHandler } from '@flotilla/core';
import { PeerUnreachableError } from '@flotilla/core';

export class FaultyTransport implements Transport {
  private readonly blocked = new Set<NodeId>();
  private handler: TransportHandler | undefined;
  readonly counters = { droppedOut: 0, droppedIn: 0 };

  constructor(private readonly inner: Transport) {}

  /**
   * Drops all traffic with `peers` (replacing the previous set); an empty list heals. Each link that goes
   * down or comes back is reported, as the real transport does when its liveness ping fails or a link
   * reopens, so that quiesced groups wake up and elect (a partition that nobody reports would leave a
   * quiesced follower asleep forever, which no real network does).
   */
  block(peers: readonly NodeId[]): void {
    const before = new Set(this.blocked);
    this.blocked.clear();
    for (const p of peers) this.blocked.add(p);
    const changed = [
      ...peers.filter((p) => !before.has(p)),
      ...[...before].filter((p) => !this.blocked.has(p)),
    ];
    for (const p of changed) this.handler?.peerUnreachable(p);
  }

  get blockedPeers(): NodeId[] {
    return [...this.blocked];
  }

  start(handler: TransportHandler): Promise<void> {
    this.handler = handler;
    return this.inner.start({
      ...handler,
      deliver: (from, group, payload) => {
        if (this.blocked.has(from)) this.counters.droppedIn++;
        else handler.deliver(from, group, payload);
      },
      deliverNode: (from, channel, payload) => {
        if (this.blocked.has(from)) this.counters.droppedIn++;
        else handler.deliverNode(from, channel, payload);
      },
      receiveSnapshot: (from, group, meta, chunks) =>
        this.blocked.has(from)
          ? Promise.reject(new PeerUnreachableError(from, 'partitioned by fault injection'))
          : handler.receiveSnapshot(from, group, meta, chunks),
    });
  }

  send(to: NodeId, group: GroupId, payload: Uint8Array): void {
    if (this.blocked.has(to)) this.counters.droppedOut++;
    else this.inner.send(to, group, payload);
  }

  sendNode(to: NodeId, channel: NodeChannel, payload: Uint8Array): void {
    if (this.blocked.has(to)) this.counters.droppedOut++;
    else this.inner.sendNode(to, channel, payload);
  }

  isHeld(to: NodeId): boolean {
    return this.inner.isHeld(to);
  }

  sendSnapshot(
    to: NodeId,
    group: GroupId,
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    if (this.blocked.has(to))
      return Promise.reject(new PeerUnreachableError(to, 'partitioned by fault injection'));
    return this.inner.sendSnapshot(to, group, meta, chunks);
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }
}
