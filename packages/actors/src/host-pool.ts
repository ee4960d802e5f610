/**
 * The piscina pools behind the host threads: one long-lived host task per thread. A pool whose replacement
 * worker failed at bootstrap stops replacing workers, so it is retired and new hosts go to a freshly built pool.
 */
import { fileURLToPath } from 'node:url';
import type { ResourceLimits, Transferable } from 'node:worker_threads';
import { Piscina } from 'piscina';

export interface HostPoolOptions {
  /** Threads of the first pool (M). */
  readonly size: number;
  readonly resourceLimits: ResourceLimits | undefined;
  /** Module every host thread imports at bootstrap, before it takes its task. */
  readonly preload: string | undefined;
}

interface PoolEntry {
  readonly pool: Piscina;
  readonly size: number;
  readonly live: Set<number>;
  broken: boolean;
}

/** In development (`.ts` sources) threads start through a bootstrap that registers tsx; built code runs as is. */
function hostFilename(): string {
  const self = import.meta.url;
  const file = self.endsWith('.ts') ? new URL('./host-bootstrap.mjs', self) : new URL('./host-task.js', self);
  return fileURLToPath(file);
}

export class HostPools {
  private readonly options: HostPoolOptions;
  private readonly entries: PoolEntry[] = [];
  private readonly slotPool = new Map<number, PoolEntry>();

  constructor(options: HostPoolOptions) {
    this.options = options;
    if (options.size > 0) this.entries.push(this.build(options.size));
  }

  /** Threads currently alive across all pools. */
  get threadCount(): number {
    return this.entries.reduce((n, e) => n + e.pool.threads.length, 0);
  }

  get poolCount(): number {
    return this.entries.length;
  }

  /** Runs the host task of `slot` on a healthy pool with a free thread (building one if none has). */
  run(slot: number, task: unknown, transferList: Transferable[], signal: AbortSignal): Promise<unknown> {
    let entry = this.entries.find((e) => !e.broken && e.live.size < e.size);
    if (entry === undefined) {
      entry = this.build(1);
      this.entries.push(entry);
    }
    entry.live.add(slot);
    this.slotPool.set(slot, entry);
    return entry.pool.run(task, { transferList: transferList as never, signal });
  }

  /** The host task of `slot` ended or died: its thread is free (piscina replaces a dead one). */
  release(slot: number): void {
    const entry = this.slotPool.get(slot);
    if (entry === undefined) return;
    this.slotPool.delete(slot);
    entry.live.delete(slot);
    if (entry.broken && entry.live.size === 0) this.retire(entry);
  }

  /**
   * True when the pool of `slot` has fewer threads than host tasks to run: piscina replaces a dead worker at
   * once, unless a worker failed at bootstrap, after which it never does — the waiting task would wait forever.
   */
  isStuck(slot: number): boolean {
    const entry = this.slotPool.get(slot);
    return entry !== undefined && entry.pool.threads.length < entry.live.size;
  }

  /** The host of `slot` never came up: its pool is no longer trusted to replace workers. */
  markBroken(slot: number): void {
    const entry = this.slotPool.get(slot);
    if (entry !== undefined) entry.broken = true;
  }

  /** Closes every pool; call after every host task ended (close() would reject running tasks). */
  async closeAll(): Promise<void> {
    const entries = this.entries.splice(0);
    await Promise.all(entries.map((e) => e.pool.close()));
  }

  /** Force-stops every pool (threads that did not end in time). */
  async destroyAll(): Promise<void> {
    const entries = this.entries.splice(0);
    await Promise.all(entries.map((e) => e.pool.destroy()));
  }

  private build(size: number): PoolEntry {
    const pool = new Piscina({
      filename: hostFilename(),
      minThreads: size,
      maxThreads: size,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
      // With atomics, an idle worker parks in Atomics.wait and stops answering its MessagePorts.
      atomics: 'disabled',
      workerData: { preload: this.options.preload },
      ...(this.options.resourceLimits === undefined ? {} : { resourceLimits: this.options.resourceLimits }),
    });
    // Worker errors also reject the host task, which is where they are handled; this keeps them from being
    // re-thrown as an unhandled 'error' event when no task is running on the worker.
    pool.on('error', () => {});
    return { pool, size, live: new Set(), broken: false };
  }

  private retire(entry: PoolEntry): void {
    const at = this.entries.indexOf(entry);
    if (at >= 0) this.entries.splice(at, 1);
    void entry.pool.destroy();
  }
}
