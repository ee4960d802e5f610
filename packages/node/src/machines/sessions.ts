/**
 * Client sessions for exactly-once apply (Raft thesis §6.3), kept by the framework for every machine: a
 * command carries (client id, sequence, ackedBelow); the outcome of each call the client has not yet
 * acknowledged is kept, so a retried command returns the stored outcome instead of applying twice, and one
 * below the acknowledgement is refused. Two tables, one contract: in memory (snapshotted with the machine)
 * and in the machine's LMDB store (committed with the applied index).
 */
import type { KvView } from '@flotilla/storage-lmdb';
import { decodeOutcome, encodeOutcome, type Outcome } from './outcome.ts';
import { frameworkKey } from './store-keys.ts';

/** What a session says about a command before it is applied. */
export type SessionVerdict =
  | { readonly kind: 'new' }
  | { readonly kind: 'duplicate'; readonly outcome: Outcome }
  /** Below what the client acknowledged, with its outcome gone: a late retry, or a call it gave up on. */
  | { readonly kind: 'stale' };

const NEW: SessionVerdict = Object.freeze({ kind: 'new' });
const STALE: SessionVerdict = Object.freeze({ kind: 'stale' });

export interface SessionLimits {
  /** Clients remembered by a memory machine (least recently active evicted first, a tenth at a time). */
  readonly sessionsMax: number;
  /**
   * Outcomes kept per client, a cap: a client acknowledges its answers (`ackedBelow`), so it normally keeps
   * no more than its calls in flight; past the cap the oldest are dropped and their sequences become stale.
   */
  readonly windowMax: number;
  /** A store machine forgets a client idle this long in log time (its retries are long over by then). */
  readonly idleMs: number;
}

export const SESSION_DEFAULTS: SessionLimits = { sessionsMax: 1_000, windowMax: 4_096, idleMs: 15 * 60_000 };

export interface SessionTable {
  /** What (clientId, sequence) is here, given that the client has every answer below `ackedBelow`. */
  check(clientId: string, sequence: number, ackedBelow: number): SessionVerdict;
  /**
   * Records the outcome of a command newly applied at log time `timestampMs`; `encoded` is the outcome as
   * `encodeOutcome` makes it (already made for the outcome hash: the store keeps those bytes).
   */
  record(
    clientId: string,
    sequence: number,
    ackedBelow: number,
    outcome: Outcome,
    encoded: Uint8Array,
    index: number,
    timestampMs: number,
  ): void;
  /** Once per applied batch: forgets clients idle for too long in log time (a no-op where counts bound them). */
  sweepIdle(timestampMs: number): void;
}

interface Window {
  ackedBelow: number;
  /** Kept outcomes by sequence, roughly in sequence order (calls are issued in order). */
  results: Map<number, Outcome>;
  lastIndex: number;
}

/** Drops the outcomes below `w.ackedBelow` from the front of the window (they are in sequence order). */
function prune<V>(results: Map<number, V>, below: number): number[] {
  const dropped: number[] = [];
  for (const sequence of results.keys()) {
    if (sequence >= below) break;
    dropped.push(sequence);
  }
  for (const sequence of dropped) results.delete(sequence);
  return dropped;
}

/** The memory table: per client the outcomes it has not acknowledged; bounded by `sessionsMax` clients. */
export class MemorySessions implements SessionTable {
  private sessions = new Map<string, Window>();

  constructor(private readonly limits: SessionLimits = SESSION_DEFAULTS) {}

  get size(): number {
    return this.sessions.size;
  }

  check(clientId: string, sequence: number, ackedBelow: number): SessionVerdict {
    const w = this.sessions.get(clientId);
    const outcome = w?.results.get(sequence);
    if (outcome !== undefined) return { kind: 'duplicate', outcome };
    return sequence < Math.max(w?.ackedBelow ?? 0, ackedBelow) ? STALE : NEW;
  }

  sweepIdle(): void {}

  record(
    clientId: string,
    sequence: number,
    ackedBelow: number,
    outcome: Outcome,
    _encoded: Uint8Array,
    index: number,
  ): void {
    let w = this.sessions.get(clientId);
    if (!w) {
      w = { ackedBelow: 0, results: new Map(), lastIndex: index };
      this.sessions.set(clientId, w);
      if (this.sessions.size > this.limits.sessionsMax) this.evictLeastRecent();
    }
    w.lastIndex = index;
    w.results.set(sequence, outcome);
    if (ackedBelow > w.ackedBelow) {
      w.ackedBelow = ackedBelow;
      prune(w.results, ackedBelow);
    }
    if (w.results.size > this.limits.windowMax) {
      const oldest = Math.min(...w.results.keys());
      w.results.delete(oldest);
      w.ackedBelow = Math.max(w.ackedBelow, oldest + 1);
    }
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

  /** Plain data for a snapshot: [client, ackedBelow, [[sequence, outcome]…], lastIndex]. */
  toSnapshot(): [string, number, [number, Outcome][], number][] {
    return [...this.sessions].map(([id, s]) => [id, s.ackedBelow, [...s.results], s.lastIndex]);
  }

  restore(rows: readonly [string, number, [number, Outcome][], number][]): void {
    this.sessions = new Map(
      rows.map(([id, ackedBelow, results, lastIndex]) => [
        id,
        { ackedBelow, results: new Map(results), lastIndex },
      ]),
    );
  }
}

/**
 * The store table, in the machine's own LMDB key space (so it commits with the applied index):
 *   [S, client, sequence]   → outcome                     one per kept outcome
 *   [C, client]             → [ackedBelow, lastSecond]    written every `ACK_PERSIST_EVERY` acknowledgements
 *   [A, lastSecond, client] → 1                           the age index, moved at most once per second
 * The store is written, not read, on the hot path: a window per client is kept in memory (bounded, least
 * recently used dropped) and loaded from the store on first use after a restart. An outcome leaves the store
 * only below the acknowledgement the store holds, so a restart never mistakes a kept call for a new one.
 */
export class StoreSessions implements SessionTable {
  /** Idle clients swept per sweep. */
  private static readonly SWEEP_CLIENTS_MAX = 16;
  /** Acknowledgements that move before the client record (and the outcomes below it) is written. */
  private static readonly ACK_PERSIST_EVERY = 64;
  private readonly windows = new Map<string, StoreWindow>();
  /** The client touched last (most commands in a row come from one client: skip re-ordering the map). */
  private lastTouched: string | undefined;
  private lastSweepSecond = -1;

  constructor(
    private readonly view: () => KvView,
    private readonly limits: SessionLimits = SESSION_DEFAULTS,
  ) {}

  /** The store was replaced (a snapshot was installed): forget what memory holds. */
  clear(): void {
    this.windows.clear();
    this.lastTouched = undefined;
  }

  check(clientId: string, sequence: number, ackedBelow: number): SessionVerdict {
    const w = this.window(clientId);
    if (w?.sequences.has(sequence)) {
      const stored = this.view().get(frameworkKey('S', clientId, sequence));
      if (stored !== undefined) return { kind: 'duplicate', outcome: decodeOutcome(stored) };
    }
    return sequence < Math.max(w?.ackedBelow ?? 0, ackedBelow) ? STALE : NEW;
  }

  record(
    clientId: string,
    sequence: number,
    ackedBelow: number,
    _outcome: Outcome,
    encoded: Uint8Array,
    _index: number,
    timestampMs: number,
  ): void {
    const kv = this.view();
    kv.put(frameworkKey('S', clientId, sequence), encoded);
    const second = Math.floor(timestampMs / 1000);
    const known = this.window(clientId);
    const w = known ?? { ackedBelow: 0, persistedAck: 0, lastSecond: -1, sequences: new Set<number>() };
    w.sequences.add(sequence);
    this.touch(clientId, w);
    w.ackedBelow = Math.max(w.ackedBelow, ackedBelow);
    if (w.sequences.size > this.limits.windowMax) {
      const oldest = Math.min(...w.sequences);
      w.ackedBelow = Math.max(w.ackedBelow, oldest + 1);
    }
    const persist =
      known === undefined ||
      w.lastSecond !== second ||
      w.ackedBelow - w.persistedAck >= StoreSessions.ACK_PERSIST_EVERY ||
      w.sequences.size > this.limits.windowMax;
    if (!persist) return;
    if (w.lastSecond !== second) {
      if (w.lastSecond >= 0) kv.delete(frameworkKey('A', w.lastSecond, clientId));
      kv.put(frameworkKey('A', second, clientId), ONE);
      w.lastSecond = second;
    }
    kv.put(frameworkKey('C', clientId), encodeOutcome({ ok: true, value: [w.ackedBelow, second] }));
    w.persistedAck = w.ackedBelow;
    for (const s of w.sequences) {
      if (s >= w.persistedAck) continue;
      kv.delete(frameworkKey('S', clientId, s));
      w.sequences.delete(s);
    }
  }

  sweepIdle(timestampMs: number): void {
    const second = Math.floor(timestampMs / 1000);
    if (second === this.lastSweepSecond) return;
    this.lastSweepSecond = second;
    const kv = this.view();
    const before = Math.floor((timestampMs - this.limits.idleMs) / 1000);
    const idle = [
      ...kv.range({
        start: frameworkKey('A'),
        end: frameworkKey('A', before),
        limit: StoreSessions.SWEEP_CLIENTS_MAX,
      }),
    ];
    for (const { key } of idle) {
      const [, lastSecond, clientId] = key as [string, number, string];
      const w = this.window(clientId);
      for (const s of w?.sequences ?? []) kv.delete(frameworkKey('S', clientId, s));
      kv.delete(frameworkKey('C', clientId));
      kv.delete(frameworkKey('A', lastSecond, clientId));
      this.windows.delete(clientId);
      if (this.lastTouched === clientId) this.lastTouched = undefined;
    }
  }

  /** The client's window: from memory, or loaded from the store (after a restart or an eviction). */
  private window(clientId: string): StoreWindow | undefined {
    const cached = this.windows.get(clientId);
    if (cached !== undefined) return cached;
    const kv = this.view();
    const stored = kv.get(frameworkKey('C', clientId));
    if (stored === undefined) return undefined;
    const outcome = decodeOutcome(stored);
    const [ackedBelow, lastSecond] = outcome.ok ? (outcome.value as [number, number]) : [0, -1];
    const sequences = new Set<number>();
    const range = {
      start: frameworkKey('S', clientId),
      end: frameworkKey('S', clientId, Number.MAX_SAFE_INTEGER),
    };
    for (const { key } of kv.range(range)) sequences.add((key as [string, string, number])[2]);
    const w = { ackedBelow, persistedAck: ackedBelow, lastSecond, sequences };
    this.touch(clientId, w);
    return w;
  }

  /** Keeps at most `sessionsMax` windows in memory, the most recently used (the store keeps them all). */
  private touch(clientId: string, w: StoreWindow): void {
    if (this.lastTouched === clientId) return;
    this.lastTouched = clientId;
    this.windows.delete(clientId);
    this.windows.set(clientId, w);
    if (this.windows.size > this.limits.sessionsMax) this.windows.delete(this.windows.keys().next().value!);
  }
}

interface StoreWindow {
  /** What the client has acknowledged (exact, in memory). */
  ackedBelow: number;
  /** What the store's client record says: outcomes below it are gone from the store. */
  persistedAck: number;
  lastSecond: number;
  /** Sequences whose outcomes the store keeps. */
  readonly sequences: Set<number>;
}

const ONE = Uint8Array.of(1);
