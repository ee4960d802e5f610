/**
 * Client sessions for exactly-once apply (thesis §6.3) of the simulator's reference machine: a command carries
 * (client id, sequence); the machine remembers each client's recent results, so a retried command returns
 * the stored result instead of applying twice. Deterministic and bounded: the least recently used is evicted.
 */
import { Packr } from 'msgpackr';
import { InvalidMessageError } from '../src/errors.ts';

const packr = new Packr({ useRecords: false, moreTypes: false });

export interface SessionCommand {
  /** A client's unique id; '' means "no session" (the command is applied every time it commits). */
  readonly clientId: string;
  /** Increases by one per new command of this client; a retry reuses the same sequence. */
  readonly sequence: number;
  readonly payload: Uint8Array;
}

export function encodeSessionCommand(cmd: SessionCommand): Uint8Array {
  return packr.pack([cmd.clientId, cmd.sequence, cmd.payload]);
}

export function decodeSessionCommand(bytes: Uint8Array): SessionCommand {
  let t: unknown;
  try {
    t = packr.unpack(bytes);
  } catch (error) {
    throw new InvalidMessageError(`session command: ${(error as Error).message}`);
  }
  if (!Array.isArray(t) || t.length !== 3) throw new InvalidMessageError('session command is not a 3-tuple');
  const [clientId, sequence, payload] = t as unknown[];
  if (typeof clientId !== 'string') throw new InvalidMessageError('session client id is not a string');
  if (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 0) {
    throw new InvalidMessageError('session sequence is not a uint');
  }
  if (!(payload instanceof Uint8Array)) throw new InvalidMessageError('session payload is not binary');
  return { clientId, sequence, payload };
}

/** What a session says about a command before it is applied. */
export type SessionVerdict<R> =
  | { readonly kind: 'new' }
  | { readonly kind: 'duplicate'; readonly result: R }
  /** Older than every result still kept: it may have been applied, and its result is gone. */
  | { readonly kind: 'stale' };

const NEW: SessionVerdict<never> = Object.freeze({ kind: 'new' });
const STALE: SessionVerdict<never> = Object.freeze({ kind: 'stale' });

/**
 * One client's window of recent results. A client may have many commands in flight (they can apply out of
 * order after retries or leader changes), so the results of its last `windowMax` sequences are kept; a
 * sequence at or below `evictedUpTo` whose result is gone is too old to tell and is refused as stale.
 */
export interface SessionWindow<R> {
  evictedUpTo: number;
  maxSequence: number;
  results: Map<number, R>;
}

export function sessionCheck<R>(window: SessionWindow<R> | undefined, sequence: number): SessionVerdict<R> {
  if (!window) return NEW;
  const result = window.results.get(sequence);
  if (result !== undefined || window.results.has(sequence)) return { kind: 'duplicate', result: result as R };
  return sequence <= window.evictedUpTo ? STALE : NEW;
}

/** Records a result; the window slides by sequence number (O(1) per command when sequences grow). */
export function sessionRecord<R>(
  window: SessionWindow<R>,
  sequence: number,
  result: R,
  windowMax: number,
): void {
  window.results.set(sequence, result);
  if (sequence <= window.maxSequence) return;
  window.maxSequence = sequence;
  const floor = sequence - windowMax;
  if (floor <= window.evictedUpTo) return;
  // Usually exactly one result leaves the window; a client that skipped ahead sweeps what is left behind.
  if (floor - window.evictedUpTo <= window.results.size) {
    for (let s = window.evictedUpTo + 1; s <= floor; s++) window.results.delete(s);
  } else {
    for (const s of window.results.keys()) if (s <= floor) window.results.delete(s);
  }
  window.evictedUpTo = floor;
}

export class ClientSessions<R> {
  private sessions = new Map<string, SessionWindow<R> & { lastIndex: number }>();

  /**
   * @param sessionsMax clients remembered (the least recently active are evicted first, a tenth at a time)
   * @param windowMax results kept per client: at least the client's commands in flight
   */
  constructor(
    readonly sessionsMax = 1_000,
    readonly windowMax = 1_024,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  check(clientId: string, sequence: number): SessionVerdict<R> {
    if (clientId === '') return NEW;
    return sessionCheck(this.sessions.get(clientId), sequence);
  }

  /** Records the result of a newly applied command at log `index`. */
  record(clientId: string, sequence: number, result: R, index: number): void {
    if (clientId === '') return;
    let session = this.sessions.get(clientId);
    if (!session) {
      session = { evictedUpTo: 0, maxSequence: 0, results: new Map<number, R>(), lastIndex: index };
      this.sessions.set(clientId, session);
      if (this.sessions.size > this.sessionsMax) this.evictLeastRecent();
    }
    session.lastIndex = index;
    sessionRecord(session, sequence, result, this.windowMax);
  }

  /** Evicts the least recently active tenth (deterministic: every replica applies the same commands). */
  private evictLeastRecent(): void {
    const byAge = [...this.sessions].sort(
      (a, b) => a[1].lastIndex - b[1].lastIndex || (a[0] < b[0] ? -1 : 1),
    );
    const count = Math.max(1, Math.ceil(this.sessionsMax / 10), this.sessions.size - this.sessionsMax);
    for (const [id] of byAge.slice(0, count)) this.sessions.delete(id);
  }

  /** Plain data for a snapshot: [client, evictedUpTo, [[sequence, result]…], lastIndex]. */
  toSnapshot(): [string, number, [number, R][], number][] {
    return [...this.sessions].map(([id, s]) => [id, s.evictedUpTo, [...s.results], s.lastIndex]);
  }

  restore(rows: readonly [string, number, [number, R][], number][]): void {
    this.sessions = new Map(
      rows.map(([id, evictedUpTo, results, lastIndex]) => {
        const maxSequence = results.reduce((m, [s]) => Math.max(m, s), evictedUpTo);
        return [id, { evictedUpTo, maxSequence, results: new Map(results), lastIndex }];
      }),
    );
  }
}
