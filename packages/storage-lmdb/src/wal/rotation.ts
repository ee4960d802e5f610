/**
 * A segment rotation, without stopping the writers: the checkpoint (every group's logged state, captured at a
 * batch boundary) is streamed into the next segment in the background while batches keep going to the
 * current one. Their records are kept, and written behind a seal record as the new segment's second batch;
 * until that batch is durable, recovery ignores the new segment (so a crash at any point loses nothing).
 *
 *   current:  … [batch k] [batch k+1] [batch k+2]          (k+1, k+2 written while the checkpoint streams)
 *   next:     [checkpoint: state after k] [seal, records of k+1 and k+2, pending records] [batch] …
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BatchBuilder, type ChunkPool } from './batch.ts';
import type { WalFileIo } from './file-io.ts';
import {
  BATCH_RECORD_BYTES,
  CHECKPOINT_RECORD_BYTES,
  opRecordBytes,
  SEAL_RECORD_BYTES,
  writeBatchRecord,
  writeCheckpointRecord,
  writeOpRecord,
  writeSealRecord,
} from './format.ts';
import type { GroupLog } from './group-log.ts';
import type { GroupOp } from './ops.ts';
import { closeSegment, type Segment } from './segment.ts';
import { type SegmentPreparer, segmentName } from './segment-files.ts';

/** One group's state as of the capture: UTF-8 group id and the ops that rebuild it on an empty log. */
export type Captured = readonly [Buffer, readonly GroupOp[]];

/** Batch sequence numbers run per segment: 1 is the checkpoint, 2 the seal batch. */
const CHECKPOINT_SEQ = 1;

export interface RotationDeps {
  readonly walDir: string;
  readonly preparer: SegmentPreparer;
  readonly io: WalFileIo;
  readonly chunkBytes: number;
  /** Called for each write and sync the rotation makes (stats). */
  readonly count: (what: 'write' | 'sync', bytes: number) => void;
}

export class Rotation {
  readonly seq: number;
  /** Settles once the checkpoint is durable (or the rotation failed or was aborted). */
  readonly done: Promise<void>;
  private readonly deps: RotationDeps;
  private readonly tail: Buffer[] = [];
  private tailRecords = 0;
  private keptBytes = 0;
  private segment: Segment | undefined;
  private aborted = false;

  /** Starts streaming the checkpoint of `captured` into segment `seq`; `onReady` when it is durable. */
  constructor(seq: number, captured: readonly Captured[], deps: RotationDeps, onReady: () => void) {
    this.seq = seq;
    this.deps = deps;
    this.done = this.writeCheckpoint(captured).then(() => {
      if (!this.aborted) onReady();
    });
    this.done.catch(() => {});
  }

  /** The checkpoint is durable: the next batch can switch to the new segment. */
  get ready(): boolean {
    return this.segment !== undefined;
  }

  /** Bytes of records kept for the seal batch. */
  get tailBytes(): number {
    return this.keptBytes;
  }

  /** Keeps the records of a batch written to the current segment after the capture. */
  keep(batch: BatchBuilder): void {
    for (const bytes of batch.recordBytes()) {
      this.tail.push(Buffer.from(bytes));
      this.keptBytes += bytes.length;
    }
    this.tailRecords += batch.records;
  }

  /** The new segment's second batch: the seal, the kept records, then `pending`'s records (released). */
  sealBatch(pool: ChunkPool, pending: BatchBuilder | undefined): BatchBuilder {
    const builder = new BatchBuilder(pool);
    const [buf, off] = builder.reserve(SEAL_RECORD_BYTES);
    writeSealRecord(buf, off, this.seq);
    for (const bytes of this.tail) builder.copyRecords(bytes, 0);
    builder.records += this.tailRecords;
    if (pending !== undefined) {
      for (const bytes of pending.recordBytes()) builder.copyRecords(bytes, 0);
      builder.records += pending.records;
      pending.release();
    }
    return builder;
  }

  /** The new segment, positioned after its checkpoint, its next batch being number 2. */
  takeSegment(): Segment {
    const segment = this.segment;
    if (segment === undefined) throw new Error('rotation taken before its checkpoint is durable');
    return segment;
  }

  /**
   * Stops the rotation: its segment (never sealed, so recovery would ignore it anyway) is closed and removed.
   * A seal batch must not be in flight.
   */
  async abort(): Promise<void> {
    this.aborted = true;
    await this.done.catch(() => {});
    if (this.segment !== undefined) await closeSegment(this.segment);
    this.segment = undefined;
    await unlink(join(this.deps.walDir, segmentName(this.seq))).catch(() => {});
  }

  private async writeCheckpoint(captured: readonly Captured[]): Promise<void> {
    const handle = await this.deps.preparer.take(this.seq);
    let end: number | undefined;
    try {
      end = await this.streamCheckpoint(handle.fd, captured);
    } finally {
      if (end === undefined) await handle.close();
    }
    if (end === undefined) return;
    this.segment = {
      seq: this.seq,
      path: join(this.deps.walDir, segmentName(this.seq)),
      handle,
      dsync: undefined,
      position: end,
      checkpointEnd: end,
      lastBatchSeq: CHECKPOINT_SEQ,
    };
  }

  /**
   * Streams the checkpoint batch chunk by chunk (the event loop runs between chunks), its batch record last,
   * then syncs it. Returns where it ends, or undefined when the rotation was aborted meanwhile.
   */
  private async streamCheckpoint(fd: number, captured: readonly Captured[]): Promise<number | undefined> {
    const { io, chunkBytes, count } = this.deps;
    let chunk = Buffer.allocUnsafe(chunkBytes);
    let used = CHECKPOINT_RECORD_BYTES;
    let position = BATCH_RECORD_BYTES;
    writeCheckpointRecord(chunk, 0, this.seq, captured.length);
    const flush = async (): Promise<void> => {
      await io.write(fd, [chunk.subarray(0, used)], position);
      count('write', used);
      position += used;
      used = 0;
    };
    for (const [key, ops] of captured) {
      for (const op of ops) {
        const bytes = opRecordBytes(key, op);
        if (used + bytes > chunk.length) {
          await flush();
          if (this.aborted) return undefined;
          if (bytes > chunk.length) chunk = Buffer.allocUnsafe(bytes);
        }
        writeOpRecord(chunk, used, key, op, bytes);
        used += bytes;
      }
    }
    await flush();
    const header = Buffer.allocUnsafe(BATCH_RECORD_BYTES);
    writeBatchRecord(header, 0, position, CHECKPOINT_SEQ);
    await io.write(fd, [header], 0);
    count('write', BATCH_RECORD_BYTES);
    await io.fdatasync(fd);
    count('sync', 0);
    return this.aborted ? undefined : position;
  }
}

/** Every non-empty group's logged state, copied now (entries are shared, the arrays are not). */
export function capture(states: Iterable<readonly [Buffer, GroupLog]>): Captured[] {
  const out: Captured[] = [];
  for (const [key, log] of states) {
    if (!log.isEmpty()) out.push([key, checkpointOps(log)]);
  }
  return out;
}

/** Most entry bytes per checkpoint record. */
const CHECKPOINT_RECORD_DATA_BYTES = 512 * 1024;

/** The ops that rebuild `log` on an empty log: snapshot pointer, marker, entries (in slices), hard state. */
function checkpointOps(log: GroupLog): GroupOp[] {
  const ops: GroupOp[] = [];
  if (log.snap !== undefined) ops.push({ type: 'snapshot', ref: log.snap, install: false });
  if (log.markerIndex > 0) ops.push({ type: 'compact', index: log.markerIndex, term: log.markerTerm });
  const entries = log.entries;
  for (let from = 0; from < entries.length; ) {
    let to = from;
    let bytes = 0;
    while (to < entries.length && (to === from || bytes < CHECKPOINT_RECORD_DATA_BYTES)) {
      bytes += (entries[to] as { data: Uint8Array }).data.length;
      to++;
    }
    ops.push({ type: 'entries', first: log.markerIndex + 1 + from, entries: entries.slice(from, to) });
    from = to;
  }
  const h = log.hard;
  if (h.term !== 0 || h.vote !== 0 || h.commit !== 0) ops.push({ type: 'hardState', state: h });
  return ops;
}
