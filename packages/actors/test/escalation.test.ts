import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ActorSystem, oneForOne, type SystemEvent } from '../src/index.ts';
import { Counter, CounterKind } from './fixtures/counter.ts';

function nextEvent(system: ActorSystem, type: SystemEvent['type']): Promise<SystemEvent> {
  return new Promise((resolve) => {
    const unsubscribe = system.events.subscribe((event) => {
      if (event.type !== type) return;
      unsubscribe();
      resolve(event);
    });
  });
}

/** Reads until `expected` (asks that meet the restart in progress reject with ActorStoppedError: retried). */
async function eventually<T>(read: () => Promise<T>, expected: T): Promise<void> {
  let last: T | Error | undefined;
  for (let i = 0; i < 200; i++) {
    last = await read().catch((error: Error) => error);
    if (last === expected) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(last, expected);
}

test('an escalation past a thread supervisor makes the root restart that thread’s top-level actors', {
  timeout: 60_000,
}, async () => {
  const system = await ActorSystem.start({
    hosts: 1,
    // Thread supervisors give up at the first failure, so it escalates to the root at once.
    supervision: oneForOne({ maxRestarts: 0 }),
    hostRestarts: { maxRestarts: 3, withinMs: 60_000, backoff: { minMs: 10, maxMs: 10, jitter: 0 } },
  });
  try {
    const onHost = await system.spawn(CounterKind, { name: 'crashy', host: 0, props: { start: 1 } });
    const sibling = await system.spawn(CounterKind, { name: 'sibling', host: 0, props: { start: 1 } });
    const onMain = await system.spawn(Counter, { name: 'main-crashy', host: 'main', props: { start: 1 } });
    for (const ref of [onHost, sibling, onMain]) system.tell(ref, { type: 'add', n: 10 });
    assert.equal(await system.ask(sibling, { type: 'get' }), 11);

    const hostRestart = nextEvent(system, 'host-supervisor-restarted');
    system.tell(onHost, { type: 'crash', reason: 'bad ledger' });
    assert.deepEqual(
      { ...(await hostRestart), error: undefined },
      { type: 'host-supervisor-restarted', slot: 0, error: undefined },
    );
    // Both top-level actors of host 0 come back from their props, under the same refs.
    await eventually(() => system.ask(sibling, { type: 'get' }), 1);
    await eventually(() => system.ask(onHost, { type: 'get' }), 1);
    assert.equal(await system.ask(onMain, { type: 'get' }), 11, 'the main thread was not touched');

    const mainRestart = nextEvent(system, 'host-supervisor-restarted');
    system.tell(onMain, { type: 'crash', reason: 'bad main' });
    assert.equal(((await mainRestart) as { slot: number }).slot, -1);
    await eventually(() => system.ask(onMain, { type: 'get' }), 1);
  } finally {
    await system.shutdown();
  }
});
