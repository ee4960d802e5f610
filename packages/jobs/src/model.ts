/**
 * What the jobs machine, its callers and its workers share: the states of a job, the schemas of what is
 * enqueued (options at least BullMQ's: delay, priority, attempts with backoff and jitter, a timeout per
 * attempt, a dedupe key with a TTL, tenants for fair scheduling, parent/child flows), queue settings
 * (cluster-wide concurrency and rate limits, leases, retention), schedules, and the records kept per job.
 */
import { z } from '@flotilla/app';

export const JOB_STATES = [
  'waiting',
  'delayed',
  'active',
  'completed',
  'dead',
  'cancelled',
  'waiting-children',
] as const;
/**
 * waiting: ready to run · delayed: runs at `runAt` (a delay or a retry's backoff) · active: claimed by a
 * worker · completed · dead: failed its last attempt (the dead-letter state; `retry` revives it) ·
 * cancelled · waiting-children: a flow's parent, until its children are done.
 */
export type JobState = (typeof JOB_STATES)[number];
export const FINISHED_STATES: readonly JobState[] = ['completed', 'dead', 'cancelled'];

/** Limits, named. */
export const LIMITS = {
  /** Bytes of one job's payload (msgpack). */
  payloadBytesMax: 256 * 1024,
  /** Jobs in one enqueue command (the client splits bulk enqueues into commands of this size). */
  enqueueBatchMax: 500,
  /** Children of one parent. */
  childrenMax: 1_000,
  /** Attempts of one job. */
  attemptsMax: 1_000,
  /** Jobs one claim command may hand out. */
  claimMax: 1_000,
  /** Items of one heartbeat or finish command. */
  reportBatchMax: 2_000,
  /** Delays, backoffs, leases, TTLs and timeouts: at most a year. */
  durationMsMax: 365 * 24 * 3600 * 1000,
  /** Records of the completion stream kept per group (one per command that finished jobs). */
  eventRecordsKept: 5_000,
  /** Error messages kept per job (the last ones). */
  errorsKept: 10,
  /** Finished jobs removed by retention in one command (the rest go in later commands). */
  retentionBatchMax: 256,
  /** Occurrences of one schedule enqueued by one tick under the `all` missed-run policy. */
  catchUpMax: 1_000,
} as const;

const name = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 _ . : -');
const duration = z.number().int().min(0).max(LIMITS.durationMsMax);

export const QueueName = name;
export const JobTypeName = name;
/** A job id: `<name>@<shard>` (the shard is the index of the jobs group that keeps it). */
export const JobId = z.string().regex(/^[A-Za-z0-9_.:-]{1,160}@\d{1,4}$/, 'must be <id>@<shard>');
export type JobId = z.infer<typeof JobId>;

export const Backoff = z.object({
  type: z.enum(['fixed', 'exponential']),
  /** Fixed: every retry waits this long. Exponential: the first retry does, each next one twice as long. */
  delayMs: duration,
  /** 0–1: the wait is drawn uniformly from [wait × (1 − jitter), wait]. */
  jitter: z.number().min(0).max(1),
  /** Cap of an exponential wait. */
  maxDelayMs: duration.optional(),
});
export type Backoff = z.infer<typeof Backoff>;

/** What happens to a job whose claim expired (its worker vanished or stalled past its lease). */
export const OrphanPolicy = z.enum(['retry', 'fail']);
export type OrphanPolicy = z.infer<typeof OrphanPolicy>;

/** One job as enqueued (what the client sends; ids and defaults filled in). */
export interface JobInput {
  readonly id: JobId;
  readonly queue: string;
  readonly name: string;
  readonly payload: unknown;
  readonly priority: number;
  readonly delayMs: number;
  readonly tenant: string;
  readonly attempts: number;
  readonly backoff: Backoff;
  readonly timeoutMs: number;
  readonly orphans: OrphanPolicy;
  readonly dedupe?: { readonly key: string; readonly ttlMs?: number } | undefined;
  readonly children?: readonly JobInput[] | undefined;
  /** A failed (dead) child fails its parent (default) or is ignored. */
  readonly failParentOnFailure: boolean;
}

export const JobInputSchema: z.ZodType<JobInput> = z.lazy(() =>
  z.object({
    id: JobId,
    queue: QueueName,
    name: JobTypeName,
    payload: z.unknown(),
    /** Lower runs first. */
    priority: z.number().int().min(-1_000_000).max(1_000_000),
    delayMs: duration,
    tenant: z.string().max(128),
    attempts: z.number().int().min(1).max(LIMITS.attemptsMax),
    backoff: Backoff,
    /** 0 = no timeout. */
    timeoutMs: duration,
    orphans: OrphanPolicy,
    dedupe: z.object({ key: z.string().min(1).max(256), ttlMs: duration.optional() }).optional(),
    children: z.array(JobInputSchema).max(LIMITS.childrenMax).optional(),
    failParentOnFailure: z.boolean(),
  }),
) as z.ZodType<JobInput>;

/** A queue's settings, replicated in every jobs group (the dispatcher proposes them from the code). */
export const QueueSettings = z.object({
  name: QueueName,
  /** Jobs of this queue running at once across the whole cluster (0 = no limit). */
  concurrency: z.number().int().min(0).max(1_000_000),
  /** At most `max` jobs started per `durationMs` across the whole cluster (max 0 = no limit). */
  rateLimit: z.object({ max: z.number().int().min(0).max(1_000_000), durationMs: duration.min(1) }),
  /** How long a claim lasts without a heartbeat. */
  leaseMs: duration.min(100),
  /** Completed jobs kept: the newest `count`, none older than `ageMs` (0 = no age limit). */
  keepCompleted: z.object({ count: z.number().int().min(0), ageMs: duration }),
  /** Dead jobs kept (the dead-letter queue): likewise. */
  keepDead: z.object({ count: z.number().int().min(0), ageMs: duration }),
});
export type QueueSettings = z.infer<typeof QueueSettings>;

export const DEFAULT_QUEUE: Omit<QueueSettings, 'name'> = {
  concurrency: 0,
  rateLimit: { max: 0, durationMs: 1_000 },
  leaseMs: 10_000,
  keepCompleted: { count: 1_000, ageMs: 0 },
  keepDead: { count: 10_000, ageMs: 0 },
};

/** How many of the jobs groups a queue spreads over: a cluster-wide limit is split between them. */
export function partitionsOf(settings: QueueSettings, groups: number): number {
  let n = groups;
  if (settings.concurrency > 0) n = Math.min(n, settings.concurrency);
  if (settings.rateLimit.max > 0) n = Math.min(n, settings.rateLimit.max);
  return Math.max(1, n);
}

/** Group `index`'s share of a cluster-wide limit split over `partitions` groups (shares sum to `limit`). */
export function shareOf(limit: number, partitions: number, index: number): number {
  return Math.floor(limit / partitions) + (index < limit % partitions ? 1 : 0);
}

export const MissedPolicy = z.enum(['skip', 'once', 'all']);
export const OverlapPolicy = z.enum(['skip', 'allow', 'buffer']);

/** A cron schedule: its occurrences enqueue a job each, once, whatever fails over or restarts. */
export const ScheduleSpec = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 _ . : -'),
  queue: QueueName,
  name: JobTypeName,
  payload: z.unknown(),
  /** A cron expression (5 or 6 fields, croner's syntax). */
  cron: z.string().min(1).max(256),
  /** An IANA time zone; default UTC. */
  timezone: z.string().min(1).max(64),
  /**
   * Occurrences that passed while nothing could fire them (the cluster was down) by more than
   * `catchUpWindowMs`: skip them, enqueue one for all of them, or enqueue each (at most LIMITS.catchUpMax).
   */
  missed: MissedPolicy,
  catchUpWindowMs: duration,
  /** An occurrence while the previous one's job is unfinished: skip it, run both, or keep one waiting. */
  overlap: OverlapPolicy,
  /** The options of each job (the payload is the schedule's). */
  job: z.object({
    priority: z.number().int(),
    attempts: z.number().int().min(1).max(LIMITS.attemptsMax),
    backoff: Backoff,
    timeoutMs: duration,
    orphans: OrphanPolicy,
  }),
});
export type ScheduleSpec = z.infer<typeof ScheduleSpec>;

/** A claim as the machine records it, and as the worker presents it back. */
export interface Claim {
  readonly worker: string;
  /** The fencing token: the log index of the claim's entry (it only grows, for this job and its group). */
  readonly token: number;
  /** Log time (ms) after which the claim is void unless a heartbeat extended it. */
  readonly leaseUntil: number;
  /** The term of the dispatcher that claimed. */
  readonly term: number;
  readonly startedAt: number;
}

/** Everything kept about a job. */
export interface JobRecord {
  readonly id: JobId;
  readonly queue: string;
  readonly name: string;
  readonly payload: unknown;
  state: JobState;
  readonly priority: number;
  readonly tenant: string;
  /** Enqueue order within the group. */
  readonly seq: number;
  /** Order of its latest state change (indexes of the state lists). */
  stateSeq: number;
  readonly createdAt: number;
  runAt: number;
  attempts: number;
  attemptsMade: number;
  readonly backoff: Backoff;
  readonly timeoutMs: number;
  readonly orphans: OrphanPolicy;
  readonly dedupeKey?: string | undefined;
  readonly parentId?: JobId | undefined;
  readonly failParentOnFailure: boolean;
  childrenLeft: number;
  readonly scheduleId?: string | undefined;
  claim?: Claim | undefined;
  /** The fencing token of its latest claim (of the accepted completion, once completed). */
  lastToken?: number | undefined;
  /** The worker of its latest claim. */
  lastWorker?: string | undefined;
  /** Log time its latest attempt started (claimed) and its first attempt did. */
  startedAt?: number | undefined;
  firstStartedAt?: number | undefined;
  progress?: unknown;
  result?: unknown;
  errors: string[];
  finishedAt?: number | undefined;
  cancelRequested?: boolean | undefined;
}

/** One claimed job as a claim command answers it (an array: claims are hashed and sent in bulk). */
export type ClaimedTuple = [
  id: JobId,
  name: string,
  payload: unknown,
  attempt: number,
  attempts: number,
  timeoutMs: number,
  createdAt: number,
  worker: string,
];

/** What a claim command answers: the jobs, with the claim's token and lease (the same for all of them). */
export interface ClaimBatch {
  readonly token: number;
  readonly leaseUntil: number;
  readonly jobs: ClaimedTuple[];
}

/** The jobs of a claim batch as workers see them. */
export function expandClaims(batch: ClaimBatch, queue: string, group: string): ClaimedJob[] {
  return batch.jobs.map(([id, name, payload, attempt, attempts, timeoutMs, createdAt, worker]) => ({
    id,
    queue,
    name,
    payload,
    attempt,
    attempts,
    token: batch.token,
    leaseUntil: batch.leaseUntil,
    timeoutMs,
    createdAt,
    group,
    worker,
  }));
}

/** A job handed to a worker. */
export interface ClaimedJob {
  readonly id: JobId;
  readonly queue: string;
  readonly name: string;
  readonly payload: unknown;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly attempts: number;
  readonly token: number;
  readonly leaseUntil: number;
  readonly timeoutMs: number;
  readonly createdAt: number;
  readonly group: string;
  /** The worker it was claimed for. */
  readonly worker: string;
}

/** A finished (or failed) job as the completion stream reports it. */
export interface JobEvent {
  readonly seq: number;
  readonly at: number;
  readonly id: JobId;
  readonly queue: string;
  readonly name: string;
  readonly state: 'completed' | 'dead' | 'cancelled' | 'retrying';
  readonly attempt: number;
  readonly result?: unknown;
  readonly error?: string | undefined;
}
