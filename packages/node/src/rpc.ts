/**
 * Node-to-node requests (forwarding a command, a conf change or a status query to a group's leader),
 * carried over the authenticated peer links as a reserved pseudo-group. Delivery is best effort, so every
 * call has a timeout; calls are idempotent or protected by client sessions.
 */
import { type GroupId, type NodeId, PeerUnreachableError, type Transport } from '@flotilla/core';
import { Packr } from 'msgpackr';
import { ProtocolError, RequestTimeoutError } from './errors.ts';
import { fromWireError, toWireError, type WireError } from './wire-errors.ts';

const packr = new Packr({ useRecords: false, moreTypes: false });

export type RpcHandler = (from: NodeId, op: string, args: unknown) => Promise<unknown>;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export class NodeRpc {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  readonly counters = { sent: 0, received: 0, malformed: 0, timeouts: 0 };

  constructor(
    private readonly transport: Transport,
    private readonly handler: RpcHandler,
    /** Calls waiting for an answer; past it new calls fail at once (backpressure). */
    private readonly pendingMax = 100_000,
  ) {}

  call(to: NodeId, op: string, args: unknown, timeoutMs: number, group: GroupId = ''): Promise<unknown> {
    if (this.pending.size >= this.pendingMax)
      return Promise.reject(new PeerUnreachableError(to, 'too many requests in flight'));
    const id = this.nextId++;
    this.counters.sent++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.counters.timeouts++;
        reject(new RequestTimeoutError(group, timeoutMs, `node ${to} did not answer ${op}`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.transport.sendNode(to, 'rpc', packr.pack([0, id, op, args]));
    });
  }

  /** An RPC frame from a peer: a request to serve or an answer to one of our calls. */
  receive(from: NodeId, payload: Uint8Array): void {
    let frame: unknown;
    try {
      frame = packr.unpack(payload);
    } catch {
      this.counters.malformed++;
      return;
    }
    if (!Array.isArray(frame) || frame.length < 4 || typeof frame[1] !== 'number') {
      this.counters.malformed++;
      return;
    }
    this.counters.received++;
    if (frame[0] === 0 && typeof frame[2] === 'string') this.serve(from, frame[1], frame[2], frame[3]);
    else if (frame[0] === 1) this.answer(frame[1], frame[2] === true, frame[3]);
    else this.counters.malformed++;
  }

  private serve(from: NodeId, id: number, op: string, args: unknown): void {
    this.handler(from, op, args).then(
      (result) => this.transport.sendNode(from, 'rpc', packr.pack([1, id, true, result ?? null])),
      (error: unknown) =>
        this.transport.sendNode(from, 'rpc', packr.pack([1, id, false, toWireError(error)])),
    );
  }

  private answer(id: number, ok: boolean, payload: unknown): void {
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    clearTimeout(call.timer);
    if (ok) call.resolve(payload);
    else if (
      typeof payload === 'object' &&
      payload !== null &&
      typeof (payload as WireError).code === 'string'
    ) {
      call.reject(fromWireError(payload as WireError));
    } else call.reject(new ProtocolError('malformed RPC error'));
  }

  stop(): void {
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(new RequestTimeoutError('', 0, 'node stopping'));
    }
    this.pending.clear();
  }
}
