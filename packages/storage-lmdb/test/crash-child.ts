/**
 * Child process of the crash test: writes to 36 groups under load (appends, conflicting rewrites, hard
 * states, snapshots + compaction, state-machine applies) until it is SIGKILLed. Into a report file it writes each
 * write before issuing it (`I`), each write whose promise resolved (`R`) and each durable applied index (`S`).
 */
import { openSync, writeSync } from 'node:fs';
import { type Command, EMPTY_CONF_STATE, seededFloats } from '@flotilla/core';
import { type GroupStorage, type KvStateMachine, type KvView, openStorage } from '../src/index.ts';
import { entryData, makeEntries } from './helpers.ts';

export const GROUPS = 36;
export const DELETE_CHUNK_ENTRIES = 8;
const IN_FLIGHT_MAX = 4;

/** A write as the parent replays it on its model of the group. */
export type Op =
  | { t: 'a'; lo: number; hi: number; term: number }
  | { t: 'h'; term: number; vote: number }
  | { t: 's'; index: number; term: number }
  | { t: 'c'; index: number };

export function groupName(i: number): string {
  return `crash:${i}`;
}

/** The state-machine transition used by child and parent: count commands, remember the last per bucket. */
export function applyCounter(command: Command, kv: KvView): number {
  const count = readUint(kv.get('count')) + 1;
  kv.put('count', writeUint(count));
  kv.put(`k${command.index % 7}`, writeUint(command.index));
  return count;
}

export function readUint(bytes: Uint8Array | undefined): number {
  return bytes === undefined ? 0 : Buffer.from(bytes).readUInt32BE(0);
}

function writeUint(value: number): Uint8Array {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

let reportFd = 1;

/**
 * A synchronous write to a regular file: the line is in the page cache before the write it announces is
 * issued, and survives the kill. (stdout to a pipe is asynchronous in Node: a full pipe buffers in the process.)
 */
function report(line: string): void {
  writeSync(reportFd, `${line}\n`);
}

async function runGroup(g: GroupStorage, sm: KvStateMachine<number>, random: () => number): Promise<never> {
  let seq = 0;
  let term = Math.max(g.hardState().term, g.lastIndex() > 0 ? g.term(g.lastIndex()) : 0, 1);
  const inFlight: Promise<void>[] = [];
  const issue = (op: Op, write: () => Promise<void>): void => {
    const n = seq++;
    report(`I ${g.group} ${n} ${JSON.stringify(op)}`);
    inFlight.push(write().then(() => report(`R ${g.group} ${n}`)));
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
    } else if (dice < 0.22 && last > marker) {
      // A crash between a snapshot and its compaction leaves the snapshot ahead of the marker.
      const index = Math.max(g.snapshotMeta().index, marker + Math.ceil((last - marker) / 2));
      const at = g.term(index);
      const meta = { index, term: at, confState: EMPTY_CONF_STATE };
      issue({ t: 's', index, term: at }, () => g.saveSnapshot(meta, entryData(g.group, index, at, 300)));
      issue({ t: 'c', index }, () => g.compact(index));
    } else if (dice < 0.3) {
      const from = sm.appliedIndex + 1;
      const commands = Array.from({ length: 1 + Math.floor(random() * 5) }, (_, i) => ({
        index: from + i,
        term: 1,
        data: new Uint8Array(0),
      }));
      sm.apply(commands);
      const applied = sm.appliedIndex;
      sm.flushed().then(() => report(`S ${g.group} ${applied}`));
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
  const [path, seedText, reportPath] = process.argv.slice(2) as [string, string, string];
  reportFd = openSync(reportPath, 'w');
  const storage = await openStorage({ path, nodeId: 1, deleteChunkEntries: DELETE_CHUNK_ENTRIES });
  const random = seededFloats(Number(seedText));
  const runs: Promise<never>[] = [];
  process.stdout.write('ready\n');
  for (let i = 0; i < GROUPS; i++) {
    const g = storage.group(groupName(i));
    runs.push(runGroup(g, storage.kvStateMachine(groupName(i), applyCounter), random));
  }
  await Promise.all(runs);
}

if (process.argv[1]?.endsWith('crash-child.ts')) {
  await main();
}
