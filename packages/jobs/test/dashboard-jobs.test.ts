/**
 * The Jobs tab of the admin dashboard, in a real headless Chromium, against three node processes running the
 * dashboard fixture: the queues table lists the queues, its counts move as slow jobs are enqueued (waiting,
 * active, then completed) and the throughput chart and counters follow; jobs that fail show under recent
 * failures, newest first, with their last error as text (its markup escaped); Retry on one makes it run again
 * and complete (the client reads it completed; the row and counts follow); the cancel form cancels a delayed
 * job, and says why it cannot cancel a finished one or a malformed id.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer-core';
import { openDashboard, withBrowser } from '../../node/test/browser.ts';
import { eventually, ProcessCluster, waitForFormation } from '../../node/test/process-cluster.ts';
import { Jobs } from '../src/index.ts';
import {
  jobs as definition,
  FAIL_FILE_ENV,
  FAILURE_TEXT,
  FLAKY_ATTEMPTS,
  Flaky,
  SLOW_CONCURRENCY,
  Slow,
} from './fixtures/dashboard-app.ts';

const APP = fileURLToPath(new URL('./fixtures/dashboard-app.ts', import.meta.url));
const cluster = new ProcessCluster({ userShards: 2, extraToml: `[app]\nmodule = "${APP}"\n` });
const scratch = mkdtempSync(join(tmpdir(), 'flotilla-jobs-dashboard-'));
const failFile = join(scratch, 'fail');
after(async () => {
  await cluster.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** The page's waits: long enough for a loaded CI machine, short enough to fail quickly. */
const PAGE_WAIT_MS = 15_000;
/** Slow jobs enqueued, and how long each sleeps: a backlog of a few seconds at SLOW_CONCURRENCY. */
const SLOW_JOBS = 10;
const SLOW_MS = 600;
/** Flaky jobs that fail (one after the other). */
const FAILING = 3;
/** A delay that keeps a job delayed for the whole test. */
const DELAY_MS = 10 * 60_000;

/** What the Jobs tab shows, read from its test hooks. */
interface TabView {
  readonly status: { readonly state: string; readonly polls: number };
  readonly queues: string[];
  readonly counts: Record<string, Record<string, number>>;
  readonly stats: Record<string, number>;
  readonly chart: { readonly points: number; readonly max: number };
  readonly failures: {
    readonly id: string;
    readonly group: string;
    readonly finished: number;
    readonly attempts: string;
    readonly error: string;
    readonly retry: string | undefined;
  }[];
  /** Elements in the failures table other than the table's own (markup from an error would add some). */
  readonly failureMarkup: number;
  readonly action: { readonly state: string; readonly text: string };
}

/** Reads the tab in the page (a string: the test's compiled functions would carry helpers the page lacks). */
const READ_TAB = `(() => {
  const tab = document.getElementById('tab-jobs');
  const all = (selector) => [...tab.querySelectorAll(selector)];
  const counts = {};
  for (const td of all('#jobs-queues td[data-queue][data-state]'))
    (counts[td.dataset.queue] ??= {})[td.dataset.state] = Number(td.textContent);
  const stats = {};
  for (const td of all('#jobs-stats td[data-stat]')) stats[td.dataset.stat] = Number(td.textContent);
  const svg = tab.querySelector('#jobs-throughput');
  const action = tab.querySelector('#jobs-action');
  return {
    status: { state: tab.querySelector('#jobs-status').dataset.state, polls: Number(tab.querySelector('#jobs-status').dataset.polls) },
    queues: all('#jobs-queues tr[data-queue]').map((tr) => tr.dataset.queue),
    counts,
    stats,
    chart: { points: Number(svg.dataset.points), max: Number(svg.dataset.max) },
    failures: all('#jobs-failures tr[data-job]').map((tr) => ({
      id: tr.dataset.job,
      group: tr.dataset.group,
      finished: Number(tr.dataset.finished),
      attempts: tr.children[3].textContent,
      error: tr.querySelector('[data-error]').textContent,
      retry: tr.querySelector('button[data-retry]')?.dataset.retry,
    })),
    failureMarkup: all('#jobs-failures tbody *').filter((e) => !['TR', 'TD', 'BUTTON'].includes(e.tagName)).length,
    action: { state: action.dataset.state, text: action.textContent },
  };
})()`;

const readTab = (page: Page) => page.evaluate(READ_TAB) as Promise<TabView>;

/** Waits until the tab shows what `check` accepts (it returns a value then); every view read goes to `seen`. */
function shows<T>(
  page: Page,
  what: string,
  check: (view: TabView) => T | undefined,
  seen?: (view: TabView) => void,
): Promise<T> {
  return eventually(what, PAGE_WAIT_MS, async () => {
    const view = await readTab(page);
    seen?.(view);
    return check(view);
  });
}

const count = (view: TabView, queue: string, state: string): number => view.counts[queue]?.[state] ?? -1;

test('the Jobs tab in Chromium: counts, throughput, failures with Retry, Cancel, on three processes', {
  timeout: 180_000,
}, async (t) => {
  const started = performance.now();
  writeFileSync(failFile, 'flaky jobs fail while this file exists\n');
  process.env[FAIL_FILE_ENV] = failFile; // inherited by the nodes
  await cluster.start([1, 2, 3]);
  const client = await cluster.client([1, 2, 3], 8_000);
  await waitForFormation(cluster, client, [1, 2, 3]);
  const jobs = new Jobs(client, definition);
  await jobs.ready();

  await withBrowser(async (browser) => {
    const admin = `127.0.0.1:${cluster.ports.get(1)!.admin}`;
    const { page, pageErrors } = await openDashboard(browser, admin, PAGE_WAIT_MS, 'jobs');

    await t.test('the queues table lists the queues, every state counted', async () => {
      const view = await shows(page, 'both queues', (v) => (v.queues.length === 2 ? v : undefined));
      assert.deepEqual(view.queues, ['flaky', 'slow']);
      for (const queue of view.queues)
        assert.deepEqual(Object.keys(view.counts[queue]!), [
          'waiting',
          'delayed',
          'active',
          'completed',
          'dead',
          'cancelled',
          'waiting-children',
        ]);
      assert.ok(Object.values(view.counts.slow!).every((n) => n === 0));
      assert.equal(view.failures.length, 0);
    });

    await t.test('slow jobs enqueued: waiting and active move, then all completed', async () => {
      const observed = { waiting: 0, active: 0 };
      const track = (v: TabView) => {
        observed.waiting = Math.max(observed.waiting, count(v, 'slow', 'waiting'));
        observed.active = Math.max(observed.active, count(v, 'slow', 'active'));
      };
      await jobs.enqueueBulk(
        Array.from({ length: SLOW_JOBS }, () => ({ type: Slow, input: { ms: SLOW_MS } })),
      );
      await shows(page, 'slow jobs waiting', (v) => count(v, 'slow', 'waiting') > 0 || undefined, track);
      await shows(page, 'slow jobs active', (v) => count(v, 'slow', 'active') > 0 || undefined, track);
      const done = await shows(
        page,
        'every slow job completed',
        (v) =>
          count(v, 'slow', 'completed') === SLOW_JOBS &&
          count(v, 'slow', 'waiting') === 0 &&
          count(v, 'slow', 'active') === 0
            ? v
            : undefined,
        track,
      );
      assert.ok(observed.waiting > 0 && observed.active > 0);
      assert.ok(
        observed.active <= SLOW_CONCURRENCY,
        `at most ${SLOW_CONCURRENCY} active: ${observed.active}`,
      );
      assert.ok(done.stats.completed! >= SLOW_JOBS);
      const chart = await shows(page, 'the throughput chart', (v) =>
        v.chart.points >= 3 && v.chart.max > 0 ? v.chart : undefined,
      );
      const points = await page.$eval('#jobs-throughput-line', (line) => line.getAttribute('points') ?? '');
      assert.equal(points.trim().split(' ').length, chart.points);
      const summary = await jobs.summary();
      await shows(page, 'the counters of the cluster', (v) =>
        v.stats.completed === summary.stats.completed && v.stats.enqueued === summary.stats.enqueued
          ? true
          : undefined,
      );
    });

    const failed: string[] = [];
    await t.test('failed jobs under recent failures, newest first, their error as text', async () => {
      for (let n = 0; n < FAILING; n++) {
        const id = await jobs.enqueue(Flaky, { n });
        assert.equal((await jobs.waitFor(id)).state, 'dead');
        failed.push(id);
      }
      const view = await shows(page, 'the failures', (v) =>
        v.failures.length === FAILING && count(v, 'flaky', 'dead') === FAILING ? v : undefined,
      );
      assert.deepEqual(view.failures.map((f) => f.id).sort(), [...failed].sort());
      const finished = view.failures.map((f) => f.finished);
      assert.deepEqual(
        finished,
        [...finished].sort((a, b) => b - a),
        'newest first',
      );
      for (const f of view.failures) {
        assert.equal(f.group, `jobs:${f.id.slice(f.id.lastIndexOf('@') + 1)}`);
        assert.equal(f.retry, f.id);
        assert.equal(f.attempts, `${FLAKY_ATTEMPTS}/${FLAKY_ATTEMPTS}`);
        assert.ok(f.error.includes(FAILURE_TEXT), `the error as text: ${f.error}`);
      }
      assert.equal(view.failureMarkup, 0, "the error's markup is escaped");
      assert.ok(view.stats.dead! >= FAILING && view.stats.retried! >= FAILING * (FLAKY_ATTEMPTS - 1));
    });

    await t.test('Retry: the job leaves the dead jobs and completes', async () => {
      rmSync(failFile);
      const [id, ...others] = failed;
      await page.click(`#jobs-failures button[data-retry="${id}"]`);
      const record = await eventually('the retried job completed', PAGE_WAIT_MS, async () => {
        const r = await jobs.get(id!);
        return r?.state === 'completed' ? r : undefined;
      });
      assert.equal(record.attemptsMade, 1);
      const view = await shows(page, 'the retried job gone from the failures', (v) =>
        v.failures.length === FAILING - 1 &&
        count(v, 'flaky', 'dead') === FAILING - 1 &&
        count(v, 'flaky', 'completed') === 1
          ? v
          : undefined,
      );
      assert.deepEqual(view.failures.map((f) => f.id).sort(), [...others].sort());
      assert.equal(view.action.state, 'ok');
      assert.match(view.action.text, /^retry .+: now waiting$/);
      for (const other of others) assert.equal((await jobs.get(other))?.state, 'dead');
    });

    await t.test('Cancel: a delayed job cancelled; a finished one and a bad id refused', async () => {
      const id = await jobs.enqueue(Slow, { ms: 0 }, { delayMs: DELAY_MS });
      await shows(page, 'the delayed job', (v) => count(v, 'slow', 'delayed') === 1 || undefined);
      const cancel = async (jobId: string) => {
        await page.type('#jobs-cancel input[name="id"]', jobId);
        await page.click('#jobs-cancel button[type="submit"]');
      };
      await cancel(id);
      await shows(page, 'the delayed job cancelled', (v) =>
        count(v, 'slow', 'delayed') === 0 && count(v, 'slow', 'cancelled') === 1 && v.action.state === 'ok'
          ? true
          : undefined,
      );
      assert.equal((await jobs.get(id))?.state, 'cancelled');
      assert.equal(
        await page.$eval('#jobs-cancel input[name="id"]', (e) => (e as unknown as { value: string }).value),
        '',
      );

      await cancel(failed[0]!);
      const refused = await shows(page, 'a completed job not cancelled', (v) =>
        v.action.state === 'error' ? v.action.text : undefined,
      );
      assert.match(refused, /not-cancellable/);
      assert.equal((await jobs.get(failed[0]!))?.state, 'completed');
      await page.$eval('#jobs-cancel input[name="id"]', (e) => {
        (e as unknown as { value: string }).value = '';
      });
      await page.$eval('#jobs-action', (e) => {
        (e as unknown as { dataset: Record<string, string> }).dataset.state = 'idle';
      });
      await cancel('no-group-here');
      const malformed = await shows(page, 'a malformed id refused', (v) =>
        v.action.state === 'error' ? v.action.text : undefined,
      );
      assert.match(malformed, /job ids end with @n/);
    });

    const last = await readTab(page);
    assert.equal(last.status.state, 'ok');
    assert.deepEqual(pageErrors, [], 'no errors in the page');
    console.log(JSON.stringify({ test: 'dashboard-jobs', polls: last.status.polls }));
  });
  console.log(JSON.stringify({ test: 'dashboard-jobs', ms: Math.round(performance.now() - started) }));
});
