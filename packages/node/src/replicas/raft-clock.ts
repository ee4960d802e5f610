/**
 * Turns real time into Raft ticks. A timer delivers one tick per firing, but timers fire late under load
 * and not at all while the process is stopped (SIGSTOP, a VM pause, a long GC): a leader counting timer
 * firings would believe its lease lasts longer than its followers' election timeouts, and serve stale
 * reads after a pause (the linearizability test caught exactly that). So every firing delivers the ticks
 * that real time says are due, and the group catches up before anything that relies on its clock.
 */
export class RaftClock {
  private tickedUntil: number;
  constructor(
    private readonly tickMs: number,
    private readonly now: () => number,
    /** Past this many ticks at once (a long pause), the rest are skipped: every timeout has fired by then. */
    private readonly burstMax: number,
  ) {
    this.tickedUntil = now();
  }

  /** Ticks due since the last call (possibly 0); the baseline moves on by whole ticks. */
  due(): number {
    const elapsed = this.now() - this.tickedUntil;
    if (elapsed < this.tickMs) return 0;
    const ticks = Math.floor(elapsed / this.tickMs);
    this.tickedUntil += ticks * this.tickMs;
    return Math.min(ticks, this.burstMax);
  }
}
