/**
 * An in-memory key-value `StateMachine` with client sessions: the reference machine of the core's tests and
 * simulator (applications' machines run in @flotilla/node, whose framework envelope carries sessions).
 */
import { Packr } from 'msgpackr';
import { assert } from '../src/assert.ts';
import { InvalidMessageError } from '../src/errors.ts';
import { assertNever } from '../src/messages.ts';
import type { Command, StateMachine } from '../src/state-machine.ts';
import type { SnapshotMeta } from '../src/types.ts';
import { ClientSessions } from './sessions.ts';

const packr = new Packr({ useRecords: false, moreTypes: false });

export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string };

export type KvResult =
  | { readonly ok: true; readonly previous: string | null; readonly index: number }
  | {
      readonly ok: false;
      readonly error: 'stale-session' | 'cas-mismatch' | 'bad-command';
      readonly current?: string | null;
    };

const KV_OPS = ['put', 'delete', 'cas'] as const;

/** A key-value command with the client session it was sent under (`clientId` '' = no session). */
export interface KvSessionCommand {
  readonly clientId: string;
  readonly sequence: number;
  readonly command: KvCommand;
}

/**
 * Key-value commands travel as one flat msgpack tuple `[clientId, sequence, op, key, value?, expected?]`:
 * one encode on the client and one decode on each replica (a session envelope around a separately packed
 * payload cost two of each).
 */
export function encodeKvCommand(
  cmd: KvCommand,
  session: { clientId: string; sequence: number } = { clientId: '', sequence: 0 },
): Uint8Array {
  const op = KV_OPS.indexOf(cmd.op);
  const { clientId, sequence } = session;
  const tuple =
    cmd.op === 'put'
      ? [clientId, sequence, op, cmd.key, cmd.value]
      : cmd.op === 'cas'
        ? [clientId, sequence, op, cmd.key, cmd.value, cmd.expected]
        : [clientId, sequence, op, cmd.key];
  return packr.pack(tuple);
}

/** Decodes and validates an encoded command; throws `InvalidMessageError` when it is not one. */
export function decodeKvCommand(bytes: Uint8Array): KvSessionCommand {
  let t: unknown;
  try {
    t = packr.unpack(bytes);
  } catch (error) {
    throw new InvalidMessageError(`kv command: ${(error as Error).message}`);
  }
  if (!Array.isArray(t) || t.length < 4 || typeof t[0] !== 'string' || typeof t[3] !== 'string') {
    throw new InvalidMessageError('kv command is not [clientId, sequence, op, key, …]');
  }
  const [clientId, sequence, op, key, value, expected] = t as [
    string,
    unknown,
    unknown,
    string,
    unknown,
    unknown,
  ];
  if (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 0) {
    throw new InvalidMessageError('kv command sequence is not a uint');
  }
  const command = kvCommandOf(op, key, value, expected);
  if (!command)
    throw new InvalidMessageError(`kv command has a bad shape: ${JSON.stringify(t).slice(0, 80)}`);
  return { clientId, sequence, command };
}

function kvCommandOf(op: unknown, key: string, value: unknown, expected: unknown): KvCommand | undefined {
  switch (KV_OPS[op as number]) {
    case 'put':
      return typeof value === 'string' ? { op: 'put', key, value } : undefined;
    case 'delete':
      return { op: 'delete', key };
    case 'cas':
      return typeof value === 'string' && (typeof expected === 'string' || expected === null)
        ? { op: 'cas', key, value, expected }
        : undefined;
    default:
      return undefined;
  }
}

export class MemoryKvStateMachine implements StateMachine<KvResult> {
  private data = new Map<string, { value: string; index: number }>();
  private readonly sessions: ClientSessions<KvResult>;
  private applied = 0;

  constructor(options: { sessionsMax?: number; sessionWindowMax?: number } = {}) {
    this.sessions = new ClientSessions(options.sessionsMax, options.sessionWindowMax);
  }

  get appliedIndex(): number {
    return this.applied;
  }

  get(key: string): string | null {
    return this.data.get(key)?.value ?? null;
  }

  /** The index of the command that last wrote `key` (0 when never written). */
  writtenAt(key: string): number {
    return this.data.get(key)?.index ?? 0;
  }

  get size(): number {
    return this.data.size;
  }

  apply(commands: readonly Command[]): KvResult[] {
    return commands.map((c) => this.applyOne(c));
  }

  private applyOne(c: Command): KvResult {
    assert(c.index > this.applied, () => `command ${c.index} applied after ${this.applied}`);
    this.applied = c.index;
    let session: KvSessionCommand;
    try {
      session = decodeKvCommand(c.data);
    } catch {
      return { ok: false, error: 'bad-command' };
    }
    const cmd = session.command;
    const verdict = this.sessions.check(session.clientId, session.sequence);
    if (verdict.kind === 'duplicate') return verdict.result;
    if (verdict.kind === 'stale') return { ok: false, error: 'stale-session' };
    const result = this.execute(cmd, c.index);
    this.sessions.record(session.clientId, session.sequence, result, c.index);
    return result;
  }

  private execute(cmd: KvCommand, index: number): KvResult {
    const entry = this.data.get(cmd.key);
    const previous = entry?.value ?? null;
    switch (cmd.op) {
      case 'put':
        this.write(cmd.key, entry, cmd.value, index);
        return { ok: true, previous, index };
      case 'delete':
        if (entry) this.data.delete(cmd.key);
        return { ok: true, previous, index };
      case 'cas':
        if (previous !== cmd.expected) return { ok: false, error: 'cas-mismatch', current: previous };
        this.write(cmd.key, entry, cmd.value, index);
        return { ok: true, previous, index };
      default:
        return assertNever(cmd);
    }
  }

  /** Overwrites in place when the key exists (one map lookup per command, no allocation). */
  private write(
    key: string,
    entry: { value: string; index: number } | undefined,
    value: string,
    index: number,
  ): void {
    if (entry) {
      entry.value = value;
      entry.index = index;
    } else {
      this.data.set(key, { value, index });
    }
  }

  advanceAppliedIndex(index: number): void {
    if (index > this.applied) this.applied = index;
  }

  snapshot(): Uint8Array {
    return packr.pack([
      this.applied,
      [...this.data].map(([k, v]) => [k, v.value, v.index]),
      this.sessions.toSnapshot(),
    ]);
  }

  restore(data: Uint8Array, meta: SnapshotMeta): void {
    const [applied, rows, sessions] = packr.unpack(data) as [
      number,
      [string, string, number][],
      [string, number, [number, KvResult][], number][],
    ];
    assert(
      applied === meta.index,
      () => `snapshot data at ${applied} does not match its meta at ${meta.index}`,
    );
    this.data = new Map(rows.map(([k, value, index]) => [k, { value, index }]));
    this.sessions.restore(sessions);
    this.applied = applied;
  }
}
