/**
 * `flotilla jobs …`: the jobs API from a shell, by name (no application code needed). Each command prints
 * JSON on stdout; refusals are typed errors naming what they refuse.
 */
import { parseArgs } from 'node:util';
import type { Calls, Topology } from '@flotilla/app';
import { Jobs } from './client.ts';
import { JobsError } from './errors.ts';
import { JOBS_KIND } from './machine/jobs-machine.ts';
import { JOB_STATES, type JobState } from './model.ts';

export const JOBS_USAGE = `usage (every command takes --api HOST:PORT, and --prefix P when the jobs groups are not jobs:N):
  flotilla jobs summary
  flotilla jobs enqueue --queue Q --name N [--payload JSON] [--delay MS] [--priority P] [--attempts N]
                        [--tenant T] [--dedupe KEY] [--job-id ID]
  flotilla jobs get --id ID
  flotilla jobs list --queue Q --state ${JOB_STATES.join('|')} [--limit N]
  flotilla jobs cancel --id ID          flotilla jobs retry --id ID
  flotilla jobs schedule --id ID --queue Q --name N --cron EXPR [--timezone TZ] [--payload JSON]
                         [--missed skip|once|all] [--overlap skip|allow|buffer]
  flotilla jobs unschedule --id ID      flotilla jobs schedules`;

const options = {
  api: { type: 'string' },
  prefix: { type: 'string' },
  queue: { type: 'string' },
  name: { type: 'string' },
  payload: { type: 'string' },
  delay: { type: 'string' },
  priority: { type: 'string' },
  attempts: { type: 'string' },
  tenant: { type: 'string' },
  dedupe: { type: 'string' },
  'job-id': { type: 'string' },
  id: { type: 'string' },
  state: { type: 'string' },
  limit: { type: 'string' },
  cron: { type: 'string' },
  timezone: { type: 'string' },
  missed: { type: 'string' },
  overlap: { type: 'string' },
} as const;

/** What the CLI needs of a connection: calls and the topology (to find the jobs groups). */
export interface JobsConnection {
  readonly calls: Calls;
  topology(): Promise<Topology>;
}

function need(value: string | undefined, name: string): string {
  if (value === undefined || value === '')
    throw new JobsError('invalid-option', name, `--${name} is required\n${JOBS_USAGE}`);
  return value;
}

function int(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n))
    throw new JobsError('invalid-option', name, `--${name} must be an integer, got ${value}`);
  return n;
}

function json(value: string | undefined, name: string): unknown {
  if (value === undefined) return null;
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new JobsError('invalid-option', name, `--${name} is not JSON: ${(error as Error).message}`);
  }
}

function oneOf<T extends string>(
  value: string | undefined,
  name: string,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T))
    throw new JobsError(
      'invalid-option',
      name,
      `--${name} must be one of ${allowed.join(', ')}, got ${value}`,
    );
  return value as T;
}

/** Runs one `flotilla jobs` command (`args` after `jobs`); resolves with what to print. */
export async function runJobsCommand(
  args: readonly string[],
  connect: (api: string) => Promise<JobsConnection>,
): Promise<unknown> {
  const { positionals, values } = parseArgs({ args: [...args], options, allowPositionals: true });
  const command = positionals[0];
  if (command === undefined) return JOBS_USAGE;
  const connection = await connect(need(values.api, 'api'));
  const prefix = values.prefix ?? JOBS_KIND;
  const set = (await connection.topology()).shards.find((s) => s.prefix === prefix);
  if (set === undefined)
    throw new JobsError('invalid-option', 'prefix', `the cluster has no shard set ${prefix}`);
  const jobs = new Jobs(connection.calls, undefined, { prefix, groups: set.count });
  switch (command) {
    case 'summary':
      return jobs.summary();
    case 'enqueue': {
      const dedupe = values.dedupe;
      const [id] = await jobs.enqueueNamed([
        {
          queue: need(values.queue, 'queue'),
          name: need(values.name, 'name'),
          payload: json(values.payload, 'payload'),
          options: {
            ...(values.delay === undefined ? {} : { delayMs: int(values.delay, 'delay')! }),
            ...(values.priority === undefined ? {} : { priority: int(values.priority, 'priority')! }),
            ...(values.attempts === undefined ? {} : { attempts: int(values.attempts, 'attempts')! }),
            ...(values.tenant === undefined ? {} : { tenant: values.tenant }),
            ...(dedupe === undefined ? {} : { dedupe: { key: dedupe } }),
            ...(values['job-id'] === undefined ? {} : { jobId: values['job-id'] }),
          },
        },
      ]);
      return { id };
    }
    case 'get':
      return jobs.get(need(values.id, 'id'));
    case 'list':
      return jobs.list(
        need(values.queue, 'queue'),
        oneOf(need(values.state, 'state'), 'state', JOB_STATES) as JobState,
        int(values.limit, 'limit') ?? 100,
      );
    case 'cancel':
      return { state: await jobs.cancel(need(values.id, 'id')) };
    case 'retry':
      return { state: await jobs.retry(need(values.id, 'id')) };
    case 'schedule': {
      const missed = oneOf(values.missed, 'missed', ['skip', 'once', 'all'] as const);
      const overlap = oneOf(values.overlap, 'overlap', ['skip', 'allow', 'buffer'] as const);
      const nextFireAt = await jobs.schedule({
        id: need(values.id, 'id'),
        queue: need(values.queue, 'queue'),
        name: need(values.name, 'name'),
        payload: json(values.payload, 'payload'),
        cron: need(values.cron, 'cron'),
        ...(values.timezone === undefined ? {} : { timezone: values.timezone }),
        ...(missed === undefined ? {} : { missed }),
        ...(overlap === undefined ? {} : { overlap }),
      });
      return { nextFireAt: nextFireAt === null ? null : new Date(nextFireAt).toISOString() };
    }
    case 'unschedule':
      return { removed: await jobs.unschedule(need(values.id, 'id')) };
    case 'schedules':
      return jobs.schedules();
    default:
      throw new JobsError('invalid-option', command, `unknown jobs command ${command}\n${JOBS_USAGE}`);
  }
}
