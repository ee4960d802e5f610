/**
 * Receiving side of snapshot streaming on one inbound connection: checks the sender keeps to sequence and
 * credit window, feeds each transfer's `ChunkStream`, and answers credit, done or fail on the same socket.
 */
import {
  assertNever,
  decodeSnapshotMeta,
  type GroupId,
  type NodeId,
  type SnapshotMeta,
} from '@flotilla/core';
import { ChunkStream } from './chunk-stream.ts';
import { FrameError, SnapshotAbortedError } from './errors.ts';
import type { SnapshotFrame } from './frame-decode.ts';
import { encodeSnapCredit, encodeSnapDone, encodeSnapFail } from './frame-encode.ts';
import type { WsTransportStats } from './stats.ts';

export interface SnapshotReceiverContext {
  readonly peer: NodeId;
  readonly windowChunks: number;
  readonly transfersMax: number;
  readonly idleTimeoutMs: number;
  readonly stats: WsTransportStats;
  readonly nowMs: () => number;
  /** Sends a reply frame back to the sender on this connection. */
  readonly reply: (frame: Buffer) => void;
  /** The handler's `receiveSnapshot` (wrapped so that a synchronous throw becomes a rejection). */
  readonly receive: (group: GroupId, meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>) => Promise<void>;
}

interface Incoming {
  readonly group: GroupId;
  readonly stream: ChunkStream;
  lastActivityMs: number;
}

export class SnapshotReceiver {
  private readonly transfers = new Map<number, Incoming>();
  /** Transfer ids increase on a connection; frames for older ids that are gone are stale, not errors. */
  private lastTransferId = 0;

  constructor(private readonly ctx: SnapshotReceiverContext) {}

  get activeTransfers(): number {
    return this.transfers.size;
  }

  /** Applies one frame from the sender; throws `FrameError` when the sender breaks the protocol. */
  onFrame(frame: SnapshotFrame): void {
    switch (frame.type) {
      case 'begin':
        this.begin(frame.transferId, frame.group, frame.meta);
        return;
      case 'chunk': {
        const t = this.lookup(frame.transferId);
        if (t === undefined) return;
        if (frame.seq !== t.stream.received) this.violation(frame.transferId, t, 'chunk out of sequence');
        if (t.stream.received - t.stream.consumed >= this.ctx.windowChunks) {
          this.violation(frame.transferId, t, 'sender overran its credit window');
        }
        t.lastActivityMs = this.ctx.nowMs();
        t.stream.push(frame.chunk);
        return;
      }
      case 'end': {
        const t = this.lookup(frame.transferId);
        if (t === undefined) return;
        if (frame.chunkCount !== t.stream.received)
          this.violation(frame.transferId, t, 'chunk count mismatch');
        t.stream.end();
        return;
      }
      case 'abort': {
        const t = this.lookup(frame.transferId);
        if (t === undefined) return;
        this.drop(frame.transferId, t, 'sender aborted', false);
        return;
      }
      case 'credit':
      case 'done':
      case 'fail':
        throw new FrameError('malformed', `${frame.type} frame sent to the receiving side`);
      default:
        assertNever(frame);
    }
  }

  /** Aborts transfers waiting on a silent sender for longer than the idle timeout. */
  sweep(): void {
    const now = this.ctx.nowMs();
    for (const [id, t] of this.transfers) {
      if (t.stream.starved && now - t.lastActivityMs > this.ctx.idleTimeoutMs) this.drop(id, t, 'idle', true);
    }
  }

  /** The connection closed: every transfer on it fails. */
  abortAll(reason: string): void {
    for (const [id, t] of this.transfers) this.drop(id, t, reason, false);
  }

  private begin(transferId: number, group: GroupId, metaBytes: Uint8Array): void {
    if (transferId <= this.lastTransferId)
      throw new FrameError('snapshotProtocol', 'transfer id did not increase');
    this.lastTransferId = transferId;
    let meta: SnapshotMeta;
    try {
      meta = decodeSnapshotMeta(metaBytes);
    } catch (error) {
      throw new FrameError('invalidPayload', `snapshot metadata: ${(error as Error).message}`);
    }
    if (this.transfers.size >= this.ctx.transfersMax) {
      this.ctx.reply(encodeSnapFail(transferId, `busy: ${this.ctx.transfersMax} transfers running`));
      return;
    }
    const t: Incoming = {
      group,
      lastActivityMs: this.ctx.nowMs(),
      stream: new ChunkStream((consumed) => {
        t.lastActivityMs = this.ctx.nowMs();
        if (this.transfers.get(transferId) === t) this.ctx.reply(encodeSnapCredit(transferId, consumed));
      }),
    };
    this.transfers.set(transferId, t);
    this.ctx.receive(group, meta, t.stream).then(
      () => this.finish(transferId, t, undefined),
      (error: unknown) =>
        this.finish(transferId, t, error instanceof Error ? error : new Error(String(error))),
    );
  }

  private finish(transferId: number, t: Incoming, error: Error | undefined): void {
    if (this.transfers.get(transferId) !== t) return;
    this.transfers.delete(transferId);
    if (error === undefined) {
      this.ctx.stats.snapshotsReceived++;
      this.ctx.reply(encodeSnapDone(transferId));
    } else {
      this.ctx.stats.snapshotsFailed++;
      t.stream.fail(error);
      this.ctx.reply(encodeSnapFail(transferId, error.message));
    }
  }

  /** Known transfer, or undefined for a stale id; a never-begun id is a protocol error. */
  private lookup(transferId: number): Incoming | undefined {
    const t = this.transfers.get(transferId);
    if (t === undefined && transferId > this.lastTransferId) {
      throw new FrameError('snapshotProtocol', `transfer ${transferId} was never begun`);
    }
    return t;
  }

  private drop(transferId: number, t: Incoming, reason: string, tellSender: boolean): void {
    this.transfers.delete(transferId);
    this.ctx.stats.snapshotsFailed++;
    t.stream.fail(new SnapshotAbortedError(this.ctx.peer, t.group, reason));
    if (tellSender) this.ctx.reply(encodeSnapFail(transferId, reason));
  }

  private violation(transferId: number, t: Incoming, detail: string): never {
    this.drop(transferId, t, detail, true);
    throw new FrameError('snapshotProtocol', detail);
  }
}
