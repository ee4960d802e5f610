import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Actor,
  type ActorContext,
  type ActorRef,
  type Ask,
  NameTakenError,
  type Terminated,
  TestKit,
} from '../src/index.ts';
import { Counter } from './fixtures/counter.ts';
import { type Log, Parent } from './fixtures/local.ts';

test('stop runs postStop children first, then the parent; leftover mail becomes dead letters', async () => {
  const kit = new TestKit();
  const log: Log = [];
  const parent = kit.spawn(Parent, { name: 'p', props: { log, name: 'p', children: ['a', 'b'] } });
  await kit.runUntilIdle();
  log.length = 0;
  kit.tell(parent, { type: 'fail', reason: 'unused' } as never);
  const stopping = kit.stop(parent);
  await stopping;
  assert.deepEqual(log, ['a:postStop', 'b:postStop', 'p:postStop']);
  assert.equal(kit.isAlive(parent), false);
  assert.deepEqual(
    kit.deadLetters.map((l) => [l.recipient.path, l.reason]),
    [['/p', 'stopped']],
  );
});

type TimedMsg =
  | { type: 'tick'; label: string }
  | { type: 'start-single'; key: string; delayMs: number }
  | { type: 'start-periodic'; key: string; intervalMs: number }
  | { type: 'cancel'; key: string }
  | { type: 'subscribe-ticks' }
  | { type: 'unsubscribe-ticks' };

class Timed implements Actor<TimedMsg> {
  private readonly log: Log;
  constructor(props: { log: Log }) {
    this.log = props.log;
  }
  receive(message: TimedMsg, ctx: ActorContext<TimedMsg>): void {
    switch (message.type) {
      case 'tick':
        this.log.push(`${ctx.now()} ${ctx.self.path} ${message.label}`);
        return;
      case 'start-single':
        ctx.timers.startSingle(message.key, { type: 'tick', label: message.key }, message.delayMs);
        return;
      case 'start-periodic':
        ctx.timers.startPeriodic(message.key, { type: 'tick', label: message.key }, message.intervalMs);
        return;
      case 'cancel':
        ctx.timers.cancel(message.key);
        return;
      case 'subscribe-ticks':
        ctx.ticker.subscribe({ type: 'tick', label: 'host-tick' });
        return;
      case 'unsubscribe-ticks':
        ctx.ticker.unsubscribe();
        return;
    }
  }
}

test('timers fire at their virtual time, repeat, can be replaced and cancelled, and die with the actor', async () => {
  const kit = new TestKit();
  const log: Log = [];
  const timed = kit.spawn(Timed, { name: 't', props: { log } });
  kit.tell(timed, { type: 'start-single', key: 'once', delayMs: 50 });
  kit.tell(timed, { type: 'start-periodic', key: 'every', intervalMs: 30 });
  kit.tell(timed, { type: 'start-single', key: 'replaced', delayMs: 10 });
  kit.tell(timed, { type: 'start-single', key: 'replaced', delayMs: 70 });
  kit.tell(timed, { type: 'start-single', key: 'cancelled', delayMs: 20 });
  kit.tell(timed, { type: 'cancel', key: 'cancelled' });
  await kit.advance(100);
  assert.deepEqual(log, ['30 /t every', '50 /t once', '60 /t every', '70 /t replaced', '90 /t every']);
  await kit.stop(timed);
  await kit.advance(1_000);
  assert.equal(log.length, 5, 'no timer outlives its actor');
  assert.deepEqual(kit.deadLetters, []);
});

class CancelRace implements Actor<TimedMsg> {
  private readonly log: Log;
  constructor(props: { log: Log }) {
    this.log = props.log;
  }
  preStart(ctx: ActorContext<TimedMsg>): void {
    // Both fire at t=10, 'a' first: its message cancels 'b' after 'b' fired but before 'b' is handled.
    ctx.timers.startSingle('a', { type: 'cancel', key: 'b' }, 10);
    ctx.timers.startSingle('b', { type: 'tick', label: 'b' }, 10);
  }
  receive(message: TimedMsg, ctx: ActorContext<TimedMsg>): void {
    if (message.type === 'cancel') ctx.timers.cancel(message.key);
    this.log.push(`${message.type} active(b)=${ctx.timers.isActive('b')}`);
  }
}

test('a timer cancelled after it fired but before its message is handled delivers nothing', async () => {
  const kit = new TestKit();
  const log: Log = [];
  kit.spawn(CancelRace, { props: { log } });
  await kit.advance(100);
  assert.deepEqual(log, ['cancel active(b)=false']);
});

test('the host ticker delivers one tick per interval to every subscriber, until they unsubscribe', async () => {
  const kit = new TestKit({ tickIntervalMs: 100 });
  const log: Log = [];
  const a = kit.spawn(Timed, { name: 'a', props: { log } });
  const b = kit.spawn(Timed, { name: 'b', props: { log } });
  kit.tell(a, { type: 'subscribe-ticks' });
  kit.tell(b, { type: 'subscribe-ticks' });
  await kit.advance(200);
  kit.tell(a, { type: 'unsubscribe-ticks' });
  await kit.advance(100);
  kit.tell(b, { type: 'unsubscribe-ticks' });
  await kit.advance(500);
  assert.deepEqual(log, [
    '100 /a host-tick',
    '100 /b host-tick',
    '200 /a host-tick',
    '200 /b host-tick',
    '300 /b host-tick',
  ]);
});

type WatchingMsg =
  | Terminated
  | { type: 'watch'; ref: ActorRef<never> }
  | { type: 'unwatch'; ref: ActorRef<never> };

class Watching implements Actor<WatchingMsg> {
  private readonly log: Log;
  constructor(props: { log: Log }) {
    this.log = props.log;
  }
  receive(message: WatchingMsg, ctx: ActorContext<WatchingMsg>): void {
    if (message.type === 'watch') ctx.watch(message.ref);
    else if (message.type === 'unwatch') ctx.unwatch(message.ref);
    else this.log.push(`terminated ${message.ref.path}`);
  }
}

test('death watch: Terminated on stop, none after unwatch, at once for an actor already gone', async () => {
  const kit = new TestKit();
  const log: Log = [];
  const watcher = kit.spawn(Watching, { props: { log } });
  const x = kit.spawn(Counter, { name: 'x' });
  const y = kit.spawn(Counter, { name: 'y' });
  kit.tell(watcher, { type: 'watch', ref: x });
  kit.tell(watcher, { type: 'watch', ref: y });
  kit.tell(watcher, { type: 'unwatch', ref: y });
  await kit.runUntilIdle();
  await kit.stop(x);
  await kit.stop(y);
  kit.tell(watcher, { type: 'watch', ref: x });
  await kit.runUntilIdle();
  assert.deepEqual(log, ['terminated /x', 'terminated /x']);
  const probe = kit.probe<Terminated>();
  probe.watch(watcher);
  await kit.stop(watcher);
  assert.equal(probe.expectMessageOfType('actor-terminated').ref.path, watcher.path);
});

type SpawnerMsg = Ask<{ type: 'spawn-twice'; name: string }, string>;

class Spawner implements Actor<SpawnerMsg> {
  receive(message: SpawnerMsg, ctx: ActorContext<SpawnerMsg>): void {
    const first = ctx.spawn(Counter, { name: message.name });
    try {
      ctx.spawn(Counter, { name: message.name });
      ctx.reply(message, 'spawned twice');
    } catch (error) {
      const names = ctx.children().map((c) => c.path);
      ctx.reply(message, `${(error as NameTakenError).code} ${first.path} ${names.join(',')}`);
    }
  }
}

test('child names are unique per parent; children live under the parent path', async () => {
  const kit = new TestKit();
  const spawner = kit.spawn(Spawner, { name: 'sp' });
  const answer = kit.ask(spawner, { type: 'spawn-twice', name: 'kid' });
  await kit.runUntilIdle();
  assert.equal(await answer, 'FLOTILLA_NAME_TAKEN /sp/kid /sp/kid');
  assert.throws(() => kit.spawn(Counter, { name: 'sp' }), NameTakenError);
});
