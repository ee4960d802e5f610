/**
 * The simulated network: messages travel encoded (the real codec), with random delay, loss, duplication
 * and reordering, and links that can be cut one way or both (partitions).
 */
import { decodeMessage, encodeMessage, type Message, type NodeId, type Xoshiro128 } from '@flotilla/core';

interface InFlight {
  readonly to: NodeId;
  readonly from: NodeId;
  readonly bytes: Uint8Array;
  readonly deliverAt: number;
}

export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  delayMax: number;
}

export class SimNetwork {
  private inFlight: InFlight[] = [];
  private readonly cut = new Set<string>();
  faults: NetworkFaults = { dropRate: 0, duplicateRate: 0, delayMax: 2 };
  sent = 0;
  delivered = 0;
  /** Bound on messages in flight; past it new ones are dropped (as a full socket buffer would). */
  readonly inFlightMax = 20_000;

  /**
   * Told whether a snapshot message arrived, as a real transport's streamed transfer resolves or rejects
   * (the leader must hear it: `RaftNode.reportSnapshot`).
   */
  onSnapshotOutcome: (from: NodeId, to: NodeId, delivered: boolean) => void = () => {};

  constructor(private readonly random: Xoshiro128) {}

  send(now: number, messages: readonly Message[]): void {
    for (const m of messages) {
      this.sent++;
      if (this.random.float() < this.faults.dropRate) {
        if (m.type === 'snapshot') this.onSnapshotOutcome(m.from, m.to, false);
        continue;
      }
      const copies = this.random.float() < this.faults.duplicateRate ? 2 : 1;
      const bytes = encodeMessage(m).slice();
      for (let c = 0; c < copies && this.inFlight.length < this.inFlightMax; c++) {
        const delay = 1 + this.random.int(this.faults.delayMax);
        this.inFlight.push({ to: m.to, from: m.from, bytes, deliverAt: now + delay });
      }
    }
  }

  setLink(from: NodeId, to: NodeId, up: boolean): void {
    if (up) this.cut.delete(`${from}>${to}`);
    else this.cut.add(`${from}>${to}`);
  }

  linkUp(from: NodeId, to: NodeId): boolean {
    return !this.cut.has(`${from}>${to}`);
  }

  healAll(): void {
    this.cut.clear();
  }

  /** Removes and returns the messages due by `now`, in a random order (reordering), minus cut links. */
  due(now: number): { to: NodeId; message: Message }[] {
    const ready: InFlight[] = [];
    const later: InFlight[] = [];
    for (const m of this.inFlight) (m.deliverAt <= now ? ready : later).push(m);
    this.inFlight = later;
    for (let i = ready.length - 1; i > 0; i--) {
      const j = this.random.int(i + 1);
      [ready[i], ready[j]] = [ready[j]!, ready[i]!];
    }
    const out: { to: NodeId; message: Message }[] = [];
    for (const m of ready) {
      const message = decodeMessage(m.bytes);
      const up = this.linkUp(m.from, m.to) && this.isUp(m.to);
      if (message.type === 'snapshot') this.onSnapshotOutcome(m.from, m.to, up);
      if (!up) continue;
      this.delivered++;
      out.push({ to: m.to, message });
    }
    return out;
  }

  /** Whether a node's process is running (set by the simulation). */
  isUp: (node: NodeId) => boolean = () => true;

  /** Drops everything addressed to `node` (its process died: its socket buffers are gone). */
  dropTo(node: NodeId): void {
    for (const m of this.inFlight) {
      if (m.to === node && decodeMessage(m.bytes).type === 'snapshot')
        this.onSnapshotOutcome(m.from, m.to, false);
    }
    this.inFlight = this.inFlight.filter((m) => m.to !== node);
  }
}
