/**
 * The `live.subscriptions` machine, one per user shard: the subscriptions of the users that route to it
 * (indexed by user and by serving node, with counts), and the presence of every node's live-queries actor.
 * A node's subscriptions are removed by one fenced command of the shard's reaper when that node dies; a
 * client that resumes a subscription elsewhere registers it again (an upsert naming its new node).
 * Watchable: every change of a subscription is emitted under `<user>/<id>`.
 */
import { defineMachine, type MachineStore, store, z } from '@flotilla/app';
import { LIMITS, LiveQuery, Presence, Subscription, SubscriptionId, UserId } from '../model.ts';

export const LIVE_KIND = 'live.subscriptions';

const NodeId = z.number().int().positive();

/** Store keys: records, the two indexes, counts, presences. */
const K = {
  sub: (id: string) => ['s', id] as const,
  byNode: (node: number, id: string) => ['n', node, id] as const,
  nodeRange: (node: number) => ({ start: ['n', node], end: ['n', node, '\uffff'] }) as const,
  byUser: (user: string, id: string) => ['u', user, id] as const,
  userRange: (user: string) => ({ start: ['u', user], end: ['u', user, '\uffff'] }) as const,
  /** By last update (registration or move): the newest are listed first. */
  byTime: (at: number, id: string) => ['t', at, id] as const,
  times: { start: ['t'], end: ['t', Number.MAX_SAFE_INTEGER] } as const,
  userCount: (user: string) => ['uc', user] as const,
  nodeCount: (node: number) => ['nc', node] as const,
  nodeCounts: { start: ['nc'], end: ['nc', Number.MAX_SAFE_INTEGER] } as const,
  presence: (node: number) => ['p', node] as const,
  presences: { start: ['p'], end: ['p', Number.MAX_SAFE_INTEGER] } as const,
};

const SubscribeInput = z.object({
  id: SubscriptionId,
  user: UserId,
  query: LiveQuery,
  node: NodeId,
  revision: z.number().int().nonnegative(),
});

const add = (s: MachineStore, key: readonly (string | number)[], delta: number): void => {
  const n = (s.get<number>(key) ?? 0) + delta;
  if (n <= 0) s.delete(key);
  else s.put(key, n);
};

/** Forgets one subscription with its indexes and counts; emits its removal. */
function drop(s: MachineStore, sub: Subscription, emit: (key: string, data: unknown) => void): void {
  s.delete(K.sub(sub.id));
  s.delete(K.byTime(sub.updatedAt, sub.id));
  s.delete(K.byNode(sub.node, sub.id));
  s.delete(K.byUser(sub.user, sub.id));
  add(s, K.userCount(sub.user), -1);
  add(s, K.nodeCount(sub.node), -1);
  emit(`${sub.user}/${sub.id}`, { deleted: true, node: sub.node });
}

export const LiveSubscriptionsMachine = defineMachine({
  name: LIVE_KIND,
  commands: {
    /** Registers a subscription, or moves it to another node (and resume point). */
    subscribe: { input: SubscribeInput, output: z.object({ created: z.boolean() }) },
    unsubscribe: { input: z.object({ id: SubscriptionId }), output: z.object({ removed: z.boolean() }) },
    /** A node's live-queries actor announces itself (the reaper watches it). */
    presence: {
      input: z.object({ node: NodeId, ref: Presence.shape.ref }),
      output: z.object({ ok: z.literal(true) }),
    },
    /**
     * The reaper (fenced by its term) removes a dead node's subscriptions registered before it died
     * (`before`, ms since the epoch: those moved there since are kept), in bounded batches from `after`.
     */
    removeNode: {
      input: z.object({ node: NodeId, before: z.number(), after: SubscriptionId.optional() }),
      output: z.object({ removed: z.number(), next: SubscriptionId.nullable() }),
    },
  },
  queries: {
    get: { input: z.object({ id: SubscriptionId }), output: Subscription.nullable() },
    /** A user's or a node's subscriptions (by id), or all of them newest first; at most `limit`. */
    list: {
      input: z.object({
        user: UserId.optional(),
        node: NodeId.optional(),
        limit: z.number().int().min(1).max(LIMITS.listMax).default(1_000),
      }),
      output: z.array(Subscription),
    },
    counts: {
      input: z.object({}),
      output: z.object({ total: z.number(), byNode: z.record(z.string(), z.number()) }),
    },
    presences: { input: z.object({}), output: z.array(Presence) },
  },
  state: store(),
  apply: {
    subscribe(s, input, ctx) {
      const known = s.get<Subscription>(K.sub(input.id));
      if (known !== undefined && known.user !== input.user)
        ctx.reject('wrong-user', `subscription ${input.id} belongs to user ${known.user}`, { id: input.id });
      if (known === undefined && (s.get<number>(K.userCount(input.user)) ?? 0) >= LIMITS.perUserMax)
        ctx.reject('too-many', `user ${input.user} holds ${LIMITS.perUserMax} subscriptions already`, {
          user: input.user,
        });
      const record: Subscription = {
        ...input,
        createdAt: known?.createdAt ?? ctx.timestampMs,
        updatedAt: ctx.timestampMs,
      };
      if (known === undefined) {
        s.put(K.byUser(input.user, input.id), 1);
        add(s, K.userCount(input.user), 1);
      } else if (known.node !== input.node) {
        s.delete(K.byNode(known.node, input.id));
        add(s, K.nodeCount(known.node), -1);
      }
      if (known?.node !== input.node) {
        s.put(K.byNode(input.node, input.id), 1);
        add(s, K.nodeCount(input.node), 1);
      }
      if (known !== undefined) s.delete(K.byTime(known.updatedAt, input.id));
      s.put(K.byTime(record.updatedAt, input.id), 1);
      s.put(K.sub(input.id), record);
      ctx.emit(`${input.user}/${input.id}`, record);
      return { created: known === undefined };
    },
    unsubscribe(s, { id }, ctx) {
      const known = s.get<Subscription>(K.sub(id));
      if (known === undefined) return { removed: false };
      drop(s, known, (k, d) => ctx.emit(k, d));
      return { removed: true };
    },
    presence(s, { node, ref }, ctx) {
      s.put(K.presence(node), { node, ref, since: ctx.timestampMs } satisfies Presence);
      return { ok: true as const };
    },
    removeNode(s, { node, before, after }, ctx) {
      ctx.requireFence();
      const range = K.nodeRange(node);
      const start = after === undefined ? range.start : K.byNode(node, `${after}\u0000`);
      const ids = [...s.range<number>({ start, end: range.end, limit: LIMITS.removeBatchMax + 1 })].map(
        (e) => (e.key as [string, number, string])[2],
      );
      const batch = ids.slice(0, LIMITS.removeBatchMax);
      let removed = 0;
      for (const id of batch) {
        const sub = s.get<Subscription>(K.sub(id));
        if (sub === undefined) s.delete(K.byNode(node, id));
        else if (sub.updatedAt < before) {
          drop(s, sub, (k, d) => ctx.emit(k, d));
          removed++;
        }
      }
      const more = ids.length > LIMITS.removeBatchMax;
      const presence = s.get<Presence>(K.presence(node));
      if (!more && presence !== undefined && presence.since < before) s.delete(K.presence(node));
      return { removed, next: more ? batch.at(-1)! : null };
    },
  },
  query: {
    get: (s, { id }) => s.get<Subscription>(K.sub(id)) ?? null,
    list(s, { user, node, limit }) {
      if (user === undefined && node === undefined)
        return [...s.range({ ...K.times, reverse: true, limit })].flatMap((e) => {
          const sub = s.get<Subscription>(K.sub((e.key as readonly (string | number)[])[2] as string));
          return sub === undefined ? [] : [sub];
        });
      const range = user !== undefined ? K.userRange(user) : K.nodeRange(node!);
      const out: Subscription[] = [];
      for (const e of s.range({ ...range, limit: LIMITS.listMax })) {
        const id = (e.key as readonly (string | number)[])[2] as string;
        const sub = s.get<Subscription>(K.sub(id));
        if (sub === undefined || (node !== undefined && sub.node !== node)) continue;
        out.push(sub);
        if (out.length >= limit) break;
      }
      return out;
    },
    counts(s) {
      const byNode: Record<string, number> = {};
      let total = 0;
      for (const e of s.range<number>(K.nodeCounts)) {
        byNode[String((e.key as [string, number])[1])] = e.value;
        total += e.value;
      }
      return { total, byNode };
    },
    presences: (s) => [...s.range<Presence>(K.presences)].map((e) => e.value),
  },
});
