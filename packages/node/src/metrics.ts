/**
 * Prometheus metrics of a node (prom-client), computed at scrape time from the replicas' status so that the
 * hot path only appends latency samples: elections, leader changes, term, commit and applied index,
 * replication lag per follower, proposal latency, node additions, mailbox depth, restarts.
 */
import type { Status } from '@flotilla/core';
import { Gauge, Histogram, Registry } from 'prom-client';
import type { ClusterNode } from './cluster-node.ts';

export interface MetricsSources {
  readonly node: ClusterNode;
  /** Depth of actor mailboxes and restarts, when groups run on actor hosts. */
  readonly actors?: () => { mailboxDepth: number; restarts: number };
  readonly transport?: () => Record<string, number>;
}

export function createMetrics(sources: MetricsSources): Registry {
  const registry = new Registry();
  const { node } = sources;
  const labels = { node: String(node.id) };
  registry.setDefaultLabels(labels);
  const groups = () => [...node.host.groups.values()];

  new Gauge({
    name: 'flotilla_raft_elections_total',
    help: 'Elections this node started, over all groups (a counter kept by the replicas).',
    registers: [registry],
    collect() {
      this.set(groups().reduce((n, g) => n + g.status().electionsStarted, 0));
    },
  });
  new Gauge({
    name: 'flotilla_raft_leader_changes_total',
    help: 'Leader changes seen by this node, over all groups.',
    registers: [registry],
    collect() {
      this.set(groups().reduce((n, g) => n + g.status().leaderChanges, 0));
    },
  });
  const perGroup = (name: string, help: string, pick: (s: Status) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['group'],
      registers: [registry],
      collect() {
        this.reset();
        for (const g of groups()) this.set({ group: g.id }, pick(g.status()));
      },
    });
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
    collect() {
      this.reset();
      for (const g of groups()) {
        const s = g.status();
        for (const p of s.progress)
          if (p.id !== node.id) this.set({ group: g.id, follower: String(p.id) }, s.lastIndex - p.matchIndex);
      }
    },
  });
  const latency = new Histogram({
    name: 'flotilla_proposal_latency_seconds',
    help: 'Time from proposal on the leader to its apply.',
    buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1],
    registers: [registry],
    collect() {
      for (const g of groups()) {
        for (const ms of g.latencies) latency.observe(ms / 1000);
        g.latencies.length = 0;
      }
    },
  });
  new Gauge({
    name: 'flotilla_node_additions_total',
    help: 'Nodes added to the cluster through this node.',
    registers: [registry],
    collect() {
      this.set(node.counters.nodeAdditions);
    },
  });
  new Gauge({
    name: 'flotilla_mailbox_depth',
    help: 'Messages waiting in actor mailboxes on this node.',
    registers: [registry],
    collect() {
      this.set(sources.actors?.().mailboxDepth ?? 0);
    },
  });
  new Gauge({
    name: 'flotilla_restarts_total',
    help: 'Actor and replica restarts on this node.',
    registers: [registry],
    collect() {
      this.set(sources.actors?.().restarts ?? 0);
    },
  });
  const transport = new Gauge({
    name: 'flotilla_transport',
    help: 'Transport counters (frames, bytes, messages, errors, reconnects, rejected peers).',
    labelNames: ['counter'],
    registers: [registry],
    collect() {
      transport.reset();
      for (const [k, v] of Object.entries(sources.transport?.() ?? {}))
        if (typeof v === 'number') transport.set({ counter: k }, v);
    },
  });
  return registry;
}
