/**
 * A bounded FIFO mailbox: a ring of (message, sender, reply) triples that grows on demand up to `capacity`.
 * Growing lazily keeps ten thousand idle actors cheap; the bound keeps a flooded one from eating the heap.
 */

const INITIAL_SLOTS = 16;

export class Mailbox<M, S, R> {
  readonly capacity: number;
  private messages: (M | undefined)[];
  private senders: (S | undefined)[];
  private replies: (R | undefined)[];
  private head = 0;
  private count = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`mailbox capacity ${capacity}`);
    this.capacity = capacity;
    this.messages = new Array(INITIAL_SLOTS);
    this.senders = new Array(INITIAL_SLOTS);
    this.replies = new Array(INITIAL_SLOTS);
  }

  get size(): number {
    return this.count;
  }

  get isFull(): boolean {
    return this.count >= this.capacity;
  }

  /** Appends; the caller checks `isFull` first (full is an expected outcome with its own error). */
  push(message: M, sender: S | undefined, reply: R | undefined): void {
    if (this.count >= this.capacity) throw new RangeError('mailbox overflow: caller must check isFull');
    if (this.count === this.messages.length) this.grow();
    const mask = this.messages.length - 1;
    const at = (this.head + this.count) & mask;
    this.messages[at] = message;
    this.senders[at] = sender;
    this.replies[at] = reply;
    this.count++;
  }

  /** Appends past `capacity` (system messages such as `Terminated`, bounded by the number of watches). */
  pushOverCapacity(message: M, sender: S | undefined, reply: R | undefined): void {
    if (this.count === this.messages.length) this.grow();
    const mask = this.messages.length - 1;
    const at = (this.head + this.count) & mask;
    this.messages[at] = message;
    this.senders[at] = sender;
    this.replies[at] = reply;
    this.count++;
  }

  /** Removes the oldest entry into `out`; returns false when empty. */
  shift(out: MailboxEntry<M, S, R>): boolean {
    if (this.count === 0) return false;
    const at = this.head;
    out.message = this.messages[at] as M;
    out.sender = this.senders[at];
    out.reply = this.replies[at];
    this.messages[at] = undefined;
    this.senders[at] = undefined;
    this.replies[at] = undefined;
    this.head = (at + 1) & (this.messages.length - 1);
    this.count--;
    return true;
  }

  /** Empties the mailbox, handing each entry to `visit` in order. */
  drainTo(visit: (message: M, sender: S | undefined, reply: R | undefined) => void): void {
    const entry: MailboxEntry<M, S, R> = { message: undefined as M, sender: undefined, reply: undefined };
    while (this.shift(entry)) visit(entry.message, entry.sender, entry.reply);
  }

  // Slot counts stay powers of two so that wrap-around is a mask; the ring may exceed capacity by < 2x.
  private grow(): void {
    const old = this.messages.length;
    const next = old * 2;
    const messages = new Array<M | undefined>(next);
    const senders = new Array<S | undefined>(next);
    const replies = new Array<R | undefined>(next);
    for (let i = 0; i < this.count; i++) {
      const from = (this.head + i) & (old - 1);
      messages[i] = this.messages[from];
      senders[i] = this.senders[from];
      replies[i] = this.replies[from];
    }
    this.messages = messages;
    this.senders = senders;
    this.replies = replies;
    this.head = 0;
  }
}

export interface MailboxEntry<M, S, R> {
  message: M;
  sender: S | undefined;
  reply: R | undefined;
}
