/**
 * @flotilla/storage-lmdb — durable logs, hard state, snapshots and state-machine data of every Raft group of
 * one node: in one LMDB environment (one transaction per event-loop turn), or in a single-fsync write-ahead
 * log (`openWal`: one write and one fdatasync per event-loop turn).
 */
export { FORMAT_VERSION } from './env.ts';
export {
  CorruptValueError,
  DataDirMismatchError,
  type DirMismatchReason,
  StorageClosedError,
  type StorageErrorCode,
  WalCorruptError,
  WalFailedError,
  WalOverloadedError,
} from './errors.ts';
export type { GroupStorage, SnapshotReader } from './group-storage.ts';
export {
  compareKvKeys,
  inRange,
  type KvApply,
  type KvKey,
  type KvRange,
  type KvStateMachine,
  type KvView,
  keyId,
  overlay as overlayRange,
  unlimited,
} from './kv-state-machine.ts';
export { type NodeStorage, openStorage } from './node-storage.ts';
export { DEFAULTS, type StorageLogger, type StorageOptions } from './options.ts';
export { type PendingWrite, SortedWrites } from './sorted-writes.ts';
export { crc32c } from './wal/crc32c.ts';
export type { WalFileIo } from './wal/file-io.ts';
export { WalGroupStorage } from './wal/group-storage.ts';
export { WAL_FORMAT_VERSION } from './wal/meta.ts';
export { WAL_DEFAULTS, type WalOptions } from './wal/options.ts';
export { openWal, WalStore } from './wal/store.ts';
export type { WalStats } from './wal/writer.ts';
