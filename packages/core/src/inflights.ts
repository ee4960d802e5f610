/**
 * The leader's window of in-flight appends to one follower, bounded by message count and by bytes
 * (flow control, etcd's `inflights`): when full, no further append is sent until acknowledgments free it.
 */
import { assert } from './assert.ts';

export class Inflights {
  /** Last index of each in-flight message, oldest first (a ring buffer). */
  private readonly lastIndexes: number[];
  private readonly sizes: number[];
  private start = 0;
  private count = 0;
  private bytes = 0;

  constructor(
    readonly messagesMax: number,
    readonly bytesMax: number,
  ) {
    assert(messagesMax > 0, 'inflight window needs room for at least one message');
    this.lastIndexes = new Array(messagesMax).fill(0);
    this.sizes = new Array(messagesMax).fill(0);
  }

  get size(): number {
    return this.count;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  /** Records an append whose last entry is `lastIndex`, carrying `bytes` of entry data. */
  add(lastIndex: number, bytes: number): void {
    assert(!this.full(), 'add to a full inflight window');
    const at = (this.start + this.count) % this.messagesMax;
    if (this.count > 0) {
      const previous = this.lastIndexes[(at + this.messagesMax - 1) % this.messagesMax]!;
      assert(lastIndex > previous, () => `inflight ${lastIndex} not after ${previous}`);
    }
    this.lastIndexes[at] = lastIndex;
    this.sizes[at] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Frees every in-flight message whose last index is ≤ `index` (acknowledged). */
  freeLE(index: number): void {
    while (this.count > 0 && this.lastIndexes[this.start]! <= index) {
      this.bytes -= this.sizes[this.start]!;
      this.start = (this.start + 1) % this.messagesMax;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  /** Frees the oldest in-flight message: lets a window filled by lost messages probe again. */
  freeFirstOne(): void {
    if (this.count > 0) this.freeLE(this.lastIndexes[this.start]!);
  }

  full(): boolean {
    return this.count === this.messagesMax || (this.bytesMax > 0 && this.bytes >= this.bytesMax);
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}
