/**
 * Table tests of a follower's progress as the leader tracks it: the probe / replicate / snapshot state
 * machine, acknowledgments (`maybeUpdate`) and rejections with fast-backtracking hints (`maybeDecrTo`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AssertionError } from '../src/assert.ts';
import { Progress, type ProgressState } from '../src/progress.ts';

function progress(
  state: ProgressState,
  matchIndex: number,
  nextIndex: number,
  window = { messages: 4, bytes: 0 },
): Progress {
  const pr = new Progress({
    nextIndex,
    inflightMessagesMax: window.messages,
    inflightBytesMax: window.bytes,
    isLearner: false,
  });
  pr.matchIndex = matchIndex;
  if (state === 'replicate') {
    pr.becomeReplicate();
    pr.nextIndex = nextIndex;
  } else if (state === 'snapshot') {
    pr.becomeSnapshot(nextIndex);
  }
  return pr;
}

test('a new progress probes: one append, then paused until an answer or heartbeat', () => {
  const pr = progress('probe', 0, 11);
  assert.equal(pr.state, 'probe');
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(3, 13, 30);
  assert.equal(pr.isPaused(), true);
  assert.equal(pr.nextIndex, 11, 'probe does not advance next optimistically');
  assert.equal(pr.inflights.size, 0);
});

test('replicate advances next optimistically and pauses only when the window is full', () => {
  const pr = progress('replicate', 10, 11, { messages: 2, bytes: 0 });
  pr.sentEntries(2, 12, 20);
  assert.equal(pr.nextIndex, 13);
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(0, 12, 0); // an empty append (commit only) takes no slot
  assert.equal(pr.inflights.size, 1);
  pr.sentEntries(1, 13, 10);
  assert.equal(pr.isPaused(), true);
  assert.equal(pr.nextIndex, 14);
});

test('snapshot state pauses everything, and sending entries in it is a programmer error', () => {
  const pr = progress('probe', 3, 4);
  pr.becomeSnapshot(50);
  assert.equal(pr.state, 'snapshot');
  assert.equal(pr.pendingSnapshotIndex, 50);
  assert.equal(pr.isPaused(), true);
  assert.throws(() => pr.sentEntries(1, 4, 1), AssertionError);
});

test('state transitions set next from what the follower is known to hold', () => {
  const table: {
    from: ProgressState;
    match: number;
    next: number;
    pending?: number;
    to: ProgressState;
    want: number;
  }[] = [
    { from: 'replicate', match: 5, next: 20, to: 'probe', want: 6 },
    { from: 'probe', match: 5, next: 20, to: 'replicate', want: 6 },
    // after a snapshot the follower holds at least the snapshot's index
    { from: 'snapshot', match: 5, next: 0, pending: 40, to: 'probe', want: 41 },
    { from: 'snapshot', match: 45, next: 0, pending: 40, to: 'probe', want: 46 },
  ];
  for (const row of table) {
    const pr = progress(row.from, row.match, row.pending ?? row.next);
    if (row.to === 'probe') pr.becomeProbe();
    else pr.becomeReplicate();
    assert.equal(pr.state, row.to);
    assert.equal(pr.nextIndex, row.want, JSON.stringify(row));
    assert.equal(pr.pendingSnapshotIndex, 0);
    assert.equal(pr.inflights.size, 0);
    assert.equal(pr.isPaused(), false);
  }
});

test('maybeUpdate: a newer acknowledgment moves match (and next), frees the window and unpauses', () => {
  const table: {
    match: number;
    next: number;
    ack: number;
    ok: boolean;
    wantMatch: number;
    wantNext: number;
  }[] = [
    { match: 5, next: 10, ack: 4, ok: false, wantMatch: 5, wantNext: 10 }, // stale
    { match: 5, next: 10, ack: 5, ok: false, wantMatch: 5, wantNext: 10 }, // duplicate
    { match: 5, next: 10, ack: 7, ok: true, wantMatch: 7, wantNext: 10 }, // next stays ahead
    { match: 5, next: 10, ack: 12, ok: true, wantMatch: 12, wantNext: 13 }, // next follows match
  ];
  for (const row of table) {
    const pr = progress('probe', row.match, row.next);
    pr.sentEntries(1, row.next, 1);
    const ok = pr.maybeUpdate(row.ack);
    assert.equal(ok, row.ok, JSON.stringify(row));
    assert.equal(pr.matchIndex, row.wantMatch);
    assert.equal(pr.nextIndex, row.wantNext);
    assert.equal(pr.isPaused(), !row.ok, 'an update unpauses the probe');
  }
  const pr = progress('replicate', 0, 1, { messages: 2, bytes: 0 });
  pr.sentEntries(2, 2, 2);
  pr.sentEntries(2, 4, 2);
  assert.equal(pr.isPaused(), true);
  pr.maybeUpdate(2);
  assert.equal(pr.inflights.size, 1);
  assert.equal(pr.isPaused(), false);
});

test('maybeDecrTo: rejections move next back (to the hint in probe), stale ones are ignored', () => {
  const table: {
    state: ProgressState;
    match: number;
    next: number;
    rejected: number;
    hint: number;
    ok: boolean;
    wantNext: number;
  }[] = [
    // replicate: a rejection at or below match is stale; otherwise fall back to match + 1
    { state: 'replicate', match: 5, next: 10, rejected: 5, hint: 5, ok: false, wantNext: 10 },
    { state: 'replicate', match: 5, next: 10, rejected: 4, hint: 4, ok: false, wantNext: 10 },
    { state: 'replicate', match: 5, next: 10, rejected: 9, hint: 9, ok: true, wantNext: 6 },
    // probe: only the rejection of the last probe (next - 1) counts
    { state: 'probe', match: 0, next: 10, rejected: 5, hint: 5, ok: false, wantNext: 10 },
    { state: 'probe', match: 0, next: 10, rejected: 9, hint: 9, ok: true, wantNext: 9 },
    { state: 'probe', match: 0, next: 10, rejected: 9, hint: 2, ok: true, wantNext: 3 }, // fast backtracking
    { state: 'probe', match: 0, next: 10, rejected: 9, hint: 0, ok: true, wantNext: 1 },
    { state: 'probe', match: 0, next: 10, rejected: 9, hint: 20, ok: true, wantNext: 9 }, // never forward
    { state: 'probe', match: 3, next: 10, rejected: 9, hint: 0, ok: true, wantNext: 4 }, // never below match
  ];
  for (const row of table) {
    const pr = progress(row.state, row.match, row.next);
    if (row.state === 'probe') pr.sentEntries(0, row.next - 1, 0);
    const ok = pr.maybeDecrTo(row.rejected, row.hint);
    assert.equal(ok, row.ok, JSON.stringify(row));
    assert.equal(pr.nextIndex, row.wantNext, JSON.stringify(row));
    if (row.state === 'probe') assert.equal(pr.isPaused(), !row.ok, 'a counted rejection unpauses the probe');
  }
});
