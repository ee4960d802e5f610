/**
 * The per-group write order. Short writes are issued to LMDB at once (so that every write of one event-loop
 * turn lands in one transaction); a long write (chunked truncation, snapshot install) holds back the writes
 * issued after it until it is durable, so a later write never becomes durable before an earlier one.
 */

type Issue = () => Promise<unknown>;

interface Waiting {
  readonly issue: Issue;
  readonly long: boolean;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class WriteQueue {
  private readonly waiting: Waiting[] = [];
  private longRunning = false;
  private failure: unknown;
  private readonly waitingMax: number;

  /** `waitingMax` bounds the writes held back behind a long write (an assertion, not back-pressure). */
  constructor(waitingMax: number) {
    this.waitingMax = waitingMax;
  }

  /** Writes held back behind a long write. */
  get depth(): number {
    return this.waiting.length;
  }

  /** Issues a short write now, or after the long write in progress. Resolves when it is durable. */
  short(issue: Issue): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (!this.longRunning && this.waiting.length === 0) return this.track(safeIssue(issue));
    return this.hold(issue, false);
  }

  /** Runs a multi-transaction write; writes issued after it wait until it has finished. */
  long(issue: Issue): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (!this.longRunning && this.waiting.length === 0) return this.runLong(issue);
    return this.hold(issue, true);
  }

  private hold(issue: Issue, long: boolean): Promise<void> {
    if (this.waiting.length >= this.waitingMax) {
      return Promise.reject(new RangeError(`more than ${this.waitingMax} writes held back in one group`));
    }
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ issue, long, resolve, reject });
    });
  }

  /**
   * A failed write poisons the queue: a later write must not become durable without an earlier one, so every
   * write after a failure is refused (the group has to be reopened, which re-reads what is durable).
   */
  private track(promise: Promise<unknown>): Promise<void> {
    return promise.then(ignore, (error: unknown) => {
      this.failure ??= error;
      throw error;
    });
  }

  private runLong(issue: Issue): Promise<void> {
    this.longRunning = true;
    const done = this.track(safeIssue(issue));
    const release = (): void => {
      this.longRunning = false;
      this.drain();
    };
    done.then(release, release);
    return done;
  }

  /** Issues held writes in order, in this turn, up to and including the next long one. */
  private drain(): void {
    while (!this.longRunning && this.waiting.length > 0) {
      const next = this.waiting.shift() as Waiting;
      if (this.failure !== undefined) {
        next.reject(this.failure);
        continue;
      }
      const promise = next.long ? this.runLong(next.issue) : this.track(safeIssue(next.issue));
      promise.then(next.resolve, next.reject);
    }
  }
}

function safeIssue(issue: Issue): Promise<unknown> {
  try {
    return issue();
  } catch (error) {
    return Promise.reject(error);
  }
}

function ignore(): void {}
