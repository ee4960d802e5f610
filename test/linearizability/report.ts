/**
 * Summaries of a recorded run for the test's output: counts per outcome, and a per-second timeline of calls
 * next to the faults, which is what one needs to read a violation (or a stall) against the fault schedule.
 */
import type { HistoryOp } from './history.ts';
import type { FaultRecord } from './nemesis.ts';

export interface RunCounts {
  /** Calls recorded. */
  readonly ops: number;
  /** Calls that completed with a result. */
  readonly completed: number;
  /** Writes whose outcome is unknown. */
  readonly indeterminate: number;
  /** Completed reads that returned a written value (not "absent"). */
  readonly readsOfWrites: number;
  /** Completed reads sent with 'lease' consistency. */
  readonly leaseReads: number;
}

export function countRun(history: readonly HistoryOp[]): RunCounts {
  let completed = 0;
  let indeterminate = 0;
  let readsOfWrites = 0;
  let leaseReads = 0;
  for (const o of history) {
    if (o.outcome.status === 'indeterminate' && o.call.op !== 'get') indeterminate++;
    if (o.outcome.status !== 'ok') continue;
    completed++;
    if (o.call.op !== 'get') continue;
    if (typeof o.outcome.observed === 'string') readsOfWrites++;
    if (o.note === 'lease') leaseReads++;
  }
  return { ops: history.length, completed, indeterminate, readsOfWrites, leaseReads };
}

/** One line per second: calls invoked, completed, not completed, mean latency, and the faults under way. */
export function timeline(history: readonly HistoryOp[], faults: readonly FaultRecord[]): string[] {
  const t0 = history[0]?.invokeMs ?? 0;
  const seconds = new Map<number, { calls: number; ok: number; latencyMs: number }>();
  for (const o of history) {
    const s = Math.floor((o.invokeMs - t0) / 1_000);
    const row = seconds.get(s) ?? { calls: 0, ok: 0, latencyMs: 0 };
    row.calls++;
    if (o.outcome.status === 'ok') {
      row.ok++;
      row.latencyMs += o.outcome.completeMs - o.invokeMs;
    }
    seconds.set(s, row);
  }
  const last = Math.max(...seconds.keys(), 0);
  const lines: string[] = [];
  for (let s = 0; s <= last; s++) {
    const row = seconds.get(s) ?? { calls: 0, ok: 0, latencyMs: 0 };
    const active = faults
      .filter((f) => f.startMs - t0 < (s + 1) * 1_000 && (Number.isNaN(f.endMs) || f.endMs - t0 >= s * 1_000))
      .map((f) => `${f.kind} node ${f.node}${f.effective ? '' : ' (no effect seen)'}`);
    const mean = row.ok > 0 ? (row.latencyMs / row.ok).toFixed(1) : '-';
    const calls = `${row.calls} calls, ${row.ok} ok, ${row.calls - row.ok} not, mean ${mean} ms`;
    lines.push(`${String(s).padStart(3)} s: ${calls}  ${active.join(', ')}`);
  }
  return lines;
}
