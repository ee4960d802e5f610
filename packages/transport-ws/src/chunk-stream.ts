/**
 * The receiving end of a snapshot transfer: an async iterable of chunks fed by frames from the link.
 * Each chunk the consumer takes is reported back (`onConsumed`) so the sender gets credit for another one.
 */

type Waiter = {
  resolve: (result: IteratorResult<Uint8Array>) => void;
  reject: (error: Error) => void;
};

export class ChunkStream implements AsyncIterableIterator<Uint8Array> {
  private readonly buffered: Uint8Array[] = [];
  private state: 'open' | 'ended' | 'failed' | 'returned' = 'open';
  private error: Error | undefined;
  private waiter: Waiter | undefined;
  /** Chunks pushed so far (the next expected sequence number). */
  received = 0;
  /** Chunks handed to the consumer so far. */
  consumed = 0;

  constructor(private readonly onConsumed: (consumed: number) => void) {}

  /** Chunks received but not yet taken by the consumer. */
  get bufferedCount(): number {
    return this.buffered.length;
  }

  /** True while the consumer waits for a chunk the sender has not sent yet. */
  get starved(): boolean {
    return this.state === 'open' && this.waiter !== undefined;
  }

  push(chunk: Uint8Array): void {
    this.received++;
    if (this.state !== 'open') return;
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      this.take(chunk, waiter.resolve);
    } else {
      this.buffered.push(chunk);
    }
  }

  /** The sender sent its last chunk: the consumer sees the end once it took what is buffered. */
  end(): void {
    if (this.state !== 'open') return;
    this.state = 'ended';
    if (this.waiter !== undefined && this.buffered.length === 0) {
      this.waiter.resolve({ value: undefined, done: true });
      this.waiter = undefined;
    }
  }

  /** The transfer broke: the consumer's pending and next `next()` reject with `error`; buffered chunks go. */
  fail(error: Error): void {
    if (this.state === 'failed' || this.state === 'returned') return;
    this.state = 'failed';
    this.error = error;
    this.buffered.length = 0;
    if (this.waiter !== undefined) {
      this.waiter.reject(error);
      this.waiter = undefined;
    }
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.state === 'failed') return Promise.reject(this.error);
    if (this.state === 'returned') return Promise.resolve({ value: undefined, done: true });
    const chunk = this.buffered.shift();
    if (chunk !== undefined) return new Promise((resolve) => this.take(chunk, resolve));
    if (this.state === 'ended') return Promise.resolve({ value: undefined, done: true });
    if (this.waiter !== undefined) return Promise.reject(new Error('ChunkStream has one consumer'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The consumer stopped early (`break`): later chunks are ignored. */
  return(): Promise<IteratorResult<Uint8Array>> {
    if (this.state === 'open' || this.state === 'ended') {
      this.state = 'returned';
      this.buffered.length = 0;
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this;
  }

  private take(chunk: Uint8Array, resolve: (result: IteratorResult<Uint8Array>) => void): void {
    this.consumed++;
    this.onConsumed(this.consumed);
    resolve({ value: chunk, done: false });
  }
}
