/**
 * Client sessions for exactly-once apply (thesis §6.3), kept by the framework for every machine: a command
 * carries (client id, sequence); the outcome of each of a client's last `windowMax` sequences is kept, so a
 * retried command returns the stored outcome instead of applying twice. Two tables, one contract: in memory
 * (snapshotted with the machine) and in the machine's LMDB store (committed with the applied index).
 */
import type { KvView } from '@flotilla/storage-lmdb';
import { decodeOutcome, encodeOutcome, type Outcome } from './outcome.ts';
import { frameworkKey } from './store-keys.ts';

/** What a session says about a command before it is applied. */
export type SessionVerdict =
  | { readonly kind: 'new' }
  | { readonly kind: 'duplicate'; readonly outcome: Outcome }
  /** Older than every outcome still kept: it may have been applied, and its outcome is gone. */
  | { readonly kind: 'stale' };

const NEW: SessionVerdict = Object.freeze({ kind: 'new' });
const STALE: SessionVerdict = Object.freeze({ kind: 'stale' });

export interface SessionLimits {
  /** Clients remembered by a memory machine (least recently active evicted first, a tenth at a time). */
  readonly sessionsMax: number;
  /** Outcomes kept per client: at least the client's commands in flight. */
  readonly windowMax: number;
  /** A store machine forgets a client idle this long in log time (its retries are long over by then). */
  readonly idleMs: number;
}

export const SESSION_DEFAULTS: SessionLimits = { sessionsMax: 1_000, windowMax: 1_024, idleMs: 15 * 60_000 };

export interface SessionTable {
  check(clientId: string, sequence: number): SessionVerdict;
  /** Records the outcome of a command newly applied at log time `timestampMs`. */
  record(clientId: string, sequence: number, outcome: Outcome, index: number, timestampMs: number): void;
  /** Once per applied batch: forgets clients idle for too long in log time (a no-op where counts bound them). */
  sweepIdle(timestampMs: number): void;
}

interface Window {
  evictedUpTo: number;
  maxSequence: number;
  results: Map<number, Outcome>;
  lastIndex: number;
}

/** The memory table: per client a window of outcomes; bounded by `sessionsMax` clients. */
export class MemorySessions implements SessionTable {
  private sessions = new Map<string, Window>();

  constructor(private readonly limits: SessionLimits = SESSION_DEFAULTS) {}

  get size(): number {
    return this.sessions.size;
  }

  check(clientId: string, sequence: number): SessionVerdict {
    const window = this.sessions.get(clientId);
    if (!window) return NEW;
    const outcome = window.results.get(sequence);
    if (outcome !== undefined) return { kind: 'duplicate', outcome };
    return sequence <= window.evictedUpTo ? STALE : NEW;
  }

  sweepIdle(): void {}

  record(clientId: string, sequence: number, outcome: Outcome, index: number): void {
    let w = this.sessions.get(clientId);
    if (!w) {
      w = { evictedUpTo: 0, maxSequence: 0, results: new Map(), lastIndex: index };
      this.sessions.set(clientId, w);
      if (this.sessions.size > this.limits.sessionsMax) this.evictLeastRecent();
    }
    w.lastIndex = index;
    w.results.set(sequence, outcome);
    if (sequence <= w.maxSequence) return;
    w.maxSequence = sequence;
    const floor = sequence - this.limits.windowMax;
    if (floor <= w.evictedUpTo) return;
    // Usually exactly one outcome leaves the window; a client that skipped ahead sweeps what is left behind.
    if (floor - w.evictedUpTo <= w.results.size) {
      for (let s = w.evictedUpTo + 1; s <= floor; s++) w.results.delete(s);
    } else {
      for (const s of w.results.keys()) if (s <= floor) w.results.delete(s);
    }
    w.evictedUpTo = floor;
  }

  /** Evicts the least recently active tenth (deterministic: every replica applies the same commands). */
  private evictLeastRecent(): void {
    const byAge = [...this.sessions].sort(
      (a, b) => a[1].lastIndex - b[1].lastIndex || (a[0] < b[0] ? -1 : 1),
    );
    const max = this.limits.sessionsMax;
    const count = Math.max(1, Math.ceil(max / 10), this.sessions.size - max);
    for (const [id] of byAge.slice(0, count)) this.sessions.delete(id);
  }

  /** Plain data for a snapshot: [client, evictedUpTo, [[sequence, outcome]…], lastIndex]. */
  toSnapshot(): [string, number, [number, Outcome][], number][] {
    return [...this.sessions].map(([id, s]) => [id, s.evictedUpTo, [...s.results], s.lastIndex]);
  }

  restore(rows: readonly [string, number, [number, Outcome][], number][]): void {
    this.sessions = new Map(
      rows.map(([id, evictedUpTo, results, lastIndex]) => {
        const maxSequence = results.reduce((m, [s]) => Math.max(m, s), evictedUpTo);
        return [id, { evictedUpTo, maxSequence, results: new Map(results), lastIndex }];
      }),
    );
  }
}

/**
 * The store table, in the machine's own LMDB key space (so it commits with the applied index):
 *   [S, client, sequence]   → outcome                   one per kept outcome
 *   [C, client]             → [evictedUpTo, lastSecond]
 *   [A, lastSecond, client] → 1                         the age index, moved at most once per second
 * Outcomes leave the window `EVICT_CHUNK` sequences at a time (one range delete), so a command costs one
 * put of its outcome; clients idle for `idleMs` of log time are swept a few per batch, deterministically.
 */
export class StoreSessions implements SessionTable {
  /** Idle clients swept per applied batch. */
  private static readonly SWEEP_PER_BATCH = 4;
  /** Outcomes evicted together once they fall out of the window. */
  private static readonly EVICT_CHUNK = 64;

  constructor(
    private readonly view: () => KvView,
    private readonly limits: SessionLimits = SESSION_DEFAULTS,
  ) {}

  check(clientId: string, sequence: number): SessionVerdict {
    const kv = this.view();
    const stored = kv.get(frameworkKey('S', clientId, sequence));
    if (stored !== undefined) return { kind: 'duplicate', outcome: decodeOutcome(stored) };
    const client = this.client(kv, clientId);
    return client !== undefined && sequence <= client[0] ? STALE : NEW;
  }

  record(clientId: string, sequence: number, outcome: Outcome, _index: number, timestampMs: number): void {
    const kv = this.view();
    kv.put(frameworkKey('S', clientId, sequence), encodeOutcome(outcome));
    const second = Math.floor(timestampMs / 1000);
    const known = this.client(kv, clientId);
    let evictedUpTo = known?.[0] ?? 0;
    const chunk = StoreSessions.EVICT_CHUNK;
    const floor = Math.floor((sequence - this.limits.windowMax) / chunk) * chunk;
    if (floor > evictedUpTo) {
      this.deleteOutcomes(kv, clientId, evictedUpTo + 1, floor + 1);
      evictedUpTo = floor;
    }
    if (known !== undefined && known[0] === evictedUpTo && known[1] === second) return;
    kv.put(frameworkKey('C', clientId), encodeOutcome({ ok: true, value: [evictedUpTo, second] }));
    if (known?.[1] === second) return;
    if (known !== undefined) kv.delete(frameworkKey('A', known[1], clientId));
    kv.put(frameworkKey('A', second, clientId), ONE);
  }

  sweepIdle(timestampMs: number): void {
    const kv = this.view();
    const before = Math.floor((timestampMs - this.limits.idleMs) / 1000);
    const idle = [
      ...kv.range({
        start: frameworkKey('A'),
        end: frameworkKey('A', before),
        limit: StoreSessions.SWEEP_PER_BATCH,
      }),
    ];
    for (const { key } of idle) {
      const [, second, clientId] = key as [string, number, string];
      this.deleteOutcomes(kv, clientId, 0, Number.MAX_SAFE_INTEGER);
      kv.delete(frameworkKey('C', clientId));
      kv.delete(frameworkKey('A', second, clientId));
    }
  }

  private client(kv: KvView, clientId: string): readonly [number, number] | undefined {
    const stored = kv.get(frameworkKey('C', clientId));
    if (stored === undefined) return undefined;
    const outcome = decodeOutcome(stored);
    return outcome.ok ? (outcome.value as [number, number]) : undefined;
  }

  /** Deletes the kept outcomes of sequences in [from, to). */
  private deleteOutcomes(kv: KvView, clientId: string, from: number, to: number): void {
    const keys = [
      ...kv.range({ start: frameworkKey('S', clientId, from), end: frameworkKey('S', clientId, to) }),
    ];
    for (const { key } of keys) kv.delete(key);
  }
}

const ONE = Uint8Array.of(1);
