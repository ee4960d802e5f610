/**
 * The parent side of the crash tests, shared by both engines: runs a writer child, SIGKILLs it at a random
 * moment, reopens its directory and checks every group against the child's report, again and again.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GROUPS, groupName, type Op, snapshotData } from './crash-writer.ts';
import type { Store, StoredGroup } from './engines.ts';
import { entryData, sameBytes, tempDir } from './helpers.ts';

/** Long enough for the child to load its TypeScript and open the store on a busy machine. */
const READY_TIMEOUT_MS = 20_000;
/** For the whole loop: 22 kills take about 30 s. */
export const CRASH_TEST_TIMEOUT_MS = 150_000;
/** How often the report is read while waiting for a child to reach its mark. */
const MARK_POLL_MS = 10;

/** What one group reported in one run of the child. */
export interface Seen {
  readonly ops: Op[];
  /** Writes 0..resolved-1 resolved. */
  resolved: number;
  /** The largest `n` of each engine-specific kind of line. */
  readonly marks: Map<string, number>;
}

export interface CrashTarget<S extends Store> {
  /** The child's entry file: it calls `runWriterChild`. */
  readonly child: string;
  readonly kills: number;
  /** Run k of the child writes from seed `seedBase + k`. */
  readonly seedBase: number;
  /** Opens the child's data directory as the child does. */
  open(dir: string): Promise<S>;
  /** Engine-specific checks after each kill, once every group matched a prefix of its writes. */
  afterKill?(store: S, seen: ReadonlyMap<string, Seen>): void;
  /**
   * Kill each child only after its report holds a line of this mark (then at a random moment): what a run must
   * have done is then reached on a slow machine too, not left to how much a fixed time allows.
   */
  readonly killAfterMark?: string;
}

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

/**
 * Runs `target.kills` children on one directory, killing each at a random moment. After each kill every group
 * must hold the state left by a prefix of the writes it issued that includes every write it saw resolve:
 * entries intact and contiguous, snapshot intact, no term gone back. Returns how many writes were issued
 * in all (every kind of write must have been, or the loop fails).
 */
export async function crashLoop<S extends Store>(target: CrashTarget<S>): Promise<number> {
  const temp = tempDir('crash');
  const dir = join(temp.path, 'data');
  const models = new Map<string, Model>();
  for (let i = 0; i < GROUPS; i++) models.set(groupName(i), emptyModel());
  const issued = new Map<Op['t'], number>();
  const running: { child?: ChildProcess } = {};
  try {
    for (let kill = 0; kill < target.kills; kill++) {
      const reportPath = join(temp.path, 'report.txt');
      const args = [dir, String(target.seedBase + kill), reportPath];
      const mark = target.killAfterMark;
      const reached =
        mark === undefined
          ? undefined
          : () =>
              existsSync(reportPath) && new RegExp(`(^|\n)${mark} `).test(readFileSync(reportPath, 'utf8'));
      if (existsSync(reportPath)) rmSync(reportPath); // the child truncates it when it starts; not before
      await runChild(target.child, args, 50 + Math.floor(Math.random() * 450), running, reached);
      const seen = parse(readFileSync(reportPath, 'utf8'));
      const store = await target.open(dir);
      try {
        for (const [group, model] of models) {
          const next = checkGroup(store.group(group), model, seen.get(group));
          assert.ok(next.hardTerm >= model.hardTerm, `${group}: term went back from ${model.hardTerm}`);
          models.set(group, next);
          for (const op of seen.get(group)?.ops ?? []) issued.set(op.t, (issued.get(op.t) ?? 0) + 1);
        }
        target.afterKill?.(store, seen);
      } finally {
        await store.close();
      }
    }
  } finally {
    const child = running.child;
    if (child?.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL');
    }
    temp.remove();
  }
  const total = [...issued.values()].reduce((sum, n) => sum + n, 0);
  assert.ok(total > target.kills * GROUPS, `the child wrote under load (${total} writes)`);
  const missing = ['a', 'h', 's', 'c', 'i'].filter((kind) => !issued.has(kind as Op['t']));
  assert.deepEqual(missing, [], 'every kind of write was issued');
  return total;
}

/** Runs the child until `killAfterMs` after it is ready (and, with `reached`, after that holds), then SIGKILLs it. */
function runChild(
  file: string,
  args: string[],
  killAfterMs: number,
  running: { child?: ChildProcess },
  reached?: () => boolean,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', file, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    running.child = proc;
    let stdout = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error('child not ready in time'));
    }, READY_TIMEOUT_MS);
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (chunk: string) => {
      if (stdout.length === 0 && chunk.startsWith('ready\n')) {
        clearTimeout(timer);
        const readyAt = performance.now();
        const poll = () => {
          if (reached === undefined || reached()) setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
          else if (performance.now() - readyAt > READY_TIMEOUT_MS) {
            proc.kill('SIGKILL');
            reject(new Error('the child never reached the mark it is killed after'));
          } else setTimeout(poll, MARK_POLL_MS);
        };
        poll();
      }
      stdout += chunk;
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`child exited by itself (${signal ?? code})`));
    });
  });
}

function parse(output: string): Map<string, Seen> {
  const seen = new Map<string, Seen>();
  const of = (g: string): Seen => {
    const known = seen.get(g);
    if (known !== undefined) return known;
    const fresh: Seen = { ops: [], resolved: 0, marks: new Map() };
    seen.set(g, fresh);
    return fresh;
  };
  // The last line may be cut by the kill: only complete lines count.
  for (const line of output.slice(0, output.lastIndexOf('\n')).split('\n')) {
    const [kind, g, n, json] = line.split(' ', 4) as [string, string, string, string];
    const group = of(g);
    if (kind === 'I') {
      assert.equal(Number(n), group.ops.length);
      group.ops.push(JSON.parse(json) as Op);
    } else if (kind === 'R') {
      // Writes of one batch may report in any order; a resolved write vouches for all before it.
      group.resolved = Math.max(group.resolved, Number(n) + 1);
    } else {
      group.marks.set(kind, Math.max(group.marks.get(kind) ?? 0, Number(n)));
    }
  }
  return seen;
}

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

/** Reads the group back, checking every entry's bytes, the contiguity of indices and the snapshot. */
function readDurable(gs: StoredGroup): Model {
  const group = gs.group;
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
  const { index: snapIndex, term: snapTerm } = snap.meta;
  const markerTerm = gs.term(marker);
  return { marker, markerTerm, terms, last, hardTerm: hard.term, vote: hard.vote, snapIndex, snapTerm };
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
function checkGroup(gs: StoredGroup, model: Model, seen: Seen | undefined): Model {
  const durable = readDurable(gs);
  const ops = seen?.ops ?? [];
  const resolved = seen?.resolved ?? 0;
  const state: Model = { ...model, terms: model.terms.slice() };
  let matched = -1;
  for (let j = 0; j <= ops.length && matched < 0; j++) {
    if (j >= resolved && sameState(state, durable)) matched = j;
    if (j < ops.length) replay(state, ops[j] as Op);
  }
  if (matched < 0 && process.env.CRASH_DEBUG) {
    const brief = (m: Model) => JSON.stringify({ ...m, terms: m.terms.slice(m.marker + 1).join(',') });
    process.stderr.write(`model ${brief(model)}\ndurable ${brief(durable)}\nops ${JSON.stringify(ops)}\n`);
  }
  assert.ok(
    matched >= 0,
    `${gs.group}: durable state is no prefix of the issued writes (${resolved} resolved)`,
  );
  return durable;
}
