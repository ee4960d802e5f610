/**
 * The application `bench:app` loads into its nodes: one entity type whose command does what a KV put does
 * (store one value, answer the previous), sharded over as many groups as the KV's `user` shards, so the two
 * measure the same path and the difference is the application API's cost.
 */
import { defineApp, defineEntity, z } from '@flotilla/app';

/** As many shards as the default `user` set of the KV. */
export const BENCH_SHARDS = 32;

export const Register = defineEntity({
  name: 'register',
  shards: 'register',
  initial: () => ({ value: null as string | null }),
  commands: { set: { input: z.object({ value: z.string().max(1 << 16) }), output: z.string().nullable() } },
  queries: { get: { input: z.object({}), output: z.string().nullable() } },
  handle: { set: (s, { value }) => ({ state: { value }, reply: s.value }) },
  query: { get: (s) => s.value },
});

export const app = defineApp({
  entities: [Register],
  shards: [{ prefix: 'register', count: BENCH_SHARDS, kind: Register }],
});
