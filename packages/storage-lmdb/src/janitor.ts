/**
 * Background garbage collection: deletes key ranges that no reader can reach any more (log entries below a
 * compaction marker, replaced snapshots, old state-machine generations) in chunks, one transaction each.
 */
import type { Database, Key, RangeOptions } from 'lmdb';
import type { StorageLogger } from './options.ts';

/** A range to delete; recomputed before every chunk, `undefined` once there is nothing left to do. */
export type RangeSource = () => Pick<RangeOptions, 'start' | 'end' | 'inclusiveEnd'> | undefined;

interface Job {
  readonly db: Database<unknown, Key>;
  readonly range: RangeSource;
}

/**
 * Jobs are keyed (`log:<group>`, `snap:<group>:<id>`, …) so that scheduling the same work twice is one job:
 * the job table is bounded by groups × kinds of garbage, not by the number of calls.
 */
export class Janitor {
  private readonly jobs = new Map<string, Job>();
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly deleteChunkEntries: number;
  private readonly logger: StorageLogger;

  constructor(deleteChunkEntries: number, logger: StorageLogger) {
    this.deleteChunkEntries = deleteChunkEntries;
    this.logger = logger;
  }

  get pendingJobs(): number {
    return this.jobs.size;
  }

  schedule(key: string, db: Database<unknown, Key>, range: RangeSource): void {
    if (this.stopped) return;
    this.jobs.set(key, { db, range });
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves when every scheduled job has finished (for tests and orderly shutdown). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Stops after the chunk in progress; the rest is found again as garbage after reopening. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.jobs.clear();
    await this.idle();
  }

  private async run(): Promise<void> {
    while (!this.stopped && this.jobs.size > 0) {
      for (const [key, job] of [...this.jobs]) {
        if (this.stopped) return;
        let more = false;
        try {
          more = await deleteChunk(job.db, job.range(), this.deleteChunkEntries);
        } catch (error) {
          this.logger.error({ component: 'storage', job: key, err: error }, 'garbage collection failed');
        }
        if (!more && this.jobs.get(key) === job) this.jobs.delete(key);
      }
    }
  }
}

/**
 * Deletes up to `limit` keys of `range` in one transaction (from the top when `reverse`); true when the range
 * may hold more. The removes are issued in one turn, so they commit together.
 */
export async function deleteChunk(
  db: Database<unknown, Key>,
  range: Pick<RangeOptions, 'start' | 'end' | 'inclusiveEnd' | 'reverse'> | undefined,
  limit: number,
): Promise<boolean> {
  if (range === undefined) return false;
  let last: Promise<boolean> | undefined;
  let count = 0;
  for (const key of db.getKeys({ ...range, limit })) {
    last = db.remove(key);
    count++;
  }
  if (last !== undefined) await last;
  return count === limit;
}
