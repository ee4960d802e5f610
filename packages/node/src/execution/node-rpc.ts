/**
 * Requests between nodes — a command, query, conf change, transfer or status for a group's leader, or a
 * node's own status (the admin's cluster view) — on the peer links' `rpc` channel (not a Raft group). A typed
 * union, one schema checking what arrives, one handler; delivery is best effort, so every call has a timeout,
 * and calls are idempotent or protected by sessions.
 */
import {
  fromWireError,
  isWireError,
  ProtocolError,
  RequestTimeoutError,
  toWireError,
  z,
} from '@flotilla/app';
import { type GroupId, type NodeId, PeerUnreachableError, type Transport } from '@flotilla/core';
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false });

const group = z.string().min(1).max(100);
const fence = z.tuple([group, z.number().int().positive()]);
const session = z.tuple([z.string().max(64), z.number().int().nonnegative(), z.number().int().nonnegative()]);
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'must be binary');

/** What one node may ask another. */
const REQUEST = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('command'),
    group,
    call: bytes,
    session: session.optional(),
    fence: fence.optional(),
  }),
  z.object({
    type: z.literal('query'),
    group,
    name: z.string(),
    input: z.unknown(),
    consistency: z.enum(['linearizable', 'lease', 'stale']),
  }),
  z.object({
    type: z.literal('confChange'),
    group,
    change: z.object({
      changes: z.array(
        z.object({ op: z.enum(['addVoter', 'addLearner', 'removeNode']), nodeId: z.number().int() }),
      ),
      transition: z.enum(['auto', 'joint-implicit', 'joint-explicit']).optional(),
      context: bytes.optional(),
    }),
  }),
  z.object({ type: z.literal('transfer'), group, to: z.number().int().positive() }),
  z.object({ type: z.literal('leaderStatus'), group }),
  z.object({ type: z.literal('ping') }),
  /** The node's `/status` (answered by the node itself, not the executor). */
  z.object({ type: z.literal('status') }),
]);

export type NodeRequest = z.output<typeof REQUEST>;

/** What the executor serves: every request but a node's own status. */
export type ExecutorRequest = Exclude<NodeRequest, { readonly type: 'status' }>;

export type NodeRequestHandler = (from: NodeId, request: NodeRequest) => Promise<unknown>;

const REQUEST_FRAME = 0;
const RESPONSE_FRAME = 1;

/** Calls waiting for an answer, by default; past it new calls fail at once (backpressure). */
export const RPC_PENDING_MAX = 100_000;

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
    private readonly handler: NodeRequestHandler,
    private readonly pendingMax = RPC_PENDING_MAX,
  ) {}

  /** Sends `request` to node `to`; rejects with `RequestTimeoutError` after `timeoutMs`. */
  call(to: NodeId, request: NodeRequest, timeoutMs: number): Promise<unknown> {
    if (this.pending.size >= this.pendingMax)
      return Promise.reject(new PeerUnreachableError(to, 'too many requests in flight'));
    const id = this.nextId++;
    this.counters.sent++;
    const group: GroupId = 'group' in request ? request.group : '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.counters.timeouts++;
        reject(new RequestTimeoutError(group, timeoutMs, `node ${to} did not answer ${request.type}`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.transport.sendNode(to, 'rpc', packr.pack([REQUEST_FRAME, id, request]));
    });
  }

  /** A frame on the rpc channel: a request to serve or an answer to one of our calls. */
  receive(from: NodeId, payload: Uint8Array): void {
    let frame: unknown;
    try {
      frame = packr.unpack(payload);
    } catch {
      this.counters.malformed++;
      return;
    }
    if (!Array.isArray(frame) || typeof frame[1] !== 'number') {
      this.counters.malformed++;
      return;
    }
    this.counters.received++;
    if (frame[0] === REQUEST_FRAME && frame.length === 3) this.serve(from, frame[1], frame[2]);
    else if (frame[0] === RESPONSE_FRAME && frame.length === 4)
      this.answer(frame[1], frame[2] === true, frame[3]);
    else this.counters.malformed++;
  }

  private serve(from: NodeId, id: number, raw: unknown): void {
    const parsed = REQUEST.safeParse(raw);
    const done = parsed.success
      ? this.handler(from, parsed.data)
      : Promise.reject(new ProtocolError(`node request: ${parsed.error.issues[0]?.message ?? 'malformed'}`));
    if (!parsed.success) this.counters.malformed++;
    done.then(
      (result) =>
        this.transport.sendNode(from, 'rpc', packr.pack([RESPONSE_FRAME, id, true, result ?? null])),
      (error: unknown) =>
        this.transport.sendNode(from, 'rpc', packr.pack([RESPONSE_FRAME, id, false, toWireError(error)])),
    );
  }

  private answer(id: number, ok: boolean, payload: unknown): void {
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    clearTimeout(call.timer);
    if (ok) call.resolve(payload);
    else if (isWireError(payload)) call.reject(fromWireError(payload));
    else call.reject(new ProtocolError('malformed node response error'));
  }

  stop(): void {
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(new RequestTimeoutError('', 0, 'node stopping'));
    }
    this.pending.clear();
  }
}
