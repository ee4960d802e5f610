/**
 * What the application tests do against a cluster and against a standalone node alike: the same calls of the
 * test app (fixtures/app.ts) through the client, and the typed errors of bad input.
 */
import assert from 'node:assert/strict';
import {
  ApplicationError,
  defineEntity,
  defineMachine,
  type FlotillaClient,
  memory,
  SchemaError,
  UnknownEntityError,
  UnknownGroupError,
  WrongKindError,
  z,
} from '@flotilla/client';
import { Account, Counter } from './fixtures/app.ts';

/** Kinds no node registers. */
const Unregistered = defineMachine({
  name: 'unregistered',
  commands: { add: { input: z.object({ key: z.string(), by: z.number() }), output: z.number() } },
  queries: {},
  state: memory(() => 0),
  apply: { add: () => 0 },
  query: {},
});
const Ghost = defineEntity({
  name: 'ghost',
  initial: () => ({}),
  commands: { boo: { input: z.object({}), output: z.null() } },
  queries: {},
  handle: { boo: () => ({ reply: null }) },
  query: {},
});

/** The test app's machine and entity through typed calls: results, consistencies, typed errors. */
export async function exerciseApp(client: FlotillaClient): Promise<void> {
  assert.equal(await client.execute(Counter, 'counter:0', 'add', { key: 'a', by: 2 }), 2);
  assert.equal(await client.execute(Counter, 'counter:0', 'add', { key: 'a', by: 3 }), 5);
  for (const consistency of ['linearizable', 'lease', 'stale'] as const) {
    const read = await client.query(Counter, 'counter:0', 'get', { key: 'a' }, { consistency });
    assert.ok(consistency === 'stale' ? read <= 5 : read === 5, `${consistency} read ${read}`);
  }

  const alice = client.entity(Account, 'alice');
  assert.equal(await alice.deposit({ amount: 100 }), 100);
  assert.equal(await alice.withdraw({ amount: 30 }), 70);
  assert.deepEqual(await alice.balance({}), { balance: 70, operations: 2 });
  assert.deepEqual(await client.entity(Account, 'bob').balance({}, { consistency: 'lease' }), {
    balance: 0,
    operations: 0,
  });

  // A refusal of the machine: typed, with its reason and details, and nothing changed.
  await assert.rejects(alice.withdraw({ amount: 1_000 }), (error: unknown) => {
    assert.ok(error instanceof ApplicationError, String(error));
    assert.equal(error.reason, 'insufficient-funds');
    assert.deepEqual(error.details, { balance: 70 });
    return true;
  });
  // Input failing its schema: the error names the field; nothing is proposed.
  await assert.rejects(alice.deposit({ amount: -5 }), (error: unknown) => {
    assert.ok(error instanceof SchemaError, String(error));
    assert.equal(error.path, 'amount');
    assert.match(error.message, /account\.deposit: field amount/);
    return true;
  });
  await assert.rejects(
    client.execute(Counter, 'counter:0', 'add', { key: '', by: 1 }),
    (e: unknown) => e instanceof SchemaError && e.path === 'key',
  );
  assert.deepEqual(await alice.balance({}), { balance: 70, operations: 2 });

  // An apply that throws: a typed error for this caller, and the replica goes on.
  await assert.rejects(client.execute(Counter, 'counter:0', 'explode', {}), (error: unknown) => {
    assert.ok(error instanceof ApplicationError, String(error));
    assert.equal(error.reason, 'apply-threw');
    assert.match(error.message, /explode was called/);
    return true;
  });
  assert.equal(await client.execute(Counter, 'counter:0', 'add', { key: 'a', by: 1 }), 6);

  // Unknown kinds, entity types and groups, and a group of another kind: typed errors naming them.
  await assert.rejects(
    client.execute(Unregistered, 'counter:0', 'add', { key: 'a', by: 1 }),
    (e: unknown) => {
      assert.ok(e instanceof WrongKindError, String(e));
      assert.equal(e.actual, 'counter');
      assert.equal(e.expected, 'unregistered');
      return true;
    },
  );
  await assert.rejects(client.execute(Counter, 'nowhere:0', 'add', { key: 'a', by: 1 }), UnknownGroupError);
  await assert.rejects(
    client.entity(Ghost, 'x').boo({}),
    (e: unknown) => e instanceof UnknownEntityError && e.entity === 'ghost',
  );
}
