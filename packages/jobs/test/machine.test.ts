/**
 * The jobs machine on the LMDB store, entry by entry as replicas apply it: enqueue, claims within
 * cluster-wide shares, priorities and tenants, leases, stale reports refused, retries with backoff, dead
 * letters, orphans, cancel and retry, dedupe, flows, retention, schedules that fire once per occurrence.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Fence } from '@flotilla/app';
import { type Call, type MachineHarness, StoreFixture } from '../../node/test/machine-helpers.ts';
import {
  type ClaimBatch,
  DEFAULT_QUEUE,
  expandClaims,
  type JobInput,
  type JobRecord,
  JobsMachine,
  type QueueSettings,
} from '../src/index.ts';

const fixture = new StoreFixture();
after(() => fixture.close());

let clock = 1_000_000;

// biome-ignore lint/suspicious/noExplicitAny: results of queries and commands are checked field by field
type Loose = any;

/** Checks a refusal: its reason, and that its message names what it refuses. */
const refused =
  (reason: string, names?: RegExp) =>
  (e: unknown): boolean => {
    const error = e as { reason?: string; message?: string };
    return error.reason === reason && (names === undefined || names.test(error.message ?? ''));
  };

const queue = (name: string, over: Partial<QueueSettings> = {}): QueueSettings => ({
  name,
  ...DEFAULT_QUEUE,
  ...over,
});

const job = (id: string, over: Partial<JobInput> = {}): JobInput => ({
  id: `${id}@0`,
  queue: 'q',
  name: 'noop',
  payload: { id },
  priority: 0,
  delayMs: 0,
  tenant: '',
  attempts: 1,
  backoff: { type: 'fixed', delayMs: 0, jitter: 0 },
  timeoutMs: 0,
  orphans: 'retry',
  failParentOnFailure: true,
  ...over,
});

class Jobs {
  constructor(readonly h: MachineHarness) {}
  run(name: string, input: unknown, extra: Partial<Call> = {}): unknown {
    const [outcome] = this.h.apply(JobsMachine, { name, input, timestampMs: clock, term: 1, ...extra });
    if (outcome === undefined) throw new Error('no outcome');
    if (!outcome.ok) throw Object.assign(new Error(outcome.error.message), outcome.error);
    return outcome.value;
  }
  query(name: string, input: unknown): Loose {
    return this.h.instance.query(name, input);
  }
  enqueue(...jobs: JobInput[]) {
    return (this.run('enqueue', { jobs }) as [string, string, boolean][]).map(([id, state, deduped]) => ({
      id,
      state,
      deduped,
    }));
  }
  finish(items: unknown[]) {
    return this.run('finish', { items }) as { id: string; accepted: boolean; reason?: string }[];
  }
  get(id: string): JobRecord {
    return this.query('get', { id: `${id}@0` }) as JobRecord;
  }
}

let groupSeq = 0;
const nextGroup = () => `jobs${++groupSeq}:0`;

async function open(...queues: QueueSettings[]): Promise<Jobs> {
  const group = nextGroup();
  const j = new Jobs(await fixture.instance(JobsMachine, group));
  FENCE_BY.set(j, { group, term: 1 });
  j.run(
    'configure',
    { groups: 1, queues: queues.length ? queues : [queue('q')], dispatcher: { ref: null, node: 1, term: 1 } },
    { fence: { group, term: 1 } },
  );
  return j;
}
const FENCE_BY = new WeakMap<Jobs, Fence>();
// Commands that need a fence use the group's own.
const fenced = (j: Jobs): Partial<Call> => ({ fence: FENCE_BY.get(j)! });

function claim(j: Jobs, n: number, q = 'q', worker = 'w1') {
  return expandClaims(j.run('claim', { queue: q, grants: [{ worker, n }] }, fenced(j)) as ClaimBatch, q, 'g');
}

test('jobs run in priority order, oldest first within a priority; a completion must present its claim', async () => {
  const j = await open();
  j.enqueue(
    job('a', { priority: 5 }),
    job('b', { priority: 1 }),
    job('c', { priority: 1 }),
    job('d', { priority: -3 }),
  );
  const claimed = claim(j, 3);
  assert.deepEqual(
    claimed.map((c) => c.id),
    ['d@0', 'b@0', 'c@0'],
  );
  const [d, b] = claimed;
  // Wrong token (another claim), then the right one, then the same again (no longer active).
  const results = j.finish([
    { id: d!.id, token: d!.token + 1, ok: true, result: 1 },
    { id: b!.id, token: b!.token, ok: true, result: 'B' },
    { id: b!.id, token: b!.token, ok: true, result: 'again' },
  ]);
  assert.deepEqual(
    results.map((r) => [r.accepted, r.reason]),
    [
      [false, 'other-claim'],
      [true, undefined],
      [false, 'not-active'],
    ],
  );
  assert.equal(j.get('b').state, 'completed');
  assert.equal(j.get('b').result, 'B');
  assert.equal(j.get('d').state, 'active');
  const counts = j.query('counts', {});
  assert.equal(counts.stats.staleRefused, 2);
  assert.equal(counts.queues.q.counts.completed, 1);
  assert.equal(counts.queues.q.counts.active, 2);
  assert.equal(counts.queues.q.counts.waiting, 1);
});

test('a claim is fenced: a command of an older term is refused, and nothing is claimed', async () => {
  const j = await open();
  j.enqueue(job('a'));
  const group = FENCE_BY.get(j)!.group;
  assert.throws(
    () =>
      j.run('claim', { queue: 'q', grants: [{ worker: 'w', n: 1 }] }, { fence: { group, term: 1 }, term: 2 }),
    (e: unknown) => (e as { code?: string }).code === 'FLOTILLA_STALE_FENCE',
  );
  assert.equal(j.get('a').state, 'waiting');
});

test('a lease ends unless heartbeats extend it; the expired claim is recovered and its late report refused', async () => {
  const j = await open(queue('q', { leaseMs: 1_000 }));
  j.enqueue(job('a', { attempts: 3 }), job('b', { attempts: 1, orphans: 'fail' }));
  const [a, b] = claim(j, 2);
  clock += 600;
  const beats = j.run('heartbeat', { items: [{ id: a!.id, token: a!.token, progress: 50 }] }) as Loose[];
  assert.equal(beats[0].ok, true);
  clock += 600; // b's lease is over; a's was extended
  assert.equal((j.query('pending', { now: clock }) as Loose).expired, true);
  const { recovered } = j.run('recover', { workers: [] }, fenced(j)) as { recovered: number };
  assert.equal(recovered, 1);
  assert.equal(j.get('b').state, 'dead'); // orphans: fail
  assert.match(j.get('b').errors[0]!, /lease expired/);
  assert.equal(j.get('a').progress, 50);
  const late = j.finish([{ id: b!.id, token: b!.token, ok: true, result: null }]);
  assert.equal(late[0]!.accepted, false);
  // A worker that is gone: its claims are recovered at once, retried while attempts remain.
  const { recovered: gone } = j.run('recover', { workers: ['w1'] }, fenced(j)) as { recovered: number };
  assert.equal(gone, 1);
  assert.equal(j.get('a').state, 'waiting');
  assert.equal(j.get('a').attemptsMade, 1);
  const [again] = claim(j, 1, 'q', 'w2');
  assert.equal(again!.attempt, 2);
  assert.ok(again!.token > a!.token, 'the fencing token grows with each claim');
});

test('a failed attempt is retried after its backoff, then dead (the dead-letter state), and retry revives it', async () => {
  const j = await open();
  j.enqueue(job('a', { attempts: 2, backoff: { type: 'exponential', delayMs: 1_000, jitter: 0 } }));
  let [a] = claim(j, 1);
  j.finish([{ id: a!.id, token: a!.token, ok: false, error: 'boom', retry: true }]);
  assert.equal(j.get('a').state, 'delayed');
  assert.equal(j.get('a').runAt, clock + 1_000);
  assert.equal(claim(j, 1).length, 0, 'not before its backoff');
  clock += 1_000;
  [a] = claim(j, 1);
  assert.equal(a!.attempt, 2);
  j.finish([{ id: a!.id, token: a!.token, ok: false, error: 'boom again', retry: true }]);
  const dead = j.get('a');
  assert.equal(dead.state, 'dead');
  assert.deepEqual(dead.errors, ['boom', 'boom again']);
  assert.deepEqual((j.run('retry', { id: 'a@0' }) as Loose).state, 'waiting');
  assert.equal(j.get('a').attemptsMade, 0);
  assert.throws(() => j.run('retry', { id: 'a@0' }), refused('not-retryable'));
  const events = j.query('events', { after: 0, limit: 100 }).events.map((e: Loose) => e.state);
  assert.deepEqual(events, ['retrying', 'dead']);
});

test('cancel: a waiting job at once; an active one when its worker hears of it; unknown and finished ones refused', async () => {
  const j = await open();
  j.enqueue(job('a'), job('b', { delayMs: 5_000 }), job('c'));
  assert.equal((j.run('cancel', { id: 'a@0' }) as Loose).state, 'cancelled');
  assert.equal((j.run('cancel', { id: 'b@0' }) as Loose).state, 'cancelled');
  const [c] = claim(j, 5);
  assert.equal(c!.id, 'c@0');
  assert.equal((j.run('cancel', { id: 'c@0' }) as Loose).state, 'active');
  const [beat] = j.run('heartbeat', { items: [{ id: c!.id, token: c!.token }] }) as Loose[];
  assert.equal(beat.cancel, true);
  j.finish([{ id: c!.id, token: c!.token, ok: false, error: 'cancelled', retry: false }]);
  assert.equal(j.get('c').state, 'cancelled');
  assert.throws(() => j.run('cancel', { id: 'zz@0' }), refused('unknown-job', /zz@0/));
  assert.throws(() => j.run('cancel', { id: 'c@0' }), refused('not-cancellable'));
  assert.equal(claim(j, 5).length, 0, 'the delayed job was cancelled too');
});

test('an unknown queue, a job id of another group, a bad schedule: refused, naming it, and nothing enqueued', async () => {
  const j = await open();
  assert.throws(() => j.enqueue(job('a'), job('b', { queue: 'nope' })), refused('unknown-queue', /nope/));
  assert.equal(j.get('a'), null, 'the whole command is refused');
  assert.throws(() => j.enqueue(job('x', { id: 'x@3' })), refused('wrong-group'));
  const spec = {
    id: 's',
    queue: 'q',
    name: 'noop',
    payload: null,
    cron: 'every minute',
    timezone: 'UTC',
    missed: 'skip',
    catchUpWindowMs: 0,
    overlap: 'allow',
    job: {
      priority: 0,
      attempts: 1,
      backoff: { type: 'fixed', delayMs: 0, jitter: 0 },
      timeoutMs: 0,
      orphans: 'retry',
    },
  };
  assert.throws(() => j.run('schedule', spec), refused('invalid-cron', /every minute/));
  assert.throws(
    () => j.run('schedule', { ...spec, cron: '* * * * *', timezone: 'Mars/Olympus' }),
    refused('invalid-cron'),
  );
});

test('dedupe: a duplicate key returns the live job (until it finishes, or for its TTL); a known id likewise', async () => {
  const j = await open();
  const [first] = j.enqueue(job('a', { dedupe: { key: 'k' } }));
  const [dup] = j.enqueue(job('b', { dedupe: { key: 'k' } }));
  assert.equal(dup!.id, first!.id);
  assert.equal(dup!.deduped, true);
  const [same] = j.enqueue(job('a'));
  assert.equal(same!.deduped, true);
  const [a] = claim(j, 1);
  j.finish([{ id: a!.id, token: a!.token, ok: true, result: null }]);
  const [after] = j.enqueue(job('c', { dedupe: { key: 'k' } }));
  assert.equal(after!.deduped, false, 'the holder finished');
  const [ttl] = j.enqueue(job('d', { dedupe: { key: 't', ttlMs: 1_000 } }));
  assert.equal(j.enqueue(job('e', { dedupe: { key: 't', ttlMs: 1_000 } }))[0]!.id, ttl!.id);
  clock += 1_001;
  assert.equal(j.enqueue(job('f', { dedupe: { key: 't', ttlMs: 1_000 } }))[0]!.deduped, false);
});

test('tenants take turns: a tenant with many jobs does not starve the others', async () => {
  const j = await open();
  const jobs: JobInput[] = [];
  for (let i = 0; i < 20; i++) jobs.push(job(`big${i}`, { tenant: 'big' }));
  jobs.push(job('s1', { tenant: 'small' }), job('t1', { tenant: 'tiny' }));
  j.enqueue(...jobs);
  const ids = claim(j, 4).map((c) => c.id);
  assert.ok(ids.includes('s1@0') && ids.includes('t1@0'), `${ids}`);
});

test('concurrency and rate limits hold across the cluster: each group claims only its share', async () => {
  // 4 groups, a limit of 6 at once: group 0 gets 2 (6 = 2+2+1+1); a rate of 5 per second: group 0 gets 2.
  const group = 'jobsx:0';
  const h = await fixture.instance(JobsMachine, group);
  const j = new Jobs(h);
  FENCE_BY.set(j, { group, term: 1 });
  j.run(
    'configure',
    {
      groups: 4,
      queues: [queue('c', { concurrency: 6 }), queue('r', { rateLimit: { max: 5, durationMs: 1_000 } })],
      dispatcher: { ref: null, node: 1, term: 1 },
    },
    fenced(j),
  );
  j.enqueue(...Array.from({ length: 10 }, (_, i) => job(`c${i}`, { queue: 'c' })));
  j.enqueue(...Array.from({ length: 10 }, (_, i) => job(`r${i}`, { queue: 'r' })));
  const c = claim(j, 10, 'c');
  assert.equal(c.length, 2);
  assert.equal(claim(j, 10, 'c').length, 0, 'two are running');
  j.finish([{ id: c[0]!.id, token: c[0]!.token, ok: true, result: null }]);
  assert.equal(claim(j, 10, 'c').length, 1);
  clock = Math.ceil(clock / 1_000) * 1_000;
  assert.equal(claim(j, 10, 'r').length, 2);
  assert.equal(claim(j, 10, 'r').length, 0, 'the window is used up');
  clock += 1_000;
  assert.equal(claim(j, 10, 'r').length, 2, 'a new window');
  // A queue limited to 2 at once spreads over 2 groups only: group 3 refuses its jobs.
  const g3 = 'jobsx:3';
  const other = new Jobs(await fixture.instance(JobsMachine, g3));
  other.run(
    'configure',
    { groups: 4, queues: [queue('two', { concurrency: 2 })], dispatcher: { ref: null, node: 1, term: 1 } },
    { fence: { group: g3, term: 1 } },
  );
  assert.throws(
    () => other.enqueue(job('x', { queue: 'two', id: 'x@3' })),
    refused('wrong-partition', /two/),
  );
});

test('a parent runs when its children are done; a dead child fails it', async () => {
  const j = await open();
  j.enqueue(job('p', { children: [job('c1'), job('c2')] }), job('p2', { children: [job('d1')] }));
  assert.equal(j.get('p').state, 'waiting-children');
  const claimed = claim(j, 10);
  assert.deepEqual(claimed.map((c) => c.id).sort(), ['c1@0', 'c2@0', 'd1@0']);
  const byId = new Map(claimed.map((c) => [c.id, c]));
  j.finish([
    { id: 'c1@0', token: byId.get('c1@0')!.token, ok: true, result: 1 },
    { id: 'd1@0', token: byId.get('d1@0')!.token, ok: false, error: 'no', retry: false },
  ]);
  assert.equal(j.get('p').state, 'waiting-children');
  assert.equal(j.get('p2').state, 'dead');
  j.finish([{ id: 'c2@0', token: byId.get('c2@0')!.token, ok: true, result: 2 }]);
  assert.equal(j.get('p').state, 'waiting');
});

test('retention keeps the newest finished jobs of a queue', async () => {
  const j = await open(queue('q', { keepCompleted: { count: 3, ageMs: 0 } }));
  j.enqueue(...Array.from({ length: 6 }, (_, i) => job(`j${i}`)));
  const claimed = claim(j, 6);
  j.finish(claimed.map((c) => ({ id: c.id, token: c.token, ok: true, result: null })));
  const counts = j.query('counts', {});
  assert.equal(counts.queues.q.counts.completed, 3);
  assert.equal(j.get('j0'), null);
  assert.equal(j.get('j5').state, 'completed');
  assert.equal(j.query('list', { queue: 'q', state: 'completed', limit: 10 }).jobs.length, 3);
});

test('a schedule enqueues each occurrence once, whatever ticks come; missed runs follow its policy', async () => {
  const j = await open();
  clock = Date.UTC(2026, 0, 1, 0, 0, 0);
  const spec = (id: string, missed: string, overlap = 'allow') => ({
    id,
    queue: 'q',
    name: 'noop',
    payload: { id },
    cron: '*/10 * * * * *', // every 10 s
    timezone: 'Europe/Oslo',
    missed,
    catchUpWindowMs: 15_000,
    overlap,
    job: {
      priority: 0,
      attempts: 1,
      backoff: { type: 'fixed', delayMs: 0, jitter: 0 },
      timeoutMs: 0,
      orphans: 'retry',
    },
  });
  for (const [id, missed] of [
    ['skip', 'skip'],
    ['once', 'once'],
    ['all', 'all'],
  ] as const)
    j.run('schedule', spec(id, missed));
  const tick = () => j.run('tick', {}, fenced(j)) as { fired: number };
  clock += 10_000;
  assert.equal(tick().fired, 3, 'each fires its first occurrence');
  assert.equal(tick().fired, 0, 'a second tick at the same time fires nothing');
  clock += 60_000; // six occurrences later: 2 on time (within 15 s), 4 missed
  const fired = tick().fired;
  // skip: 2 on time · once: 1 missed + 2 on time · all: 4 missed + 2 on time
  assert.equal(fired, 2 + 3 + 6);
  const ids = j.query('list', { queue: 'q', state: 'waiting', limit: 100 }).jobs.map((x: JobRecord) => x.id);
  assert.equal(new Set(ids).size, ids.length);
  const all = ids.filter((id: string) => id.startsWith('all.')).length;
  assert.equal(all, 7);
});

test('a schedule whose job is still running skips or buffers an occurrence, by its overlap policy', async () => {
  const j = await open();
  clock = Date.UTC(2026, 0, 2, 0, 0, 0);
  const spec = (id: string, overlap: string) => ({
    id,
    queue: 'q',
    name: 'noop',
    payload: null,
    cron: '* * * * * *', // every second
    timezone: 'UTC',
    missed: 'skip',
    catchUpWindowMs: 10_000,
    overlap,
    job: {
      priority: 0,
      attempts: 1,
      backoff: { type: 'fixed', delayMs: 0, jitter: 0 },
      timeoutMs: 0,
      orphans: 'retry',
    },
  });
  j.run('schedule', spec('skipper', 'skip'));
  j.run('schedule', spec('buffer', 'buffer'));
  clock += 1_000;
  j.run('tick', {}, fenced(j));
  const running = claim(j, 10);
  assert.equal(running.length, 2);
  clock += 3_000;
  j.run('tick', {}, fenced(j));
  assert.equal(claim(j, 10).length, 0, 'both previous jobs still run: nothing new is ready');
  const buffered = running.find((r) => r.id.startsWith('buffer.'))!;
  j.finish([{ id: buffered.id, token: buffered.token, ok: true, result: null }]);
  const next = claim(j, 10);
  assert.equal(next.length, 1);
  assert.ok(next[0]!.id.startsWith('buffer.'));
  const records = j.query('schedules', {}) as Loose[];
  assert.equal(records.find((r) => r.spec.id === 'skipper').skipped, 3);
});
