/**
 * Standalone mode (no `[cluster]` section): commands are applied directly to durable LMDB-backed state
 * machines — no Raft, no replication overhead — with the same command format, results and queries as the
 * cluster, so the same application code runs in both modes.
 */
import { decodeKvCommand, type GroupId, type KvCommand, type KvResult } from '@flotilla/core';
import type { KvStateMachine, KvView, NodeStorage } from '@flotilla/storage-lmdb';
import { Packr } from 'msgpackr';
import { UnknownGroupError } from './errors.ts';
import type { CommandExecutor, ReadConsistency, RequestOptions } from './executor.ts';
import type { GroupSpec } from './layout.ts';
import { type KvReader, type Query, runQuery } from './queries.ts';

const packr = new Packr({ useRecords: false, moreTypes: false });
/** Results kept per client session (as `ClientSessions`): at least the client's commands in flight. */
const SESSION_WINDOW_MAX = 1_024;

/** Stored value of a key: [value, index of the write]. Sessions live under a reserved key prefix. */
function kvApply(command: { index: number; data: Uint8Array }, kv: KvView): KvResult {
  let cmd: KvCommand;
  let clientId: string;
  let sequence: number;
  try {
    ({ clientId, sequence, command: cmd } = decodeKvCommand(command.data));
  } catch {
    return { ok: false, error: 'bad-command' };
  }
  // Sessions as in `ClientSessions`, stored per result so that each command writes O(1) keys: a result is
  // kept for the last SESSION_WINDOW_MAX sequences of the client; older ones are refused as stale.
  const resultKey = (seq: number) => `\u0000s:${clientId}:${seq}`;
  const evictedKey = `\u0000s:${clientId}`;
  if (clientId !== '') {
    const stored = kv.get(resultKey(sequence));
    if (stored) return packr.unpack(stored) as KvResult;
    const evicted = kv.get(evictedKey);
    if (evicted && sequence <= (packr.unpack(evicted) as number))
      return { ok: false, error: 'stale-session' };
  }
  const read = (key: string): string | null => {
    const v = kv.get(`k:${key}`);
    return v ? (packr.unpack(v) as [string, number])[0] : null;
  };
  const previous = read(cmd.key);
  let result: KvResult;
  if (cmd.op === 'put' || (cmd.op === 'cas' && previous === cmd.expected)) {
    kv.put(`k:${cmd.key}`, packr.pack([cmd.value, command.index]));
    result = { ok: true, previous, index: command.index };
  } else if (cmd.op === 'delete') {
    kv.delete(`k:${cmd.key}`);
    result = { ok: true, previous, index: command.index };
  } else {
    result = { ok: false, error: 'cas-mismatch', current: previous };
  }
  if (clientId !== '') {
    kv.put(resultKey(sequence), packr.pack(result));
    const old = sequence - SESSION_WINDOW_MAX;
    if (old > 0) {
      kv.delete(resultKey(old));
      const evicted = kv.get(evictedKey);
      if (!evicted || (packr.unpack(evicted) as number) < old) kv.put(evictedKey, packr.pack(old));
    }
  }
  return result;
}

function reader(sm: KvStateMachine<KvResult>): KvReader {
  const entry = (key: string) => {
    const v = sm.get(`k:${key}`);
    return v ? (packr.unpack(v) as [string, number]) : undefined;
  };
  return { get: (key) => entry(key)?.[0] ?? null, writtenAt: (key) => entry(key)?.[1] ?? 0 };
}

export class DirectExecutor implements CommandExecutor {
  private readonly machines = new Map<GroupId, KvStateMachine<KvResult>>();

  constructor(storage: NodeStorage, layout: readonly GroupSpec[]) {
    for (const spec of layout) {
      if (spec.kind !== 'kv') continue;
      this.machines.set(spec.id, storage.kvStateMachine(spec.id, kvApply) as KvStateMachine<KvResult>);
    }
  }

  private machine(group: GroupId): KvStateMachine<KvResult> {
    const sm = this.machines.get(group);
    if (!sm) throw new UnknownGroupError(group);
    return sm;
  }

  async execute(group: GroupId, command: Uint8Array, _options?: RequestOptions): Promise<unknown> {
    const sm = this.machine(group);
    const index = sm.appliedIndex + 1;
    const [result] = sm.apply([{ index, term: 1, data: command }]);
    // Acknowledge only durable writes: a crash right after the reply must not lose it.
    await sm.flushed();
    return result;
  }

  async read(
    group: GroupId,
    query: Query,
    _consistency?: ReadConsistency,
    _options?: RequestOptions,
  ): Promise<unknown> {
    // One copy, no replication: every read is linearizable.
    return runQuery(reader(this.machine(group)), query);
  }

  groups(): GroupId[] {
    return [...this.machines.keys()];
  }
}
