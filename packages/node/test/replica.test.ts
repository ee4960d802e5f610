/**
 * `Replica`, the replica driver, with three of them over memory storage and a hand-driven network and clock.
 * Its clock: Raft ticks follow real time, not timer firings (the pause that broke linearizability in the fault
 * test: a leader holding a read lease is stopped, the others elect and commit, the old leader resumes and is
 * asked for a lease read before its ticker fires again). Its proposals: a leadership change does not fail
 * the proposals in flight; they settle when their index is applied.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineMachine, encodeCall, memory, type Session, z } from '@flotilla/app';
import {
  bootstrapStorage,
  encodeMessage,
  type LogStorage,
  MemoryLogStorage,
  MemoryStableStorage,
  type Message,
  type StableStorage,
} from '@flotilla/core';
import { MachineInstance } from '../src/machines/machine-instance.ts';
import { MemoryBackend } from '../src/machines/memory-backend.ts';
import { SESSION_DEFAULTS } from '../src/machines/sessions.ts';
import { RaftClock } from '../src/replicas/raft-clock.ts';
import { Replica, snapshotGap } from '../src/replicas/replica.ts';

/** A key-value machine in memory: `put` answers what it replaced, `get` the value and the index that wrote it. */
const MemoryKv = defineMachine({
  name: 'memory-kv',
  commands: {
    put: {
      input: z.object({ key: z.string(), value: z.string() }),
      output: z.object({ previous: z.string().nullable(), index: z.number() }),
    },
  },
  queries: {
    get: {
      input: z.object({ key: z.string() }),
      output: z.object({ value: z.string().nullable(), index: z.number() }),
    },
  },
  state: memory(() => new Map<string, [string, number]>()),
  apply: {
    put(state, { key, value }, ctx) {
      const previous = state.get(key)?.[0] ?? null;
      state.set(key, [value, ctx.index]);
      return { previous, index: ctx.index };
    },
  },
  query: {
    get: (state, { key }) => ({ value: state.get(key)?.[0] ?? null, index: state.get(key)?.[1] ?? 0 }),
  },
});

function put(key: string, value: string, session?: Omit<Session, 'ackedBelow'>) {
  return {
    call: encodeCall(MemoryKv, 'command', 'put', { key, value }).payload,
    ...(session ? { session: { ...session, ackedBelow: 0 } } : {}),
  };
}

const TICK_MS = 5;
const ELECTION_TICKS = 10;

function combined(log: MemoryLogStorage, stable: MemoryStableStorage): LogStorage & StableStorage {
  return new Proxy({} as LogStorage & StableStorage, {
    get(_target, key) {
      const source = (key in log ? log : stable) as unknown as Record<PropertyKey, unknown>;
      const value = source[key];
      return typeof value === 'function' ? value.bind(source) : value;
    },
  });
}

class Harness {
  now = 0;
  readonly groups = new Map<number, Replica>();
  /** Nodes that are stopped: they neither receive, send nor tick. */
  readonly paused = new Set<number>();
  /** Messages this says to drop are lost (a one-way network fault). */
  drop: ((from: number, to: number) => boolean) | undefined;
  private readonly inFlight: { from: number; to: number; payload: Uint8Array }[] = [];
  private readonly scheduled = new Set<Replica>();

  async start(ids: readonly number[]): Promise<void> {
    for (const id of ids) {
      const log = new MemoryLogStorage();
      const stable = new MemoryStableStorage();
      await bootstrapStorage(log, stable, ids);
      const group: Replica = new Replica({
        nodeId: id,
        group: 'user:0',
        storage: combined(log, stable),
        machine: new MachineInstance({
          group: 'user:0',
          machine: MemoryKv,
          backend: new MemoryBackend(MemoryKv.state, SESSION_DEFAULTS),
          checkpointEntries: 1_000,
        }),
        raft: {
          electionTicks: ELECTION_TICKS,
          heartbeatTicks: 1,
          checkQuorum: true,
          preVote: true,
          quiesce: false,
        },
        snapshotEntries: 1_000_000,
        compactionMarginEntries: 1_000,
        requestTimeoutMs: 60_000,
        tickMs: TICK_MS,
        now: () => this.now,
        logger: { info: () => {}, warn: () => {}, error: () => {} },
        io: {
          send: (to: number, message: Message) =>
            this.inFlight.push({ from: id, to, payload: encodeMessage(message).slice() }),
          sendSnapshot: () => Promise.reject(new Error('no snapshots in this test')),
          schedule: (g: Replica) => this.scheduled.add(g),
        },
      });
      this.groups.set(id, group);
    }
  }

  /** Processes Readies and delivers messages until nothing moves (messages to or from paused nodes are lost). */
  async settle(): Promise<void> {
    for (let round = 0; round < 100; round++) {
      const ready = [...this.scheduled];
      this.scheduled.clear();
      for (const g of ready) g.processReady();
      await new Promise((resolve) => setImmediate(resolve));
      const messages = this.inFlight.splice(0);
      for (const m of messages) {
        if (this.paused.has(m.from) || this.paused.has(m.to) || this.drop?.(m.from, m.to)) continue;
        this.groups.get(m.to)?.deliver(m.payload);
      }
      if (messages.length === 0 && this.scheduled.size === 0 && ready.length === 0) return;
    }
  }

  /** Real time passes; every running node's ticker fires once per tick. */
  async elapse(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += TICK_MS) {
      this.now += TICK_MS;
      for (const [id, g] of this.groups) if (!this.paused.has(id)) g.tick();
      await this.settle();
    }
  }

  /** Three replicas with node 1 elected leader. */
  static async withLeader(): Promise<{ h: Harness; leader: Replica }> {
    const h = new Harness();
    await h.start([1, 2, 3]);
    h.groups.get(1)!.campaign();
    await h.settle();
    await h.elapse(10 * TICK_MS);
    const leader = h.groups.get(1)!;
    assert.ok(leader.isLeader, 'node 1 leads');
    return { h, leader };
  }

  leader(): Replica | undefined {
    return [...this.groups.entries()].find(([id, g]) => g.isLeader && !this.paused.has(id))?.[1];
  }

  async put(key: string, value: string): Promise<void> {
    const leader = this.leader();
    assert.ok(leader, 'a running leader');
    const written = leader.propose(put(key, value));
    await this.settle();
    await written;
  }
}

test('the clock delivers the ticks real time says are due, keeps the remainder and bounds a burst', () => {
  let now = 1_000;
  const clock = new RaftClock(5, () => now, 8);
  assert.equal(clock.due(), 0);
  now += 4.9;
  assert.equal(clock.due(), 0, 'less than a tick');
  now += 0.2;
  assert.equal(clock.due(), 1);
  now += 12; // 0.1 carried + 12 = 2 ticks and 2.1 ms
  assert.equal(clock.due(), 2);
  now += 2.9;
  assert.equal(clock.due(), 1, 'the remainder was kept');
  now += 10_000;
  assert.equal(clock.due(), 8, 'a long pause is bounded');
  now += 5;
  assert.equal(clock.due(), 1, 'and the skipped ticks do not come back');
});

test('a leader resumed from a pause does not serve a lease read from its expired lease', async () => {
  const { h, leader: old } = await Harness.withLeader();
  const oldId = 1;
  await h.put('x', 'before');
  await h.elapse(4 * TICK_MS); // heartbeat rounds: the lease holds
  const fresh = old.query('get', { key: 'x' }, 'lease');
  await h.settle();
  assert.equal(((await fresh) as { value: string }).value, 'before', 'a lease read while the lease holds');

  // The leader stops; the others elect among themselves and commit a new value.
  h.paused.add(oldId);
  await h.elapse(6 * ELECTION_TICKS * TICK_MS);
  const next = h.leader();
  assert.ok(next && next !== old, 'the others elected a new leader');
  await h.put('x', 'after');

  // The old leader resumes: the first thing it sees is a lease read, before its ticker fires.
  h.paused.delete(oldId);
  const resumed = old.query('get', { key: 'x' }, 'lease').then(
    (value) => ({ value }),
    (error: Error) => ({ error }),
  );
  await h.settle();
  await h.elapse(4 * ELECTION_TICKS * TICK_MS);
  const outcome = await resumed;
  if ('value' in outcome)
    assert.deepEqual(
      outcome.value,
      { value: 'after', index: 6 },
      'never the value overwritten during the pause',
    );
  assert.equal(old.isLeader, false, 'the paused leader stepped down');
});

test('proposals in flight survive a change of leader: they resolve with their result once applied', async () => {
  const { h, leader: old } = await Harness.withLeader();
  // The followers get the entries but their answers are lost, so the leader cannot commit them; then it stops,
  // and another leader (which has them) commits them in its term. etcd's waiters survive this; ours must too.
  h.drop = (_from, to) => to === 1;
  const writes = ['a', 'b', 'c'].map((v, i) => old.propose(put(v, v, { clientId: 'c1', sequence: i + 1 })));
  await h.settle();
  h.paused.add(1);
  await h.elapse(6 * ELECTION_TICKS * TICK_MS);
  const next = h.leader();
  assert.ok(next && next !== old, 'another leader');
  h.paused.delete(1);
  h.drop = undefined;
  await h.elapse(6 * ELECTION_TICKS * TICK_MS);
  assert.equal(old.isLeader, false);
  const results = (await Promise.all(writes)) as { ok: boolean }[];
  assert.ok(
    results.every((r) => r.ok),
    JSON.stringify(results),
  );
  const read = next.query('get', { key: 'c' }, 'linearizable');
  await h.settle();
  assert.equal(((await read) as { value: string }).value, 'c');
});

test('a proposal whose entry another leader overwrote fails with ProposalDropped, not a timeout', async () => {
  const { h, leader: old } = await Harness.withLeader();
  // Cut off, the leader appends an entry nobody else gets; the others elect and commit their own.
  h.paused.add(1);
  const lost = old.propose(put('x', 'lost')).then(
    () => 'applied',
    (error: Error) => error.name,
  );
  await h.elapse(6 * ELECTION_TICKS * TICK_MS);
  await h.put('x', 'kept');
  await h.put('y', 'more');
  h.paused.delete(1);
  await h.elapse(6 * ELECTION_TICKS * TICK_MS);
  assert.equal(old.isLeader, false);
  assert.equal(await lost, 'ProposalDroppedError');
  assert.equal(((await old.query('get', { key: 'x' }, 'stale')) as { value: string }).value, 'kept');
});

test('snapshot gaps are jittered ±25% so that groups under the same load do not snapshot together', () => {
  assert.equal(
    snapshotGap(10_000, () => 0),
    7_500,
  );
  assert.equal(
    snapshotGap(10_000, () => 0.5),
    10_000,
  );
  assert.equal(
    snapshotGap(10_000, () => 0.999_999),
    12_500,
  );
  assert.equal(
    snapshotGap(1, () => 0),
    1,
    'never below one entry',
  );
  const gaps = new Set(Array.from({ length: 36 }, () => snapshotGap(10_000, Math.random)));
  assert.ok(gaps.size > 30, 'thirty-six groups draw different gaps');
});
