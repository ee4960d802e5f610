/**
 * The application API's pure parts: definitions checked at once, calls validated and encoded, sessions with
 * their acknowledgement watermark, the wire error registry, and the client protocol's refusals by id.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import {
  type CallPort,
  Calls,
  type CommandRequest,
  checkCall,
  decodeRequests,
  defineApp,
  defineEntity,
  defineMachine,
  encodeRequests,
  fromWireError,
  InvalidConfigError,
  InvalidNodeError,
  memory,
  mergeApps,
  NotLeaderError,
  SchemaError,
  toWireError,
  UnknownOperationError,
  z,
} from '../src/index.ts';

const Counter = defineMachine({
  name: 'counter',
  commands: {
    add: { input: z.object({ key: z.string().min(1), by: z.number().int() }), output: z.number() },
  },
  queries: { get: { input: z.object({ key: z.string() }), output: z.number() } },
  state: memory(() => new Map<string, number>()),
  apply: { add: () => 0 },
  query: { get: () => 0 },
});

test('a definition is checked when it is made: names, schemas, a handler for each operation', () => {
  const base = {
    commands: { add: { input: z.object({}), output: z.number() } },
    queries: {},
    state: memory(() => 0),
    apply: { add: () => 0 },
    query: {},
  };
  assert.throws(() => defineMachine({ ...base, name: 'Bad Name' }), InvalidConfigError);
  assert.throws(
    () => defineMachine({ ...base, name: 'ok', apply: {} as never }),
    /counter|ok\.commands\.add/,
  );
  assert.throws(() =>
    defineMachine({ ...base, name: 'ok', apply: { add: () => 0, extra: () => 0 } as never }),
  );
  assert.throws(
    () =>
      defineEntity({
        name: 'account',
        initial: () => ({}),
        commands: { id: { input: z.object({}), output: z.null() } },
        queries: {},
        handle: { id: () => ({ reply: null }) },
        query: {},
      }),
    /reserved/,
  );
});

test('dashboard tabs are checked (the error names the field), duplicates refused, carried by mergeApps', () => {
  const tab = { id: 'counter', title: 'Counter', script: 'root.append("hi")' };
  assert.deepEqual(defineApp({ dashboard: [tab] }).dashboard, [tab]);
  assert.deepEqual(defineApp({}).dashboard, []);
  const refused = (dashboard: unknown, key: string) =>
    assert.throws(
      () => defineApp({ dashboard: dashboard as never }),
      (e: unknown) => e instanceof InvalidConfigError && e.key === key,
      key,
    );
  refused([{ ...tab, id: 'has space' }], 'dashboard.0.id');
  refused([{ ...tab, id: '' }], 'dashboard.0.id');
  refused([{ ...tab, id: 'x'.repeat(33) }], 'dashboard.0.id');
  refused([tab, { ...tab, id: 7 }], 'dashboard.1.id');
  refused([{ ...tab, title: ' ' }], 'dashboard.counter.title');
  refused([{ ...tab, script: undefined }], 'dashboard.counter.script');
  refused([tab, { ...tab, title: 'Again' }], 'dashboard.counter.id');
  const other = { id: 'other', title: 'Other', script: '' };
  const merged = mergeApps(defineApp({ dashboard: [tab] }), defineApp({ dashboard: [other] }));
  assert.deepEqual(
    merged.dashboard.map((t) => t.id),
    ['counter', 'other'],
  );
  assert.throws(
    () => mergeApps(defineApp({ dashboard: [tab] }), defineApp({ dashboard: [tab] })),
    (e: unknown) => e instanceof InvalidConfigError && e.key === 'dashboard.counter.id',
  );
});

test('a call is validated against its schema: the error names the field; unknown operations are typed', () => {
  assert.throws(
    () => checkCall(Counter, 'command', encodeCallBytes(['add', { key: '', by: 1 }])),
    (e: unknown) => e instanceof SchemaError && e.path === 'key' && /counter\.add: field key/.test(e.message),
  );
  assert.throws(
    () => checkCall(Counter, 'command', encodeCallBytes(['add', { key: 'a', by: 1.5 }])),
    (e: unknown) => e instanceof SchemaError && e.path === 'by',
  );
  assert.throws(
    () => checkCall(Counter, 'command', encodeCallBytes(['sub', {}])),
    (e: unknown) => e instanceof UnknownOperationError && e.operation === 'sub',
  );
  assert.throws(() => checkCall(Counter, 'command', Uint8Array.of(0xc1)), { code: 'FLOTILLA_PROTOCOL' });
  assert.equal(checkCall(Counter, 'command', encodeCallBytes(['add', { key: 'a', by: 2 }])).name, 'add');
});

function encodeCallBytes(call: unknown): Uint8Array {
  return new Packr({ useRecords: false }).pack(call);
}

test('sessions: every command carries the lowest sequence still waiting for its answer', async () => {
  const sent: CommandRequest[] = [];
  const answers = new Map<number, () => void>();
  const port: CallPort = {
    command(request) {
      sent.push(request);
      return new Promise((resolve) => answers.set(request.session!.sequence, () => resolve(0)));
    },
    query: () => Promise.resolve(0),
  };
  const calls = new Calls(port, { clientId: 'c' });
  const run = () => calls.execute(Counter, 'counter:0', 'add', { key: 'a', by: 1 });
  const first = run();
  const second = run();
  const third = run();
  assert.deepEqual(
    sent.map((r) => [r.session!.sequence, r.session!.ackedBelow]),
    [
      [1, 1],
      [2, 1],
      [3, 1],
    ],
  );
  answers.get(2)!(); // answers arrive out of order: 1 still holds the watermark
  await second;
  void run();
  answers.get(1)!();
  await first;
  void run();
  answers.get(3)!();
  await third;
  void run();
  assert.deepEqual(
    sent.slice(3).map((r) => r.session!.ackedBelow),
    [1, 3, 4],
    'the watermark moves past answered calls only',
  );
  const fenced = calls.fenced({ group: 'counter:0', term: 7 });
  void fenced.execute(Counter, 'counter:0', 'add', { key: 'a', by: 1 });
  assert.equal(sent.at(-1)!.session!.sequence, 7, 'a fenced view shares the session');
  assert.deepEqual(sent.at(-1)!.fence, { group: 'counter:0', term: 7 });
  await assert.rejects(calls.execute(Counter, 'counter:0', 'add', { key: '', by: 1 }), SchemaError);
});

test('errors cross the wire as their own class, with their fields and their message (not wrapped again)', () => {
  for (const error of [
    new NotLeaderError('user:3', 2),
    new InvalidNodeError(7, 'self-removal', 'a node cannot remove itself'),
    new SchemaError('account', 'deposit', 'amount', 'too small'),
  ]) {
    const back = fromWireError(toWireError(error));
    assert.equal(back.constructor, error.constructor);
    assert.equal(back.message, error.message);
    assert.deepEqual({ ...back }, { ...error });
  }
  assert.equal(
    fromWireError({ code: 'FLOTILLA_SOMETHING_NEW', message: 'm' }).code,
    'FLOTILLA_SOMETHING_NEW',
  );
  assert.equal(toWireError(new TypeError('boom')).code, 'FLOTILLA_INTERNAL');
});

test('the client protocol answers a bad request by id and keeps the connection; a bad frame is refused whole', () => {
  const frame = encodeRequests([
    { id: 1, op: 'status', args: {} },
    { id: 2, op: 'nope' as never, args: {} },
    { id: 3, op: 'execute', args: { kind: 'counter', group: 'g:0' } },
  ]);
  const { requests, refused } = decodeRequests(frame);
  assert.deepEqual(
    requests.map((r) => r.id),
    [1],
  );
  assert.deepEqual(
    refused.map((r) => r.id),
    [2, 3],
  );
  assert.match(refused[0]!.error.message, /unknown op "nope"/);
  assert.match(refused[1]!.error.message, /execute: payload/);
  assert.throws(() => decodeRequests(Uint8Array.of(0xc1)), { code: 'FLOTILLA_PROTOCOL' });
  assert.throws(() => decodeRequests(encodeRequests([{ id: -1, op: 'status', args: {} }])), /uint/);
});
