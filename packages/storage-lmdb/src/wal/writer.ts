/**
 * The group commit: every record issued in one event-loop turn, by any group, goes into one batch, written
 * with one gathering `write` and made durable with one `fdatasync`; records issued meanwhile wait for the
 * next batch (pipelining depth 1, so only the last batch can ever be torn). Rotates segments with a checkpoint.
 *
 *   put ─► pending batch ──setImmediate──► write ─► fdatasync ─► resolve every record of the batch
 *                                    └─ past segmentBytes: checkpoint of all groups into a new segment
 */
import type { FileHandle } from 'node:fs/promises';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { GroupId } from '@flotilla/core';
import { StorageClosedError, WalFailedError, WalOverloadedError } from '../errors.ts';
import { BatchBuilder, ChunkPool } from './batch.ts';
import { CHECKPOINT_RECORD_BYTES, opRecordBytes, writeCheckpointRecord, writeOpRecord } from './format.ts';
import type { GroupLog } from './group-log.ts';
import type { GroupOp } from './ops.ts';
import { CHUNK_BYTES, FREE_CHUNKS_MAX, type ResolvedWalOptions } from './options.ts';
import type { RecoveredSegment } from './recovery.ts';
import { fsyncDir, listSegments, SegmentPreparer, segmentName } from './segment-files.ts';

const RESOLVED: Promise<void> = Promise.resolve();

/** Counters of the write path (diagnostics and tests: one fdatasync per batch). */
export interface WalStats {
  /** Batches made durable, checkpoints included. */
  readonly batches: number;
  readonly writes: number;
  readonly fdatasyncs: number;
  readonly bytesWritten: number;
  readonly rotations: number;
  /** Number of the segment being written. */
  readonly segmentSeq: number;
}

/** The logged state of every group, for checkpoints: UTF-8 group id and log. */
export type StateSource = () => Iterable<readonly [Buffer, GroupLog]>;

interface Pending {
  readonly builder: BatchBuilder;
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface Segment {
  readonly seq: number;
  readonly handle: FileHandle;
  position: number;
  checkpointEnd: number;
}

export class WalWriter {
  private readonly pool = new ChunkPool(CHUNK_BYTES, FREE_CHUNKS_MAX);
  private readonly preparer: SegmentPreparer;
  private readonly background = new Set<Promise<void>>();
  private segment: Segment | undefined;
  private lastBatchSeq = 0;
  private pending: Pending | undefined;
  private inFlight: Promise<void> | undefined;
  private scheduled = false;
  private closed = false;
  private failure: WalFailedError | undefined;
  private readonly counters = { batches: 0, writes: 0, fdatasyncs: 0, bytesWritten: 0, rotations: 0 };

  private constructor(
    private readonly options: ResolvedWalOptions,
    private readonly walDir: string,
    private readonly state: StateSource,
  ) {
    this.preparer = new SegmentPreparer(walDir, options.segmentBytes, options.preallocate);
  }

  /** Resumes the recovered segment, or starts segment 1 with a checkpoint of `state`. */
  static async open(
    options: ResolvedWalOptions,
    walDir: string,
    recovered: RecoveredSegment | undefined,
    state: StateSource,
  ): Promise<WalWriter> {
    const writer = new WalWriter(options, walDir, state);
    if (recovered === undefined) {
      await writer.rotate(writer.checkpoint(1));
    } else {
      const { seq, handle, position, checkpointEnd, lastBatchSeq } = recovered;
      writer.segment = { seq, handle, position, checkpointEnd };
      writer.lastBatchSeq = lastBatchSeq;
      writer.preparer.prepare(seq + 1);
    }
    return writer;
  }

  stats(): WalStats {
    return { ...this.counters, segmentSeq: this.segment?.seq ?? 0 };
  }

  /**
   * Adds the record of `op` to the next batch; the promise resolves once that batch is durable. Throws
   * (nothing written) when the WAL failed or closed, or a pending limit would be exceeded.
   */
  put(groupKey: Buffer, op: GroupOp, group: GroupId): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (this.closed) throw new StorageClosedError(this.options.dir, this.options.nodeId);
    const bytes = opRecordBytes(groupKey, op);
    const pending = this.pending ?? this.newPending();
    const { pendingRecordsMax, pendingBytesMax } = this.options;
    if (pending.builder.records >= pendingRecordsMax) {
      throw new WalOverloadedError('pendingRecordsMax', pendingRecordsMax, group);
    }
    if (pending.builder.bytes + bytes > pendingBytesMax) {
      throw new WalOverloadedError('pendingBytesMax', pendingBytesMax, group);
    }
    const [buf, off] = pending.builder.reserve(bytes);
    writeOpRecord(buf, off, groupKey, op, bytes);
    this.schedule();
    return pending.promise;
  }

  /** Resolves once every record put so far is durable. */
  barrier(): Promise<void> {
    return this.pending?.promise ?? this.inFlight ?? RESOLVED;
  }

  /** Waits for every record put so far, then closes the files. Later puts fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.barrier().catch(() => {});
    await this.preparer.stop();
    await Promise.all([...this.background]);
    await this.segment?.handle.close();
  }

  private newPending(): Pending {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers see a rejection through their own handlers; an internal barrier must not crash the process.
    promise.catch(() => {});
    this.pending = { builder: new BatchBuilder(this.pool), promise, resolve, reject };
    return this.pending;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight !== undefined) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  /** Takes the pending batch (the whole turn's records) and writes it, or a checkpoint that subsumes it. */
  private readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.pending;
    if (batch === undefined || this.inFlight !== undefined || this.failure !== undefined) return;
    this.pending = undefined;
    if (batch.builder.records === 0) {
      batch.builder.release();
      batch.resolve();
      return;
    }
    const segment = this.segment as Segment;
    let done: Promise<void>;
    if (this.shouldRotate(segment, batch.builder.bytes)) {
      // The logged state already includes this batch's records: the checkpoint replaces them.
      batch.builder.release();
      done = this.rotate(this.checkpoint(segment.seq + 1));
    } else {
      done = this.write(batch.builder, segment);
    }
    this.inFlight = batch.promise;
    done.then(
      () => {
        this.inFlight = undefined;
        batch.resolve();
        if (this.pending !== undefined) this.schedule();
      },
      (error: unknown) => {
        this.inFlight = undefined;
        this.fail(error);
        batch.reject(this.failure);
      },
    );
  };

  /** Past `segmentBytes`, unless fewer bytes were logged since the checkpoint than the checkpoint took. */
  private shouldRotate(segment: Segment, batchBytes: number): boolean {
    const sinceCheckpoint = segment.position - segment.checkpointEnd;
    return (
      segment.position + batchBytes > this.options.segmentBytes && sinceCheckpoint >= segment.checkpointEnd
    );
  }

  private async write(builder: BatchBuilder, segment: Segment): Promise<void> {
    const buffers = builder.seal(++this.lastBatchSeq);
    const fd = segment.handle.fd;
    let position = segment.position;
    for (const group of splitWrites(buffers, this.options.writeBytesMax)) {
      await this.options.io.write(fd, group, position);
      this.counters.writes++;
      for (const b of group) position += b.length;
    }
    await this.options.io.fdatasync(fd);
    this.counters.fdatasyncs++;
    this.counters.batches++;
    this.counters.bytesWritten += builder.bytes;
    segment.position = position;
    builder.release();
  }

  /** Writes `checkpoint` as the first batch of the next segment, then deletes the older segments. */
  private async rotate(checkpoint: BatchBuilder): Promise<void> {
    const previous = this.segment;
    const seq = (previous?.seq ?? 0) + 1;
    const handle = await this.preparer.take(seq);
    const next: Segment = { seq, handle, position: 0, checkpointEnd: 0 };
    try {
      await this.write(checkpoint, next);
    } catch (error) {
      await handle.close();
      throw error;
    }
    next.checkpointEnd = next.position;
    this.segment = next;
    this.counters.rotations++;
    this.preparer.prepare(seq + 1);
    this.track(this.deleteBefore(seq, previous?.handle));
  }

  private async deleteBefore(seq: number, handle: FileHandle | undefined): Promise<void> {
    await handle?.close();
    for (const old of await listSegments(this.walDir)) {
      if (old < seq) await unlink(join(this.walDir, segmentName(old)));
    }
    await fsyncDir(this.walDir);
  }

  /** A batch holding the checkpoint record of segment `seq` and every non-empty group's logged state. */
  private checkpoint(seq: number): BatchBuilder {
    const builder = new BatchBuilder(this.pool);
    const [head, at] = builder.reserve(CHECKPOINT_RECORD_BYTES);
    let groups = 0;
    for (const [key, log] of this.state()) {
      if (log.isEmpty()) continue;
      groups++;
      for (const op of checkpointOps(log)) {
        const bytes = opRecordBytes(key, op);
        const [buf, off] = builder.reserve(bytes);
        writeOpRecord(buf, off, key, op, bytes);
      }
    }
    writeCheckpointRecord(head, at, seq, groups);
    return builder;
  }

  private track(work: Promise<void>): void {
    const done = work.catch((error: unknown) => {
      this.options.logger.warn({ component: 'storage', err: error }, 'could not delete old WAL segments');
    });
    this.background.add(done);
    done.finally(() => this.background.delete(done));
  }

  private fail(error: unknown): void {
    if (this.failure === undefined) {
      this.failure = new WalFailedError(this.walDir, error);
      this.options.logger.error({ component: 'storage', err: error }, 'WAL write failed; refusing writes');
    }
    const pending = this.pending;
    this.pending = undefined;
    pending?.builder.release();
    pending?.reject(this.failure);
  }
}

/** The ops that rebuild `log` on an empty log: snapshot pointer, marker, entries (in slices), hard state. */
function checkpointOps(log: GroupLog): GroupOp[] {
  const ops: GroupOp[] = [];
  if (log.snap !== undefined) ops.push({ type: 'snapshot', ref: log.snap, install: false });
  if (log.markerIndex > 0) ops.push({ type: 'compact', index: log.markerIndex, term: log.markerTerm });
  let from = 0;
  while (from < log.entries.length) {
    let to = from;
    let bytes = 0;
    while (to < log.entries.length && (to === from || bytes < CHUNK_BYTES / 2)) {
      bytes += (log.entries[to] as { data: Uint8Array }).data.length;
      to++;
    }
    const first = log.markerIndex + 1 + from;
    ops.push({ type: 'entries', first, entries: log.entries.slice(from, to) });
    from = to;
  }
  const h = log.hard;
  if (h.term !== 0 || h.vote !== 0 || h.commit !== 0) ops.push({ type: 'hardState', state: h });
  return ops;
}

/** Groups `buffers` into write calls of at most `max` bytes each (a larger buffer is cut). */
function splitWrites(buffers: readonly Buffer[], max: number): Buffer[][] {
  const out: Buffer[][] = [];
  let group: Buffer[] = [];
  let bytes = 0;
  for (let buffer of buffers) {
    while (buffer.length > 0) {
      if (bytes === max) {
        out.push(group);
        group = [];
        bytes = 0;
      }
      const take = Math.min(buffer.length, max - bytes);
      group.push(take === buffer.length ? buffer : buffer.subarray(0, take));
      bytes += take;
      buffer = buffer.subarray(take);
    }
  }
  if (group.length > 0) out.push(group);
  return out;
}
