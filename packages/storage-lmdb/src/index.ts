/**
 * @flotilla/storage-lmdb — durable logs, hard state, snapshots and state-machine data of every Raft group of
 * one node, in one LMDB environment, with one transaction (and one fsync) per event-loop turn.
 */
export { FORMAT_VERSION } from './env.ts';
export {
  CorruptValueError,
  DataDirMismatchError,
  type DirMismatchReason,
  StorageClosedError,
  type StorageErrorCode,
} from './errors.ts';
export type { GroupStorage, SnapshotReader } from './group-storage.ts';
export type { KvApply, KvKey, KvStateMachine, KvView } from './kv-state-machine.ts';
export { type NodeStorage, openStorage } from './node-storage.ts';
export { DEFAULTS, type StorageLogger, type StorageOptions } from './options.ts';
