/**
 * `pnpm --filter job-scheduler demo [--duration S]` (and README's `pnpm start`): the showcase. Three node
 * processes run the scheduler; cron schedules fire and ad-hoc jobs (emails, invoices of several tenants)
 * arrive; their handlers write to an external ledger with their fencing token. Mid-run the leader of a jobs
 * group is killed (kill -9) and comes back. A live bar shows jobs by state. At the end (after S seconds, or
 * Ctrl-C) the audit prints one JSON line — jobs, completed, lost, duplicated — and exits 0 when none was
 * lost or completed twice and every effect stands under the token of its accepted attempt.
 */
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type FlotillaClient, sleep } from '@flotilla/client';
import { type JobEvent, type JobRecord, Jobs } from '@flotilla/jobs';
import { LocalCluster } from '@flotilla/node';
import { ChargeInvoice, jobs as definition, SendEmail } from './app.ts';
import { EffectsLedger } from './ledger.ts';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    duration: { type: 'string' },
    rate: { type: 'string', default: '300' },
    'base-port': { type: 'string', default: '7100' },
    dir: { type: 'string', default: '.data/job-scheduler' },
  },
});
const DURATION_S = values.duration === undefined ? undefined : Number(values.duration);
/** Ad-hoc jobs enqueued per second. */
const RATE = Number(values.rate);
const TICK_MS = 100;
/** Enqueue calls (two per tick) waiting for their answer at once, at most. */
const ENQUEUES_IN_FLIGHT_MAX = 16;
/** When the leader dies, as a share of the run (or after this long when running until Ctrl-C). */
const KILL_AT_SHARE = 0.35;
const KILL_AT_MS_UNBOUNDED = 15_000;
/** How long the killed node stays down. */
const DOWN_MS = 3_000;
/** Bound on finishing every job after the load stops. */
const DRAIN_TIMEOUT_MS = 90_000;
const TENANTS = ['acme', 'acme', 'acme', 'acme', 'globex', 'initech'];
const APP = fileURLToPath(new URL('./app.ts', import.meta.url));
const BAR_WIDTH = 30;
/** Unfinished jobs described when the audit finds some. */
const LOST_SHOWN = 5;

const say = (line: string) => process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[2K' : ''}${line}\n`);

function bar(counts: Record<string, number>, total: number): string {
  const done = (counts.completed ?? 0) + (counts.dead ?? 0);
  const filled = total === 0 ? 0 : Math.min(BAR_WIDTH, Math.round((done / total) * BAR_WIDTH));
  const parts = ['waiting', 'delayed', 'active', 'completed', 'dead'].map((s) => `${s} ${counts[s] ?? 0}`);
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${parts.join(' · ')}`;
}

async function leaderOf(client: FlotillaClient, group: string): Promise<number> {
  const topology = await client.refreshTopology().catch(() => undefined);
  return topology?.leaders[group] ?? 0;
}

const dir = resolve(values.dir!);
rmSync(dir, { recursive: true, force: true });
const ledger = await EffectsLedger.start();
process.env.JOB_SCHEDULER_LEDGER = ledger.url;
const cluster = LocalCluster.start({
  nodes: 3,
  dir,
  basePort: Number(values['base-port']),
  app: APP,
  output: 'ignore',
});
let exitCode = 1;
try {
  say(`job-scheduler: 3 node processes starting (data in ${dir})`);
  const client = await cluster.connect(10_000);
  await cluster.formed(client);
  const jobs = new Jobs(client, definition);
  await jobs.ready(60_000);
  for (const id of cluster.ids)
    say(`  node ${id}: pid ${cluster.pid(id)} · dashboard http://${cluster.admin(id)}/ (Jobs tab)`);
  await jobs.schedule({
    id: 'digest',
    queue: 'reports',
    name: 'build-report',
    payload: { name: 'digest' },
    cron: '*/2 * * * * *',
    overlap: 'skip',
  });
  await jobs.schedule({
    id: 'audit',
    queue: 'reports',
    name: 'build-report',
    payload: { name: 'audit' },
    cron: '*/5 * * * * *',
    timezone: 'Europe/Oslo',
    missed: 'once',
  });
  say('job-scheduler: cron schedules "digest" (every 2 s) and "audit" (every 5 s, Europe/Oslo) registered');
  say(
    `job-scheduler: enqueueing ${RATE} jobs/s (emails, and invoices of ${new Set(TENANTS).size} tenants taking turns)`,
  );

  // Every finished job as it happens, to count completions per job.
  const completions = new Map<string, number>();
  const stopEvents = new AbortController();
  const watching = (async () => {
    for await (const e of jobs.events({
      signal: stopEvents.signal,
      fromStart: true,
    }) as AsyncIterable<JobEvent>)
      if (e.state === 'completed') completions.set(e.id, (completions.get(e.id) ?? 0) + 1);
  })().catch(() => {});

  const started = performance.now();
  const until = DURATION_S === undefined ? Number.POSITIVE_INFINITY : started + DURATION_S * 1000;
  const killAt =
    started + (DURATION_S === undefined ? KILL_AT_MS_UNBOUNDED : DURATION_S * 1000 * KILL_AT_SHARE);
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
  });
  if (DURATION_S === undefined) say('job-scheduler: running; press Ctrl-C to stop and audit');

  const enqueued: string[] = [];
  let enqueueErrors = 0;
  let n = 0;
  let inFlight = 0;
  const produce = async () => {
    while (!interrupted && performance.now() < until) {
      const tick = performance.now();
      const batch = Math.max(1, Math.round((RATE * TICK_MS) / 1000));
      const emails = Array.from({ length: Math.ceil(batch * 0.7) }, () => ({
        type: SendEmail,
        input: { to: `user${n++}@example.com`, subject: 'Your weekly summary' },
      }));
      const invoices = Array.from({ length: Math.floor(batch * 0.3) }, () => {
        const tenant = TENANTS[n % TENANTS.length]!;
        return {
          type: ChargeInvoice,
          input: { tenant, invoice: `inv-${n++}`, cents: 100 + (n % 900) },
          options: { tenant },
        };
      });
      // Ticks overlap (a slow enqueue does not hold the next one back), up to a bound.
      while (inFlight >= ENQUEUES_IN_FLIGHT_MAX) await sleep(5);
      inFlight++;
      void Promise.all([jobs.enqueueBulk(emails), jobs.enqueueBulk(invoices)])
        .then(([a, b]) => enqueued.push(...a, ...b))
        .catch(() => {
          enqueueErrors++; // refused or in doubt (a leader was changing): not counted as enqueued
        })
        .finally(() => {
          inFlight--;
        });
      await sleep(Math.max(0, TICK_MS - (performance.now() - tick)));
    }
    while (inFlight > 0) await sleep(10);
  };
  let killed = false;
  let failoverMs = 0;
  const chaos = async () => {
    while (performance.now() < killAt && !interrupted && performance.now() < until) await sleep(100);
    if (interrupted || performance.now() >= until) return;
    let victim = 0;
    for (let i = 0; i < 50 && victim === 0; i++) {
      victim = await leaderOf(client, 'jobs:0');
      if (victim === 0) await sleep(100);
    }
    if (victim === 0) {
      say('job-scheduler: no leader of jobs:0 known; no kill this run');
      return;
    }
    say(
      `job-scheduler: kill -9 of node ${victim}, the leader of jobs:0 (its dispatcher and workers die mid-job)`,
    );
    const at = performance.now();
    await cluster.kill(victim, 'SIGKILL');
    killed = true;
    for (;;) {
      const leader = await leaderOf(client, 'jobs:0');
      if (leader !== 0 && leader !== victim) {
        failoverMs = Math.round(performance.now() - at);
        say(
          `job-scheduler: node ${leader} leads jobs:0 after ${failoverMs} ms; its dispatcher recovers the dead node's claims as their leases end`,
        );
        break;
      }
      if (performance.now() - at > 30_000) break;
      await sleep(20);
    }
    await sleep(DOWN_MS);
    cluster.restart(victim);
    say(`job-scheduler: node ${victim} restarts from its data directory and rejoins`);
  };
  const progress = async () => {
    let last = 0;
    while (!interrupted && performance.now() < until) {
      await sleep(500);
      const summary = await jobs.summary().catch(() => undefined);
      if (summary === undefined) continue;
      const counts: Record<string, number> = {};
      for (const q of Object.values(summary.queues))
        for (const [s, c] of Object.entries(q.counts)) counts[s] = (counts[s] ?? 0) + c;
      const line = `${bar(counts, enqueued.length)} · orphans recovered ${summary.stats.orphansRecovered}`;
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${line}`);
      else if (performance.now() - last > 2_000) {
        last = performance.now();
        say(line);
      }
    }
  };
  await Promise.all([produce(), chaos(), progress()]);
  await jobs.unschedule('digest');
  await jobs.unschedule('audit');
  say(
    `job-scheduler: load over after ${Math.round((performance.now() - started) / 1000)} s: ${enqueued.length} jobs enqueued; draining`,
  );

  // Every ad-hoc job finishes: completed (or dead after its attempts), never lost.
  const drainBy = performance.now() + DRAIN_TIMEOUT_MS;
  const records = new Map<string, JobRecord>();
  const wanted = new Set(enqueued);
  while (performance.now() < drainBy) {
    for (const queue of ['emails', 'invoices'])
      for (const state of ['completed', 'dead'] as const)
        for (const r of await jobs.list(queue, state, 1_000_000).catch(() => []))
          if (wanted.has(r.id)) records.set(r.id, r);
    if (records.size >= wanted.size) break;
    await sleep(500);
  }
  await sleep(1_000); // the last completion events
  stopEvents.abort();
  await watching;
  const summary = await jobs.summary();
  const completed = [...records.values()].filter((r) => r.state === 'completed');
  const lost = enqueued.filter((id) => !records.has(id)).length;
  const duplicated = [...completions.values()].filter((c) => c > 1).length;
  if (lost > 0) {
    // Say where the unfinished ones are (a stuck claim, a job never claimed, a job unknown to its group).
    const sample = enqueued.filter((id) => !records.has(id)).slice(0, LOST_SHOWN);
    for (const id of sample) {
      const r = await jobs.get(id).catch((e: unknown) => String(e));
      say(`job-scheduler: unfinished ${id}: ${JSON.stringify(r)}`);
    }
  }
  for (const queue of ['emails', 'invoices', 'reports']) {
    const dead = await jobs.list(queue, 'dead', LOST_SHOWN).catch(() => []);
    for (const r of dead) say(`job-scheduler: dead ${r.id} (${r.name}): ${r.errors.join(' | ')}`);
  }
  const misfenced = completed.filter((r) => ledger.effects.get(r.id)?.token !== r.lastToken).length;
  console.log(
    JSON.stringify({
      demo: 'job-scheduler',
      jobs: enqueued.length,
      completed: completed.length,
      dead: records.size - completed.length,
      lost,
      duplicated,
      misfenced,
      leader_kills: killed ? 1 : 0,
      failover_ms: failoverMs,
      scheduled_fired: summary.stats.scheduledFired,
      retried: summary.stats.retried,
      orphans_recovered: summary.stats.orphansRecovered,
      stale_refused: summary.stats.staleRefused,
      ledger_fenced: ledger.fenced,
      enqueue_errors: enqueueErrors,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    }),
  );
  exitCode = lost === 0 && duplicated === 0 && misfenced === 0 ? 0 : 1;
  client.close();
} catch (error) {
  say(`job-scheduler: failed: ${error instanceof Error ? error.stack : String(error)}`);
} finally {
  await cluster.stop();
  await ledger.close();
}
process.exit(exitCode);
