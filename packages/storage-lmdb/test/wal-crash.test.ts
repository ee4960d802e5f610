/**
 * WAL crash test: a child process writes to 36 groups under load, with small segments so that it rotates,
 * and is SIGKILLed at random moments, 22 times. After each kill the directory is reopened and every group
 * must be in the state left by a prefix of the writes the child issued that includes every write it saw
 * resolve: entries intact and contiguous, snapshots intact, no term gone back; one segment left on disk.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openWal, type WalGroupStorage } from '../src/index.ts';
import { entryData, sameBytes, tempDir } from './helpers.ts';
import { GROUPS, groupName, type Op, SEGMENT_BYTES, snapshotData } from './wal-crash-child.ts';
import { segmentFiles } from './wal-helpers.ts';

const KILLS = 22;
const READY_TIMEOUT_MS = 20_000;
const CHILD = fileURLToPath(new URL('./wal-crash-child.ts', import.meta.url));
const dir = tempDir('wal-crash');
let child: ChildProcess | undefined;

after(() => {
  const running = child?.exitCode === null && child.signalCode === null;
  if (running && child?.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  dir.remove();
});

/** What a group should hold: the replay of the writes found durable so far. */
interface Model {
  marker: number;
  markerTerm: number;
  /** terms[i] is the term of entry i, for marker < i <= last. */
  terms: number[];
  last: number;
  hardTerm: number;
  vote: number;
  snapIndex: number;
  snapTerm: number;
}

const emptyModel = (): Model => ({
  marker: 0,
  markerTerm: 0,
  terms: [],
  last: 0,
  hardTerm: 0,
  vote: 0,
  snapIndex: 0,
  snapTerm: 0,
});

const copy = (m: Model): Model => ({ ...m, terms: m.terms.slice() });

function replay(m: Model, op: Op): void {
  switch (op.t) {
    case 'a': {
      m.terms.length = Math.max(m.marker + 1, op.lo);
      for (let i = Math.max(op.lo, m.marker + 1); i <= op.hi; i++) m.terms[i] = op.term;
      m.last = Math.max(op.hi, m.marker);
      return;
    }
    case 'h':
      m.hardTerm = op.term;
      m.vote = op.vote;
      return;
    case 's':
      m.snapIndex = op.index;
      m.snapTerm = op.term;
      return;
    case 'c':
      if (op.index > m.marker) {
        m.markerTerm = m.terms[op.index] as number;
        m.marker = op.index;
      }
      return;
    case 'i':
      m.snapIndex = op.index;
      m.snapTerm = op.term;
      m.marker = op.index;
      m.markerTerm = op.term;
      m.terms.length = op.index + 1;
      m.last = op.index;
      return;
  }
}

interface Seen {
  readonly ops: Op[];
  resolved: number;
}

function parse(output: string): { seen: Map<string, Seen>; rotations: number } {
  const seen = new Map<string, Seen>();
  let rotations = 0;
  const of = (g: string): Seen => {
    const known = seen.get(g);
    if (known !== undefined) return known;
    const fresh: Seen = { ops: [], resolved: 0 };
    seen.set(g, fresh);
    return fresh;
  };
  // The last line may be cut by the kill: only complete lines count. Lines are written synchronously.
  for (const line of output.slice(0, output.lastIndexOf('\n')).split('\n')) {
    const [kind, g, n, json] = line.split(' ', 4) as [string, string, string, string];
    if (kind === 'I') {
      assert.equal(Number(n), of(g).ops.length);
      of(g).ops.push(JSON.parse(json) as Op);
    } else if (kind === 'R') {
      // Writes of one batch may report in any order; a resolved write vouches for all before it.
      of(g).resolved = Math.max(of(g).resolved, Number(n) + 1);
    } else if (kind === 'W') {
      rotations = Math.max(rotations, Number(g));
    }
  }
  return { seen, rotations };
}

/** Reads the group back, checking every entry's bytes, the contiguity of indices and the snapshot. */
function readDurable(gs: WalGroupStorage, group: string): Model {
  const marker = gs.firstIndex() - 1;
  const last = gs.lastIndex();
  const terms: number[] = [];
  terms.length = marker + 1;
  let next = marker + 1;
  while (next <= last) {
    for (const e of gs.entries(next, last + 1, 1 << 20)) {
      assert.equal(e.index, next, `${group}: indices are contiguous`);
      assert.ok(sameBytes(e.data, entryData(group, e.index, e.term)), `${group}: entry ${e.index} intact`);
      terms[e.index] = e.term;
      next++;
    }
  }
  const snap = gs.snapshot();
  if (snap.meta.index > 0) {
    const expected = snapshotData(group, snap.meta.index, snap.meta.term);
    assert.ok(sameBytes(snap.data, expected), `${group}: snapshot intact`);
  }
  const hard = gs.hardState();
  return {
    marker,
    markerTerm: gs.term(marker),
    terms,
    last,
    hardTerm: hard.term,
    vote: hard.vote,
    snapIndex: snap.meta.index,
    snapTerm: snap.meta.term,
  };
}

function sameState(a: Model, b: Model): boolean {
  const head =
    a.marker === b.marker &&
    a.markerTerm === b.markerTerm &&
    a.last === b.last &&
    a.hardTerm === b.hardTerm &&
    a.vote === b.vote &&
    a.snapIndex === b.snapIndex &&
    a.snapTerm === b.snapTerm;
  if (!head) return false;
  for (let i = a.marker + 1; i <= a.last; i++) if (a.terms[i] !== b.terms[i]) return false;
  return true;
}

/** The durable state must be the replay of the first j issued writes, for some j >= writes resolved. */
function checkGroup(gs: WalGroupStorage, group: string, model: Model, seen: Seen | undefined): Model {
  const durable = readDurable(gs, group);
  const ops = seen?.ops ?? [];
  const resolved = seen?.resolved ?? 0;
  const state = copy(model);
  let matched = -1;
  for (let j = 0; j <= ops.length && matched < 0; j++) {
    if (j >= resolved && sameState(state, durable)) matched = j;
    if (j < ops.length) replay(state, ops[j] as Op);
  }
  if (matched < 0 && process.env.CRASH_DEBUG) {
    const brief = (m: Model) => JSON.stringify({ ...m, terms: m.terms.slice(m.marker + 1).join(',') });
    process.stderr.write(`model ${brief(model)}\ndurable ${brief(durable)}\nops ${JSON.stringify(ops)}\n`);
  }
  assert.ok(matched >= 0, `${group}: durable state is no prefix of the issued writes (${resolved} resolved)`);
  return durable;
}

/** Runs the child until it is killed; returns its report file. */
function runChild(seed: number, killAfterMs: number): Promise<string> {
  const reportPath = join(dir.path, 'report.txt');
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', CHILD, join(dir.path, 'wal'), String(seed), reportPath],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    child = proc;
    let stdout = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error('child not ready in time'));
    }, READY_TIMEOUT_MS);
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (chunk: string) => {
      if (stdout.length === 0 && chunk.startsWith('ready\n')) {
        clearTimeout(timer);
        setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
      }
      stdout += chunk;
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(readFileSync(reportPath, 'utf8'));
      else reject(new Error(`child exited by itself (${signal ?? code})`));
    });
  });
}

it(`keeps every durable write across ${KILLS} SIGKILLs of a WAL writer of ${GROUPS} groups`, {
  timeout: 150_000,
}, async (t) => {
  const models = new Map<string, Model>();
  for (let i = 0; i < GROUPS; i++) models.set(groupName(i), emptyModel());
  let issued = 0;
  let rotations = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    const output = await runChild(2000 + kill, 50 + Math.floor(Math.random() * 450));
    const parsed = parse(output);
    rotations += parsed.rotations;
    const store = await openWal({ dir: join(dir.path, 'wal'), nodeId: 1, segmentBytes: SEGMENT_BYTES });
    try {
      assert.equal(segmentFiles(join(dir.path, 'wal')).length, 1, 'recovery leaves one segment');
      for (const [group, model] of models) {
        const next = checkGroup(store.group(group), group, model, parsed.seen.get(group));
        assert.ok(next.hardTerm >= model.hardTerm, `${group}: term went back from ${model.hardTerm}`);
        models.set(group, next);
        issued += parsed.seen.get(group)?.ops.length ?? 0;
      }
    } finally {
      await store.close();
    }
  }
  t.diagnostic(`${issued} writes issued, ${rotations} segment rotations`);
  assert.ok(issued > KILLS * GROUPS, `the child wrote under load (${issued} writes)`);
  assert.ok(rotations >= KILLS, `segments rotated under load (${rotations} rotations)`);
});
