/**
 * Simulated clients: each writes its own key with a session (client id, sequence) and retries on timeout
 * with the same sequence, and reads random keys through ReadIndex. Outcomes feed the safety checker.
 */
import type { NodeId, Xoshiro128 } from '@flotilla/core';
import type { SafetyChecker } from './checker.ts';
import { encodeKvCommand } from './kv-machine.ts';

export interface PendingWrite {
  readonly clientId: string;
  readonly sequence: number;
  sentAt: number;
  attempts: number;
}

interface PendingRead {
  readonly id: number;
  readonly key: string;
  readonly node: NodeId;
  readonly ackedBeforeInvoke: number;
  readIndex: number | undefined;
}

export class SimClients {
  readonly writes = new Map<string, PendingWrite>();
  private readonly sequences = new Map<string, number>();
  private readonly reads = new Map<number, PendingRead>();
  private readonly ackedMaxByKey = new Map<string, number>();
  private nextReadId = 1;
  acked = 0;
  readsDone = 0;
  readsFailed = 0;

  constructor(
    readonly clientCount: number,
    private readonly random: Xoshiro128,
    private readonly checker: SafetyChecker,
  ) {}

  keyOf(clientId: string): string {
    return `k${clientId}`;
  }

  /** Starts a new write for a client that has none outstanding. */
  newWrite(clientId: string, now: number): PendingWrite | undefined {
    if (this.writes.has(clientId)) return undefined;
    const sequence = (this.sequences.get(clientId) ?? 0) + 1;
    this.sequences.set(clientId, sequence);
    const w: PendingWrite = { clientId, sequence, sentAt: now, attempts: 0 };
    this.writes.set(clientId, w);
    return w;
  }

  command(w: PendingWrite): Uint8Array {
    return encodeKvCommand(
      { op: 'put', key: this.keyOf(w.clientId), value: String(w.sequence) },
      { clientId: w.clientId, sequence: w.sequence },
    );
  }

  /** The command (client, sequence) took effect at `index` in `term`: acknowledge it. */
  effect(clientId: string, sequence: number, index: number, term: number): void {
    const w = this.writes.get(clientId);
    if (!w || w.sequence !== sequence) return;
    this.writes.delete(clientId);
    this.acked++;
    this.checker.checkAcknowledged(index, term);
    const key = this.keyOf(clientId);
    this.ackedMaxByKey.set(key, Math.max(this.ackedMaxByKey.get(key) ?? 0, index));
  }

  randomKey(): string {
    return this.keyOf(String(1 + this.random.int(this.clientCount)));
  }

  startRead(node: NodeId, key: string): { id: number; context: Uint8Array } {
    const id = this.nextReadId++;
    this.reads.set(id, {
      id,
      key,
      node,
      ackedBeforeInvoke: this.ackedMaxByKey.get(key) ?? 0,
      readIndex: undefined,
    });
    const context = new Uint8Array(4);
    new DataView(context.buffer).setUint32(0, id);
    return { id, context };
  }

  private readId(context: Uint8Array): number {
    return new DataView(context.buffer, context.byteOffset, context.byteLength).getUint32(0);
  }

  readReady(node: NodeId, context: Uint8Array, index: number): void {
    const read = this.reads.get(this.readId(context));
    if (read && read.node === node) read.readIndex = index;
  }

  readFailed(context: Uint8Array): void {
    if (this.reads.delete(this.readId(context))) this.readsFailed++;
  }

  /** Serves reads whose replica has applied their read index. */
  serveReads(node: NodeId, appliedIndex: number, valueAt: (key: string) => number): void {
    for (const read of this.reads.values()) {
      if (read.node !== node || read.readIndex === undefined || appliedIndex < read.readIndex) continue;
      this.reads.delete(read.id);
      this.readsDone++;
      this.checker.checkRead({
        key: read.key,
        servedIndex: appliedIndex,
        writtenAt: valueAt(read.key),
        ackedBeforeInvoke: read.ackedBeforeInvoke,
      });
    }
  }

  /** The replica died: its reads are abandoned (a real client would time out). */
  abandonReads(node: NodeId): void {
    for (const read of [...this.reads.values()]) if (read.node === node) this.reads.delete(read.id);
  }

  /** Reads that waited too long are abandoned (the client times out and may retry elsewhere). */
  expireReads(predicate: (nodeUp: NodeId) => boolean): void {
    for (const read of [...this.reads.values()]) if (!predicate(read.node)) this.reads.delete(read.id);
  }
}
