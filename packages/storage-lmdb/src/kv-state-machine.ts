/**
 * A key-value state machine kept in LMDB (core's `StateMachine`): the writes of applied commands and the
 * applied index commit in one transaction, so after a crash every command is applied exactly once.
 * Writes not yet durable stay in an overlay, so reads always see the state as of `appliedIndex`.
 */
import { assert, type Command, type GroupId, type SnapshotMeta, type StateMachine } from '@flotilla/core';
import { Packr } from 'msgpackr';
import type { Env } from './env.ts';
import { CorruptValueError } from './errors.ts';
import type { Janitor } from './janitor.ts';
import { MAX_KEY_NUMBER } from './recover.ts';
import type { WriteQueue } from './write-queue.ts';

/** Keys of the state machine: strings or numbers (LMDB keys, at most ~1,900 bytes encoded). */
export type KvKey = string | number;

/** What an apply function sees: the state as of the previous command, plus its own writes. */
export interface KvView {
  get(key: KvKey): Uint8Array | undefined;
  put(key: KvKey, value: Uint8Array): void;
  delete(key: KvKey): void;
}

/** The application's deterministic transition: one command in, one result out, writes through `kv`. */
export type KvApply<Result> = (command: Command, kv: KvView) => Result;

export interface KvContext {
  readonly env: Env;
  readonly janitor: Janitor;
  readonly queue: WriteQueue;
  readonly group: GroupId;
}

interface Pending {
  readonly value: Uint8Array | null;
  readonly seq: number;
}

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });
const FRESH: readonly [number, number] = [1, 0];

export class KvStateMachine<Result = unknown> implements StateMachine<Result> {
  private readonly ctx: KvContext;
  private readonly applyFn: KvApply<Result>;
  /** Generation of the key space `[group, gen, key]`; `restore` writes a new one and drops the old. */
  private gen: number;
  private applied: number;
  private durableApplied: number;
  private seq = 0;
  private readonly overlay = new Map<KvKey, Pending>();
  private lastWrite: Promise<void> = Promise.resolve();

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

  /** Resolves when every write issued so far is durable (rejects if one failed). */
  flushed(): Promise<void> {
    return this.lastWrite;
  }

  /** Reads a key of the current state (including applied writes not yet durable). */
  get(key: KvKey): Uint8Array | undefined {
    const pending = this.overlay.get(key);
    if (pending !== undefined) return pending.value ?? undefined;
    return this.ctx.env.sm.getBinary([this.ctx.group, this.gen, key]);
  }

  apply(commands: readonly Command[]): Result[] {
    if (commands.length === 0) return [];
    const writes = new Map<KvKey, Uint8Array | null>();
    const view: KvView = {
      get: (key) => (writes.has(key) ? (writes.get(key) ?? undefined) : this.get(key)),
      put: (key, value) => void writes.set(key, value.slice()),
      delete: (key) => void writes.set(key, null),
    };
    let index = this.applied;
    const results = commands.map((command) => {
      assert(command.index > index, () => `command ${command.index} applied after ${index}`);
      index = command.index;
      return this.applyFn(command, view);
    });
    this.commit(writes, index, false);
    return results;
  }

  advanceAppliedIndex(index: number): void {
    if (index <= this.applied) return;
    this.commit(new Map(), index, false);
  }

  /** The whole state at `appliedIndex`, as msgpack pairs `[key, value, key, value, …]`. */
  snapshot(): Uint8Array {
    const { env, group } = this.ctx;
    const state = new Map<KvKey, Uint8Array>();
    for (const { key, value } of env.sm.getRange({ start: [group, this.gen], end: [group, this.gen + 1] })) {
      state.set(key[2], value);
    }
    for (const [key, pending] of this.overlay) {
      if (pending.value === null) state.delete(key);
      else state.set(key, pending.value);
    }
    const flat: unknown[] = [];
    for (const [key, value] of state) flat.push(key, value);
    return packr.pack(flat);
  }

  restore(data: Uint8Array, meta: SnapshotMeta): void {
    const pairs = decodeSnapshot(data, this.ctx.group, meta.index);
    const oldGen = this.gen;
    this.gen = oldGen + 1;
    this.overlay.clear();
    this.commit(pairs, meta.index, true).then(
      () => this.collectGeneration(oldGen),
      () => {},
    );
  }

  /** Issues the writes and the applied index together: same turn, same transaction. */
  private commit(writes: Map<KvKey, Uint8Array | null>, applied: number, fresh: boolean): Promise<void> {
    const { env, group, queue } = this.ctx;
    const seq = ++this.seq;
    const gen = this.gen;
    for (const [key, value] of writes) this.overlay.set(key, { value, seq });
    this.applied = applied;
    const write = queue.short(() => {
      for (const [key, value] of writes) {
        if (value === null) env.sm.remove([group, gen, key]);
        else env.sm.put([group, gen, key], value);
      }
      return env.smMeta.put(group, [gen, applied]);
    });
    const settled = write.then(() => {
      if (applied > this.durableApplied || fresh) this.durableApplied = applied;
      for (const key of writes.keys()) {
        if (this.overlay.get(key)?.seq === seq) this.overlay.delete(key);
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
    for (const _key of env.sm.getKeys({ start, end, limit: 1 })) {
      janitor.schedule(job, env.sm, () => ({ start, end }));
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

function decodeSnapshot(data: Uint8Array, group: GroupId, index: number): Map<KvKey, Uint8Array> {
  let flat: unknown;
  try {
    flat = packr.unpack(data);
  } catch (error) {
    throw new CorruptValueError('snap', group, index, (error as Error).message);
  }
  if (!Array.isArray(flat) || flat.length % 2 !== 0) {
    throw new CorruptValueError('snap', group, index, 'state-machine image is not a list of pairs');
  }
  const pairs = new Map<KvKey, Uint8Array>();
  for (let i = 0; i < flat.length; i += 2) {
    const key: unknown = flat[i];
    const value: unknown = flat[i + 1];
    if ((typeof key !== 'string' && typeof key !== 'number') || !(value instanceof Uint8Array)) {
      throw new CorruptValueError('snap', group, index, 'state-machine image holds a bad pair');
    }
    pairs.set(key, value);
  }
  return pairs;
}
