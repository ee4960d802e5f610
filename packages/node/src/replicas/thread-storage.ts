/**
 * Per-thread singletons of the Raft layer: the thread's log store (the WAL, or its handle on the node's LMDB
 * environment, which lmdb-js shares between threads), the thread's handle on the LMDB environment that keeps
 * store machines' state, and the group-commit scheduler that processes every scheduled replica's Ready in
 * one batch per turn, so the writes of all groups on a thread share one transaction and one fsync.
 */
import type { GroupId, LogStorage, StableStorage } from '@flotilla/core';
import { type NodeStorage, openStorage, openWal, type WalStore } from '@flotilla/storage-lmdb';
import type { NodeConfig } from '../operations/config.ts';
import type { Replica } from './replica.ts';

/** The per-group log storage of a node, whichever engine keeps it. */
export interface LogStore {
  group(id: GroupId): LogStorage & StableStorage;
  close(): Promise<void>;
}

const logStores = new Map<string, { store: Promise<LogStore>; refs: number }>();

/**
 * The log store of `dataDir` on this thread (opened once, reference counted; match each call with
 * `releaseLogStore`): the WAL or the LMDB environment, per `[storage] log`.
 */
export function threadLogStore(
  dataDir: string,
  nodeId: number,
  settings: NodeConfig['storage'],
  stateCommitIntervalMs = 0,
): Promise<LogStore> {
  const known = logStores.get(dataDir);
  if (known) {
    known.refs++;
    return known.store;
  }
  const store: Promise<LogStore> =
    settings.log === 'wal'
      ? openWal({
          dir: dataDir,
          nodeId,
          syncMethod: settings.walSync,
          // The group commit already issues a whole turn's writes from one callback (see below).
          batchBoundary: 'microtask',
        }).then((wal: WalStore) => ({
          group: (id) => wal.group(id),
          close: () => wal.close(),
        }))
      : openStorage({ path: dataDir, nodeId, stateCommitIntervalMs }).then((lmdb: NodeStorage) => ({
          group: (id) => lmdb.group(id),
          close: () => lmdb.close(),
        }));
  logStores.set(dataDir, { store, refs: 1 });
  store.catch(() => logStores.delete(dataDir));
  return store;
}

export async function releaseLogStore(dataDir: string): Promise<void> {
  const known = logStores.get(dataDir);
  if (!known || --known.refs > 0) return;
  logStores.delete(dataDir);
  await (await known.store).close();
}

/**
 * The LMDB environment of `dataDir` on this thread, where store machines keep their state (shared with the
 * log store when `[storage] log = 'lmdb'`). Reference counted: match each call with `releaseStateStore`.
 */
export function threadStateStore(
  dataDir: string,
  nodeId: number,
  stateCommitIntervalMs: number,
): Promise<NodeStorage> {
  return openStorage({ path: dataDir, nodeId, stateCommitIntervalMs });
}

export async function releaseStateStore(store: NodeStorage): Promise<void> {
  await store.close();
}

/** Replicas with a Ready to process; one `setImmediate` per turn processes them all (the group commit). */
class GroupCommitScheduler {
  private readonly scheduled = new Set<Replica>();
  private pending = false;
  readonly counters = { turns: 0, readies: 0 };

  schedule(group: Replica): void {
    this.scheduled.add(group);
    if (this.pending) return;
    this.pending = true;
    setImmediate(() => this.run());
  }

  forget(group: Replica): void {
    this.scheduled.delete(group);
  }

  private run(): void {
    this.pending = false;
    const batch = [...this.scheduled];
    this.scheduled.clear();
    this.counters.turns++;
    for (const group of batch) {
      this.counters.readies++;
      group.processReady();
    }
  }
}

export const groupCommit = new GroupCommitScheduler();
