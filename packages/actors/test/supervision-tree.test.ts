import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type ActorRef,
  oneForAll,
  oneForOne,
  RestartLimitError,
  restForOne,
  type SupervisorStrategy,
  type SystemEvent,
  TestKit,
} from '../src/index.ts';
import { type ChildMsg, type Log, Parent } from './fixtures/local.ts';

const noJitter = { minMs: 100, maxMs: 1_000, jitter: 0 };

/** A parent with children a, b, c, each holding value 1; returns the kit, refs and log. */
async function family(strategy: SupervisorStrategy, kitOptions = {}) {
  const kit = new TestKit(kitOptions);
  const log: Log = [];
  const parent = kit.spawn(Parent, {
    name: 'p',
    props: { log, name: 'p', children: ['a', 'b', 'c'], strategy },
  });
  const refs: Record<string, ActorRef<ChildMsg>> = {};
  for (const name of ['a', 'b', 'c']) {
    const ref = kit.ask(parent, { type: 'child', name });
    await kit.runUntilIdle();
    refs[name] = await ref;
    kit.tell(refs[name], { type: 'add', n: 1 });
  }
  await kit.runUntilIdle();
  log.length = 0;
  return { kit, log, parent, refs };
}

async function values(kit: TestKit, refs: Record<string, ActorRef<ChildMsg>>): Promise<number[]> {
  const asks = Object.values(refs).map((ref) => kit.ask(ref, { type: 'get' }));
  await kit.runUntilIdle();
  return Promise.all(asks);
}

test('one-for-one restarts only the failed child, after its backoff, keeping its ref and mailbox', async () => {
  const { kit, log, refs } = await family(oneForOne({ maxRestarts: 3, backoff: noJitter }));
  kit.tell(refs.b!, { type: 'fail', reason: 'b broke' });
  kit.tell(refs.b!, { type: 'add', n: 5 });
  await kit.advance(99);
  assert.deepEqual(log, [], 'nothing happens before the 100 ms backoff');
  await kit.advance(1);
  assert.deepEqual(log, ['b:preRestart:b broke', 'b:construct', 'b:preStart']);
  assert.deepEqual(
    await values(kit, refs),
    [1, 5, 1],
    'b lost its state but kept the message sent meanwhile',
  );
  const failed = kit.events.filter((e) => e.type === 'actor-failed' || e.type === 'actor-restarted');
  assert.deepEqual(failed, [
    { type: 'actor-failed', path: '/p/b', slot: -1, error: 'Error: b broke' },
    { type: 'actor-restarted', path: '/p/b', slot: -1, attempt: 1, delayMs: 100 },
  ]);
});

test('one-for-all restarts every child when one fails', async () => {
  const { kit, log, refs } = await family(oneForAll({ backoff: noJitter }));
  kit.tell(refs.a!, { type: 'fail', reason: 'a broke' });
  await kit.advance(100);
  assert.deepEqual(await values(kit, refs), [0, 0, 0]);
  assert.deepEqual(
    log.filter((l) => l.includes('preRestart')),
    ['a:preRestart:a broke', 'b:preRestart:a broke', 'c:preRestart:a broke'],
  );
});

test('rest-for-one restarts the failed child and those spawned after it', async () => {
  const { kit, refs } = await family(restForOne({ backoff: noJitter }));
  kit.tell(refs.b!, { type: 'fail', reason: 'b broke' });
  await kit.advance(100);
  assert.deepEqual(await values(kit, refs), [1, 0, 0]);
});

test('backoff grows exponentially per restart within the window, with seeded jitter', async () => {
  const backoff = { minMs: 100, maxMs: 1_000, jitter: 0.5 };
  const run = async () => {
    const { kit, refs } = await family(oneForOne({ maxRestarts: 4, withinMs: 60_000, backoff }), {
      seed: 42,
    });
    for (let i = 0; i < 4; i++) {
      kit.tell(refs.a!, { type: 'fail', reason: `#${i}` });
      await kit.advance(2_000);
    }
    return kit.events.flatMap((e) => (e.type === 'actor-restarted' ? [e.delayMs] : []));
  };
  const delays = await run();
  assert.equal(delays.length, 4);
  delays.forEach((delay, i) => {
    const base = Math.min(1_000, 100 * 2 ** i);
    assert.ok(
      delay >= base * 0.5 && delay <= base * 1.5,
      `attempt ${i + 1}: ${delay} ms within ${base} ± 50%`,
    );
  });
  assert.deepEqual(await run(), delays, 'the same seed gives the same delays');
});

test('past the restart limit the failure escalates: the parent restarts, and with it all its children', async () => {
  const { kit, log, refs } = await family(oneForOne({ maxRestarts: 1, backoff: noJitter }), {
    supervision: oneForOne({ maxRestarts: 5, backoff: noJitter }),
  });
  kit.tell(refs.a!, { type: 'fail', reason: 'first' });
  await kit.advance(100);
  kit.tell(refs.a!, { type: 'fail', reason: 'second' });
  await kit.advance(200);
  const escalated = kit.events.find((e) => e.type === 'actor-escalated');
  assert.deepEqual(escalated && { ...escalated, error: undefined }, {
    type: 'actor-escalated',
    path: '/p/a',
    slot: -1,
    error: undefined,
  });
  assert.ok(log.includes('p:construct'), 'the parent was restarted by its own supervisor');
  assert.deepEqual(kit.escalations, []);
  // The parent rebuilt its children: the old child refs are gone, new ones hold fresh state.
  assert.equal(kit.isAlive(refs.b!), false);
});

test('a top-level actor past the guardian limit escalates to the root', async () => {
  const kit = new TestKit({ supervision: oneForOne({ maxRestarts: 0, backoff: noJitter }) });
  const parent = kit.spawn(Parent, { name: 'top', props: { log: [], name: 'top', children: [] } });
  kit.tell(parent, { type: 'fail', reason: 'fatal' });
  await kit.runUntilIdle();
  assert.equal(kit.escalations.length, 1);
  const error = kit.escalations[0];
  assert.ok(error instanceof RestartLimitError);
  assert.equal(error.path, '/top');
  assert.match(error.message, /fatal/);
});

test('a strategy can resume (state kept) or stop (watchers told) instead of restarting', async () => {
  const resume = await family(oneForOne({ decide: () => 'resume' }));
  resume.kit.tell(resume.refs.a!, { type: 'add', n: 1 });
  resume.kit.tell(resume.refs.a!, { type: 'fail', reason: 'ignored' });
  resume.kit.tell(resume.refs.a!, { type: 'add', n: 1 });
  assert.deepEqual(await values(resume.kit, resume.refs), [3, 1, 1]);

  const stop = await family(oneForOne({ decide: () => 'stop' }));
  stop.kit.tell(stop.refs.c!, { type: 'fail', reason: 'done for' });
  await stop.kit.runUntilIdle();
  assert.equal(stop.kit.isAlive(stop.refs.c!), false);
  assert.ok(stop.log.includes('c:postStop'));
  const events: SystemEvent['type'][] = stop.kit.events.map((e) => e.type);
  assert.deepEqual(events, ['actor-failed']);
});
