/**
 * The `CommandExecutor` API the application talks to, the same with or without a cluster:
 * `execute` applies a command to a group's state machine and returns its result; `read` answers a query at
 * the asked consistency. `RaftExecutor` (raft-executor.ts) replicates first; `DirectExecutor`
 * (direct-executor.ts) applies at once.
 */
import type { GroupId } from '@flotilla/core';
import type { Query } from './queries.ts';

/**
 * - `linearizable`: ReadIndex (thesis §6.4); sees every write acknowledged before the read began.
 * - `lease`: the leader answers from its lease when valid (bounded clock drift assumed), else as linearizable.
 * - `stale`: the local replica's state, possibly behind; no coordination.
 */
export type ReadConsistency = 'linearizable' | 'lease' | 'stale';

export interface RequestOptions {
  /** Bound on the whole request including waiting for a leader and retries. */
  readonly timeoutMs?: number;
}

export interface CommandExecutor {
  execute(group: GroupId, command: Uint8Array, options?: RequestOptions): Promise<unknown>;
  read(
    group: GroupId,
    query: Query,
    consistency?: ReadConsistency,
    options?: RequestOptions,
  ): Promise<unknown>;
}
