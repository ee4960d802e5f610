/**
 * The run queue of one thread: actors with mail wait here and get `throughputPerActor` messages per pass, up
 * to `dispatchBudgetMessages` per turn; past the budget the dispatcher yields to I/O and resumes at turn end.
 */
import type { ActorCell } from './cell.ts';
import type { Scheduler } from './scheduler.ts';

export class Dispatcher {
  private readonly scheduler: Scheduler;
  private readonly throughputPerActor: number;
  private readonly dispatchBudgetMessages: number;
  private queue: ActorCell[] = [];
  private head = 0;
  private drainScheduled = false;
  private draining = false;

  constructor(scheduler: Scheduler, throughputPerActor: number, dispatchBudgetMessages: number) {
    this.scheduler = scheduler;
    this.throughputPerActor = throughputPerActor;
    this.dispatchBudgetMessages = dispatchBudgetMessages;
  }

  get isEmpty(): boolean {
    return this.head === this.queue.length;
  }

  /** Queues a cell that has mail and can run; the first pass runs soon (a microtask). */
  schedule(cell: ActorCell): void {
    cell.scheduled = true;
    this.queue.push(cell);
    if (!this.drainScheduled && !this.draining) {
      this.drainScheduled = true;
      this.scheduler.runSoon(this.drain);
    }
  }

  private readonly drain = (): void => {
    this.drainScheduled = false;
    this.draining = true;
    let budget = this.dispatchBudgetMessages;
    try {
      while (budget > 0 && this.head < this.queue.length) {
        const cell = this.queue[this.head++]!;
        cell.scheduled = false;
        budget -= cell.process(Math.min(this.throughputPerActor, budget));
        if (cell.canRun && !cell.scheduled) {
          cell.scheduled = true;
          this.queue.push(cell);
        }
      }
    } finally {
      this.draining = false;
      this.compact();
    }
    if (!this.isEmpty && !this.drainScheduled) {
      this.drainScheduled = true;
      this.scheduler.runAtTurnEnd(this.drain);
    }
  };

  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}

/** Resolves when the runtime has no work left, or after `timeoutMs` (shutdown's bounded drain). */
export function waitIdle(runtime: { readonly isIdle: boolean }, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = () => {
      if (runtime.isIdle || performance.now() >= deadline) resolve();
      else setTimeout(check, 1);
    };
    check();
  });
}
