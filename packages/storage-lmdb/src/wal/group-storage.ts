/**
 * One Raft group's `LogStorage` and `StableStorage` on the shared WAL. Reads are synchronous, from memory;
 * a write is applied in memory and put into the node's next batch at once, except behind a snapshot file
 * still being written: then it is held (in issue order) and reads see it through a copy of the log.
 */
import {
  AssertionError,
  assert,
  EMPTY_SNAPSHOT,
  type Entry,
  type GroupId,
  type HardState,
  type LogStorage,
  type Snapshot,
  type SnapshotMeta,
  SnapshotOutOfDateError,
  type StableStorage,
} from '@flotilla/core';
import { WalOverloadedError } from '../errors.ts';
import type { GroupLog } from './group-log.ts';
import type { GroupOp } from './ops.ts';
import type { SnapshotFiles } from './snapshot-files.ts';
import type { WalWriter } from './writer.ts';

const RESOLVED: Promise<void> = Promise.resolve();

/** What a group needs from its store. */
export interface WalGroupContext {
  readonly writer: WalWriter;
  readonly snapshots: SnapshotFiles;
  readonly heldWritesMax: number;
}

/** A write waiting behind a snapshot file (`ready` once its own file, if any, is durable). */
interface Held {
  readonly op: GroupOp;
  ready: boolean;
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class WalGroupStorage implements LogStorage, StableStorage {
  readonly group: GroupId;
  private readonly key: Buffer;
  private readonly ctx: WalGroupContext;
  /** The state the WAL records put so far describe: checkpoints and recovery see exactly this. */
  private readonly logged: GroupLog;
  /** The state as of the last write issued: `logged`, or a copy ahead of it while writes are held. */
  private visible: GroupLog;
  private readonly held: Held[] = [];
  private failure: unknown;

  /** Use `WalStore.group`. */
  constructor(ctx: WalGroupContext, group: GroupId, key: Buffer, log: GroupLog) {
    this.ctx = ctx;
    this.group = group;
    this.key = key;
    this.logged = log;
    this.visible = log;
  }

  // ------------------------------------------------------------------------------------------ reads

  firstIndex(): number {
    return this.visible.markerIndex + 1;
  }

  lastIndex(): number {
    return this.visible.lastIndex;
  }

  term(index: number): number {
    return this.visible.term(index);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.visible.slice(lo, hi, maxBytes);
  }

  /** Reads the snapshot file (synchronously) unless its data is still in memory; see `SnapshotFiles.read`. */
  snapshot(): Snapshot {
    const ref = this.visible.snap;
    if (ref === undefined) return EMPTY_SNAPSHOT;
    return { meta: ref.meta, data: ref.data ?? this.ctx.snapshots.read(this.group, ref) };
  }

  /** The latest snapshot's metadata, without reading its data. */
  snapshotMeta(): SnapshotMeta {
    return this.visible.snap?.meta ?? EMPTY_SNAPSHOT.meta;
  }

  hardState(): HardState {
    return this.visible.hard;
  }

  // ------------------------------------------------------------------------------------------ writes

  append(entries: readonly Entry[]): Promise<void> {
    if (entries.length === 0) return RESOLVED;
    const v = this.visible;
    const first = (entries[0] as Entry).index;
    assert(first <= v.lastIndex + 1, () => `append at ${first} leaves a gap after ${v.lastIndex}`);
    // Entries the marker covers are committed and identical: skip them.
    const skip = first <= v.markerIndex ? v.markerIndex + 1 - first : 0;
    if (skip >= entries.length) return RESOLVED;
    return this.issue({ type: 'entries', first: first + skip, entries: copyEntries(entries, skip) });
  }

  setHardState(state: HardState): Promise<void> {
    return this.issue({
      type: 'hardState',
      state: { term: state.term, vote: state.vote, commit: state.commit },
    });
  }

  compact(index: number): Promise<void> {
    const v = this.visible;
    if (index <= v.markerIndex) return RESOLVED;
    const snapshotIndex = v.snap?.meta.index ?? 0;
    assert(index <= snapshotIndex, () => `compact(${index}) past the snapshot at ${snapshotIndex}`);
    assert(index <= v.lastIndex, () => `compact(${index}) past the last index ${v.lastIndex}`);
    return this.issue({ type: 'compact', index, term: v.term(index) });
  }

  saveSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    const current = this.snapshotMeta().index;
    if (meta.index < current) return Promise.reject(new SnapshotOutOfDateError(meta.index, current));
    assert(meta.index <= this.visible.lastIndex, () => `snapshot at ${meta.index} is past the log`);
    return this.issueSnapshot(meta, data, false);
  }

  installSnapshot(snapshot: Snapshot): Promise<void> {
    const current = this.snapshotMeta().index;
    const { meta, data } = snapshot;
    if (meta.index < current) return Promise.reject(new SnapshotOutOfDateError(meta.index, current));
    return this.issueSnapshot(meta, data, true);
  }

  /** Resolves once every write issued so far by this group is durable. */
  flushed(): Promise<void> {
    return this.held.at(-1)?.promise ?? this.ctx.writer.barrier();
  }

  /** Writes the file now; the record that points at it (and every later write) waits until it is durable. */
  private issueSnapshot(meta: SnapshotMeta, data: Uint8Array, install: boolean): Promise<void> {
    const ref = this.ctx.snapshots.newRef(meta, data);
    const file = this.ctx.snapshots.write(this.group, ref);
    return this.issue({ type: 'snapshot', ref, install }, file);
  }

  private issue(op: GroupOp, file?: Promise<void>): Promise<void> {
    if (this.failure !== undefined) {
      file?.catch(() => {});
      return Promise.reject(this.failure);
    }
    if (file === undefined && this.held.length === 0) {
      try {
        return this.log(op);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (this.held.length >= this.ctx.heldWritesMax) {
      file?.catch(() => {});
      return Promise.reject(new WalOverloadedError('heldWritesMax', this.ctx.heldWritesMax, this.group));
    }
    if (this.visible === this.logged) this.visible = this.logged.clone();
    this.visible.apply(op);
    const step = held(op, file === undefined);
    this.held.push(step);
    file?.then(
      () => {
        step.ready = true;
        this.drain();
      },
      (error: unknown) => this.poison(error),
    );
    return step.promise;
  }

  /** Puts `op` into the next batch and applies it to the logged state; throws when the WAL refuses it. */
  private log(op: GroupOp): Promise<void> {
    const durable = this.ctx.writer.put(this.key, op, this.group);
    const replaced = this.logged.snap;
    this.logged.apply(op);
    if (op.type === 'snapshot' && replaced !== undefined && replaced !== op.ref) {
      durable.then(
        () => this.ctx.snapshots.retire(this.group, replaced),
        () => {},
      );
    }
    return durable;
  }

  /** Logs the held writes whose turn has come, in issue order. */
  private drain(): void {
    while (this.held.length > 0 && (this.held[0] as Held).ready) {
      const step = this.held.shift() as Held;
      if (step.op.type === 'snapshot') step.op.ref.data = undefined;
      try {
        this.log(step.op).then(step.resolve, step.reject);
      } catch (error) {
        step.reject(error);
        this.poison(error);
        return;
      }
    }
    if (this.held.length === 0) this.visible = this.logged;
  }

  /**
   * A held write failed (its snapshot file could not be written, or the WAL refused it): the writes issued
   * after it may depend on it, so they fail too, and so does every later write (reopen to recover).
   */
  private poison(error: unknown): void {
    this.failure ??= error;
    for (const step of this.held.splice(0)) step.reject(this.failure);
  }
}

function held(op: GroupOp, ready: boolean): Held {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { op, ready, promise, resolve, reject };
}

/** Copies entry data into one buffer per call: callers may reuse theirs, and the log keeps these for long. */
function copyEntries(entries: readonly Entry[], skip: number): Entry[] {
  let bytes = 0;
  for (let i = skip; i < entries.length; i++) bytes += (entries[i] as Entry).data.length;
  const arena = new Uint8Array(bytes);
  const out: Entry[] = new Array(entries.length - skip);
  let index = (entries[skip] as Entry).index;
  let at = 0;
  for (let i = skip; i < entries.length; i++, index++) {
    const e = entries[i] as Entry;
    if (e.index !== index) throw new AssertionError(`entries are not contiguous at ${e.index}`);
    const length = e.data.length;
    arena.set(e.data, at);
    out[i - skip] = { term: e.term, index, kind: e.kind, data: arena.subarray(at, at + length) };
    at += length;
  }
  return out;
}
