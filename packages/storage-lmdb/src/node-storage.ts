/**
 * The storage of one node: its LMDB environment (one per data directory per process, shared by every caller
 * that opens the same directory) and the `GroupStorage` of each of its groups, recovered on first use.
 */
import { resolve } from 'node:path';
import { type GroupId, InvalidConfigError } from '@flotilla/core';
import { type Env, openEnv } from './env.ts';
import { DataDirMismatchError, StorageClosedError } from './errors.ts';
import { type GroupContext, GroupStorage } from './group-storage.ts';
import { Janitor } from './janitor.ts';
import { type KvApply, KvStateMachine } from './kv-state-machine.ts';
import { type ResolvedOptions, resolveOptions, type StorageOptions } from './options.ts';
import { StateCommitter } from './state-committer.ts';

interface Shared {
  readonly nodeId: number;
  readonly opening: Promise<NodeStorage>;
  refs: number;
}

/** Open environments of this thread, by absolute path. lmdb-js itself shares them across threads. */
const openByPath = new Map<string, Shared>();

/**
 * Opens the node's data directory (creating it when missing). Opening the same directory again in this
 * thread returns the same instance; each `openStorage` must be matched by one `close()`.
 * Fails with `DataDirMismatchError` when the directory holds another format version or another node.
 */
export async function openStorage(options: StorageOptions): Promise<NodeStorage> {
  const resolved = resolveOptions(options);
  const path = resolve(resolved.path);
  const shared = openByPath.get(path);
  if (shared !== undefined) {
    if (shared.nodeId !== resolved.nodeId) {
      throw new DataDirMismatchError(path, 'node-id', resolved.nodeId, shared.nodeId);
    }
    shared.refs++;
    return shared.opening;
  }
  const opening = openEnv(path, resolved.nodeId).then((env) => new NodeStorage(env, { ...resolved, path }));
  openByPath.set(path, { nodeId: resolved.nodeId, opening, refs: 1 });
  opening.catch(() => openByPath.delete(path));
  return opening;
}

export class NodeStorage {
  readonly path: string;
  readonly nodeId: number;
  private readonly ctx: GroupContext;
  private readonly groups = new Map<GroupId, GroupStorage>();
  private readonly machines = new Map<GroupId, KvStateMachine<unknown>>();
  private readonly committer: StateCommitter | undefined;
  private closed = false;

  /** Use `openStorage`. */
  constructor(env: Env, options: ResolvedOptions) {
    this.path = options.path;
    this.nodeId = options.nodeId;
    this.ctx = { env, options, janitor: new Janitor(options.deleteChunkEntries, options.logger) };
    this.committer =
      options.stateCommitIntervalMs > 0 ? new StateCommitter(options.stateCommitIntervalMs) : undefined;
  }

  /**
   * The storage of `group`, recovered from disk on first use (a few key lookups, no scan). A group must be
   * used from one thread only. Throws `CorruptValueError` when its metadata cannot be decoded; other groups
   * are unaffected.
   */
  group(group: GroupId): GroupStorage {
    this.assertOpen();
    let storage = this.groups.get(group);
    if (storage === undefined) {
      if (typeof group !== 'string' || group.length === 0) {
        throw new InvalidConfigError('group', 'must be a non-empty string');
      }
      storage = new GroupStorage(this.ctx, group);
      this.groups.set(group, storage);
    }
    return storage;
  }

  /**
   * The key-value state machine of `group`, its writes ordered with the group's log writes. One per group:
   * asking again returns the same machine (the `apply` given first is kept).
   */
  kvStateMachine<Result>(group: GroupId, apply: KvApply<Result>): KvStateMachine<Result> {
    const storage = this.group(group);
    let machine = this.machines.get(group) as KvStateMachine<Result> | undefined;
    if (machine === undefined) {
      const { env, janitor } = this.ctx;
      machine = new KvStateMachine<Result>(
        { env, janitor, queue: storage.queue, group, committer: this.committer },
        apply,
      );
      this.machines.set(group, machine as KvStateMachine<unknown>);
    }
    return machine;
  }

  /**
   * Forgets `group`'s key-value state machine once its writes are durable (or failed), so that a replica
   * restarted on this thread opens a fresh one that reads the state back from disk.
   */
  async releaseKvStateMachine(group: GroupId): Promise<void> {
    const machine = this.machines.get(group);
    if (machine === undefined) return;
    this.machines.delete(group);
    await machine.flushed().catch(() => {});
  }

  /** Groups that have stored anything: hard state, log metadata or state-machine data. */
  groupIds(): GroupId[] {
    this.assertOpen();
    const { env } = this.ctx;
    const ids = new Set<GroupId>();
    for (const key of env.hard.getKeys({})) ids.add(key);
    for (const key of env.group.getKeys({})) ids.add(key);
    for (const key of env.smMeta.getKeys({})) ids.add(key);
    return [...ids].sort();
  }

  /** Id of the last committed LMDB transaction (diagnostics: one per event-loop turn that wrote). */
  lastTransactionId(): number {
    return (this.ctx.env.root.getStats() as { lastTxnId: number }).lastTxnId;
  }

  /** Resolves once every write issued so far, by any group, is durable. */
  async flushed(): Promise<void> {
    await this.ctx.env.root.flushed;
  }

  /** Resolves when background garbage collection has nothing left to do. */
  collected(): Promise<void> {
    return this.ctx.janitor.idle();
  }

  /** Releases this handle; the last one stops garbage collection, waits for writes and closes LMDB. */
  async close(): Promise<void> {
    const shared = openByPath.get(this.path);
    if (this.closed || shared === undefined) return;
    shared.refs--;
    if (shared.refs > 0) return;
    this.closed = true;
    openByPath.delete(this.path);
    this.committer?.commitAll();
    await this.ctx.janitor.stop();
    await this.ctx.env.root.flushed;
    await this.ctx.env.root.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageClosedError(this.path, this.nodeId);
  }
}
