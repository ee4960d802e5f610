/**
 * The admin dashboard (`/`): one page of plain HTML and JavaScript, served inline (no CDN, no framework, no
 * build step). It polls `/cluster` every second and shows every node (alive or dead, its links to peers, the
 * groups it leads), every group (kind, leader, term, commit/applied, the leader's largest follower lag) and the
 * applied entries per second summed over groups (from applied-index deltas between polls) over the last 60 s
 * as an SVG chart. Tabs across the top: "Cluster", then the application's (`/dashboard/tabs`), each run once,
 * when first opened, as `new Function('root', 'api', script)`.
 *
 * Stable hooks for tests and scripts: `#summary[data-state]`, `#nodes tr[data-node][data-alive]` with
 * `[data-peer][data-state]` links, `#groups tr[data-group][data-leader]`, `svg#throughput[data-points]
 * [data-max]`, `#tabs button[data-tab]`, `section[data-panel]` (`#tab-<id>`).
 */

export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flotilla node · cluster</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#fff;border-bottom:1px solid #ddd;padding:.8rem 1.5rem 0}
h1{font-size:1.2rem;margin:0 0 .4rem}h1 small{font-weight:normal;color:#666}
h2{font-size:1rem;margin:1.2rem 0 .4rem}
main{padding:0 1.5rem 2rem}section[data-panel]{padding-top:.8rem}
#tabs{display:flex;gap:.2rem}
#tabs button{font:inherit;border:1px solid #ddd;border-bottom:none;background:#f0f0f0;padding:.35rem .9rem;cursor:pointer;border-radius:4px 4px 0 0}
#tabs button.active{background:#fafafa;font-weight:bold}
#summary{margin:.3rem 0 .6rem;color:#444}#summary[data-state=error]{color:#b00}
table{border-collapse:collapse;background:#fff}
td,th{padding:.25rem .6rem;border-bottom:1px solid #e4e4e4;text-align:right;vertical-align:top}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
td.text,th.text{text-align:left}
.alive{color:#080;font-weight:bold}.dead{color:#b00;font-weight:bold}.none{color:#b00}
.link{display:inline-block;margin-right:.5rem}.link[data-state=open]{color:#080}.link:not([data-state=open]){color:#b60}
#throughput{background:#fff;border:1px solid #ddd}
#throughput .axis{stroke:#ccc}#throughput text{font-size:11px;fill:#666}
#throughput-line{fill:none;stroke:#06c;stroke-width:2}
pre.error{color:#b00;white-space:pre-wrap}
</style></head><body>
<header>
<h1>Flotilla cluster <small>as node <span id="self">?</span> sees it</small></h1>
<p id="summary" data-state="loading">loading…</p>
<nav id="tabs" role="tablist"><button type="button" role="tab" data-tab="cluster" class="active">Cluster</button></nav>
</header>
<main id="panels">
<section id="tab-cluster" data-panel="cluster" role="tabpanel">
<h2>Nodes</h2>
<table id="nodes"><thead><tr><th>node</th><th class="text">state</th><th class="text">links</th><th>leads</th><th class="text">groups led</th><th>answered in</th></tr></thead><tbody></tbody></table>
<h2>Throughput <small id="throughput-now"></small></h2>
<svg id="throughput" data-points="0" data-max="0" width="640" height="170" viewBox="0 0 640 170" role="img" aria-label="applied entries per second, last 60 s">
<line class="axis" x1="40" y1="150" x2="630" y2="150"></line><line class="axis" x1="40" y1="10" x2="40" y2="150"></line>
<text id="throughput-max" x="36" y="16" text-anchor="end">0</text><text x="36" y="150" text-anchor="end">0</text>
<text x="40" y="165">−60 s</text><text x="630" y="165" text-anchor="end">now</text>
<polyline id="throughput-line" points=""></polyline>
</svg>
<h2>Groups</h2>
<table id="groups"><thead><tr><th>group</th><th class="text">kind</th><th>leader</th><th>term</th><th>commit</th><th>applied</th><th>follower lag</th><th>replicas</th></tr></thead><tbody></tbody></table>
</section>
</main>
<script>
(() => {
  'use strict';
  const POLL_MS = 1000;
  const WINDOW_MS = 60000;
  const LED_SHOWN_MAX = 8;
  const CHART = { left: 40, right: 630, top: 10, bottom: 150 };
  let last = null;
  let previous = null;
  const samples = [];

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.dataset[k.slice(5).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = String(v);
      else e.setAttribute(k, String(v));
    }
    for (const c of children) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------------------------------ cluster tab
  function renderNodes(view) {
    const rows = view.nodes.map((n) => {
      if (!n.alive)
        return el('tr', { 'data-node': n.id, 'data-alive': 'false' },
          el('td', {}, n.id), el('td', { class: 'text dead' }, 'dead'),
          el('td', { class: 'text', colspan: 3, 'data-error': '' }, n.error), el('td', {}, '—'));
      const s = n.status || {};
      const links = (s.links || []).map((l) =>
        el('span', { class: 'link', 'data-peer': l.peer, 'data-state': l.state }, l.peer + ': ' + l.state));
      const led = (s.groups || []).filter((g) => g.role === 'leader').map((g) => g.id);
      const shown = led.slice(0, LED_SHOWN_MAX).join(', ') + (led.length > LED_SHOWN_MAX ? ', …' : '');
      return el('tr', { 'data-node': n.id, 'data-alive': 'true', 'data-leads': led.length },
        el('td', {}, n.id + (n.id === view.self ? ' (this)' : '')), el('td', { class: 'text alive' }, 'alive'),
        el('td', { class: 'text' }, ...(links.length ? links : [s.mode === 'standalone' ? 'standalone' : '—'])),
        el('td', {}, led.length), el('td', { class: 'text', title: led.join(', ') }, shown),
        el('td', {}, n.ms + ' ms'));
    });
    document.querySelector('#nodes tbody').replaceChildren(...rows);
  }

  function renderGroups(view) {
    const rows = view.groups.map((g) =>
      el('tr', { 'data-group': g.id, 'data-leader': g.leaderId },
        el('td', {}, g.id), el('td', { class: 'text' }, g.kind),
        g.leaderId ? el('td', {}, g.leaderId) : el('td', { class: 'none' }, 'none'),
        el('td', {}, g.term), el('td', {}, g.commitIndex), el('td', {}, g.appliedIndex),
        el('td', {}, g.followerLagMax === null ? '—' : g.followerLagMax), el('td', {}, g.replicas)));
    document.querySelector('#groups tbody').replaceChildren(...rows);
  }

  /** Applied entries per second over all groups, from the applied indices' growth since the last poll. */
  function sample(view) {
    const applied = view.groups.reduce((sum, g) => sum + g.appliedIndex, 0);
    if (previous && view.at > previous.at) {
      const rate = Math.max(0, (applied - previous.applied) / ((view.at - previous.at) / 1000));
      samples.push({ at: view.at, rate });
    }
    previous = { at: view.at, applied };
    while (samples.length && samples[0].at < view.at - WINDOW_MS) samples.shift();
  }

  function renderChart(view) {
    const max = Math.max(1, ...samples.map((s) => s.rate));
    const width = CHART.right - CHART.left;
    const height = CHART.bottom - CHART.top;
    const points = samples.map((s) => {
      const x = CHART.left + ((s.at - (view.at - WINDOW_MS)) / WINDOW_MS) * width;
      const y = CHART.bottom - (s.rate / max) * height;
      return x.toFixed(1) + ',' + y.toFixed(1);
    });
    $('throughput-line').setAttribute('points', points.join(' '));
    const svg = $('throughput');
    svg.dataset.points = String(samples.length);
    svg.dataset.max = String(Math.round(Math.max(0, ...samples.map((s) => s.rate))));
    $('throughput-max').textContent = String(Math.round(max));
    const now = samples.length ? samples[samples.length - 1].rate : 0;
    $('throughput-now').textContent = '· ' + Math.round(now) + ' entries/s now';
    return now;
  }

  function render(view) {
    $('self').textContent = view.self;
    sample(view);
    renderNodes(view);
    renderGroups(view);
    const rate = renderChart(view);
    const alive = view.nodes.filter((n) => n.alive).length;
    const leaderless = view.groups.filter((g) => !g.leaderId).length;
    const summary = $('summary');
    summary.dataset.state = 'ok';
    summary.textContent = view.nodes.length + ' nodes (' + alive + ' alive) · ' + view.groups.length +
      ' groups (' + leaderless + ' without a leader) · ' + Math.round(rate) + ' applied entries/s';
  }

  async function poll() {
    const started = performance.now();
    try {
      const response = await fetch('/cluster', { cache: 'no-store' });
      if (!response.ok) throw new Error('/cluster answered ' + response.status);
      last = await response.json();
      render(last);
    } catch (error) {
      const summary = $('summary');
      summary.dataset.state = 'error';
      summary.textContent = 'node unreachable: ' + error;
    }
    setTimeout(poll, Math.max(0, POLL_MS - (performance.now() - started)));
  }

  // -------------------------------------------------------------------------------------- application tabs
  const api = Object.freeze({
    /** A command or query of the application through this node: resolves with its result. */
    async call(request) {
      const response = await fetch('/call', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-flotilla-admin': '1' },
        body: JSON.stringify(request),
      });
      const answer = await response.json();
      if (answer.ok) return answer.value;
      throw Object.assign(new Error(answer.error.message), answer.error);
    },
    /** The last /cluster view (null before the first answer). */
    cluster: () => last,
  });

  const started = new Set();
  const scripts = new Map();

  function activate(id) {
    if (!document.querySelector('section[data-panel="' + id + '"]')) id = 'cluster';
    for (const b of document.querySelectorAll('#tabs button')) {
      b.classList.toggle('active', b.dataset.tab === id);
      b.setAttribute('aria-selected', String(b.dataset.tab === id));
    }
    for (const p of document.querySelectorAll('section[data-panel]')) p.hidden = p.dataset.panel !== id;
    if (id !== 'cluster' && !started.has(id)) {
      started.add(id);
      run(id, $('tab-' + id));
    }
  }

  function run(id, root) {
    const failed = (error) => root.append(el('pre', { class: 'error', 'data-error': '' }, 'tab ' + id + ': ' + error));
    try {
      const result = new Function('root', 'api', scripts.get(id))(root, api);
      if (result && typeof result.then === 'function') result.then(undefined, failed);
    } catch (error) {
      failed(error);
    }
  }

  async function loadTabs() {
    const tabs = await (await fetch('/dashboard/tabs')).json();
    for (const tab of tabs) {
      scripts.set(tab.id, tab.script);
      $('tabs').append(el('button', { type: 'button', role: 'tab', 'data-tab': tab.id }, tab.title));
      $('panels').append(el('section', { id: 'tab-' + tab.id, 'data-panel': tab.id, role: 'tabpanel', hidden: '' }));
    }
  }

  $('tabs').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-tab]');
    if (!button) return;
    history.replaceState(null, '', '#' + button.dataset.tab);
    activate(button.dataset.tab);
  });

  poll();
  loadTabs().then(
    () => activate(location.hash.slice(1) || 'cluster'),
    (error) => $('tabs').append(el('span', { class: 'none' }, ' tabs unavailable: ' + error)),
  );
})();
</script></body></html>`;
