/**
 * `LiveQueries`: live queries in the seed's sense, over any client that can watch (`FlotillaClient`). A
 * subscription watches one key or a prefix of a group's changes on one node; it is registered in the user's
 * shard with that node (only once the watch is live, so "subscribed" means events flow), and when its node
 * fails the watch resumes on another node from the revision after the last one delivered and the record moves
 * with it. The application sees every change once, in log order.
 */
import { type Calls, parseWith, type WatchEvent, z } from '@flotilla/app';
import type { GroupId, NodeId } from '@flotilla/core';
import { LIVE_PREFIX } from './define.ts';
import { LiveSubscriptionsMachine } from './machine/subscriptions-machine.ts';
import { LiveQuery, type Subscription, SubscriptionId, UserId } from './model.ts';

/** What a live query needs of the client's watch (`FlotillaClient.watch` fits). */
export interface LiveWatchHandle {
  readonly node: NodeId;
  readonly nextRevision: number | undefined;
  readonly resumes: number;
  readonly ended: Promise<Error | undefined>;
  close(): void;
}
export interface LiveConnection extends Calls {
  watch(
    options: {
      group: GroupId;
      key?: string;
      prefix?: string;
      fromRevision?: number;
      node?: NodeId;
      progressMs?: number;
    },
    handlers: {
      onEvents(events: readonly WatchEvent[], through: number): void;
      onLive?(revision: number, node: NodeId): void;
      onError?(error: Error): void;
    },
  ): LiveWatchHandle;
}

export interface SubscribeOptions {
  readonly user: string;
  readonly query: LiveQuery;
  /** Default: `<user>.<random>`. */
  readonly id?: string;
  /** Deliver changes from this revision on (default: from now). */
  readonly fromRevision?: number;
  /** The node to serve it first (default: any). */
  readonly node?: NodeId;
  /** Progress notifications while idle (ms; default 1000). */
  readonly progressMs?: number;
}

export interface LiveHandlers {
  /** Changes in log order, each once (every change of a revision in one call). */
  onChanges(events: readonly WatchEvent[], through: number): void;
  /** The subscription ended for good (compacted, no node for too long): re-read and subscribe again. */
  onError?(error: Error): void;
}

/** Bound on registering (or moving) a subscription record. */
const REGISTER_TIMEOUT_MS = 10_000;

export class LiveSubscription {
  /** Where it is registered (its serving node). */
  node: NodeId = 0;
  /** Registrations of the record (1 + moves after resumes). */
  registrations = 0;
  private registering: Promise<unknown> = Promise.resolve();

  constructor(
    readonly id: string,
    readonly user: string,
    readonly query: LiveQuery,
    private readonly owner: LiveQueries,
    readonly watch: LiveWatchHandle,
  ) {}

  get nextRevision(): number | undefined {
    return this.watch.nextRevision;
  }

  /** @internal (re)registers the record with its serving node and resume point. */
  register(node: NodeId, revision: number): Promise<unknown> {
    this.node = node;
    this.registering = this.registering
      .catch(() => {})
      .then(() =>
        this.owner.calls.execute(
          LiveSubscriptionsMachine,
          this.owner.shardOf(this.user),
          'subscribe',
          { id: this.id, user: this.user, query: this.query, node, revision },
          { timeoutMs: REGISTER_TIMEOUT_MS },
        ),
      )
      .then((r) => {
        this.registrations++;
        return r;
      });
    return this.registering;
  }

  /** Stops watching and removes the record. */
  async close(): Promise<void> {
    this.watch.close();
    await this.registering.catch(() => {});
    await this.owner.calls.execute(
      LiveSubscriptionsMachine,
      this.owner.shardOf(this.user),
      'unsubscribe',
      { id: this.id },
      { timeoutMs: REGISTER_TIMEOUT_MS },
    );
  }
}

export class LiveQueries {
  readonly prefix: string;
  /** User shards in the cluster (needed only to list or count over all of them). */
  readonly shardCount: number | undefined;

  /** `layout`: the live queries' definition, or its prefix and shard count. */
  constructor(
    readonly calls: LiveConnection,
    layout: { readonly prefix?: string; readonly shards?: number } = {},
  ) {
    this.prefix = layout.prefix ?? LIVE_PREFIX;
    this.shardCount = layout.shards;
  }

  /** The user shard of `user` (its subscriptions live there). */
  shardOf(user: string): { key: string; shards: string } {
    return { key: user, shards: this.prefix };
  }

  /**
   * Subscribes `user` to a query: resolves once the watch is live and the subscription is registered with its
   * serving node. Bad input (user id, query, revision) is refused with `SchemaError` before anything is
   * registered; a watch that cannot start (unknown group, compacted revision) rejects with its typed error.
   */
  subscribe(options: SubscribeOptions, handlers: LiveHandlers): Promise<LiveSubscription> {
    let user: string;
    let query: LiveQuery;
    let id: string;
    try {
      user = parseWith(UserId, options.user, LIVE_PREFIX, 'user');
      query = parseWith(LiveQuery, options.query, LIVE_PREFIX, 'query');
      id = parseWith(SubscriptionId, options.id ?? `${user}.${randomId()}`, LIVE_PREFIX, 'id');
      if (options.fromRevision !== undefined)
        parseWith(z.number().int().positive(), options.fromRevision, LIVE_PREFIX, 'fromRevision');
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<LiveSubscription>((resolve, reject) => {
      let subscription: LiveSubscription | undefined;
      let settled = false;
      const watch = this.calls.watch(
        {
          group: query.group,
          ...(query.key === undefined ? {} : { key: query.key }),
          ...(query.prefix === undefined ? {} : { prefix: query.prefix }),
          ...(options.fromRevision === undefined ? {} : { fromRevision: options.fromRevision }),
          ...(options.node === undefined ? {} : { node: options.node }),
          ...(options.progressMs === undefined ? {} : { progressMs: options.progressMs }),
        },
        {
          onEvents: (events, through) => handlers.onChanges(events, through),
          onLive: (revision, node) => {
            const s = subscription!;
            const registered = s.register(node, revision);
            if (settled) {
              registered.catch(() => {}); // a move: retried at the next resume, or listed stale until then
              return;
            }
            registered.then(
              () => {
                settled = true;
                resolve(s);
              },
              (error: unknown) => {
                settled = true;
                watch.close();
                reject(error);
              },
            );
          },
          onError: (error) => {
            if (!settled) {
              settled = true;
              reject(error);
            } else handlers.onError?.(error);
          },
        },
      );
      subscription = new LiveSubscription(id, user, query, this, watch);
    });
  }

  /** Subscriptions of a user, or served by a node (every shard), or all (up to `limit` per shard). */
  async list(filter: { user?: string; node?: NodeId; limit?: number } = {}): Promise<Subscription[]> {
    const input = {
      ...(filter.user === undefined ? {} : { user: filter.user }),
      ...(filter.node === undefined ? {} : { node: filter.node }),
      ...(filter.limit === undefined ? {} : { limit: filter.limit }),
    };
    const groups = filter.user !== undefined ? [this.shardOf(filter.user)] : this.shards();
    const lists = await Promise.all(
      groups.map((g) =>
        this.calls.query(LiveSubscriptionsMachine, g, 'list', input, { consistency: 'linearizable' }),
      ),
    );
    return lists.flat();
  }

  /** Subscriptions in total and per serving node. */
  async counts(): Promise<{ total: number; byNode: Record<string, number> }> {
    const all = await Promise.all(
      this.shards().map((g) => this.calls.query(LiveSubscriptionsMachine, g, 'counts', {})),
    );
    const byNode: Record<string, number> = {};
    let total = 0;
    for (const c of all) {
      total += c.total;
      for (const [node, n] of Object.entries(c.byNode)) byNode[node] = (byNode[node] ?? 0) + n;
    }
    return { total, byNode };
  }

  private shards(): GroupId[] {
    if (this.shardCount === undefined)
      throw new TypeError('LiveQueries: give { shards } (or the definition) to list or count every shard');
    return Array.from({ length: this.shardCount }, (_, i) => `${this.prefix}:${i}`);
  }
}

function randomId(): string {
  return Math.floor(Math.random() * 2 ** 48).toString(36);
}
