/**
 * Seeded generator of histories that are linearizable by construction: operations run one by one on a
 * sequential key-value model at increasing linearization points, then each gets a random interval around
 * its point. The checker's property tests use it (and mutate its output to get violations).
 */
import { seededFloats } from '@flotilla/core';
import type { HistoryOp, KvCall } from './history.ts';

export interface GenerateOptions {
  readonly seed: number;
  readonly ops: number;
  readonly keys: number;
  /** Each interval starts up to this long before its linearization point and ends up to this long after. */
  readonly overlapMs: number;
  /** Share of writes whose outcome the client never learns (half of them take effect). */
  readonly indeterminateRatio: number;
  /** Every put writes a fresh value (else values come from a small set, so they repeat). */
  readonly uniqueValues: boolean;
}

export interface GeneratedOp {
  readonly op: HistoryOp;
  /** Whether the operation took effect in the model (false only for some indeterminate writes). */
  readonly applied: boolean;
}

/** A seeded PRNG (core's xoshiro128**) so that a failure replays from its seed. */
export const prng: (seed: number) => () => number = seededFloats;

const POINT_SPACING_MS = 10;
const CLIENTS = 8;

function randomCall(random: () => number, i: number, options: GenerateOptions): KvCall {
  const key = `k${Math.floor(random() * options.keys)}`;
  const r = random();
  if (r < 0.45) return { op: 'get', key };
  if (r < 0.9) {
    const value = options.uniqueValues ? `v${i}` : ['a', 'b', 'c'][Math.floor(random() * 3)]!;
    return { op: 'put', key, value };
  }
  return { op: 'delete', key };
}

export function generateHistory(options: GenerateOptions): GeneratedOp[] {
  const random = prng(options.seed);
  const state = new Map<string, string | null>();
  const out: GeneratedOp[] = [];
  for (let i = 0; i < options.ops; i++) {
    const call = randomCall(random, i, options);
    const point = i * POINT_SPACING_MS;
    const invokeMs = point - Math.floor(random() * (options.overlapMs + 1));
    const completeMs = point + Math.floor(random() * (options.overlapMs + 1));
    const client = Math.floor(random() * CLIENTS);
    const before = state.get(call.key) ?? null;
    const indeterminate = call.op !== 'get' && random() < options.indeterminateRatio;
    const applied = !indeterminate || random() < 0.5;
    if (applied && call.op === 'put') state.set(call.key, call.value);
    if (applied && call.op === 'delete') state.set(call.key, null);
    const base = { id: i, client, call, invokeMs };
    if (indeterminate) {
      out.push({ op: { ...base, outcome: { status: 'indeterminate' } }, applied });
      continue;
    }
    const reportsPrevious = call.op === 'get' || random() < 0.7;
    const outcome = reportsPrevious
      ? { status: 'ok' as const, completeMs, observed: before }
      : { status: 'ok' as const, completeMs };
    out.push({ op: { ...base, outcome }, applied });
  }
  return out;
}
