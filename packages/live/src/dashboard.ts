/**
 * The live-queries page of the admin dashboard: `liveTab({ prefix, shards })` is a `DashboardTab` whose
 * script (plain browser JavaScript) reads the user shards `<prefix>:0..shards-1` every second while visible
 * (`counts` and `list` at lease consistency, through the node's `POST /call`) and shows the subscriptions per
 * serving node as bars, the total, and the newest subscriptions (user, query, node, resume revision). Strings
 * from the cluster are escaped before they go into HTML.
 *
 * Stable hooks (ids start with the tab's id, `live` for the default prefix): `#live-status[data-state]
 * [data-polls]`, `#live-total[data-total]`, `#live-nodes tr[data-node]` with `td[data-count]`, and
 * `#live-list tr[data-sub]`.
 */
import { type DashboardTab, InvalidConfigError } from '@flotilla/app';
import { LIVE_KIND } from './machine/subscriptions-machine.ts';

const POLL_MS = 1_000;
/** Subscriptions listed (read from each shard, newest shown first). */
const LISTED = 50;
const TAB_ID_CHARS_MAX = 32;

export function liveTab(options: { prefix: string; shards: number }): DashboardTab {
  const { prefix, shards } = options;
  if (!Number.isSafeInteger(shards) || shards < 1)
    throw new InvalidConfigError('live.dashboard.shards', 'must be an integer ≥ 1');
  const id =
    prefix === 'live' ? 'live' : `live-${prefix.replace(/[^A-Za-z0-9_-]/g, '-')}`.slice(0, TAB_ID_CHARS_MAX);
  const config = { id, kind: LIVE_KIND, prefix, shards, pollMs: POLL_MS, listed: LISTED };
  return {
    id,
    title: prefix === 'live' ? 'Live queries' : `Live queries (${prefix})`,
    script: `'use strict';\nconst C = ${JSON.stringify(config)};\n${SCRIPT}`,
  };
}

const SCRIPT = `
const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (value) => String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
const idOf = (name) => C.id + '-' + name;
const shards = Array.from({ length: C.shards }, (_, n) => C.prefix + ':' + n);
const query = (group, name, input) =>
  api.call({ kind: C.kind, target: group, type: 'query', name, input, consistency: 'lease' });
root.innerHTML =
  '<p id="' + idOf('status') + '" data-state="loading" data-polls="0">loading…</p>' +
  '<p>Subscriptions: <strong id="' + idOf('total') + '" data-total="0">0</strong></p>' +
  '<h2>By serving node</h2><table id="' + idOf('nodes') + '"><thead><tr><th>node</th><th>subscriptions</th><th></th></tr></thead><tbody></tbody></table>' +
  '<h2>Newest subscriptions</h2><table id="' + idOf('list') + '"><thead><tr><th class="text">user</th><th class="text">subscription</th>' +
  '<th class="text">group</th><th class="text">key / prefix</th><th>node</th><th>from revision</th></tr></thead><tbody></tbody></table>';
const $ = (name) => root.querySelector('#' + idOf(name));
let polls = 0;
async function poll() {
  try {
    const answers = await Promise.all(shards.map(async (g) => ({
      counts: await query(g, 'counts', {}),
      list: await query(g, 'list', { limit: C.listed }),
    })));
    const byNode = {};
    let total = 0;
    let list = [];
    for (const a of answers) {
      total += a.counts.total;
      for (const [node, n] of Object.entries(a.counts.byNode)) byNode[node] = (byNode[node] || 0) + n;
      list = list.concat(a.list);
    }
    const max = Math.max(1, ...Object.values(byNode));
    $('total').textContent = String(total);
    $('total').dataset.total = String(total);
    $('nodes').querySelector('tbody').innerHTML = Object.entries(byNode)
      .sort((a, b) => Number(a[0]) - Number(b[0]))
      .map(([node, n]) => '<tr data-node="' + esc(node) + '"><td>' + esc(node) + '</td><td data-count="' + n + '">' + n +
        '</td><td><div style="background:#06c;height:10px;width:' + Math.round((200 * n) / max) + 'px"></div></td></tr>')
      .join('');
    list.sort((a, b) => b.updatedAt - a.updatedAt);
    $('list').querySelector('tbody').innerHTML = list.slice(0, C.listed)
      .map((s) => '<tr data-sub="' + esc(s.id) + '"><td class="text">' + esc(s.user) + '</td><td class="text">' + esc(s.id) +
        '</td><td class="text">' + esc(s.query.group) + '</td><td class="text">' +
        esc(s.query.key !== undefined ? s.query.key : s.query.prefix + '*') + '</td><td>' + esc(s.node) + '</td><td>' +
        esc(s.revision) + '</td></tr>')
      .join('');
    polls++;
    $('status').dataset.state = 'ok';
    $('status').dataset.polls = String(polls);
    $('status').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (error) {
    $('status').dataset.state = 'error';
    $('status').textContent = 'error: ' + (error && error.message ? error.message : String(error));
  }
}
// One poll at a time: a slow shard (its leader just died) must not pile polls up, nor let an older answer
// overwrite a newer one.
async function loop(first) {
  if (!root.isConnected) return;
  const started = performance.now();
  if (first || (root.offsetParent !== null && !document.hidden)) await poll();
  setTimeout(loop, Math.max(0, C.pollMs - (performance.now() - started)));
}
loop(true);
`;
