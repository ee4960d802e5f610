/**
 * One outbound link to a peer: dials it, carries this node's frames to it (the only path we send on),
 * holds senders past the high-water mark, detects a dead peer by ping/pong and redials with backoff.
 *
 * ```
 *  connecting ──open──► open ──close/pong timeout──► waiting ──backoff──► connecting
 *       └──────── dial failed ──────────────────────────┘        close() from any state ──► closed
 * ```
 */
import { type GroupId, type NodeChannel, type NodeId, PeerUnreachableError } from '@flotilla/core';
import WebSocket from 'ws';
import { authHeaders, PEER_PATH, PEER_REMOVED_CODE, PEER_REMOVED_REASON } from './auth.ts';
import { reconnectDelayMs } from './backoff.ts';
import { FrameError } from './errors.ts';
import { parseSnapshotFrame, readFrameKind } from './frame-decode.ts';
import { channelHeader, groupHeader } from './frame-encode.ts';
import { FRAME_CLOSE_CODES, FRAME_HEADER_BYTES, INBOUND_REPLY_KINDS } from './frame-format.ts';
import { closeWithin, type LinkContext } from './link-context.ts';
import { SendQueue } from './send-queue.ts';
import { SnapshotSender } from './snapshot-sender.ts';

export type LinkState = 'connecting' | 'open' | 'waiting' | 'closed';

/** Client frames are not masked: masking protects proxies from browser-made payloads, not peer links. */
const zeroMask = (mask: Uint8Array): void => {
  mask.fill(0);
};

type OpenWaiter = { resolve: (sender: SnapshotSender) => void; reject: (error: Error) => void };

export class OutboundLink {
  state: LinkState = 'connecting';
  private ws: WebSocket | undefined;
  private snapshots: SnapshotSender | undefined;
  private readonly queue = new SendQueue();
  private held = false;
  private attempts = 0;
  private openedBefore = false;
  private lastHeardMs = 0;
  private redialTimer: NodeJS.Timeout | undefined;
  private openWaiters: OpenWaiter[] = [];
  /**
   * Write callback of every frame (streams pass `null` on success): the moment a hold can be released. A write
   * that completes also proves the peer is reading (a stalled peer closes its TCP window), so a busy link whose
   * pong waits behind megabytes of data is not mistaken for a dead one.
   */
  private readonly afterWrite = (error?: Error | null): void => {
    if (error) return;
    this.lastHeardMs = Date.now();
    this.releaseIfDrained();
  };

  constructor(
    readonly peer: NodeId,
    readonly url: string,
    private readonly ctx: LinkContext,
  ) {
    this.dial();
  }

  /** Queued (not yet framed) plus socket-buffered bytes. */
  get pendingBytes(): number {
    return this.queue.bytes + (this.ws?.bufferedAmount ?? 0);
  }

  get queuedMessages(): number {
    return this.queue.length;
  }

  isHeld(): boolean {
    return this.held || this.pendingBytes > this.ctx.options.highWaterMarkBytes;
  }

  /** Queues a message for the end-of-turn flush; drops (and counts) it if the link is down or full. */
  enqueue(group: GroupId, payload: Uint8Array): boolean {
    return this.enqueueRecord(groupHeader(group), payload);
  }

  /** Queues a payload for a node channel of the peer, as `enqueue` does for a group. */
  enqueueNode(channel: NodeChannel, payload: Uint8Array): boolean {
    return this.enqueueRecord(channelHeader(channel), payload);
  }

  private enqueueRecord(header: Buffer, payload: Uint8Array): boolean {
    const { stats, options } = this.ctx;
    if (this.state !== 'open' && this.state !== 'connecting') {
      stats.messagesDropped.unreachable++;
      return false;
    }
    if (FRAME_HEADER_BYTES + header.length + 4 + payload.length > options.maxPayloadBytes) {
      stats.messagesDropped.oversized++;
      return false;
    }
    if (this.pendingBytes + header.length + 4 + payload.length > options.bufferedBytesMax) {
      stats.messagesDropped.queueFull++;
      return false;
    }
    this.queue.push(header, payload);
    return true;
  }

  /** Sends everything queued as data frames (called once per event-loop turn). */
  flush(): void {
    const ws = this.ws;
    if (this.state !== 'open' || ws === undefined || this.queue.length === 0) return;
    const { stats, options } = this.ctx;
    const pool = this.ctx.framePool;
    this.queue.drain(
      options.frameBytesMax,
      (frame, messages) => {
        ws.send(frame, { binary: true }, (error?: Error | null) => {
          if (error) return;
          pool.release(frame);
          this.afterWrite();
        });
        stats.framesSent++;
        stats.bytesSent += frame.length;
        stats.messagesSent += messages;
      },
      (bytes) => pool.acquire(bytes),
    );
    if (!this.held && this.pendingBytes > options.highWaterMarkBytes) {
      this.held = true;
      this.ctx.handler.peerBackpressure(this.peer, true);
    }
  }

  /** Resolves with the snapshot sender of the open connection; waits for a dial in progress. */
  whenOpen(): Promise<SnapshotSender> {
    if (this.state === 'open' && this.snapshots !== undefined) return Promise.resolve(this.snapshots);
    if (this.state !== 'connecting') {
      return Promise.reject(new PeerUnreachableError(this.peer, `link is ${this.state}`));
    }
    return new Promise((resolve, reject) => this.openWaiters.push({ resolve, reject }));
  }

  /** Pings an open link, or terminates it when the peer has neither answered nor read past `pongTimeoutMs`. */
  checkLiveness(nowMs: number): void {
    this.snapshots?.sweep();
    this.releaseIfDrained();
    if (this.state !== 'open' || this.ws === undefined) return;
    if (nowMs - this.lastHeardMs > this.ctx.options.pongTimeoutMs) {
      this.ctx.log.warn({ peer: this.peer, silentMs: nowMs - this.lastHeardMs }, 'peer link timed out');
      this.ws.terminate();
      return;
    }
    this.ws.ping();
  }

  /** Closes the link for good (peer removed or transport stopped). */
  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    const ws = this.ws;
    this.state = 'closed';
    clearTimeout(this.redialTimer);
    this.onDown(ws, 'closed');
    if (ws !== undefined) closeWithin(ws, code, reason, this.ctx.options.closeTimeoutMs);
  }

  /**
   * The peer just dialled us, so it is up: if this link is waiting out a backoff, dial now (a restarted node
   * is reached at once, not after the longest backoff its downtime built up).
   */
  peerSeen(): void {
    if (this.state !== 'waiting') return;
    clearTimeout(this.redialTimer);
    this.attempts = 0;
    this.dial();
  }

  private dial(): void {
    const { options, log } = this.ctx;
    this.state = 'connecting';
    const tls = this.ctx.tlsClient;
    const ws = new WebSocket(`${this.url}${PEER_PATH}`, {
      headers: authHeaders(options.clusterSecret, options.nodeId, this.peer, options.now()),
      perMessageDeflate: false,
      maxPayload: options.maxPayloadBytes,
      handshakeTimeout: options.connectTimeoutMs,
      followRedirects: false,
      skipUTF8Validation: true,
      generateMask: zeroMask,
      ...(tls ?? {}),
    });
    this.ws = ws;
    ws.on('open', () => this.ctx.guard('link open', () => this.onOpen(ws)));
    ws.on('message', (data: Buffer, isBinary: boolean) =>
      this.ctx.guard('link reply', () => this.onReply(ws, data, isBinary)),
    );
    ws.on('pong', () => {
      this.lastHeardMs = Date.now();
    });
    ws.on('error', (error: Error) => {
      if (this.ws === ws && this.state === 'open') this.ctx.stats.errors.socket++;
      // A peer answering the upgrade with an HTTP status refused us: wrong secret, unknown to it, clock skew.
      const refused = error.message.startsWith('Unexpected server response');
      log[refused ? 'warn' : 'debug'](
        { peer: this.peer, url: this.url, err: error.message },
        'peer link error',
      );
    });
    ws.on('close', (code, reason) =>
      this.ctx.guard('link close', () => {
        // The peer dropped us because the catalog removed this node (inbound-server.ts `dropPeer`).
        if (this.ws === ws && code === PEER_REMOVED_CODE && reason.toString() === PEER_REMOVED_REASON)
          this.ctx.handler.removedByPeer?.(this.peer);
        this.onClose(ws);
      }),
    );
  }

  private onOpen(ws: WebSocket): void {
    if (this.ws !== ws || this.state !== 'connecting') return;
    const { stats, options, log } = this.ctx;
    this.state = 'open';
    this.attempts = 0;
    this.lastHeardMs = Date.now();
    this.snapshots = new SnapshotSender({
      peer: this.peer,
      chunkBytesMax: options.snapshotChunkBytesMax,
      windowChunks: options.snapshotWindowChunks,
      transfersMax: options.snapshotTransfersMax,
      idleTimeoutMs: options.snapshotIdleTimeoutMs,
      nowMs: Date.now,
      send: (frame) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(frame, { binary: true }, this.afterWrite);
      },
    });
    log.info({ peer: this.peer, url: this.url, reconnect: this.openedBefore }, 'peer link open');
    if (this.openedBefore) {
      stats.reconnects++;
      this.ctx.handler.peerUnreachable(this.peer);
    }
    this.openedBefore = true;
    for (const waiter of this.openWaiters.splice(0)) waiter.resolve(this.snapshots);
    this.ctx.scheduleFlush(this);
  }

  private onReply(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    if (this.ws !== ws || this.snapshots === undefined) return;
    this.lastHeardMs = Date.now();
    try {
      if (!isBinary) throw new FrameError('textFrame', 'text message from a peer server');
      this.snapshots.onReply(parseSnapshotFrame(data, readFrameKind(data, INBOUND_REPLY_KINDS)));
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.ctx.stats.errors[error.kind]++;
      this.ctx.log.warn(
        { peer: this.peer, kind: error.kind, err: error.message },
        'bad frame from peer server',
      );
      closeWithin(ws, FRAME_CLOSE_CODES[error.kind], error.kind, this.ctx.options.closeTimeoutMs);
    }
  }

  private onClose(ws: WebSocket): void {
    if (this.ws !== ws) return;
    const wasOpen = this.state === 'open';
    if (this.state === 'closed') return;
    if (!wasOpen) this.ctx.stats.dialFailures++;
    this.state = 'waiting';
    this.onDown(ws, wasOpen ? 'link closed' : 'dial failed');
    if (this.state !== 'waiting') return; // the handler closed the link (removePeer) from its callback
    const delay = reconnectDelayMs(this.attempts++, this.ctx.options, this.ctx.options.random);
    this.ctx.log.info({ peer: this.peer, delayMs: delay, wasOpen }, 'peer link down; redialling');
    this.redialTimer = setTimeout(() => this.ctx.guard('redial', () => this.dial()), delay);
  }

  /** Whatever was queued or in flight may be lost: drop it, release holds, fail snapshots, tell the node. */
  private onDown(ws: WebSocket | undefined, reason: string): void {
    const wasOpen = ws !== undefined && ws === this.ws && this.snapshots !== undefined;
    const dropped = this.queue.clear();
    this.ctx.stats.messagesDropped.unreachable += dropped;
    this.snapshots?.abortAll(reason);
    this.snapshots = undefined;
    const error = new PeerUnreachableError(this.peer, reason);
    for (const waiter of this.openWaiters.splice(0)) waiter.reject(error);
    if (this.held) {
      this.held = false;
      this.ctx.handler.peerBackpressure(this.peer, false);
    }
    if (wasOpen || dropped > 0) this.ctx.handler.peerUnreachable(this.peer);
  }

  private releaseIfDrained(): void {
    if (this.held && this.pendingBytes < this.ctx.options.lowWaterMarkBytes) {
      this.held = false;
      this.ctx.handler.peerBackpressure(this.peer, false);
    }
  }
}
