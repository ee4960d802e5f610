/**
 * One group's watch feed on this node: the changes its local replica applied (what the machine emitted, each
 * at its revision = log index), a bounded history of them for watches that start in the past, and the
 * watchers, indexed by key and by prefix so that a change costs a few map lookups, not one test per watcher.
 * Served from whatever replica this node has (leader or follower), up to its applied index.
 */
import {
  WatchCompactedError,
  type WatchEvent,
  WatchFutureRevisionError,
  type WatchItem,
} from '@flotilla/app';
import type { FlotillaError, GroupId } from '@flotilla/core';

/** What a replica's machine applied in one batch: every change, and the applied index after it. */
export interface ChangeBatch {
  readonly through: number;
  readonly events: readonly WatchEvent[];
  /** The leader's stamp on the batch's last command (ms since the epoch): delivery lag is measured from it. */
  readonly timestampMs: number;
}

/** A watch's filter: one key, a prefix (`''` = every key), or neither (every key). */
export interface WatchFilter {
  readonly key?: string | undefined;
  readonly prefix?: string | undefined;
}

/** Where a watcher's items go (its connection batches them); `end` closes the watch with an error. */
export interface WatchSink {
  push(item: WatchItem): void;
  end(error: FlotillaError): void;
}

export interface FeedLimits {
  /** Changes kept per group for watches that start in the past. */
  readonly historyEvents: number;
  /** Estimated bytes of those changes kept per group. */
  readonly historyBytes: number;
  /** How long a watch from a revision this replica has not applied yet waits for it before it is refused. */
  readonly futureWaitMs: number;
}

export class Watcher {
  /** Events matched in the batch being published, sent at its end. */
  pending: WatchEvent[] = [];
  /** Everything up to this revision was sent to the subscriber (what it resumes after). */
  sentThrough: number;
  lastSentMs: number;
  /** Until then, a watcher from a revision not yet applied here waits; past it, it is refused. */
  deadlineMs = 0;
  active = false;

  constructor(
    readonly feed: WatchFeed,
    readonly filter: WatchFilter,
    readonly from: number,
    readonly progressMs: number,
    readonly sink: WatchSink,
    nowMs: number,
  ) {
    this.sentThrough = from - 1;
    this.lastSentMs = nowMs;
  }

  cancel(): void {
    this.feed.remove(this);
  }
}

/** Rough bytes of an emitted value, for the history's bound (strings by length, containers shallowly walked). */
function sizeOf(value: unknown, depth = 0): number {
  if (typeof value === 'string') return 16 + value.length;
  if (value === null || typeof value !== 'object' || depth > 3) return 16;
  if (value instanceof Uint8Array) return 16 + value.length;
  let n = 32;
  if (Array.isArray(value)) for (const v of value) n += sizeOf(v, depth + 1);
  else for (const [k, v] of Object.entries(value)) n += k.length + sizeOf(v, depth + 1);
  return n;
}

export class WatchFeed {
  /** Revisions up to this one were applied here (and published). */
  applied = 0;
  /** History holds every change with a revision above this one (and up to `applied`). */
  historyFrom = 0;
  private positioned = false;
  private history: WatchEvent[] = [];
  private historyStart = 0;
  private historySizes: number[] = [];
  private historyBytes = 0;
  private readonly exact = new Map<string, Set<Watcher>>();
  private readonly prefixes = new Map<string, Set<Watcher>>();
  /** Lengths of the prefixes watched, with how many prefixes have each: a change looks up one per length. */
  private readonly prefixLengths = new Map<number, number>();
  private readonly waiting = new Set<Watcher>();
  readonly watchers = new Set<Watcher>();
  eventsPublished = 0;
  eventsDelivered = 0;

  constructor(
    readonly group: GroupId,
    private readonly limits: FeedLimits,
    private readonly now: () => number,
    private readonly onDelivered?: (events: number, timestampMs: number) => void,
  ) {}

  get size(): number {
    return this.watchers.size + this.waiting.size;
  }

  /**
   * The replica's applied index is `index` without having published what led there: it (re)started from its
   * storage, or installed a snapshot. Behind what was published: the replay is skipped as it comes. Ahead of it
   * (a snapshot jumped over changes): the history restarts there and watchers that missed changes are ended
   * with `WatchCompactedError`, so they re-read and watch again.
   */
  position(index: number): void {
    if (!this.positioned) {
      this.positioned = true;
      this.applied = this.historyFrom = index;
      return;
    }
    if (index <= this.applied) return;
    this.history = [];
    this.historySizes = [];
    this.historyStart = 0;
    this.historyBytes = 0;
    this.applied = this.historyFrom = index;
    for (const w of [...this.watchers, ...this.waiting]) {
      if (!w.active && w.from > index) {
        if (w.from === index + 1) this.activate(w); // reached: live now, as if opened now
        continue; // still ahead: it waits on
      }
      this.remove(w);
      w.sink.end(new WatchCompactedError(this.group, w.sentThrough + 1, index + 1));
    }
  }

  /** A batch the local replica applied: kept in the history and delivered to the watchers it matches. */
  publish(batch: ChangeBatch): void {
    if (!this.positioned) this.position(Math.max(0, (batch.events[0]?.[0] ?? batch.through) - 1));
    if (batch.through <= this.applied) return;
    const touched: Watcher[] = [];
    for (const e of batch.events) {
      if (e[0] <= this.applied) continue;
      this.keep(e);
      this.eventsPublished++;
      this.match(e[1], (w) => {
        if (w.pending.push(e) === 1) touched.push(w);
      });
    }
    this.applied = batch.through;
    // Before the trim: it may drop revisions these watchers start from (they were not matched above).
    if (this.waiting.size > 0)
      for (const w of [...this.waiting]) if (w.from <= this.applied + 1) this.activate(w);
    this.trim();
    const nowMs = this.now();
    let delivered = 0;
    for (const w of touched) {
      const events = w.pending;
      w.pending = [];
      delivered += events.length;
      w.sentThrough = this.applied;
      w.lastSentMs = nowMs;
      w.sink.push(['events', this.applied, events]);
    }
    if (delivered > 0) {
      this.eventsDelivered += delivered;
      this.onDelivered?.(delivered, batch.timestampMs);
    }
  }

  /**
   * Registers a watch: live at once from a retained revision (its past changes replayed first), after a wait
   * for a revision this replica has not applied yet, refused for a revision the history no longer holds.
   */
  add(filter: WatchFilter, fromRevision: number | undefined, progressMs: number, sink: WatchSink): Watcher {
    const from = fromRevision ?? this.applied + 1;
    if (from <= this.historyFrom) throw new WatchCompactedError(this.group, from, this.historyFrom + 1);
    const nowMs = this.now();
    const w = new Watcher(this, filter, from, progressMs, sink, nowMs);
    if (from > this.applied + 1) {
      w.deadlineMs = nowMs + this.limits.futureWaitMs;
      this.waiting.add(w);
    } else {
      this.activate(w);
    }
    return w;
  }

  remove(w: Watcher): void {
    this.waiting.delete(w);
    if (!this.watchers.delete(w)) return;
    const { key, prefix } = w.filter;
    if (key !== undefined) unindex(this.exact, key, w);
    else {
      const p = prefix ?? '';
      if (unindex(this.prefixes, p, w)) {
        const n = (this.prefixLengths.get(p.length) ?? 1) - 1;
        if (n === 0) this.prefixLengths.delete(p.length);
        else this.prefixLengths.set(p.length, n);
      }
    }
  }

  /** Progress for idle watchers; refusal of waiting ones past their deadline. Called by the hub's timer. */
  tick(nowMs: number): void {
    for (const w of this.watchers) {
      if (w.progressMs === 0 || nowMs - w.lastSentMs < w.progressMs) continue;
      w.lastSentMs = nowMs;
      w.sentThrough = this.applied;
      w.sink.push(['progress', this.applied]);
    }
    for (const w of this.waiting) {
      if (nowMs < w.deadlineMs) continue;
      this.waiting.delete(w);
      w.sink.end(new WatchFutureRevisionError(this.group, w.from, this.applied));
    }
  }

  /** Ends every watch (the replica is gone from this node, or the node stops). */
  close(error: FlotillaError): void {
    for (const w of [...this.watchers, ...this.waiting]) {
      this.remove(w);
      w.sink.end(error);
    }
  }

  private activate(w: Watcher): void {
    this.waiting.delete(w);
    w.active = true;
    this.watchers.add(w);
    const { key, prefix } = w.filter;
    if (key !== undefined) index(this.exact, key, w);
    else {
      const p = prefix ?? '';
      if (index(this.prefixes, p, w))
        this.prefixLengths.set(p.length, (this.prefixLengths.get(p.length) ?? 0) + 1);
    }
    w.sink.push(['live', w.from]);
    const replay: WatchEvent[] = [];
    for (let i = this.firstAtOrAfter(w.from); i < this.history.length; i++) {
      const e = this.history[i]!;
      if (matches(w.filter, e[1])) replay.push(e);
    }
    w.sentThrough = this.applied;
    w.lastSentMs = this.now();
    if (replay.length > 0) {
      this.eventsDelivered += replay.length;
      w.sink.push(['events', this.applied, replay]);
    }
  }

  /** The history's first position holding a revision ≥ `revision` (binary search: revisions only grow). */
  private firstAtOrAfter(revision: number): number {
    let lo = this.historyStart;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.history[mid]![0] < revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private match(key: string, hit: (w: Watcher) => void): void {
    const exact = this.exact.get(key);
    if (exact !== undefined) for (const w of exact) hit(w);
    for (const length of this.prefixLengths.keys()) {
      if (length > key.length) continue;
      const set = this.prefixes.get(length === key.length ? key : key.slice(0, length));
      if (set !== undefined) for (const w of set) hit(w);
    }
  }

  private keep(e: WatchEvent): void {
    const size = sizeOf(e[2]) + e[1].length + 24;
    this.history.push(e);
    this.historySizes.push(size);
    this.historyBytes += size;
  }

  /** Drops the oldest revisions (whole: a revision's changes go together) past the history's bounds. */
  private trim(): void {
    const { historyEvents, historyBytes } = this.limits;
    while (
      this.history.length - this.historyStart > historyEvents ||
      (this.historyBytes > historyBytes && this.history.length > this.historyStart)
    ) {
      const revision = this.history[this.historyStart]![0];
      while (this.historyStart < this.history.length && this.history[this.historyStart]![0] === revision) {
        this.historyBytes -= this.historySizes[this.historyStart]!;
        this.historyStart++;
      }
      this.historyFrom = revision;
    }
    // Compact the arrays once the dropped part is as large as the kept one (amortised O(1) per change).
    if (this.historyStart > 1024 && this.historyStart * 2 > this.history.length) {
      this.history = this.history.slice(this.historyStart);
      this.historySizes = this.historySizes.slice(this.historyStart);
      this.historyStart = 0;
    }
  }
}

function matches(filter: WatchFilter, key: string): boolean {
  if (filter.key !== undefined) return key === filter.key;
  return key.startsWith(filter.prefix ?? '');
}

/** Adds `w` under `key`; true when the key is new to the index. */
function index(map: Map<string, Set<Watcher>>, key: string, w: Watcher): boolean {
  const set = map.get(key);
  if (set !== undefined) {
    set.add(w);
    return false;
  }
  map.set(key, new Set([w]));
  return true;
}

/** Removes `w` from under `key`; true when the key left the index. */
function unindex(map: Map<string, Set<Watcher>>, key: string, w: Watcher): boolean {
  const set = map.get(key);
  if (set === undefined) return false;
  set.delete(w);
  if (set.size > 0) return false;
  map.delete(key);
  return true;
}
