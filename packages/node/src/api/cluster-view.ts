/**
 * The cluster as one node sees it, for the admin's `/cluster`: this node's status and every other member's,
 * asked over the peer links (a NodeRpc `status` request, each with a short timeout) — a member that does not
 * answer is listed as dead with the reason, never left out — and every group from the freshest view of it
 * (its leader's when some live node leads it: term, commit and applied indices, follower lag).
 */
import { RequestTimeoutError } from '@flotilla/app';
import type { NodeId } from '@flotilla/core';
import type { GroupStatusView } from '../cluster/node.ts';

/** How long `/cluster` waits for one member's status before reporting it dead. */
export const CLUSTER_STATUS_TIMEOUT_MS = 500;

export type ClusterMember =
  | { readonly id: NodeId; readonly alive: true; readonly ms: number; readonly status: unknown }
  | { readonly id: NodeId; readonly alive: false; readonly error: string };

export interface ClusterGroup {
  readonly id: string;
  readonly kind: string;
  /** 0 when no live node knows a leader. */
  readonly leaderId: NodeId;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  /** From the leader's progress; null when no live node leads the group. */
  readonly followerLagMax: number | null;
  /** Live nodes that run a replica of it. */
  readonly replicas: number;
}

export interface ClusterView {
  /** The node that answered. */
  readonly self: NodeId;
  /** When (ms since the epoch). */
  readonly at: number;
  /** Every member by id, this node included. */
  readonly nodes: readonly ClusterMember[];
  readonly groups: readonly ClusterGroup[];
}

export interface ClusterSources {
  readonly self: NodeId;
  /** This node's `/status`. */
  status(): Promise<unknown>;
  /** The members' ids (this node's included). */
  members(): readonly NodeId[];
  /** Another member's status, rejecting after `timeoutMs`. */
  statusOf(id: NodeId, timeoutMs: number): Promise<unknown>;
}

export async function clusterView(
  sources: ClusterSources,
  timeoutMs = CLUSTER_STATUS_TIMEOUT_MS,
): Promise<ClusterView> {
  const ids = [...new Set([sources.self, ...sources.members()])].sort((a, b) => a - b);
  const nodes = await Promise.all(
    ids.map(async (id): Promise<ClusterMember> => {
      const started = performance.now();
      try {
        const status = await (id === sources.self ? sources.status() : sources.statusOf(id, timeoutMs));
        return { id, alive: true, ms: Math.round(performance.now() - started), status };
      } catch (error) {
        return { id, alive: false, error: describe(error, timeoutMs) };
      }
    }),
  );
  return { self: sources.self, at: Date.now(), nodes, groups: groupsOf(nodes) };
}

function describe(error: unknown, timeoutMs: number): string {
  if (error instanceof RequestTimeoutError) return `no answer within ${timeoutMs} ms`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The groups of a status (remote statuses are unchecked data: anything unexpected is skipped). */
function groupViews(status: unknown): GroupStatusView[] {
  const groups = (status as { groups?: unknown } | null)?.groups;
  if (!Array.isArray(groups)) return [];
  return groups.filter(
    (g): g is GroupStatusView => typeof g === 'object' && g !== null && typeof g.id === 'string',
  );
}

/** Each group from its best view: a leader's of the highest term, else the replica of the highest term. */
function groupsOf(nodes: readonly ClusterMember[]): ClusterGroup[] {
  const best = new Map<string, { view: GroupStatusView; replicas: number }>();
  for (const node of nodes) {
    if (!node.alive) continue;
    for (const view of groupViews(node.status)) {
      const known = best.get(view.id);
      if (known === undefined) {
        best.set(view.id, { view, replicas: 1 });
        continue;
      }
      known.replicas++;
      if (better(view, known.view)) known.view = view;
    }
  }
  return [...best.values()]
    .map(({ view, replicas }) => ({
      id: view.id,
      kind: view.kind,
      leaderId: view.leaderId,
      term: view.term,
      commitIndex: view.commitIndex,
      appliedIndex: view.appliedIndex,
      followerLagMax: view.role === 'leader' ? (view.followerLagMax ?? null) : null,
      replicas,
    }))
    .sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
}

/** `a` is a better view of its group than `b`: a leader's, then of a higher term, then applied further. */
function better(a: GroupStatusView, b: GroupStatusView): boolean {
  const leader = Number(a.role === 'leader') - Number(b.role === 'leader');
  if (leader !== 0) return leader > 0;
  if (a.term !== b.term) return a.term > b.term;
  return a.appliedIndex > b.appliedIndex;
}
