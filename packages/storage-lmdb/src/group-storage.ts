/**
 * One Raft group's durable log and hard state (core's `LogStorage` and `StableStorage`) on the shared LMDB
 * environment. Reads are synchronous and O(1)/O(log n) thanks to cached bounds and an overlay of writes in
 * flight; writes are issued at once so that one event-loop turn of every group commits in one transaction.
 */
import {
  assert,
  CompactedError,
  EMPTY_SNAPSHOT,
  type Entry,
  encodeEntry,
  encodeHardState,
  type GroupId,
  type HardState,
  type LogStorage,
  type Snapshot,
  type SnapshotMeta,
  SnapshotOutOfDateError,
  type StableStorage,
  UnavailableError,
} from '@flotilla/core';
import type { Env } from './env.ts';
import { CorruptValueError } from './errors.ts';
import { GroupSnapshots } from './group-snapshots.ts';
import type { Janitor } from './janitor.ts';
import type { ResolvedOptions } from './options.ts';
import { decodeStoredEntry, encodeGroupRecord, type GroupRecord, type SnapshotPointer } from './records.ts';
import { recoverGroup } from './recover.ts';
import { WriteQueue } from './write-queue.ts';

const RESOLVED: Promise<void> = Promise.resolve();

/** What a group needs from its node's storage. */
export interface GroupContext {
  readonly env: Env;
  readonly janitor: Janitor;
  readonly options: ResolvedOptions;
}

/** A snapshot being read back as a stream of chunks. */
export interface SnapshotReader {
  readonly meta: SnapshotMeta;
  readonly bytes: number;
  /** Iterate to the end or call `return()`: until then the chunks are kept even if the snapshot is replaced. */
  readonly chunks: AsyncIterableIterator<Uint8Array>;
}

export class GroupStorage implements LogStorage, StableStorage {
  readonly group: GroupId;
  /** Every write of the group (log, hard state, snapshot, state machine) goes through this one order. */
  readonly queue: WriteQueue;
  private readonly env: Env;
  private readonly janitor: Janitor;
  private readonly chunkEntries: number;
  private readonly snaps: GroupSnapshots;
  /** State as of the last write issued (reads reflect it); the disk catches up in the same order. */
  private markerIndex: number;
  private markerTerm: number;
  private last: number;
  private hard: HardState;
  private pointer: SnapshotPointer | undefined;
  private durableMarker: number;
  /** Entries issued but not yet durable: always the suffix `[overlayLow, last]` of the log. */
  private readonly overlay = new Map<number, Entry>();
  private overlayLow = Number.POSITIVE_INFINITY;

  constructor(ctx: GroupContext, group: GroupId) {
    const recovered = recoverGroup(ctx.env, group);
    this.group = group;
    this.env = ctx.env;
    this.janitor = ctx.janitor;
    this.chunkEntries = ctx.options.deleteChunkEntries;
    this.queue = new WriteQueue(ctx.options.heldWritesMax);
    this.markerIndex = recovered.record.markerIndex;
    this.markerTerm = recovered.record.markerTerm;
    this.durableMarker = recovered.record.markerIndex;
    this.last = recovered.lastIndex;
    this.hard = recovered.hard;
    this.pointer = recovered.record.snapshot;
    this.snaps = new GroupSnapshots(ctx.env, group, ctx.janitor, ctx.options, {
      pointer: recovered.record.snapshot,
      maxSnapshotId: recovered.maxSnapshotId,
    });
    if (recovered.garbageBelowMarker) this.collectBelowMarker();
    const { garbageFrom, garbageTo } = recovered.record;
    if (garbageFrom > 0) {
      // A truncation was cut short by a crash: finish it before any new write of the group.
      this.queue
        .long(() => this.deleteSuffix(this.record(), garbageFrom, garbageTo))
        .catch((error: unknown) => {
          ctx.options.logger.error({ component: 'storage', group, err: error }, 'truncation failed');
        });
    }
  }

  // ------------------------------------------------------------------------------------------ reads

  firstIndex(): number {
    return this.markerIndex + 1;
  }

  lastIndex(): number {
    return this.last;
  }

  term(index: number): number {
    if (index === this.markerIndex) return this.markerTerm;
    if (index < this.markerIndex) throw new CompactedError(index, this.firstIndex());
    if (index > this.last) throw new UnavailableError(index, this.last);
    return (this.overlay.get(index) ?? this.readEntry(index)).term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.markerIndex) throw new CompactedError(lo, this.firstIndex());
    if (hi > this.last + 1) throw new UnavailableError(hi - 1, this.last);
    const out: Entry[] = [];
    let bytes = 0;
    const take = (entry: Entry): boolean => {
      bytes += entry.data.length;
      if (out.length > 0 && bytes > maxBytes) return false;
      out.push(entry);
      return true;
    };
    let next = lo;
    const durableHi = Math.min(hi, this.overlayLow);
    if (next < durableHi) {
      const range = this.env.log.getRange({ start: [this.group, lo], end: [this.group, durableHi] });
      for (const { key, value } of range) {
        if (key[1] !== next) throw this.missing(next);
        if (!take(decodeStoredEntry(value, this.group, next))) return out;
        next++;
      }
      if (next < durableHi) throw this.missing(next);
    }
    for (; next < hi; next++) {
      if (!take(this.overlay.get(next) ?? this.readEntry(next))) break;
    }
    return out;
  }

  snapshot(): Snapshot {
    const pointer = this.pointer;
    if (pointer === undefined) return EMPTY_SNAPSHOT;
    return { meta: pointer.meta, data: this.snaps.readAll(pointer) };
  }

  /** The latest snapshot's metadata, without reading its data. */
  snapshotMeta(): SnapshotMeta {
    return this.pointer?.meta ?? EMPTY_SNAPSHOT.meta;
  }

  /** The latest snapshot as a stream of chunks (`undefined` when there is none). */
  readSnapshot(): SnapshotReader | undefined {
    const pointer = this.pointer;
    if (pointer === undefined) return undefined;
    return { meta: pointer.meta, bytes: pointer.bytes, chunks: this.snaps.stream(pointer) };
  }

  hardState(): HardState {
    return this.hard;
  }

  private readEntry(index: number): Entry {
    const bytes = this.env.log.getBinary([this.group, index]);
    if (bytes === undefined) throw this.missing(index);
    return decodeStoredEntry(bytes, this.group, index);
  }

  private missing(index: number): CorruptValueError {
    return new CorruptValueError('log', this.group, index, 'entry is missing');
  }

  // ------------------------------------------------------------------------------------------ writes

  setHardState(state: HardState): Promise<void> {
    this.hard = state;
    const bytes = encodeHardState(state);
    return this.queue.short(() => this.env.hard.put(this.group, bytes));
  }

  append(entries: readonly Entry[]): Promise<void> {
    if (entries.length === 0) return RESOLVED;
    const first = (entries[0] as Entry).index;
    assert(first <= this.last + 1, () => `append at ${first} leaves a gap after ${this.last}`);
    if (first <= this.markerIndex) {
      // Entries the snapshot already covers are committed and identical: skip them.
      entries = entries.slice(this.markerIndex + 1 - first);
      if (entries.length === 0) return RESOLVED;
    }
    const lo = (entries[0] as Entry).index;
    const hi = lo + entries.length - 1;
    const staleHi = this.last;
    this.dropOverlayFrom(lo);
    for (const entry of entries) this.overlay.set(entry.index, entry);
    if (lo < this.overlayLow) this.overlayLow = lo;
    this.last = hi;
    const record = this.record();
    const write =
      staleHi - hi > this.chunkEntries
        ? this.queue.long(() =>
            this.deleteSuffix(record, hi + 1, staleHi, () => this.putEntries(entries, 0, -1)),
          )
        : this.queue.short(() => this.putEntries(entries, hi + 1, staleHi));
    return write.then(() => this.settle(entries));
  }

  compact(index: number): Promise<void> {
    if (index <= this.markerIndex) return RESOLVED;
    const snapshotIndex = this.pointer?.meta.index ?? 0;
    assert(index <= snapshotIndex, () => `compact(${index}) past the snapshot at ${snapshotIndex}`);
    assert(index <= this.last, () => `compact(${index}) past the last index ${this.last}`);
    this.markerTerm = this.term(index);
    this.markerIndex = index;
    const record = encodeGroupRecord(this.record());
    return this.queue
      .short(() => this.env.group.put(this.group, record))
      .then(() => this.markerDurable(index));
  }

  saveSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    const current = this.snapshotMeta().index;
    if (meta.index < current) return Promise.reject(new SnapshotOutOfDateError(meta.index, current));
    assert(meta.index <= this.last, () => `snapshot at ${meta.index} is past the log (${this.last})`);
    const id = this.snaps.allocateId();
    const source = this.snaps.split(id, data);
    return this.switchSnapshot(this.pointerFor(id, meta, data), false, source);
  }

  installSnapshot(snapshot: Snapshot): Promise<void> {
    const { meta, data } = snapshot;
    const current = this.snapshotMeta().index;
    if (meta.index < current) return Promise.reject(new SnapshotOutOfDateError(meta.index, current));
    const id = this.snaps.allocateId();
    const source = this.snaps.split(id, data);
    return this.switchSnapshot(this.pointerFor(id, meta, data), true, source);
  }

  /**
   * Streams a snapshot to disk, then makes it the group's snapshot: `install` replaces the log (a snapshot
   * from the leader), otherwise the log is kept (a local snapshot; `compact` afterwards). The switch takes
   * its place in the group's write order when the stream ends; an interrupted stream changes nothing.
   */
  async writeSnapshot(
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
    options: { install: boolean },
  ): Promise<void> {
    const id = this.snaps.allocateId();
    const written = await this.snaps.writeChunks(id, chunks);
    const current = this.snapshotMeta().index;
    if (meta.index < current) {
      this.snaps.forget(id);
      throw new SnapshotOutOfDateError(meta.index, current);
    }
    if (!options.install) {
      assert(meta.index <= this.last, () => `snapshot at ${meta.index} is past the log (${this.last})`);
    }
    await this.switchSnapshot({ id, meta, ...written }, options.install, undefined);
  }

  /** Resolves once every write issued so far by this group is durable. */
  flushed(): Promise<void> {
    return this.queue.short(() => RESOLVED);
  }

  private pointerFor(id: number, meta: SnapshotMeta, data: Uint8Array): SnapshotPointer {
    const size = this.snaps.chunkBytes;
    return { id, meta, chunks: Math.ceil(data.byteLength / size), bytes: data.byteLength };
  }

  /**
   * Points the group at `pointer` (in memory now, on disk in write order). The chunks are written first
   * (when `source` is given), then an install deletes the old log above the snapshot from the top, then one
   * put switches marker and pointer together. A crash before the switch leaves the previous snapshot.
   */
  private switchSnapshot(
    pointer: SnapshotPointer,
    install: boolean,
    source: Iterable<Uint8Array> | undefined,
  ): Promise<void> {
    const { index, term } = pointer.meta;
    const staleHi = this.last;
    this.pointer = pointer;
    if (install) {
      this.markerIndex = index;
      this.markerTerm = term;
      this.last = index;
      this.overlay.clear();
      this.overlayLow = Number.POSITIVE_INFINITY;
    }
    const record = this.record();
    const chunked = install && staleHi - index > this.chunkEntries;
    const putRecord = (): Promise<boolean> => {
      if (install) this.removeRange(index + 1, staleHi);
      return this.env.group.put(this.group, encodeGroupRecord(record));
    };
    const write =
      source !== undefined || chunked
        ? this.queue.long(async () => {
            if (source !== undefined) await this.snaps.writeChunks(pointer.id, source);
            if (chunked) await this.deleteSuffix(record, index + 1, staleHi);
            else await putRecord();
          })
        : this.queue.short(putRecord);
    return write.then(
      () => {
        this.snaps.switched(pointer);
        if (install) this.markerDurable(index);
      },
      (error: unknown) => {
        this.snaps.forget(pointer.id);
        throw error;
      },
    );
  }

  private record(): GroupRecord {
    return {
      markerIndex: this.markerIndex,
      markerTerm: this.markerTerm,
      snapshot: this.pointer,
      garbageFrom: 0,
      garbageTo: 0,
    };
  }

  private putEntries(entries: readonly Entry[], staleLo: number, staleHi: number): Promise<boolean> {
    this.removeRange(staleLo, staleHi);
    let last: Promise<boolean> | undefined;
    for (const entry of entries) last = this.env.log.put([this.group, entry.index], encodeEntry(entry));
    return last as Promise<boolean>;
  }

  private removeRange(lo: number, hi: number): Promise<boolean> | undefined {
    let last: Promise<boolean> | undefined;
    for (let i = hi; i >= lo; i--) last = this.env.log.remove([this.group, i]);
    return last;
  }

  /**
   * Deletes the log suffix `[from, to]` in chunks of `deleteChunkEntries`, one transaction each. The first
   * transaction writes `record` marked with the garbage range (plus whatever `alongside` issues, such as the
   * new entries), so a crash at any point leaves either the old state or the new one, never a mix.
   */
  private async deleteSuffix(
    record: GroupRecord,
    from: number,
    to: number,
    alongside?: () => unknown,
  ): Promise<void> {
    alongside?.();
    const marked = { ...record, garbageFrom: from, garbageTo: to };
    await this.env.group.put(this.group, encodeGroupRecord(marked));
    for (let top = to; top >= from; top -= this.chunkEntries) {
      await this.removeRange(Math.max(from, top - this.chunkEntries + 1), top);
    }
    await this.env.group.put(this.group, encodeGroupRecord(record));
  }

  private dropOverlayFrom(lo: number): void {
    if (lo <= this.overlayLow) {
      this.overlay.clear();
      this.overlayLow = Number.POSITIVE_INFINITY;
      return;
    }
    for (let i = lo; i <= this.last; i++) this.overlay.delete(i);
  }

  /** `entries` are durable: drop them from the overlay unless a later write replaced them. */
  private settle(entries: readonly Entry[]): void {
    const base = (entries[0] as Entry).index;
    while (this.overlay.size > 0) {
      const at = this.overlayLow - base;
      if (at < 0 || at >= entries.length) break;
      if (this.overlay.get(this.overlayLow) !== entries[at]) break;
      this.overlay.delete(this.overlayLow);
      this.overlayLow++;
    }
    if (this.overlay.size === 0) this.overlayLow = Number.POSITIVE_INFINITY;
  }

  private markerDurable(index: number): void {
    if (index <= this.durableMarker) return;
    this.durableMarker = index;
    this.collectBelowMarker();
  }

  /** Entries at or below a durable marker are unreachable: delete them in the background. */
  private collectBelowMarker(): void {
    const group = this.group;
    this.janitor.schedule(`log:${group}`, this.env.log, () => ({
      start: [group, 0],
      end: [group, this.durableMarker],
      inclusiveEnd: true,
    }));
  }
}
