/**
 * Sending side of snapshot streaming on one outbound connection: pulls chunks from the source only while
 * the receiver has granted credit, and settles when the receiver reports done or fail, or the link breaks.
 */
import { assertNever, type GroupId, type NodeId } from '@flotilla/core';
import { FrameError, SnapshotAbortedError, SnapshotBusyError, SnapshotRejectedError } from './errors.ts';
import type { SnapshotFrame } from './frame-decode.ts';
import { encodeSnapAbort, encodeSnapBegin, encodeSnapChunk, encodeSnapEnd } from './frame-encode.ts';

export interface SnapshotSenderContext {
  readonly peer: NodeId;
  readonly chunkBytesMax: number;
  readonly windowChunks: number;
  readonly transfersMax: number;
  readonly idleTimeoutMs: number;
  readonly nowMs: () => number;
  /** Sends a frame on this connection. */
  readonly send: (frame: Buffer) => void;
}

interface Outgoing {
  readonly group: GroupId;
  sent: number;
  credited: number;
  /** Set while waiting on the receiver (credit or completion); idle time is only counted then. */
  waitingSinceMs: number | undefined;
  outcome: 'done' | Error | undefined;
  /** Wakes the sender loop when credit, completion or failure arrives. */
  wake: (() => void) | undefined;
}

export class SnapshotSender {
  private readonly transfers = new Map<number, Outgoing>();
  private highestTransferId = 0;

  constructor(private readonly ctx: SnapshotSenderContext) {}

  /** Streams `chunks` as transfer `transferId`; resolves when the receiver stored the snapshot. */
  async send(
    transferId: number,
    group: GroupId,
    meta: Uint8Array,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    if (this.transfers.size >= this.ctx.transfersMax) {
      throw new SnapshotBusyError(this.ctx.peer, group, this.ctx.transfersMax);
    }
    const t: Outgoing = {
      group,
      sent: 0,
      credited: 0,
      waitingSinceMs: undefined,
      outcome: undefined,
      wake: undefined,
    };
    this.transfers.set(transferId, t);
    this.highestTransferId = Math.max(this.highestTransferId, transferId);
    try {
      this.ctx.send(encodeSnapBegin(transferId, group, meta));
      await this.stream(transferId, t, chunks);
      if (t.outcome === undefined) this.ctx.send(encodeSnapEnd(transferId, t.sent));
      await this.until(t, () => t.outcome !== undefined);
      if (t.outcome instanceof Error) throw t.outcome;
    } catch (error) {
      if (t.outcome === undefined) {
        t.outcome = error instanceof Error ? error : new Error(String(error));
        this.ctx.send(encodeSnapAbort(transferId));
      }
      throw error;
    } finally {
      this.transfers.delete(transferId);
    }
  }

  /** Applies a reply from the receiver; throws `FrameError` when it makes no sense. */
  onReply(frame: SnapshotFrame): void {
    const t = this.transfers.get(frame.transferId);
    if (t === undefined) {
      if (frame.transferId <= this.highestTransferId) return;
      throw new FrameError('snapshotProtocol', `reply for transfer ${frame.transferId} never begun`);
    }
    switch (frame.type) {
      case 'credit':
        if (frame.consumedCount > t.sent || frame.consumedCount < t.credited) {
          throw new FrameError(
            'snapshotProtocol',
            `credit ${frame.consumedCount} outside [${t.credited}, ${t.sent}]`,
          );
        }
        t.credited = frame.consumedCount;
        break;
      case 'done':
        t.outcome ??= 'done';
        break;
      case 'fail':
        t.outcome ??= new SnapshotRejectedError(this.ctx.peer, t.group, frame.reason);
        break;
      case 'begin':
      case 'chunk':
      case 'end':
      case 'abort':
        throw new FrameError('malformed', `${frame.type} frame sent to the sending side`);
      default:
        assertNever(frame);
    }
    t.waitingSinceMs = undefined;
    t.wake?.();
  }

  /** Aborts transfers whose receiver has been silent for longer than the idle timeout. */
  sweep(): void {
    const now = this.ctx.nowMs();
    for (const t of this.transfers.values()) {
      if (t.waitingSinceMs !== undefined && now - t.waitingSinceMs > this.ctx.idleTimeoutMs) {
        this.fail(t, new SnapshotAbortedError(this.ctx.peer, t.group, 'receiver made no progress'));
      }
    }
  }

  /** The connection closed: every transfer on it fails. */
  abortAll(reason: string): void {
    for (const t of this.transfers.values())
      this.fail(t, new SnapshotAbortedError(this.ctx.peer, t.group, reason));
  }

  private fail(t: Outgoing, error: Error): void {
    t.outcome ??= error;
    t.wake?.();
  }

  private async stream(transferId: number, t: Outgoing, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const max = this.ctx.chunkBytesMax;
    for await (const chunk of chunks) {
      for (let offset = 0; offset < chunk.length; offset += max) {
        await this.until(t, () => t.outcome !== undefined || t.sent - t.credited < this.ctx.windowChunks);
        if (t.outcome !== undefined) return;
        this.ctx.send(encodeSnapChunk(transferId, t.sent, chunk.subarray(offset, offset + max)));
        t.sent++;
      }
    }
  }

  /** Waits (counting idle time) until `ready()` holds; wakes on every reply or failure. */
  private async until(t: Outgoing, ready: () => boolean): Promise<void> {
    while (!ready()) {
      t.waitingSinceMs ??= this.ctx.nowMs();
      await new Promise<void>((resolve) => {
        t.wake = resolve;
      });
      t.wake = undefined;
    }
    t.waitingSinceMs = undefined;
  }
}
