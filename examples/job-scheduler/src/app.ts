/**
 * The job scheduler every node loads: three queues (emails rate-limited across the cluster, invoices charged
 * fairly per tenant, reports run by cron), their job types — each handler writes its effect to the external
 * ledger with its fencing token — and four jobs groups.
 */
import { defineApp, z } from '@flotilla/app';
import { defineJob, defineJobs, type JobContext } from '@flotilla/jobs';

/** Finished jobs kept per queue and jobs group (older ones are removed, as BullMQ's removeOnComplete). */
const KEEP_FINISHED = 200_000;

/** The ledger's address, handed to the node processes by the demo. */
const ledgerUrl = (): string => process.env.JOB_SCHEDULER_LEDGER ?? '';

const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });

/** Records the effect of this attempt; the ledger refuses a token older than one it has for the job. */
async function record(ctx: JobContext, effect: unknown): Promise<'recorded' | 'fenced'> {
  const url = ledgerUrl();
  if (!url) return 'recorded';
  const response = await fetch(`${url}/effects`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ job: ctx.id, token: ctx.token, worker: ctx.worker, effect }),
    signal: ctx.signal,
  });
  if (response.status === 409) return 'fenced';
  if (!response.ok) throw new Error(`ledger answered ${response.status}`);
  return 'recorded';
}

export const SendEmail = defineJob({
  name: 'send-email',
  queue: 'emails',
  input: z.object({ to: z.string().email(), subject: z.string().max(200) }),
  output: z.object({ ledger: z.enum(['recorded', 'fenced']) }),
  attempts: 5,
  backoff: { type: 'exponential', delayMs: 100, jitter: 0.5 },
  timeoutMs: 10_000,
  handler: async (input, ctx) => {
    await pause(2 + Math.floor(Math.random() * 10), ctx.signal);
    // One attempt in twenty fails (a flaky mail server): the job is retried after its backoff.
    if (Math.random() < 0.05) throw new Error(`mail server timeout sending to ${input.to}`);
    return { ledger: await record(ctx, { sent: input.to }) };
  },
});

export const ChargeInvoice = defineJob({
  name: 'charge-invoice',
  queue: 'invoices',
  input: z.object({ tenant: z.string(), invoice: z.string(), cents: z.number().int().positive() }),
  output: z.object({ ledger: z.enum(['recorded', 'fenced']) }),
  attempts: 3,
  backoff: { type: 'fixed', delayMs: 200, jitter: 0.2 },
  handler: async (input, ctx) => {
    await pause(5 + Math.floor(Math.random() * 20), ctx.signal);
    return { ledger: await record(ctx, { charged: input.cents, tenant: input.tenant }) };
  },
});

export const BuildReport = defineJob({
  name: 'build-report',
  queue: 'reports',
  input: z.object({ name: z.string() }).passthrough(),
  output: z.object({ ledger: z.enum(['recorded', 'fenced']) }),
  attempts: 3,
  handler: async (input, ctx) => {
    await pause(20, ctx.signal);
    return { ledger: await record(ctx, { report: input.name }) };
  },
});

export const jobs = defineJobs({
  module: import.meta.url,
  exportName: 'jobs',
  groups: 4,
  // Finished jobs are kept (newest first) up to a count per queue and group: enough for the demo's audit.
  queues: {
    emails: {
      workersPerNode: 16,
      rateLimit: { max: 2_000, durationMs: 1_000 },
      leaseMs: 3_000,
      keepCompleted: { count: KEEP_FINISHED },
    },
    invoices: { workersPerNode: 8, concurrency: 12, leaseMs: 3_000, keepCompleted: { count: KEEP_FINISHED } },
    reports: { workersPerNode: 2, leaseMs: 5_000 },
  },
  types: [SendEmail, ChargeInvoice, BuildReport],
});

export const app = defineApp({ ...jobs.app });
