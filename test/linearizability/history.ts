/**
 * Histories of key-value operations as concurrent clients saw them (invoke and complete times on one clock),
 * and a recorder that builds one. The checker (checker.ts) decides whether a history is linearizable.
 *
 * Which client outcomes are definite and which are indeterminate (an indeterminate write may take effect at
 * any point after its invocation, or never):
 * - A write that returned `{ ok: true, previous }`: completed, and `previous` is what it overwrote.
 * - A write that returned `{ ok: false, error: 'bad-command' | 'cas-mismatch' }`: applied as a no-op, so
 *   definitely without effect ('failed').
 * - A write refused with `StaleSessionError` (it throws, as below): indeterminate (the session forgot whether
 *   an earlier attempt applied).
 * - A write that threw, whatever the error: indeterminate. `FlotillaClient.put` retries under one session
 *   sequence and nodes forward and retry too, so the error that surfaces describes the last attempt only:
 *   a final `FLOTILLA_NOT_LEADER` may follow a timed-out attempt that was proposed; `FLOTILLA_PROPOSAL_DROPPED`
 *   also means "the replica stopped" with the entry in its log; timeouts and lost connections say nothing.
 * - A read that failed in any way: dropped (a read changes no state, and it observed nothing).
 */

export type KvCall =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'get'; readonly key: string };

/**
 * What the client learned. `observed` is the value a `get` returned, or the previous value a `put` or
 * `delete` overwrote (omit it when the client did not learn it; a `get` must have it).
 */
export type KvOutcome =
  | { readonly status: 'ok'; readonly completeMs: number; readonly observed?: string | null }
  | { readonly status: 'indeterminate' }
  | { readonly status: 'failed' };

export interface HistoryOp {
  readonly id: number;
  /** The client (a sequential process) that issued the call. */
  readonly client: number;
  readonly call: KvCall;
  readonly invokeMs: number;
  readonly outcome: KvOutcome;
  /** Free text shown in explanations (read consistency, error code). */
  readonly note?: string;
}

/** Completes one recorded call; only the first completion counts. */
export interface PendingOp {
  ok(observed?: string | null): void;
  indeterminate(note?: string): void;
  failed(note?: string): void;
}

/**
 * Collects a history. Calls still pending when `history()` is taken are indeterminate: the client never
 * learned their outcome.
 */
interface RecordedOp {
  readonly id: number;
  readonly client: number;
  readonly call: KvCall;
  readonly invokeMs: number;
  note: string | undefined;
  outcome: KvOutcome | undefined;
}

export class HistoryRecorder {
  private readonly records: RecordedOp[] = [];

  constructor(private readonly clock: () => number = () => performance.now()) {}

  invoke(client: number, call: KvCall, note?: string): PendingOp {
    const record: RecordedOp = {
      id: this.records.length,
      client,
      call,
      invokeMs: this.clock(),
      note,
      outcome: undefined,
    };
    this.records.push(record);
    const complete = (outcome: KvOutcome, extra?: string) => {
      if (record.outcome !== undefined) return;
      record.outcome = outcome;
      if (extra !== undefined) record.note = record.note ? `${record.note} ${extra}` : extra;
    };
    return {
      ok: (observed) =>
        complete(
          observed === undefined
            ? { status: 'ok', completeMs: this.clock() }
            : { status: 'ok', completeMs: this.clock(), observed },
        ),
      indeterminate: (extra) => complete({ status: 'indeterminate' }, extra),
      failed: (extra) => complete({ status: 'failed' }, extra),
    };
  }

  get size(): number {
    return this.records.length;
  }

  history(): HistoryOp[] {
    return this.records.map(({ note, outcome, ...rest }) => {
      const op = { ...rest, outcome: outcome ?? ({ status: 'indeterminate' } as const) };
      return note === undefined ? op : { ...op, note };
    });
  }
}

/** Builds a history op by hand (unit tests): `observed` as in `KvOutcome`; no `completeMs` = indeterminate. */
export function op(
  id: number,
  client: number,
  call: KvCall,
  invokeMs: number,
  completeMs: number | undefined,
  observed?: string | null,
): HistoryOp {
  if (completeMs === undefined) return { id, client, call, invokeMs, outcome: { status: 'indeterminate' } };
  const outcome: KvOutcome =
    observed === undefined ? { status: 'ok', completeMs } : { status: 'ok', completeMs, observed };
  return { id, client, call, invokeMs, outcome };
}
