/**
 * The per-link outgoing queue: records gathered during one event-loop turn, encoded into as few data frames
 * as `frameBytesMax` allows when the turn ends. Order is kept; nothing here waits for the network.
 */
import { encodeDataFrame } from './frame-encode.ts';
import { FRAME_HEADER_BYTES } from './frame-format.ts';

export class SendQueue {
  private readonly headers: Buffer[] = [];
  private readonly payloads: Uint8Array[] = [];
  private recordBytes = 0;

  /** Messages queued. */
  get length(): number {
    return this.payloads.length;
  }

  /** Encoded bytes the queued records will take in frames. */
  get bytes(): number {
    return this.recordBytes;
  }

  /** Queues a record; `header` is the encoded group id (`groupHeader`). Returns the record's encoded size. */
  push(header: Buffer, payload: Uint8Array): number {
    const size = header.length + 4 + payload.length;
    this.headers.push(header);
    this.payloads.push(payload);
    this.recordBytes += size;
    return size;
  }

  /** Forgets everything queued; returns how many messages were dropped. */
  clear(): number {
    const dropped = this.payloads.length;
    this.headers.length = 0;
    this.payloads.length = 0;
    this.recordBytes = 0;
    return dropped;
  }

  /**
   * Encodes the queue into frames of at most `frameBytesMax` bytes (a record larger than that gets a frame
   * of its own), hands each to `emit` with its message count, in order, and empties the queue.
   */
  drain(
    frameBytesMax: number,
    emit: (frame: Buffer, messages: number) => void,
    allocate: (bytes: number) => Buffer = Buffer.allocUnsafe,
  ): void {
    const count = this.payloads.length;
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const size = this.headers[i]!.length + 4 + this.payloads[i]!.length;
      if (i > start && FRAME_HEADER_BYTES + bytes + size > frameBytesMax) {
        emit(encodeDataFrame(this.headers, this.payloads, start, i, bytes, allocate), i - start);
        start = i;
        bytes = 0;
      }
      bytes += size;
    }
    if (count > start) {
      emit(encodeDataFrame(this.headers, this.payloads, start, count, bytes, allocate), count - start);
    }
    this.clear();
  }
}
