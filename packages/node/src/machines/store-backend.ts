/**
 * The store backend: a machine whose state lives in its LMDB key space (storage-lmdb's `KvStateMachine`).
 * A batch of applied commands — the application's writes, the session outcomes, fencing terms and the
 * framework meta — commits in one transaction with the applied index; the log is kept until that commit is
 * durable, and a restart resumes at applied + 1 with the state as it is on disk.
 */
import { assert, type Command, EMPTY_CONF_STATE, type GroupId } from '@flotilla/core';
import type { KvApply, KvStateMachine, KvView } from '@flotilla/storage-lmdb';
import { Packr } from 'msgpackr';
import type { FenceTable } from './apply-scope.ts';
import type { Backend, MachineMeta } from './backend.ts';
import { type Outcome, OutcomeHash } from './outcome.ts';
import { type SessionLimits, StoreSessions } from './sessions.ts';
import { frameworkKey } from './store-keys.ts';
import { CommandLayer, StoreView } from './store-view.ts';

const packr = new Packr({ useRecords: false });
const META_KEY = frameworkKey('M');

/** Opens the group's LMDB machine with the apply function the backend gives (one per group per process). */
export type OpenStore = (apply: KvApply<Outcome | undefined>) => KvStateMachine<Outcome | undefined>;

export class StoreBackend implements Backend {
  private readonly sm: KvStateMachine<Outcome | undefined>;
  /** The batch view while `applyBatch` runs; the read view otherwise. */
  private batch: KvView | undefined;
  private current:
    | { one: (command: Command, state: unknown) => Outcome | undefined; left: number }
    | undefined;
  readonly sessions: StoreSessions;
  readonly fences: FenceTable;
  meta: MachineMeta;
  readonly queryState: StoreView;

  constructor(open: OpenStore, limits: SessionLimits) {
    this.sm = open((command, kv) => this.applyOne(command, kv));
    const read: KvView = {
      get: (key) => this.sm.get(key),
      range: (range) => this.sm.range(range),
      put: () => assert(false, 'the read view is not written'),
      delete: () => assert(false, 'the read view is not written'),
    };
    const view = () => this.batch ?? read;
    this.sessions = new StoreSessions(view, limits);
    this.fences = {
      termOf: (group: GroupId) => {
        const bytes = view().get(frameworkKey('F', group));
        return bytes === undefined ? 0 : (packr.unpack(bytes) as number);
      },
      setTerm: (group: GroupId, term: number) => view().put(frameworkKey('F', group), packr.pack(term)),
    };
    this.queryState = new StoreView(read, false);
    this.meta = this.readMeta();
  }

  private readMeta(): MachineMeta {
    const bytes = this.sm.get(META_KEY);
    if (bytes === undefined) return { timestampMs: 0, hash: new OutcomeHash().lanes, hashedIndex: 0 };
    const [timestampMs, a, b, hashedIndex] = packr.unpack(bytes) as [number, number, number, number];
    return { timestampMs, hash: [a, b], hashedIndex };
  }

  get appliedIndex(): number {
    return this.sm.appliedIndex;
  }

  get durableAppliedIndex(): number {
    return this.sm.durableAppliedIndex;
  }

  applyBatch(
    commands: readonly Command[],
    one: (command: Command, state: unknown) => Outcome | undefined,
  ): (Outcome | undefined)[] {
    this.current = { one, left: commands.length };
    try {
      return this.sm.apply(commands);
    } finally {
      this.current = undefined;
      this.batch = undefined;
    }
  }

  private applyOne(command: Command, kv: KvView): Outcome | undefined {
    const current = this.current;
    assert(current !== undefined, 'store machine applied outside applyBatch');
    this.batch = kv;
    const outcome = current.one(command, new StoreView(kv, true));
    // Idle sessions and the meta of the batch ride with its last command, inside the same transaction.
    if (--current.left === 0) {
      this.sessions.sweepIdle(this.meta.timestampMs);
      const m = this.meta;
      kv.put(META_KEY, packr.pack([m.timestampMs, m.hash[0], m.hash[1], m.hashedIndex]));
    }
    return outcome;
  }

  attempt<T>(_state: unknown, handler: (state: unknown) => T): T {
    const batch = this.batch;
    assert(batch !== undefined, 'attempt outside a batch');
    const layer = new CommandLayer(batch);
    const result = handler(new StoreView(layer, true));
    layer.commit();
    return result;
  }

  advanceAppliedIndex(index: number): void {
    this.sm.advanceAppliedIndex(index);
  }

  snapshot(): Uint8Array {
    return this.sm.snapshot();
  }

  restore(data: Uint8Array, index: number): void {
    this.sm.restore(data, { index, term: 0, confState: EMPTY_CONF_STATE });
    this.sessions.clear();
    this.meta = this.readMeta();
  }

  flushed(): Promise<void> {
    return this.sm.flushed();
  }
}
