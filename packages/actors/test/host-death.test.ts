import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ActorSystem,
  type ActorSystemOptions,
  HostFailedError,
  RestartLimitError,
  type SystemEvent,
} from '../src/index.ts';
import { CounterKind } from './fixtures/counter.ts';
import { Collector, HostKillerKind, WatcherKind } from './fixtures/threads.ts';

const fastRestarts = { maxRestarts: 3, withinMs: 60_000, backoff: { minMs: 10, maxMs: 10, jitter: 0 } };

function nextEvent(system: ActorSystem, type: SystemEvent['type'], timeoutMs = 15_000): Promise<SystemEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} event within ${timeoutMs} ms`)), timeoutMs);
    const unsubscribe = system.events.subscribe((event) => {
      if (event.type !== type) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(event);
    });
  });
}

async function collect(system: ActorSystem, collector: Awaited<ReturnType<typeof spawnCollector>>) {
  for (let i = 0; i < 200; i++) {
    const items = await system.ask(collector, { type: 'collected' });
    if (items.length > 0) return items;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return [];
}

function spawnCollector(system: ActorSystem) {
  return system.spawn(Collector, { name: 'collector', host: 'main' });
}

const deaths: { kind: 'uncaught' | 'exit' | 'oom'; options: ActorSystemOptions; error: RegExp }[] = [
  { kind: 'uncaught', options: {}, error: /uncaught in a host thread/ },
  { kind: 'exit', options: {}, error: /exited with code: 3/ },
  { kind: 'oom', options: { resourceLimits: { maxOldGenerationSizeMb: 96 } }, error: /out of memory/i },
];

for (const death of deaths) {
  test(`a host killed by ${death.kind} is replaced, its actors re-spawned with the same refs and watches`, {
    timeout: 60_000,
  }, async () => {
    const system = await ActorSystem.start({ hosts: 2, hostRestarts: fastRestarts, ...death.options });
    try {
      const collector = await spawnCollector(system);
      const killer = await system.spawn(HostKillerKind, { name: 'killer', host: 0 });
      const counter = await system.spawn(CounterKind, { name: 'counter', host: 0, props: { start: 100 } });
      const watcher = await system.spawn(WatcherKind, {
        name: 'watcher',
        host: 1,
        props: { report: collector },
      });
      system.tell(watcher, { type: 'watch', target: counter });
      system.tell(counter, { type: 'add', n: 1 });
      assert.equal(await system.ask(counter, { type: 'get' }), 101);
      const pending = system.ask(killer, { type: 'hang' }, { timeoutMs: 30_000 });
      const died = nextEvent(system, 'host-died');
      const started = nextEvent(system, 'host-started');

      system.tell(killer, { type: death.kind });

      await assert.rejects(pending, HostFailedError, 'an ask pending on the dead host fails at once');
      const diedEvent = await died;
      assert.equal(diedEvent.type === 'host-died' && diedEvent.slot, 0);
      assert.match(diedEvent.type === 'host-died' ? diedEvent.error : '', death.error);
      assert.deepEqual(await started, { type: 'host-started', slot: 0, generation: 2, respawned: 2 });
      assert.equal(
        await system.ask(killer, { type: 'ping' }),
        'pong from 0',
        'the old ref reaches the new actor',
      );
      assert.equal(await system.ask(counter, { type: 'get' }), 100, 'state restarts from its props');
      assert.equal(system.stats().hosts[0]?.generation, 2);
      // The watch made before the death still holds: stopping the counter now is reported.
      await system.stop(counter);
      assert.deepEqual(await collect(system, collector), [
        { type: 'terminated', path: '/counter', watcherSlot: 1 },
      ]);
    } finally {
      await system.shutdown();
    }
  });
}

test('host deaths past the restart intensity fail the system, which shuts itself down', {
  timeout: 60_000,
}, async () => {
  const system = await ActorSystem.start({
    hosts: 1,
    hostRestarts: { ...fastRestarts, maxRestarts: 1 },
  });
  const killer = await system.spawn(HostKillerKind, { name: 'killer', host: 0 });
  const restarted = nextEvent(system, 'host-started');
  system.tell(killer, { type: 'exit' });
  await restarted;
  const failed = nextEvent(system, 'system-failed');
  system.tell(killer, { type: 'exit' });
  await failed;
  const reason = await system.terminated;
  assert.ok(reason instanceof RestartLimitError);
  assert.equal(reason.path, 'host 0');
  assert.equal(system.stats().threads, 0);
  await system.shutdown();
});

test('a replacement worker that fails at bootstrap gets its host moved to a rebuilt pool', {
  timeout: 60_000,
}, async () => {
  const marker = join(tmpdir(), `flotilla-fail-boot-${process.pid}`);
  process.env.FLOTILLA_FAIL_BOOT_MARKER = marker;
  const system = await ActorSystem.start({
    hosts: 2,
    hostRestarts: fastRestarts,
    hostPreload: new URL('./fixtures/fail-once-preload.ts', import.meta.url),
  });
  try {
    const killer = await system.spawn(HostKillerKind, { name: 'killer', host: 0 });
    const rebuilt = nextEvent(system, 'host-pool-rebuilt');
    const events: SystemEvent[] = [];
    system.events.subscribe((event) => events.push(event));
    writeFileSync(marker, 'fail the next bootstrap');
    system.tell(killer, { type: 'exit' });
    assert.deepEqual(await rebuilt, { type: 'host-pool-rebuilt', slot: 0 });
    await nextEvent(system, 'host-started');
    const pong = await system.ask(killer, { type: 'ping' }).catch((error: Error) => {
      throw new Error(`${error.message}; events: ${JSON.stringify(events)}`);
    });
    assert.equal(pong, 'pong from 0');
    assert.deepEqual(
      events.map((e) => e.type),
      ['host-died', 'host-pool-rebuilt', 'host-died', 'host-started'],
    );
    assert.equal(system.stats().threads, 2, 'one thread in the old pool (host 1), one in the new (host 0)');
  } finally {
    rmSync(marker, { force: true });
    delete process.env.FLOTILLA_FAIL_BOOT_MARKER;
    await system.shutdown();
  }
});
