/**
 * The only door through which the runtime sees time and the event loop: the real one for threads, a manual
 * one (manual-scheduler.ts) for the testkit, so the same actor code runs deterministically in virtual time.
 */

/** Opaque handle of a scheduled timer. */
export type TimerHandle = unknown;

export interface Scheduler {
  /** Milliseconds on a monotonic clock (virtual in the testkit). */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** Runs `callback` soon, before more I/O (a microtask): the dispatcher's first pass over new mail. */
  runSoon(callback: () => void): void;
  /**
   * Runs `callback` at the end of this event-loop turn, after the I/O callbacks of the turn (setImmediate):
   * outbox flushes (one postMessage per destination per turn) and dispatch continuations that yield to I/O.
   */
  runAtTurnEnd(callback: () => void): void;
}

export const realScheduler: Scheduler = {
  now: () => performance.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  runSoon: (callback) => queueMicrotask(callback),
  runAtTurnEnd: (callback) => {
    setImmediate(callback);
  },
};
