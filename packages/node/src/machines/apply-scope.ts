/**
 * The `ApplyContext` a machine's `apply` receives for one command: replicated facts (index, term, the
 * leader's timestamp, the fencing token), a PRNG seeded from (group, index), the two ways to refuse a
 * command — both deterministic, so every replica records the same outcome — and the changes it emits.
 */
import { type ApplyContext, type Fence, StaleFenceError, WATCH_KEY_CHARS_MAX } from '@flotilla/app';
import { type GroupId, stableHash32, Xoshiro128 } from '@flotilla/core';

/** The highest fencing term a group has accepted from each other group. */
export interface FenceTable {
  termOf(sourceGroup: GroupId): number;
  setTerm(sourceGroup: GroupId, term: number): void;
}

/** A refusal through `ctx.reject`: becomes an `ApplicationError` with this reason. */
export class Rejection extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly details: unknown,
  ) {
    super(message);
  }
}

export class ApplyScope implements ApplyContext {
  private rng: Xoshiro128 | undefined;
  /** A fence from another group accepted by `requireFence`; recorded only if the command succeeds. */
  acceptedFence: Fence | undefined;
  /** Changes emitted by the command (`[key, data]`); kept only if it succeeds. */
  emitted: [string, unknown][] | undefined;

  constructor(
    readonly group: GroupId,
    readonly index: number,
    readonly term: number,
    readonly timestampMs: number,
    readonly fence: Fence | undefined,
    private readonly fences: FenceTable,
  ) {}

  random(): number {
    this.rng ??= new Xoshiro128((stableHash32(this.group) ^ Math.imul(this.index, 0x9e3779b1)) >>> 0);
    return this.rng.float();
  }

  requireFence(): void {
    const fence = this.fence;
    if (fence === undefined) throw new StaleFenceError(this.group, undefined, this.term);
    if (fence.group === this.group) {
      // The entry's term is the term of the leader that appended it: only that leader's actor is current.
      if (fence.term !== this.term) throw new StaleFenceError(this.group, fence, this.term);
      return;
    }
    const seen = this.fences.termOf(fence.group);
    if (fence.term < seen) throw new StaleFenceError(this.group, fence, seen);
    if (fence.term > seen) this.acceptedFence = fence;
  }

  reject(reason: string, message: string, details?: unknown): never {
    throw new Rejection(reason, message, details);
  }

  emit(key: string, data: unknown): void {
    if (typeof key !== 'string' || key.length === 0 || key.length > WATCH_KEY_CHARS_MAX)
      throw new TypeError(`emit: a change's key is a string of 1 to ${WATCH_KEY_CHARS_MAX} characters`);
    if (this.emitted === undefined) this.emitted = [];
    this.emitted.push([key, data]);
  }
}
