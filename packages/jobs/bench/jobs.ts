/**
 * `pnpm bench:jobs` (a benchmark, not a test): end-to-end no-op jobs (enqueue → run → complete) through
 * Flotilla's job queue on three node processes (compiled code, fsync on, every leader on node 1, the
 * application bench-app.ts), against BullMQ on Redis with `appendfsync everysec` and with `appendfsync always`
 * (bullmq.ts), in the same run, with the same job count, producer and total concurrency.
 *
 * Flotilla: a warm-up of BENCH_JOBS_WARMUP jobs, then BENCH_JOBS jobs enqueued by `jobs.enqueueBulk` in chunks of
 * BENCH_BULK (each chunk awaited before the next, as the BullMQ producer does); completion is detected by
 * polling `jobs.summary()` every COMPLETION_POLL_MS (20 ms, as on the BullMQ side) from the first enqueue on:
 *   jobs_per_s = jobs / (the poll that saw the last completion − the first enqueue issued), this process's clock;
 *   start_p50_ms / start_p99_ms = percentiles of `startedAt − createdAt` of every measured job (the log times of
 *   its claim and of its enqueue, both stamped by the group's leader), read back with `jobs.list` after the run;
 *   cpu_us_per_job = CPU (user + system, /proc) of the three node processes over the measured run, per job;
 *   client_cpu_us_per_job = this process's (producer and poller);
 *   raft_entries_per_job = log entries the jobs groups committed during the measured run (Δ commit index, read
 *   from node 1's status), per job; enqueue_commands = the enqueue commands the bulk calls made (per chunk, one
 *   per jobs group and LIMITS.enqueueBatchMax jobs); claim_commands = distinct claims that handed out measured jobs (a job's fencing token
 *   is its claim's log index); other_entries = the rest (finish reports, heartbeats, ticks, empty claims,
 *   checkpoints); jobs_groups_new_terms = terms the jobs groups went through during it (summed over the groups:
 *   elections and leadership transfers); jobs_leaders_after = jobs groups led by each node at the end (every
 *   one on node 1 at the start: the cluster is placed again after the warm-up).
 * BullMQ: see bullmq.ts; its total concurrency is the Flotilla pools' (workers per node × 3).
 *
 * One JSON line per system, then one per fsync policy:
 *   {"bench":"jobs","system":"flotilla"|"bullmq-everysec"|"bullmq-always","jobs_per_s":N,"start_p50_ms":P,"start_p99_ms":Q,…}
 *   {"bench":"jobs-vs-bullmq","fsync":"everysec"|"always","ratio":R,"start_p50_ratio":L}
 * where R = Flotilla's jobs/s ÷ BullMQ's (> 1: Flotilla is faster) and L = Flotilla's start p50 ÷ BullMQ's
 * (< 1: Flotilla starts jobs sooner). Without a redis-server binary the BullMQ lines are replaced by a warning.
 *
 * Options (environment): BENCH_JOBS (20000), BENCH_CONCURRENCY (64: total handlers at once; Flotilla runs
 * ⌊C/3⌋ per node, and BullMQ gets the same total), BENCH_BULK (500), BENCH_JOBS_GROUPS (4),
 * BENCH_JOBS_WARMUP (1000, both systems), BENCH_SYSTEMS (a subset of flotilla,bullmq-everysec,bullmq-always),
 * BENCH_BASE_PORT (7900), BENCH_TOML (appended to every node's config), FLOTILLA_PROFILE_DIR (a CPU profile
 * per node process, written when the cluster stops).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FlotillaClient } from '@flotilla/client';
import { Jobs, LIMITS } from '@flotilla/jobs';
import { LocalCluster } from '@flotilla/node';
import { type BullmqResult, runBullmq } from './bullmq.ts';
import { redisAvailable } from './redis.ts';

function intOption(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be an integer ≥ ${min}`);
  return value;
}

const NODES = 3;
const JOBS = intOption('BENCH_JOBS', 20_000);
const CONCURRENCY = intOption('BENCH_CONCURRENCY', 64, NODES);
const BULK = intOption('BENCH_BULK', 500);
const GROUPS = intOption('BENCH_JOBS_GROUPS', 4);
const WARMUP = intOption('BENCH_JOBS_WARMUP', 1_000, 0);
const BASE_PORT = intOption('BENCH_BASE_PORT', 7_900);
const ALL_SYSTEMS = ['flotilla', 'bullmq-everysec', 'bullmq-always'] as const;
const SYSTEMS = (process.env.BENCH_SYSTEMS || ALL_SYSTEMS.join(',')).split(',').map((s) => s.trim());
for (const s of SYSTEMS)
  if (!(ALL_SYSTEMS as readonly string[]).includes(s))
    throw new Error(`BENCH_SYSTEMS: unknown system ${s} (${ALL_SYSTEMS.join(', ')})`);

/** Handlers per node, and the total both systems run at once. */
const WORKERS_PER_NODE = Math.floor(CONCURRENCY / NODES);
const TOTAL_CONCURRENCY = WORKERS_PER_NODE * NODES;

/** As on the BullMQ side: how often completion is polled. */
const COMPLETION_POLL_MS = 20;
/** A run fails when slower than this, or for large runs than SLOWEST_JOBS_PER_S (as bullmq.ts). */
const MIN_RUN_TIMEOUT_MS = 60_000;
const SLOWEST_JOBS_PER_S = 100;
/** Bound on every leader moving to node 1 (the balancer moves a few groups per second). */
const PLACEMENT_TIMEOUT_MS = 60_000;
/** Bound on every jobs group's dispatcher configuring the queues. */
const READY_TIMEOUT_MS = 60_000;

// The nodes inherit this environment: bench-app.ts reads its pool size and group count from it.
process.env.BENCH_JOBS_WORKERS_PER_NODE = String(WORKERS_PER_NODE);
process.env.BENCH_JOBS_GROUPS = String(GROUPS);
const PROFILE_DIR = process.env.FLOTILLA_PROFILE_DIR ? resolve(process.env.FLOTILLA_PROFILE_DIR) : undefined;
if (PROFILE_DIR !== undefined) {
  mkdirSync(PROFILE_DIR, { recursive: true });
  // cliCommand() reads the nodes' V8 flags from here; LocalCluster stops nodes with SIGTERM, so they write it.
  process.env.FLOTILLA_NODE_FLAGS = `${process.env.FLOTILLA_NODE_FLAGS ?? '--max-semi-space-size=32'} --cpu-prof --cpu-prof-dir=${PROFILE_DIR}`;
}
const { jobs: definition, Noop } = await import('./bench-app.ts');
// Ctrl-C or a kill: exit through process.exit, so that the 'exit' handlers of LocalCluster and bullmq.ts kill
// the processes they started.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
const APP = fileURLToPath(new URL('./bench-app.ts', import.meta.url));

const print = (line: Record<string, unknown>) => console.log(JSON.stringify(line));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const runTimeoutMs = (jobs: number) => Math.max(MIN_RUN_TIMEOUT_MS, (jobs / SLOWEST_JOBS_PER_S) * 1000);

/** CPU seconds (user + system) a process has used so far, as bench/cluster.ts reads it; undefined without /proc. */
function cpuSeconds(pid: number | 'self'): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

function totalCpu(pids: readonly (number | 'self')[]): number | undefined {
  let total = 0;
  for (const pid of pids) {
    const s = cpuSeconds(pid);
    if (s === undefined) return undefined;
    total += s;
  }
  return total;
}

const perJob = (before: number | undefined, after: number | undefined, jobs: number) =>
  before === undefined || after === undefined ? null : Number((((after - before) / jobs) * 1e6).toFixed(1));

/** Nearest-rank percentile of sorted values (as bullmq.ts). */
const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

interface FlotillaResult {
  readonly system: 'flotilla';
  readonly jobs_per_s: number;
  readonly start_p50_ms: number;
  readonly start_p99_ms: number;
  readonly [detail: string]: unknown;
}

/** `promise`, or a rejection with `describe()` after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, describe: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(describe())), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Enqueues `count` no-op jobs in chunks of BULK (each awaited) while polling `summary()` from the first enqueue
 * on until `count` more jobs of the queue have completed. Resolves with the ids (chunk by chunk) and the time.
 */
async function enqueueAndComplete(
  jobs: Jobs,
  count: number,
): Promise<{ ids: string[][]; seconds: number; enqueueSeconds: number; pollErrors: number }> {
  const limit = runTimeoutMs(count);
  const completedNow = async () => (await jobs.summary()).queues.bench?.counts.completed ?? 0;
  const baseline = await completedNow();
  const ids: string[][] = [];
  let added = 0;
  let completed = 0;
  let enqueueSeconds = 0;
  let pollErrors = 0;
  let stopped = false;
  const started = performance.now();
  const add = async () => {
    while (added < count && !stopped) {
      const chunk = Math.min(BULK, count - added);
      const from = added;
      ids.push(
        await jobs.enqueueBulk(
          Array.from({ length: chunk }, (_, i) => ({ type: Noop, input: { i: from + i } })),
        ),
      );
      added += chunk;
    }
    enqueueSeconds = (performance.now() - started) / 1000;
  };
  const poll = async () => {
    while (!stopped) {
      // A group between leaders fails a poll now and then: the next one asks again (the run stays bounded).
      const summary = await jobs.summary().catch(() => undefined);
      const now = performance.now();
      if (summary === undefined) {
        pollErrors++;
        await sleep(COMPLETION_POLL_MS);
        continue;
      }
      const counts = summary.queues.bench?.counts;
      completed = (counts?.completed ?? 0) - baseline;
      if (counts?.dead) throw new Error(`Flotilla: ${counts.dead} jobs are dead`);
      if (completed >= count) return (now - started) / 1000;
      await sleep(COMPLETION_POLL_MS);
    }
    throw new Error('Flotilla run stopped');
  };
  const work = Promise.all([add(), poll()]).then(
    ([, seconds]) => ({ ids, seconds, enqueueSeconds, pollErrors }),
    (error: unknown) => {
      stopped = true;
      throw error;
    },
  );
  return withTimeout(work, limit, () => {
    stopped = true;
    return `Flotilla run: ${completed} of ${count} jobs completed (${added} enqueued) within ${limit} ms`;
  });
}

/** Waits (bounded) until node 1 leads every group: the placement Flotilla is measured in (as bench/app.ts). */
async function placedOnNode1(client: FlotillaClient): Promise<void> {
  const deadline = performance.now() + PLACEMENT_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const leaders = Object.values((await client.refreshTopology()).leaders);
    if (leaders.length > 0 && leaders.every((l) => l === 1)) return;
    await sleep(250);
  }
  print({ bench: 'jobs', system: 'flotilla', warning: 'leaders not all on node 1; measuring anyway' });
}

/** How many jobs groups each node leads (0: none known), as the cluster's topology says. */
async function jobsLeaders(client: FlotillaClient): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const [group, leader] of Object.entries((await client.refreshTopology()).leaders))
    if (group.startsWith(`${definition.prefix}:`)) counts[leader] = (counts[leader] ?? 0) + 1;
  return counts;
}

/** Commit indexes and terms of the jobs groups, summed, as node 1 reports them. */
async function jobsGroups(
  client: FlotillaClient,
  cluster: LocalCluster,
): Promise<{ commit: number; term: number }> {
  const status = (await client.status(cluster.api(1))) as {
    groups: { id: string; commitIndex: number; term: number }[];
  };
  const groups = status.groups.filter((g) => g.id.startsWith(`${definition.prefix}:`));
  return {
    commit: groups.reduce((n, g) => n + g.commitIndex, 0),
    term: groups.reduce((n, g) => n + g.term, 0),
  };
}

async function measureFlotilla(): Promise<FlotillaResult> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-jobs-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  let cluster: LocalCluster | undefined;
  let client: FlotillaClient | undefined;
  try {
    cluster = LocalCluster.start({
      nodes: NODES,
      dir,
      basePort: BASE_PORT,
      app: APP,
      output: 'ignore',
      ...(process.env.BENCH_TOML ? { extraToml: process.env.BENCH_TOML } : {}),
    });
    client = await cluster.connect(10_000);
    await cluster.formed(client);
    await placedOnNode1(client);
    const jobs = new Jobs(client, definition);
    await jobs.ready(READY_TIMEOUT_MS);
    if (WARMUP > 0) await enqueueAndComplete(jobs, WARMUP);
    // The warm-up may have moved leaders (an election under load): the measured run starts placed again.
    await placedOnNode1(client);
    await jobs.ready(READY_TIMEOUT_MS);

    const pids = cluster.ids.map((id) => cluster!.pid(id)!);
    const groupsBefore = await jobsGroups(client, cluster);
    const nodesBefore = totalCpu(pids);
    const clientBefore = cpuSeconds('self');
    const run = await enqueueAndComplete(jobs, JOBS);
    const nodesAfter = totalCpu(pids);
    const clientAfter = cpuSeconds('self');
    const groupsAfter = await jobsGroups(client, cluster);
    const leadersAfter = await jobsLeaders(client);
    const entries = groupsAfter.commit - groupsBefore.commit;

    const measured = new Set(run.ids.flat());
    const records = (await jobs.list('bench', 'completed', WARMUP + JOBS)).filter((r) => measured.has(r.id));
    if (records.length !== JOBS)
      throw new Error(`Flotilla: read back ${records.length} of ${JOBS} completed jobs`);
    const starts = records.map((r) => r.startedAt! - r.createdAt).sort((a, b) => a - b);
    const claims = new Set(records.map((r) => `${r.id.slice(r.id.indexOf('@'))}/${r.lastToken}`)).size;
    // Each bulk call sends its jobs group by group, in commands of at most LIMITS.enqueueBatchMax jobs.
    let enqueues = 0;
    for (const chunk of run.ids) {
      const perGroup = new Map<string, number>();
      for (const id of chunk)
        perGroup.set(id.slice(id.indexOf('@')), (perGroup.get(id.slice(id.indexOf('@'))) ?? 0) + 1);
      for (const n of perGroup.values()) enqueues += Math.ceil(n / LIMITS.enqueueBatchMax);
    }
    return {
      system: 'flotilla',
      jobs_per_s: Math.round(JOBS / run.seconds),
      start_p50_ms: percentile(starts, 0.5),
      start_p99_ms: percentile(starts, 0.99),
      jobs: JOBS,
      concurrency: TOTAL_CONCURRENCY,
      seconds: Number(run.seconds.toFixed(2)),
      enqueue_s: Number(run.enqueueSeconds.toFixed(2)),
      poll_errors: run.pollErrors,
      cpu_us_per_job: perJob(nodesBefore, nodesAfter, JOBS),
      client_cpu_us_per_job: perJob(clientBefore, clientAfter, JOBS),
      raft_entries_per_job: Number((entries / JOBS).toFixed(3)),
      enqueue_commands: enqueues,
      claim_commands: claims,
      jobs_per_claim: Number((JOBS / claims).toFixed(1)),
      other_entries: entries - enqueues - claims,
      jobs_groups_new_terms: groupsAfter.term - groupsBefore.term,
      jobs_leaders_after: leadersAfter,
    };
  } finally {
    client?.close();
    await cluster?.stop();
    process.removeListener('exit', removeDir);
    removeDir();
  }
}

const ratio = (a: number, b: number) => (b > 0 ? Number((a / b).toFixed(2)) : null);

let failed = false;
print({
  bench: 'jobs-config',
  jobs: JOBS,
  warmup: WARMUP,
  concurrency: TOTAL_CONCURRENCY,
  workers_per_node: WORKERS_PER_NODE,
  bulk: BULK,
  groups: GROUPS,
  systems: SYSTEMS,
});

let flotilla: FlotillaResult | undefined;
if (SYSTEMS.includes('flotilla')) {
  try {
    flotilla = await measureFlotilla();
    print({ bench: 'jobs', ...flotilla });
  } catch (error) {
    failed = true;
    print({ bench: 'jobs', system: 'flotilla', error: String(error) });
  }
}

const bullmqSystems = SYSTEMS.filter((s) => s.startsWith('bullmq-'));
if (bullmqSystems.length > 0 && !redisAvailable()) {
  print({
    bench: 'jobs',
    warning: 'redis-server not found (scripts/ensure-redis.sh needs root and apt): BullMQ baseline skipped',
  });
} else {
  for (const system of bullmqSystems) {
    const fsync = system === 'bullmq-always' ? 'always' : 'everysec';
    let bullmq: BullmqResult;
    try {
      bullmq = await runBullmq({
        jobs: JOBS,
        concurrency: TOTAL_CONCURRENCY,
        bulk: BULK,
        fsync,
        warmupJobs: WARMUP,
      });
    } catch (error) {
      failed = true;
      print({ bench: 'jobs', system, error: String(error) });
      continue;
    }
    const { system: name, jobs_per_s, start_p50_ms, start_p99_ms, ...rest } = bullmq;
    print({ bench: 'jobs', system: name, jobs_per_s, start_p50_ms, start_p99_ms, ...rest });
    if (flotilla !== undefined)
      print({
        bench: 'jobs-vs-bullmq',
        fsync,
        ratio: ratio(flotilla.jobs_per_s, jobs_per_s),
        start_p50_ratio: ratio(flotilla.start_p50_ms, start_p50_ms),
      });
  }
}
if (failed) process.exitCode = 1;
