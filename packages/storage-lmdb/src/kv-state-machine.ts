/**
 * A key-value state machine kept in LMDB (core's `StateMachine`): the writes of applied commands and the
 * applied index commit in one transaction, so after a crash every command is applied exactly once.
 * Writes not yet durable stay in an overlay, so reads (point and range) see the state as of `appliedIndex`.
 * With a `StateCommitter`, applied batches are staged and committed together with every other machine's at
 * the committer's interval (durable later; the caller keeps its log until `durableAppliedIndex`).
 */
import { assert, type Command, type GroupId, type SnapshotMeta, type StateMachine } from '@flotilla/core';
import { compareKeys } from 'lmdb';
import { Packr } from 'msgpackr';
import type { Env, SmKey } from './env.ts';
import { CorruptValueError } from './errors.ts';
import type { Janitor } from './janitor.ts';
import { type KvKey, type KvRange, keyId, overlay, parts, unlimited } from './kv-keys.ts';
import { MAX_KEY_NUMBER } from './recover.ts';
import { SortedWrites } from './sorted-writes.ts';
import type { Committable, StateCommitter } from './state-committer.ts';
import type { WriteQueue } from './write-queue.ts';

/** What an apply function sees: the state as of the previous command, plus its own writes. */
export interface KvView {
  get(key: KvKey): Uint8Array | undefined;
  put(key: KvKey, value: Uint8Array): void;
  delete(key: KvKey): void;
  range(range: KvRange): Iterable<{ readonly key: KvKey; readonly value: Uint8Array }>;
}

/** The application's deterministic transition: one command in, one result out, writes through `kv`. */
export type KvApply<Result> = (command: Command, kv: KvView) => Result;

export interface KvContext {
  readonly env: Env;
  readonly janitor: Janitor;
  readonly queue: WriteQueue;
  readonly group: GroupId;
  /** When set, applied batches are staged and committed by it (see the module comment). */
  readonly committer?: StateCommitter | undefined;
}

/** Writes applied but not yet handed to LMDB, and the applied index they bring the state to. */
interface Staged {
  readonly writes: Map<string, Pending>;
  applied: number;
  readonly seq: number;
}

interface Pending {
  readonly key: KvKey;
  readonly value: Uint8Array | null;
  readonly seq: number;
}

export type { KvKey, KvRange } from './kv-keys.ts';
export { compareKvKeys, inRange, keyId, overlay, unlimited } from './kv-keys.ts';

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });
const FRESH: readonly [number, number] = [1, 0];

/** The LMDB key of `key` in generation `gen` of `group`: `[group, gen, ...key]`. */
function lmdbKey(group: GroupId, gen: number, key: KvKey): SmKey {
  return [group, gen, ...parts(key)] as SmKey;
}

function userKey(key: readonly unknown[]): KvKey {
  const rest = key.slice(2) as (string | number)[];
  return rest.length === 1 ? rest[0]! : rest;
}

export class KvStateMachine<Result = unknown> implements StateMachine<Result>, Committable {
  private readonly ctx: KvContext;
  private readonly applyFn: KvApply<Result>;
  /** Generation of the key space `[group, gen, ...key]`; `restore` writes a new one and drops the old. */
  private gen: number;
  private applied: number;
  private durableApplied: number;
  private seq = 0;
  private readonly overlayed = new SortedWrites<Pending>();
  private lastWrite: Promise<void> = Promise.resolve();
  private staged: Staged | undefined;

  constructor(ctx: KvContext, apply: KvApply<Result>) {
    this.ctx = ctx;
    this.applyFn = apply;
    const [gen, applied] = readMeta(ctx);
    this.gen = gen;
    this.applied = applied;
    this.durableApplied = applied;
    this.collectOtherGenerations();
  }

  get appliedIndex(): number {
    return this.applied;
  }

  /** The applied index that is durable: the log may be compacted up to here, not further. */
  get durableAppliedIndex(): number {
    return this.durableApplied;
  }

  /** Resolves when every write applied so far is durable (rejects if one failed); commits a staged batch now. */
  flushed(): Promise<void> {
    this.commitStaged();
    return this.lastWrite;
  }

  /** Reads a key of the current state (including applied writes not yet durable). */
  get(key: KvKey): Uint8Array | undefined {
    const pending = this.overlayed.get(key);
    if (pending !== undefined) return pending.value ?? undefined;
    return this.ctx.env.sm.getBinary(lmdbKey(this.ctx.group, this.gen, key));
  }

  /** Entries of the current state in key order (applied writes not yet durable included). */
  range(range: KvRange = {}): Iterable<{ key: KvKey; value: Uint8Array }> {
    if (this.overlayed.size === 0) return this.durableRange(range);
    // Overlaid writes may hide base entries: the base is read without a limit (lazily) and merged.
    return overlay(this.durableRange(unlimited(range)), this.overlayed.inRange(range), range);
  }

  /** LMDB's entries in `range` (lazily). */
  private *durableRange(range: KvRange): Generator<{ key: KvKey; value: Uint8Array }> {
    const { env, group } = this.ctx;
    const gen = this.gen;
    const low = range.start === undefined ? [group, gen] : lmdbKey(group, gen, range.start);
    const high = range.end === undefined ? [group, gen + 1] : lmdbKey(group, gen, range.end);
    // A reversed scan may meet the excluded end key first: one more, so that it cannot eat the limit.
    const limit = range.limit === undefined ? undefined : range.limit + (range.reverse ? 1 : 0);
    const options = range.reverse
      ? { start: high, end: low, reverse: true, ...(limit === undefined ? {} : { limit }) }
      : { start: low, end: high, ...(limit === undefined ? {} : { limit }) };
    for (const { key, value } of env.sm.getRange(options as never)) {
      const k = key as unknown as unknown[];
      // A reversed scan starts at `high` inclusive; the range's end is exclusive.
      if (range.reverse && compareKeys(k as never, high as never) >= 0) continue;
      yield { key: userKey(k), value: value as Uint8Array };
    }
  }

  apply(commands: readonly Command[]): Result[] {
    if (commands.length === 0) return [];
    // Writes go straight into the staged batch and the overlay (reads see them at once); a command that must
    // leave no trace is rolled back above this layer (the framework's per-command layer).
    const staged = this.stage();
    const write = (key: KvKey, value: Uint8Array | null) => {
      const id = keyId(key);
      const w = { key, value, seq: staged.seq };
      staged.writes.set(id, w);
      this.overlayed.set(w, id);
    };
    const view: KvView = {
      get: (key) => this.get(key),
      put: (key, value) => write(key, value.slice()),
      delete: (key) => write(key, null),
      range: (range) => this.range(range),
    };
    let index = this.applied;
    const results = commands.map((command) => {
      assert(command.index > index, () => `command ${command.index} applied after ${index}`);
      index = command.index;
      return this.applyFn(command, view);
    });
    this.staged!.applied = index;
    this.applied = index;
    this.scheduleCommit();
    return results;
  }

  advanceAppliedIndex(index: number): void {
    if (index <= this.applied) return;
    this.stage().applied = index;
    this.applied = index;
    this.scheduleCommit();
  }

  /** The batch writes are staged into until the committer (or, without one, this apply) hands it to LMDB. */
  private stage(): Staged {
    this.staged ??= { writes: new Map(), applied: this.applied, seq: ++this.seq };
    return this.staged;
  }

  /** Commits at the committer's next round, or now when there is none. */
  private scheduleCommit(): void {
    const committer = this.ctx.committer;
    if (committer === undefined) this.commitStaged();
    else committer.schedule(this);
  }

  /** Hands the staged batch to LMDB (the committer calls this for every machine in one turn). */
  commitStaged(): void {
    const staged = this.staged;
    if (staged === undefined) return;
    this.staged = undefined;
    void this.commit([...staged.writes.values()], staged.applied, false, staged.seq);
  }

  /** The whole state at `appliedIndex`, as msgpack pairs `[key, value, key, value, …]`. */
  snapshot(): Uint8Array {
    const flat: unknown[] = [];
    for (const { key, value } of this.range()) flat.push(key, value);
    return packr.pack(flat);
  }

  restore(data: Uint8Array, meta: SnapshotMeta): void {
    const pairs = decodeSnapshot(data, this.ctx.group, meta.index);
    const oldGen = this.gen;
    this.gen = oldGen + 1;
    // Writes staged for the old generation are replaced by the snapshot, as the overlay is.
    this.staged = undefined;
    this.overlayed.clear();
    this.commit(pairs, meta.index, true).then(
      () => this.collectGeneration(oldGen),
      () => {},
    );
  }

  /** Issues the writes and the applied index together: same turn, same transaction. */
  private commit(
    writes: readonly { key: KvKey; value: Uint8Array | null }[],
    applied: number,
    fresh: boolean,
    stagedSeq?: number,
  ): Promise<void> {
    const { env, group, queue } = this.ctx;
    const seq = stagedSeq ?? ++this.seq;
    const gen = this.gen;
    if (stagedSeq === undefined) {
      for (const w of writes) this.overlayed.set({ key: w.key, value: w.value, seq });
      this.applied = applied;
    }
    const write = queue.short(() => {
      for (const w of writes) {
        if (w.value === null) env.sm.remove(lmdbKey(group, gen, w.key));
        else env.sm.put(lmdbKey(group, gen, w.key), w.value);
      }
      return env.smMeta.put(group, [gen, applied]);
    });
    const settled = write.then(() => {
      if (applied > this.durableApplied || fresh) this.durableApplied = applied;
      for (const w of writes) {
        const id = keyId(w.key);
        if (this.overlayed.getById(id)?.seq === seq) this.overlayed.deleteById(id);
      }
    });
    // Marked handled here; `flushed()` still rejects for whoever awaits it.
    settled.catch(() => {});
    this.lastWrite = settled;
    return settled;
  }

  private collectOtherGenerations(): void {
    const { group } = this.ctx;
    this.collectRange(`sm:${group}:below`, [group, 0], [group, this.gen]);
    this.collectRange(`sm:${group}:above`, [group, this.gen + 1], [group, MAX_KEY_NUMBER]);
  }

  private collectGeneration(gen: number): void {
    const { group } = this.ctx;
    this.collectRange(`sm:${group}:${gen}`, [group, gen], [group, gen + 1]);
  }

  private collectRange(job: string, start: [string, number], end: [string, number]): void {
    const { env, janitor } = this.ctx;
    for (const _key of env.sm.getKeys({ start: start as never, end: end as never, limit: 1 })) {
      janitor.schedule(job, env.sm as never, () => ({ start, end }));
    }
  }
}

function readMeta(ctx: KvContext): readonly [number, number] {
  const value: unknown = ctx.env.smMeta.get(ctx.group);
  if (value === undefined) return FRESH;
  const ok =
    Array.isArray(value) &&
    Number.isSafeInteger(value[0]) &&
    value[0] > 0 &&
    Number.isSafeInteger(value[1]) &&
    value[1] >= 0;
  if (!ok) throw new CorruptValueError('sm', ctx.group, undefined, 'applied-index record is malformed');
  return [value[0] as number, value[1] as number];
}

function isKey(value: unknown): value is KvKey {
  if (typeof value === 'string' || typeof value === 'number') return true;
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((p) => typeof p === 'string' || typeof p === 'number')
  );
}

function decodeSnapshot(
  data: Uint8Array,
  group: GroupId,
  index: number,
): { key: KvKey; value: Uint8Array | null }[] {
  let flat: unknown;
  try {
    flat = packr.unpack(data);
  } catch (error) {
    throw new CorruptValueError('snap', group, index, (error as Error).message);
  }
  if (!Array.isArray(flat) || flat.length % 2 !== 0) {
    throw new CorruptValueError('snap', group, index, 'state-machine image is not a list of pairs');
  }
  const pairs: { key: KvKey; value: Uint8Array }[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const key: unknown = flat[i];
    const value: unknown = flat[i + 1];
    if (!isKey(key) || !(value instanceof Uint8Array)) {
      throw new CorruptValueError('snap', group, index, 'state-machine image holds a bad pair');
    }
    pairs.push({ key, value });
  }
  return pairs;
}
