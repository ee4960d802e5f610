import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ActorNotFoundError,
  type ActorRef,
  ActorSystem,
  AskTimeoutError,
  type DeadLetter,
  MailboxFullError,
  SpawnError,
} from '../src/index.ts';
import { Counter, CounterKind, type CounterMsg } from './fixtures/counter.ts';
import { Collector, HostKillerKind, RelayKind, SequencerKind, WatcherKind } from './fixtures/threads.ts';

describe('an actor system on two host threads', { timeout: 60_000 }, () => {
  let system: ActorSystem;
  const letters: DeadLetter[] = [];

  before(async () => {
    system = await ActorSystem.start({ hosts: 2, askTimeoutMs: 10_000 });
    system.deadLetters.subscribe((letter) => letters.push(letter));
  });
  after(async () => {
    await system.shutdown();
  });

  test('spawns by module + export on a pinned host, and places unpinned actors on the least loaded one', async () => {
    const pinned = await system.spawn(CounterKind, { name: 'pinned', host: 1, props: { start: 3 } });
    assert.equal(pinned.slot, 1);
    const auto = await system.spawn(CounterKind, { name: 'auto' });
    assert.equal(auto.slot, 0, 'host 0 had fewer actors');
    system.tell(auto, { type: 'add', n: 4 });
    assert.equal(await system.ask(auto, { type: 'get' }), 4);
    assert.equal(await system.ask(pinned, { type: 'echo', text: 'across' }), 'across');
    assert.deepEqual(system.lookup('pinned'), pinned);
  });

  test('a class can only be spawned on the main thread; a missing export fails the spawn', async () => {
    await assert.rejects(system.spawn(Counter, { name: 'nope' }), SpawnError);
    const onMain = await system.spawn(Counter, { name: 'on-main', host: 'main', props: { start: 1 } });
    assert.equal(onMain.slot, -1);
    assert.equal(await system.ask(onMain, { type: 'get' }), 1);
    const missing = { module: CounterKind.module, exportName: 'NoSuchActor' } as typeof CounterKind;
    await assert.rejects(system.spawn(missing, { name: 'missing' }), /no class export named NoSuchActor/);
    assert.equal(system.lookup('missing'), undefined);
  });

  test('order is kept per sender under load: main → host, and host → host in batches', async () => {
    const sequencer = await system.spawn(SequencerKind, { name: 'seq', host: 1, mailboxCapacity: 200_000 });
    const relays = [
      await system.spawn(RelayKind, { name: 'relay0', host: 0 }),
      await system.spawn(RelayKind, { name: 'relay1', host: 1 }),
    ];
    const floods = relays.map((relay) => system.ask(relay, { type: 'flood', to: sequencer, count: 30_000 }));
    for (let n = 1; n <= 30_000; n++) {
      system.tell(sequencer, { type: 'seq', from: 'main', n });
      if (n % 5_000 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(await Promise.all(floods), [30_000, 30_000]);
    assert.deepEqual(await system.ask(sequencer, { type: 'report' }), {
      received: 90_000,
      outOfOrder: 0,
      threadSlot: 1,
    });
  });

  test('a cross-thread tell to a full mailbox is a dead letter; an ask to it rejects with MailboxFullError', async () => {
    const tiny = await system.spawn(CounterKind, { name: 'tiny', host: 0, mailboxCapacity: 10 });
    letters.length = 0;
    for (let i = 0; i < 50; i++) system.tell(tiny, { type: 'add', n: 1 });
    const asked = system.ask(tiny, { type: 'get' });
    await assert.rejects(
      asked,
      (error: unknown) => error instanceof MailboxFullError && error.path === '/tiny',
    );
    const full = letters.filter((l) => l.reason === 'mailbox-full' && l.recipient.path === '/tiny');
    assert.equal(full.length, 40);
    assert.equal(full[0]?.slot, 0, 'reported by the host that refused it');
    assert.equal(await system.ask(tiny, { type: 'get' }), 10);
    assert.ok(system.stats().deadLetters['mailbox-full'] >= 40);
  });

  test('dead letters from host threads reach the main stream; asks to unknown actors reject', async () => {
    letters.length = 0;
    const ghost: ActorRef<CounterMsg> = { path: '/ghost', uid: 7, slot: 1 };
    system.tell(ghost, { type: 'add', n: 1 });
    await assert.rejects(system.ask(ghost, { type: 'get' }), ActorNotFoundError);
    assert.deepEqual(
      letters.map((l) => [l.recipient.path, l.reason, l.slot]),
      [['/ghost', 'unknown-actor', 1]],
    );
  });

  test('an ask that gets no reply times out across threads', async () => {
    const killer = await system.spawn(HostKillerKind, { name: 'quiet', host: 0 });
    const started = Date.now();
    await assert.rejects(system.ask(killer, { type: 'hang' }, { timeoutMs: 200 }), AskTimeoutError);
    assert.ok(Date.now() - started >= 190);
    assert.equal(await system.ask(killer, { type: 'ping' }), 'pong from 0');
  });

  test('death watch works across threads, and through actors on the main thread', async () => {
    const collector = await system.spawn(Collector, { name: 'collector', host: 'main' });
    const watcher = await system.spawn(WatcherKind, {
      name: 'watcher',
      host: 0,
      props: { report: collector },
    });
    const target = await system.spawn(CounterKind, { name: 'target', host: 1 });
    system.tell(watcher, { type: 'watch', target });
    await system.ask(target, { type: 'get' });
    await system.stop(target);
    let collected: unknown[] = [];
    for (let i = 0; i < 100 && collected.length === 0; i++) {
      collected = await system.ask(collector, { type: 'collected' });
      if (collected.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.deepEqual(collected, [{ type: 'terminated', path: '/target', watcherSlot: 0 }]);
  });
});

test('with hosts: 0 every actor runs on the main thread, with the same API', {
  timeout: 20_000,
}, async () => {
  const system = await ActorSystem.start({ hosts: 0 });
  try {
    const byKind = await system.spawn(CounterKind, { props: { start: 2 } });
    const byClass = await system.spawn(Counter, { props: { start: 3 } });
    assert.equal(byKind.slot, -1);
    system.tell(byKind, { type: 'add', n: 1 });
    assert.deepEqual(
      await Promise.all([system.ask(byKind, { type: 'get' }), system.ask(byClass, { type: 'get' })]),
      [3, 3],
    );
    assert.equal(system.stats().threads, 0);
  } finally {
    await system.shutdown();
  }
});
