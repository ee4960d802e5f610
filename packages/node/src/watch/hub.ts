/**
 * The node's watches: one feed per group its replicas apply (fed directly by main-thread replicas, through
 * the router by host-thread ones), one timer for progress notifications and for refusing watches that wait
 * too long on a future revision, and the numbers `/metrics` shows (watchers per group, changes delivered,
 * delivery lag from the leader's proposal stamp).
 */
import { UnknownGroupError } from '@flotilla/app';
import type { FlotillaError, GroupId } from '@flotilla/core';
import {
  type ChangeBatch,
  type FeedLimits,
  type Watcher,
  WatchFeed,
  type WatchFilter,
  type WatchSink,
} from './feed.ts';

/** How often idle watchers are checked for a progress notification. */
export const WATCH_TICK_MS = 100;
/** Delivery lags kept between two metrics scrapes (ms). */
const LAGS_KEPT = 10_000;

export const WATCH_DEFAULTS: FeedLimits = {
  historyEvents: 10_000,
  historyBytes: 8 << 20,
  futureWaitMs: 2_000,
};

export class WatchHub {
  private readonly feeds = new Map<GroupId, WatchFeed>();
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Delivery lags (ms) since the last scrape; bounded. */
  readonly lags: number[] = [];
  readonly counters = { watchesOpened: 0, watchesRefused: 0 };

  constructor(
    private readonly limits: FeedLimits = WATCH_DEFAULTS,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  private feed(group: GroupId): WatchFeed {
    let feed = this.feeds.get(group);
    if (feed === undefined) {
      feed = new WatchFeed(group, this.limits, this.now, (events, timestampMs) =>
        this.delivered(events, timestampMs),
      );
      this.feeds.set(group, feed);
    }
    return feed;
  }

  /** The local replica of `group` (re)started at, or jumped to, applied index `index`. */
  position(group: GroupId, index: number): void {
    this.feed(group).position(index);
  }

  publish(group: GroupId, batch: ChangeBatch): void {
    this.feed(group).publish(batch);
  }

  /** Opens a watch on `group`, which must have a replica on this node (it throws a typed error otherwise). */
  watch(
    group: GroupId,
    filter: WatchFilter,
    fromRevision: number | undefined,
    progressMs: number,
    sink: WatchSink,
  ): Watcher {
    const feed = this.feeds.get(group);
    if (feed === undefined) {
      this.counters.watchesRefused++;
      throw new UnknownGroupError(group);
    }
    try {
      const w = feed.add(filter, fromRevision, progressMs, sink);
      this.counters.watchesOpened++;
      this.startTimer();
      return w;
    } catch (error) {
      this.counters.watchesRefused++;
      throw error;
    }
  }

  /** Ends `group`'s watches and forgets its feed (its replica left this node). */
  drop(group: GroupId, error: FlotillaError): void {
    this.feeds.get(group)?.close(error);
    this.feeds.delete(group);
  }

  /** Ends every watch (the node stops). */
  close(error: FlotillaError): void {
    for (const feed of this.feeds.values()) feed.close(error);
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Per group: watchers, changes published and delivered, applied revision and where its history starts. */
  stats(): {
    group: GroupId;
    watchers: number;
    published: number;
    delivered: number;
    applied: number;
    historyFrom: number;
  }[] {
    return [...this.feeds.values()].map((f) => ({
      group: f.group,
      watchers: f.size,
      published: f.eventsPublished,
      delivered: f.eventsDelivered,
      applied: f.applied,
      historyFrom: f.historyFrom,
    }));
  }

  private delivered(_events: number, timestampMs: number): void {
    if (timestampMs > 0 && this.lags.length < LAGS_KEPT)
      this.lags.push(Math.max(0, Date.now() - timestampMs));
  }

  private startTimer(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      const nowMs = this.now();
      let any = false;
      for (const feed of this.feeds.values()) {
        if (feed.size === 0) continue;
        any = true;
        feed.tick(nowMs);
      }
      if (!any) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    }, WATCH_TICK_MS);
    this.timer.unref();
  }
}
