/**
 * The jobs machine's keys in its LMDB store (tuples sort element by element; numbers before strings). Each
 * index is what one hot path reads in key order, so no path scans more than what it takes.
 */
import type { StoreKey } from '@flotilla/app';

/** Sorts after every string and number of a tuple element: the end of a prefix range. */
const HIGH = '\uffff';

export const K = {
  /** The group's counters and settings: Meta. */
  meta: (): StoreKey => ['meta'],
  /** A queue's settings and counts in this group: QueueRecord. */
  queue: (queue: string): StoreKey => ['queue', queue],
  queues: () => ({ start: ['queue'] as StoreKey, end: ['queue', HIGH] as StoreKey }),
  /** A job: JobRecord. */
  job: (id: string): StoreKey => ['job', id],
  /** Ready jobs of a queue and tenant, best first: → id. */
  ready: (queue: string, tenant: string, priority: number, seq: number): StoreKey => [
    'ready',
    queue,
    tenant,
    priority,
    seq,
  ],
  readyOf: (queue: string, tenant: string) => ({
    start: ['ready', queue, tenant] as StoreKey,
    end: ['ready', queue, tenant, HIGH] as StoreKey,
  }),
  /** Tenants of a queue with ready jobs: → how many. Iterated round-robin by the claim. */
  tenant: (queue: string, tenant: string): StoreKey => ['tenant', queue, tenant],
  /** The tenants after `after` (exclusive), or all of them. */
  tenantsAfter: (queue: string, after: string | undefined) => ({
    start: (after === undefined ? ['tenant', queue] : ['tenant', queue, after, '']) as StoreKey,
    end: ['tenant', queue, HIGH] as StoreKey,
  }),
  /** Delayed jobs (delays and retry backoffs) by the time they become ready: → id. */
  delay: (runAt: number, seq: number): StoreKey => ['delay', runAt, seq],
  /** Delayed jobs due at `now`. */
  delayDue: (now: number) => ({ start: ['delay'] as StoreKey, end: ['delay', now + 1] as StoreKey }),
  delayAll: () => ({ start: ['delay'] as StoreKey, end: ['delay', HIGH] as StoreKey }),
  /** Claims by lease expiry: → [id, worker]. */
  lease: (leaseUntil: number, seq: number): StoreKey => ['lease', leaseUntil, seq],
  /** Claims whose lease ended before `now`. */
  leaseExpired: (now: number) => ({ start: ['lease'] as StoreKey, end: ['lease', now] as StoreKey }),
  leaseAll: () => ({ start: ['lease'] as StoreKey, end: ['lease', HIGH] as StoreKey }),
  /** Finished (and waiting-children) jobs by queue and state, in the order they entered it: → id. */
  state: (queue: string, state: string, stateSeq: number): StoreKey => ['state', queue, state, stateSeq],
  stateOf: (queue: string, state: string, after?: number) => ({
    start: (after === undefined ? ['state', queue, state] : ['state', queue, state, after + 1]) as StoreKey,
    end: ['state', queue, state, HIGH] as StoreKey,
  }),
  /** Dedupe keys: → { id, until }. */
  dedupe: (queue: string, key: string): StoreKey => ['dedupe', queue, key],
  /** Registered worker pools: WorkerRecord. */
  worker: (id: string): StoreKey => ['worker', id],
  workers: () => ({ start: ['worker'] as StoreKey, end: ['worker', HIGH] as StoreKey }),
  /** Schedules: ScheduleRecord. */
  schedule: (id: string): StoreKey => ['sched', id],
  schedules: () => ({ start: ['sched'] as StoreKey, end: ['sched', HIGH] as StoreKey }),
  /** Schedules by their next fire time: → id. */
  due: (fireAt: number, id: string): StoreKey => ['due', fireAt, id],
  dueBy: (now: number) => ({ start: ['due'] as StoreKey, end: ['due', now + 1] as StoreKey }),
  dueAll: () => ({ start: ['due'] as StoreKey, end: ['due', HIGH] as StoreKey }),
  /** The completion stream: the JobEvents of one command, by sequence. */
  event: (seq: number): StoreKey => ['event', seq],
  eventsAfter: (after: number) => ({
    start: ['event', after + 1] as StoreKey,
    end: ['event', HIGH] as StoreKey,
  }),
} as const;
