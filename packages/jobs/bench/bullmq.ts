/**
 * The BullMQ baseline of `bench:jobs`, measured in the same run as Flotilla's job queue: end-to-end no-op jobs
 * (enqueue → run → complete) through BullMQ on its own Redis (redis.ts: a fresh temp directory, AOF with the
 * given fsync policy). This process is the producer (`queue.addBulk` in chunks, each awaited before the next);
 * the worker is a separate process (bullmq-worker.ts: one `Worker` of the given concurrency, no-op processor),
 * as Flotilla's workers are. Completion is detected by polling `getJobCounts` every COMPLETION_POLL_MS from the
 * first add on (on the producer's connection; a few ZCARDs per poll):
 *   jobs_per_s = completed / (the poll that saw the last completion − the first addBulk issued), producer's clock;
 *   start_p50_ms / start_p99_ms = percentiles of `job.processedOn − job.timestamp` (BullMQ's own stamps, ms),
 *   read back from the completed set after the run (jobs are kept: no `removeOnComplete`);
 *   cpu_us_per_job = CPU (user + system, from /proc) of redis-server and the worker process over the measured
 *   run, per job (null without /proc).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { type Fsync, type RedisServer, startRedis } from './redis.ts';

export interface BullmqOptions {
  /** Measured jobs. */
  readonly jobs: number;
  /** The worker's `concurrency`. */
  readonly concurrency: number;
  /** Jobs per `addBulk` call. */
  readonly bulk: number;
  /** Redis's `appendfsync`. */
  readonly fsync: Fsync;
  /** Jobs run (and then cleaned) before the measured ones, on the same queue; default WARMUP_JOBS. */
  readonly warmupJobs?: number;
}

export interface BullmqResult {
  /** `bullmq-everysec` or `bullmq-always`. */
  readonly system: string;
  readonly jobs_per_s: number;
  readonly start_p50_ms: number;
  readonly start_p99_ms: number;
  readonly completed: number;
  /** CPU (user + system, /proc) of redis-server and the worker process over the measured run, per job. */
  readonly cpu_us_per_job: number | null;
}

const QUEUE = 'bench';
const WARMUP_JOBS = 1_000;
/** How often the producer asks Redis how many jobs have completed (one `getJobCounts`, a few ZCARDs). */
const COMPLETION_POLL_MS = 20;
/** A run (warm-up, or adding and completing the measured jobs) fails when slower than this… */
const MIN_RUN_TIMEOUT_MS = 60_000;
/** …or, for large runs, than this rate (jobs per second). */
const SLOWEST_JOBS_PER_S = 100;
/** Bound on the worker process starting (tsx compiles it) and connecting. */
const WORKER_READY_TIMEOUT_MS = 30_000;
/** After asking the worker to close, how long before SIGKILL. */
const WORKER_STOP_GRACE_MS = 5_000;
/** Completed jobs read back per `getJobs` call. */
const READ_PAGE = 1_000;

const HERE = dirname(fileURLToPath(import.meta.url));
const WORKER_SCRIPT = join(HERE, 'bullmq-worker.ts');

/** One BullMQ run on a fresh Redis and worker process (see the module comment); everything is stopped after. */
export async function runBullmq(options: BullmqOptions): Promise<BullmqResult> {
  const { jobs, concurrency, bulk, fsync } = options;
  const warmupJobs = options.warmupJobs ?? WARMUP_JOBS;
  for (const [name, value] of Object.entries({ jobs, concurrency, bulk })) {
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`runBullmq: ${name} must be a positive integer`);
  }
  const held: Held = { dir: mkdtempSync(join(tmpdir(), 'flotilla-bullmq-')) };
  let result: BullmqResult;
  try {
    result = await measure(held, jobs, concurrency, bulk, fsync, warmupJobs);
  } catch (error) {
    await release(held); // the run's error is the one reported
    throw error;
  }
  const failure = await release(held);
  if (failure !== undefined) throw failure;
  return result;
}

/** What a run has started, for release(). */
interface Held {
  readonly dir: string;
  redis?: RedisServer;
  queue?: Queue;
  worker?: WorkerProcess;
}

async function measure(
  held: Held,
  jobs: number,
  concurrency: number,
  bulk: number,
  fsync: Fsync,
  warmupJobs: number,
): Promise<BullmqResult> {
  const redis = await startRedis({ fsync, dir: held.dir });
  held.redis = redis;
  const queue = new Queue(QUEUE, { connection: { host: '127.0.0.1', port: redis.port } });
  held.queue = queue;
  await queue.waitUntilReady();
  held.worker = await startWorker(redis.port, concurrency);
  if (warmupJobs > 0) {
    await addAndComplete(queue, 'warmup', warmupJobs, bulk);
    await queue.clean(0, warmupJobs, 'completed');
  }
  const pids = [redis.pid, held.worker.pid];
  const cpuBefore = cpuSeconds(pids);
  const { completed, seconds } = await addAndComplete(queue, 'noop', jobs, bulk);
  const cpuAfter = cpuSeconds(pids);
  const starts = await startLatencies(queue, 'noop', timeoutMs(jobs));
  if (starts.length !== jobs) throw new Error(`BullMQ: read back ${starts.length} of ${jobs} completed jobs`);
  return {
    system: `bullmq-${fsync}`,
    jobs_per_s: Math.round(completed / seconds),
    start_p50_ms: percentile(starts, 0.5),
    start_p99_ms: percentile(starts, 0.99),
    completed,
    cpu_us_per_job:
      cpuBefore === undefined || cpuAfter === undefined
        ? null
        : Number((((cpuAfter - cpuBefore) / completed) * 1e6).toFixed(1)),
  };
}

/** CPU seconds (user + system) the processes have used so far (as packages/node/bench/cluster.ts reads them). */
function cpuSeconds(pids: readonly number[]): number | undefined {
  let total = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
    } catch {
      return undefined;
    }
  }
  return total;
}

/**
 * Closes the queue's connections, stops the worker process and Redis (each step even when an earlier one
 * failed) and removes the temp directory; returns the first failure.
 */
async function release(held: Held): Promise<unknown> {
  let failure: unknown;
  for (const step of [() => held.queue?.close(), () => held.worker?.stop(), () => held.redis?.stop()]) {
    try {
      await step();
    } catch (error) {
      failure ??= error;
    }
  }
  rmSync(held.dir, { recursive: true, force: true });
  return failure;
}

const timeoutMs = (jobs: number) => Math.max(MIN_RUN_TIMEOUT_MS, (jobs / SLOWEST_JOBS_PER_S) * 1000);

/**
 * Adds `count` jobs named `name` in chunks of `bulk` (each awaited) while polling, from the first add on, until
 * as many more jobs have completed than before; bounded by timeoutMs(count).
 */
async function addAndComplete(
  queue: Queue,
  name: string,
  count: number,
  bulk: number,
): Promise<{ completed: number; seconds: number }> {
  const limit = timeoutMs(count);
  const baseline = (await queue.getJobCounts('completed')).completed ?? 0;
  let added = 0;
  let completed = 0;
  let stopped = false; // on a timeout or failure: the loops below end
  const started = performance.now();
  const add = async () => {
    while (added < count && !stopped) {
      const chunk = Math.min(bulk, count - added);
      await queue.addBulk(Array.from({ length: chunk }, (_, i) => ({ name, data: { i: added + i } })));
      added += chunk;
    }
  };
  const poll = async () => {
    while (!stopped) {
      const counts = await queue.getJobCounts('completed', 'failed');
      const now = performance.now();
      completed = (counts.completed ?? 0) - baseline;
      if (counts.failed) throw new Error(`BullMQ: ${counts.failed} ${name} jobs failed`);
      if (completed >= count) return { completed, seconds: (now - started) / 1000 };
      await sleep(COMPLETION_POLL_MS);
    }
    throw new Error(`BullMQ ${name} run stopped`);
  };
  const work = Promise.all([add(), poll()]).then(
    ([, done]) => done,
    (error: unknown) => {
      stopped = true;
      throw error;
    },
  );
  return withTimeout(work, limit, () => {
    stopped = true;
    return `BullMQ ${name} run: ${completed} of ${count} jobs completed (${added} added) within ${limit} ms`;
  });
}

/** `processedOn − timestamp` (ms) of every completed job named `name`, sorted. */
async function startLatencies(queue: Queue, name: string, limit: number): Promise<number[]> {
  const read = async () => {
    const starts: number[] = [];
    for (let start = 0; ; start += READ_PAGE) {
      const page = await queue.getJobs('completed', start, start + READ_PAGE - 1, true);
      for (const job of page) {
        if (job.name !== name) continue;
        if (job.processedOn === undefined)
          throw new Error(`BullMQ: completed job ${job.id} has no processedOn`);
        starts.push(job.processedOn - job.timestamp);
      }
      if (page.length < READ_PAGE) return starts.sort((a, b) => a - b);
    }
  };
  return withTimeout(read(), limit, () => `BullMQ: reading the completed jobs back took over ${limit} ms`);
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

interface WorkerProcess {
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts bullmq-worker.ts under tsx in its own process and resolves once its Worker is connected. */
async function startWorker(port: number, concurrency: number): Promise<WorkerProcess> {
  // cwd: `--import tsx` resolves from there (up to the repository's node_modules).
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', WORKER_SCRIPT, String(port), QUEUE, String(concurrency)],
    { cwd: HERE, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => {
    if (running(child)) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (!running(child)) return;
    if (child.connected) child.send('close');
    else process.kill(child.pid!, 'SIGTERM');
    const timer = setTimeout(() => {
      if (running(child)) process.kill(child.pid!, 'SIGKILL');
    }, WORKER_STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
    if (child.connected) child.disconnect();
  };
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (message) => {
      if (message === 'ready') resolve();
    });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(
        new Error(`the BullMQ worker process exited before it was ready (code ${code}, signal ${signal})`),
      ),
    );
  });
  try {
    await withTimeout(
      ready,
      WORKER_READY_TIMEOUT_MS,
      () => `the BullMQ worker process was not ready within ${WORKER_READY_TIMEOUT_MS} ms`,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { pid: child.pid!, stop };
}

function running(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/** `promise`, or a rejection with `describe()` after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, describe: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(describe())), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
