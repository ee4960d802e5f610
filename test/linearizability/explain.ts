/**
 * Turns a non-linearizable key history into a short explanation: shrinks it to a small sub-history that is
 * still not linearizable, then prints those operations with their times, so a failing test says why.
 *
 * Shrinking removes chunks of operations (halves, quarters, … single operations, as in delta debugging) and
 * keeps a removal when the rest still has no linearization. Every step keeps "the rest has no linearization
 * ⇒ the whole has none", using only two moves that can never turn a linearizable history into one without:
 * - forgetting an observation (a put's or delete's previous value): fewer constraints;
 * - removing an operation whose written value nothing left observes: in a linearization of the whole, that
 *   value was overwritten before anyone looked, so dropping the write leaves a linearization of the rest.
 * So removing a write v also removes the gets that read v and forgets the previous value of writes that
 * overwrote v. A forced put (an indeterminate put whose deadline is its first reader's return) is removed
 * together with all its readers, whose removal alone would make its deadline unjustified.
 */
import type { HistoryOp } from './history.ts';
import { type SearchLimits, type SearchOp, searchRegister } from './search.ts';

export interface Violation {
  readonly key: string;
  /** A small sub-history of this key with no linearization, in invocation order. */
  readonly ops: readonly HistoryOp[];
  /** The key's operations in the full history (before shrinking). */
  readonly keyOps: number;
  /** Human-readable: one line per operation, times relative to the history's first invocation. */
  readonly text: string;
}

interface ShrinkBudget {
  readonly limits: SearchLimits;
  readonly checksMax: number;
}

/** The value an operation writes (undefined for a get). */
function written(op: SearchOp): string | null | undefined {
  return op.kind === 'get' ? undefined : op.value;
}

function index(ops: readonly SearchOp[]) {
  const observers = new Map<string | null, SearchOp[]>();
  const forced = new Map<string | null, SearchOp>();
  for (const o of ops) {
    if (o.forced) forced.set(o.value, o);
    if (o.observed === undefined) continue;
    const list = observers.get(o.observed);
    if (list) list.push(o);
    else observers.set(o.observed, [o]);
  }
  return { observers, forced };
}

/** `ops` without `chunk` and what must go with it (see the module comment), or undefined if nothing is left. */
function without(ops: readonly SearchOp[], chunk: readonly SearchOp[]): SearchOp[] | undefined {
  const { observers, forced } = index(ops);
  const removed = new Set<SearchOp>();
  const forget = new Set<SearchOp>();
  const todo: SearchOp[] = [];
  const remove = (o: SearchOp) => {
    if (removed.has(o)) return;
    removed.add(o);
    todo.push(o);
  };
  chunk.forEach(remove);
  for (let o = todo.pop(); o !== undefined; o = todo.pop()) {
    const writer = o.observed === undefined ? undefined : forced.get(o.observed);
    if (writer) remove(writer);
    const w = written(o);
    if (w === undefined) continue;
    for (const x of observers.get(w) ?? []) {
      if (o.forced || x.kind === 'get') remove(x);
      else forget.add(x);
    }
  }
  const rest = ops
    .filter((o) => !removed.has(o))
    .map((o) => (forget.has(o) ? { ...o, observed: undefined } : o));
  return rest.length > 0 ? rest : undefined;
}

/** Delta-debugging style shrink of a violating history, bounded by `budget.checksMax` re-checks. */
export function shrink(ops: readonly SearchOp[], budget: ShrinkBudget): SearchOp[] {
  let current = [...ops];
  let checks = 0;
  let chunk = Math.max(1, Math.ceil(current.length / 2));
  for (;;) {
    let removedAny = false;
    for (let start = 0; start < current.length && checks < budget.checksMax; ) {
      const rest = without(current, current.slice(start, start + chunk));
      checks++;
      if (rest && searchRegister(rest, budget.limits).verdict === 'violation') {
        current = rest;
        removedAny = true;
      } else start += chunk;
    }
    if (checks >= budget.checksMax || (chunk === 1 && !removedAny)) return current;
    if (!removedAny) chunk = Math.max(1, Math.floor(chunk / 2));
  }
}

function describe(op: HistoryOp, searched: SearchOp | undefined, t0: number): string {
  const c = op.call;
  const call = c.op === 'put' ? `put(${c.key}, ${JSON.stringify(c.value)})` : `${c.op}(${c.key})`;
  const from = (op.invokeMs - t0).toFixed(1);
  let result: string;
  let until: string;
  if (op.outcome.status === 'ok') {
    const seen = op.outcome.observed;
    const label = c.op === 'get' ? '→' : '→ previous';
    const unused = seen !== undefined && searched?.observed === undefined ? ' (not needed)' : '';
    result = seen === undefined ? '→ ok' : `${label} ${JSON.stringify(seen)}${unused}`;
    until = `${(op.outcome.completeMs - t0).toFixed(1)}]`;
  } else {
    result = 'indeterminate';
    const bound = searched?.returnMs ?? Number.POSITIVE_INFINITY;
    until =
      bound === Number.POSITIVE_INFINITY
        ? '∞)'
        : `${(bound - t0).toFixed(1)}] (must precede the first read of its value)`;
  }
  const note = op.note ? `  (${op.note})` : '';
  return `  #${op.id} client ${op.client}: ${call} ${result}  [${from} .. ${until}${note}`;
}

/** Shrinks the violating operations of `key` and describes what is left. */
export function explainViolation(
  history: readonly HistoryOp[],
  key: string,
  ops: readonly SearchOp[],
  budget: ShrinkBudget,
): Violation {
  const small = shrink(ops, budget).sort((a, b) => a.invokeMs - b.invokeMs || a.ref - b.ref);
  const t0 = history.reduce((m, o) => Math.min(m, o.invokeMs), Number.POSITIVE_INFINITY);
  const lines = small.map((s) => describe(history[s.ref]!, s, t0));
  const text = [
    `key ${JSON.stringify(key)}: these ${small.length} of its ${ops.length} operations have no linearization`,
    `(times in ms from the first invocation; the key starts absent):`,
    ...lines,
  ].join('\n');
  return { key, ops: small.map((s) => history[s.ref]!), keyOps: ops.length, text };
}
