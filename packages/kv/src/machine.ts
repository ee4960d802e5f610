/**
 * The `kv` machine kind: string keys and values in the framework's LMDB store, each stored with the log
 * index of the write that produced it. Commands: put, delete, compare-and-set; query: get. Watchable: every
 * change emits `{ value }` or `{ deleted: true }` under its key (a watch takes a key or a prefix).
 */
import { type ApplyContext, defineMachine, type MachineStore, memory, store, z } from '@flotilla/app';

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

/** Where the entries live: the framework's LMDB store, or a Map in memory. */
interface Entries {
  get(key: string): Stored | undefined;
  set(key: string, stored: Stored): void;
  delete(key: string): void;
}

const commands = {
  put: { input: z.object({ key: KEY, value: VALUE }), output: WRITE },
  delete: { input: z.object({ key: KEY }), output: WRITE },
  cas: { input: z.object({ key: KEY, expected: VALUE.nullable(), value: VALUE }), output: CAS },
};
const queries = { get: { input: z.object({ key: KEY }), output: READ } };

/** What a watcher of a key sees for each change of it. */
export type KvChange = { readonly value: string } | { readonly deleted: true };

/** The commands, over either kind of entries: one definition of what the KV does. */
const kv = {
  put(entries: Entries, { key, value }: { key: string; value: string }, ctx: ApplyContext): KvWriteResult {
    const previous = entries.get(key)?.[0] ?? null;
    entries.set(key, [value, ctx.index]);
    ctx.emit(key, { value } satisfies KvChange);
    return { previous, index: ctx.index };
  },
  delete(entries: Entries, { key }: { key: string }, ctx: ApplyContext): KvWriteResult {
    const previous = entries.get(key)?.[0] ?? null;
    if (previous !== null) {
      entries.delete(key);
      ctx.emit(key, { deleted: true } satisfies KvChange);
    }
    return { previous, index: ctx.index };
  },
  cas(
    entries: Entries,
    { key, expected, value }: { key: string; expected: string | null; value: string },
    ctx: ApplyContext,
  ): KvCasResult {
    const current = entries.get(key)?.[0] ?? null;
    if (current !== expected) return { ok: false, current };
    entries.set(key, [value, ctx.index]);
    ctx.emit(key, { value } satisfies KvChange);
    return { ok: true, previous: current, index: ctx.index };
  },
  get(entries: Entries, { key }: { key: string }): KvReadResult {
    const stored = entries.get(key);
    return { value: stored?.[0] ?? null, index: stored?.[1] ?? 0 };
  },
};

function storeEntries(store: MachineStore): Entries {
  return {
    get: (key) => store.get<Stored>(key),
    set: (key, stored) => store.put(key, stored),
    delete: (key) => store.delete(key),
  };
}

/** The KV with its entries in the framework's LMDB store: it may outgrow memory (the default). */
export const KvMachine = defineMachine({
  name: 'kv',
  commands,
  queries,
  state: store(),
  apply: {
    put: (s, input, ctx) => kv.put(storeEntries(s), input, ctx),
    delete: (s, input, ctx) => kv.delete(storeEntries(s), input, ctx),
    cas: (s, input, ctx) => kv.cas(storeEntries(s), input, ctx),
  },
  query: { get: (s, input) => kv.get(storeEntries(s), input) },
});

/**
 * The same KV with its entries in memory (snapshots and the log make it durable): bounded by memory, and
 * cheaper per command (no LMDB read or write on every replica). `[machines] kv_state = "memory"`.
 */
export const MemoryKvMachine = defineMachine({
  name: 'kv',
  commands,
  queries,
  state: memory(() => new Map<string, Stored>()),
  apply: {
    put: (s, input, ctx) => kv.put(s, input, ctx),
    delete: (s, input, ctx) => kv.delete(s, input, ctx),
    cas: (s, input, ctx) => kv.cas(s, input, ctx),
  },
  query: { get: (s, input) => kv.get(s, input) },
});
