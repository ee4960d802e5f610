/**
 * @flotilla/jobs — a replicated job scheduler on Flotilla's application API: named queues whose jobs live in
 * jobs groups (state in LMDB), a dispatcher on each group's leader that claims work through fenced
 * replicated commands, worker pools on every node, leases with batched heartbeats, orphan recovery, cron
 * schedules that fire once per occurrence, and the `Jobs` API for clients and actors.
 */
export { JOBS_USAGE, type JobsConnection, runJobsCommand } from './cli.ts';
export { type EnqueueOptions, type FlowSpec, Jobs, type JobsSummary, type NamedJob } from './client.ts';
export { jobsTab } from './dashboard.ts';
export {
  type AnyJobType,
  DEFAULT_BACKOFF,
  DispatcherKind,
  defineJob,
  defineJobs,
  isJobsDefinition,
  type JobContext,
  type JobOptions,
  type JobsDefinition,
  type JobsSpec,
  type JobType,
  poolName,
  type QueueSpec,
  WorkerPoolKind,
} from './define.ts';
export { JobsError, type JobsErrorReason } from './errors.ts';
export { JOBS_KIND, JobsMachine, type QueueCounts } from './machine/jobs-machine.ts';
export { backoffMs, type ScheduleRecord, type Stats, type WorkerRecord } from './machine/records.ts';
export { cronProblem, dueOccurrences, nextOccurrence } from './machine/schedules.ts';
export {
  type Backoff,
  type ClaimBatch,
  type ClaimedJob,
  type ClaimedTuple,
  DEFAULT_QUEUE,
  expandClaims,
  FINISHED_STATES,
  JOB_STATES,
  type JobEvent,
  type JobInput,
  type JobRecord,
  type JobState,
  LIMITS,
  partitionsOf,
  type QueueSettings,
  type ScheduleSpec,
} from './model.ts';
export { ClaimLostError, NonRetryableError } from './runtime/worker-pool.ts';
