/**
 * The asks a thread is waiting on: id → promise callbacks and timeout. Replies arrive from any thread by id;
 * a timeout rejects with `AskTimeoutError`, a dead target thread (or node) rejects its asks at once.
 */
import { AskTimeoutError, TooManyAsksError } from './errors.ts';
import type { Scheduler, TimerHandle } from './scheduler.ts';

interface PendingAsk {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: TimerHandle;
  readonly targetSlot: number;
  /** The target's node when it is another node's actor; undefined for this node. */
  readonly targetNode: number | undefined;
}

/** Where a reply goes: thread `slot` of node `node` (undefined: this node), ask `id`. */
export interface ReplyAddress {
  readonly slot: number;
  readonly id: number;
  readonly node: number | undefined;
}

export class AskTable {
  private readonly scheduler: Scheduler;
  private readonly asksPendingMax: number;
  private readonly pending = new Map<number, PendingAsk>();
  private nextId = 1;

  constructor(scheduler: Scheduler, asksPendingMax: number) {
    this.scheduler = scheduler;
    this.asksPendingMax = asksPendingMax;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Throws `TooManyAsksError` past `asksPendingMax` (every ask also ends by its timeout). */
  register(
    targetNode: number | undefined,
    targetSlot: number,
    targetPath: string,
    messageType: string,
    timeoutMs: number,
  ) {
    if (this.pending.size >= this.asksPendingMax) throw new TooManyAsksError(this.pending.size);
    const id = this.nextId++;
    const promise = new Promise<unknown>((resolve, reject) => {
      const timer = this.scheduler.setTimeout(() => {
        if (this.pending.delete(id)) reject(new AskTimeoutError(targetPath, timeoutMs, messageType));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, targetSlot, targetNode });
    });
    return { id, promise };
  }

  /** Settles ask `id`; a late reply (after its timeout) is ignored and reported as false. */
  settle(id: number, ok: boolean, value: unknown): boolean {
    const ask = this.pending.get(id);
    if (ask === undefined) return false;
    this.pending.delete(id);
    this.scheduler.clearTimeout(ask.timer);
    if (ok) ask.resolve(value);
    else ask.reject(value);
    return true;
  }

  /**
   * A reply from node `node`: settles ask `id` only if it was sent to that node (a node answers only the asks
   * it was sent; anything else is a late or a stray reply and is ignored).
   */
  settleFromNode(id: number, node: number, ok: boolean, value: () => unknown): boolean {
    const ask = this.pending.get(id);
    if (ask === undefined || ask.targetNode !== node) return false;
    return this.settle(id, ok, value());
  }

  /** Rejects every ask addressed to thread `slot` of `node` (it died; their messages died with it). */
  rejectForSlot(slot: number, node: number | undefined, error: () => Error): void {
    for (const [id, ask] of this.pending) {
      if (ask.targetSlot === slot && ask.targetNode === node) this.settle(id, false, error());
    }
  }

  /** Rejects every ask addressed to an actor of `node` (the node is down). */
  rejectForNode(node: number, error: () => Error): void {
    for (const [id, ask] of this.pending) {
      if (ask.targetNode === node) this.settle(id, false, error());
    }
  }

  rejectAll(error: () => Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id, false, error());
  }
}
