/**
 * Per-thread singletons of the Raft layer: the thread's log store (the WAL, or its handle on the node's LMDB
 * environment, which lmdb-js shares between threads) and the group-commit scheduler that processes
 * every scheduled group's Ready in one batch per turn, so the writes of all groups on a thread share one
 * transaction and one fsync.
 */
import type { GroupId, LogStorage, StableStorage } from '@flotilla/core';
import { type NodeStorage, openStorage, openWal, type WalStore } from '@flotilla/storage-lmdb';
import type { NodeConfig } from './config.ts';
import type { RaftGroup } from './raft-group.ts';

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
      : openStorage({ path: dataDir, nodeId }).then((lmdb: NodeStorage) => ({
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

/** Groups with a Ready to process; one `setImmediate` per turn processes them all (the group commit). */
class GroupCommitScheduler {
  private readonly scheduled = new Set<RaftGroup>();
  private pending = false;
  readonly counters = { turns: 0, readies: 0 };

  schedule(group: RaftGroup): void {
    this.scheduled.add(group);
    if (this.pending) return;
    this.pending = true;
    setImmediate(() => this.run());
  }

  forget(group: RaftGroup): void {
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

/**
 * Replicas whose actor lives on the main thread, by group: the node's handles call them directly (no ask, no
 * mailbox) — the same code the actor runs, minus a hop. A restarting actor leaves the map until it is back.
 * Keyed by node too: tests run several nodes in one process.
 */
export const mainThreadReplicas = new Map<string, RaftGroup>();

export function replicaKey(nodeId: number, group: GroupId): string {
  return `${nodeId}\u0000${group}`;
}
