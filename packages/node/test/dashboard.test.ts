/**
 * The admin dashboard against three real node processes running the test application: `/cluster` (every
 * member, a killed one reported dead), `POST /call`'s refusals and typed errors over plain HTTP, then the page
 * in a real headless Chromium — nodes alive, groups led, the throughput chart drawn under writes, the
 * application's tab reading and incrementing a counter, and a node killed with SIGKILL shown dead.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ADMIN_CALL_BODY_BYTES_MAX } from '../src/api/admin.ts';
import type { ClusterView } from '../src/api/cluster-view.ts';
import { openDashboard, withBrowser } from './browser.ts';
import { Counter, DASHBOARD_COUNTER_KEY } from './fixtures/app.ts';
import { ProcessCluster, waitForFormation } from './process-cluster.ts';

const APP = fileURLToPath(new URL('./fixtures/app.ts', import.meta.url));
const cluster = new ProcessCluster({ userShards: 4, extraToml: `[app]\nmodule = "${APP}"\n` });
after(() => cluster.stop());

/** The little of the DOM the functions run in the page use (tests compile without the DOM library). */
interface PageElement {
  readonly dataset: Record<string, string | undefined>;
  readonly textContent: string | null;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
  getElementById(id: string): PageElement | null;
};

/** The page's waits: long enough for a loaded CI machine, short enough to fail quickly. */
const PAGE_WAIT_MS = 15_000;
/** A node killed with SIGKILL must show as dead within this. */
const DEAD_SHOWN_MS = 5_000;
/** Concurrent writers feeding the throughput chart. */
const WRITERS = 4;

interface Reply {
  readonly status: number;
  readonly json: { ok?: boolean; value?: unknown; error?: Record<string, unknown> } | undefined;
}

/** An HTTP request to node 1's admin server (node:http: it may set any header, Origin included). */
function admin(
  method: string,
  path: string,
  body = '',
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: cluster.ports.get(1)!.admin, method, path, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Reply['json'];
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const CALL_HEADERS = { 'content-type': 'application/json', 'x-flotilla-admin': '1' };
const call = (body: unknown, headers: Record<string, string> = CALL_HEADERS) =>
  admin('POST', '/call', typeof body === 'string' ? body : JSON.stringify(body), headers);

test('the admin dashboard: cluster view, application tab and /call, in Chromium, on three processes', {
  timeout: 180_000,
}, async (t) => {
  const started = performance.now();
  await cluster.start([1, 2, 3]);
  const client = await cluster.client([1, 2, 3], 6_000);
  await waitForFormation(cluster, client, [1, 2, 3]);

  await t.test("/cluster: every member's status and every group with its leader", async () => {
    const { status, json } = await admin('GET', '/cluster');
    assert.equal(status, 200);
    const view = json as unknown as ClusterView;
    assert.equal(view.self, 1);
    assert.deepEqual(
      view.nodes.map((n) => [n.id, n.alive]),
      [
        [1, true],
        [2, true],
        [3, true],
      ],
    );
    const ids = view.groups.map((g) => g.id);
    for (const id of ['counter:0', 'observations:0', 'account:0', 'account:3'])
      assert.ok(ids.includes(id), `${id} in ${ids.join(' ')}`);
    for (const g of view.groups) {
      assert.ok(g.leaderId > 0, `${g.id} has a leader`);
      assert.equal(typeof g.followerLagMax, 'number', `${g.id}: the leader's follower lag`);
      assert.equal(g.replicas, 3);
    }
  });

  await t.test(
    'POST /call: refuses cross-site requests, bad JSON and oversized bodies; typed errors',
    async () => {
      const query = {
        kind: 'counter',
        target: 'counter:0',
        type: 'query',
        name: 'get',
        input: { key: 'x' },
      };
      const noHeader = await call(query, { 'content-type': 'application/json' });
      assert.equal(noHeader.status, 403);
      assert.match(String(noHeader.json?.error?.message), /x-flotilla-admin/);
      assert.equal((await call(query, { ...CALL_HEADERS, 'content-type': 'text/plain' })).status, 403);
      const foreign = await call(query, { ...CALL_HEADERS, origin: 'http://evil.example' });
      assert.equal(foreign.status, 403);
      assert.equal((await admin('GET', '/call')).status, 405);

      const badJson = await call('{"kind": ');
      assert.equal(badJson.status, 400);
      assert.equal(badJson.json?.error?.name, 'ProtocolError');
      assert.match(String(badJson.json?.error?.message), /not valid JSON/);

      const badShape = await call({ ...query, type: 'delete' });
      assert.equal(badShape.status, 400);
      assert.equal(badShape.json?.error?.name, 'SchemaError');
      assert.equal(badShape.json?.error?.path, 'type');

      const oversize = await call(`"${'x'.repeat(ADMIN_CALL_BODY_BYTES_MAX)}"`);
      assert.equal(oversize.status, 413);
      assert.equal(oversize.json?.error?.name, 'PayloadTooLargeError');

      const unknownKind = await call({ ...query, kind: 'no-such-kind' });
      assert.equal(unknownKind.status, 200);
      assert.equal(unknownKind.json?.ok, false);
      assert.equal(unknownKind.json?.error?.name, 'UnknownKindError');
      assert.equal(unknownKind.json?.error?.code, 'FLOTILLA_UNKNOWN_KIND');
      assert.equal(unknownKind.json?.error?.kind, 'no-such-kind');

      const badInput = await call({ ...query, type: 'command', name: 'add', input: { key: '', by: 1 } });
      assert.equal(badInput.json?.error?.name, 'SchemaError');
      assert.equal(badInput.json?.error?.path, 'key');

      const added = await call({ ...query, type: 'command', name: 'add', input: { key: 'x', by: 5 } });
      assert.deepEqual(added.json, { ok: true, value: 5 });
      assert.deepEqual((await call({ ...query, consistency: 'stale' })).json?.ok, true);
      assert.equal(await client.query(Counter, 'counter:0', 'get', { key: 'x' }), 5);
    },
  );

  await t.test('the page in Chromium: nodes, groups, throughput, the app tab, a killed node', async () => {
    let writing = true;
    const writers = Array.from({ length: WRITERS }, async () => {
      while (writing)
        await client.execute(Counter, 'counter:0', 'add', { key: 'load', by: 1 }).catch(() => undefined);
    });
    try {
      await withBrowser(async (browser) => {
        const adminAddress = `127.0.0.1:${cluster.ports.get(1)!.admin}`;
        const { page, pageErrors } = await openDashboard(browser, adminAddress, PAGE_WAIT_MS);

        await page.waitForFunction(
          () => document.querySelectorAll('#nodes tr[data-node][data-alive="true"]').length === 3,
        );
        const links = await page.$$eval('#nodes tr[data-node="1"] [data-peer]', (spans) =>
          spans.map((s) => `${(s as PageElement).dataset.peer}:${(s as PageElement).dataset.state}`),
        );
        assert.deepEqual(links.sort(), ['2:open', '3:open'], "node 1's links to its peers");

        await page.waitForFunction(() => {
          const rows = [...document.querySelectorAll('#groups tr[data-group]')];
          return rows.length > 0 && rows.every((r) => r.dataset.leader !== '0');
        });
        const groups = await page.$$eval('#groups tr[data-group]', (rows) =>
          rows.map((r) => [(r as PageElement).dataset.group, (r as PageElement).dataset.leader]),
        );
        const shown = groups.map(([id]) => id);
        for (const id of ['counter:0', 'observations:0', 'account:0', 'user:3'])
          assert.ok(shown.includes(id), `${id} is listed: ${shown.join(' ')}`);
        assert.ok(groups.every(([, leader]) => ['1', '2', '3'].includes(leader!)));

        await page.waitForFunction(() => {
          const svg = document.getElementById('throughput')!;
          return Number(svg.dataset.points) >= 3 && Number(svg.dataset.max) > 0;
        });
        const points = await page.$eval('#throughput-line', (line) => line.getAttribute('points') ?? '');
        assert.ok(points.trim().split(' ').length >= 3, `the chart has points: ${points}`);
        writing = false;

        await page.click('#tabs button[data-tab="counter"]');
        await page.waitForSelector('#tab-counter:not([hidden]) #counter-value[data-value]');
        const before = Number(await page.$eval('#counter-value', (e) => (e as PageElement).dataset.value));
        assert.equal(before, await client.query(Counter, 'counter:0', 'get', { key: DASHBOARD_COUNTER_KEY }));
        await page.click('#counter-increment');
        await page.waitForFunction(
          (n) => Number(document.getElementById('counter-value')?.dataset.value) === n,
          {},
          before + 1,
        );
        assert.equal(
          await client.query(Counter, 'counter:0', 'get', { key: DASHBOARD_COUNTER_KEY }),
          before + 1,
        );
        assert.equal(await page.$eval('#counter-error', (e) => e.textContent), '');

        await page.click('#tabs button[data-tab="cluster"]');
        await cluster.kill(3);
        const killed = performance.now();
        await page.waitForFunction(
          () => document.querySelector('#nodes tr[data-node="3"]')?.dataset.alive === 'false',
          { timeout: DEAD_SHOWN_MS },
        );
        const ms = Math.round(performance.now() - killed);
        const alive = await page.$$eval('#nodes tr[data-alive="true"]', (rows) =>
          rows.map((r) => (r as PageElement).dataset.node),
        );
        assert.deepEqual(alive, ['1', '2']);
        const reason = await page.$eval('#nodes tr[data-node="3"] [data-error]', (e) => e.textContent);
        assert.ok(reason, 'the dead node shows why');
        console.log(JSON.stringify({ test: 'dashboard-dead-node', ms, reason }));
        assert.deepEqual(pageErrors, [], 'no errors in the page');
      });
    } finally {
      writing = false;
      await Promise.all(writers);
    }
    const { json } = await admin('GET', '/cluster');
    const dead = (json as unknown as ClusterView).nodes.find((n) => n.id === 3);
    assert.equal(dead?.alive, false);
    assert.ok(dead && !dead.alive && dead.error.length > 0);
  });
  console.log(JSON.stringify({ test: 'dashboard', ms: Math.round(performance.now() - started) }));
});
