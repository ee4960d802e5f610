/**
 * One direction of talk to another thread: an outbox of frames flushed as one postMessage per event-loop
 * turn (or when `batchFramesMax` is reached), and the port listener for the other direction.
 */
import type { MessagePort, Transferable } from 'node:worker_threads';
import type { Frame } from './frames.ts';

export interface LinkOwner {
  /** The link has frames waiting; the owner flushes every dirty link once at the end of the turn. */
  markDirty(link: Link): void;
  /** A batch arrived from `slot`. */
  onFrames(fromSlot: number, frames: Frame[]): void;
  /** A frame that structured clone refused (it carries a function, a class with private state, …). */
  onUnsendable(toSlot: number, frame: Frame, error: unknown): void;
}

export class Link {
  readonly slot: number;
  private readonly port: MessagePort;
  private readonly owner: LinkOwner;
  private readonly batchFramesMax: number;
  private frames: Frame[] = [];
  private closed = false;

  constructor(slot: number, port: MessagePort, owner: LinkOwner, batchFramesMax: number) {
    this.slot = slot;
    this.port = port;
    this.owner = owner;
    this.batchFramesMax = batchFramesMax;
    port.on('message', (frames: Frame[]) => owner.onFrames(slot, frames));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  push(frame: Frame): void {
    if (this.closed) return;
    this.frames.push(frame);
    if (this.frames.length === 1) this.owner.markDirty(this);
    else if (this.frames.length >= this.batchFramesMax) this.flush();
  }

  /** Sends `frame` with transferables (ports) right away, after what is queued, keeping the order. */
  pushTransferring(frame: Frame, transfer: Transferable[]): void {
    if (this.closed) return;
    this.flush();
    this.port.postMessage([frame], transfer);
  }

  flush(): void {
    if (this.frames.length === 0 || this.closed) return;
    const frames = this.frames;
    this.frames = [];
    try {
      this.port.postMessage(frames);
    } catch (error) {
      if (!isDataCloneError(error)) throw error;
      this.postOneByOne(frames);
    }
  }

  /** Closes the port (which closes the other end too); queued frames are flushed first. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.port.close();
  }

  // One bad message must not sink its batch: resend one frame per postMessage, reporting the ones refused.
  private postOneByOne(frames: Frame[]): void {
    for (const frame of frames) {
      try {
        this.port.postMessage([frame]);
      } catch (error) {
        if (!isDataCloneError(error)) throw error;
        this.owner.onUnsendable(this.slot, frame, error);
      }
    }
  }
}

function isDataCloneError(error: unknown): boolean {
  return (
    typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'DataCloneError'
  );
}
