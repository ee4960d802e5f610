/**
 * The WAL storage of one node: one data directory, one write-ahead log shared by every Raft group of the
 * process (so one fdatasync per event-loop turn covers them all), and each group's `WalGroupStorage`.
 */
import { join, resolve } from 'node:path';
import { type GroupId, InvalidConfigError } from '@flotilla/core';
import { DataDirMismatchError, StorageClosedError } from '../errors.ts';
import { GroupLog } from './group-log.ts';
import { WalGroupStorage } from './group-storage.ts';
import { checkMeta } from './meta.ts';
import type { SnapshotRef } from './ops.ts';
import {
  GROUP_ID_BYTES_MAX,
  type ResolvedWalOptions,
  resolveWalOptions,
  type WalOptions,
} from './options.ts';
import { recoverWal } from './recovery.ts';
import { WAL_DIR } from './segment-files.ts';
import { checkSnapshotFiles, SNAP_DIR, SnapshotFiles } from './snapshot-files.ts';
import { type WalStats, WalWriter } from './writer.ts';

interface Shared {
  readonly nodeId: number;
  readonly opening: Promise<WalStore>;
  refs: number;
}

/** Open stores of this thread, by absolute path. */
const openByPath = new Map<string, Shared>();

/**
 * Opens the node's WAL directory, recovering every group's log, hard state and snapshot pointer. Opening
 * the same directory again in this thread returns the same instance; each `openWal` needs one `close()`.
 * Only one thread of one process may open a directory at a time (nothing enforces it: two writers would
 * interleave their batches). Fails with `DataDirMismatchError` for another node's or another version's
 * directory, and `WalCorruptError` for a corrupt log (a torn tail is cut off, not an error).
 *
 * Memory: every group's live log (the entries after its compaction marker) is kept in memory, and every
 * rotation checkpoints it; both are bounded only by the application compacting its logs (the node snapshots
 * and compacts every `snapshotEntries` entries). Keep the live logs of all groups well under `segmentBytes`.
 */
export async function openWal(options: WalOptions): Promise<WalStore> {
  const resolved = resolveWalOptions(options);
  const dir = resolve(resolved.dir);
  const shared = openByPath.get(dir);
  if (shared !== undefined) {
    if (shared.nodeId !== resolved.nodeId) {
      throw new DataDirMismatchError(dir, 'node-id', resolved.nodeId, shared.nodeId);
    }
    shared.refs++;
    return shared.opening;
  }
  const opening = WalStore.open({ ...resolved, dir });
  openByPath.set(dir, { nodeId: resolved.nodeId, opening, refs: 1 });
  opening.catch(() => openByPath.delete(dir));
  return opening;
}

interface GroupEntry {
  readonly key: Buffer;
  readonly log: GroupLog;
  storage: WalGroupStorage | undefined;
}

export class WalStore {
  readonly dir: string;
  readonly nodeId: number;
  private readonly groups = new Map<GroupId, GroupEntry>();
  private readonly options: ResolvedWalOptions;
  private writer!: WalWriter;
  private snapshots!: SnapshotFiles;
  private closed = false;

  private constructor(options: ResolvedWalOptions) {
    this.options = options;
    this.dir = options.dir;
    this.nodeId = options.nodeId;
  }

  /** Use `openWal`. */
  static async open(options: ResolvedWalOptions): Promise<WalStore> {
    await checkMeta(options.dir, options.nodeId);
    const store = new WalStore(options);
    const recovered = await recoverWal(options.dir, options);
    const refs = new Map<GroupId, SnapshotRef>();
    for (const [group, log] of recovered.logs) {
      store.groups.set(group, { key: Buffer.from(group, 'utf8'), log, storage: undefined });
      if (log.snap !== undefined) refs.set(group, log.snap);
    }
    const snapDir = join(options.dir, SNAP_DIR);
    const lastFileSeq = await checkSnapshotFiles(snapDir, refs, options.logger);
    store.snapshots = new SnapshotFiles(snapDir, options.logger, lastFileSeq);
    store.writer = await WalWriter.open(options, join(options.dir, WAL_DIR), recovered.segment, () =>
      store.loggedStates(),
    );
    return store;
  }

  /** The storage of `group` (created empty when it never wrote). A group must be used from one thread. */
  group(group: GroupId): WalGroupStorage {
    this.assertOpen();
    let entry = this.groups.get(group);
    if (entry === undefined) {
      const key = typeof group === 'string' ? Buffer.from(group, 'utf8') : Buffer.alloc(0);
      if (key.length === 0 || key.length > GROUP_ID_BYTES_MAX) {
        throw new InvalidConfigError('group', `must be a string of 1..${GROUP_ID_BYTES_MAX} UTF-8 bytes`);
      }
      entry = { key, log: new GroupLog(), storage: undefined };
      this.groups.set(group, entry);
    }
    if (entry.storage === undefined) {
      const ctx = {
        writer: this.writer,
        snapshots: this.snapshots,
        heldWritesMax: this.options.heldWritesMax,
      };
      entry.storage = new WalGroupStorage(ctx, group, entry.key, entry.log);
    }
    return entry.storage;
  }

  /** Groups that have logged anything (entries, hard state, marker or snapshot), sorted. */
  groupIds(): GroupId[] {
    const ids: GroupId[] = [];
    for (const [group, entry] of this.groups) if (!entry.log.isEmpty()) ids.push(group);
    return ids.sort();
  }

  stats(): WalStats {
    return this.writer.stats();
  }

  /** Resolves once every write issued so far, by any group, is durable. */
  async flushed(): Promise<void> {
    await Promise.all([...this.groups.values()].map((g) => g.storage?.flushed()));
    await this.writer.barrier();
  }

  /** Releases this handle; the last one waits for every issued write and closes the files. */
  async close(): Promise<void> {
    const shared = openByPath.get(this.dir);
    if (this.closed || shared === undefined) return;
    shared.refs--;
    if (shared.refs > 0) return;
    this.closed = true;
    openByPath.delete(this.dir);
    await this.flushed().catch(() => {});
    await this.writer.close();
    await this.snapshots.idle();
  }

  private *loggedStates(): Iterable<readonly [Buffer, GroupLog]> {
    for (const entry of this.groups.values()) yield [entry.key, entry.log];
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageClosedError(this.dir, this.nodeId);
  }
}
