/**
 * The live-queries tab of the admin dashboard, in a real headless Chromium, against three node processes
 * running the live-queries fixture: subscriptions on KV keys served by nodes 1 and 2 show in the total, in the
 * per-node table (node 3 serves none and is not listed) and in the newest subscriptions (user, key as text —
 * its markup escaped — serving node); closing some brings the total, the counts and the rows down; while
 * every answer is slow the tab polls one poll at a time.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type FlotillaClient, KvMachine } from '@flotilla/client';
import type { Page } from 'puppeteer-core';
import { openDashboard, withBrowser } from '../../node/test/browser.ts';
import { eventually, ProcessCluster, waitForFormation } from '../../node/test/process-cluster.ts';
import { LiveQueries, type LiveSubscription } from '../src/index.ts';
import { live } from './fixtures/app.ts';

const APP = fileURLToPath(new URL('./fixtures/app.ts', import.meta.url));
const cluster = new ProcessCluster({ userShards: 2, extraToml: `[app]\nmodule = "${APP}"\n` });
after(() => cluster.stop());

/** The page's waits: long enough for a loaded CI machine, short enough to fail quickly. */
const PAGE_WAIT_MS = 15_000;
/** Subscriptions made, how many on node 1 (the rest on node 2), and how many are closed afterwards. */
const SUBSCRIPTIONS = 30;
const ON_NODE_1 = 18;
const CLOSED = 5;
const USERS = 6;
/** A key with markup: the page must show it as text. */
const MARKUP_KEY = 'dash/<b>bold</b>&amp;';

/** What the live-queries tab shows, read from its test hooks. */
interface TabView {
  readonly status: { readonly state: string; readonly polls: number; readonly text: string };
  readonly total: number;
  readonly nodes: Record<string, number>;
  readonly rows: {
    readonly id: string;
    readonly user: string;
    readonly group: string;
    readonly key: string;
    readonly node: number;
    readonly revision: number;
  }[];
  /** Elements in the list other than the table's own (markup from a key would add some). */
  readonly listMarkup: number;
}

/** Reads the tab in the page (a string: the test's compiled functions would carry helpers the page lacks). */
const READ_TAB = `(() => {
  const tab = document.getElementById('tab-live');
  const all = (selector) => [...tab.querySelectorAll(selector)];
  const status = tab.querySelector('#live-status');
  const nodes = {};
  for (const tr of all('#live-nodes tr[data-node]')) nodes[tr.dataset.node] = Number(tr.querySelector('td[data-count]').dataset.count);
  return {
    status: { state: status.dataset.state, polls: Number(status.dataset.polls), text: status.textContent },
    total: Number(tab.querySelector('#live-total').dataset.total),
    nodes,
    rows: all('#live-list tr[data-sub]').map((tr) => ({
      id: tr.dataset.sub,
      user: tr.children[0].textContent,
      group: tr.children[2].textContent,
      key: tr.children[3].textContent,
      node: Number(tr.children[4].textContent),
      revision: Number(tr.children[5].textContent),
    })),
    listMarkup: all('#live-list tbody *').filter((e) => !['TR', 'TD'].includes(e.tagName)).length,
  };
})()`;

/** How late each /call of the page answers while SLOW_CALLS is installed. */
const SLOW_CALL_MS = 1_500;
/** Delays the page's /call requests, counting those in flight (`window.liveProbe`; `restore()` ends it). */
const SLOW_CALLS = `(() => {
  const original = window.fetch;
  const probe = { calls: 0, inFlight: 0, max: 0, restore: () => { window.fetch = original; } };
  window.liveProbe = probe;
  window.fetch = async (url, init) => {
    if (url !== '/call') return original(url, init);
    probe.calls++;
    probe.max = Math.max(probe.max, ++probe.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, ${SLOW_CALL_MS}));
      return await original(url, init);
    } finally {
      probe.inFlight--;
    }
  };
})()`;

const readTab = (page: Page) => page.evaluate(READ_TAB) as Promise<TabView>;

/** Waits until the tab shows what `check` accepts (it returns a value then). */
function shows<T>(page: Page, what: string, check: (view: TabView) => T | undefined): Promise<T> {
  let last: TabView | undefined;
  return eventually(what, PAGE_WAIT_MS, async () => {
    last = await readTab(page);
    return check(last);
  }).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; the tab showed ${JSON.stringify(last)}`);
  });
}

interface Planned {
  readonly id: string;
  readonly user: string;
  readonly key: string;
  readonly group: string;
  readonly node: number;
  sub?: LiveSubscription;
}

test('the live-queries tab in Chromium: total, per-node counts, newest subscriptions, on three processes', {
  timeout: 180_000,
}, async (t) => {
  const started = performance.now();
  await cluster.start([1, 2, 3]);
  const clients = new Map<number, FlotillaClient>();
  for (const id of [1, 2]) clients.set(id, await cluster.client([id], 10_000));
  await waitForFormation(cluster, clients.get(1)!, [1, 2, 3], 30_000);
  for (const c of clients.values()) await c.refreshTopology(); // the shard sets, as the formed cluster has them

  const planned: Planned[] = Array.from({ length: SUBSCRIPTIONS }, (_, i) => {
    const key = i === 0 ? MARKUP_KEY : `dash/k${i}`;
    return {
      id: `sub-${String(i).padStart(2, '0')}`,
      user: `user-${i % USERS}`,
      key,
      group: clients.get(1)!.groupOf(KvMachine, { key, shards: 'user' }),
      node: i < ON_NODE_1 ? 1 : 2,
    };
  });
  const subscribeAll = Promise.all(
    planned.map(async (p) => {
      const liveQueries = new LiveQueries(clients.get(p.node)!, live);
      p.sub = await liveQueries.subscribe(
        { id: p.id, user: p.user, query: { group: p.group, key: p.key }, node: p.node },
        { onChanges: () => {} },
      );
    }),
  );
  await Promise.race([
    subscribeAll,
    new Promise((_, reject) => setTimeout(() => reject(new Error('subscribing timed out')), 30_000).unref()),
  ]);
  for (const p of planned) assert.equal(p.sub!.node, p.node, `${p.id} is served by the node it asked for`);
  const counts = await new LiveQueries(clients.get(1)!, live).counts();
  assert.deepEqual(counts, {
    total: SUBSCRIPTIONS,
    byNode: { '1': ON_NODE_1, '2': SUBSCRIPTIONS - ON_NODE_1 },
  });

  await withBrowser(async (browser) => {
    const admin = `127.0.0.1:${cluster.ports.get(1)!.admin}`;
    const { page, pageErrors } = await openDashboard(browser, admin, PAGE_WAIT_MS, 'live');

    await t.test('the total, the counts per serving node and the newest subscriptions', async () => {
      const view = await shows(page, `a total of ${SUBSCRIPTIONS}`, (v) =>
        v.total === SUBSCRIPTIONS && v.rows.length === SUBSCRIPTIONS ? v : undefined,
      );
      assert.equal(view.status.state, 'ok');
      assert.deepEqual(view.nodes, { '1': ON_NODE_1, '2': SUBSCRIPTIONS - ON_NODE_1 }, 'node 3 serves none');
      assert.deepEqual(
        view.rows.map((r) => r.id).sort(),
        planned.map((p) => p.id),
      );
      for (const row of view.rows) {
        const p = planned.find((x) => x.id === row.id)!;
        assert.deepEqual(
          { user: row.user, group: row.group, key: row.key, node: row.node },
          { user: p.user, group: p.group, key: p.key, node: p.node },
        );
        assert.ok(Number.isSafeInteger(row.revision) && row.revision >= 0, `${row.id}: ${row.revision}`);
      }
      assert.equal(view.listMarkup, 0, "the key's markup is escaped");
      const bars = await page.$$eval('#live-nodes tr[data-node] div', (divs) =>
        divs.map((d) => (d as unknown as { style: { width: string } }).style.width),
      );
      assert.deepEqual(bars, ['200px', `${Math.round((200 * (SUBSCRIPTIONS - ON_NODE_1)) / ON_NODE_1)}px`]);
    });

    await t.test(`${CLOSED} subscriptions closed: the total, the counts and the rows follow`, async () => {
      // Two of node 1's and three of node 2's.
      const closed = [...planned.slice(1, 3), ...planned.slice(ON_NODE_1, ON_NODE_1 + 3)];
      assert.equal(closed.length, CLOSED);
      await Promise.all(closed.map((p) => p.sub!.close()));
      const view = await shows(page, `a total of ${SUBSCRIPTIONS - CLOSED}`, (v) =>
        v.total === SUBSCRIPTIONS - CLOSED && v.rows.length === SUBSCRIPTIONS - CLOSED ? v : undefined,
      );
      assert.deepEqual(view.nodes, { '1': ON_NODE_1 - 2, '2': SUBSCRIPTIONS - ON_NODE_1 - 3 });
      const gone = new Set(closed.map((p) => p.id));
      assert.deepEqual(
        view.rows.map((r) => r.id).sort(),
        planned.filter((p) => !gone.has(p.id)).map((p) => p.id),
      );
    });

    await t.test('slow answers: one poll at a time, none piling up behind a slow shard', async () => {
      // Every /call of the page answers SLOW_CALL_MS late (a shard whose leader just died answers late):
      // a poll reads each shard twice in turn, so it takes longer than the poll period.
      await page.evaluate(SLOW_CALLS);
      const probe = await eventually('two slow polls', PAGE_WAIT_MS, async () => {
        const p = (await page.evaluate('({ ...window.liveProbe })')) as { calls: number; max: number };
        return p.calls >= 4 * live.shards ? p : undefined;
      });
      await page.evaluate('window.liveProbe.restore()');
      assert.ok(probe.max <= live.shards, `at most one poll's ${live.shards} calls in flight: ${probe.max}`);
      const polls = (await readTab(page)).status.polls;
      await shows(page, 'polls at full speed again', (v) =>
        v.status.polls >= polls + 2 && v.status.state === 'ok' && v.total === SUBSCRIPTIONS - CLOSED
          ? v
          : undefined,
      );
    });

    const last = await readTab(page);
    assert.equal(last.status.state, 'ok', last.status.text);
    assert.ok(last.status.polls >= 2, 'the tab polls while visible');
    assert.deepEqual(pageErrors, [], 'no errors in the page');
    console.log(JSON.stringify({ test: 'dashboard-live', polls: last.status.polls }));
  });
  for (const p of planned) p.sub?.watch.close();
  console.log(JSON.stringify({ test: 'dashboard-live', ms: Math.round(performance.now() - started) }));
});
