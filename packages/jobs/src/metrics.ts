/**
 * The jobs' Prometheus metrics, added to every node's `/metrics` by `defineJobs`: jobs by queue and state,
 * wait and run time histograms, stale claims refused, orphans recovered, finished jobs — each series
 * exported by the node that leads its jobs group (labelled by group), so that summing over nodes counts
 * each group once.
 */
import type { HistogramSeries, MetricsHook } from '@flotilla/app';
import { JOBS_KIND, JobsMachine, type QueueCounts } from './machine/jobs-machine.ts';
import { type Stats, TIME_BUCKETS_MS, type TimeHistogram } from './machine/records.ts';
import { JOB_STATES } from './model.ts';

/** One round of queries per scrape, shared by every metric of it. */
const SCRAPE_CACHE_MS = 200;
const BUCKETS_S = TIME_BUCKETS_MS.map((ms) => ms / 1000);

type GroupCounts = { group: string; queues: Record<string, QueueCounts>; stats: Stats };

function cumulative(h: TimeHistogram): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < TIME_BUCKETS_MS.length; i++) {
    sum += h.buckets[i] ?? 0;
    out.push(sum);
  }
  return out;
}

export function jobsMetrics(): MetricsHook {
  return (sink, { calls, localLeaders }) => {
    let cached: { at: number; counts: Promise<GroupCounts[]> } | undefined;
    const counts = (): Promise<GroupCounts[]> => {
      const now = performance.now();
      if (cached === undefined || now - cached.at > SCRAPE_CACHE_MS) {
        const groups = localLeaders(JOBS_KIND);
        cached = {
          at: now,
          counts: Promise.all(
            groups.map(async (group) => ({
              group,
              ...(await calls.query(
                JobsMachine,
                group,
                'counts',
                {},
                { consistency: 'lease', timeoutMs: 2_000 },
              )),
            })),
          ).catch(() => []),
        };
      }
      return cached.counts;
    };
    sink.gauge(
      'flotilla_jobs',
      'Jobs by queue and state, per jobs group (exported by its leader).',
      ['group', 'queue', 'state'],
      async () =>
        (await counts()).flatMap((g) =>
          Object.entries(g.queues).flatMap(([queue, q]) =>
            JOB_STATES.map((state) => [{ group: g.group, queue, state }, q.counts[state]] as const),
          ),
        ),
    );
    const stat = (name: string, help: string, pick: (s: Stats) => number) =>
      sink.gauge(name, help, ['group'], async () =>
        (await counts()).map((g) => [{ group: g.group }, pick(g.stats)] as const),
      );
    stat(
      'flotilla_jobs_stale_refused_total',
      'Completions or failures refused for presenting a claim that was no longer valid.',
      (s) => s.staleRefused,
    );
    stat(
      'flotilla_jobs_leases_lost_total',
      'Heartbeats for claims that were no longer valid (their handlers were aborted).',
      (s) => s.leasesLost,
    );
    stat(
      'flotilla_jobs_orphans_recovered_total',
      'Claims recovered after their lease ended or their worker was gone.',
      (s) => s.orphansRecovered,
    );
    stat('flotilla_jobs_completed_total', 'Jobs completed.', (s) => s.completed);
    stat(
      'flotilla_jobs_dead_total',
      'Jobs that failed their last attempt (dead-letter state).',
      (s) => s.dead,
    );
    stat('flotilla_jobs_retried_total', 'Failed attempts retried after their backoff.', (s) => s.retried);
    stat('flotilla_jobs_scheduled_total', 'Jobs enqueued by cron schedules.', (s) => s.scheduledFired);
    const histogram = (name: string, help: string, pick: (q: QueueCounts) => TimeHistogram | null) =>
      sink.histogram(name, help, BUCKETS_S, async () => {
        const series: HistogramSeries[] = [];
        for (const g of await counts())
          for (const [queue, q] of Object.entries(g.queues)) {
            const h = pick(q);
            if (h !== null)
              series.push({
                labels: { group: g.group, queue },
                cumulative: cumulative(h),
                sum: h.sum / 1000,
                count: h.count,
              });
          }
        return series;
      });
    histogram(
      'flotilla_jobs_wait_seconds',
      'Time from ready to claimed, per attempt (log time).',
      (q) => q.wait,
    );
    histogram(
      'flotilla_jobs_run_seconds',
      'Time from claimed to reported, per attempt (log time).',
      (q) => q.run,
    );
  };
}
