/**
 * One group replica's instance of a machine kind: the core `StateMachine` the replica driver applies to.
 * For each committed command it reads the framework envelope, answers retries from the session table,
 * runs the application's `apply` with an `ApplyContext`, turns a throw into a deterministic typed outcome,
 * and folds every outcome into a running hash whose checkpoints replicas compare (divergence detection).
 * What successful commands emit (`ctx.emit`) is handed on per applied batch, for the node's watches.
 */
import {
  type AnyMachine,
  ApplicationError,
  type QueryContext,
  StaleSessionError,
  UnknownOperationError,
  type WatchEvent,
} from '@flotilla/app';
import {
  type Command,
  FlotillaError,
  type GroupId,
  type SnapshotMeta,
  type StateMachine,
} from '@flotilla/core';
import { ApplyScope, Rejection } from './apply-scope.ts';
import type { Backend } from './backend.ts';
import { CHECKPOINT_OPERATION, decodeEnvelope, type Envelope } from './envelope.ts';
import { encodeOutcome, failure, type Outcome, OutcomeHash, success } from './outcome.ts';

/** Checkpoints of the outcome hash kept to compare with the leader's (older ones are just skipped). */
const CHECKPOINTS_KEPT = 16;

/** Two replicas of one group applied the same commands and got different outcomes. */
export interface DivergenceReport {
  readonly group: GroupId;
  readonly kind: string;
  /** Index of the command the compared checkpoint was taken at. */
  readonly index: number;
  /** This replica's hash there, and the leader's. */
  readonly local: string;
  readonly leader: string;
}

export interface InstanceOptions {
  readonly group: GroupId;
  readonly machine: AnyMachine;
  readonly backend: Backend;
  /**
   * A checkpoint of the outcome hash is taken at the first command at or past every multiple of this many
   * log indices: the same commands on every replica, wherever it restarted from.
   */
  readonly checkpointEntries: number;
  /** A checkpoint was taken here (the leader proposes it for the others to compare). */
  onCheckpoint?(index: number, hash: string): void;
  /** A checkpoint entry disagreed with this replica's hash at the same index. */
  onDivergence?(report: DivergenceReport): void;
  /** After every applied batch (the catalog reconciles its node from here). */
  onApplied?(): void;
  /** After every applied batch: the changes its commands emitted and the applied index (watches). */
  onChanges?(through: number, events: readonly WatchEvent[], timestampMs: number): void;
  /** The applied index was set without applying: at start (from storage) and after a snapshot restore. */
  onPosition?(index: number): void;
}

export class MachineInstance implements StateMachine<Outcome | undefined> {
  readonly group: GroupId;
  readonly machine: AnyMachine;
  private readonly backend: Backend;
  private readonly options: InstanceOptions;
  private hash: OutcomeHash;
  private readonly checkpoints = new Map<number, string>();
  /** The last divergence seen here (kept for status until the process restarts). */
  divergence: DivergenceReport | undefined;
  /** Changes emitted by the commands of the batch being applied. */
  private changes: WatchEvent[] = [];

  constructor(options: InstanceOptions) {
    this.options = options;
    this.group = options.group;
    this.machine = options.machine;
    this.backend = options.backend;
    this.hash = OutcomeHash.from(this.backend.meta.hash);
    options.onPosition?.(this.backend.appliedIndex);
  }

  get kind(): string {
    return this.machine.name;
  }

  get appliedIndex(): number {
    return this.backend.appliedIndex;
  }

  /** Applied index whose effects are durable: the replica keeps the log above it. */
  get durableAppliedIndex(): number {
    return this.backend.durableAppliedIndex;
  }

  /** The running outcome hash and the index of the last command folded in. */
  get outcomeHash(): { readonly hash: string; readonly index: number } {
    return { hash: this.hash.value, index: this.backend.meta.hashedIndex };
  }

  /** The memory state, or the store's read view (the node reads its catalog from here). */
  get state(): unknown {
    return this.backend.queryState;
  }

  apply(commands: readonly Command[]): (Outcome | undefined)[] {
    const outcomes = this.backend.applyBatch(commands, (c, state) => this.applyCommand(c, state));
    this.options.onApplied?.();
    if (this.options.onChanges !== undefined) {
      const events = this.changes;
      this.changes = [];
      this.options.onChanges(this.backend.appliedIndex, events, this.backend.meta.timestampMs);
    }
    return outcomes;
  }

  advanceAppliedIndex(index: number): void {
    this.backend.advanceAppliedIndex(index);
  }

  snapshot(): Uint8Array {
    return this.backend.snapshot();
  }

  restore(data: Uint8Array, meta: SnapshotMeta): void {
    this.backend.restore(data, meta.index);
    this.hash = OutcomeHash.from(this.backend.meta.hash);
    this.checkpoints.clear();
    this.options.onApplied?.();
    this.options.onPosition?.(this.backend.appliedIndex);
  }

  /** Resolves when every applied batch is durable (store machines; memory machines at once). */
  flushed(): Promise<void> {
    return this.backend.flushed();
  }

  /** Runs query `name` on the current state; a throw is an `ApplicationError` (reason `query-threw`). */
  query(name: string, input: unknown): unknown {
    const handler = Object.hasOwn(this.machine.query, name) ? this.machine.query[name] : undefined;
    if (handler === undefined)
      throw new UnknownOperationError(this.kind, name, Object.keys(this.machine.queries));
    const ctx: QueryContext = {
      group: this.group,
      appliedIndex: this.appliedIndex,
      timestampMs: this.backend.meta.timestampMs,
    };
    try {
      return handler(this.backend.queryState, input, ctx);
    } catch (error) {
      throw this.applicationError(name, error, 'query-threw');
    }
  }

  private applyCommand(c: Command, state: unknown): Outcome | undefined {
    let env: Envelope;
    try {
      env = decodeEnvelope(c.data);
    } catch (error) {
      const bad = failure(error);
      return this.fold(c.index, bad, encodeOutcome(bad));
    }
    const meta = this.backend.meta;
    // Log time: the leader's stamp, never behind the previous command's (a new leader's clock may be).
    meta.timestampMs = Math.max(meta.timestampMs, env.timestampMs);
    if (env.name === CHECKPOINT_OPERATION) {
      this.compare(env.input);
      return undefined;
    }
    const sessions = this.backend.sessions;
    const withSession = env.clientId !== '';
    if (withSession) {
      const verdict = sessions.check(env.clientId, env.sequence, env.ackedBelow);
      if (verdict.kind === 'duplicate') return verdict.outcome;
      if (verdict.kind === 'stale') {
        const stale = failure(new StaleSessionError(this.group, env.clientId, env.sequence));
        return this.fold(c.index, stale, encodeOutcome(stale));
      }
    }
    const outcome = this.run(c, env, state);
    const encoded = encodeOutcome(outcome);
    if (withSession)
      sessions.record(
        env.clientId,
        env.sequence,
        env.ackedBelow,
        outcome,
        encoded,
        c.index,
        meta.timestampMs,
      );
    return this.fold(c.index, outcome, encoded);
  }

  private run(c: Command, env: Envelope, state: unknown): Outcome {
    const handler = Object.hasOwn(this.machine.apply, env.name) ? this.machine.apply[env.name] : undefined;
    if (handler === undefined)
      return failure(new UnknownOperationError(this.kind, env.name, Object.keys(this.machine.commands)));
    const scope = new ApplyScope(
      this.group,
      c.index,
      c.term,
      this.backend.meta.timestampMs,
      env.fence,
      this.backend.fences,
    );
    try {
      const value = this.backend.attempt(state, (s) => handler(s, env.input, scope));
      const fence = scope.acceptedFence;
      if (fence !== undefined) this.backend.fences.setTerm(fence.group, fence.term);
      const emitted = scope.emitted;
      if (emitted !== undefined && this.options.onChanges !== undefined)
        for (const [key, data] of emitted) this.changes.push([c.index, key, data]);
      return success(value);
    } catch (error) {
      return failure(this.applicationError(env.name, error, 'apply-threw'));
    }
  }

  /** A handler's throw as the typed error its caller receives: the same on every replica. */
  private applicationError(operation: string, error: unknown, unexpected: string): FlotillaError {
    const where = { group: this.group, kind: this.kind, operation };
    if (error instanceof Rejection)
      return new ApplicationError(where, error.reason, error.message, error.details);
    if (error instanceof FlotillaError) return error;
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return new ApplicationError(where, unexpected, text);
  }

  /** Folds an outcome (its encoded bytes) into the running hash; takes a checkpoint past a boundary. */
  private fold(index: number, outcome: Outcome, encoded: Uint8Array): Outcome {
    this.hash.add(encoded);
    const meta = this.backend.meta;
    const every = this.options.checkpointEntries;
    const crossed = Math.floor(index / every) > Math.floor(meta.hashedIndex / every);
    meta.hash = this.hash.lanes;
    meta.hashedIndex = index;
    if (crossed) {
      const value = this.hash.value;
      this.checkpoints.set(index, value);
      if (this.checkpoints.size > CHECKPOINTS_KEPT)
        this.checkpoints.delete(this.checkpoints.keys().next().value!);
      this.options.onCheckpoint?.(index, value);
    }
    return outcome;
  }

  /** A checkpoint entry from the leader: compare with ours at the same index, if we still have it. */
  private compare(input: unknown): void {
    if (!Array.isArray(input) || typeof input[0] !== 'number' || typeof input[1] !== 'string') return;
    const [index, leader] = input as [number, string];
    const local = this.checkpoints.get(index);
    if (local === undefined || local === leader) return;
    this.divergence = { group: this.group, kind: this.kind, index, local, leader };
    this.options.onDivergence?.(this.divergence);
  }
}
