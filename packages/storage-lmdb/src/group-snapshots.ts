/**
 * Snapshot chunks of one group: writes a stream of chunks under a fresh id, reads one back as a stream, and
 * deletes a snapshot's chunks once a newer one is durable and no reader holds it. The pointer that says which
 * id is current lives in the group record (see records.ts); switching it is the caller's last step.
 */
import { concatBytes } from './bytes.ts';
import type { Env } from './env.ts';
import { CorruptValueError } from './errors.ts';
import type { Janitor } from './janitor.ts';
import type { SnapshotPointer } from './records.ts';
import { MAX_KEY_NUMBER } from './recover.ts';

export interface ChunkLimits {
  readonly snapshotChunkBytes: number;
  readonly snapshotChunksInFlightMax: number;
}

export class GroupSnapshots {
  private readonly env: Env;
  private readonly group: string;
  private readonly janitor: Janitor;
  private readonly limits: ChunkLimits;
  private nextId: number;
  /** Snapshots given as one buffer, kept in memory until their chunks are durable. */
  private readonly pending = new Map<number, Uint8Array>();
  private readonly pins = new Map<number, number>();
  private durable: SnapshotPointer | undefined;
  /** Ids whose chunks are garbage but pinned by a reader. */
  private readonly retired = new Set<number>();

  constructor(env: Env, group: string, janitor: Janitor, limits: ChunkLimits, recovered: Recovered) {
    this.env = env;
    this.group = group;
    this.janitor = janitor;
    this.limits = limits;
    this.durable = recovered.pointer;
    this.nextId = recovered.maxSnapshotId + 1;
    this.collectLeftovers(recovered);
  }

  get chunkBytes(): number {
    return this.limits.snapshotChunkBytes;
  }

  allocateId(): number {
    return this.nextId++;
  }

  /** Writes `source` as chunks of snapshot `id`, at most `snapshotChunksInFlightMax` uncommitted at once. */
  async writeChunks(
    id: number,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<{ chunks: number; bytes: number }> {
    const inFlight: Promise<boolean>[] = [];
    let chunks = 0;
    let bytes = 0;
    try {
      for await (const chunk of source) {
        if (chunk.byteLength === 0) continue;
        // Copy: the caller may reuse its buffer (msgpackr pools them) before LMDB has written it.
        inFlight.push(this.env.snap.put([this.group, id, chunks], Buffer.from(chunk)));
        chunks++;
        bytes += chunk.byteLength;
        if (inFlight.length >= this.limits.snapshotChunksInFlightMax) await inFlight.shift();
      }
      await Promise.all(inFlight);
    } catch (error) {
      // Collect only once the chunks already issued have landed, or some would be missed.
      await Promise.allSettled(inFlight);
      this.forget(id);
      throw error;
    }
    return { chunks, bytes };
  }

  /** Splits a buffer into chunks; the buffer answers reads until `written(id)`. */
  split(id: number, data: Uint8Array): Iterable<Uint8Array> {
    // Copied now: the chunks are written a turn later, and the caller may reuse its buffer (msgpackr pools
    // them) — the snapshot must be the bytes given at the call.
    const copy = Uint8Array.prototype.slice.call(data) as Uint8Array;
    this.pending.set(id, copy);
    return chunksOf(copy, this.limits.snapshotChunkBytes);
  }

  /** The pointer to `next` is durable: drop the in-memory copy and collect the previous snapshot. */
  switched(next: SnapshotPointer): void {
    const previous = this.durable;
    this.durable = next;
    this.pending.delete(next.id);
    if (previous !== undefined && previous.id !== next.id) this.retire(previous.id);
  }

  /** A snapshot write that will never be pointed to (failed stream, failed install). */
  forget(id: number): void {
    this.pending.delete(id);
    this.retire(id);
  }

  /** Whole snapshot data, read synchronously (LogStorage.snapshot()). */
  readAll(pointer: SnapshotPointer): Uint8Array {
    const inMemory = this.pending.get(pointer.id);
    if (inMemory !== undefined) return inMemory;
    const parts: Uint8Array[] = [];
    for (let i = 0; i < pointer.chunks; i++) parts.push(this.chunk(pointer, i));
    return concatBytes(parts, pointer.bytes);
  }

  /**
   * Streams the chunks of `pointer`. They stay on disk, even if a newer snapshot replaces this one, until the
   * iteration ends or `return()` is called: iterate to the end or call `return()`.
   */
  stream(pointer: SnapshotPointer): AsyncIterableIterator<Uint8Array> {
    const inMemory = this.pending.get(pointer.id);
    if (inMemory !== undefined) return toAsync(chunksOf(inMemory, this.limits.snapshotChunkBytes));
    this.pins.set(pointer.id, (this.pins.get(pointer.id) ?? 0) + 1);
    let next = 0;
    let done = false;
    const finish = (): IteratorResult<Uint8Array> => {
      if (!done) this.unpin(pointer.id);
      done = true;
      return { done: true, value: undefined };
    };
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      next: async () => {
        if (done || next >= pointer.chunks) return finish();
        try {
          return { done: false, value: this.chunk(pointer, next++) };
        } catch (error) {
          finish();
          throw error;
        }
      },
      return: async () => finish(),
    };
  }

  private chunk(pointer: SnapshotPointer, i: number): Uint8Array {
    const bytes = this.env.snap.getBinary([this.group, pointer.id, i]);
    if (bytes === undefined) {
      throw new CorruptValueError('snap', this.group, pointer.meta.index, `chunk ${i} is missing`);
    }
    return bytes;
  }

  private unpin(id: number): void {
    const count = (this.pins.get(id) ?? 1) - 1;
    if (count > 0) {
      this.pins.set(id, count);
      return;
    }
    this.pins.delete(id);
    if (this.retired.delete(id)) this.retire(id);
  }

  private retire(id: number): void {
    if (this.pins.has(id)) {
      this.retired.add(id);
      return;
    }
    const group = this.group;
    this.janitor.schedule(`snap:${group}:${id}`, this.env.snap, () => ({
      start: [group, id, 0],
      end: [group, id, MAX_KEY_NUMBER],
      inclusiveEnd: true,
    }));
  }

  /** Chunks of ids other than the current one are leftovers of interrupted writes or replaced snapshots. */
  private collectLeftovers(recovered: Recovered): void {
    const group = this.group;
    const current = recovered.pointer?.id ?? 0;
    const max = recovered.maxSnapshotId;
    if (current > 1 || (current === 0 && max > 0)) {
      this.janitor.schedule(`snap:${group}:below`, this.env.snap, () => ({
        start: [group, 0, 0],
        end: [group, current === 0 ? max + 1 : current, 0],
      }));
    }
    if (current > 0 && max > current) {
      this.janitor.schedule(`snap:${group}:above`, this.env.snap, () => ({
        start: [group, current + 1, 0],
        end: [group, max, MAX_KEY_NUMBER],
        inclusiveEnd: true,
      }));
    }
  }
}

function* chunksOf(data: Uint8Array, size: number): Generator<Uint8Array> {
  for (let at = 0; at < data.byteLength; at += size) yield data.subarray(at, at + size);
}

async function* toAsync(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

export interface Recovered {
  readonly pointer: SnapshotPointer | undefined;
  readonly maxSnapshotId: number;
}
