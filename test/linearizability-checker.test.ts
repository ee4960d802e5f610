import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ConfigCache } from './linearizability/cache.ts';
import { type CheckResult, checkHistory } from './linearizability/checker.ts';
import { type GeneratedOp, generateHistory, prng } from './linearizability/generate.ts';
import { type HistoryOp, HistoryRecorder, type KvCall, op } from './linearizability/history.ts';

const put = (key: string, value: string) => ({ op: 'put', key, value }) as const;
const get = (key: string) => ({ op: 'get', key }) as const;
const del = (key: string) => ({ op: 'delete', key }) as const;

function verdict(history: readonly HistoryOp[]): CheckResult['verdict'] {
  return checkHistory(history).verdict;
}

function violation(history: readonly HistoryOp[]) {
  const result = checkHistory(history);
  assert.equal(result.verdict, 'violation');
  return (result as Extract<CheckResult, { verdict: 'violation' }>).violation;
}

describe('hand-written histories', () => {
  test('sequential puts and reads that see the latest write are linearizable', () => {
    const h = [
      op(0, 1, get('x'), 0, 1, null),
      op(1, 1, put('x', 'a'), 2, 3, null),
      op(2, 2, get('x'), 4, 5, 'a'),
      op(3, 2, put('x', 'b'), 6, 7, 'a'),
      op(4, 1, del('x'), 8, 9, 'b'),
      op(5, 1, get('x'), 10, 11, null),
    ];
    assert.equal(verdict(h), 'linearizable');
  });

  test('a stale read after a completed write is a violation, and the explanation names its key and ops', () => {
    const h = [
      op(0, 1, put('x', 'a'), 0, 1),
      op(1, 1, put('x', 'b'), 2, 3),
      op(2, 2, get('x'), 4, 5, 'a'),
      op(3, 3, put('y', 'a'), 0, 1),
      op(4, 3, get('y'), 4, 5, 'a'),
    ];
    const v = violation(h);
    assert.equal(v.key, 'x');
    assert.deepEqual(v.ops.map((o) => o.id).sort(), [0, 1, 2]);
    assert.match(v.text, /key "x"/);
    assert.match(v.text, /#2 client 2: get\(x\) → "a"/);
  });

  test('a read of a value never written is a violation', () => {
    const h = [op(0, 1, put('x', 'a'), 0, 1), op(1, 2, get('x'), 2, 3, 'ghost')];
    assert.deepEqual(
      violation(h).ops.map((o) => o.id),
      [1],
    );
  });

  test('two readers observing two concurrent writes in opposite orders is a violation', () => {
    const writes = [op(0, 1, put('x', 'a'), 0, 100), op(1, 2, put('x', 'b'), 0, 100)];
    const sameOrder = [
      ...writes,
      op(2, 3, get('x'), 10, 20, 'a'),
      op(3, 3, get('x'), 30, 40, 'b'),
      op(4, 4, get('x'), 10, 20, 'a'),
      op(5, 4, get('x'), 30, 40, 'b'),
    ];
    assert.equal(verdict(sameOrder), 'linearizable');
    const opposite = [
      ...writes,
      op(2, 3, get('x'), 10, 20, 'a'),
      op(3, 3, get('x'), 30, 40, 'b'),
      op(4, 4, get('x'), 10, 20, 'b'),
      op(5, 4, get('x'), 30, 40, 'a'),
    ];
    assert.equal(violation(opposite).ops.length, 6);
  });

  test('reads concurrent with a write may see the old or the new value, in any mix that has an order', () => {
    const base = [op(0, 1, put('x', 'a'), 0, 1), op(1, 1, put('x', 'b'), 10, 50)];
    for (const [first, second] of [
      ['a', 'a'],
      ['a', 'b'],
      ['b', 'b'],
    ] as const) {
      const h = [...base, op(2, 2, get('x'), 12, 20, first), op(3, 2, get('x'), 22, 30, second)];
      assert.equal(verdict(h), 'linearizable', `${first} then ${second}`);
    }
    const h = [...base, op(2, 2, get('x'), 12, 20, 'b'), op(3, 2, get('x'), 22, 30, 'a')];
    assert.equal(verdict(h), 'violation', 'b then a: the new value was seen, then the old one again');
  });

  test('a put that reports a previous value it cannot have overwritten is a violation', () => {
    const h = [op(0, 1, put('x', 'a'), 0, 1, null), op(1, 1, put('x', 'b'), 2, 3, 'a')];
    assert.equal(verdict(h), 'linearizable');
    const wrong = [op(0, 1, put('x', 'a'), 0, 1, null), op(1, 1, put('x', 'b'), 2, 3, null)];
    assert.equal(verdict(wrong), 'violation');
  });

  test('an indeterminate write is fine whether it took effect or not', () => {
    const before = [op(0, 1, put('x', 'a'), 0, 1), op(1, 2, put('x', 'b'), 2, undefined)];
    assert.equal(verdict([...before, op(2, 3, get('x'), 10, 11, 'a')]), 'linearizable');
    assert.equal(verdict([...before, op(2, 3, get('x'), 10, 11, 'b')]), 'linearizable');
    // Applied long after the client gave up: the old value first, the new one later.
    assert.equal(
      verdict([...before, op(2, 3, get('x'), 10, 11, 'a'), op(3, 3, get('x'), 500, 501, 'b')]),
      'linearizable',
    );
    const deleted = [op(0, 1, put('x', 'a'), 0, 1), op(1, 2, del('x'), 2, undefined)];
    assert.equal(verdict([...deleted, op(2, 3, get('x'), 10, 11, 'a')]), 'linearizable');
    assert.equal(verdict([...deleted, op(2, 3, get('x'), 10, 11, null)]), 'linearizable');
  });

  test('an indeterminate write observed by one read and unobserved by a later read is a violation', () => {
    const h = [
      op(0, 1, put('x', 'a'), 0, 1),
      op(1, 2, put('x', 'b'), 2, undefined),
      op(2, 3, get('x'), 10, 11, 'b'),
      op(3, 3, get('x'), 12, 13, 'a'),
    ];
    const v = violation(h);
    assert.deepEqual(v.ops.map((o) => o.id).sort(), [0, 1, 2, 3]);
    assert.match(v.text, /indeterminate/);
    // The same with an open-ended indeterminate delete (null is not a unique value, so it is searched).
    const d = [
      op(0, 1, put('x', 'a'), 0, 1),
      op(1, 2, del('x'), 2, undefined),
      op(2, 3, get('x'), 10, 11, null),
      op(3, 3, get('x'), 12, 13, 'a'),
    ];
    assert.equal(verdict(d), 'violation');
  });

  test('an indeterminate put whose value another put also writes is searched open-ended', () => {
    const h = [
      op(0, 1, put('x', 'a'), 0, 1),
      op(1, 2, put('x', 'b'), 2, undefined),
      op(2, 1, put('x', 'b'), 3, 4),
      op(3, 1, put('x', 'c'), 5, 6),
      op(4, 3, get('x'), 10, 11, 'b'),
    ];
    assert.equal(verdict(h), 'linearizable', 'the indeterminate put of b applied after c');
    assert.equal(verdict([...h, op(5, 3, get('x'), 12, 13, 'c')]), 'violation');
  });

  test('a read may not see a write invoked after the read completed', () => {
    const h = [op(0, 1, get('x'), 0, 1, 'a'), op(1, 2, put('x', 'a'), 2, undefined)];
    assert.equal(verdict(h), 'violation');
  });

  test('failed writes are dropped, failed and pending reads are ignored', () => {
    const recorder = new HistoryRecorder();
    recorder.invoke(1, put('x', 'a')).ok(null);
    recorder.invoke(2, put('x', 'b')).failed('bad-command');
    recorder.invoke(3, get('x')).indeterminate('FLOTILLA_TIMEOUT');
    recorder.invoke(4, get('x'));
    recorder.invoke(5, get('x')).ok('a');
    const history = recorder.history();
    assert.equal(history[3]!.outcome.status, 'indeterminate', 'a call never completed is indeterminate');
    assert.equal(checkHistory(history).verdict, 'linearizable');
    recorder.invoke(6, get('x')).ok('b');
    assert.equal(checkHistory(recorder.history()).verdict, 'violation', 'the failed put of b had no effect');
  });

  test('the search budget gives an inconclusive verdict instead of running on', () => {
    const h = [
      op(0, 1, put('x', 'a'), 0, 10),
      op(1, 2, put('x', 'b'), 0, 10),
      op(2, 3, get('x'), 11, 12, 'b'),
    ];
    const result = checkHistory(h, { stateBudgetPerKey: 1 });
    assert.equal(result.verdict, 'inconclusive');
    assert.equal(checkHistory(h).verdict, 'linearizable');
  });

  test('many indeterminate writes of repeated values are searched without trying every subset', () => {
    const h: HistoryOp[] = [];
    for (let i = 0; i < 30; i++) h.push(op(i, i, put('x', i % 2 === 0 ? 'a' : 'b'), i, undefined));
    for (let i = 0; i < 20; i++)
      h.push(op(30 + i, 40, get('x'), 100 + 2 * i, 101 + 2 * i, i % 2 === 0 ? 'a' : 'b'));
    assert.equal(checkHistory(h, { stateBudgetPerKey: 100_000 }).verdict, 'linearizable');
    h.push(op(50, 41, get('x'), 200, 201, 'c'));
    assert.equal(checkHistory(h, { stateBudgetPerKey: 100_000 }).verdict, 'violation');
  });

  test('the explanation of a violation in a long history is shrunk to the few ops involved', () => {
    const h: HistoryOp[] = [];
    for (let i = 0; i < 300; i++) {
      h.push(op(2 * i, 1, put('x', `v${i}`), 10 * i, 10 * i + 4, i === 0 ? null : `v${i - 1}`));
      h.push(op(2 * i + 1, 2, get('x'), 10 * i + 5, 10 * i + 9, `v${i}`));
    }
    h.push(op(600, 3, get('x'), 5_000, 5_001, 'v150'));
    const v = violation(h);
    assert.ok(v.ops.length <= 4, v.text);
    assert.ok(
      v.ops.some((o) => o.id === 600),
      v.text,
    );
    assert.equal(v.keyOps, 601);
  });
});

/** Every order of every subset of indeterminate ops (fine for a handful of ops): the definition itself. */
function bruteForce(history: readonly HistoryOp[]): boolean {
  const ops = history.filter(
    (o) => o.outcome.status !== 'failed' && !(o.call.op === 'get' && o.outcome.status !== 'ok'),
  );
  const end = (o: HistoryOp) => (o.outcome.status === 'ok' ? o.outcome.completeMs : Number.POSITIVE_INFINITY);
  const place = (done: readonly HistoryOp[], state: Map<string, string | null>): boolean => {
    const left = ops.filter((o) => !done.includes(o));
    if (left.every((o) => o.outcome.status !== 'ok')) return true;
    return left.some((o) => {
      if (left.some((p) => p !== o && end(p) < o.invokeMs)) return false;
      const before = state.get(o.call.key) ?? null;
      if (o.outcome.status === 'ok' && o.outcome.observed !== undefined && o.outcome.observed !== before)
        return false;
      const next = new Map(state);
      if (o.call.op === 'put') next.set(o.call.key, o.call.value);
      if (o.call.op === 'delete') next.set(o.call.key, null);
      return place([...done, o], next);
    });
  };
  return place([], new Map());
}

describe('configuration cache', () => {
  test('tells new configurations from explored ones, exactly, over many random sets', () => {
    const cache = new ConfigCache(100);
    const seen = new Set<string>();
    const members = new Set<number>();
    const random = prng(42);
    for (let i = 0; i < 50_000; i++) {
      const op = Math.floor(random() * 100);
      cache.toggle(op);
      if (members.has(op)) members.delete(op);
      else members.add(op);
      const value = random() < 0.5 ? null : `v${Math.floor(random() * 3)}`;
      const name = `${[...members].sort((a, b) => a - b).join(',')}|${value}`;
      assert.equal(cache.add(value), !seen.has(name));
      seen.add(name);
    }
    assert.equal(cache.size, seen.size);
  });
});

function asHistory(ops: readonly GeneratedOp[]): HistoryOp[] {
  return ops.map((g) => g.op);
}

describe('properties', () => {
  const histories = fc.record({
    seed: fc.integer(),
    ops: fc.integer({ min: 1, max: 60 }),
    keys: fc.integer({ min: 1, max: 3 }),
    overlapMs: fc.integer({ min: 0, max: 50 }),
    indeterminateRatio: fc.constantFrom(0, 0.1, 0.3),
    uniqueValues: fc.boolean(),
  });

  test('a history produced by a sequential model with random overlapping intervals is linearizable', () => {
    fc.assert(
      fc.property(histories, (params) => {
        const h = asHistory(generateHistory(params));
        const result = checkHistory(h);
        assert.equal(result.verdict, 'linearizable', JSON.stringify(h));
      }),
      { numRuns: 300 },
    );
  });

  test('changing one read to a value never written is detected', () => {
    fc.assert(
      fc.property(histories, fc.nat(), (params, pick) => {
        const h = asHistory(generateHistory(params));
        const reads = h.filter((o) => o.call.op === 'get' && o.outcome.status === 'ok');
        fc.pre(reads.length > 0);
        const victim = reads[pick % reads.length]!;
        const mutated = h.map((o) =>
          o === victim && o.outcome.status === 'ok'
            ? { ...o, outcome: { ...o.outcome, observed: 'never' } }
            : o,
        );
        assert.equal(checkHistory(mutated).verdict, 'violation');
      }),
      { numRuns: 200 },
    );
  });

  test('changing one read to a value first written after the read completed is detected', () => {
    fc.assert(
      fc.property(histories, fc.nat(), (params, pick) => {
        const h = asHistory(generateHistory({ ...params, uniqueValues: true }));
        const pairs: [HistoryOp, string][] = [];
        for (const r of h) {
          if (r.call.op !== 'get' || r.outcome.status !== 'ok') continue;
          const done = r.outcome.completeMs;
          for (const w of h)
            if (w.call.op === 'put' && w.call.key === r.call.key && w.invokeMs > done)
              pairs.push([r, w.call.value]);
        }
        fc.pre(pairs.length > 0);
        const [victim, future] = pairs[pick % pairs.length]!;
        const mutated = h.map((o) =>
          o === victim && o.outcome.status === 'ok'
            ? { ...o, outcome: { ...o.outcome, observed: future } }
            : o,
        );
        assert.equal(checkHistory(mutated).verdict, 'violation');
      }),
      { numRuns: 200 },
    );
  });

  test('on small random histories the verdict agrees with trying every order', () => {
    const value = fc.constantFrom<string | null | undefined>(null, 'a', 'b', undefined);
    const small = fc.array(
      fc.record({
        kind: fc.constantFrom('get', 'put', 'delete'),
        key: fc.constantFrom('x', 'y'),
        put: fc.constantFrom('a', 'b'),
        observed: value,
        invokeMs: fc.integer({ min: 0, max: 20 }),
        lengthMs: fc.integer({ min: 0, max: 10 }),
        indeterminate: fc.boolean(),
      }),
      { maxLength: 6 },
    );
    fc.assert(
      fc.property(small, (specs) => {
        const h = specs.map((s, id): HistoryOp => {
          const call: KvCall =
            s.kind === 'put' ? put(s.key, s.put) : s.kind === 'get' ? get(s.key) : del(s.key);
          const done = s.indeterminate && s.kind !== 'get' ? undefined : s.invokeMs + s.lengthMs;
          const observed = s.kind === 'get' && s.observed === undefined ? null : s.observed;
          return op(id, id, call, s.invokeMs, done, observed);
        });
        const expected = bruteForce(h) ? 'linearizable' : 'violation';
        assert.equal(checkHistory(h).verdict, expected, JSON.stringify(h));
      }),
      { numRuns: 1_000 },
    );
  });

  test('10,000 operations from 8 clients on 10 keys, 5% of the writes indeterminate, are checked in full', () => {
    const h = asHistory(
      generateHistory({
        seed: 7,
        ops: 10_000,
        keys: 10,
        overlapMs: 40,
        indeterminateRatio: 0.05,
        uniqueValues: true,
      }),
    );
    const result = checkHistory(h);
    assert.equal(result.verdict, 'linearizable');
    assert.equal(result.keys, 10);
  });
});
