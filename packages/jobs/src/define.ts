/**
 * How an application declares its jobs: `defineJob` (a typed handler and its default options, BullMQ's and
 * more) and `defineJobs` (the queues with their cluster-wide limits and per-node worker pools, the job types,
 * how many jobs groups) — which yields the pieces to give `defineApp`: the jobs machine, the shard set, a
 * dispatcher on each jobs group's leader, a worker pool per queue on every node, and a dashboard tab.
 */
import { actorKind } from '@flotilla/actors';
import { type ActorKindRef, type AppSpec, InvalidConfigError, parseWith, type z } from '@flotilla/app';
import { jobsTab } from './dashboard.ts';
import { JOBS_KIND, JobsMachine } from './machine/jobs-machine.ts';
import { jobsMetrics } from './metrics.ts';
import {
  type Backoff,
  DEFAULT_QUEUE,
  JobTypeName,
  type OrphanPolicy,
  QueueName,
  QueueSettings,
} from './model.ts';

/** What a handler gets besides its input. */
export interface JobContext {
  readonly id: string;
  readonly queue: string;
  readonly name: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly attempts: number;
  /**
   * The fencing token of this attempt's claim: it only grows for a job (and its jobs group). Pass it to
   * external systems, which refuse writes with a lower token than one they have seen: effects then happen
   * once even when a stale attempt still runs.
   */
  readonly token: number;
  readonly group: string;
  /** The worker pool running it: `<node>/<queue>/<uid>`. */
  readonly worker: string;
  /** Fired when the claim is lost (lease expired, the job cancelled, the attempt timed out). */
  readonly signal: AbortSignal;
  /** Records progress (sent with the next heartbeat; the last value wins). */
  progress(value: unknown): void;
}

export interface JobOptions {
  /** Lower runs first (default 0). */
  readonly priority?: number;
  readonly attempts?: number;
  readonly backoff?: Partial<Backoff>;
  /** Per attempt; 0 = none. */
  readonly timeoutMs?: number;
  /** A job whose claim expires (its worker died or stalled): retried (as an attempt) or failed. */
  readonly orphans?: OrphanPolicy;
}

export interface JobTypeSpec<Name extends string, I extends z.ZodType, O extends z.ZodType>
  extends JobOptions {
  readonly name: Name;
  readonly queue: string;
  readonly input: I;
  readonly output: O;
  readonly handler: (input: z.output<I>, ctx: JobContext) => Promise<z.input<O>> | z.input<O>;
}

export interface JobType<
  Name extends string = string,
  I extends z.ZodType = z.ZodType,
  O extends z.ZodType = z.ZodType,
> extends JobTypeSpec<Name, I, O> {
  readonly __job: true;
  /** The options every job of this type gets unless an enqueue overrides them. */
  readonly defaults: Required<Omit<JobOptions, 'backoff'>> & { readonly backoff: Backoff };
}

// biome-ignore lint/suspicious/noExplicitAny: the widest job type, for registries
export type AnyJobType = JobType<string, any, any>;

export const DEFAULT_BACKOFF: Backoff = { type: 'exponential', delayMs: 1_000, jitter: 0.25 };

export function defineJob<const Name extends string, I extends z.ZodType, O extends z.ZodType>(
  spec: JobTypeSpec<Name, I, O>,
): JobType<Name, I, O> {
  parseWith(JobTypeName, spec.name, 'job', 'name');
  parseWith(QueueName, spec.queue, `job ${spec.name}`, 'queue');
  if (typeof spec.handler !== 'function')
    throw new InvalidConfigError(`jobs.${spec.name}.handler`, 'must be a function');
  return Object.freeze({
    ...spec,
    __job: true as const,
    defaults: {
      priority: spec.priority ?? 0,
      attempts: spec.attempts ?? 1,
      backoff: { ...DEFAULT_BACKOFF, ...spec.backoff },
      timeoutMs: spec.timeoutMs ?? 0,
      orphans: spec.orphans ?? 'retry',
    },
  });
}

/** A queue as the application configures it: cluster-wide limits, and the worker pool on each node. */
export interface QueueSpec {
  /** Jobs of this queue running at once across the cluster (0 or absent = no limit). */
  readonly concurrency?: number;
  /** At most `max` starts per `durationMs` across the cluster. */
  readonly rateLimit?: { readonly max: number; readonly durationMs: number };
  readonly leaseMs?: number;
  readonly keepCompleted?: { readonly count?: number; readonly ageMs?: number };
  readonly keepDead?: { readonly count?: number; readonly ageMs?: number };
  /** Handlers run at once per node by this queue's pool (0 = this queue has no workers). */
  readonly workersPerNode: number;
}

export interface JobsSpec {
  /** `import.meta.url` of the module that exports this definition, and the export's name: workers load it. */
  readonly module: string;
  readonly exportName: string;
  readonly queues: Readonly<Record<string, QueueSpec>>;
  readonly types: readonly AnyJobType[];
  /** Jobs groups (`<prefix>:0..groups-1`): several, so that one leader is not the ceiling. */
  readonly groups: number;
  /** Default `jobs`. */
  readonly prefix?: string;
}

export interface JobsDefinition {
  readonly __jobs: true;
  readonly prefix: string;
  readonly groups: number;
  readonly queues: ReadonlyMap<string, QueueSettings & { readonly workersPerNode: number }>;
  readonly types: ReadonlyMap<string, AnyJobType>;
  /** The parts to spread into `defineApp`: machine, shard set, dispatchers, worker pools, dashboard tab. */
  readonly app: Required<
    Pick<AppSpec, 'machines' | 'shards' | 'actors' | 'leaderActors' | 'dashboard' | 'metrics'>
  >;
}

/** The runtime's actor kinds (loaded by module reference on whichever thread runs them). */
const RUNTIME = new URL('./runtime/', import.meta.url);
const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
export const DispatcherKind: ActorKindRef = actorKind(new URL(`dispatcher${ext}`, RUNTIME), 'Dispatcher');
export const WorkerPoolKind: ActorKindRef = actorKind(new URL(`worker-pool${ext}`, RUNTIME), 'WorkerPool');

/** Worker pools are named `jobs.pool.<queue>` on every node. */
export const poolName = (queue: string): string => `jobs.pool.${queue}`;

export function defineJobs(spec: JobsSpec): JobsDefinition {
  const prefix = spec.prefix ?? JOBS_KIND;
  if (!Number.isSafeInteger(spec.groups) || spec.groups < 1 || spec.groups > 1_024)
    throw new InvalidConfigError('jobs.groups', 'must be an integer from 1 to 1024');
  if (!spec.module.startsWith('file:') && !spec.module.startsWith('/'))
    throw new InvalidConfigError(
      'jobs.module',
      'must be import.meta.url of the module exporting the definition',
    );
  const queues = new Map<string, QueueSettings & { workersPerNode: number }>();
  for (const [name, q] of Object.entries(spec.queues)) {
    const settings = parseWith(
      QueueSettings,
      {
        name,
        concurrency: q.concurrency ?? DEFAULT_QUEUE.concurrency,
        rateLimit: q.rateLimit ?? DEFAULT_QUEUE.rateLimit,
        leaseMs: q.leaseMs ?? DEFAULT_QUEUE.leaseMs,
        keepCompleted: { ...DEFAULT_QUEUE.keepCompleted, ...q.keepCompleted },
        keepDead: { ...DEFAULT_QUEUE.keepDead, ...q.keepDead },
      },
      'jobs.queues',
      name,
    );
    if (!Number.isSafeInteger(q.workersPerNode) || q.workersPerNode < 0)
      throw new InvalidConfigError(`jobs.queues.${name}.workersPerNode`, 'must be an integer ≥ 0');
    queues.set(name, { ...settings, workersPerNode: q.workersPerNode });
  }
  const types = new Map<string, AnyJobType>();
  for (const t of spec.types) {
    if (types.has(t.name)) throw new InvalidConfigError(`jobs.types.${t.name}`, 'is defined twice');
    if (!queues.has(t.queue))
      throw new InvalidConfigError(`jobs.types.${t.name}.queue`, `queue ${t.queue} is not in jobs.queues`);
    types.set(t.name, t);
  }
  const settings = [...queues.values()].map(({ workersPerNode: _, ...s }) => s);
  return {
    __jobs: true,
    prefix,
    groups: spec.groups,
    queues,
    types,
    app: {
      machines: [JobsMachine],
      metrics: [jobsMetrics()],
      shards: [{ prefix, count: spec.groups, kind: JobsMachine }],
      leaderActors: [
        {
          name: 'jobs.dispatcher',
          kind: DispatcherKind,
          groups: { prefix },
          props: { queues: settings, groups: spec.groups, prefix },
        },
      ],
      actors: [...queues.values()]
        .filter((q) => q.workersPerNode > 0)
        .map((q) => ({
          name: poolName(q.name),
          kind: WorkerPoolKind,
          props: {
            queue: q.name,
            concurrency: q.workersPerNode,
            leaseMs: q.leaseMs,
            groups: spec.groups,
            prefix,
            definition: { module: spec.module, exportName: spec.exportName },
          },
        })),
      dashboard: [jobsTab({ prefix, groups: spec.groups })],
    },
  };
}

export function isJobsDefinition(value: unknown): value is JobsDefinition {
  return typeof value === 'object' && value !== null && (value as JobsDefinition).__jobs === true;
}
