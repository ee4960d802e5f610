/**
 * A small free list of frame-sized buffers. Allocating a fresh 256 KiB buffer per frame costs page faults and
 * external-memory GC pressure at hundreds of MB/s; a frame's buffer comes back here once its write completed.
 */

export class FramePool {
  private readonly free: Buffer[] = [];
  private acquiredSinceTrim = false;

  /** `slabBytes`: size of pooled buffers (frames up to it are pooled); `slabsMax`: buffers kept when idle. */
  constructor(
    readonly slabBytes: number,
    readonly slabsMax: number,
  ) {}

  get freeCount(): number {
    return this.free.length;
  }

  /** A buffer of exactly `bytes` (a view of a pooled slab when it fits). */
  acquire(bytes: number): Buffer {
    if (bytes > this.slabBytes) return Buffer.allocUnsafe(bytes);
    this.acquiredSinceTrim = true;
    const slab = this.free.pop() ?? Buffer.allocUnsafeSlow(this.slabBytes);
    return slab.subarray(0, bytes);
  }

  /** Returns a buffer from `acquire` once nothing reads it any more (its socket write completed). */
  release(buffer: Buffer): void {
    if (buffer.buffer.byteLength !== this.slabBytes || buffer.byteOffset !== 0) return;
    if (this.free.length < this.slabsMax) this.free.push(Buffer.from(buffer.buffer, 0, this.slabBytes));
  }

  /** Called periodically: a pool that was not used since the last call gives half its buffers back. */
  trim(): void {
    if (!this.acquiredSinceTrim) this.free.length = Math.floor(this.free.length / 2);
    this.acquiredSinceTrim = false;
  }
}
