/**
 * Wing & Gong's linearizability search with Lowe's improvements, for the history of one register (one key):
 * the depth-first search that the per-key checker (checker.ts) runs once per key.
 *
 * The history is a doubly linked list of call and return events in time order. The search repeatedly takes
 * a *minimal* operation (its call comes before the first return still in the list), applies it to the
 * register model and, if the model accepts its result, lifts its call and return out of the list. Reaching a
 * return event whose operation is not linearized yet means the current prefix cannot be extended: the last
 * lifted operation is put back and the next candidate after it is tried. Lowe's cache (cache.ts) remembers
 * every (set of linearized operations, register value) already explored, so none is explored twice.
 * Indeterminate operations have no return event: they may be linearized anywhere after their call, or never
 * (the search succeeds once every determinate operation is linearized); interchangeable ones are tried once.
 */
import { assertNever } from '@flotilla/core';
import { ConfigCache } from './cache.ts';

/** One operation on one register, ready for the search. */
export interface SearchOp {
  /** Index of the operation in the caller's history (for explanations). */
  readonly ref: number;
  readonly kind: 'get' | 'put' | 'delete';
  /** The value a put writes (null for delete and get). */
  readonly value: string | null;
  /** get: the value read; put/delete: the previous value; undefined when not known. */
  readonly observed: string | null | undefined;
  readonly invokeMs: number;
  /** Infinity for an indeterminate operation. */
  readonly returnMs: number;
  /** An indeterminate put turned determinate because its value was read (returnMs = first such read). */
  readonly forced: boolean;
}

export type SearchResult =
  | { readonly verdict: 'linearizable'; readonly states: number; readonly order: readonly number[] }
  | { readonly verdict: 'violation'; readonly states: number }
  | { readonly verdict: 'inconclusive'; readonly states: number };

const NONE = -1;

/** The register model: the value after `op` from `state`, or undefined when `op`'s result is impossible. */
function step(state: string | null, op: SearchOp): { next: string | null } | undefined {
  if (op.observed !== undefined && op.observed !== state) return undefined;
  switch (op.kind) {
    case 'get':
      return { next: state };
    case 'put':
      return { next: op.value };
    case 'delete':
      return { next: null };
    default:
      return assertNever(op.kind);
  }
}

/** The event list: entry i < n is the call of op i, entry n + i its return; `head` and `tail` are sentinels. */
class EventList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  readonly head: number;
  readonly tail: number;

  constructor(private readonly ops: readonly SearchOp[]) {
    const n = ops.length;
    this.head = 2 * n;
    this.tail = 2 * n + 1;
    this.next = new Int32Array(2 * n + 2).fill(NONE);
    this.prev = new Int32Array(2 * n + 2).fill(NONE);
    const events: { t: number; entry: number; isReturn: number }[] = [];
    ops.forEach((op, i) => {
      events.push({ t: op.invokeMs, entry: i, isReturn: 0 });
      if (op.returnMs !== Number.POSITIVE_INFINITY)
        events.push({ t: op.returnMs, entry: n + i, isReturn: 1 });
    });
    // Calls before returns at equal times: touching intervals count as concurrent (the permissive choice,
    // so that clock granularity never produces a false violation).
    events.sort((a, b) => a.t - b.t || a.isReturn - b.isReturn || a.entry - b.entry);
    let last = this.head;
    for (const e of events) {
      this.next[last] = e.entry;
      this.prev[e.entry] = last;
      last = e.entry;
    }
    this.next[last] = this.tail;
    this.prev[this.tail] = last;
  }

  isCall(entry: number): boolean {
    return entry < this.ops.length;
  }

  private unlink(entry: number): void {
    this.next[this.prev[entry]!] = this.next[entry]!;
    this.prev[this.next[entry]!] = this.prev[entry]!;
  }

  private relink(entry: number): void {
    this.next[this.prev[entry]!] = entry;
    this.prev[this.next[entry]!] = entry;
  }

  /** Removes op i's call and return; `unlift` must undo lifts in reverse order (dancing links). */
  lift(i: number): void {
    this.unlink(i);
    if (this.ops[i]!.returnMs !== Number.POSITIVE_INFINITY) this.unlink(this.ops.length + i);
  }

  unlift(i: number): void {
    if (this.ops[i]!.returnMs !== Number.POSITIVE_INFINITY) this.relink(this.ops.length + i);
    this.relink(i);
  }
}

/**
 * Symmetry reduction for open-ended (indeterminate) writes: two that write the same value and are both
 * invoked by now are interchangeable from here on (neither has a return to meet), so of the candidates
 * of one scan only the first of each (kind, value) class is tried. Without this, every subset of them
 * would be a distinct configuration, and histories with many repeated values would explode.
 */
class OpenEndedClasses {
  /** Class of each op (-1 for ops with a return). */
  private readonly classOf: Int32Array;
  private readonly seen = new Set<number>();

  constructor(ops: readonly SearchOp[]) {
    const ids = new Map<string, number>();
    this.classOf = new Int32Array(ops.length).fill(-1);
    ops.forEach((op, i) => {
      if (op.returnMs !== Number.POSITIVE_INFINITY) return;
      const name = `${op.kind}\u0000${op.value ?? ''}`;
      if (!ids.has(name)) ids.set(name, ids.size);
      this.classOf[i] = ids.get(name)!;
    });
  }

  /** A new scan starts at the head of the list. */
  reset(): void {
    this.seen.clear();
  }

  /** False when an earlier candidate of this scan was an open-ended op of the same class. */
  firstOfClass(op: number): boolean {
    const c = this.classOf[op]!;
    if (c < 0) return true;
    if (this.seen.has(c)) return false;
    this.seen.add(c);
    return true;
  }

  /** After backtracking to `op`, the scan resumes behind it: recount the candidates up to it. */
  resumeAfter(list: EventList, op: number): void {
    this.seen.clear();
    for (let e = list.next[list.head]!; ; e = list.next[e]!) {
      this.firstOfClass(e);
      if (e === op) return;
    }
  }
}

export interface SearchLimits {
  /** Configurations (linearized set, value) explored before the verdict is 'inconclusive'. */
  readonly states: number;
  /** Memory the cache of explored configurations may take before the verdict is 'inconclusive'. */
  readonly cacheBytesMax: number;
}

/**
 * Searches for a linearization of `ops` (one key, initial value `initial`) within `limits`; 'inconclusive'
 * when they run out first.
 */
export function searchRegister(
  ops: readonly SearchOp[],
  limits: SearchLimits,
  initial: string | null = null,
): SearchResult {
  const list = new EventList(ops);
  const classes = new OpenEndedClasses(ops);
  const cache = new ConfigCache(ops.length);
  const statesMax = Math.min(limits.states, Math.floor(limits.cacheBytesMax / cache.entryBytes));
  const stack: { op: number; before: string | null }[] = [];
  let remaining = ops.filter((o) => o.returnMs !== Number.POSITIVE_INFINITY).length;
  let state = initial;
  let entry = list.next[list.head]!;
  while (remaining > 0) {
    if (list.isCall(entry)) {
      const op = ops[entry]!;
      const after = classes.firstOfClass(entry) ? step(state, op) : undefined;
      if (after !== undefined) {
        cache.toggle(entry);
        if (cache.add(after.next)) {
          if (cache.size > statesMax) return { verdict: 'inconclusive', states: cache.size };
          stack.push({ op: entry, before: state });
          state = after.next;
          list.lift(entry);
          if (op.returnMs !== Number.POSITIVE_INFINITY) remaining--;
          entry = list.next[list.head]!;
          classes.reset();
          continue;
        }
        cache.toggle(entry);
      }
      entry = list.next[entry]!;
      continue;
    }
    // A return (or the end) reached: the op it belongs to cannot be linearized after this prefix.
    const top = stack.pop();
    if (top === undefined) return { verdict: 'violation', states: cache.size };
    state = top.before;
    cache.toggle(top.op);
    list.unlift(top.op);
    if (ops[top.op]!.returnMs !== Number.POSITIVE_INFINITY) remaining++;
    classes.resumeAfter(list, top.op);
    entry = list.next[top.op]!;
  }
  return { verdict: 'linearizable', states: cache.size, order: stack.map((s) => ops[s.op]!.ref) };
}
