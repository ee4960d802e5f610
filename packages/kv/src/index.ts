/**
 * @flotilla/kv — a linearizable key-value store, built as an application of Flotilla's public API: one
 * machine kind (`kv`, state in the LMDB store so it may outgrow memory) and a small typed facade over `Calls`.
 * The node registers it like any application's machine; the same engine serves cluster and standalone mode.
 */
export { Kv, type KvOptions } from './kv.ts';
export {
  type KvCasResult,
  type KvChange,
  KvMachine,
  type KvReadResult,
  type KvWriteResult,
  MemoryKvMachine,
} from './machine.ts';
