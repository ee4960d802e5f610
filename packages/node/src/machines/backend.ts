/**
 * Where a machine instance keeps its state: the two backends behind one interface. Memory: the state object,
 * sessions and framework facts in memory, all in the snapshot. Store: the machine's LMDB key space, where the
 * application's writes, the sessions, the fencing terms and the framework meta of a batch commit together
 * with the applied index.
 */
import type { Command } from '@flotilla/core';
import type { FenceTable } from './apply-scope.ts';
import type { Outcome } from './outcome.ts';
import type { SessionTable } from './sessions.ts';

/** Framework facts of a machine, persisted with its state. */
export interface MachineMeta {
  /** The last applied command's timestamp (log time never goes back). */
  timestampMs: number;
  /** Running outcome hash lanes and the index of the last command folded in. */
  hash: readonly [number, number];
  hashedIndex: number;
}

export interface Backend {
  readonly appliedIndex: number;
  /** Applied index whose effects are durable (the log is kept above it). */
  readonly durableAppliedIndex: number;
  readonly sessions: SessionTable;
  readonly fences: FenceTable;
  readonly meta: MachineMeta;
  /** The state query handlers read (the memory state, or the store's read view). */
  readonly queryState: unknown;
  /**
   * Applies a batch: calls `one` per command with the state `apply` handlers write to (for the store, a
   * view whose writes commit with this batch), then persists `meta` with the batch's last index.
   */
  applyBatch(
    commands: readonly Command[],
    one: (command: Command, state: unknown) => Outcome | undefined,
  ): (Outcome | undefined)[];
  /** Runs `handler` on a state view whose writes are kept only if it returns (the store); memory: as is. */
  attempt<T>(state: unknown, handler: (state: unknown) => T): T;
  advanceAppliedIndex(index: number): void;
  snapshot(): Uint8Array;
  restore(data: Uint8Array, index: number): void;
  flushed(): Promise<void>;
}
