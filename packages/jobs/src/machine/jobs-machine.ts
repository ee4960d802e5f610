/**
 * The jobs machine (kind `jobs`): every jobs group runs one, with its state in LMDB (a queue may hold
 * millions of jobs). Commands are what callers and the runtime propose — enqueue, claim (fenced by the
 * dispatcher's term), heartbeat, complete/fail (checked against the claim they present), recover orphans,
 * tick schedules and retention, cancel, retry, schedule — and queries read it at the consistency asked.
 */
import { defineMachine, type MachineStore, type StoreKey, store, z } from '@flotilla/app';
import {
  type JobEvent,
  JobId,
  JobInputSchema,
  type JobRecord,
  type JobState,
  LIMITS,
  partitionsOf,
  QueueName,
  QueueSettings,
  ScheduleSpec,
} from '../model.ts';
import { K } from './keys.ts';
import {
  LISTED_STATES,
  newQueueRecord,
  type QueueRecord,
  readJob,
  readMeta,
  type ScheduleRecord,
  type Stats,
  shardIndexOf,
  type TimeHistogram,
  type WorkerRecord,
} from './records.ts';
import { cronProblem, nextOccurrence } from './schedules.ts';
import { JobsTx } from './tx.ts';

/** The machine kind's name, and the default prefix of the jobs shard set (`jobs:0..N-1`). */
export const JOBS_KIND = 'jobs';

/** Entries a listing of delayed or active jobs reads per job it returns, at most (they mix queues). */
const LIST_SCAN_FACTOR = 20;

/** Delayed jobs promoted, orphans recovered, schedules fired, old jobs removed: per command, at most. */
const MAINTENANCE_BATCH = 1_000;

const jobArray = <T extends z.ZodType>(item: T, max: number) => z.array(item).min(1).max(max);

const ClaimResult = z.object({
  token: z.number(),
  leaseUntil: z.number(),
  /** [id, name, payload, attempt, attempts, timeoutMs, createdAt, worker] per job. */
  jobs: z.array(
    z.tuple([JobId, z.string(), z.unknown(), z.number(), z.number(), z.number(), z.number(), z.string()]),
  ),
});

const Report = z.object({ id: JobId, token: z.number().int().min(1) });

const Finished = z.discriminatedUnion('ok', [
  Report.extend({ ok: z.literal(true), result: z.unknown() }),
  Report.extend({ ok: z.literal(false), error: z.string().max(4_096), retry: z.boolean() }),
]);

const Dispatcher = z.object({ ref: z.unknown(), node: z.number().int(), term: z.number().int() });

const JobView = z.custom<JobRecord>();
const EventView = z.custom<JobEvent>();

export interface QueueCounts {
  readonly settings: QueueRecord['settings'];
  readonly partitions: number;
  readonly counts: QueueRecord['counts'];
  readonly wait: TimeHistogram | null;
  readonly run: TimeHistogram | null;
}

/** Runs `work` in a transaction over the store and writes its records at the end. */
function tx<T>(state: MachineStore, ctx: ConstructorParameters<typeof JobsTx>[1], work: (t: JobsTx) => T): T {
  const t = new JobsTx(state, ctx);
  const result = work(t);
  t.commit();
  return result;
}

export const JobsMachine = defineMachine({
  name: JOBS_KIND,
  state: store(),
  commands: {
    /** The dispatcher, on taking over: the queues' settings from its code, and where it runs. */
    configure: {
      input: z.object({
        groups: z.number().int().min(1).max(1_024),
        queues: z.array(QueueSettings).max(1_000),
        dispatcher: Dispatcher,
      }),
      output: z.object({ workers: z.array(z.custom<WorkerRecord>()) }),
    },
    enqueue: {
      input: z.object({ jobs: jobArray(JobInputSchema, LIMITS.enqueueBatchMax) }),
      /** Per job, `[id, state, deduped]` (an array: this outcome is kept for every enqueue's session). */
      output: z.array(z.tuple([JobId, z.string(), z.boolean()])),
    },
    /** The dispatcher hands ready jobs to workers: one command, many jobs, fenced by its term. */
    claim: {
      input: z.object({
        queue: QueueName,
        grants: z
          .array(
            z.object({ worker: z.string().min(1).max(256), n: z.number().int().min(1).max(LIMITS.claimMax) }),
          )
          .min(1)
          .max(256),
      }),
      output: ClaimResult,
    },
    /** Workers extend the leases of the jobs they run (and report progress), in batches. */
    heartbeat: {
      input: z.object({
        items: jobArray(Report.extend({ progress: z.unknown().optional() }), LIMITS.reportBatchMax),
      }),
      output: z.array(z.object({ id: JobId, ok: z.boolean(), cancel: z.boolean(), leaseUntil: z.number() })),
    },
    /** Workers report finished attempts, each with its claim; stale claims are refused and counted. */
    finish: {
      input: z.object({ items: jobArray(Finished, LIMITS.reportBatchMax) }),
      output: z.array(z.object({ id: JobId, accepted: z.boolean(), reason: z.string().optional() })),
    },
    /** The dispatcher recovers orphans: expired leases, and the claims of workers that are gone. */
    recover: {
      input: z.object({ workers: z.array(z.string()).max(1_000) }),
      output: z.object({ recovered: z.number() }),
    },
    /** The dispatcher's periodic tick: due delayed jobs, due schedules, retention by age. */
    tick: {
      input: z.object({}),
      output: z.object({ promoted: z.number(), fired: z.number(), removed: z.number() }),
    },
    register: {
      input: z.object({
        worker: z.string().min(1).max(256),
        queue: QueueName,
        node: z.number().int(),
        ref: z.unknown(),
        concurrency: z.number().int().min(1),
      }),
      output: z.object({ dispatcher: Dispatcher.nullable() }),
    },
    cancel: { input: z.object({ id: JobId }), output: z.object({ state: z.string() }) },
    retry: { input: z.object({ id: JobId }), output: z.object({ state: z.string() }) },
    schedule: {
      input: ScheduleSpec,
      output: z.object({ nextFireAt: z.number().nullable() }),
    },
    unschedule: { input: z.object({ id: z.string() }), output: z.object({ removed: z.boolean() }) },
  },
  queries: {
    get: { input: z.object({ id: JobId }), output: JobView.nullable() },
    list: {
      input: z.object({
        queue: QueueName,
        state: z.string(),
        /** The `next` of the previous page. */
        after: z.unknown().optional(),
        limit: z.number().int().min(1).max(1_000),
      }),
      output: z.object({ jobs: z.array(JobView), next: z.unknown().nullable() }),
    },
    counts: {
      input: z.object({}),
      output: z.object({
        queues: z.record(z.string(), z.custom<QueueCounts>()),
        stats: z.custom<Stats>(),
        workers: z.number(),
      }),
    },
    /** What the dispatcher has to do at `now`: ready queues, due delays, expired leases, due schedules. */
    pending: {
      input: z.object({ now: z.number() }),
      output: z.object({
        configured: z.boolean(),
        ready: z.array(z.string()),
        delayedDue: z.boolean(),
        expired: z.boolean(),
        schedulesDue: z.boolean(),
        /** The earliest future time something becomes due (0 = nothing scheduled). */
        nextAt: z.number(),
      }),
    },
    events: {
      input: z.object({ after: z.number().int().min(0), limit: z.number().int().min(1).max(10_000) }),
      output: z.object({ events: z.array(EventView), next: z.number(), last: z.number() }),
    },
    workers: { input: z.object({}), output: z.array(z.custom<WorkerRecord>()) },
    schedules: { input: z.object({}), output: z.array(z.custom<ScheduleRecord>()) },
  },
  apply: {
    configure(state, { groups, queues, dispatcher }, ctx) {
      ctx.requireFence();
      return tx(state, ctx, (t) => {
        t.meta.groups = groups;
        t.meta.dispatcher = dispatcher;
        for (const settings of queues) {
          const partitions = partitionsOf(settings, groups);
          const known = t.queue(settings.name);
          t.setQueue(
            settings.name,
            known ? { ...known, settings, partitions } : newQueueRecord(settings, partitions),
          );
        }
        return { workers: [...state.range<WorkerRecord>(K.workers())].map((w) => w.value) };
      });
    },
    enqueue(state, { jobs }, ctx) {
      return tx(state, ctx, (t) =>
        jobs.map((job) => {
          const r = t.enqueue(job);
          return [r.id, r.state, r.deduped] as [string, string, boolean];
        }),
      );
    },
    claim(state, { queue, grants }, ctx) {
      ctx.requireFence();
      return tx(state, ctx, (t) => {
        t.promoteDue(MAINTENANCE_BATCH);
        return t.claim(queue, grants);
      });
    },
    heartbeat(state, { items }, ctx) {
      return tx(state, ctx, (t) =>
        items.map((item) => ({ id: item.id, ...t.heartbeat(item.id, item.token, item.progress) })),
      );
    },
    finish(state, { items }, ctx) {
      return tx(state, ctx, (t) =>
        items.map((item) => ({
          id: item.id,
          ...(item.ok
            ? t.complete(item.id, item.token, item.result)
            : t.fail(item.id, item.token, item.error, item.retry)),
        })),
      );
    },
    recover(state, { workers }, ctx) {
      ctx.requireFence();
      return tx(state, ctx, (t) => ({ recovered: t.recover(workers, MAINTENANCE_BATCH) }));
    },
    tick(state, _input, ctx) {
      ctx.requireFence();
      return tx(state, ctx, (t) => ({
        promoted: t.promoteDue(MAINTENANCE_BATCH),
        fired: t.fireSchedules(MAINTENANCE_BATCH),
        removed: t.retainByAge(MAINTENANCE_BATCH),
      }));
    },
    register(state, input, ctx) {
      const record: WorkerRecord = {
        id: input.worker,
        queue: input.queue,
        node: input.node,
        ref: input.ref,
        concurrency: input.concurrency,
        registeredAt: ctx.timestampMs,
      };
      state.put(K.worker(input.worker), record);
      return { dispatcher: readMeta(state).dispatcher };
    },
    cancel(state, { id }, ctx) {
      return tx(state, ctx, (t) => ({ state: t.cancel(id) }));
    },
    retry(state, { id }, ctx) {
      return tx(state, ctx, (t) => ({ state: t.retry(id) }));
    },
    schedule(state, spec, ctx) {
      const problem = cronProblem(spec.cron, spec.timezone);
      if (problem !== undefined)
        ctx.reject('invalid-cron', `schedule ${spec.id}: ${problem}`, { id: spec.id, cron: spec.cron });
      return tx(state, ctx, (t) => {
        t.requireQueue(spec.queue);
        const old = state.get<ScheduleRecord>(K.schedule(spec.id));
        if (old?.nextFireAt != null) state.delete(K.due(old.nextFireAt, spec.id));
        const next = nextOccurrence(spec.cron, spec.timezone, ctx.timestampMs) ?? null;
        const record: ScheduleRecord = {
          spec,
          nextFireAt: next,
          lastFireAt: old?.lastFireAt ?? null,
          lastJobId: old?.lastJobId ?? null,
          buffered: null,
          fired: old?.fired ?? 0,
          skipped: old?.skipped ?? 0,
        };
        state.put(K.schedule(spec.id), record);
        if (next !== null) state.put(K.due(next, spec.id), spec.id);
        return { nextFireAt: next };
      });
    },
    unschedule(state, { id }) {
      const old = state.get<ScheduleRecord>(K.schedule(id));
      if (old === undefined) return { removed: false };
      if (old.nextFireAt !== null) state.delete(K.due(old.nextFireAt, id));
      state.delete(K.schedule(id));
      return { removed: true };
    },
  },
  query: {
    get: (state, { id }) => readJob(state, id) ?? null,
    list(state, { queue, state: jobState, after, limit }) {
      const jobs: JobRecord[] = [];
      let next: unknown = null;
      if (LISTED_STATES.has(jobState as JobState)) {
        const from = typeof after === 'number' ? after : undefined;
        for (const { key, value } of state.range<string>({ ...K.stateOf(queue, jobState, from), limit })) {
          const job = readJob(state, value);
          if (job !== undefined) jobs.push(job);
          next = (key as readonly number[])[3]!;
        }
        return { jobs, next: jobs.length < limit ? null : next };
      }
      // Waiting, delayed and active jobs are listed from the index that orders them (ready, delay, lease).
      const index =
        jobState === 'waiting'
          ? { start: ['ready', queue] as StoreKey, end: ['ready', queue, '\uffff'] as StoreKey }
          : jobState === 'delayed'
            ? K.delayAll()
            : jobState === 'active'
              ? K.leaseAll()
              : undefined;
      if (index === undefined) return { jobs, next: null };
      const start = Array.isArray(after) ? ([...after, ''] as StoreKey) : index.start;
      let scanned = 0;
      for (const { key, value } of state.range<string | [string, string]>({ start, end: index.end })) {
        if (jobs.length >= limit || ++scanned > limit * LIST_SCAN_FACTOR) break;
        next = key;
        const job = readJob(state, typeof value === 'string' ? value : value[0]);
        if (job !== undefined && job.queue === queue) jobs.push(job);
      }
      return { jobs, next: jobs.length < limit && scanned <= limit * LIST_SCAN_FACTOR ? null : next };
    },
    counts(state) {
      const queues: Record<string, QueueCounts> = {};
      for (const { value } of state.range<QueueRecord>(K.queues()))
        queues[value.settings.name] = {
          settings: value.settings,
          partitions: value.partitions,
          counts: value.counts,
          wait: value.wait ?? null,
          run: value.run ?? null,
        };
      let workers = 0;
      for (const _ of state.range(K.workers())) workers++;
      return { queues, stats: readMeta(state).stats, workers };
    },
    pending(state, { now }, ctx) {
      const ready: string[] = [];
      let configured = false;
      for (const { value } of state.range<QueueRecord>(K.queues())) {
        configured = true;
        const name = value.settings.name;
        if (shardIndexOf(ctx.group) >= value.partitions) continue;
        if (firstOf(state.range({ start: ['tenant', name], end: ['tenant', name, '\uffff'], limit: 1 })))
          ready.push(name);
      }
      const delay = firstOf(state.range<string>({ ...K.delayAll(), limit: 1 }));
      const lease = firstOf(state.range<string>({ ...K.leaseAll(), limit: 1 }));
      const due = firstOf(state.range<string>({ ...K.dueAll(), limit: 1 }));
      const at = (e: { key: unknown } | undefined) =>
        e === undefined ? Number.POSITIVE_INFINITY : ((e.key as readonly number[])[1] as number);
      const nextAt = Math.min(at(delay), at(lease), at(due));
      return {
        configured,
        ready,
        delayedDue: at(delay) <= now,
        expired: at(lease) < now,
        schedulesDue: at(due) <= now,
        nextAt: Number.isFinite(nextAt) ? nextAt : 0,
      };
    },
    events(state, { after, limit }) {
      const events: JobEvent[] = [];
      let next = after;
      for (const { key, value } of state.range<JobEvent[]>(K.eventsAfter(after))) {
        if (events.length >= limit) break;
        events.push(...value);
        next = (key as readonly number[])[1]!;
      }
      const last = readMeta(state).eventNext - 1;
      return { events, next, last };
    },
    workers: (state) => [...state.range<WorkerRecord>(K.workers())].map((w) => w.value),
    schedules: (state) => [...state.range<ScheduleRecord>(K.schedules())].map((s) => s.value),
  },
});

function firstOf<T>(items: Iterable<T>): T | undefined {
  for (const item of items) return item;
  return undefined;
}
