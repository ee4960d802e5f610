/**
 * Child process of the WAL crash test: writes to 36 groups under load (appends, conflicting rewrites, hard
 * states, snapshots + compaction, snapshot installs) with small segments, until it is SIGKILLed. Into a report
 * file it writes each write before issuing it (`I`), each write whose promise resolved (`R`), and rotations (`W`).
 */
import { openSync, writeSync } from 'node:fs';
import { EMPTY_CONF_STATE, seededFloats } from '@flotilla/core';
import { openWal, type WalGroupStorage, type WalStore } from '../src/index.ts';
import { entryData, makeEntries } from './helpers.ts';

export const GROUPS = 36;
/** Small enough that a run of a few hundred milliseconds rotates several times. */
export const SEGMENT_BYTES = 128 * 1024;
const IN_FLIGHT_MAX = 4;

/** A write as the parent replays it on its model of the group. */
export type Op =
  | { t: 'a'; lo: number; hi: number; term: number }
  | { t: 'h'; term: number; vote: number }
  | { t: 's'; index: number; term: number }
  | { t: 'c'; index: number }
  | { t: 'i'; index: number; term: number };

export function groupName(i: number): string {
  return `wal-crash:${i}`;
}

/** Snapshot data is derived from (group, index, term), so the parent can check it byte for byte. */
export function snapshotData(group: string, index: number, term: number): Uint8Array {
  return entryData(group, index, term, 300);
}

let reportFd = 1;

/**
 * A synchronous write to a regular file: the line is in the page cache before the write it announces is
 * issued, and survives the kill. (stdout to a pipe is asynchronous in Node: a full pipe buffers in the process.)
 */
function report(line: string): void {
  writeSync(reportFd, `${line}\n`);
}

async function runGroup(store: WalStore, g: WalGroupStorage, random: () => number): Promise<never> {
  let seq = 0;
  let term = Math.max(g.hardState().term, g.lastIndex() > 0 ? g.term(g.lastIndex()) : 0, 1);
  let rotations = store.stats().rotations;
  const inFlight: Promise<void>[] = [];
  const issue = (op: Op, write: () => Promise<void>): void => {
    const n = seq++;
    report(`I ${g.group} ${n} ${JSON.stringify(op)}`);
    inFlight.push(
      write().then(() => {
        report(`R ${g.group} ${n}`);
        if (store.stats().rotations === rotations) return;
        rotations = store.stats().rotations;
        report(`W ${rotations}`);
      }),
    );
  };
  for (;;) {
    const dice = random();
    const last = g.lastIndex();
    const marker = g.firstIndex() - 1;
    if (dice < 0.08 && last > marker) {
      // A follower's conflicting suffix: rewrite the last k entries (and a few more) in a new term.
      term++;
      const k = 1 + Math.floor(random() * Math.min(40, last - marker));
      const lo = last - k + 1;
      const hi = lo + Math.floor(random() * (k + 5));
      issue({ t: 'h', term, vote: 1 }, () => g.setHardState({ term, vote: 1, commit: 0 }));
      issue({ t: 'a', lo, hi, term }, () => g.append(makeEntries(g.group, lo, hi, term)));
    } else if (dice < 0.18) {
      const vote = 1 + Math.floor(random() * 3);
      issue({ t: 'h', term, vote }, () => g.setHardState({ term, vote, commit: 0 }));
    } else if (dice < 0.22 && last > marker && g.snapshotMeta().index <= last) {
      // A crash between a snapshot and its compaction leaves the snapshot ahead of the marker.
      const index = Math.max(g.snapshotMeta().index, marker + Math.ceil((last - marker) / 2));
      const at = g.term(index);
      const meta = { index, term: at, confState: EMPTY_CONF_STATE };
      issue({ t: 's', index, term: at }, () => g.saveSnapshot(meta, snapshotData(g.group, index, at)));
      issue({ t: 'c', index }, () => g.compact(index));
    } else if (dice < 0.235) {
      // A snapshot from a leader replaces the log, possibly past its end; appends follow it at once.
      term++;
      const index = Math.max(g.snapshotMeta().index, last - 10, 1) + Math.floor(random() * 20);
      const meta = { index, term, confState: EMPTY_CONF_STATE };
      issue({ t: 'h', term, vote: 2 }, () => g.setHardState({ term, vote: 2, commit: 0 }));
      issue({ t: 'i', index, term }, () =>
        g.installSnapshot({ meta, data: snapshotData(g.group, index, term) }),
      );
      issue({ t: 'a', lo: index + 1, hi: index + 3, term }, () =>
        g.append(makeEntries(g.group, index + 1, index + 3, term)),
      );
    } else {
      const count = 1 + Math.floor(random() * 16);
      issue({ t: 'a', lo: last + 1, hi: last + count, term }, () =>
        g.append(makeEntries(g.group, last + 1, last + count, term)),
      );
    }
    if (inFlight.length >= IN_FLIGHT_MAX) await inFlight.shift();
    else await new Promise((resolve) => setImmediate(resolve));
  }
}

async function main(): Promise<void> {
  const [dir, seedText, reportPath] = process.argv.slice(2) as [string, string, string];
  reportFd = openSync(reportPath, 'w');
  // Both ways of making a batch durable, on alternate runs.
  const syncMethod = Number(seedText) % 2 === 0 ? 'fdatasync' : 'dsync';
  const store = await openWal({ dir, nodeId: 1, segmentBytes: SEGMENT_BYTES, syncMethod });
  const random = seededFloats(Number(seedText));
  process.stdout.write('ready\n');
  const runs: Promise<never>[] = [];
  for (let i = 0; i < GROUPS; i++) runs.push(runGroup(store, store.group(groupName(i)), random));
  await Promise.all(runs);
}

if (process.argv[1]?.endsWith('wal-crash-child.ts')) {
  await main();
}
