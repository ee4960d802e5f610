/**
 * The memory backend: the application's state object, its sessions, fencing terms and framework meta, all
 * in memory. Durability comes from the Raft log plus periodic snapshots: after a restart the latest snapshot
 * is restored and the log replayed. A command that throws may leave its partial writes (document it; store
 * machines discard them).
 */

import type { MemoryState } from '@flotilla/app';
import { assert, type Command, type GroupId } from '@flotilla/core';
import { Packr } from 'msgpackr';
import type { FenceTable } from './apply-scope.ts';
import type { Backend, MachineMeta } from './backend.ts';
import { joinChunks, splitChunks } from './chunks.ts';
import { type Outcome, OutcomeHash } from './outcome.ts';
import { MemorySessions, type SessionLimits } from './sessions.ts';

/** Snapshot chunks keep Maps, Sets, Dates and class-free objects as they were (msgpackr structured clone). */
const packr = new Packr({ structuredClone: true });
const FORMAT = 1;

export class MemoryBackend implements Backend {
  private state: unknown;
  private applied = 0;
  readonly sessions: MemorySessions;
  private readonly fenceTerms = new Map<GroupId, number>();
  readonly fences: FenceTable = {
    termOf: (group) => this.fenceTerms.get(group) ?? 0,
    setTerm: (group, term) => void this.fenceTerms.set(group, term),
  };
  meta: MachineMeta = { timestampMs: 0, hash: new OutcomeHash().lanes, hashedIndex: 0 };

  constructor(
    private readonly spec: MemoryState<unknown>,
    limits: SessionLimits,
  ) {
    this.state = spec.init();
    this.sessions = new MemorySessions(limits);
  }

  get appliedIndex(): number {
    return this.applied;
  }

  /** Nothing is durable beyond the log: the log is kept down to the last snapshot (the replica's rule). */
  get durableAppliedIndex(): number {
    return this.applied;
  }

  get queryState(): unknown {
    return this.state;
  }

  applyBatch(
    commands: readonly Command[],
    one: (command: Command, state: unknown) => Outcome | undefined,
  ): (Outcome | undefined)[] {
    const out: (Outcome | undefined)[] = [];
    for (const c of commands) {
      assert(c.index > this.applied, () => `command ${c.index} applied after ${this.applied}`);
      this.applied = c.index;
      out.push(one(c, this.state));
    }
    return out;
  }

  attempt<T>(state: unknown, handler: (state: unknown) => T): T {
    return handler(state);
  }

  advanceAppliedIndex(index: number): void {
    if (index > this.applied) this.applied = index;
  }

  /** Chunk 0 is the framework's (applied index, meta, fences, sessions); the application's follow. */
  snapshot(): Uint8Array {
    const head = packr.pack([
      FORMAT,
      this.applied,
      this.meta,
      [...this.fenceTerms],
      this.sessions.toSnapshot(),
    ]);
    const chunks = this.spec.snapshot ? this.spec.snapshot(this.state) : [this.state];
    return joinChunks(
      (function* () {
        yield head;
        for (const chunk of chunks) yield packr.pack(chunk);
      })(),
    );
  }

  restore(data: Uint8Array, index: number): void {
    const chunks = splitChunks(data);
    const first = chunks.next();
    assert(!first.done, 'a memory snapshot starts with the framework chunk');
    const [format, applied, meta, fences, sessions] = packr.unpack(first.value) as [
      number,
      number,
      MachineMeta,
      [GroupId, number][],
      Parameters<MemorySessions['restore']>[0],
    ];
    assert(format === FORMAT, () => `memory snapshot format ${format} is not ${FORMAT}`);
    assert(applied === index, () => `snapshot data at ${applied} does not match its meta at ${index}`);
    const decoded = (function* () {
      for (const c of chunks) yield packr.unpack(c);
    })();
    this.state = this.spec.restore ? this.spec.restore(decoded) : decoded.next().value;
    this.applied = applied;
    this.meta = meta;
    this.fenceTerms.clear();
    for (const [g, t] of fences) this.fenceTerms.set(g, t);
    this.sessions.restore(sessions);
  }

  flushed(): Promise<void> {
    return Promise.resolve();
  }
}
