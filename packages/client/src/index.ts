/**
 * @flotilla/client — talk to a Flotilla cluster (or a standalone node) from any Node.js process: typed calls
 * from an application's definitions, entity refs, the KV facade, and admin calls. It depends on the wire
 * protocol only (@flotilla/app, core, ws): no LMDB, no piscina, no prom-client.
 */
export * from '@flotilla/app';
export {
  Kv,
  type KvCasResult,
  type KvChange,
  KvMachine,
  type KvReadResult,
  type KvWriteResult,
} from '@flotilla/kv';
export { type ClientOptions, FlotillaClient } from './client.ts';
export { Watch, type WatchHandlers, type WatchOptions, type WatchPort } from './watch.ts';
