/**
 * A scheduler with virtual time and an explicit run queue, for the testkit: nothing happens until the test
 * runs pending work or advances the clock, and timers fire in (due time, creation order) — deterministic.
 */
import type { Scheduler, TimerHandle } from './scheduler.ts';

interface ManualTimer {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

export class ManualScheduler implements Scheduler {
  private time: number;
  private seq = 0;
  private timers: ManualTimer[] = [];
  private pending: (() => void)[] = [];

  constructor(startMs = 0) {
    this.time = startMs;
  }

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer: ManualTimer = {
      at: this.time + Math.max(0, delayMs),
      seq: this.seq++,
      callback,
      cancelled: false,
    };
    // Insert keeping (at, seq) order; timers are few in tests, a linear scan from the end is enough.
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1]!.at > timer.at) i--;
    this.timers.splice(i, 0, timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    (handle as ManualTimer).cancelled = true;
  }

  runSoon(callback: () => void): void {
    this.pending.push(callback);
  }

  runAtTurnEnd(callback: () => void): void {
    this.pending.push(callback);
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Runs queued callbacks (and those they queue) up to `stepsMax`; returns how many ran. */
  runPending(stepsMax: number): number {
    let ran = 0;
    while (this.pending.length > 0) {
      if (ran >= stepsMax)
        throw new RangeError(`more than ${stepsMax} scheduler steps without becoming idle`);
      const batch = this.pending;
      this.pending = [];
      for (const callback of batch) {
        callback();
        ran++;
      }
    }
    return ran;
  }

  /** Due time of the next live timer at or before `limitMs`, if any. */
  nextDueAt(limitMs: number): number | undefined {
    this.timers = this.timers.filter((t) => !t.cancelled);
    const next = this.timers[0];
    return next !== undefined && next.at <= limitMs ? next.at : undefined;
  }

  /** Moves the clock to `atMs` (never backwards) and fires the timers due by then, in order. */
  fireDue(atMs: number): number {
    this.time = Math.max(this.time, atMs);
    let fired = 0;
    while (this.timers.length > 0 && this.timers[0]!.at <= this.time) {
      const timer = this.timers.shift()!;
      if (timer.cancelled) continue;
      timer.cancelled = true;
      timer.callback();
      fired++;
    }
    return fired;
  }

  /** Moves the clock without firing anything (used after the last due timer of an `advance`). */
  setTime(atMs: number): void {
    this.time = Math.max(this.time, atMs);
  }
}
