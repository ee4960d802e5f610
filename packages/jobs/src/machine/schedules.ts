/**
 * Cron occurrences (croner; no parser of our own), computed inside `apply` from replicated times only: the
 * schedule's committed next fire time and the entry's timestamp. Which occurrences fire when a tick comes
 * late follows the schedule's missed-run policy; each fire time is committed with the job it enqueues, so
 * an occurrence fires once whatever fails over or restarts.
 */
import { Cron } from 'croner';
import { type JobInput, LIMITS, type ScheduleSpec } from '../model.ts';

/** A cron pattern that does not parse, or a time zone that does not exist: the reason, in words. */
export function cronProblem(cron: string, timezone: string): string | undefined {
  try {
    const c = new Cron(cron, { paused: true, timezone });
    c.nextRun(new Date(0));
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

const crons = new Map<string, Cron>();

function cronOf(cron: string, timezone: string): Cron {
  const key = `${timezone}\u0000${cron}`;
  let c = crons.get(key);
  if (c === undefined) {
    c = new Cron(cron, { paused: true, timezone });
    crons.set(key, c);
  }
  return c;
}

/** The first occurrence strictly after `afterMs`, or undefined when the pattern has no more. */
export function nextOccurrence(cron: string, timezone: string, afterMs: number): number | undefined {
  const next = cronOf(cron, timezone).nextRun(new Date(afterMs));
  return next === null ? undefined : next.getTime();
}

/**
 * The fire times a tick at `now` enqueues, given the schedule's committed `nextFireAt` (≤ now), and the
 * next fire time after `now`. Occurrences within `catchUpWindowMs` of now are on time and all fire; older
 * ones were missed: `skip` drops them, `once` fires the latest of them, `all` fires each (bounded).
 */
export function dueOccurrences(
  spec: Pick<ScheduleSpec, 'cron' | 'timezone' | 'missed' | 'catchUpWindowMs'>,
  nextFireAt: number,
  now: number,
): { fire: number[]; next: number | undefined } {
  const onTimeFrom = now - spec.catchUpWindowMs;
  const fire: number[] = [];
  const next = nextOccurrence(spec.cron, spec.timezone, now);
  if (nextFireAt < onTimeFrom) {
    // Missed occurrences: [nextFireAt, onTimeFrom).
    if (spec.missed === 'all') {
      let at: number | undefined = nextFireAt;
      while (at !== undefined && at < onTimeFrom && fire.length < LIMITS.catchUpMax) {
        fire.push(at);
        at = nextOccurrence(spec.cron, spec.timezone, at);
      }
    } else if (spec.missed === 'once') {
      // The latest missed one: the last occurrence before the on-time window (strictly before it).
      const [latest] = cronOf(spec.cron, spec.timezone).previousRuns(1, new Date(onTimeFrom));
      fire.push(latest !== undefined && latest.getTime() >= nextFireAt ? latest.getTime() : nextFireAt);
    }
  }
  let at = nextFireAt >= onTimeFrom ? nextFireAt : nextOccurrence(spec.cron, spec.timezone, onTimeFrom - 1);
  while (at !== undefined && at <= now && fire.length < LIMITS.catchUpMax) {
    fire.push(at);
    at = nextOccurrence(spec.cron, spec.timezone, at);
  }
  return { fire, next };
}

/** The job of an occurrence at `fireAt` (its id makes the occurrence enqueue once). */
export function occurrenceJob(spec: ScheduleSpec, fireAt: number, shard: number): JobInput {
  return {
    id: `${spec.id}.${fireAt}@${shard}`,
    queue: spec.queue,
    name: spec.name,
    payload: spec.payload,
    priority: spec.job.priority,
    delayMs: 0,
    tenant: '',
    attempts: spec.job.attempts,
    backoff: spec.job.backoff,
    timeoutMs: spec.job.timeoutMs,
    orphans: spec.job.orphans,
    failParentOnFailure: true,
  };
}
