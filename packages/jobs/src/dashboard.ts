/**
 * The jobs page of the admin dashboard: `jobsTab({ prefix, groups })` is a `DashboardTab` (given to
 * `defineApp` by `defineJobs`) whose script — plain browser JavaScript, no dependencies — reads the jobs
 * groups `<prefix>:0..groups-1` every second while the tab is visible (the `counts` and `list` queries at
 * lease consistency, through the node's `POST /call`) and shows: the queues with their jobs by state and the
 * counters (summed over the groups), completed jobs per second over the last minute (an SVG chart, from the
 * counter's growth between polls), the newest dead jobs with their last error and a Retry button (`retry` on
 * the job's group, named by its id's `@<n>`), and a form to cancel a job by id (`cancel`). Every string from
 * the cluster is escaped before it goes into HTML.
 *
 * Stable hooks (ids start with the tab's id: `jobs` for the default prefix): `#jobs-status[data-state]
 * [data-polls]`, `#jobs-queues tr[data-queue]` with `td[data-queue][data-state]` (the count),
 * `#jobs-stats td[data-stat]`, `svg#jobs-throughput[data-points][data-max]`, `#jobs-failures tr[data-job]
 * [data-group][data-finished]` with `td[data-error]` and `button[data-retry]`, the form `#jobs-cancel`
 * (`input[name=id]`), and `#jobs-action[data-state]`: the outcome of the last Retry or Cancel.
 */
import { type DashboardTab, InvalidConfigError } from '@flotilla/app';
import { JOBS_KIND } from './machine/jobs-machine.ts';
import type { Stats } from './machine/records.ts';
import { JOB_STATES } from './model.ts';

/** How often the tab reads the jobs groups while it is visible. */
const POLL_MS = 1_000;
/** The throughput chart's time span. */
const THROUGHPUT_WINDOW_MS = 60_000;
/** Dead jobs listed under recent failures (the newest, over every group and queue). */
const FAILURES_SHOWN = 20;
/** Jobs per `list` query while looking for the newest dead jobs of a queue in a group. */
const FAILURE_SCAN_PAGE = 200;
/** `list` pages read per queue and group in one poll (a long dead-letter list is read over several polls). */
const FAILURE_SCAN_PAGES_PER_POLL = 5;
/** Characters of an error message shown in the table (all of it in the cell's tooltip). */
const ERROR_CHARS_SHOWN = 300;
/** A dashboard tab's id and title length limits (see `defineApp`). */
const TAB_ID_CHARS_MAX = 32;
const TAB_TITLE_CHARS_MAX = 64;
/** The counters in the order shown; any others the groups report come after them. */
const STATS_SHOWN = [
  'enqueued',
  'claimed',
  'completed',
  'dead',
  'cancelled',
  'retried',
  'staleRefused',
  'leasesLost',
  'orphansRecovered',
  'scheduledFired',
  'scheduledSkipped',
] as const satisfies readonly (keyof Stats)[];
/** Counters per row of their table (name, value pairs). */
const STATS_PER_ROW = 4;

/** The tab of the jobs groups `<prefix>:0..groups-1` (its id is `jobs`, or `jobs-<prefix>` for another prefix). */
export function jobsTab(options: { prefix: string; groups: number }): DashboardTab {
  const { prefix, groups } = options;
  if (!Number.isSafeInteger(groups) || groups < 1)
    throw new InvalidConfigError('jobs.dashboard.groups', 'must be an integer ≥ 1');
  const id =
    prefix === JOBS_KIND
      ? JOBS_KIND
      : `jobs-${prefix.replace(/[^A-Za-z0-9_-]/g, '-')}`.slice(0, TAB_ID_CHARS_MAX);
  const config = {
    id,
    kind: JOBS_KIND,
    prefix,
    groups,
    states: JOB_STATES,
    stats: STATS_SHOWN,
    statsPerRow: STATS_PER_ROW,
    pollMs: POLL_MS,
    windowMs: THROUGHPUT_WINDOW_MS,
    failuresShown: FAILURES_SHOWN,
    scanPage: FAILURE_SCAN_PAGE,
    scanPages: FAILURE_SCAN_PAGES_PER_POLL,
    errorChars: ERROR_CHARS_SHOWN,
    chart: { width: 640, height: 170, left: 40, right: 630, top: 10, bottom: 150 },
  };
  return {
    id,
    title: (prefix === JOBS_KIND ? 'Jobs' : `Jobs (${prefix})`).slice(0, TAB_TITLE_CHARS_MAX),
    script: `'use strict';\nconst C = ${JSON.stringify(config)};\n${SCRIPT}`,
  };
}

/** The browser side (a function body called with `(root, api)`; `C` is the tab's configuration). */
const SCRIPT = `
const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (value) => String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
const idOf = (name) => C.id + '-' + name;
const groups = Array.from({ length: C.groups }, (_, n) => C.prefix + ':' + n);
const query = (group, name, input) =>
  api.call({ kind: C.kind, target: group, type: 'query', name, input, consistency: 'lease' });
const command = (group, name, input) => api.call({ kind: C.kind, target: group, type: 'command', name, input });
const describe = (error) => (error && error.name ? error.name + ': ' : '') + (error && error.message ? error.message : String(error));
const ch = C.chart;

root.innerHTML =
  '<p id="' + idOf('status') + '" data-state="loading" data-polls="0">loading…</p>' +
  '<p id="' + idOf('action') + '" data-state="idle"></p>' +
  '<h2>Queues</h2><table id="' + idOf('queues') + '"><thead><tr><th>queue</th>' +
  C.states.map((s) => '<th>' + esc(s) + '</th>').join('') + '</tr></thead><tbody></tbody></table>' +
  '<h2>Counters</h2><table id="' + idOf('stats') + '"><tbody></tbody></table>' +
  '<h2>Completed per second <small id="' + idOf('throughput-now') + '"></small></h2>' +
  '<svg id="' + idOf('throughput') + '" data-points="0" data-max="0" width="' + ch.width + '" height="' + ch.height +
  '" viewBox="0 0 ' + ch.width + ' ' + ch.height + '" role="img" aria-label="completed jobs per second, last 60 s"' +
  ' style="background:#fff;border:1px solid #ddd">' +
  '<line x1="' + ch.left + '" y1="' + ch.bottom + '" x2="' + ch.right + '" y2="' + ch.bottom + '" stroke="#ccc"></line>' +
  '<line x1="' + ch.left + '" y1="' + ch.top + '" x2="' + ch.left + '" y2="' + ch.bottom + '" stroke="#ccc"></line>' +
  '<text id="' + idOf('throughput-max') + '" x="' + (ch.left - 4) + '" y="' + (ch.top + 6) + '" text-anchor="end" font-size="11" fill="#666">0</text>' +
  '<text x="' + (ch.left - 4) + '" y="' + ch.bottom + '" text-anchor="end" font-size="11" fill="#666">0</text>' +
  '<text x="' + ch.left + '" y="' + (ch.height - 5) + '" font-size="11" fill="#666">−' + C.windowMs / 1000 + ' s</text>' +
  '<text x="' + ch.right + '" y="' + (ch.height - 5) + '" text-anchor="end" font-size="11" fill="#666">now</text>' +
  '<polyline id="' + idOf('throughput-line') + '" points="" fill="none" stroke="#06c" stroke-width="2"></polyline></svg>' +
  '<h2>Recent failures</h2><table id="' + idOf('failures') + '"><thead><tr><th>job</th><th class="text">queue</th>' +
  '<th class="text">type</th><th>attempts</th><th class="text">failed at</th><th class="text">last error</th><th></th>' +
  '</tr></thead><tbody></tbody></table>' +
  '<h2>Cancel a job</h2><form id="' + idOf('cancel') + '"><input name="id" required size="40" ' +
  'placeholder="job id (ends with @n, n below ' + C.groups + ')" aria-label="job id"> <button type="submit">Cancel</button></form>';
const $ = (name) => root.querySelector('#' + idOf(name));

/** Writes html into el only when it changed (a button under the pointer survives the polls). */
const shown = new WeakMap();
function setHtml(el, html) {
  if (shown.get(el) === html) return;
  shown.set(el, html);
  el.innerHTML = html;
}

// ------------------------------------------------------------------------------------------------ reading
const latest = new Map(); // group -> its last counts answer
const samples = [];
let previous = null;
let polls = 0;
let failures = [];
const busy = new Set(); // job ids with a Retry in flight

/** Where each (group, queue)'s reads of its dead jobs stand: the list query reads a state oldest first. */
const scans = new Map();

/**
 * The newest dead jobs of one queue in one group. A complete read goes to the end of the list and keeps the
 * last C.failuresShown; the next one starts just before them (so it reads little), unless jobs left them
 * (retried) while older ones are still dead: then it starts over from the beginning. A read longer than
 * C.scanPages pages goes on at the next poll; the last complete result is shown meanwhile.
 */
async function newestDead(group, queue, dead) {
  const key = group + ' ' + queue;
  if (dead === 0) {
    scans.delete(key);
    return [];
  }
  const scan = scans.get(key) || { start: undefined, resume: null, jobs: [] };
  let { after, tail, before } = scan.resume || { after: scan.start, tail: [], before: scan.start };
  for (let page = 0; page < C.scanPages; page++) {
    const input = { queue, state: 'dead', limit: C.scanPage };
    if (after !== undefined) input.after = after;
    const answer = await query(group, 'list', input);
    tail = tail.concat(answer.jobs.map((job) => ({ ...job, group })));
    if (tail.length > C.failuresShown) {
      before = tail[tail.length - C.failuresShown - 1].stateSeq;
      tail = tail.slice(-C.failuresShown);
    }
    if (answer.next === null) {
      const whole = tail.length >= Math.min(C.failuresShown, dead);
      scans.set(key, { start: whole ? before : undefined, resume: null, jobs: tail });
      return tail;
    }
    after = answer.next;
  }
  scans.set(key, { start: scan.start, resume: { after, tail, before }, jobs: scan.jobs });
  return scan.jobs;
}

async function readFailures(problems) {
  const found = [];
  await Promise.all(
    groups.map(async (group) => {
      const counts = latest.get(group);
      if (!counts) return;
      for (const [queue, q] of Object.entries(counts.queues)) {
        try {
          found.push(...(await newestDead(group, queue, q.counts.dead || 0)));
        } catch (error) {
          problems.push(group + ' ' + queue + ': ' + describe(error));
          found.push(...((scans.get(group + ' ' + queue) || { jobs: [] }).jobs));
        }
      }
    }),
  );
  found.sort((a, b) => (b.finishedAt || 0) - (a.finishedAt || 0) || b.stateSeq - a.stateSeq);
  return found.slice(0, C.failuresShown);
}

async function update() {
  const problems = [];
  const answers = await Promise.all(
    groups.map((group) =>
      query(group, 'counts', {}).then(
        (counts) => {
          latest.set(group, counts);
          return counts;
        },
        (error) => {
          problems.push(group + ': ' + describe(error));
          return null;
        },
      ),
    ),
  );
  failures = await readFailures(problems);
  const queues = new Map();
  const stats = {};
  let workers = 0;
  for (const counts of latest.values()) {
    workers = Math.max(workers, counts.workers);
    for (const [name, value] of Object.entries(counts.stats)) stats[name] = (stats[name] || 0) + value;
    for (const [name, q] of Object.entries(counts.queues)) {
      const into = queues.get(name) || {};
      for (const state of C.states) into[state] = (into[state] || 0) + (q.counts[state] || 0);
      queues.set(name, into);
    }
  }
  // A sum missing a group would make a false drop (and then a jump): no sample then.
  if (answers.every((a) => a !== null)) sample(stats.completed || 0);
  else previous = null;
  renderQueues(queues);
  renderStats(stats, workers);
  renderChart();
  renderFailures();
  polls++;
  const status = $('status');
  status.dataset.state = problems.length ? 'error' : 'ok';
  status.dataset.polls = String(polls);
  status.textContent = C.prefix + ':0..' + (C.groups - 1) + ' · ' + queues.size + ' queues · ' + workers +
    ' worker pools · read at ' + new Date().toLocaleTimeString() +
    (problems.length ? ' · unavailable: ' + problems.join('; ') : '');
}

/** Completed jobs per second, from the counter's growth since the last poll. */
function sample(completed) {
  const now = Date.now();
  if (previous && now > previous.at)
    samples.push({ at: now, rate: Math.max(0, (completed - previous.completed) / ((now - previous.at) / 1000)) });
  previous = { at: now, completed };
  while (samples.length && samples[0].at < now - C.windowMs) samples.shift();
}

// ------------------------------------------------------------------------------------------------ drawing
function renderQueues(queues) {
  const rows = [...queues.keys()].sort().map((name) => {
    const counts = queues.get(name);
    return '<tr data-queue="' + esc(name) + '"><td>' + esc(name) + '</td>' +
      C.states.map((s) => '<td data-queue="' + esc(name) + '" data-state="' + esc(s) + '">' + esc(counts[s]) + '</td>').join('') +
      '</tr>';
  });
  setHtml($('queues').tBodies[0], rows.length ? rows.join('') :
    '<tr><td class="text" colspan="' + (C.states.length + 1) + '">no queues configured yet</td></tr>');
}

function renderStats(stats, workers) {
  const names = [...C.stats, ...Object.keys(stats).filter((n) => !C.stats.includes(n)).sort()];
  const cells = [...names.map((n) => [n, n, stats[n] || 0]), ['worker pools', 'workers', workers]].map(
    ([label, key, value]) => '<th class="text">' + esc(label) + '</th><td data-stat="' + esc(key) + '">' + esc(value) + '</td>');
  const rows = [];
  for (let i = 0; i < cells.length; i += C.statsPerRow) rows.push('<tr>' + cells.slice(i, i + C.statsPerRow).join('') + '</tr>');
  setHtml($('stats').tBodies[0], rows.join(''));
}

function renderChart() {
  const now = Date.now();
  const max = Math.max(1, ...samples.map((s) => s.rate));
  const points = samples.map((s) => {
    const x = ch.left + ((s.at - (now - C.windowMs)) / C.windowMs) * (ch.right - ch.left);
    const y = ch.bottom - (s.rate / max) * (ch.bottom - ch.top);
    return Math.max(ch.left, x).toFixed(1) + ',' + y.toFixed(1);
  });
  $('throughput-line').setAttribute('points', points.join(' '));
  const svg = $('throughput');
  svg.dataset.points = String(samples.length);
  svg.dataset.max = String(Math.round(Math.max(0, ...samples.map((s) => s.rate))));
  $('throughput-max').textContent = String(Math.round(max));
  const last = samples.length ? samples[samples.length - 1].rate : 0;
  $('throughput-now').textContent = '· ' + last.toFixed(1) + ' jobs/s now';
}

function renderFailures() {
  const rows = failures.map((job) => {
    const error = job.errors && job.errors.length ? job.errors[job.errors.length - 1] : '';
    const short = error.length > C.errorChars ? error.slice(0, C.errorChars) + '…' : error;
    const at = job.finishedAt ? new Date(job.finishedAt).toLocaleTimeString() : '';
    return '<tr data-job="' + esc(job.id) + '" data-group="' + esc(job.group) + '" data-finished="' +
      esc(job.finishedAt || 0) + '"><td>' + esc(job.id) + '</td><td class="text">' + esc(job.queue) +
      '</td><td class="text">' + esc(job.name) + '</td><td>' + esc(job.attemptsMade + '/' + job.attempts) +
      '</td><td class="text">' + esc(at) + '</td><td class="text" data-error title="' + esc(error) + '">' +
      esc(short) + '</td><td><button type="button" data-retry="' + esc(job.id) + '"' +
      (busy.has(job.id) ? ' disabled' : '') + '>Retry</button></td></tr>';
  });
  setHtml($('failures').tBodies[0], rows.length ? rows.join('') : '<tr><td class="text" colspan="7">none</td></tr>');
}

// ------------------------------------------------------------------------------------------------ acting
/** The jobs group a job id names (its name, then @ and the group's index), or null. */
function groupOf(id) {
  const at = id.lastIndexOf('@');
  const shard = id.slice(at + 1);
  if (at < 1 || !/^[0-9]{1,4}$/.test(shard) || Number(shard) >= C.groups) return null;
  return C.prefix + ':' + Number(shard);
}

function report(state, text) {
  const action = $('action');
  action.dataset.state = state;
  action.textContent = text;
  action.style.color = state === 'error' ? '#b00' : '';
}

async function act(name, id) {
  const group = groupOf(id);
  if (group === null) {
    report('error', name + ' ' + id + ': job ids end with @n, n below ' + C.groups);
    return false;
  }
  try {
    const answer = await command(group, name, { id });
    report('ok', name + ' ' + id + ': now ' + answer.state);
    return true;
  } catch (error) {
    report('error', name + ' ' + id + ': ' + describe(error));
    return false;
  } finally {
    refresh();
  }
}

$('failures').tBodies[0].addEventListener('click', (event) => {
  const button = event.target.closest('button[data-retry]');
  if (!button || button.disabled) return;
  const id = button.dataset.retry;
  busy.add(id);
  button.disabled = true;
  act('retry', id).finally(() => busy.delete(id));
});

$('cancel').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const input = form.elements.namedItem('id');
  const id = input.value.trim();
  if (!id) return;
  form.querySelector('button').disabled = true;
  act('cancel', id).then((ok) => {
    if (ok) input.value = '';
  }).finally(() => {
    form.querySelector('button').disabled = false;
  });
});

// ------------------------------------------------------------------------------------------------ polling
let running = null;
let again = false;
/** Reads and redraws now (once more after the current read, when one is under way). */
function refresh() {
  if (running) {
    again = true;
    return running;
  }
  running = (async () => {
    do {
      again = false;
      try {
        await update();
      } catch (error) {
        const status = $('status');
        status.dataset.state = 'error';
        status.textContent = 'jobs tab: ' + describe(error);
      }
    } while (again);
  })().finally(() => {
    running = null;
  });
  return running;
}

async function loop() {
  if (!root.isConnected) return;
  const started = performance.now();
  if (!root.hidden && !document.hidden) await refresh();
  setTimeout(loop, Math.max(0, C.pollMs - (performance.now() - started)));
}
loop();
`;
