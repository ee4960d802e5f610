/**
 * The jobs machine's records besides jobs — the group's meta and counters, each queue's settings, counts and
 * histograms, registered worker pools, schedules — and the small pure rules over them: shares of a group,
 * which states are listed, whether a presented claim is current, how long a retry waits.
 */
import type { MachineStore } from '@flotilla/app';
import { type JobRecord, type JobState, LIMITS, type QueueSettings, type ScheduleSpec } from '../model.ts';
import { decodeJob } from './job-codec.ts';
import { K } from './keys.ts';

/** Counters of a group, for metrics and the dashboard. */
export interface Stats {
  enqueued: number;
  claimed: number;
  completed: number;
  dead: number;
  cancelled: number;
  retried: number;
  /** Completions or failures presented with a claim that was no longer valid. */
  staleRefused: number;
  /** Heartbeats for claims that were no longer valid. */
  leasesLost: number;
  orphansRecovered: number;
  scheduledFired: number;
  scheduledSkipped: number;
}

export interface DispatcherInfo {
  readonly ref: unknown;
  readonly node: number;
  readonly term: number;
}

export interface Meta {
  seq: number;
  /** Jobs groups in the cluster (the shard count). */
  groups: number;
  dispatcher: DispatcherInfo | null;
  eventFirst: number;
  eventNext: number;
  stats: Stats;
}

export interface QueueRecord {
  settings: QueueSettings;
  partitions: number;
  counts: Record<JobState, number>;
  /** Claims held now (for the concurrency limit). */
  active: number;
  /** The rate limit's current window (log time) and claims in it. */
  windowStart: number;
  windowCount: number;
  /** The tenant served last (round-robin). */
  lastTenant: string | null;
  /** Time from ready to claimed, and from claimed to reported (ms, log time): the metrics' histograms. */
  wait?: TimeHistogram;
  run?: TimeHistogram;
  /** Per finished state, the list position retention removed up to (the next removal starts after it). */
  trimmed?: Partial<Record<'completed' | 'dead' | 'cancelled', number>>;
}

/** Upper bounds (ms) of the jobs' wait and run time buckets. */
export const TIME_BUCKETS_MS: readonly number[] = [
  5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000,
];

/** Observations per bucket of TIME_BUCKETS_MS (the last one: above every bound), their sum and count. */
export interface TimeHistogram {
  readonly buckets: number[];
  sum: number;
  count: number;
}

export const emptyHistogram = (): TimeHistogram => ({
  buckets: new Array(TIME_BUCKETS_MS.length + 1).fill(0),
  sum: 0,
  count: 0,
});

export function observe(h: TimeHistogram, ms: number): void {
  let i = 0;
  while (i < TIME_BUCKETS_MS.length && ms > TIME_BUCKETS_MS[i]!) i++;
  h.buckets[i]!++;
  h.sum += ms;
  h.count++;
}

export interface WorkerRecord {
  readonly id: string;
  readonly queue: string;
  readonly node: number;
  readonly ref: unknown;
  readonly concurrency: number;
  readonly registeredAt: number;
}

export interface ScheduleRecord {
  readonly spec: ScheduleSpec;
  nextFireAt: number | null;
  lastFireAt: number | null;
  lastJobId: string | null;
  /** An occurrence kept waiting for the running one (overlap policy `buffer`). */
  buffered: number | null;
  fired: number;
  skipped: number;
}

const zeroCounts = (): Record<JobState, number> => ({
  waiting: 0,
  delayed: 0,
  active: 0,
  completed: 0,
  dead: 0,
  cancelled: 0,
  'waiting-children': 0,
});

const freshStats = (): Stats => ({
  enqueued: 0,
  claimed: 0,
  completed: 0,
  dead: 0,
  cancelled: 0,
  retried: 0,
  staleRefused: 0,
  leasesLost: 0,
  orphansRecovered: 0,
  scheduledFired: 0,
  scheduledSkipped: 0,
});

export function readMeta(store: MachineStore): Meta {
  return (
    store.get<Meta>(K.meta()) ?? {
      seq: 0,
      groups: 0,
      dispatcher: null,
      eventFirst: 1,
      eventNext: 1,
      stats: freshStats(),
    }
  );
}

export function newQueueRecord(settings: QueueSettings, partitions: number): QueueRecord {
  return {
    settings,
    partitions,
    counts: zeroCounts(),
    active: 0,
    windowStart: 0,
    windowCount: 0,
    lastTenant: null,
  };
}

/** The shard index of a group id `<prefix>:<n>`. */
export function shardIndexOf(group: string): number {
  const at = group.lastIndexOf(':');
  return Number(group.slice(at + 1));
}

/** The shard index a job id names (`<name>@<shard>`). */
export function shardOfJobId(id: string): number {
  return Number(id.slice(id.lastIndexOf('@') + 1));
}

/** States kept in a per-queue list (the others are listed from their own index: ready, delay, lease). */
export const LISTED_STATES: ReadonlySet<JobState> = new Set([
  'completed',
  'dead',
  'cancelled',
  'waiting-children',
]);

/** A job's record, or undefined. */
export function readJob(store: MachineStore, id: string): JobRecord | undefined {
  const fields = store.get<unknown[]>(K.job(id));
  return fields === undefined ? undefined : decodeJob(fields);
}

/** Why a claim presented by a worker is not the job's current one (undefined: it is). */
export function claimProblem(
  job: JobRecord | undefined,
  token: number,
  now: number,
): 'unknown-job' | 'not-active' | 'other-claim' | 'lease-expired' | undefined {
  if (job === undefined) return 'unknown-job';
  if (job.state !== 'active' || job.claim === undefined) return 'not-active';
  if (job.claim.token !== token) return 'other-claim';
  if (job.claim.leaseUntil < now) return 'lease-expired';
  return undefined;
}

export function isFinished(state: JobState): boolean {
  return state === 'completed' || state === 'dead' || state === 'cancelled';
}

/** The wait before retry number `attempt` (1-based count of attempts made), jittered with `random`. */
export function backoffMs(backoff: JobRecord['backoff'], attempt: number, random: number): number {
  let wait = backoff.type === 'fixed' ? backoff.delayMs : backoff.delayMs * 2 ** Math.min(attempt - 1, 40);
  if (backoff.maxDelayMs !== undefined) wait = Math.min(wait, backoff.maxDelayMs);
  wait = Math.min(wait, LIMITS.durationMsMax);
  return Math.round(wait * (1 - backoff.jitter * random));
}
