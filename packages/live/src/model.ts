/**
 * What live queries are made of: a subscription (who watches what, served by which node, resumed from which
 * revision), its schemas (checked before anything is registered), and the package's named limits.
 */
import { type ActorRefData, WATCH_KEY_CHARS_MAX, z } from '@flotilla/app';

/** A user id: printable, short (it routes to the user's shard and names the user in listings). */
export const UserId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:@-]+$/, 'letters, digits and _ . : @ - only');

/** A subscription id (the client makes one per subscription, unique across the cluster). */
export const SubscriptionId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:@-]+$/, 'letters, digits and _ . : @ - only');

const GroupId = z.string().min(1).max(100);
const NodeId = z.number().int().positive();
const WatchKey = z.string().min(1).max(WATCH_KEY_CHARS_MAX);
const Prefix = z.string().max(WATCH_KEY_CHARS_MAX);

/** What a subscription watches: one key or a prefix of a group's changes. */
export const LiveQuery = z
  .object({ group: GroupId, key: WatchKey.optional(), prefix: Prefix.optional() })
  .refine((q) => (q.key === undefined) !== (q.prefix === undefined), {
    message: 'a live query has a key or a prefix (exactly one)',
    path: ['key'],
  });
export type LiveQuery = z.output<typeof LiveQuery>;

/** A subscription as its user shard keeps it. */
export const Subscription = z.object({
  id: SubscriptionId,
  user: UserId,
  query: LiveQuery,
  /** The node serving it: its subscriptions are removed when it dies. */
  node: NodeId,
  /** Where its watch (re)started on that node: every change from here on is delivered. */
  revision: z.number().int().nonnegative(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type Subscription = z.output<typeof Subscription>;

/** The nodes a user shard knows are alive, each with its presence actor (watched by the reaper). */
export const Presence = z.object({
  node: NodeId,
  ref: z.custom<ActorRefData>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as { path?: unknown }).path === 'string' &&
      typeof (v as { uid?: unknown }).uid === 'number',
    'must be an actor ref',
  ),
  since: z.number(),
});
export type Presence = z.output<typeof Presence>;

export const LIMITS = {
  /** Subscriptions one `list` returns at most. */
  listMax: 10_000,
  /** Subscriptions one `removeNode` command removes (the reaper repeats it until none is left). */
  removeBatchMax: 5_000,
  /** Subscriptions one user may hold in its shard. */
  perUserMax: 1_000,
} as const;
