/**
 * Linearizability checker for a key-value store of registers (put, get, delete): splits the history per key
 * (linearizability is compositional, so each key is checked alone) and runs the Wing–Gong/Lowe search on each.
 *
 * Before the search, each key's history is reduced without changing its verdict:
 * - failed reads and indeterminate reads are dropped (no effect, nothing observed); failed writes are dropped;
 * - an indeterminate put whose value no other put of that key writes is decided by the reads: if nobody ever
 *   observed its value it is dropped (any linearization that includes it stays valid without it, since its
 *   value is overwritten before anyone looks); if someone did, it must precede every observer, so it becomes a
 *   determinate put whose return is the earliest observer's return. Other indeterminate writes stay open-ended.
 * Histories whose puts write unique values per key (what the fault test does) therefore search like
 * histories without indeterminate operations, which keeps thousands of operations fast after kill -9.
 */
import { explainViolation, type Violation } from './explain.ts';
import type { HistoryOp } from './history.ts';
import { type SearchOp, searchRegister } from './search.ts';

export type { Violation } from './explain.ts';

export interface CheckOptions {
  /** Configurations (linearized set, value) explored per key before the verdict is 'inconclusive'. */
  readonly stateBudgetPerKey?: number;
  /** Memory for explored configurations per key before the verdict is 'inconclusive'. */
  readonly cacheBytesMax?: number;
  /** Re-checks spent shrinking a violation to a small explanation. */
  readonly explainChecksMax?: number;
}

interface Totals {
  /** Keys in the history. */
  readonly keys: number;
  /** Operations the search had to place (after the reductions above). */
  readonly searched: number;
  /** Configurations explored, all keys together. */
  readonly states: number;
}

export type CheckResult =
  | ({ readonly verdict: 'linearizable' } & Totals)
  | ({ readonly verdict: 'violation'; readonly violation: Violation } & Totals)
  | ({ readonly verdict: 'inconclusive'; readonly key: string } & Totals);

export const STATE_BUDGET_PER_KEY_DEFAULT = 1_000_000;
export const CACHE_BYTES_MAX_DEFAULT = 128 * 1024 * 1024;
export const EXPLAIN_CHECKS_MAX_DEFAULT = 400;

/** Observations of each value (null included): the earliest return of an op that saw it. */
function firstObservations(ops: readonly HistoryOp[]): Map<string | null, number> {
  const seen = new Map<string | null, number>();
  for (const o of ops) {
    if (o.outcome.status !== 'ok' || o.outcome.observed === undefined) continue;
    const t = seen.get(o.outcome.observed);
    if (t === undefined || o.outcome.completeMs < t) seen.set(o.outcome.observed, o.outcome.completeMs);
  }
  return seen;
}

/** One key's operations as the search sees them (`ref` = index in `history`). */
export function prepareKey(history: readonly HistoryOp[], refs: readonly number[]): SearchOp[] {
  const ops = refs.map((r) => history[r]!);
  const writers = new Map<string, number>();
  for (const o of ops)
    if (o.call.op === 'put') writers.set(o.call.value, (writers.get(o.call.value) ?? 0) + 1);
  const observed = firstObservations(ops);
  const out: SearchOp[] = [];
  for (const ref of refs) {
    const o = history[ref]!;
    const value = o.call.op === 'put' ? o.call.value : null;
    const base = { ref, kind: o.call.op, value, invokeMs: o.invokeMs, forced: false };
    if (o.outcome.status === 'failed') continue;
    if (o.outcome.status === 'ok') {
      if (o.call.op === 'get' && o.outcome.observed === undefined)
        throw new Error(`history op ${o.id}: a completed get must record the value it read`);
      out.push({ ...base, observed: o.outcome.observed, returnMs: o.outcome.completeMs });
      continue;
    }
    if (o.call.op === 'get') continue;
    if (o.call.op === 'put' && writers.get(o.call.value) === 1) {
      const firstSeen = observed.get(o.call.value);
      if (firstSeen !== undefined)
        out.push({ ...base, forced: true, observed: undefined, returnMs: firstSeen });
      continue;
    }
    out.push({ ...base, observed: undefined, returnMs: Number.POSITIVE_INFINITY });
  }
  return out;
}

function byKey(history: readonly HistoryOp[]): Map<string, number[]> {
  const keys = new Map<string, number[]>();
  history.forEach((o, i) => {
    const list = keys.get(o.call.key);
    if (list) list.push(i);
    else keys.set(o.call.key, [i]);
  });
  return keys;
}

/** Checks `history` (every key starts absent). Keys are checked in order; the first violation stops it. */
export function checkHistory(history: readonly HistoryOp[], options: CheckOptions = {}): CheckResult {
  const limits = {
    states: options.stateBudgetPerKey ?? STATE_BUDGET_PER_KEY_DEFAULT,
    cacheBytesMax: options.cacheBytesMax ?? CACHE_BYTES_MAX_DEFAULT,
  };
  const keys = byKey(history);
  let states = 0;
  let searched = 0;
  let inconclusive: string | undefined;
  for (const [key, refs] of keys) {
    const ops = prepareKey(history, refs);
    searched += ops.length;
    const result = searchRegister(ops, limits);
    states += result.states;
    if (result.verdict === 'inconclusive') inconclusive ??= key;
    if (result.verdict !== 'violation') continue;
    const checksMax = options.explainChecksMax ?? EXPLAIN_CHECKS_MAX_DEFAULT;
    const violation = explainViolation(history, key, ops, { limits, checksMax });
    return { verdict: 'violation', violation, keys: keys.size, searched, states };
  }
  const totals = { keys: keys.size, searched, states };
  return inconclusive === undefined
    ? { verdict: 'linearizable', ...totals }
    : { verdict: 'inconclusive', key: inconclusive, ...totals };
}
