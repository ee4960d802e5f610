/**
 * Client sessions for exactly-once apply (thesis §6.3): a command carries (client id, sequence); the state
 * machine remembers each client's last sequence and its result, so a retried command returns the stored
 * result instead of applying twice. Deterministic and bounded: the least recently used session is evicted.
 */
import { Packr } from 'msgpackr';
import { InvalidMessageError } from './errors.ts';

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
  /** Older than the last one seen: its result was already returned and is no longer kept. */
  | { readonly kind: 'stale' };

interface Session<R> {
  sequence: number;
  result: R;
  lastIndex: number;
}

export class ClientSessions<R> {
  private sessions = new Map<string, Session<R>>();

  constructor(readonly sessionsMax = 10_000) {}

  get size(): number {
    return this.sessions.size;
  }

  check(clientId: string, sequence: number): SessionVerdict<R> {
    if (clientId === '') return { kind: 'new' };
    const s = this.sessions.get(clientId);
    if (!s || sequence > s.sequence) return { kind: 'new' };
    if (sequence === s.sequence) return { kind: 'duplicate', result: s.result };
    return { kind: 'stale' };
  }

  /** Records the result of a newly applied command at log `index`. */
  record(clientId: string, sequence: number, result: R, index: number): void {
    if (clientId === '') return;
    this.sessions.delete(clientId); // re-insert: Map order is the LRU order
    this.sessions.set(clientId, { sequence, result, lastIndex: index });
    if (this.sessions.size > this.sessionsMax) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
    }
  }

  /** Plain data for a snapshot, in LRU order. */
  toSnapshot(): [string, number, R, number][] {
    return [...this.sessions].map(([id, s]) => [id, s.sequence, s.result, s.lastIndex]);
  }

  restore(rows: readonly [string, number, R, number][]): void {
    this.sessions = new Map(
      rows.map(([id, sequence, result, lastIndex]) => [id, { sequence, result, lastIndex }]),
    );
  }
}
