/**
 * `Jobs`: the jobs API over any `Calls` (a client's, or an actor's through its gateway) — enqueue (one, in
 * bulk, a parent with its children), get, cancel, retry, list by state, counts, the stream of finished
 * jobs, and cron schedules. Typed by `defineJob` when the definitions are at hand; by name otherwise (the
 * CLI). Routing: a job's id names its jobs group; a dedupe key or a parent decides the group.
 */
import { ApplicationError, type Calls, encodeValue, parseWith, type z } from '@flotilla/app';
import { ShardRouter } from '@flotilla/core';
import { type AnyJobType, DEFAULT_BACKOFF, type JobOptions, type JobsDefinition } from './define.ts';
import { JobsError } from './errors.ts';
import { JOBS_KIND, JobsMachine, type QueueCounts } from './machine/jobs-machine.ts';
import { type ScheduleRecord, type Stats, shardOfJobId } from './machine/records.ts';
import {
  type Backoff,
  JOB_STATES,
  type JobEvent,
  type JobInput,
  type JobRecord,
  type JobState,
  LIMITS,
  partitionsOf,
  type QueueSettings,
  ScheduleSpec,
} from './model.ts';

/** Per enqueue, besides the job type's defaults. */
export interface EnqueueOptions extends JobOptions {
  /** Your id for the job (an existing job with it stands for this one, as in BullMQ). */
  readonly jobId?: string;
  readonly delayMs?: number;
  /** Jobs of one tenant take turns with other tenants' (fair scheduling). */
  readonly tenant?: string;
  /** At most one unfinished job (or one within `ttlMs`) per key in the queue; a duplicate returns it. */
  readonly dedupe?: { readonly key: string; readonly ttlMs?: number };
  /** A failed (dead) child fails its parent (default true). */
  readonly failParentOnFailure?: boolean;
}

/** A job to enqueue by name (no handler at hand): the CLI and other languages' shape. */
export interface NamedJob {
  readonly queue: string;
  readonly name: string;
  readonly payload: unknown;
  readonly options?: EnqueueOptions;
}

export interface FlowSpec {
  readonly parent: NamedJob;
  readonly children: readonly NamedJob[];
}

export interface JobsSummary {
  readonly queues: Record<string, { settings: QueueSettings; counts: Record<JobState, number> }>;
  readonly stats: Stats;
  readonly workers: number;
}

/** Bound on one call of this API. */
const CALL_TIMEOUT_MS = 10_000;
/** Reads of the API that may lag a leader change by a lease (counts, listings, schedules). */
const LEASE_READ = { consistency: 'lease', timeoutMs: CALL_TIMEOUT_MS } as const;
/** Jobs per page of a listing. */
const LIST_PAGE = 1_000;
/** How often `events()` and `waitFor` look again when nothing new came. */
const POLL_MS = 50;

const randomId = (): string =>
  `${Date.now().toString(36)}${Math.floor(Math.random() * 2 ** 40).toString(36)}`;

export class Jobs {
  private settings: Map<string, QueueSettings> | undefined;
  private readonly router: ShardRouter;

  /**
   * `definition` (from `defineJobs`) gives types and the queues' settings; without it, the settings are
   * read from the cluster on first use and jobs are enqueued by name.
   */
  constructor(
    private readonly calls: Calls,
    private readonly definition?: JobsDefinition,
    options: { prefix?: string; groups?: number } = {},
  ) {
    const groups = definition?.groups ?? options.groups;
    if (groups === undefined)
      throw new JobsError('invalid-option', 'groups', 'pass the jobs definition or { groups }');
    this.router = new ShardRouter(definition?.prefix ?? options.prefix ?? JOBS_KIND, groups);
    if (definition) this.settings = new Map([...definition.queues].map(([k, v]) => [k, v]));
  }

  get prefix(): string {
    return this.router.prefix;
  }

  get groups(): number {
    return this.router.shardCount;
  }

  private group(shard: number): string {
    return `${this.router.prefix}:${shard}`;
  }

  private async queueSettings(queue: string): Promise<QueueSettings> {
    if (this.settings === undefined || !this.settings.has(queue)) {
      const counts = await this.calls.query(
        JobsMachine,
        this.group(0),
        'counts',
        {},
        { consistency: 'lease', timeoutMs: CALL_TIMEOUT_MS },
      );
      this.settings = new Map(Object.entries(counts.queues).map(([k, v]) => [k, v.settings]));
    }
    const s = this.settings.get(queue);
    if (s === undefined)
      throw new JobsError('unknown-queue', queue, `queue ${JSON.stringify(queue)} is not configured`);
    return s;
  }

  /**
   * Resolves once every jobs group has a leader whose dispatcher configured the queues (bounded): before
   * that, an enqueue may be refused as an unknown queue.
   */
  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const left = new Set(this.router.groups());
    for (;;) {
      for (const group of [...left]) {
        try {
          const p = await this.calls.query(
            JobsMachine,
            group,
            'pending',
            { now: Date.now() },
            { consistency: 'lease', timeoutMs: 2_000 },
          );
          if (p.configured) left.delete(group);
        } catch {
          // No leader yet.
        }
      }
      if (left.size === 0) return;
      if (Date.now() > deadline)
        throw new JobsError(
          'timeout',
          [...left].join(','),
          `jobs groups ${[...left].join(', ')} not configured after ${timeoutMs} ms`,
        );
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** The job of `type` with `input` (checked against its schema). Resolves with its id. */
  async enqueue<T extends AnyJobType>(
    type: T,
    input: z.input<T['input']>,
    options: EnqueueOptions = {},
  ): Promise<string> {
    const [id] = await this.enqueueMany([this.typed(type, input, options)]);
    return id!;
  }

  /** Many jobs, in as few commands as their groups allow. Resolves with their ids, in order. */
  async enqueueBulk<T extends AnyJobType>(
    items: readonly { type: T; input: z.input<T['input']>; options?: EnqueueOptions }[],
  ): Promise<string[]> {
    return this.enqueueMany(items.map((i) => this.typed(i.type, i.input, i.options ?? {})));
  }

  /** By name: the payload is checked by the worker (a job type nobody handles dies with that reason). */
  async enqueueNamed(jobs: readonly NamedJob[]): Promise<string[]> {
    return this.enqueueMany(jobs);
  }

  /** A parent that runs when its children are done (all in the parent's jobs group). */
  async enqueueFlow(flow: FlowSpec): Promise<{ parent: string; children: string[] }> {
    const settings = await this.queueSettings(flow.parent.queue);
    const shard = this.shardFor(flow.parent, settings);
    const children: JobInput[] = [];
    for (const c of flow.children) children.push(await this.input(c, shard));
    const parent = { ...(await this.input(flow.parent, shard)), children };
    const [result] = await this.execEnqueue(shard, [parent]);
    return { parent: result!.id, children: children.map((c) => c.id) };
  }

  private typed(type: AnyJobType, input: unknown, options: EnqueueOptions): NamedJob {
    if (this.definition !== undefined && this.definition.types.get(type.name) !== type)
      throw new JobsError(
        'unknown-job-type',
        type.name,
        `job type ${type.name} is not in the jobs definition`,
      );
    const payload = parseWith(type.input, input, `job ${type.name}`, 'input');
    return {
      queue: type.queue,
      name: type.name,
      payload,
      options: {
        priority: type.defaults.priority,
        attempts: type.defaults.attempts,
        backoff: type.defaults.backoff,
        timeoutMs: type.defaults.timeoutMs,
        orphans: type.defaults.orphans,
        ...options,
      },
    };
  }

  private shardFor(job: NamedJob, settings: QueueSettings): number {
    const partitions = partitionsOf(settings, this.groups);
    const key = job.options?.dedupe
      ? `${job.queue}\u0000${job.options.dedupe.key}`
      : (job.options?.jobId ?? randomId());
    return new ShardRouter(this.prefix, partitions).shardOf(key);
  }

  private async input(job: NamedJob, shard: number): Promise<JobInput> {
    await this.queueSettings(job.queue);
    const o = job.options ?? {};
    const bytes = encodeValue(job.payload).length;
    if (bytes > LIMITS.payloadBytesMax)
      throw new JobsError(
        'payload-too-large',
        job.name,
        `payload of ${job.name} is ${bytes} bytes; the limit is ${LIMITS.payloadBytesMax}`,
      );
    const backoff: Backoff = { ...DEFAULT_BACKOFF, ...o.backoff };
    const name = o.jobId ?? randomId();
    if (name.includes('@'))
      throw new JobsError('invalid-option', 'jobId', `job ids may not contain @ (${name})`);
    return {
      id: `${name}@${shard}`,
      queue: job.queue,
      name: job.name,
      payload: job.payload,
      priority: o.priority ?? 0,
      delayMs: o.delayMs ?? 0,
      tenant: o.tenant ?? '',
      attempts: o.attempts ?? 1,
      backoff,
      timeoutMs: o.timeoutMs ?? 0,
      orphans: o.orphans ?? 'retry',
      ...(o.dedupe ? { dedupe: o.dedupe } : {}),
      failParentOnFailure: o.failParentOnFailure ?? true,
    };
  }

  private async enqueueMany(jobs: readonly NamedJob[]): Promise<string[]> {
    const byShard = new Map<number, { at: number; input: JobInput }[]>();
    for (let at = 0; at < jobs.length; at++) {
      const job = jobs[at]!;
      const settings = await this.queueSettings(job.queue);
      const shard =
        job.options?.jobId && !job.options.dedupe
          ? new ShardRouter(this.prefix, partitionsOf(settings, this.groups)).shardOf(job.options.jobId)
          : this.shardFor(job, settings);
      const list = byShard.get(shard) ?? [];
      list.push({ at, input: await this.input(job, shard) });
      byShard.set(shard, list);
    }
    const ids = new Array<string>(jobs.length);
    await Promise.all(
      [...byShard].map(async ([shard, items]) => {
        for (let i = 0; i < items.length; i += LIMITS.enqueueBatchMax) {
          const chunk = items.slice(i, i + LIMITS.enqueueBatchMax);
          const results = await this.execEnqueue(
            shard,
            chunk.map((c) => c.input),
          );
          results.forEach((r, k) => {
            ids[chunk[k]!.at] = r.id;
          });
        }
      }),
    );
    return ids;
  }

  private async execEnqueue(
    shard: number,
    jobs: JobInput[],
  ): Promise<{ id: string; state: string; deduped: boolean }[]> {
    const results = await this.mapped(() =>
      this.calls.execute(JobsMachine, this.group(shard), 'enqueue', { jobs }, { timeoutMs: CALL_TIMEOUT_MS }),
    );
    return results.map(([id, state, deduped]) => ({ id, state, deduped }));
  }

  /** The machine's refusals as `JobsError`s naming what they refuse. */
  private async mapped<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof ApplicationError) {
        const d = (error.details ?? {}) as Record<string, unknown>;
        const subject = String(d.id ?? d.queue ?? d.cron ?? '');
        throw new JobsError(error.reason, subject, error.message);
      }
      throw error;
    }
  }

  private groupOfId(id: string): string {
    const shard = shardOfJobId(id);
    if (!id.includes('@') || !Number.isSafeInteger(shard) || shard < 0 || shard >= this.groups)
      throw new JobsError('unknown-job', id, `no job ${id} (job ids end with @<shard> below ${this.groups})`);
    return this.group(shard);
  }

  async get(id: string): Promise<JobRecord | null> {
    return this.calls.query(
      JobsMachine,
      this.groupOfId(id),
      'get',
      { id },
      { consistency: 'linearizable', timeoutMs: CALL_TIMEOUT_MS },
    );
  }

  /** Cancels a waiting job at once; an active one's handler sees its signal fire and the job ends cancelled. */
  async cancel(id: string): Promise<JobState> {
    const group = this.groupOfId(id);
    const { state } = await this.mapped(() =>
      this.calls.execute(JobsMachine, group, 'cancel', { id }, { timeoutMs: CALL_TIMEOUT_MS }),
    );
    return state as JobState;
  }

  /** Runs a dead or cancelled job again, with its attempts renewed. */
  async retry(id: string): Promise<JobState> {
    const group = this.groupOfId(id);
    const { state } = await this.mapped(() =>
      this.calls.execute(JobsMachine, group, 'retry', { id }, { timeoutMs: CALL_TIMEOUT_MS }),
    );
    return state as JobState;
  }

  /** Jobs of `queue` in `state`, from every group, up to `limit` of each group (read page by page). */
  async list(queue: string, state: JobState, limit = 100): Promise<JobRecord[]> {
    if (!JOB_STATES.includes(state))
      throw new JobsError('invalid-option', 'state', `state must be one of ${JOB_STATES.join(', ')}`);
    const lists = await Promise.all(
      this.router.groups().map(async (group) => {
        const out: JobRecord[] = [];
        let after: unknown;
        while (out.length < limit) {
          const page = await this.calls.query(
            JobsMachine,
            group,
            'list',
            {
              queue,
              state,
              limit: Math.min(LIST_PAGE, limit - out.length),
              ...(after === undefined ? {} : { after }),
            },
            { consistency: 'lease', timeoutMs: CALL_TIMEOUT_MS },
          );
          out.push(...page.jobs);
          if (page.next === null) break;
          after = page.next;
        }
        return out;
      }),
    );
    return lists.flat().sort((a, b) => (a.finishedAt ?? a.createdAt) - (b.finishedAt ?? b.createdAt));
  }

  /** `query` of every jobs group, at once, in group order. */
  private onEveryGroup<T>(query: (group: string) => Promise<T>): Promise<T[]> {
    return Promise.all(this.router.groups().map(query));
  }

  /** Counts by queue and state, and the counters, summed over every jobs group. */
  async summary(): Promise<JobsSummary> {
    const all = await this.onEveryGroup((g) => this.calls.query(JobsMachine, g, 'counts', {}, LEASE_READ));
    const queues: JobsSummary['queues'] = {};
    const stats = {} as Record<keyof Stats, number>;
    let workers = 0;
    for (const c of all) {
      workers = Math.max(workers, c.workers);
      for (const [k, v] of Object.entries(c.stats))
        stats[k as keyof Stats] = (stats[k as keyof Stats] ?? 0) + v;
      for (const [name, q] of Object.entries(c.queues) as [string, QueueCounts][]) {
        const into = queues[name];
        if (into === undefined) queues[name] = { settings: q.settings, counts: { ...q.counts } };
        else for (const s of JOB_STATES) into.counts[s] += q.counts[s];
      }
    }
    return { queues, stats: stats as Stats, workers };
  }

  /**
   * Finished, retried and cancelled jobs as they happen, from every group (at least once: a cursor per group
   * resumes where it was). Stops when `signal` fires.
   */
  async *events(options: { signal?: AbortSignal; fromStart?: boolean } = {}): AsyncGenerator<JobEvent> {
    const cursors = new Map<string, number>();
    for (const group of this.router.groups()) {
      const { last } = await this.calls.query(
        JobsMachine,
        group,
        'events',
        { after: 0, limit: 1 },
        {
          consistency: 'lease',
          timeoutMs: CALL_TIMEOUT_MS,
        },
      );
      cursors.set(group, options.fromStart ? 0 : last);
    }
    while (!options.signal?.aborted) {
      let got = 0;
      for (const group of this.router.groups()) {
        try {
          const { events, next } = await this.calls.query(
            JobsMachine,
            group,
            'events',
            { after: cursors.get(group)!, limit: 1_000 },
            { consistency: 'lease', timeoutMs: CALL_TIMEOUT_MS },
          );
          cursors.set(group, next);
          for (const e of events) yield e;
          got += events.length;
        } catch {
          // A group without a leader for a moment: its events come on a later look.
        }
      }
      if (got === 0) await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** Resolves with the job once it is completed, dead or cancelled (or rejects after `timeoutMs`). */
  async waitFor(id: string, timeoutMs = 30_000): Promise<JobRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.get(id);
      if (job === null) throw new JobsError('unknown-job', id, `no job ${id}`);
      if (job.state === 'completed' || job.state === 'dead' || job.state === 'cancelled') return job;
      if (Date.now() > deadline)
        throw new JobsError('timeout', id, `job ${id} is still ${job.state} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** Creates or replaces a cron schedule; resolves with its next fire time. */
  async schedule(spec: {
    id: string;
    queue: string;
    name: string;
    payload: unknown;
    cron: string;
    timezone?: string;
    missed?: 'skip' | 'once' | 'all';
    catchUpWindowMs?: number;
    overlap?: 'skip' | 'allow' | 'buffer';
    job?: JobOptions;
  }): Promise<number | null> {
    const settings = await this.queueSettings(spec.queue);
    const full = parseWith(
      ScheduleSpec,
      {
        id: spec.id,
        queue: spec.queue,
        name: spec.name,
        payload: spec.payload,
        cron: spec.cron,
        timezone: spec.timezone ?? 'UTC',
        missed: spec.missed ?? 'once',
        catchUpWindowMs: spec.catchUpWindowMs ?? 60_000,
        overlap: spec.overlap ?? 'allow',
        job: {
          priority: spec.job?.priority ?? 0,
          attempts: spec.job?.attempts ?? 1,
          backoff: { ...DEFAULT_BACKOFF, ...spec.job?.backoff },
          timeoutMs: spec.job?.timeoutMs ?? 0,
          orphans: spec.job?.orphans ?? 'retry',
        },
      },
      'jobs.schedule',
      spec.id,
    );
    const shard = new ShardRouter(this.prefix, partitionsOf(settings, this.groups)).shardOf(
      `schedule\u0000${spec.id}`,
    );
    const { nextFireAt } = await this.mapped(() =>
      this.calls.execute(JobsMachine, this.group(shard), 'schedule', full, { timeoutMs: CALL_TIMEOUT_MS }),
    );
    return nextFireAt;
  }

  async unschedule(id: string): Promise<boolean> {
    const results = await Promise.all(
      this.router
        .groups()
        .map((group) =>
          this.calls.execute(JobsMachine, group, 'unschedule', { id }, { timeoutMs: CALL_TIMEOUT_MS }),
        ),
    );
    return results.some((r) => r.removed);
  }

  async schedules(): Promise<ScheduleRecord[]> {
    const all = await this.onEveryGroup((g) => this.calls.query(JobsMachine, g, 'schedules', {}, LEASE_READ));
    return all.flat();
  }
}
