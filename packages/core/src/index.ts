/**
 * @flotilla/core — the pure consensus core: Raft nodes, messages, storage and transport contracts, codec.
 * It does no I/O and reads no clock: time enters through `tick()`, randomness through a seeded PRNG.
 */
export { AssertionError, assert } from './assert.ts';
export { bootstrapEntries, bootstrapStorage, isStorageEmpty } from './bootstrap.ts';
export {
  decodeConfChange,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshotMeta,
  encodeConfChange,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshotMeta,
  entriesDataBytes,
} from './codec.ts';
export type { RaftConfig } from './config.ts';
export * from './errors.ts';
export { MemoryLogStorage, MemoryStableStorage } from './memory-storage.ts';
export { MemoryNetwork, type MemoryNetworkOptions, MemoryTransport } from './memory-transport.ts';
export type * from './messages.ts';
export { assertNever } from './messages.ts';
export { type Random, seededFloats, Xoshiro128 } from './prng.ts';
export type { ProgressState } from './progress.ts';
export { type FollowerStatus, type ProposeResult, RaftNode, type Status } from './raft-node.ts';
export type { Ready } from './ready.ts';
export { parseShardGroupId, ShardRouter, shardGroupId, stableHash32 } from './shard-router.ts';
export type { Command, StateMachine } from './state-machine.ts';
export type { LogStorage, StableStorage } from './storage.ts';
export { NODE_CHANNELS, type NodeChannel, type Transport, type TransportHandler } from './transport.ts';
export * from './types.ts';
