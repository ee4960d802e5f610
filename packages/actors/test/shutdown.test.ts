import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BroadcastChannel } from 'node:worker_threads';
import { ActorSystem, type DeadLetter, SystemStoppedError } from '../src/index.ts';
import { CounterKind } from './fixtures/counter.ts';
import { LooperKind, PlodderKind, STOP_CHANNEL, StubbornKind, TreeKind } from './fixtures/shutdown.ts';

function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const resource of process.getActiveResourcesInfo()) counts[resource] = (counts[resource] ?? 0) + 1;
  return counts;
}

test('shutdown drains mailboxes, stops children first, ends host tasks and leaks no thread or handle', {
  timeout: 60_000,
}, async () => {
  await new Promise((resolve) => setTimeout(resolve, 100)); // let the loader's file reads settle
  const baseline = resourceCounts();
  const stops: string[] = [];
  const channel = new BroadcastChannel(STOP_CHANNEL);
  channel.onmessage = (event) => stops.push((event as unknown as { data: string }).data);
  const system = await ActorSystem.start({ hosts: 2 });
  const letters: DeadLetter[] = [];
  system.deadLetters.subscribe((letter) => letters.push(letter));
  const plodder = await system.spawn(PlodderKind, { name: 'busy', host: 1 });
  await system.spawn(TreeKind, { name: 'tree', host: 0, props: { depth: 2, label: 'root' } });
  for (let i = 0; i < 4_000; i++) system.tell(plodder, { type: 'work' });

  await system.shutdown();

  assert.deepEqual(
    letters,
    [],
    'every message told before shutdown was handled (none dead-lettered as stopped)',
  );
  const stats = system.stats();
  assert.equal(stats.shutdownRejections, 0, 'no host task was rejected');
  assert.equal(stats.threads, 0, 'no host thread left');
  assert.ok(stats.hosts.every((h) => h.state === 'ended'));
  await new Promise((resolve) => setTimeout(resolve, 50));
  channel.close();
  assert.deepEqual(resourceCounts(), baseline, 'active handles are back to what they were before start');
  // Children first: every node stops after both of its children.
  for (const label of stops) {
    for (const side of ['l', 'r']) {
      const child = `${label}/${side}`;
      if (stops.includes(child))
        assert.ok(stops.indexOf(child) < stops.indexOf(label), `${child} before ${label}`);
    }
  }
  assert.equal(stops.length, 7);
  assert.equal(stops.at(-1), 'root');

  await assert.rejects(system.spawn(CounterKind), SystemStoppedError);
  await system.shutdown();
  assert.equal(await system.terminated, undefined);
});

test('shutdown is bounded: a mailbox that never drains and a postStop that never ends do not hang it', {
  timeout: 60_000,
}, async () => {
  const system = await ActorSystem.start({ hosts: 1, drainTimeoutMs: 300, stopTimeoutMs: 1_000 });
  await system.spawn(LooperKind, { name: 'looper', host: 0 });
  await system.spawn(StubbornKind, { name: 'stubborn', host: 0 });
  const started = Date.now();
  await system.shutdown();
  const tookMs = Date.now() - started;
  assert.ok(tookMs < 10_000, `shutdown took ${tookMs} ms`);
  assert.equal(system.stats().threads, 0);
});
