/**
 * The writer of the crash tests, shared by both engines' child processes: 36 groups write under load until
 * SIGKILLed, and each write is reported to a file before it is issued (`I`) and once it resolved (`R`).
 */
import { openSync, writeSync } from 'node:fs';
import { EMPTY_CONF_STATE, seededFloats } from '@flotilla/core';
import type { StoredGroup } from './engines.ts';
import { entryData, makeEntries } from './helpers.ts';

export const GROUPS = 36;
const IN_FLIGHT_MAX = 4;

/** A write as the parent replays it on its model of the group. */
export type Op =
  | { t: 'a'; lo: number; hi: number; term: number }
  | { t: 'h'; term: number; vote: number }
  | { t: 's'; index: number; term: number }
  | { t: 'c'; index: number }
  | { t: 'i'; index: number; term: number };

export function groupName(i: number): string {
  return `crash:${i}`;
}

/** Snapshot data is derived from (group, index, term), so the parent can check it byte for byte. */
export function snapshotData(group: string, index: number, term: number): Uint8Array {
  return entryData(group, index, term, 300);
}

let reportFd = -1;

/**
 * A synchronous write to a regular file: the line is in the page cache before the write it announces is
 * issued, and survives the kill. (stdout to a pipe is asynchronous in Node: a full pipe buffers in the process.)
 * Lines are `<kind> <group> <n> [<op>]`; kinds other than `I` and `R` are the engine's own (max `n` kept).
 */
export function report(line: string): void {
  writeSync(reportFd, `${line}\n`);
}

/** What an engine's child adds to the writer of one group. */
export interface WriterPlugin {
  /** An engine's own kind of write, run on this share (0..1) of the group's turns. */
  readonly extra?: { readonly share: number; run(random: () => number): void };
  /** Runs after each write of the group resolved and was reported. */
  readonly afterWrite?: () => void;
}

/**
 * Appends (most turns), a follower's conflicting rewrites, hard states, snapshots followed by compaction,
 * and snapshots from a leader followed by appends; at most IN_FLIGHT_MAX writes of the group unresolved.
 */
async function runGroup(g: StoredGroup, random: () => number, plugin: WriterPlugin): Promise<never> {
  let seq = 0;
  let term = Math.max(g.hardState().term, g.lastIndex() > 0 ? g.term(g.lastIndex()) : 0, 1);
  const inFlight: Promise<void>[] = [];
  const issue = (op: Op, write: () => Promise<void>): void => {
    const n = seq++;
    report(`I ${g.group} ${n} ${JSON.stringify(op)}`);
    inFlight.push(
      write().then(() => {
        report(`R ${g.group} ${n}`);
        plugin.afterWrite?.();
      }),
    );
  };
  const hardState = (vote: number) =>
    issue({ t: 'h', term, vote }, () => g.setHardState({ term, vote, commit: 0 }));
  const append = (lo: number, hi: number) =>
    issue({ t: 'a', lo, hi, term }, () => g.append(makeEntries(g.group, lo, hi, term)));
  for (;;) {
    const dice = random();
    const last = g.lastIndex();
    const marker = g.firstIndex() - 1;
    if (dice < 0.08 && last > marker) {
      // A follower's conflicting suffix: rewrite the last k entries (and a few more) in a new term.
      term++;
      const k = 1 + Math.floor(random() * Math.min(40, last - marker));
      const lo = last - k + 1;
      hardState(1);
      append(lo, lo + Math.floor(random() * (k + 5)));
    } else if (dice < 0.18) {
      hardState(1 + Math.floor(random() * 3));
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
      hardState(2);
      issue({ t: 'i', index, term }, () =>
        g.installSnapshot({ meta, data: snapshotData(g.group, index, term) }),
      );
      append(index + 1, index + 3);
    } else if (plugin.extra !== undefined && dice < 0.235 + plugin.extra.share) {
      plugin.extra.run(random);
    } else {
      append(last + 1, last + 1 + Math.floor(random() * 16));
    }
    if (inFlight.length >= IN_FLIGHT_MAX) await inFlight.shift();
    else await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * The main of a child: `<data dir> <seed> <report file>` on the command line. Opens the store, prints
 * `ready`, and writes to every group, with what `plugin` adds for the group, until it is killed.
 */
export async function runWriterChild<S extends { group(group: string): StoredGroup }>(
  open: (dir: string, seed: number) => Promise<S>,
  plugin: (store: S, group: string) => WriterPlugin = () => ({}),
): Promise<void> {
  const [dir, seedText, reportPath] = process.argv.slice(2) as [string, string, string];
  reportFd = openSync(reportPath, 'w');
  const store = await open(dir, Number(seedText));
  const random = seededFloats(Number(seedText));
  process.stdout.write('ready\n');
  const runs: Promise<never>[] = [];
  for (let i = 0; i < GROUPS; i++) {
    const group = groupName(i);
    runs.push(runGroup(store.group(group), random, plugin(store, group)));
  }
  await Promise.all(runs);
}
