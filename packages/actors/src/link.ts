/**
 * One direction of talk to another thread: an outbox of frames flushed as one postMessage per event-loop
 * turn (or when `batchMessagesMax` is reached), and the port listener for the other direction.
 */
import type { MessagePort, Transferable } from 'node:worker_threads';
import { decodeFrames, encodeFrames } from './codec.ts';
import { F_REMOTE, F_TELLS, type Frame, type RemoteFrame, type TellsFrame } from './frames.ts';
import type { AnyActorRef } from './protocol.ts';
import type { Scheduler } from './scheduler.ts';

/** Encoded batches at least this big are transferred, smaller ones copied. */
const TRANSFER_BYTES_MIN = 16 * 1024;
/** Batches of at most this many messages go by structured clone, larger ones by msgpack (codec.ts). */
const CLONE_MESSAGES_MAX = 4;

export interface LinkOwner {
  /** The link has frames waiting; the owner flushes every dirty link once at the end of the turn. */
  markDirty(link: Link): void;
  /** A batch arrived from `slot`. */
  onFrames(fromSlot: number, frames: Frame[]): void;
  /** A frame the codec refused to encode. */
  onUnsendable(toSlot: number, frame: Frame, error: unknown): void;
}

export class Link {
  readonly slot: number;
  private readonly port: MessagePort;
  private readonly owner: LinkOwner;
  private readonly batchMessagesMax: number;
  private frames: Frame[] = [];
  /** Messages in `frames` (a tells frame counts each of its messages). */
  private count = 0;
  /** The last frame if it is a tells run that more tells can join. */
  private run: TellsFrame | undefined;
  /** The last frame if it is a tells run for another node (host → main) that more tells can join. */
  private remoteRun: RemoteFrame | undefined;
  private closed = false;

  constructor(slot: number, port: MessagePort, owner: LinkOwner, batchMessagesMax: number) {
    this.slot = slot;
    this.port = port;
    this.owner = owner;
    this.batchMessagesMax = batchMessagesMax;
    // Batches arrive encoded; frames that carry ports (transferred) arrive as structured-clone arrays.
    port.on('message', (data: Uint8Array | Frame[]) =>
      owner.onFrames(slot, data instanceof Uint8Array ? decodeFrames(data) : data),
    );
  }

  get isClosed(): boolean {
    return this.closed;
  }

  push(frame: Frame): void {
    if (this.closed) return;
    this.run = undefined;
    this.remoteRun = undefined;
    this.frames.push(frame);
    // A run of tells from another node (main → host) counts each of its messages against the batch bound.
    if (frame[0] === F_REMOTE && frame[3][0] === F_TELLS) this.countedMany(frame[3][4].length);
    else this.counted();
  }

  /** A tell; joins the previous frame when that is a run of tells from the same sender to the same actor. */
  pushTell(path: string, uid: number, sender: AnyActorRef | undefined, message: unknown): void {
    if (this.closed) return;
    const run = this.run;
    if (run !== undefined && run[1] === path && run[2] === uid && run[3] === sender) {
      run[4].push(message);
    } else {
      this.run = [F_TELLS, path, uid, sender, [message]];
      this.remoteRun = undefined;
      this.frames.push(this.run);
    }
    this.counted();
  }

  /** A tell for thread `slot` of node `node`, sent through main; joins the previous run as `pushTell` does. */
  pushRemoteTell(
    node: number,
    slot: number,
    path: string,
    uid: number,
    sender: AnyActorRef | undefined,
    message: unknown,
  ): void {
    if (this.closed) return;
    const outer = this.remoteRun;
    if (outer !== undefined && outer[1] === node && outer[2] === slot) {
      const run = outer[3] as TellsFrame;
      if (run[1] === path && run[2] === uid && run[3] === sender) {
        run[4].push(message);
        this.counted();
        return;
      }
    }
    this.remoteRun = [F_REMOTE, node, slot, [F_TELLS, path, uid, sender, [message]]];
    this.run = undefined;
    this.frames.push(this.remoteRun);
    this.counted();
  }

  private counted(): void {
    if (++this.count === 1) this.owner.markDirty(this);
    else if (this.count >= this.batchMessagesMax) this.flush();
  }

  private countedMany(messages: number): void {
    if (this.count === 0) this.owner.markDirty(this);
    this.count += messages;
    if (this.count >= this.batchMessagesMax) this.flush();
  }

  /** Sends `frame` with transferables (ports) right away, after what is queued, keeping the order. */
  pushTransferring(frame: Frame, transfer: Transferable[]): void {
    if (this.closed) return;
    this.flush();
    this.run = undefined;
    this.remoteRun = undefined;
    this.port.postMessage([frame], transfer);
  }

  flush(): void {
    if (this.frames.length === 0 || this.closed) return;
    const frames = this.frames;
    const count = this.count;
    this.frames = [];
    this.run = undefined;
    this.remoteRun = undefined;
    this.count = 0;
    if (count <= CLONE_MESSAGES_MAX && this.postCloned(frames)) return;
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = encodeFrames(frames);
    } catch {
      this.postOneByOne(frames);
      return;
    }
    this.post(bytes);
  }

  // Small batches go by V8's structured clone inside postMessage: its fixed cost is lower than msgpack's
  // (codec.ts). A value it refuses (a function) falls back to msgpack, so both paths accept the same messages.
  private postCloned(frames: Frame[]): boolean {
    try {
      this.port.postMessage(frames);
      return true;
    } catch (error) {
      if ((error as { name?: unknown } | null)?.name !== 'DataCloneError') throw error;
      return false;
    }
  }

  // Transferring detaches the buffer, which costs more than copying a small one (MEASUREMENTS.md).
  private post(bytes: Uint8Array<ArrayBuffer>): void {
    if (bytes.byteLength >= TRANSFER_BYTES_MIN) this.port.postMessage(bytes, [bytes.buffer]);
    else this.port.postMessage(bytes);
  }

  /** Closes the port (which closes the other end too); queued frames are flushed first. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.port.close();
  }

  // One bad message must not sink its batch: encode one frame (one message) at a time, reporting the refused.
  private postOneByOne(frames: Frame[]): void {
    for (const frame of frames) {
      if (frame[0] === F_TELLS && frame[4].length > 1) {
        const [kind, path, uid, sender, messages] = frame;
        this.postOneByOne(messages.map((message): Frame => [kind, path, uid, sender, [message]]));
        continue;
      }
      if (frame[0] === F_REMOTE && frame[3][0] === F_TELLS && frame[3][4].length > 1) {
        const [kind, node, slot, [tells, path, uid, sender, messages]] = frame;
        this.postOneByOne(
          messages.map((message): Frame => [kind, node, slot, [tells, path, uid, sender, [message]]]),
        );
        continue;
      }
      let bytes: Uint8Array<ArrayBuffer>;
      try {
        bytes = encodeFrames([frame]);
      } catch (error) {
        this.owner.onUnsendable(this.slot, frame, error);
        continue;
      }
      this.post(bytes);
    }
  }
}

/** The links of one thread, by slot, and the end-of-turn flush of those that have frames waiting. */
export class LinkSet {
  private readonly scheduler: Scheduler;
  private readonly bySlot = new Map<number, Link>();
  private dirty: Link[] = [];
  private flushScheduled = false;

  constructor(scheduler: Scheduler) {
    this.scheduler = scheduler;
  }

  get hasDirty(): boolean {
    return this.dirty.length > 0;
  }

  get(slot: number): Link | undefined {
    return this.bySlot.get(slot);
  }

  /** Every registered link (for notices to every thread). */
  all(): IterableIterator<Link> {
    return this.bySlot.values();
  }

  /** Routes messages for `link.slot` through `link` (closing a link it replaces). */
  register(link: Link): void {
    const old = this.bySlot.get(link.slot);
    if (old !== undefined && old !== link) old.close();
    this.bySlot.set(link.slot, link);
  }

  remove(slot: number): void {
    this.bySlot.get(slot)?.close();
    this.bySlot.delete(slot);
  }

  markDirty(link: Link): void {
    this.dirty.push(link);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.scheduler.runAtTurnEnd(this.flush);
    }
  }

  /** One postMessage per dirty link: everything the turn produced for that thread, in order. */
  readonly flush = (): void => {
    this.flushScheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const link of dirty) link.flush();
  };

  closeAll(): void {
    this.flush();
    for (const link of this.bySlot.values()) link.close();
    this.bySlot.clear();
  }
}
