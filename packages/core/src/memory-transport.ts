/**
 * An in-memory `Transport`: a network of nodes in one process, for tests and single-process demos.
 * Messages queue until `flush()` (or an injected scheduler) delivers them, so tests decide when time passes.
 */
import { PeerUnreachableError } from './errors.ts';
import type { NodeChannel, Transport, TransportHandler } from './transport.ts';
import type { GroupId, NodeId, SnapshotMeta } from './types.ts';

interface Queued {
  readonly from: NodeId;
  readonly to: NodeId;
  /** A Raft group, or a node channel when `channel` is set. */
  readonly group: GroupId;
  readonly channel?: NodeChannel;
  readonly payload: Uint8Array;
}

export interface MemoryNetworkOptions {
  /** Called when something was queued; e.g. `queueMicrotask(() => net.flush())`. Omit to flush by hand. */
  readonly schedule?: (flush: () => void) => void;
  /** Bound on queued messages; past it further sends are dropped and counted (Raft retries). */
  readonly queuedMessagesMax?: number;
}

export class MemoryNetwork {
  private readonly handlers = new Map<NodeId, TransportHandler>();
  private readonly cut = new Set<string>();
  private queue: Queued[] = [];
  private flushScheduled = false;
  readonly queuedMessagesMax: number;
  dropped = 0;
  delivered = 0;

  constructor(private readonly options: MemoryNetworkOptions = {}) {
    this.queuedMessagesMax = options.queuedMessagesMax ?? 1_000_000;
  }

  transport(id: NodeId): MemoryTransport {
    return new MemoryTransport(this, id);
  }

  /** Cuts (or with `connected = true` restores) the one-way link from → to. */
  setLink(from: NodeId, to: NodeId, connected: boolean): void {
    const key = `${from}>${to}`;
    if (connected) this.cut.delete(key);
    else this.cut.add(key);
    if (!connected) this.handlers.get(from)?.peerUnreachable(to);
  }

  isConnected(from: NodeId, to: NodeId): boolean {
    return this.handlers.has(to) && !this.cut.has(`${from}>${to}`);
  }

  /** Delivers everything queued so far (and what that delivery queues, until the network is quiet). */
  flush(roundsMax = 1_000): void {
    this.flushScheduled = false;
    for (let round = 0; round < roundsMax && this.queue.length > 0; round++) {
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        const handler = this.handlers.get(m.to);
        if (handler && this.isConnected(m.from, m.to)) {
          this.delivered++;
          if (m.channel) handler.deliverNode(m.from, m.channel, m.payload);
          else handler.deliver(m.from, m.group, m.payload);
        } else {
          this.dropped++;
        }
      }
    }
  }

  /** @internal */
  attach(id: NodeId, handler: TransportHandler | undefined): void {
    if (handler) this.handlers.set(id, handler);
    else this.handlers.delete(id);
  }

  /** @internal */
  enqueue(m: Queued): void {
    if (this.queue.length >= this.queuedMessagesMax) {
      this.dropped++;
      return;
    }
    this.queue.push(m);
    if (this.options.schedule && !this.flushScheduled) {
      this.flushScheduled = true;
      this.options.schedule(() => this.flush());
    }
  }

  /** @internal */
  handler(id: NodeId): TransportHandler | undefined {
    return this.handlers.get(id);
  }
}

export class MemoryTransport implements Transport {
  constructor(
    private readonly network: MemoryNetwork,
    readonly localId: NodeId,
  ) {}

  start(handler: TransportHandler): Promise<void> {
    this.network.attach(this.localId, handler);
    return Promise.resolve();
  }

  send(to: NodeId, group: GroupId, payload: Uint8Array): void {
    this.network.enqueue({ from: this.localId, to, group, payload });
  }

  sendNode(to: NodeId, channel: NodeChannel, payload: Uint8Array): void {
    this.network.enqueue({ from: this.localId, to, group: '', channel, payload });
  }

  isHeld(): boolean {
    return false;
  }

  async sendSnapshot(
    to: NodeId,
    group: GroupId,
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    const target = this.network.handler(to);
    if (!target || !this.network.isConnected(this.localId, to)) {
      throw new PeerUnreachableError(to, `no link from node ${this.localId}`);
    }
    await target.receiveSnapshot(this.localId, group, meta, chunks);
  }

  stop(): Promise<void> {
    this.network.attach(this.localId, undefined);
    return Promise.resolve();
  }
}
