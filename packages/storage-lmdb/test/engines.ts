/**
 * The two storage engines as the contract tests see them (how to open a directory, what counts as durable
 * work, how to wait for background work), and a fixture: a store in a fresh temporary directory that reopens.
 */
import { resolve } from 'node:path';
import { after, before } from 'node:test';
import type { GroupId, LogStorage, NodeId, SnapshotMeta, StableStorage } from '@flotilla/core';
import {
  type NodeStorage,
  openStorage,
  openWal,
  type StorageOptions,
  type WalOptions,
  type WalStore,
} from '../src/index.ts';
import { tempDir } from './helpers.ts';
import { type CountingIo, countingIo } from './wal-helpers.ts';

/** What the contract tests use of one group's storage: core's contracts and the snapshot's metadata. */
export type StoredGroup = LogStorage &
  StableStorage & { readonly group: GroupId; snapshotMeta(): SnapshotMeta };

/** What the contract tests use of a node's storage: `NodeStorage` (LMDB) and `WalStore` both are one. */
export interface Store {
  group(group: GroupId): StoredGroup;
  groupIds(): GroupId[];
  flushed(): Promise<void>;
  close(): Promise<void>;
}

/** Counters of the work behind durability (LMDB transactions; WAL writes and fdatasyncs). */
export type Costs = Readonly<Record<string, number>>;

export interface Engine<S extends Store = Store, O extends object = object> {
  readonly name: 'lmdb' | 'wal';
  /** Opens `dir` as node `nodeId` (default 1), with the engine's small test sizes unless `options` override. */
  open(dir: string, options?: O & { readonly nodeId?: NodeId }): Promise<S>;
  /** The durable work done in the store's directory since this process first opened it, across reopening. */
  costs(store: S): Costs;
  /** Resolves once background work is done (LMDB: chunked deletes; the WAL has none past its writes). */
  settled(store: S): Promise<void>;
  /**
   * Whether groupIds() lists a group that only appended entries. The WAL lists every group that logged
   * anything; LMDB lists those with a hard state, log metadata or state-machine data (as its doc says).
   */
  readonly listsGroupsWithEntriesOnly: boolean;
}

export type LmdbOptions = Omit<StorageOptions, 'path' | 'nodeId'>;
export type WalTestOptions = Omit<WalOptions, 'dir' | 'nodeId'>;

/** Small enough that the contract tests delete and store snapshots in many chunks. */
export const LMDB_TEST_OPTIONS = { deleteChunkEntries: 64, snapshotChunkBytes: 1024 } as const;

export const lmdb: Engine<NodeStorage, LmdbOptions> = {
  name: 'lmdb',
  open: (dir, options = {}) => openStorage({ path: dir, nodeId: 1, ...LMDB_TEST_OPTIONS, ...options }),
  costs: (storage) => ({ transactions: storage.lastTransactionId() }),
  settled: (storage) => storage.collected(),
  listsGroupsWithEntriesOnly: false,
};

/** One counting io per directory, so that the WAL's counters survive reopening like LMDB's transaction id. */
const ioByDir = new Map<string, CountingIo>();

function ioOf(dir: string): CountingIo {
  const key = resolve(dir);
  const known = ioByDir.get(key);
  if (known !== undefined) return known;
  const io = countingIo();
  ioByDir.set(key, io);
  return io;
}

export const wal: Engine<WalStore, WalTestOptions> = {
  name: 'wal',
  open: (dir, options = {}) => openWal({ dir, nodeId: 1, segmentBytes: 1 << 20, io: ioOf(dir), ...options }),
  costs: (store) => {
    const io = ioOf(store.dir);
    return { writes: io.writes, fdatasyncs: io.syncs };
  },
  settled: (store) => store.flushed(),
  listsGroupsWithEntriesOnly: true,
};

export const ENGINES: readonly Engine[] = [lmdb, wal];

/** A store of `engine` in a fresh temporary directory, opened before the suite's tests and removed after. */
export class Fixture<S extends Store, O extends object> {
  store!: S;
  private readonly temp: { path: string; remove(): void };

  constructor(
    private readonly engine: Engine<S, O>,
    private readonly options: O,
  ) {
    this.temp = tempDir(`${engine.name}-fixture`);
  }

  get dir(): string {
    return this.temp.path;
  }

  async open(): Promise<S> {
    this.store = await this.engine.open(this.dir, this.options);
    return this.store;
  }

  /** Closes and reopens the directory (with `options` instead of the fixture's, when given). */
  async reopen(options: O = this.options): Promise<S> {
    await this.store.close();
    this.store = await this.engine.open(this.dir, options);
    return this.store;
  }

  costs(): Costs {
    return this.engine.costs(this.store);
  }

  settled(): Promise<void> {
    return this.engine.settled(this.store);
  }

  async dispose(): Promise<void> {
    await this.store.close();
    this.temp.remove();
  }
}

/** A fixture opened in `before` and disposed of in `after` of the calling file or suite. */
export function useFixture<S extends Store, O extends object>(
  engine: Engine<S, O>,
  options = {} as O,
): Fixture<S, O> {
  const fixture = new Fixture(engine, options);
  before(() => fixture.open());
  after(() => fixture.dispose());
  return fixture;
}
