/**
 * Group commit for state machines: machines with applied writes register here, and one timer commits them
 * all in the same event-loop turn — one LMDB transaction (one sync) for every group of the thread per
 * interval, instead of one per apply, which would put a sync of state beside every sync of the log.
 */

/** A machine with writes staged for the next commit. */
export interface Committable {
  commitStaged(): void;
}

export class StateCommitter {
  private readonly dirty = new Set<Committable>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly intervalMs: number) {}

  /** `machine` has staged writes: commit them with the others at the next tick. */
  schedule(machine: Committable): void {
    this.dirty.add(machine);
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.commitAll(), this.intervalMs);
    this.timer.unref();
  }

  /** Commits every staged batch now (in this turn: one transaction). */
  commitAll(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const machines = [...this.dirty];
    this.dirty.clear();
    for (const m of machines) m.commitStaged();
  }
}
