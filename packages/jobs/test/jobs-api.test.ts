/**
 * The jobs API against a standalone node (a cluster of one, the same engine): bad input refused with typed
 * errors naming the thing, nothing enqueued; then the happy paths — a job, a flow, a delayed job cancelled,
 * a dead job retried, the completion stream, a schedule.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FlotillaClient, SchemaError } from '@flotilla/client';
import { cliCommand } from '../../node/src/operations/local-cluster.ts';
import { freePort } from '../../node/test/ports.ts';
import { eventually } from '../../node/test/process-cluster.ts';
import { defineJob, type JobEvent, Jobs, JobsError, LIMITS } from '../src/index.ts';
import { jobs as definition, Slow, Work } from './fixtures/app.ts';

const APP = fileURLToPath(new URL('./fixtures/app.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'flotilla-jobs-api-'));
let child: ChildProcess | undefined;
let client: FlotillaClient | undefined;
after(() => {
  client?.close();
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const refused = (reason: string, subject: RegExp) => (e: unknown) =>
  e instanceof JobsError && e.reason === reason && subject.test(e.message);

test('the jobs API on a standalone node: typed refusals, then jobs, flows, cancel, retry, events, schedules', {
  timeout: 120_000,
}, async () => {
  const api = await freePort();
  const admin = await freePort();
  const config = join(dir, 'node.toml');
  writeFileSync(
    config,
    `[node]\nid = 1\ndata_dir = "${join(dir, 'data')}"\napi = "127.0.0.1:${api}"\nadmin = "127.0.0.1:${admin}"\nlog_level = "warn"\n\n[app]\nmodule = "${APP}"\n`,
  );
  const { command, args } = cliCommand();
  child = spawn(command, [...args, 'start', '--config', config], { stdio: 'ignore' });
  client = await eventually('the node answers', 30_000, async () => {
    try {
      const c = await FlotillaClient.connect({ addresses: [`127.0.0.1:${api}`] });
      if ((await c.refreshTopology()).ready) return c;
      c.close();
    } catch {
      // Not listening yet.
    }
    return undefined;
  });
  const jobs = new Jobs(client, definition);
  await jobs.ready();

  // Bad input: typed, naming the thing, nothing enqueued.
  await assert.rejects(
    jobs.enqueueNamed([{ queue: 'nope', name: 'work', payload: {} }]),
    refused('unknown-queue', /nope/),
  );
  const Stranger = defineJob({
    name: 'stranger',
    queue: 'work',
    input: Work.input,
    output: Work.output,
    handler: () => ({ n: 0, fenced: false }),
  });
  await assert.rejects(jobs.enqueue(Stranger, { n: 1 }), refused('unknown-job-type', /stranger/));
  await assert.rejects(
    jobs.enqueue(Work, { n: 'one' as unknown as number }),
    (e: unknown) => e instanceof SchemaError && /n/.test(e.message),
  );
  await assert.rejects(
    jobs.enqueueNamed([{ queue: 'work', name: 'work', payload: 'x'.repeat(LIMITS.payloadBytesMax + 1) }]),
    refused('payload-too-large', /work/),
  );
  await assert.rejects(
    jobs.schedule({ id: 's', queue: 'cron', name: 'tick', payload: null, cron: 'sometimes' }),
    refused('invalid-cron', /sometimes/),
  );
  await assert.rejects(jobs.cancel('missing@0'), refused('unknown-job', /missing@0/));
  await assert.rejects(jobs.cancel('not-an-id'), refused('unknown-job', /not-an-id/));
  assert.equal((await jobs.summary()).stats.enqueued, 0, 'nothing was enqueued');

  // A job, and the stream of finished jobs.
  const seen: JobEvent[] = [];
  const stop = new AbortController();
  const stream = (async () => {
    for await (const e of jobs.events({ signal: stop.signal })) seen.push(e);
  })();
  const id = await jobs.enqueue(Work, { n: 7 });
  const done = await jobs.waitFor(id);
  assert.equal(done.state, 'completed');
  assert.deepEqual(done.result, { n: 7, fenced: false });
  await eventually('its completion event', 10_000, async () =>
    seen.some((e) => e.id === id && e.state === 'completed') ? true : undefined,
  );

  // A named job of a type nobody handles dies with that reason; retry revives it (and it dies again).
  const [orphanType] = await jobs.enqueueNamed([{ queue: 'work', name: 'nobody', payload: {} }]);
  const deadJob = await jobs.waitFor(orphanType!);
  assert.equal(deadJob.state, 'dead');
  assert.match(deadJob.errors.at(-1)!, /unknown job type nobody/);
  assert.equal(await jobs.retry(orphanType!), 'waiting');
  assert.equal((await jobs.waitFor(orphanType!)).state, 'dead');

  // A flow: the parent runs after its children.
  const flow = await jobs.enqueueFlow({
    parent: { queue: 'work', name: 'work', payload: { n: 100 } },
    children: [1, 2, 3].map((n) => ({ queue: 'work', name: 'work', payload: { n, sleepMs: 50 } })),
  });
  const parent = await jobs.waitFor(flow.parent);
  assert.equal(parent.state, 'completed');
  for (const c of flow.children) {
    const child = (await jobs.get(c))!;
    assert.equal(child.state, 'completed');
    assert.ok(child.finishedAt! <= parent.firstStartedAt!, 'children finish before their parent starts');
  }

  // A delayed job cancelled; an active one cancelled (its handler's signal fires; it ends cancelled).
  const later = await jobs.enqueue(Work, { n: 1 }, { delayMs: 60_000 });
  assert.equal((await jobs.get(later))!.state, 'delayed');
  assert.equal(await jobs.cancel(later), 'cancelled');
  const long = await jobs.enqueue(Work, { n: 2, sleepMs: 20_000 });
  await eventually('the long job runs', 10_000, async () =>
    (await jobs.get(long))?.state === 'active' ? true : undefined,
  );
  assert.equal(await jobs.cancel(long), 'active');
  assert.equal((await jobs.waitFor(long, 15_000)).state, 'cancelled');
  await assert.rejects(jobs.cancel(long), refused('not-cancellable', /cancelled/));

  // Dedupe: a second enqueue with the key returns the first job.
  const a = await jobs.enqueue(Slow, { ms: 500 }, { dedupe: { key: 'only-one' } });
  const b = await jobs.enqueue(Slow, { ms: 500 }, { dedupe: { key: 'only-one' } });
  assert.equal(b, a);

  // A schedule every second fires (and stops when removed).
  await jobs.schedule({ id: 'tick', queue: 'cron', name: 'tick', payload: null, cron: '* * * * * *' });
  await eventually('the schedule fired', 10_000, async () =>
    (await jobs.list('cron', 'completed', 10)).some((r) => r.scheduleId === 'tick') ? true : undefined,
  );
  assert.equal(await jobs.unschedule('tick'), true);

  // The CLI, by name: an enqueue that runs, and a refusal naming the queue (exit 1).
  const cli = (...rest: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const p = spawn(command, [...args, 'jobs', ...rest, '--api', `127.0.0.1:${api}`], { stdio: 'pipe' });
      let out = '';
      let err = '';
      p.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      p.stderr.on('data', (c: Buffer) => {
        err += c.toString();
      });
      p.on('exit', (code) => resolve({ code, out, err }));
    });
  const enqueued = await cli('enqueue', '--queue', 'work', '--name', 'work', '--payload', '{"n":5}');
  assert.equal(enqueued.code, 0, enqueued.err);
  const cliJob = JSON.parse(enqueued.out) as { id: string };
  assert.equal((await jobs.waitFor(cliJob.id)).state, 'completed');
  const shown = await cli('get', '--id', cliJob.id);
  assert.equal((JSON.parse(shown.out) as { state: string }).state, 'completed');
  const bad = await cli('enqueue', '--queue', 'nope', '--name', 'work');
  assert.equal(bad.code, 1);
  assert.match(bad.err, /queue "nope" is not configured/);

  // Prometheus: jobs by queue and state, wait and run time histograms, stale claims and orphans.
  const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  const completed =
    metrics.match(/^flotilla_jobs\{group="jobs:\d+",queue="work",state="completed"[^}]*\} (\d+)/gm) ?? [];
  const total = completed.reduce((n, line) => n + Number(line.split(' ').at(-1)), 0);
  assert.ok(total >= 5, `completed work jobs in /metrics: ${total}`);
  assert.match(metrics, /^flotilla_jobs_wait_seconds_bucket\{.*queue="work".*le="0.005".*\} \d+/m);
  assert.match(metrics, /^flotilla_jobs_run_seconds_count\{.*queue="work".*\} \d+/m);
  assert.match(metrics, /^flotilla_jobs_stale_refused_total\{group="jobs:0"/m);
  assert.match(metrics, /^flotilla_jobs_orphans_recovered_total\{group="jobs:0"/m);
  stop.abort();
  await stream;
});
