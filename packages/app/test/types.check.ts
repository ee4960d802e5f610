/**
 * Compile-time checks of the definition API's inference (type-checked with the tests, never run).
 */
import { type CallPort, Calls, defineEntity, defineMachine, memory, store, z } from '../src/index.ts';

export const Counter = defineMachine({
  name: 'counter',
  commands: { add: { input: z.object({ key: z.string(), by: z.number().int() }), output: z.number() } },
  queries: { get: { input: z.object({ key: z.string() }), output: z.number() } },
  state: memory(() => new Map<string, number>()),
  apply: {
    add(state, { key, by }) {
      const next = (state.get(key) ?? 0) + by;
      state.set(key, next);
      return next;
    },
  },
  query: { get: (state, { key }) => state.get(key) ?? 0 },
});

export const Notes = defineMachine({
  name: 'notes',
  commands: { put: { input: z.object({ id: z.string(), text: z.string() }), output: z.null() } },
  queries: { get: { input: z.object({ id: z.string() }), output: z.string().nullable() } },
  state: store(),
  apply: {
    put(s, { id, text }) {
      s.put(id, text);
      return null;
    },
  },
  query: { get: (s, { id }) => s.get<string>(id) ?? null },
});

export const Account = defineEntity({
  name: 'account',
  initial: () => ({ balance: 0 }),
  commands: { deposit: { input: z.object({ amount: z.number().positive() }), output: z.number() } },
  queries: { balance: { input: z.object({}), output: z.number() } },
  handle: {
    deposit: (s, { amount }) => ({ state: { balance: s.balance + amount }, reply: s.balance + amount }),
  },
  query: { balance: (s) => s.balance },
});

declare const port: CallPort;
const calls = new Calls(port);
export async function check(): Promise<void> {
  const n: number = await calls.execute(Counter, 'counter:0', 'add', { key: 'a', by: 1 });
  const g: number = await calls.query(Counter, { key: 'a' }, 'get', { key: 'a' }, { consistency: 'lease' });
  const t: string | null = await calls.query(Notes, 'notes:0', 'get', { id: 'x' });
  const b: number = await calls.entity(Account, 'acct-1').deposit({ amount: 5 });
  const c: number = await calls.entity(Account, 'acct-1').balance({}, { consistency: 'stale' });
  // @ts-expect-error: unknown command
  await calls.execute(Counter, 'counter:0', 'sub', { key: 'a', by: 1 });
  // @ts-expect-error: wrong input type
  await calls.execute(Counter, 'counter:0', 'add', { key: 'a', by: 'one' });
  // @ts-expect-error: entity has no such method
  await calls.entity(Account, 'acct-1').withdraw({ amount: 1 });
  void [n, g, t, b, c];
}
