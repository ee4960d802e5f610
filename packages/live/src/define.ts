/**
 * How an application turns on live queries: `defineLiveQueries` yields the parts to give `defineApp` — the
 * subscriptions machine on a shard set chosen by user id, a presence actor on every node, a reaper on each
 * shard's leader, metrics and a dashboard tab.
 */
import { actorKind } from '@flotilla/actors';
import { type ActorKindRef, type AppSpec, InvalidConfigError } from '@flotilla/app';
import { liveTab } from './dashboard.ts';
import { LiveSubscriptionsMachine } from './machine/subscriptions-machine.ts';
import { liveMetrics } from './metrics.ts';

export interface LiveQueriesSpec {
  /** User shards (`<prefix>:0..shards-1`, chosen by user id). */
  readonly shards: number;
  /** Default `live`. */
  readonly prefix?: string;
  /** How long a node whose presence terminated is pinged before its subscriptions are removed (default 2 s). */
  readonly graceMs?: number;
}

export interface LiveQueriesDefinition {
  readonly __live: true;
  readonly prefix: string;
  readonly shards: number;
  /** The parts to spread into `defineApp`. */
  readonly app: Required<
    Pick<AppSpec, 'machines' | 'shards' | 'actors' | 'leaderActors' | 'dashboard' | 'metrics'>
  >;
}

export const LIVE_PREFIX = 'live';
export const PRESENCE_ACTOR = 'live.presence';
const GRACE_MS = 2_000;

const RUNTIME = new URL('./runtime/', import.meta.url);
const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
export const PresenceKind: ActorKindRef = actorKind(new URL(`presence${ext}`, RUNTIME), 'PresenceActor');
export const ReaperKind: ActorKindRef = actorKind(new URL(`reaper${ext}`, RUNTIME), 'Reaper');

export function defineLiveQueries(spec: LiveQueriesSpec): LiveQueriesDefinition {
  const prefix = spec.prefix ?? LIVE_PREFIX;
  if (!Number.isSafeInteger(spec.shards) || spec.shards < 1 || spec.shards > 4_096)
    throw new InvalidConfigError('live.shards', 'must be an integer from 1 to 4096');
  const graceMs = spec.graceMs ?? GRACE_MS;
  if (!Number.isSafeInteger(graceMs) || graceMs < 0)
    throw new InvalidConfigError('live.graceMs', 'must be an integer ≥ 0');
  return {
    __live: true,
    prefix,
    shards: spec.shards,
    app: {
      machines: [LiveSubscriptionsMachine],
      shards: [{ prefix, count: spec.shards, kind: LiveSubscriptionsMachine }],
      actors: [{ name: PRESENCE_ACTOR, kind: PresenceKind, props: { prefix, shards: spec.shards } }],
      leaderActors: [{ name: 'live.reaper', kind: ReaperKind, groups: { prefix }, props: { graceMs } }],
      metrics: [liveMetrics({ prefix, shards: spec.shards })],
      dashboard: [liveTab({ prefix, shards: spec.shards })],
    },
  };
}
