/**
 * `Kv`: the key-value calls (put, get, delete, cas) over any `Calls` — the client's, a node's, an actor's.
 * Keys route to their `kv` shard (the shard set `user` unless told otherwise) by the shared stable hash.
 */
import type { CallOptions, Calls, QueryOptions, ReadConsistency, Target } from '@flotilla/app';
import { type KvCasResult, KvMachine, type KvReadResult, type KvWriteResult } from './machine.ts';

export interface KvOptions {
  /** The shard set keys route in (default `user`). */
  readonly shards?: string;
}

export class Kv {
  private readonly shards: string;

  constructor(
    private readonly calls: Calls,
    options: KvOptions = {},
  ) {
    this.shards = options.shards ?? 'user';
  }

  /** The key's shard, or an explicit group. */
  private target(key: string, group: string | undefined): Target {
    return group ?? { key, shards: this.shards };
  }

  put(key: string, value: string, options: CallOptions & { group?: string } = {}): Promise<KvWriteResult> {
    return this.calls.execute(KvMachine, this.target(key, options.group), 'put', { key, value }, options);
  }

  delete(key: string, options: CallOptions & { group?: string } = {}): Promise<KvWriteResult> {
    return this.calls.execute(KvMachine, this.target(key, options.group), 'delete', { key }, options);
  }

  cas(
    key: string,
    expected: string | null,
    value: string,
    options: CallOptions & { group?: string } = {},
  ): Promise<KvCasResult> {
    return this.calls.execute(
      KvMachine,
      this.target(key, options.group),
      'cas',
      { key, expected, value },
      options,
    );
  }

  get(
    key: string,
    consistency: ReadConsistency = 'linearizable',
    options: QueryOptions & { group?: string } = {},
  ): Promise<KvReadResult> {
    return this.calls.query(
      KvMachine,
      this.target(key, options.group),
      'get',
      { key },
      { ...options, consistency },
    );
  }
}
