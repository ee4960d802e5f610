/**
 * `WatchFeed`, one group's watch feed, driven by hand: batches published as a replica would apply them, a fake
 * clock, and recording sinks. Matching by key and prefix, replay from the history and its bounds, replays after
 * a restart, snapshot jumps, watches from a future revision, progress, cancellation and close.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  UnknownGroupError,
  WatchCompactedError,
  type WatchEvent,
  WatchFutureRevisionError,
  type WatchItem,
} from '@flotilla/app';
import type { FlotillaError } from '@flotilla/core';
import {
  type ChangeBatch,
  type FeedLimits,
  WatchFeed,
  type WatchFilter,
  type WatchSink,
} from '../src/watch/feed.ts';

/** A sink that records what it gets; nothing may arrive after its end. */
class Recorder implements WatchSink {
  items: WatchItem[] = [];
  ended: FlotillaError | undefined;
  ends = 0;
  push(item: WatchItem): void {
    assert.equal(this.ended, undefined, 'no item after the end');
    this.items.push(item);
  }
  end(error: FlotillaError): void {
    this.ended = error;
    this.ends++;
  }
  /** The items since the last take. */
  take(): WatchItem[] {
    const items = this.items;
    this.items = [];
    return items;
  }
}

const LIMITS: FeedLimits = { historyEvents: 1000, historyBytes: 1 << 20, futureWaitMs: 500 };

function setup(limits: Partial<FeedLimits> = {}, at = 0) {
  const clock = { now: 0 };
  const delivered: [events: number, timestampMs: number][] = [];
  const feed = new WatchFeed(
    'g',
    { ...LIMITS, ...limits },
    () => clock.now,
    (events, timestampMs) => delivered.push([events, timestampMs]),
  );
  feed.position(at);
  const watch = (filter: WatchFilter, from?: number, progressMs = 0) => {
    const sink = new Recorder();
    const watcher = feed.add(filter, from, progressMs, sink);
    return { sink, watcher };
  };
  return { feed, clock, delivered, watch };
}

const ev = (revision: number, key: string, data: unknown = `v${revision}`): WatchEvent => [
  revision,
  key,
  data,
];
const batch = (through: number, events: WatchEvent[], timestampMs = 0): ChangeBatch => ({
  through,
  events,
  timestampMs,
});
/** One batch per revision from `from` to `to`, each with one change of `key(revision)`. */
function fill(feed: WatchFeed, from: number, to: number, key: (revision: number) => string): void {
  for (let r = from; r <= to; r++) feed.publish(batch(r, [ev(r, key(r))]));
}

function compacted(revision: number, oldestRevision: number) {
  return (error: unknown) => {
    assert.ok(error instanceof WatchCompactedError, String(error));
    assert.equal(error.group, 'g');
    assert.equal(error.revision, revision);
    assert.equal(error.oldestRevision, oldestRevision);
    return true;
  };
}

test('exact-key, prefix and every-key watchers get exactly their changes, a revision in one item', () => {
  const { feed, watch, delivered } = setup();
  const exact = watch({ key: 'a/1' });
  const other = watch({ key: 'b' });
  const prefix = watch({ prefix: 'a/' });
  const whole = watch({ prefix: 'a/1' }); // a prefix as long as the key
  const longer = watch({ prefix: 'a/1x' }); // longer than every key published
  const empty = watch({ prefix: '' });
  const none = watch({});
  assert.equal(feed.size, 7);

  feed.publish(batch(1, [ev(1, 'a/1'), ev(1, 'a/2'), ev(1, 'b')], 1234));
  feed.publish(batch(3, [ev(2, 'a/1'), ev(3, 'c')], 5678)); // two revisions in one batch
  feed.publish(batch(4, [ev(4, 'a')]));
  feed.publish(batch(5, [])); // a revision without changes

  assert.deepEqual(exact.sink.take(), [
    ['live', 1],
    ['events', 1, [ev(1, 'a/1')]],
    ['events', 3, [ev(2, 'a/1')]],
  ]);
  assert.deepEqual(other.sink.take(), [
    ['live', 1],
    ['events', 1, [ev(1, 'b')]],
  ]);
  assert.deepEqual(prefix.sink.take(), [
    ['live', 1],
    ['events', 1, [ev(1, 'a/1'), ev(1, 'a/2')]],
    ['events', 3, [ev(2, 'a/1')]],
  ]);
  assert.deepEqual(whole.sink.take(), [
    ['live', 1],
    ['events', 1, [ev(1, 'a/1')]],
    ['events', 3, [ev(2, 'a/1')]],
  ]);
  assert.deepEqual(longer.sink.take(), [['live', 1]]);
  const everything: WatchItem[] = [
    ['live', 1],
    ['events', 1, [ev(1, 'a/1'), ev(1, 'a/2'), ev(1, 'b')]],
    ['events', 3, [ev(2, 'a/1'), ev(3, 'c')]],
    ['events', 4, [ev(4, 'a')]],
  ];
  assert.deepEqual(empty.sink.take(), everything);
  assert.deepEqual(none.sink.take(), everything);

  assert.equal(feed.applied, 5);
  assert.equal(feed.eventsPublished, 6);
  assert.equal(feed.eventsDelivered, 2 + 1 + 3 + 2 + 6 + 6);
  assert.deepEqual(delivered, [
    [1 + 1 + 2 + 1 + 3 + 3, 1234],
    [1 + 1 + 1 + 2 + 2, 5678],
    [2, 0],
  ]);
  assert.equal(exact.watcher.sentThrough, 3, 'the batch without a match moves nothing');
});

test('a watch from a past revision replays the history, then goes on live; from now starts after applied', () => {
  const { feed, watch } = setup();
  feed.publish(batch(1, [ev(1, 'k'), ev(1, 'p1')]));
  feed.publish(batch(2, [ev(2, 'k')]));
  feed.publish(batch(3, [ev(3, 'p2'), ev(3, 'q')]));
  feed.publish(batch(4, [ev(4, 'k'), ev(4, 'p1')]));
  feed.publish(batch(5, [ev(5, 'q')]));

  const key = watch({ key: 'k' }, 2);
  const prefix = watch({ prefix: 'p' }, 3);
  const all = watch({}, 1);
  const none = watch({ key: 'k' }, 5); // nothing matched since
  const now = watch({ prefix: 'p' });
  const next = watch({ prefix: '' }, 6);
  assert.deepEqual(key.sink.take(), [
    ['live', 2],
    ['events', 5, [ev(2, 'k'), ev(4, 'k')]],
  ]);
  assert.deepEqual(prefix.sink.take(), [
    ['live', 3],
    ['events', 5, [ev(3, 'p2'), ev(4, 'p1')]],
  ]);
  assert.deepEqual(all.sink.take(), [
    ['live', 1],
    [
      'events',
      5,
      [ev(1, 'k'), ev(1, 'p1'), ev(2, 'k'), ev(3, 'p2'), ev(3, 'q'), ev(4, 'k'), ev(4, 'p1'), ev(5, 'q')],
    ],
  ]);
  assert.deepEqual(none.sink.take(), [['live', 5]]);
  assert.deepEqual(now.sink.take(), [['live', 6]]);
  assert.deepEqual(next.sink.take(), [['live', 6]]);
  assert.equal(key.watcher.sentThrough, 5);
  assert.equal(none.watcher.sentThrough, 5);

  feed.publish(batch(6, [ev(6, 'k'), ev(6, 'p3')]));
  assert.deepEqual(key.sink.take(), [['events', 6, [ev(6, 'k')]]]);
  assert.deepEqual(prefix.sink.take(), [['events', 6, [ev(6, 'p3')]]]);
  assert.deepEqual(all.sink.take(), [['events', 6, [ev(6, 'k'), ev(6, 'p3')]]]);
  assert.deepEqual(none.sink.take(), [['events', 6, [ev(6, 'k')]]]);
  assert.deepEqual(now.sink.take(), [['events', 6, [ev(6, 'p3')]]]);
  assert.deepEqual(next.sink.take(), [['events', 6, [ev(6, 'k'), ev(6, 'p3')]]]);
});

test('the history is trimmed by changes, whole revisions at a time; older watches are refused', () => {
  const { feed, watch } = setup({ historyEvents: 3 });
  feed.publish(batch(1, [ev(1, 'a'), ev(1, 'b')]));
  feed.publish(batch(2, [ev(2, 'a'), ev(2, 'b')]));
  // 4 changes kept > 3: revision 1 goes, both its changes (not just one, which would have left 3).
  assert.equal(feed.historyFrom, 1);
  assert.throws(() => watch({}, 1), compacted(1, 2));
  assert.deepEqual(watch({}, 2).sink.take(), [
    ['live', 2],
    ['events', 2, [ev(2, 'a'), ev(2, 'b')]],
  ]);
  feed.publish(batch(3, [ev(3, 'a')]));
  assert.equal(feed.historyFrom, 1, '3 changes fit');
  feed.publish(batch(5, [ev(5, 'a')])); // revision 4 had no changes
  assert.equal(feed.historyFrom, 2);
  assert.throws(() => watch({ key: 'a' }, 2), compacted(2, 3));
  assert.throws(() => watch({ key: 'a' }, 0), compacted(0, 3));
  assert.deepEqual(watch({ key: 'a' }, 3).sink.take(), [
    ['live', 3],
    ['events', 5, [ev(3, 'a'), ev(5, 'a')]],
  ]);
  assert.deepEqual(watch({ key: 'a' }, 4).sink.take(), [
    ['live', 4],
    ['events', 5, [ev(5, 'a')]],
  ]);

  // A revision with more changes than the history holds: nothing of it is kept, watches start after it.
  feed.publish(batch(6, [ev(6, 'a'), ev(6, 'b'), ev(6, 'c'), ev(6, 'd')]));
  assert.equal(feed.historyFrom, 6);
  assert.throws(() => watch({}, 6), compacted(6, 7));
  assert.deepEqual(watch({}).sink.take(), [['live', 7]]);
});

test('the history is trimmed by bytes, whole revisions at a time', () => {
  const big = 'x'.repeat(1000); // ~1 KB a change
  const { feed, watch } = setup({ historyBytes: 3500 });
  feed.publish(batch(1, [ev(1, 'a', big), ev(1, 'b', big)]));
  feed.publish(batch(2, [ev(2, 'a', big)]));
  assert.equal(feed.historyFrom, 0, '~3 KB fit');
  feed.publish(batch(3, [ev(3, 'b', big)]));
  // ~4 KB: revision 1 goes whole (dropping one of its changes would have been enough).
  assert.equal(feed.historyFrom, 1);
  feed.publish(batch(4, [ev(4, 'a', 'small')]));
  assert.equal(feed.historyFrom, 1);
  assert.throws(() => watch({}, 1), compacted(1, 2));
  assert.deepEqual(watch({}, 2).sink.take(), [
    ['live', 2],
    ['events', 4, [ev(2, 'a', big), ev(3, 'b', big), ev(4, 'a', 'small')]],
  ]);
  // One change larger than the bound: it is delivered, not kept.
  const live = watch({ key: 'c' });
  feed.publish(batch(5, [ev(5, 'c', 'y'.repeat(5000))]));
  assert.deepEqual(live.sink.take(), [
    ['live', 5],
    ['events', 5, [ev(5, 'c', 'y'.repeat(5000))]],
  ]);
  assert.equal(feed.historyFrom, 5);
  assert.throws(() => watch({}, 5), compacted(5, 6));
});

test('a long history stays right across the compaction of its arrays', () => {
  const { feed, watch } = setup({ historyEvents: 100 });
  fill(feed, 1, 5000, (r) => `k${r % 7}`);
  assert.equal(feed.historyFrom, 4900);
  assert.throws(() => watch({}, 4900), compacted(4900, 4901));
  const items = watch({ key: 'k3' }, 4901).sink.take();
  const expected: WatchEvent[] = [];
  for (let r = 4901; r <= 5000; r++) if (r % 7 === 3) expected.push(ev(r, 'k3'));
  assert.deepEqual(items, [
    ['live', 4901],
    ['events', 5000, expected],
  ]);
});

test('a replay of applied revisions (a replica restarting from its storage) is not delivered twice', () => {
  const { feed, watch } = setup();
  const all = watch({});
  fill(feed, 1, 3, () => 'k');
  assert.equal(all.sink.take().length, 4);
  feed.position(0); // the restarted replica starts from its snapshot or from scratch
  feed.position(2);
  assert.equal(feed.applied, 3);
  feed.publish(batch(1, [ev(1, 'k')]));
  feed.publish(batch(2, [ev(2, 'k'), ev(2, 'j')]));
  feed.publish(batch(3, [ev(3, 'k')]));
  assert.deepEqual(all.sink.take(), []);
  feed.publish(batch(5, [ev(3, 'k'), ev(4, 'k'), ev(5, 'j')])); // straddles what was applied
  assert.deepEqual(all.sink.take(), [['events', 5, [ev(4, 'k'), ev(5, 'j')]]]);
  assert.equal(feed.eventsPublished, 5);
  assert.deepEqual(watch({}, 1).sink.take(), [
    ['live', 1],
    ['events', 5, [ev(1, 'k'), ev(2, 'k'), ev(3, 'k'), ev(4, 'k'), ev(5, 'j')]],
  ]);
});

test('a first publish without a position positions the feed just before it', () => {
  const clock = { now: 0 };
  const feed = new WatchFeed('g', LIMITS, () => clock.now);
  feed.publish(batch(12, [ev(11, 'a'), ev(12, 'b')]));
  assert.equal(feed.applied, 12);
  assert.equal(feed.historyFrom, 10);
  assert.throws(() => feed.add({}, 10, 0, new Recorder()), compacted(10, 11));
  const sink = new Recorder();
  feed.add({}, 11, 0, sink);
  assert.deepEqual(sink.take(), [
    ['live', 11],
    ['events', 12, [ev(11, 'a'), ev(12, 'b')]],
  ]);
});

test('a snapshot jump ends the watchers that missed changes and restarts the history', () => {
  const { feed, watch } = setup({ futureWaitMs: 500 });
  fill(feed, 1, 3, () => 'k');
  const active = watch({ key: 'k' }, 2);
  const other = watch({ prefix: 'k' });
  const behind = watch({}, 6); // waits, and the jump passes it
  const reached = watch({}, 11); // waits, and the jump lands just before it
  const ahead = watch({}, 13); // waits on
  assert.equal(active.sink.take().length, 2);
  assert.deepEqual(behind.sink.take(), []);

  feed.position(3); // at applied: nothing changes
  feed.position(1); // behind: nothing changes
  assert.equal(feed.applied, 3);
  assert.equal(feed.size, 5);
  assert.equal(active.sink.ended, undefined);

  feed.position(10);
  assert.equal(feed.applied, 10);
  assert.equal(feed.historyFrom, 10);
  compacted(4, 11)(active.sink.ended);
  compacted(4, 11)(other.sink.ended);
  compacted(6, 11)(behind.sink.ended);
  assert.deepEqual(reached.sink.take(), [['live', 11]], 'a watch from applied + 1 is live, as if opened now');
  assert.equal(reached.sink.ended, undefined);
  assert.equal(ahead.sink.ended, undefined);
  assert.equal(feed.size, 2);
  assert.throws(() => watch({}, 5), compacted(5, 11));
  assert.throws(() => watch({}, 10), compacted(10, 11));

  // The replay of the jumped-over revisions is skipped; what follows goes on.
  feed.publish(batch(10, [ev(10, 'k')]));
  feed.publish(batch(11, [ev(11, 'k')]));
  assert.deepEqual(reached.sink.take(), [['events', 11, [ev(11, 'k')]]]);
  assert.deepEqual(ahead.sink.take(), []);
  feed.publish(batch(13, [ev(12, 'k'), ev(13, 'j')]));
  assert.deepEqual(reached.sink.take(), [['events', 13, [ev(12, 'k'), ev(13, 'j')]]]);
  assert.deepEqual(ahead.sink.take(), [
    ['live', 13],
    ['events', 13, [ev(13, 'j')]],
  ]);
  // Ended watchers were unindexed: nothing more reaches them (their sinks would throw).
  feed.publish(batch(14, [ev(14, 'k')]));
  assert.equal(active.sink.ends + other.sink.ends + behind.sink.ends, 3);

  // Past the wait for a future revision: tick refuses no watcher that went live.
  feed.tick(10_000);
  assert.equal(reached.sink.ended, undefined);
  assert.equal(ahead.sink.ended, undefined);
});

test('a watch from a future revision waits, goes live when the feed reaches it, or is refused at its deadline', () => {
  const { feed, clock, watch } = setup({ futureWaitMs: 500 });
  fill(feed, 1, 2, () => 'k');
  const waits = watch({ key: 'k' }, 5);
  const batched = watch({ key: 'k' }, 5);
  feed.remove(batched.watcher); // cancelled while waiting: never goes live
  const refused = watch({}, 50);
  assert.equal(feed.size, 2);
  feed.publish(batch(3, [ev(3, 'k')]));
  assert.deepEqual(waits.sink.take(), []);
  feed.tick(499);
  assert.equal(refused.sink.ended, undefined);
  feed.publish(batch(4, [ev(4, 'k')]));
  assert.deepEqual(waits.sink.take(), [['live', 5]], 'live once applied + 1 reaches it, nothing before');
  feed.publish(batch(5, [ev(5, 'k'), ev(5, 'j')]));
  assert.deepEqual(waits.sink.take(), [['events', 5, [ev(5, 'k')]]]);
  feed.tick(500);
  const ended: unknown = refused.sink.ended; // (read again: the tick above changed it)
  assert.ok(ended instanceof WatchFutureRevisionError);
  assert.equal(ended.revision, 50);
  assert.equal(ended.appliedIndex, 5);
  assert.equal(feed.size, 1);
  assert.deepEqual(batched.sink.take(), []);
  fill(feed, 6, 60, () => 'k'); // the refused one is forgotten: its sink would throw
  feed.tick(10_000);
  assert.equal(refused.sink.ends, 1);

  // Reached inside a batch that spans it: live, then the changes from its revision on.
  clock.now = 20_000;
  const spanned = watch({}, 62);
  feed.publish(batch(63, [ev(61, 'a'), ev(62, 'b'), ev(63, 'c')]));
  assert.deepEqual(spanned.sink.take(), [
    ['live', 62],
    ['events', 63, [ev(62, 'b'), ev(63, 'c')]],
  ]);
});

test('a waiting watch reached by a batch larger than the history still gets that batch', () => {
  const { feed, watch } = setup({ historyEvents: 2 });
  fill(feed, 1, 2, () => 'k');
  const waiting = watch({}, 4);
  feed.publish(batch(5, [ev(3, 'a'), ev(4, 'b'), ev(4, 'c'), ev(5, 'd'), ev(5, 'e')]));
  assert.equal(feed.historyFrom, 4, 'revisions 1 to 4 were dropped at once');
  assert.deepEqual(waiting.sink.take(), [
    ['live', 4],
    ['events', 5, [ev(4, 'b'), ev(4, 'c'), ev(5, 'd'), ev(5, 'e')]],
  ]);
});

test('tick sends progress to watchers idle for their progress interval, never with an interval of 0', () => {
  const { feed, clock, watch } = setup();
  fill(feed, 1, 2, () => 'k');
  const idle = watch({ key: 'idle' }, undefined, 100);
  const busy = watch({ key: 'k' }, undefined, 100);
  const silent = watch({ key: 'idle' }, undefined, 0);
  for (const w of [idle, busy, silent]) assert.deepEqual(w.sink.take(), [['live', 3]]);
  clock.now = 50;
  feed.publish(batch(3, [ev(3, 'k')]));
  assert.deepEqual(busy.sink.take(), [['events', 3, [ev(3, 'k')]]]);
  feed.tick(99);
  assert.deepEqual(idle.sink.take(), []);
  feed.tick(100);
  assert.deepEqual(idle.sink.take(), [['progress', 3]]);
  assert.equal(idle.watcher.sentThrough, 3);
  assert.deepEqual(busy.sink.take(), [], 'it sent events 50 ms ago');
  feed.publish(batch(4, []));
  feed.tick(150);
  assert.deepEqual(busy.sink.take(), [['progress', 4]]);
  assert.deepEqual(idle.sink.take(), [], 'its progress was 50 ms ago');
  feed.tick(200);
  assert.deepEqual(idle.sink.take(), [['progress', 4]]);
  assert.deepEqual(busy.sink.take(), []);
  feed.tick(1_000_000);
  assert.deepEqual(silent.sink.take(), []);
});

test('remove unindexes one watcher; the others of its key or prefix go on; prefix lengths are counted', () => {
  const { feed, watch } = setup();
  const lengths = () => (feed as unknown as { prefixLengths: Map<number, number> }).prefixLengths;
  const k1 = watch({ key: 'k' });
  const k2 = watch({ key: 'k' });
  const ab1 = watch({ prefix: 'ab' });
  const ab2 = watch({ prefix: 'ab' });
  const cd = watch({ prefix: 'cd' });
  const all = watch({});
  for (const w of [k1, k2, ab1, ab2, cd, all]) w.sink.take();
  assert.deepEqual(
    [...lengths()],
    [
      [2, 2],
      [0, 1],
    ],
  );

  k1.watcher.cancel();
  ab1.watcher.cancel();
  ab1.watcher.cancel(); // twice: no effect
  assert.equal(feed.size, 4);
  assert.deepEqual(
    [...lengths()],
    [
      [2, 2],
      [0, 1],
    ],
  );
  feed.publish(batch(1, [ev(1, 'k'), ev(1, 'ab1'), ev(1, 'cd1')]));
  assert.deepEqual(k1.sink.take(), []);
  assert.deepEqual(ab1.sink.take(), []);
  assert.deepEqual(k2.sink.take(), [['events', 1, [ev(1, 'k')]]]);
  assert.deepEqual(ab2.sink.take(), [['events', 1, [ev(1, 'ab1')]]]);
  assert.deepEqual(cd.sink.take(), [['events', 1, [ev(1, 'cd1')]]]);

  ab2.watcher.cancel(); // 'ab' leaves the index; 'cd' keeps length 2
  assert.deepEqual(
    [...lengths()],
    [
      [2, 1],
      [0, 1],
    ],
  );
  feed.publish(batch(2, [ev(2, 'ab2'), ev(2, 'cd2')]));
  assert.deepEqual(cd.sink.take(), [['events', 2, [ev(2, 'cd2')]]]);
  assert.deepEqual(all.sink.take(), [
    ['events', 1, [ev(1, 'k'), ev(1, 'ab1'), ev(1, 'cd1')]],
    ['events', 2, [ev(2, 'ab2'), ev(2, 'cd2')]],
  ]);
  assert.deepEqual(ab2.sink.take(), []);
  cd.watcher.cancel(); // the last prefix of length 2
  all.watcher.cancel(); // and the last of length 0
  k2.watcher.cancel();
  assert.equal(lengths().size, 0);
  assert.equal(feed.size, 0);
  feed.publish(batch(3, [ev(3, 'k'), ev(3, 'ab3'), ev(3, 'cd3')]));
  for (const w of [k1, k2, ab1, ab2, cd, all]) assert.deepEqual(w.sink.take(), []);

  const again = watch({ prefix: 'ab' });
  assert.deepEqual([...lengths()], [[2, 1]]);
  feed.publish(batch(4, [ev(4, 'ab4'), ev(4, 'cd4')]));
  assert.deepEqual(again.sink.take(), [
    ['live', 4],
    ['events', 4, [ev(4, 'ab4')]],
  ]);
  assert.equal(feed.eventsPublished, 3 + 2 + 3 + 2);
});

test('close ends every watcher, live or waiting, with its error', () => {
  const { feed, watch } = setup();
  fill(feed, 1, 2, () => 'k');
  const live = watch({ key: 'k' }, undefined, 10);
  const prefix = watch({ prefix: '' });
  const waiting = watch({}, 10);
  const error = new UnknownGroupError('g');
  feed.close(error);
  for (const w of [live, prefix, waiting]) {
    assert.equal(w.sink.ended, error);
    assert.equal(w.sink.ends, 1);
  }
  assert.equal(feed.size, 0);
  fill(feed, 3, 12, () => 'k'); // nothing reaches them (their sinks would throw)
  feed.tick(1_000_000);
  for (const w of [live, prefix, waiting]) assert.equal(w.sink.ends, 1);
});
