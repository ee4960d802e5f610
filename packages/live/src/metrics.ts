/**
 * The live queries' metrics on every node's `/metrics`: subscriptions per serving node, exported by the
 * leader of each user shard (so that a cluster-wide sum counts each once). The node's own watch metrics
 * (watchers by group, changes delivered, delivery lag) come from the node itself.
 */
import type { MetricsHook } from '@flotilla/app';
import { LIVE_KIND, LiveSubscriptionsMachine } from './machine/subscriptions-machine.ts';

/** Scrapes within this long share one round of queries. */
const SCRAPE_CACHE_MS = 500;

export function liveMetrics(_layout: { prefix: string; shards: number }): MetricsHook {
  return (sink, { calls, localLeaders }) => {
    let cached:
      | { at: number; counts: Promise<{ group: string; byNode: Record<string, number> }[]> }
      | undefined;
    const counts = () => {
      const now = performance.now();
      if (cached === undefined || now - cached.at > SCRAPE_CACHE_MS)
        cached = {
          at: now,
          counts: Promise.all(
            localLeaders(LIVE_KIND).map(async (group) => ({
              group,
              byNode: (
                await calls.query(
                  LiveSubscriptionsMachine,
                  group,
                  'counts',
                  {},
                  { consistency: 'lease', timeoutMs: 2_000 },
                )
              ).byNode,
            })),
          ).catch(() => []),
        };
      return cached.counts;
    };
    sink.gauge(
      'flotilla_live_subscriptions',
      'Live-query subscriptions per user shard and serving node (exported by the shard leader).',
      ['group', 'serving_node'],
      async () =>
        (await counts()).flatMap((g) =>
          Object.entries(g.byNode).map(([node, n]) => [{ group: g.group, serving_node: node }, n] as const),
        ),
    );
  };
}
