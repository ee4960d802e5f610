/**
 * The application `bench:jobs` loads into its node processes (and imports itself, for the job type and the
 * client's definition): one queue `bench` with a no-op job type `noop` that returns `{ ok: true }`, as the
 * BullMQ worker's processor does. Read from the environment, which the driver sets before it starts the
 * cluster (node processes inherit it):
 *   BENCH_JOBS_WORKERS_PER_NODE  handlers run at once per node (default 21: 63 over three nodes)
 *   BENCH_JOBS_GROUPS            jobs groups (default 4)
 * Completed jobs are kept (up to 10 million) so that the driver reads every one back for its start latency.
 * Imports `@flotilla/jobs` by its package name: compiled code in the nodes (no `source` condition there),
 * source in the driver.
 */
import { defineApp, z } from '@flotilla/app';
import { defineJob, defineJobs } from '@flotilla/jobs';

const positiveInt = (name: string, fallback: number): number => {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
};

export const WORKERS_PER_NODE = positiveInt('BENCH_JOBS_WORKERS_PER_NODE', 21);
export const GROUPS = positiveInt('BENCH_JOBS_GROUPS', 4);
/** Completed jobs kept per jobs group: every job of a run (warm-up included) stays readable. */
const KEEP_COMPLETED = 10_000_000;

export const Noop = defineJob({
  name: 'noop',
  queue: 'bench',
  input: z.object({ i: z.number().int() }),
  output: z.object({ ok: z.boolean() }),
  handler: () => ({ ok: true }),
});

export const jobs = defineJobs({
  module: import.meta.url,
  exportName: 'jobs',
  groups: GROUPS,
  queues: { bench: { workersPerNode: WORKERS_PER_NODE, keepCompleted: { count: KEEP_COMPLETED } } },
  types: [Noop],
});

export const app = defineApp({ ...jobs.app });
