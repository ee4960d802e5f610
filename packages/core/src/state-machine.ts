/**
 * The replicated state machine contract: deterministic apply of committed commands, snapshot and restore.
 * Exactly-once across restarts comes from storing the applied index atomically with the data it produced.
 */
import type { SnapshotMeta } from './types.ts';

/** A committed command handed to the state machine. Leader no-ops and conf changes are never passed in. */
export interface Command {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
}

/**
 * Durability contract:
 * - `apply` is deterministic: the same commands from the same state produce the same state and results on
 *   every replica. It reads no clock and no randomness (time, if needed, travels inside the command).
 * - The state produced by a command and `appliedIndex` become durable together (one transaction), so a
 *   restart never applies a command twice and never skips one: it resumes at `appliedIndex + 1`.
 *   Implementations may make them durable later than `apply` returns (the log keeps the commands until
 *   then), but never one without the other.
 * - `snapshot()` returns the image of the state at `appliedIndex`; `restore` replaces the whole state by
 *   one and sets `appliedIndex` to `meta.index`.
 */
export interface StateMachine<Result = unknown> {
  /** Index of the last command whose effects are in the state (0 for a fresh machine). */
  readonly appliedIndex: number;
  /** Applies commands in log order; returns one result per command, in the same order. */
  apply(commands: readonly Command[]): Result[];
  /**
   * Tells the machine that every index up to `index` has been applied even though some were not commands
   * (no-ops, conf changes), so that `appliedIndex` can move past them.
   */
  advanceAppliedIndex(index: number): void;
  snapshot(): Uint8Array;
  restore(data: Uint8Array, meta: SnapshotMeta): void;
}
