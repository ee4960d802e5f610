/**
 * Machine instances, on both backends: the framework envelope (sessions, timestamps, fences), deterministic
 * failures, snapshots in chunks, durability of store machines across a reopen, and divergence checkpoints.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type AnyMachine, defineMachine, memory, store, z } from '@flotilla/app';
import { EMPTY_CONF_STATE } from '@flotilla/core';
import { Packr } from 'msgpackr';
import { encodeEnvelope } from '../src/machines/envelope.ts';
import type { InstanceOptions } from '../src/machines/machine-instance.ts';
import { type MachineHarness, memoryInstance, StoreFixture } from './machine-helpers.ts';

const ops = {
  commands: {
    add: { input: z.object({ key: z.string(), by: z.number().int() }), output: z.number() },
    /** Writes, then throws: the write must not survive on the store backend. */
    addThenThrow: { input: z.object({ key: z.string() }), output: z.null() },
    refuse: { input: z.object({ why: z.string() }), output: z.null() },
    fenced: { input: z.object({}), output: z.number() },
    stamp: { input: z.object({}), output: z.object({ ts: z.number(), r: z.number() }) },
  },
  queries: {
    get: { input: z.object({ key: z.string() }), output: z.number() },
    boom: { input: z.object({}), output: z.null() },
  },
};

const MemoryCounter = defineMachine({
  name: 'counter',
  ...ops,
  // Many chunks: one per key, so restore reads them one at a time.
  state: memory(() => new Map<string, number>(), {
    snapshot: (state) => [...state],
    restore: (chunks) => new Map([...chunks] as [string, number][]),
  }),
  apply: {
    add(state, { key, by }) {
      const next = (state.get(key) ?? 0) + by;
      state.set(key, next);
      return next;
    },
    addThenThrow(state, { key }) {
      state.set(key, (state.get(key) ?? 0) + 1000);
      throw new Error(`broken ${key}`);
    },
    refuse: (_state, { why }, ctx) => ctx.reject('not-allowed', why, { why }),
    fenced(_state, _input, ctx) {
      ctx.requireFence();
      return ctx.fence!.term;
    },
    stamp: (_state, _input, ctx) => ({ ts: ctx.timestampMs, r: ctx.random() }),
  },
  query: {
    get: (state, { key }) => state.get(key) ?? 0,
    boom: () => {
      throw new Error('query failed');
    },
  },
});

const StoreCounter = defineMachine({
  name: 'store-counter',
  ...ops,
  state: store(),
  apply: {
    add(kv, { key, by }) {
      const next = (kv.get<number>(key) ?? 0) + by;
      kv.put(key, next);
      return next;
    },
    addThenThrow(kv, { key }) {
      kv.put(key, (kv.get<number>(key) ?? 0) + 1000);
      throw new Error(`broken ${key}`);
    },
    refuse: (_kv, { why }, ctx) => ctx.reject('not-allowed', why, { why }),
    fenced(_kv, _input, ctx) {
      ctx.requireFence();
      return ctx.fence!.term;
    },
    stamp: (_kv, _input, ctx) => ({ ts: ctx.timestampMs, r: ctx.random() }),
  },
  query: {
    get: (kv, { key }) => kv.get<number>(key) ?? 0,
    boom: () => {
      throw new Error('query failed');
    },
  },
});

const fixture = new StoreFixture();
/** A second node's store: replicas of one group in two processes. */
const otherNode = new StoreFixture();
after(() => Promise.all([fixture.close(), otherNode.close()]));

type Make = (
  group: string,
  window?: number,
  hooks?: Partial<InstanceOptions>,
  node?: StoreFixture,
) => Promise<MachineHarness>;
const limits = (window = 1024) => ({ sessionsMax: 100, windowMax: window, idleMs: 60_000 });

const backends: [string, AnyMachine, Make][] = [
  [
    'memory',
    MemoryCounter,
    async (group, window, hooks) =>
      memoryInstance(MemoryCounter, { group, sessions: limits(window), ...hooks }),
  ],
  [
    'store',
    StoreCounter,
    (group, window, hooks, node = fixture) =>
      node.instance(StoreCounter, group, { sessions: limits(window), ...hooks }),
  ],
];

for (const [name, M, make] of backends) {
  describe(`a ${name} machine`, () => {
    test('a retried command of a session returns its first outcome without applying again', async () => {
      const h = await make(`${name}:sessions`);
      const session = { clientId: 'c1', sequence: 1 };
      const [first] = h.apply(M, { name: 'add', input: { key: 'a', by: 5 }, session });
      const [again] = h.apply(M, { name: 'add', input: { key: 'a', by: 5 }, session });
      assert.deepEqual(first, { ok: true, value: 5 });
      assert.deepEqual(again, first);
      assert.equal(h.instance.query('get', { key: 'a' }), 5, 'applied once');
      const [other] = h.apply(M, {
        name: 'add',
        input: { key: 'a', by: 5 },
        session: { clientId: 'c2', sequence: 1 },
      });
      assert.deepEqual(
        other,
        { ok: true, value: 10 },
        'another client with the same sequence is another command',
      );
      const [none] = h.apply(M, { name: 'add', input: { key: 'a', by: 1 } });
      assert.deepEqual(none, { ok: true, value: 11 }, 'without a session every commit applies');
    });

    test('what the client acknowledged is forgotten: a late command below it is refused, not applied', async () => {
      const h = await make(`${name}:acks`, 3);
      const c = (sequence: number, ackedBelow: number) => ({
        name: 'add',
        input: { key: 'w', by: 1 },
        session: { clientId: 'c', sequence, ackedBelow },
      });
      h.apply(M, c(1, 1), c(2, 1), c(3, 1));
      // Sequences 1 and 2 answered: their outcomes may go; 3 is still in flight and kept.
      const [fourth] = h.apply(M, c(4, 3));
      assert.deepEqual(fourth, { ok: true, value: 4 });
      const [late] = h.apply(M, c(2, 1));
      assert.equal(
        late?.ok === false && late.error.code,
        'FLOTILLA_STALE_SESSION',
        'a late duplicate below the ack',
      );
      const [never] = h.apply(M, c(1, 1));
      assert.equal(
        never?.ok === false && never.error.code,
        'FLOTILLA_STALE_SESSION',
        'nor a call given up on',
      );
      assert.deepEqual(h.apply(M, c(3, 1))[0], { ok: true, value: 3 }, 'the kept outcome answers its retry');
      // Past the cap of kept outcomes (3 here), the oldest are dropped and become stale.
      for (let s = 5; s <= 12; s++) h.apply(M, c(s, 3));
      assert.equal(h.apply(M, c(3, 3))[0]?.ok, false, 'dropped by the cap');
      assert.deepEqual(h.apply(M, c(12, 3))[0], { ok: true, value: 12 }, 'the newest is kept');
      assert.equal(h.instance.query('get', { key: 'w' }), 12);
    });

    test('sparse sequences (a client spread over many groups) are never refused while in flight', async () => {
      const h = await make(`${name}:sparse`, 4);
      // This group sees every 100th sequence of one client with 256 calls in flight: none is refused.
      const outcomes = [];
      for (let s = 100; s <= 5_000; s += 100)
        outcomes.push(
          ...h.apply(M, {
            name: 'add',
            input: { key: 's', by: 1 },
            session: { clientId: 'x', sequence: s, ackedBelow: Math.max(0, s - 256) },
          }),
        );
      assert.ok(
        outcomes.every((o) => o?.ok),
        JSON.stringify(outcomes.find((o) => !o?.ok)),
      );
    });

    test('apply that throws or rejects yields a typed application error; the replica goes on', async () => {
      const h = await make(`${name}:errors`);
      const [thrown, refused, unknown] = h
        .apply(
          M,
          { name: 'addThenThrow', input: { key: 'x' } },
          { name: 'refuse', input: { why: 'no funds' } },
        )
        .concat(h.applyRaw(envelopeOf('nope')));
      assert.equal(thrown?.ok === false && thrown.error.code, 'FLOTILLA_APPLICATION');
      assert.equal(thrown?.ok === false && thrown.error.reason, 'apply-threw');
      assert.match(thrown?.ok === false ? thrown.error.message : '', /broken x/);
      assert.equal(refused?.ok === false && refused.error.reason, 'not-allowed');
      assert.deepEqual(refused?.ok === false && refused.error.details, { why: 'no funds' });
      assert.equal(unknown?.ok === false && unknown.error.code, 'FLOTILLA_UNKNOWN_OPERATION');
      const [bad] = h.applyRaw(Uint8Array.of(0xc1));
      assert.equal(
        bad?.ok === false && bad.error.code,
        'FLOTILLA_PROTOCOL',
        'a malformed envelope is an outcome too',
      );
      const [after] = h.apply(M, { name: 'add', input: { key: 'x', by: 1 } });
      // Memory machines keep what a throwing apply wrote before it threw; the store discards it.
      assert.deepEqual(after, { ok: true, value: name === 'store' ? 1 : 1001 });
      assert.throws(() => h.instance.query('boom', {}), /query failed/);
      assert.throws(() => h.instance.query('nope', {}), { code: 'FLOTILLA_UNKNOWN_OPERATION' });
    });

    test('requireFence: this group needs the entry term; another group a term never older than seen', async () => {
      const h = await make(`${name}:fence`);
      const group = h.instance.group;
      const codes = (o: ReturnType<MachineHarness['apply']>[number]) => (o?.ok ? o.value : o?.error.code);
      assert.equal(codes(h.apply(M, { name: 'fenced', input: {} })[0]), 'FLOTILLA_STALE_FENCE', 'no token');
      assert.equal(
        codes(h.apply(M, { name: 'fenced', input: {}, fence: { group, term: 3 }, term: 3 })[0]),
        3,
      );
      assert.equal(
        codes(h.apply(M, { name: 'fenced', input: {}, fence: { group, term: 3 }, term: 4 })[0]),
        'FLOTILLA_STALE_FENCE',
        'the old leader term of this group',
      );
      assert.equal(
        codes(h.apply(M, { name: 'fenced', input: {}, fence: { group: 'other:0', term: 7 } })[0]),
        7,
      );
      assert.equal(
        codes(h.apply(M, { name: 'fenced', input: {}, fence: { group: 'other:0', term: 6 } })[0]),
        'FLOTILLA_STALE_FENCE',
      );
      assert.equal(
        codes(h.apply(M, { name: 'fenced', input: {}, fence: { group: 'other:0', term: 7 } })[0]),
        7,
      );
    });

    test('log time never goes back, and random() is the same on every replica of one entry', async () => {
      const a = await make(`${name}:time`);
      const b = await make(`${name}:time`, undefined, {}, otherNode);
      const [first] = a.apply(M, { name: 'stamp', input: {}, timestampMs: 5_000 });
      const [second] = a.apply(M, { name: 'stamp', input: {}, timestampMs: 3_000 });
      b.apply(M, { name: 'stamp', input: {}, timestampMs: 5_000 });
      const [copy] = b.apply(M, { name: 'stamp', input: {}, timestampMs: 3_000 });
      assert.equal(first?.ok && (first.value as { ts: number }).ts, 5_000);
      assert.equal(
        second?.ok && (second.value as { ts: number }).ts,
        5_000,
        'a new leader with a slower clock',
      );
      assert.deepEqual(copy, second);
    });

    test('a snapshot restores state, sessions and log time into another replica', async () => {
      const h = await make(`${name}:snap`);
      for (let i = 0; i < 20; i++)
        h.apply(M, {
          name: 'add',
          input: { key: `k${i % 7}`, by: i },
          session: { clientId: 's', sequence: i + 1 },
          timestampMs: 9_000,
        });
      const image = h.instance.snapshot();
      const copy = await make(`${name}:snap-copy`);
      copy.instance.restore(image, { index: h.index, term: 1, confState: EMPTY_CONF_STATE });
      copy.index = h.index;
      assert.deepEqual(copy.instance.outcomeHash, h.instance.outcomeHash, 'the outcome hash travels too');
      for (let i = 0; i < 7; i++)
        assert.equal(copy.instance.query('get', { key: `k${i}` }), h.instance.query('get', { key: `k${i}` }));
      const [dup] = copy.apply(M, {
        name: 'add',
        input: { key: 'k0', by: 1 },
        session: { clientId: 's', sequence: 20 },
      });
      assert.deepEqual(
        dup,
        { ok: true, value: 19 + 12 + 5 },
        'the retry is answered from the restored session',
      );
      const [ts] = copy.apply(M, { name: 'stamp', input: {}, timestampMs: 1 });
      assert.equal(ts?.ok && (ts.value as { ts: number }).ts, 9_000);
    });

    test('replicas compare outcome hashes at checkpoints: a nondeterministic replica raises a divergence', async () => {
      const reports: unknown[] = [];
      const checkpoints: [number, string][] = [];
      const leader = await make(`${name}:div-leader`, undefined, {
        onCheckpoint: (i, h) => checkpoints.push([i, h]),
      });
      const follower = await make(`${name}:div-follower`, undefined, {
        onDivergence: (r) => reports.push(r),
      });
      for (let i = 1; i <= 12; i++) {
        leader.apply(M, { name: 'add', input: { key: 'n', by: 1 } });
        // The follower's machine "reads the clock": a different input from index 8 on.
        follower.apply(M, { name: 'add', input: { key: 'n', by: i >= 8 ? 2 : 1 } });
      }
      assert.ok(checkpoints.length >= 1, 'the leader took a checkpoint at index 10');
      const [index, hash] = checkpoints[0]!;
      follower.applyRaw(checkpointEntry(index, hash));
      assert.equal(reports.length, 1);
      assert.equal((reports[0] as { index: number }).index, index);
      assert.equal(follower.instance.divergence?.index, index);
      const agreeing = await make(`${name}:div-agree`);
      for (let i = 1; i <= 12; i++) agreeing.apply(M, { name: 'add', input: { key: 'n', by: 1 } });
      agreeing.applyRaw(checkpointEntry(index, hash));
      assert.equal(agreeing.instance.divergence, undefined, 'a deterministic replica agrees');
    });
  });
}

function envelopeOf(name: string): Uint8Array {
  return envelopeRaw([name, {}]);
}

function checkpointEntry(index: number, hash: string): Uint8Array {
  return envelopeRaw(['\u0000checkpoint', [index, hash]]);
}

function envelopeRaw(call: unknown): Uint8Array {
  return encodeEnvelope({
    session: undefined,
    fence: undefined,
    timestampMs: 1,
    call: new Packr({ useRecords: false }).pack(call),
  });
}

test('a store machine resumes after a reopen at its durable applied index, with its sessions', async () => {
  let h = await fixture.instance(StoreCounter, 'durable:0');
  for (let s = 1; s <= 50; s++)
    h.apply(StoreCounter, {
      name: 'add',
      input: { key: 'd', by: 1 },
      session: { clientId: 'r', sequence: s },
    });
  await h.instance.flushed();
  assert.equal(h.instance.durableAppliedIndex, 50);
  const hash = h.instance.outcomeHash;
  await fixture.reopen();
  h = await fixture.instance(StoreCounter, 'durable:0');
  assert.equal(h.instance.appliedIndex, 50, 'resumes at applied + 1');
  assert.equal(h.instance.query('get', { key: 'd' }), 50);
  assert.deepEqual(h.instance.outcomeHash, hash, 'the outcome hash is stored with the state');
  const [dup] = h.apply(StoreCounter, {
    name: 'add',
    input: { key: 'd', by: 1 },
    session: { clientId: 'r', sequence: 50 },
  });
  assert.deepEqual(dup, { ok: true, value: 50 }, 'a retry after the restart is answered, not applied');
});
