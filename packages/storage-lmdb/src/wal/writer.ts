/**
 * The group commit: every record issued in one event-loop turn, by any group, goes into one batch, written
 * with one gathering `write` and made durable with one `fdatasync`; records issued meanwhile wait for the
 * next batch (pipelining depth 1, so only the last batch of a segment can ever be torn).
 *
 *   put ─► pending batch ──setImmediate──► write ─► fdatasync ─► resolve every record of the batch
 *   past segmentBytes: a Rotation streams a checkpoint into the next segment; the batch after it switches
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { GroupId } from '@flotilla/core';
import { StorageClosedError, WalFailedError, WalOverloadedError } from '../errors.ts';
import { BatchBuilder, ChunkPool } from './batch.ts';
import { opRecordBytes, writeOpRecord } from './format.ts';
import type { GroupLog } from './group-log.ts';
import type { GroupOp } from './ops.ts';
import { CHUNK_BYTES, FREE_CHUNKS_MAX, type ResolvedWalOptions } from './options.ts';
import { capture, Rotation } from './rotation.ts';
import { closeSegment, dsyncHandle, type Segment } from './segment.ts';
import { fsyncDir, listSegments, SegmentPreparer, segmentName } from './segment-files.ts';

const RESOLVED: Promise<void> = Promise.resolve();

/** Counters of the write path (diagnostics and tests: one fdatasync per batch). */
export interface WalStats {
  /** Batches made durable, checkpoints included. */
  readonly batches: number;
  readonly writes: number;
  readonly fdatasyncs: number;
  /** Writes made durable by O_DSYNC instead of an fdatasync (`syncMethod: 'dsync'`). */
  readonly dsyncWrites: number;
  readonly bytesWritten: number;
  /** Segments switched to since open (a fresh directory's first segment counts). */
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

export class WalWriter {
  private readonly pool = new ChunkPool(CHUNK_BYTES, FREE_CHUNKS_MAX);
  private readonly preparer: SegmentPreparer;
  private readonly background = new Set<Promise<void>>();
  private segment!: Segment;
  private rotation: Rotation | undefined;
  private pending: Pending | undefined;
  private inFlight: Promise<void> | undefined;
  private scheduled = false;
  private closed = false;
  private failure: WalFailedError | undefined;
  private readonly counters = {
    batches: 0,
    writes: 0,
    fdatasyncs: 0,
    dsyncWrites: 0,
    bytesWritten: 0,
    rotations: 0,
  };

  private constructor(
    private readonly options: ResolvedWalOptions,
    private readonly walDir: string,
    private readonly state: StateSource,
  ) {
    this.preparer = new SegmentPreparer(walDir, options.segmentBytes, options.preallocate);
  }

  /** Resumes the recovered segment, or starts segment 1 (checkpoint and seal) from `state`. */
  static async open(
    options: ResolvedWalOptions,
    walDir: string,
    recovered: Segment | undefined,
    state: StateSource,
  ): Promise<WalWriter> {
    const writer = new WalWriter(options, walDir, state);
    if (recovered === undefined) {
      // Not `writer.rotation`: no flush may switch to it, this does.
      const rotation = writer.newRotation(1);
      await rotation.done;
      await writer.switchTo(rotation, undefined);
    } else {
      writer.segment = recovered;
      writer.preparer.prepare(recovered.seq + 1);
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
    const { pendingRecordsMax, pendingBytesMax } = this.options;
    if ((this.pending?.builder.records ?? 0) >= pendingRecordsMax) {
      throw new WalOverloadedError('pendingRecordsMax', pendingRecordsMax, group);
    }
    if ((this.pending?.builder.bytes ?? 0) + bytes > pendingBytesMax) {
      throw new WalOverloadedError('pendingBytesMax', pendingBytesMax, group);
    }
    const pending = this.pending ?? this.newPending();
    const [buf, off] = pending.builder.reserve(bytes);
    writeOpRecord(buf, off, groupKey, op, bytes);
    this.schedule();
    return pending.promise;
  }

  /** Resolves once every record put so far is durable. */
  barrier(): Promise<void> {
    return this.pending?.promise ?? this.inFlight ?? RESOLVED;
  }

  /** Waits for every record put so far, then closes the files (a rotation in progress is dropped). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.schedule(); // A batch held back by a rotation (tailFull) goes now.
    await this.barrier().catch(() => {});
    await this.rotation?.abort();
    await this.preparer.stop();
    await Promise.all([...this.background]);
    await closeSegment(this.segment);
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
    if (this.pending === undefined && !this.switchDue()) return;
    this.scheduled = true;
    if (this.options.batchBoundary === 'microtask') queueMicrotask(this.flush);
    else setImmediate(this.flush);
  }

  /** Takes the pending batch (the whole turn's records) and writes it; switches segments when due. */
  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.inFlight !== undefined || this.failure !== undefined) return;
    const batch = this.pending;
    const rotation = this.rotation;
    let done: Promise<void>;
    if (rotation !== undefined && this.switchDue()) {
      this.pending = undefined;
      done = this.switchTo(rotation, batch?.builder);
    } else if (batch === undefined || this.tailFull(batch.builder)) {
      return;
    } else if (batch.builder.records === 0) {
      this.pending = undefined;
      batch.builder.release();
      batch.resolve();
      return;
    } else {
      this.pending = undefined;
      done = this.writeCurrent(batch.builder);
    }
    this.inFlight = batch?.promise ?? done;
    done.then(
      () => {
        this.inFlight = undefined;
        batch?.resolve();
        this.schedule();
      },
      (error: unknown) => {
        this.inFlight = undefined;
        this.fail(error);
        batch?.reject(this.failure);
      },
    );
  };

  /** Writes a batch to the current segment, starting a rotation or feeding the one in progress. */
  private writeCurrent(builder: BatchBuilder): Promise<void> {
    if (this.rotation === undefined && this.shouldRotate(builder.bytes)) {
      // The logged state includes this batch: the checkpoint is the state after it.
      this.rotation = this.newRotation(this.segment.seq + 1);
    } else {
      this.rotation?.keep(builder);
    }
    return this.write(builder, this.segment);
  }

  /**
   * The records kept for a rotation's seal batch are bounded by `pendingBytesMax`: past it, batches wait for
   * the switch (and writers, past the pending limits, get `WalOverloadedError`). A closing writer never waits.
   */
  private tailFull(builder: BatchBuilder): boolean {
    const rotation = this.rotation;
    if (rotation === undefined || this.closed) return false;
    return rotation.tailBytes + builder.bytes > this.options.pendingBytesMax;
  }

  /** A closing writer drops its rotation instead of switching to it. */
  private switchDue(): boolean {
    return this.rotation?.ready === true && !this.closed;
  }

  /**
   * Past 3/4 of `segmentBytes` (the batches written while the rotation runs still land in preallocated
   * space), unless fewer bytes were logged since the checkpoint than the checkpoint took: a live log larger
   * than a segment makes segments longer rather than rotations back to back.
   */
  private shouldRotate(batchBytes: number): boolean {
    const { position, checkpointEnd } = this.segment;
    const rotateAt = (this.options.segmentBytes / 4) * 3;
    return position + batchBytes > rotateAt && position - checkpointEnd >= checkpointEnd;
  }

  private newRotation(seq: number): Rotation {
    const deps = {
      walDir: this.walDir,
      preparer: this.preparer,
      io: this.options.io,
      chunkBytes: CHUNK_BYTES,
      count: (what: 'write' | 'sync', bytes: number) => {
        if (what === 'write') this.counters.writes++;
        else this.counters.fdatasyncs++;
        this.counters.bytesWritten += bytes;
      },
    };
    const rotation = new Rotation(seq, capture(this.state()), deps, () => this.schedule());
    rotation.done.catch((error: unknown) => this.fail(error));
    return rotation;
  }

  /** Writes the seal batch into the rotation's segment; from then on it is the segment. */
  private async switchTo(rotation: Rotation, pending: BatchBuilder | undefined): Promise<void> {
    const next = rotation.takeSegment();
    await this.write(rotation.sealBatch(this.pool, pending), next);
    const previous = this.segment as Segment | undefined;
    this.segment = next;
    this.rotation = undefined;
    this.counters.rotations++;
    this.preparer.prepare(next.seq + 1);
    this.track(this.deleteBefore(next.seq, previous));
  }

  /**
   * One write and one fdatasync (several writes when past `writeBytesMax`); with `syncMethod: 'dsync'` a
   * batch that fits one write is one O_DSYNC write instead: durable on return, one threadpool hop fewer.
   */
  private async write(builder: BatchBuilder, segment: Segment): Promise<void> {
    const { io, writeBytesMax, syncMethod } = this.options;
    const writes = splitWrites(builder.finish(segment.lastBatchSeq + 1), writeBytesMax);
    let position = segment.position;
    if (syncMethod === 'dsync' && writes.length === 1) {
      await io.write((await dsyncHandle(segment)).fd, writes[0] as Buffer[], position);
      this.counters.writes++;
      this.counters.dsyncWrites++;
      position += builder.bytes;
    } else {
      for (const buffers of writes) {
        await io.write(segment.handle.fd, buffers, position);
        this.counters.writes++;
        for (const b of buffers) position += b.length;
      }
      await io.fdatasync(segment.handle.fd);
      this.counters.fdatasyncs++;
    }
    this.counters.batches++;
    this.counters.bytesWritten += builder.bytes;
    segment.position = position;
    segment.lastBatchSeq++;
    builder.release();
  }

  private async deleteBefore(seq: number, previous: Segment | undefined): Promise<void> {
    if (previous !== undefined) await closeSegment(previous);
    for (const old of await listSegments(this.walDir)) {
      if (old < seq) await unlink(join(this.walDir, segmentName(old)));
    }
    await fsyncDir(this.walDir);
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
