/**
 * One authenticated inbound connection from a peer: the path its frames take to us. Data frames are checked
 * whole, then each record is routed by group id to the handler without decoding the Raft payload.
 */
import type { NodeId } from '@flotilla/core';
import WebSocket from 'ws';
import { FrameError } from './errors.ts';
import {
  type DataRecords,
  newDataRecords,
  parseDataFrame,
  parseSnapshotFrame,
  readFrameKind,
} from './frame-decode.ts';
import { FRAME_CLOSE_CODES, type FrameErrorKind, FrameKind, OUTBOUND_KINDS } from './frame-format.ts';
import { closeWithin, type LinkContext } from './link-context.ts';
import { SnapshotReceiver } from './snapshot-receiver.ts';

/** ws error codes that mean the message was too large; every other `WS_ERR_*` is a protocol violation. */
const OVERSIZE_CODES = new Set([
  'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
  'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
]);

export class InboundConnection {
  lastHeardMs = Date.now();
  private frameErrors = 0;
  private closing = false;
  private readonly records: DataRecords = newDataRecords();
  private readonly snapshots: SnapshotReceiver;

  constructor(
    private readonly ws: WebSocket,
    readonly peer: NodeId,
    readonly remoteAddress: string,
    private readonly ctx: LinkContext,
    onClosed: (connection: InboundConnection) => void,
  ) {
    const { options, stats, handler } = ctx;
    this.snapshots = new SnapshotReceiver({
      peer,
      windowChunks: options.snapshotWindowChunks,
      transfersMax: options.snapshotTransfersMax,
      idleTimeoutMs: options.snapshotIdleTimeoutMs,
      stats,
      nowMs: Date.now,
      reply: (frame) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(frame, { binary: true });
      },
      receive: (group, meta, chunks) => handler.receiveSnapshot(peer, group, meta, chunks),
    });
    ws.on('message', (data: Buffer, isBinary: boolean) =>
      ctx.guard('frame', () => this.onMessage(data, isBinary)),
    );
    ws.on('ping', () => {
      this.lastHeardMs = Date.now();
    });
    ws.on('error', (error: Error & { code?: string }) =>
      ctx.guard('connection error', () => this.onError(error)),
    );
    ws.on('close', () =>
      ctx.guard('connection close', () => {
        this.snapshots.abortAll('link closed');
        onClosed(this);
      }),
    );
  }

  /** Terminates the connection if the peer went silent; expires stalled snapshot transfers. */
  sweep(nowMs: number): void {
    this.snapshots.sweep();
    if (nowMs - this.lastHeardMs > this.ctx.options.inboundIdleTimeoutMs) {
      this.ctx.log.warn(
        { peer: this.peer, remoteAddress: this.remoteAddress },
        'inbound peer link idle; closing',
      );
      this.ws.terminate();
    }
  }

  close(code: number, reason: string): void {
    closeWithin(this.ws, code, reason, this.ctx.options.closeTimeoutMs);
  }

  terminate(): void {
    this.ws.terminate();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closing) return;
    const { stats } = this.ctx;
    this.lastHeardMs = Date.now();
    stats.framesReceived++;
    stats.bytesReceived += data.length;
    try {
      if (!isBinary) throw new FrameError('textFrame', 'text message on a binary link');
      const kind = readFrameKind(data, OUTBOUND_KINDS);
      if (kind === FrameKind.Data) this.deliver(data);
      else this.snapshots.onFrame(parseSnapshotFrame(data, kind));
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.refuse(error.kind, error.message);
    }
  }

  /** Validates the whole frame, then routes every record; nothing of a bad frame is delivered. */
  private deliver(frame: Buffer): void {
    const { stats, handler, options } = this.ctx;
    const records = this.records;
    parseDataFrame(frame, records, options.isValidPayload);
    const knowsGroup = options.knowsGroup;
    if (knowsGroup !== undefined && options.unknownGroupAction === 'close') {
      for (let i = 0; i < records.count; i++) {
        if (records.channels[i] === undefined && !knowsGroup(records.groups[i]!))
          throw new FrameError('unknownGroup', `group ${records.groups[i]}`);
      }
    }
    let delivered = 0;
    for (let i = 0; i < records.count; i++) {
      const channel = records.channels[i];
      if (channel !== undefined) {
        handler.deliverNode(this.peer, channel, frame.subarray(records.starts[i], records.ends[i]));
        delivered++;
        continue;
      }
      const group = records.groups[i]!;
      if (knowsGroup !== undefined && !knowsGroup(group)) {
        stats.errors.unknownGroup++;
        stats.messagesDropped.unknownGroup++;
        continue;
      }
      handler.deliver(this.peer, group, frame.subarray(records.starts[i], records.ends[i]));
      delivered++;
    }
    stats.messagesReceived += delivered;
  }

  /** Counts a bad frame; the one that reaches `frameErrorsPerConnectionMax` closes the connection. */
  private refuse(kind: FrameErrorKind, detail: string): void {
    this.ctx.stats.errors[kind]++;
    this.frameErrors++;
    const closing = this.frameErrors >= this.ctx.options.frameErrorsPerConnectionMax;
    const level = closing ? 'warn' : 'debug';
    this.ctx.log[level](
      { peer: this.peer, remoteAddress: this.remoteAddress, kind, detail },
      'bad frame from peer',
    );
    if (closing) {
      this.closing = true;
      this.close(FRAME_CLOSE_CODES[kind], kind);
    }
  }

  /** ws found a WebSocket-level violation (it closes the connection itself) or the socket failed. */
  private onError(error: Error & { code?: string }): void {
    const code = error.code ?? '';
    const kind = OVERSIZE_CODES.has(code)
      ? 'oversized'
      : code.startsWith('WS_ERR_')
        ? 'wsProtocol'
        : 'socket';
    if (this.closing && kind !== 'socket') return;
    this.closing = true;
    this.ctx.stats.errors[kind]++;
    this.ctx.log.warn(
      { peer: this.peer, remoteAddress: this.remoteAddress, kind, err: error.message },
      'peer link error',
    );
  }
}
