/**
 * Prometheus metrics of a node (prom-client), computed at scrape time from the replicas' status (one round of
 * status asks per scrape, shared by every metric): elections, leader changes, term, commit and applied index,
 * replication lag per follower, proposal latency, node additions, mailbox depth, restarts, transport counters;
 * and the watches (from the node's watch hub, no status round): watchers per group, changes published and
 * delivered, delivery lag from the leader's proposal stamp, watches opened and refused. Every `_total` series is a
 * Counter; the process's own metrics (CPU, memory, heap, event-loop lag) come with prom-client's default set.
 */
import {
  type AppDefinition,
  type CallPort,
  Calls,
  type HistogramSeries,
  InvalidConfigError,
  METRIC_NAME,
  type MetricLabels,
  type MetricsSink,
} from '@flotilla/app';
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Metric, Registry } from 'prom-client';
import type { FlotillaNode } from '../cluster/node.ts';
import type { ReplicaStatus } from '../replicas/replica-actor.ts';

export interface MetricsSources {
  readonly node: FlotillaNode;
  readonly transport?: () => Record<string, number>;
  /** The application's metrics hooks, and the calls they make. */
  readonly app?: { readonly definition: AppDefinition; readonly calls: CallPort };
}

export function createMetrics(sources: MetricsSources): Registry {
  const registry = new Registry();
  const { node } = sources;
  registry.setDefaultLabels({ node: String(node.id) });
  // The process's own: CPU, memory, heap, event-loop lag, handles (prom-client's default set).
  collectDefaultMetrics({ register: registry });
  /**
   * One value read at scrape time: a Counter when the name says `_total` (a count that only grows, reset only
   * with the process or a replica's restart), a Gauge otherwise.
   */
  const scalar = (name: string, help: string, read: () => Promise<number>): Metric =>
    name.endsWith('_total')
      ? new Counter({
          name,
          help,
          registers: [registry],
          async collect() {
            this.reset();
            this.inc(Math.max(0, await read()));
          },
        })
      : new Gauge({
          name,
          help,
          registers: [registry],
          async collect() {
            this.set(await read());
          },
        });
  // One status round per scrape: the first metric collected asks, the others reuse it.
  let cached: { at: number; statuses: Promise<ReplicaStatus[]> } | undefined;
  const statuses = (): Promise<ReplicaStatus[]> => {
    const now = performance.now();
    if (!cached || now - cached.at > 200) cached = { at: now, statuses: node.replicaStatuses() };
    return cached.statuses;
  };
  const total = (name: string, help: string, pick: (s: ReplicaStatus) => number) =>
    scalar(name, help, async () => (await statuses()).reduce((n, s) => n + pick(s), 0));
  const perGroup = (name: string, help: string, pick: (s: ReplicaStatus) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['group'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const s of await statuses()) this.set({ group: s.group }, pick(s));
      },
    });
  total(
    'flotilla_raft_elections_total',
    'Elections this node started, over all groups.',
    (s) => s.electionsStarted,
  );
  total(
    'flotilla_raft_leader_changes_total',
    'Leader changes seen by this node, over all groups.',
    (s) => s.leaderChanges,
  );
  total(
    'flotilla_mailbox_depth',
    'Messages waiting in the mailboxes of the group actors.',
    (s) => s.mailboxDepth,
  );
  perGroup('flotilla_raft_term', 'Current term per group.', (s) => s.term);
  perGroup('flotilla_raft_commit_index', 'Commit index per group.', (s) => s.commitIndex);
  perGroup('flotilla_raft_applied_index', 'Applied index per group.', (s) => s.appliedIndex);
  perGroup('flotilla_raft_is_leader', '1 when this node leads the group.', (s) =>
    s.role === 'leader' ? 1 : 0,
  );
  new Gauge({
    name: 'flotilla_raft_replication_lag_entries',
    help: 'On the leader: last index minus each follower match index.',
    labelNames: ['group', 'follower'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await statuses()) {
        for (const p of s.progress)
          if (p.id !== node.id)
            this.set({ group: s.group, follower: String(p.id) }, s.lastIndex - p.matchIndex);
      }
    },
  });
  const latency = new Histogram({
    name: 'flotilla_proposal_latency_seconds',
    help: 'Time from a proposal on this node to its result (commit and apply on the leader).',
    buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1],
    registers: [registry],
    collect() {
      for (const ms of node.latencies) latency.observe(ms / 1000);
      node.latencies.length = 0;
    },
  });
  const counter = (name: string, help: string, read: () => number) => scalar(name, help, async () => read());
  counter(
    'flotilla_node_additions_total',
    'Nodes added to the cluster through this node.',
    () => node.counters.nodeAdditions,
  );
  counter(
    'flotilla_machine_divergences_total',
    'Checkpoints whose outcome hash differed from the leader (a nondeterministic machine): see /status alarms.',
    () => node.counters.divergences,
  );
  counter(
    'flotilla_replicas_refused',
    'Replicas this node does not run because it lacks the code for their machine kind.',
    () => node.refused.size,
  );
  counter(
    'flotilla_storage_failures_total',
    'Durable writes of replicas that failed (each replica restarted from disk after it).',
    () => node.counters.storageFailures,
  );
  counter(
    'flotilla_restarts_total',
    'Actor restarts and host thread (re)starts on this node.',
    () => node.counters.restarts,
  );
  new Gauge({
    name: 'flotilla_watch_watchers',
    help: 'Open watches per group on this node (live or waiting for their revision).',
    labelNames: ['group'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of node.watches.stats()) if (s.watchers > 0) this.set({ group: s.group }, s.watchers);
    },
  });
  counter(
    'flotilla_watch_events_delivered_total',
    'Changes delivered to watchers on this node, over all groups.',
    () => node.watches.stats().reduce((n, s) => n + s.delivered, 0),
  );
  counter(
    'flotilla_watch_events_published_total',
    'Changes the local replicas applied and published to their watch feeds, over all groups.',
    () => node.watches.stats().reduce((n, s) => n + s.published, 0),
  );
  const watchLag = new Histogram({
    name: 'flotilla_watch_delivery_lag_seconds',
    help: "Time from the leader's stamp on a command to the delivery of its changes to watchers on this node.",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 5],
    registers: [registry],
    collect() {
      for (const ms of node.watches.lags) watchLag.observe(ms / 1000);
      node.watches.lags.length = 0;
    },
  });
  counter(
    'flotilla_watch_opened_total',
    'Watches opened on this node.',
    () => node.watches.counters.watchesOpened,
  );
  counter(
    'flotilla_watch_refused_total',
    'Watches refused on this node (unknown group, compacted or future revision).',
    () => node.watches.counters.watchesRefused,
  );
  const transport = new Gauge({
    name: 'flotilla_transport',
    help: 'Transport counters (frames, bytes, messages, errors, reconnects, rejected peers).',
    labelNames: ['counter'],
    registers: [registry],
    collect() {
      transport.reset();
      for (const [k, v] of Object.entries(sources.transport?.() ?? {})) transport.set({ counter: k }, v);
    },
  });
  if (sources.app) addAppMetrics(registry, node, sources.app);
  return registry;
}

/** The application's hooks declare their metrics on a sink backed by this registry. */
function addAppMetrics(
  registry: Registry,
  node: FlotillaNode,
  app: NonNullable<MetricsSources['app']>,
): void {
  const checkName = (name: string) => {
    if (!METRIC_NAME.test(name))
      throw new InvalidConfigError(`metrics.${name}`, 'is not a Prometheus metric name');
  };
  const sink: MetricsSink = {
    gauge(name, help, labels, collect) {
      checkName(name);
      new Gauge({
        name,
        help,
        labelNames: [...labels],
        registers: [registry],
        async collect() {
          this.reset();
          for (const [series, value] of await collect()) this.set(series as Record<string, string>, value);
        },
      });
    },
    histogram(name, help, buckets, collect) {
      checkName(name);
      registry.registerMetric(appHistogram(name, help, buckets, collect));
    },
  };
  const calls = new Calls(app.calls);
  const localLeaders = (kind: string) =>
    [...node.replicas.values()]
      .filter((r) => r.leaderId === node.id && node.catalog.groups.get(r.id)?.kind === kind)
      .map((r) => r.id);
  for (const hook of app.definition.metrics) hook(sink, { calls, localLeaders });
}

/** A histogram whose buckets the application counted: exposed as Prometheus buckets, sum and count. */
function appHistogram(
  name: string,
  help: string,
  buckets: readonly number[],
  collect: () => Promise<Iterable<HistogramSeries>>,
): Metric {
  const values = async () => {
    const out: { labels: MetricLabels; value: number; metricName: string }[] = [];
    for (const s of await collect()) {
      for (const [i, le] of buckets.entries())
        out.push({
          labels: { ...s.labels, le: String(le) },
          value: s.cumulative[i] ?? 0,
          metricName: `${name}_bucket`,
        });
      out.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${name}_bucket` });
      out.push({ labels: s.labels, value: s.sum, metricName: `${name}_sum` });
      out.push({ labels: s.labels, value: s.count, metricName: `${name}_count` });
    }
    return out;
  };
  return {
    name,
    help,
    get: async () => ({ name, help, type: 'histogram', values: await values(), aggregator: 'sum' }),
    reset: () => {},
  } as unknown as Metric;
}
