/**
 * A batch being built: records of every group, serialized into pooled chunks as they are issued, behind a
 * reserved batch record that is filled in when the batch is written. Records never span two chunks.
 */
import { BATCH_RECORD_BYTES, writeBatchRecord } from './format.ts';

/** Reuses chunks between batches, so a steady write load allocates nothing. */
export class ChunkPool {
  private readonly free: Buffer[] = [];
  constructor(
    readonly chunkBytes: number,
    private readonly freeChunksMax: number,
  ) {}

  take(minBytes: number): Buffer {
    if (minBytes > this.chunkBytes) return Buffer.allocUnsafeSlow(minBytes);
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.chunkBytes);
  }

  give(chunk: Buffer): void {
    if (chunk.length === this.chunkBytes && this.free.length < this.freeChunksMax) this.free.push(chunk);
  }
}

export class BatchBuilder {
  private readonly chunks: Buffer[] = [];
  private readonly used: number[] = [];
  /** Bytes of the batch, its batch record included. */
  bytes = 0;
  /** Records other than the batch record. */
  records = 0;

  constructor(private readonly pool: ChunkPool) {
    this.reserve(BATCH_RECORD_BYTES);
    this.records = 0;
  }

  /** Space for one record of `n` bytes: the chunk and the offset to write it at. */
  reserve(n: number): [Buffer, number] {
    let last = this.chunks.length - 1;
    let chunk = this.chunks[last];
    if (chunk === undefined || (this.used[last] as number) + n > chunk.length) {
      chunk = this.pool.take(n);
      this.chunks.push(chunk);
      this.used.push(0);
      last++;
    }
    const off = this.used[last] as number;
    this.used[last] = off + n;
    this.bytes += n;
    this.records++;
    return [chunk, off];
  }

  /** Copies `records` records, already encoded (`bytes`), into the batch. */
  copyRecords(bytes: Buffer, records: number): void {
    if (bytes.length === 0) return;
    const [buf, off] = this.reserve(bytes.length);
    bytes.copy(buf, off);
    this.records += records - 1;
  }

  /** The encoded records (the batch record left out), in order. */
  recordBytes(): Buffer[] {
    return this.chunks.map((chunk, i) => chunk.subarray(i === 0 ? BATCH_RECORD_BYTES : 0, this.used[i]));
  }

  /** Fills in the batch record and returns the bytes to write, in order. */
  finish(seq: number): Buffer[] {
    writeBatchRecord(this.chunks[0] as Buffer, 0, this.bytes, seq);
    return this.chunks.map((chunk, i) => chunk.subarray(0, this.used[i]));
  }

  /** The chunks go back to the pool once written: nothing else refers to them. */
  release(): void {
    for (const chunk of this.chunks) this.pool.give(chunk);
    this.chunks.length = 0;
    this.used.length = 0;
  }
}
