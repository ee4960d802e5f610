import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ActorFailedError,
  ActorNotFoundError,
  AskTimeoutError,
  MailboxFullError,
  TestKit,
  TooManyAsksError,
} from '../src/index.ts';
import { Counter } from './fixtures/counter.ts';
import { type Log, Silent, Slow } from './fixtures/local.ts';
import { Relay, Sequencer } from './fixtures/threads.ts';

test('tell and ask reach the actor; ask resolves with the typed reply', async () => {
  const kit = new TestKit();
  const counter = kit.spawn(Counter, { props: { start: 10 } });
  kit.tell(counter, { type: 'add', n: 5 });
  const value = kit.ask(counter, { type: 'get' });
  const echo = kit.ask(counter, { type: 'echo', text: 'hello' });
  await kit.runUntilIdle();
  assert.equal(await value, 15);
  assert.equal(await echo, 'hello');
});

test('messages from each sender arrive in the order sent, also when senders interleave', async () => {
  const kit = new TestKit();
  const sequencer = kit.spawn(Sequencer, { mailboxCapacity: 50_000 });
  const relays = [kit.spawn(Relay, { name: 'r1' }), kit.spawn(Relay, { name: 'r2' })];
  const floods = relays.map((relay) => kit.ask(relay, { type: 'flood', to: sequencer, count: 10_000 }));
  for (let n = 1; n <= 1_000; n++) kit.tell(sequencer, { type: 'seq', from: 'outside', n });
  await kit.runUntilIdle();
  await Promise.all(floods);
  const report = kit.ask(sequencer, { type: 'report' });
  await kit.runUntilIdle();
  assert.deepEqual(await report, { received: 21_000, outOfOrder: 0, threadSlot: -1 });
});

test('a full mailbox makes a local tell throw MailboxFullError naming the actor, and an ask reject', async () => {
  const kit = new TestKit();
  const counter = kit.spawn(Counter, { name: 'small', mailboxCapacity: 2 });
  kit.tell(counter, { type: 'add', n: 1 });
  kit.tell(counter, { type: 'add', n: 1 });
  assert.throws(
    () => kit.tell(counter, { type: 'add', n: 1 }),
    (error: unknown) =>
      error instanceof MailboxFullError &&
      error.code === 'FLOTILLA_MAILBOX_FULL' &&
      error.path === '/small' &&
      error.capacity === 2,
  );
  await assert.rejects(kit.ask(counter, { type: 'get' }), MailboxFullError);
  await kit.runUntilIdle();
  const value = kit.ask(counter, { type: 'get' });
  await kit.runUntilIdle();
  assert.equal(await value, 2, 'the two accepted tells were processed, the refused one was not');
});

test('an unanswered ask rejects with AskTimeoutError when its timeout passes in virtual time', async () => {
  const kit = new TestKit();
  const silent = kit.spawn(Silent, { name: 'silent' });
  let settled = false;
  const reply = kit.ask(silent, { type: 'never' }, { timeoutMs: 1_000 });
  reply
    .catch(() => {})
    .finally(() => {
      settled = true;
    });
  await kit.advance(999);
  assert.equal(settled, false);
  await kit.advance(1);
  await assert.rejects(reply, (error: unknown) => {
    assert.ok(error instanceof AskTimeoutError);
    assert.equal(error.path, '/silent');
    assert.equal(error.timeoutMs, 1_000);
    assert.equal(error.messageType, 'never');
    return true;
  });
});

test('messages to stopped or unknown actors become dead letters; asks to them reject', async () => {
  const kit = new TestKit();
  const counter = kit.spawn(Counter, { name: 'gone' });
  await kit.stop(counter);
  kit.tell(counter, { type: 'add', n: 1 });
  const unknown = { path: '/never-spawned', uid: 1, slot: -1 };
  kit.tell(unknown as typeof counter, { type: 'add', n: 2 });
  await assert.rejects(kit.ask(counter, { type: 'get' }), ActorNotFoundError);
  // A reply to a message that was told, not asked, has nowhere to go.
  const told = kit.spawn(Counter, { name: 'told' });
  kit.tell(told, { type: 'get' } as never);
  await kit.runUntilIdle();
  assert.deepEqual(
    kit.deadLetters.map((letter) => [letter.recipient.path, letter.reason, letter.message]),
    [
      ['/gone', 'unknown-actor', { type: 'add', n: 1 }],
      ['/never-spawned', 'unknown-actor', { type: 'add', n: 2 }],
      ['/told', 'no-asker', 0],
    ],
  );
});

test('an async receive finishes before the next message starts; mail waits for an async preStart', async () => {
  const kit = new TestKit();
  const log: Log = [];
  const slow = kit.spawn(Slow, { props: { log } });
  kit.tell(slow, { type: 'step', id: 1 });
  kit.tell(slow, { type: 'step', id: 2 });
  await kit.runUntilIdle();
  assert.deepEqual(log, ['preStart-done', 'start 1', 'end 1', 'start 2', 'end 2']);
});

test('replyLater answers an ask after later messages; a failing receive rejects its ask', async () => {
  const kit = new TestKit();
  const slow = kit.spawn(Slow, { name: 'slow', props: { log: [] } });
  const first = kit.ask(slow, { type: 'wait' });
  const second = kit.ask(slow, { type: 'wait' });
  kit.tell(slow, { type: 'release', value: 'done' });
  await kit.runUntilIdle();
  assert.deepEqual(await Promise.all([first, second]), ['done', 'done']);
  const boom = assert.rejects(
    kit.ask(slow, { type: 'boom' }),
    (error: unknown) => error instanceof ActorFailedError && /async boom/.test(error.message),
  );
  await kit.runUntilIdle();
  await boom;
});

test('asks waiting at once are bounded: past asksPendingMax an ask rejects with TooManyAsksError', async () => {
  const kit = new TestKit({ asksPendingMax: 2 });
  const silent = kit.spawn(Silent);
  const waiting = [
    kit.ask(silent, { type: 'never' }, { timeoutMs: 100 }),
    kit.ask(silent, { type: 'never' }, { timeoutMs: 100 }),
  ];
  for (const ask of waiting) ask.catch(() => {});
  await assert.rejects(kit.ask(silent, { type: 'never' }), TooManyAsksError);
  await kit.advance(100);
  await Promise.allSettled(waiting);
  const again = assert.rejects(
    kit.ask(silent, { type: 'never' }, { timeoutMs: 10 }),
    AskTimeoutError,
    'room again once the earlier asks timed out',
  );
  await kit.advance(10);
  await again;
});
