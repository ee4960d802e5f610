/**
 * The live-queries subscriptions machine on the LMDB store, entry by entry as replicas apply it: subscribe
 * (create, move to another node, refused for another user or past the per-user limit), unsubscribe, the
 * listings and counts by user and by node, presences, and the reaper's fenced removeNode — only what was
 * registered before the node died, in bounded batches with a cursor, the presence last — every change
 * emitted under `<user>/<id>`; bad input refused by the schemas before anything is proposed.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { encodeCall, type WatchEvent } from '@flotilla/app';
import { type Call, type MachineHarness, StoreFixture } from '../../node/test/machine-helpers.ts';
import { LIMITS, LiveSubscriptionsMachine, type Presence, type Subscription } from '../src/index.ts';

const fixture = new StoreFixture();
after(() => fixture.close());

let clock = 1_000_000;

/** Checks a refusal: its reason, and that its message names what it refuses. */
const refused =
  (reason: string, names?: RegExp) =>
  (e: unknown): boolean => {
    const error = e as { reason?: string; message?: string };
    return error.reason === reason && (names === undefined || names.test(error.message ?? ''));
  };

const stale = (e: unknown): boolean => (e as { code?: string }).code === 'FLOTILLA_STALE_FENCE';

const query = (key: string) => ({ group: 'user:0', key });

/** One user shard: its harness, the changes it emitted, and its own fence (the reaper's). */
class Shard {
  readonly changes: WatchEvent[] = [];
  h!: MachineHarness;
  constructor(readonly group: string) {}

  private outcome(calls: Call[]): unknown[] {
    // The harness numbers entries before it encodes them: a call its schema refuses (nothing applied) must
    // not leave a gap in the indices.
    const index = this.h.index;
    let outcomes: ReturnType<MachineHarness['apply']>;
    try {
      outcomes = this.h.apply(LiveSubscriptionsMachine, ...calls);
    } catch (error) {
      this.h.index = index;
      throw error;
    }
    return outcomes.map((outcome) => {
      if (outcome === undefined) throw new Error('no outcome');
      if (!outcome.ok) throw Object.assign(new Error(outcome.error.message), outcome.error);
      return outcome.value;
    });
  }
  run(name: string, input: unknown, extra: Partial<Call> = {}): unknown {
    return this.outcome([{ name, input, timestampMs: clock, term: 1, ...extra }])[0];
  }
  /** Many commands as one batch of consecutive entries (all at the current clock). */
  runMany(name: string, inputs: unknown[]): unknown[] {
    return this.outcome(inputs.map((input) => ({ name, input, timestampMs: clock, term: 1 })));
  }
  /** A query, its input checked (and defaulted) by its schema as a node does. */
  query<T>(name: string, input: unknown): T {
    return this.h.instance.query(name, encodeCall(LiveSubscriptionsMachine, 'query', name, input).input) as T;
  }
  subscribe(id: string, user: string, node: number, revision = 1, key = id) {
    return this.run('subscribe', { id, user, query: query(key), node, revision }) as { created: boolean };
  }
  unsubscribe(id: string) {
    return this.run('unsubscribe', { id }) as { removed: boolean };
  }
  removeNode(input: { node: number; before: number; after?: string }, fenced = true) {
    return this.run('removeNode', input, fenced ? { fence: { group: this.group, term: 1 } } : {}) as {
      removed: number;
      next: string | null;
    };
  }
  get(id: string) {
    return this.query<Subscription | null>('get', { id });
  }
  list(input: { user?: string; node?: number; limit?: number } = {}) {
    return this.query<Subscription[]>('list', input);
  }
  counts() {
    return this.query<{ total: number; byNode: Record<string, number> }>('counts', {});
  }
  presences() {
    return this.query<Presence[]>('presences', {});
  }
  /** The changes emitted since the last call, as [key, data]. */
  takeChanges(): [string, unknown][] {
    return this.changes.splice(0).map(([, key, data]) => [key, data]);
  }
}

let groupSeq = 0;
async function open(): Promise<Shard> {
  const shard = new Shard(`live${++groupSeq}:0`);
  shard.h = await fixture.instance(LiveSubscriptionsMachine, shard.group, {
    onChanges: (_through, events) => shard.changes.push(...events),
  });
  return shard;
}

const ref = (node: number) => ({ path: '/user/live.presence', uid: node * 10, slot: 0, node });

test('subscribe creates a record, indexed by user and by node, and emits it under <user>/<id>', async () => {
  const s = await open();
  clock += 10;
  assert.deepEqual(s.subscribe('a1', 'alice', 1, 7), { created: true });
  const record = s.get('a1')!;
  assert.deepEqual(record, {
    id: 'a1',
    user: 'alice',
    query: query('a1'),
    node: 1,
    revision: 7,
    createdAt: clock,
    updatedAt: clock,
  });
  assert.deepEqual(s.takeChanges(), [['alice/a1', record]]);
  assert.deepEqual(s.list({ user: 'alice' }), [record]);
  assert.deepEqual(s.list({ node: 1 }), [record]);
  assert.deepEqual(s.list({ node: 2 }), []);
  assert.deepEqual(s.counts(), { total: 1, byNode: { '1': 1 } });
  assert.equal(s.get('nope'), null);
});

test('a second subscribe with another node moves it: the node index and counts follow', async () => {
  const s = await open();
  clock += 10;
  const created = clock;
  s.subscribe('a1', 'alice', 1, 3);
  s.subscribe('a2', 'alice', 1, 3);
  s.takeChanges();
  clock += 10;
  assert.deepEqual(s.subscribe('a1', 'alice', 2, 9), { created: false });
  const moved = s.get('a1')!;
  assert.equal(moved.node, 2);
  assert.equal(moved.revision, 9);
  assert.equal(moved.createdAt, created, 'created when first registered');
  assert.equal(moved.updatedAt, clock);
  assert.deepEqual(s.takeChanges(), [['alice/a1', moved]]);
  assert.deepEqual(
    s.list({ node: 1 }).map((r) => r.id),
    ['a2'],
  );
  assert.deepEqual(
    s.list({ node: 2 }).map((r) => r.id),
    ['a1'],
  );
  assert.deepEqual(s.counts(), { total: 2, byNode: { '1': 1, '2': 1 } });
  // Again on the same node (a new resume point): no index or count changes.
  clock += 10;
  assert.deepEqual(s.subscribe('a1', 'alice', 2, 12), { created: false });
  assert.equal(s.get('a1')!.revision, 12);
  assert.deepEqual(s.counts(), { total: 2, byNode: { '1': 1, '2': 1 } });
  assert.equal(s.list({ user: 'alice' }).length, 2);
  // Moving the last one off node 1 removes node 1 from the counts.
  s.subscribe('a2', 'alice', 3, 12);
  assert.deepEqual(s.counts(), { total: 2, byNode: { '2': 1, '3': 1 } });
  assert.deepEqual(s.list({ node: 1 }), []);
});

test('subscribing an id of another user is refused, naming the owner, and changes nothing', async () => {
  const s = await open();
  clock += 10;
  s.subscribe('x', 'alice', 1);
  const before = s.get('x');
  s.takeChanges();
  assert.throws(() => s.subscribe('x', 'bob', 2), refused('wrong-user', /alice/));
  assert.deepEqual(s.get('x'), before);
  assert.deepEqual(s.list({ user: 'bob' }), []);
  assert.deepEqual(s.counts(), { total: 1, byNode: { '1': 1 } });
  assert.deepEqual(s.takeChanges(), [], 'a refused command emits nothing');
});

test(`a user holds at most ${LIMITS.perUserMax} subscriptions; re-subscribing one it holds is fine`, async () => {
  const s = await open();
  clock += 10;
  const inputs = Array.from({ length: LIMITS.perUserMax }, (_, i) => ({
    id: `c${i}`,
    user: 'carol',
    query: query(`k${i}`),
    node: 1 + (i % 3),
    revision: 1,
  }));
  s.runMany('subscribe', inputs);
  assert.throws(() => s.subscribe('c-one-more', 'carol', 1), refused('too-many', /carol/));
  assert.equal(s.get('c-one-more'), null);
  assert.deepEqual(s.subscribe('c0', 'carol', 2), { created: false }, 'an upsert is not a new one');
  assert.deepEqual(s.subscribe('d0', 'dave', 1), { created: true }, 'the limit is per user');
  s.unsubscribe('c1');
  assert.deepEqual(s.subscribe('c-one-more', 'carol', 1), { created: true }, 'room again after one left');
  assert.equal(s.list({ user: 'carol', limit: LIMITS.listMax }).length, LIMITS.perUserMax);
  assert.equal(s.counts().total, LIMITS.perUserMax + 1);
});

test('unsubscribe removes the record, its indexes and counts, emits the removal; again is a no-op', async () => {
  const s = await open();
  clock += 10;
  s.subscribe('a1', 'alice', 1);
  s.subscribe('a2', 'alice', 2);
  s.takeChanges();
  assert.deepEqual(s.unsubscribe('a1'), { removed: true });
  assert.deepEqual(s.takeChanges(), [['alice/a1', { deleted: true, node: 1 }]]);
  assert.equal(s.get('a1'), null);
  assert.deepEqual(
    s.list({ user: 'alice' }).map((r) => r.id),
    ['a2'],
  );
  assert.deepEqual(s.list({ node: 1 }), []);
  assert.deepEqual(s.counts(), { total: 1, byNode: { '2': 1 } });
  assert.deepEqual(s.unsubscribe('a1'), { removed: false });
  assert.deepEqual(s.unsubscribe('never'), { removed: false });
  assert.deepEqual(s.takeChanges(), [], 'nothing to emit when nothing was removed');
  // Freed: the id can be registered again, even by another user.
  assert.deepEqual(s.subscribe('a1', 'bob', 3), { created: true });
  assert.deepEqual(s.counts(), { total: 2, byNode: { '2': 1, '3': 1 } });
});

test('list: by user, by node, all — each bounded by its limit', async () => {
  const s = await open();
  clock += 10;
  for (let i = 0; i < 6; i++) s.subscribe(`a${i}`, 'alice', 1 + (i % 2));
  for (let i = 0; i < 4; i++) s.subscribe(`b${i}`, 'bob', 2);
  const ids = (rs: Subscription[]) => rs.map((r) => r.id).sort();
  assert.deepEqual(ids(s.list({ user: 'alice' })), ['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
  assert.deepEqual(ids(s.list({ user: 'bob' })), ['b0', 'b1', 'b2', 'b3']);
  assert.deepEqual(ids(s.list({ user: 'nobody' })), []);
  assert.deepEqual(ids(s.list({ node: 1 })), ['a0', 'a2', 'a4']);
  assert.deepEqual(ids(s.list({ node: 2 })), ['a1', 'a3', 'a5', 'b0', 'b1', 'b2', 'b3']);
  assert.deepEqual(ids(s.list({ user: 'alice', node: 2 })), ['a1', 'a3', 'a5'], 'both filters');
  assert.equal(s.list().length, 10);
  assert.equal(s.list({ limit: 3 }).length, 3);
  assert.equal(s.list({ user: 'alice', limit: 2 }).length, 2);
  assert.equal(s.list({ node: 2, limit: 5 }).length, 5);
  for (const r of s.list({ node: 2, limit: 5 })) assert.equal(r.node, 2);
  assert.deepEqual(s.counts(), { total: 10, byNode: { '1': 3, '2': 7 } });
  // All of them are listed newest first: a move (a registration again) makes one the newest.
  clock += 10;
  s.subscribe('a0', 'alice', 1);
  assert.deepEqual(
    s.list({ limit: 2 }).map((r) => r.id),
    ['a0', 'b3'],
  );
  assert.equal(s.list().length, 10, 'the time index follows the move: no duplicate');
});

test('presence: an upsert per node, stamped with the log time; presences lists them', async () => {
  const s = await open();
  clock += 10;
  const first = clock;
  assert.deepEqual(s.run('presence', { node: 1, ref: ref(1) }), { ok: true });
  s.run('presence', { node: 2, ref: ref(2) });
  clock += 10;
  s.run('presence', { node: 1, ref: { ...ref(1), uid: 99 } }); // a new incarnation of node 1's actor
  assert.deepEqual(s.presences(), [
    { node: 1, ref: { ...ref(1), uid: 99 }, since: clock },
    { node: 2, ref: ref(2), since: first },
  ]);
  assert.deepEqual(s.takeChanges(), [], 'presences are not subscription changes');
});

test('removeNode is fenced: without a fence, or with a stale one, it is refused and removes nothing', async () => {
  const s = await open();
  clock += 10;
  s.subscribe('a1', 'alice', 1);
  clock += 10;
  assert.throws(() => s.removeNode({ node: 1, before: clock }, false), stale);
  assert.throws(
    () => s.run('removeNode', { node: 1, before: clock }, { fence: { group: s.group, term: 1 }, term: 2 }),
    stale,
    'a fence of an older term of the shard',
  );
  assert.notEqual(s.get('a1'), null);
  assert.deepEqual(s.counts(), { total: 1, byNode: { '1': 1 } });
});

test('removeNode removes only what was registered on the node before `before`; moved or renewed ones stay', async () => {
  const s = await open();
  clock += 10;
  s.subscribe('a1', 'alice', 1);
  s.subscribe('a2', 'alice', 1);
  s.subscribe('b1', 'bob', 1);
  s.subscribe('b2', 'bob', 2);
  s.subscribe('m1', 'bob', 2); // moved to node 1 after `before`: kept
  s.run('presence', { node: 1, ref: ref(1) });
  clock += 10;
  const dead = clock; // node 1 seen dead here
  clock += 10;
  s.subscribe('a2', 'alice', 1, 5); // renewed on node 1 after `before` (registered again): kept
  s.subscribe('m1', 'bob', 1, 5);
  s.takeChanges();
  const r = s.removeNode({ node: 1, before: dead });
  assert.deepEqual(r, { removed: 2, next: null });
  assert.deepEqual(
    s
      .takeChanges()
      .map(([key, data]) => [key, data])
      .sort(),
    [
      ['alice/a1', { deleted: true, node: 1 }],
      ['bob/b1', { deleted: true, node: 1 }],
    ],
  );
  assert.equal(s.get('a1'), null);
  assert.equal(s.get('b1'), null);
  assert.deepEqual(
    s
      .list({ node: 1 })
      .map((x) => x.id)
      .sort(),
    ['a2', 'm1'],
  );
  assert.deepEqual(
    s.list({ user: 'bob' }).map((x) => x.id),
    ['b2', 'm1'],
  );
  assert.deepEqual(s.counts(), { total: 3, byNode: { '1': 2, '2': 1 } });
  assert.deepEqual(s.presences(), [], 'the presence older than `before` is gone with the last batch');
  // Again: nothing left to remove; other nodes untouched.
  assert.deepEqual(s.removeNode({ node: 1, before: dead }), { removed: 0, next: null });
  assert.deepEqual(s.removeNode({ node: 7, before: clock }), { removed: 0, next: null });
  assert.deepEqual(s.counts(), { total: 3, byNode: { '1': 2, '2': 1 } });
});

test(`removeNode pages through more than ${LIMITS.removeBatchMax} subscriptions with its cursor; the presence goes last`, async () => {
  const s = await open();
  const total = LIMITS.removeBatchMax + 1;
  const users = Math.ceil(total / LIMITS.perUserMax);
  clock += 10;
  s.run('presence', { node: 4, ref: ref(4) });
  const inputs = Array.from({ length: total }, (_, i) => ({
    id: `s${String(i).padStart(5, '0')}`,
    user: `u${i % users}`,
    query: query(`k${i}`),
    node: 4,
    revision: 1,
  }));
  for (let i = 0; i < inputs.length; i += 1_000) s.runMany('subscribe', inputs.slice(i, i + 1_000));
  s.subscribe('other', 'u0', 5); // another node's: never touched
  assert.deepEqual(s.counts(), { total: total + 1, byNode: { '4': total, '5': 1 } });
  s.takeChanges();
  clock += 10;
  const before = clock;

  const first = s.removeNode({ node: 4, before });
  assert.equal(first.removed, LIMITS.removeBatchMax);
  assert.equal(first.next, inputs[LIMITS.removeBatchMax - 1]!.id, 'the cursor is the last id of the batch');
  assert.equal(s.takeChanges().length, LIMITS.removeBatchMax, 'one removal emitted per subscription');
  assert.deepEqual(s.counts(), { total: 2, byNode: { '4': 1, '5': 1 } });
  assert.equal(s.presences().length, 1, 'the presence stays while subscriptions remain');

  const second = s.removeNode({ node: 4, before, after: first.next! });
  assert.deepEqual(second, { removed: 1, next: null });
  const last = inputs.at(-1)!;
  assert.deepEqual(s.takeChanges(), [[`${last.user}/${last.id}`, { deleted: true, node: 4 }]]);
  assert.deepEqual(s.counts(), { total: 1, byNode: { '5': 1 } });
  assert.deepEqual(s.list({ node: 4 }), []);
  assert.deepEqual(s.presences(), []);
  assert.notEqual(s.get('other'), null);
});

test('removeNode keeps a presence announced at or after `before` (the node came back)', async () => {
  const s = await open();
  clock += 10;
  s.subscribe('a1', 'alice', 1);
  s.run('presence', { node: 2, ref: ref(2) });
  const before = clock;
  s.run('presence', { node: 1, ref: ref(1) }); // since === before: not older
  assert.deepEqual(
    s.removeNode({ node: 1, before }),
    { removed: 0, next: null },
    'updatedAt is not < before',
  );
  assert.deepEqual(
    s.presences().map((p) => p.node),
    [1, 2],
  );
  clock += 10;
  assert.deepEqual(s.removeNode({ node: 1, before: clock }), { removed: 1, next: null });
  assert.deepEqual(
    s.presences().map((p) => p.node),
    [2],
    "only node 1's presence is removed",
  );
  // A node with no subscriptions at all: its old presence is removed at once.
  clock += 10;
  assert.deepEqual(s.removeNode({ node: 2, before: clock }), { removed: 0, next: null });
  assert.deepEqual(s.presences(), []);
});

test('bad input is refused by the schemas (SchemaError naming the field) before anything is applied', async () => {
  const s = await open();
  clock += 10;
  const applied = s.h.instance.appliedIndex;
  const schema = (field: RegExp) => (e: unknown) =>
    (e as { code?: string }).code === 'FLOTILLA_SCHEMA' && field.test((e as Error).message);
  const good = { id: 'a1', user: 'alice', query: query('k'), node: 1, revision: 0 };
  assert.throws(() => s.run('subscribe', { ...good, user: 'bad user!' }), schema(/user/));
  assert.throws(() => s.run('subscribe', { ...good, user: '' }), schema(/user/));
  assert.throws(() => s.run('subscribe', { ...good, user: 'u'.repeat(129) }), schema(/user/));
  assert.throws(() => s.run('subscribe', { ...good, id: 'a/1' }), schema(/id/));
  assert.throws(() => s.run('subscribe', { ...good, node: 0 }), schema(/node/));
  assert.throws(() => s.run('subscribe', { ...good, revision: -1 }), schema(/revision/));
  assert.throws(
    () => s.run('subscribe', { ...good, query: { group: 'user:0', key: 'k', prefix: 'p' } }),
    schema(/key/),
  );
  assert.throws(() => s.run('subscribe', { ...good, query: { group: 'user:0' } }), schema(/key/));
  assert.throws(() => s.run('presence', { node: 1, ref: { path: 7 } }), schema(/ref/));
  assert.throws(() => s.removeNode({ node: 1, before: clock, after: 'bad id!' }), schema(/after/));
  assert.throws(() => s.list({ user: 'bad user!' }), schema(/user/));
  assert.throws(() => s.list({ limit: LIMITS.listMax + 1 }), schema(/limit/));
  assert.equal(s.h.instance.appliedIndex, applied, 'nothing was applied');
  assert.equal(s.h.index, applied);
  assert.deepEqual(s.counts(), { total: 0, byNode: {} });
  // A good prefix query is accepted.
  assert.deepEqual(s.run('subscribe', { ...good, query: { group: 'user:0', prefix: 'k/' } }), {
    created: true,
  });
});
