/**
 * `WsTransport`: core's `Transport` over WebSocket links between processes. Each node dials every peer and
 * sends only on its own outbound link; it receives on the links its peers dialled to it.
 *
 * ```
 *  node 1                                              node 2
 *  send(2, g, p) ─► OutboundLink(2) ══ ws 1→2 ═══════► InboundConnection(1) ─► handler.deliver(1, g, p)
 *  handler.deliver(2, …) ◄─ InboundConnection(2) ◄═══ ws 2→1 ══ OutboundLink(1) ◄─ send(1, g, p)
 * ```
 * Both sides dialling is therefore not a duplicate to resolve: each direction of traffic has exactly one
 * link, owned by its sender. The accepting side only answers on it (pongs, snapshot credit/done/fail).
 */
import { readFileSync } from 'node:fs';
import {
  encodeSnapshotMeta,
  type GroupId,
  type NodeChannel,
  type NodeId,
  PeerUnreachableError,
  type SnapshotMeta,
  type Transport,
  type TransportHandler,
} from '@flotilla/core';
import type { Logger } from 'pino';
import { TransportNotStartedError, TransportStoppedError } from './errors.ts';
import { FramePool } from './frame-pool.ts';
import { InboundServer } from './inbound-server.ts';
import type { LinkContext, TlsClientOptions } from './link-context.ts';
import { type ResolvedOptions, resolveOptions, validatePeer, type WsTransportOptions } from './options.ts';
import { type LinkState, OutboundLink } from './outbound-link.ts';
import { safeHandler } from './safe-handler.ts';
import { copyStats, newStats, type WsTransportStats } from './stats.ts';

/** State of the outbound link to one peer, for status pages. */
export interface LinkInfo {
  readonly peer: NodeId;
  readonly url: string;
  readonly state: LinkState;
  readonly queuedMessages: number;
  /** Queued plus socket-buffered bytes. */
  readonly pendingBytes: number;
  readonly held: boolean;
}

export class WsTransport implements Transport {
  private readonly options: ResolvedOptions;
  private readonly log: Logger;
  private readonly counters: WsTransportStats = newStats();
  private readonly peerUrls = new Map<NodeId, string>();
  private readonly links = new Map<NodeId, OutboundLink>();
  private readonly dirty = new Set<OutboundLink>();
  private flushScheduled = false;
  private ctx: LinkContext | undefined;
  private server: InboundServer | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private nextTransferId = 1;
  private listenPort = 0;
  private stopped = false;

  constructor(options: WsTransportOptions) {
    this.options = resolveOptions(options);
    this.log = this.options.logger;
    for (const [id, url] of options.peers ?? [])
      this.peerUrls.set(id, validatePeer(this.options.nodeId, id, url));
  }

  get nodeId(): NodeId {
    return this.options.nodeId;
  }

  /** The port the listener is bound to (after `start`). */
  get port(): number {
    return this.listenPort;
  }

  /** Base URL peers use to dial this node (after `start`). */
  get url(): string {
    const scheme = this.options.tls ? 'wss' : 'ws';
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `${scheme}://${host}:${this.listenPort}`;
  }

  async start(handler: TransportHandler): Promise<void> {
    if (this.stopped) throw new TransportStoppedError('start after stop');
    if (this.ctx !== undefined) return;
    const ctx: LinkContext = {
      options: this.options,
      stats: this.counters,
      log: this.log,
      handler: safeHandler(handler, this.counters, this.log),
      tlsClient: this.tlsClientOptions(),
      // Enough frames to fill one link to its high-water mark; idle pools shrink (see sweep).
      framePool: new FramePool(
        this.options.frameBytesMax,
        Math.ceil(this.options.highWaterMarkBytes / this.options.frameBytesMax) + 8,
      ),
      scheduleFlush: (link) => this.scheduleFlush(link),
      guard: (what, fn) => this.guard(what, fn),
    };
    const server = new InboundServer(
      ctx,
      (id) => this.peerUrls.has(id),
      (id) => this.links.get(id)?.peerSeen(),
    );
    this.listenPort = await server.listen();
    this.ctx = ctx;
    this.server = server;
    for (const [id, url] of this.peerUrls) this.links.set(id, new OutboundLink(id, url, ctx));
    this.sweepTimer = setInterval(() => this.guard('sweep', () => this.sweep()), this.options.pingIntervalMs);
    this.sweepTimer.unref();
    this.log.info({ url: this.url, peers: [...this.peerUrls.keys()] }, 'transport started');
  }

  send(to: NodeId, group: GroupId, payload: Uint8Array): void {
    const link = this.links.get(to);
    if (link === undefined) {
      this.counters.messagesDropped.unreachable++;
      return;
    }
    if (link.enqueue(group, payload)) this.scheduleFlush(link);
  }

  sendNode(to: NodeId, channel: NodeChannel, payload: Uint8Array): void {
    const link = this.links.get(to);
    if (link === undefined) {
      this.counters.messagesDropped.unreachable++;
      return;
    }
    if (link.enqueueNode(channel, payload)) this.scheduleFlush(link);
  }

  isHeld(to: NodeId): boolean {
    return this.links.get(to)?.isHeld() ?? false;
  }

  async sendSnapshot(
    to: NodeId,
    group: GroupId,
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    if (this.ctx === undefined) throw new TransportNotStartedError('sendSnapshot');
    const link = this.links.get(to);
    if (link === undefined) throw new PeerUnreachableError(to, 'not a peer');
    const transferId = this.nextTransferId++;
    try {
      const sender = await link.whenOpen();
      await sender.send(transferId, group, encodeSnapshotMeta(meta), chunks);
      this.counters.snapshotsSent++;
    } catch (error) {
      this.counters.snapshotsFailed++;
      this.log.warn({ peer: to, group, err: (error as Error).message }, 'snapshot transfer failed');
      throw error;
    }
  }

  /** Adds (or re-points) a peer; the outbound link is dialled at once when the transport runs. */
  addPeer(id: NodeId, url: string): void {
    const normalized = validatePeer(this.options.nodeId, id, url);
    if (this.peerUrls.get(id) === normalized && this.links.has(id)) return;
    this.links.get(id)?.close(1001, 'peer address changed');
    this.peerUrls.set(id, normalized);
    if (this.ctx !== undefined && !this.stopped)
      this.links.set(id, new OutboundLink(id, normalized, this.ctx));
  }

  /** Forgets a peer: closes its outbound link and its inbound connections, refuses it from now on. */
  removePeer(id: NodeId): void {
    this.peerUrls.delete(id);
    const link = this.links.get(id);
    this.links.delete(id);
    if (link !== undefined) this.dirty.delete(link);
    link?.close(1001, 'peer removed');
    this.server?.dropPeer(id);
  }

  peers(): ReadonlyMap<NodeId, string> {
    return new Map(this.peerUrls);
  }

  /** A copy of the counters, for metrics. */
  stats(): WsTransportStats {
    return copyStats(this.counters);
  }

  linkInfo(): LinkInfo[] {
    return [...this.links.values()].map((link) => ({
      peer: link.peer,
      url: link.url,
      state: link.state,
      queuedMessages: link.queuedMessages,
      pendingBytes: link.pendingBytes,
      held: link.isHeld(),
    }));
  }

  /** Number of authenticated inbound connections. */
  get inboundConnections(): number {
    return this.server?.connectionCount ?? 0;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.sweepTimer);
    this.flushAll();
    for (const link of this.links.values()) link.close(1001, 'node stopping');
    this.links.clear();
    this.dirty.clear();
    await this.server?.close();
    this.log.info('transport stopped');
  }

  private scheduleFlush(link: OutboundLink): void {
    this.dirty.add(link);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate runs after every I/O callback of this loop iteration: everything queued by them
    // (many groups, many worker messages) leaves as one frame per peer.
    setImmediate(() => this.guard('flush', () => this.flushAll()));
  }

  private flushAll(): void {
    this.flushScheduled = false;
    for (const link of this.dirty) link.flush();
    this.dirty.clear();
  }

  private sweep(): void {
    const now = Date.now();
    this.ctx?.framePool.trim();
    for (const link of this.links.values()) link.checkLiveness(now);
    this.server?.sweep(now);
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.counters.errors.internal++;
      this.log.error({ err: error, where: what }, 'transport internal error');
    }
  }

  private tlsClientOptions(): TlsClientOptions | undefined {
    const tls = this.options.tls;
    if (tls === undefined) return undefined;
    return {
      cert: readFileSync(tls.certFile),
      key: readFileSync(tls.keyFile),
      ...(tls.caFile !== undefined ? { ca: readFileSync(tls.caFile) } : {}),
      rejectUnauthorized: tls.rejectUnauthorized ?? true,
    };
  }
}
