/**
 * The `kv` machine kind: string keys and values in the framework's LMDB store, each stored with the log
 * index of the write that produced it. Commands: put, delete, compare-and-set; query: get.
 */
import { defineMachine, store, z } from '@flotilla/app';

/** Keys: 1–1024 characters, not starting with `\u0000` (reserved for the framework's own keys). */
const KEY = z
  .string()
  .min(1)
  .max(1024)
  .refine((key) => key.charCodeAt(0) !== 0, 'must not start with \\u0000');
/** Values: up to 1 MiB of text. */
const VALUE = z.string().max(1 << 20);

const WRITE = z.object({ previous: z.string().nullable(), index: z.number().int() });
const CAS = z.union([
  z.object({ ok: z.literal(true), previous: z.string().nullable(), index: z.number().int() }),
  z.object({ ok: z.literal(false), current: z.string().nullable() }),
]);
const READ = z.object({ value: z.string().nullable(), index: z.number().int() });

export type KvWriteResult = z.output<typeof WRITE>;
export type KvCasResult = z.output<typeof CAS>;
export type KvReadResult = z.output<typeof READ>;

/** A stored entry: the value and the index of the command that wrote it. */
type Stored = readonly [value: string, index: number];

export const KvMachine = defineMachine({
  name: 'kv',
  commands: {
    put: { input: z.object({ key: KEY, value: VALUE }), output: WRITE },
    delete: { input: z.object({ key: KEY }), output: WRITE },
    cas: { input: z.object({ key: KEY, expected: VALUE.nullable(), value: VALUE }), output: CAS },
  },
  queries: {
    get: { input: z.object({ key: KEY }), output: READ },
  },
  state: store(),
  apply: {
    put(kv, { key, value }, ctx) {
      const previous = kv.get<Stored>(key)?.[0] ?? null;
      kv.put(key, [value, ctx.index]);
      return { previous, index: ctx.index };
    },
    delete(kv, { key }, ctx) {
      const previous = kv.get<Stored>(key)?.[0] ?? null;
      if (previous !== null) kv.delete(key);
      return { previous, index: ctx.index };
    },
    cas(kv, { key, expected, value }, ctx) {
      const current = kv.get<Stored>(key)?.[0] ?? null;
      if (current !== expected) return { ok: false as const, current };
      kv.put(key, [value, ctx.index]);
      return { ok: true as const, previous: current, index: ctx.index };
    },
  },
  query: {
    get(kv, { key }) {
      const stored = kv.get<Stored>(key);
      return { value: stored?.[0] ?? null, index: stored?.[1] ?? 0 };
    },
  },
});
