/**
 * One WebSocket connection to a node: requests pipelined and sent as one frame per turn, their answers matched
 * by id, deadlines swept once per connection, open requests (watches) fed with what the node pushes, and an
 * upgrade the node refused (401) reported as `UnauthenticatedError`.
 */
import {
  type ApiOp,
  type ApiPush,
  type ApiResponse,
  decodeResponses,
  encodeRequests,
  fromWireError,
  isPush,
  type OutgoingRequest,
  RequestTimeoutError,
  UnauthenticatedError,
  type WatchItem,
} from '@flotilla/app';
import WebSocket from 'ws';

/** Bound on one message from a node. */
const RESPONSE_BYTES_MAX = 64 << 20;
/** Granularity of client timeouts (a call fails at most this much after its deadline). */
const SWEEP_INTERVAL_MS = 20;

/** How a connection reaches a node: its scheme, its credentials. */
export interface Dial {
  readonly token: string | undefined;
  readonly tls: { readonly ca?: string | Buffer } | undefined;
}

interface Pending {
  readonly group: string | undefined;
  readonly deadline: number;
  timeout(): Error;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** An open request that receives pushed items (a watch) until its final response; never swept by deadline. */
interface Stream {
  onItem(item: WatchItem): void;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export class Connection {
  private readonly ws: WebSocket;
  private readonly pending = new Map<number, Pending>();
  private readonly streams = new Map<number, Stream>();
  private nextId = 1;
  private outbox: OutgoingRequest[] = [];
  private sweeper: ReturnType<typeof setInterval> | undefined;
  readonly opened: Promise<void>;
  closed = false;
  /** Why the node refused the upgrade (then every call on this connection fails with it). */
  private refusal: Error | undefined;
  /** Told the leader hint of every response (group → node), for routing the next requests. */
  onLeaderHint: ((group: string, leader: number) => void) | undefined;

  constructor(
    readonly address: string,
    dial: Dial = { token: undefined, tls: undefined },
  ) {
    this.ws = new WebSocket(`${dial.tls ? 'wss' : 'ws'}://${address}`, {
      perMessageDeflate: false,
      maxPayload: RESPONSE_BYTES_MAX,
      ...(dial.token === undefined ? {} : { headers: { authorization: `Bearer ${dial.token}` } }),
      ...(dial.tls?.ca === undefined ? {} : { ca: dial.tls.ca }),
    });
    this.ws.binaryType = 'nodebuffer';
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', (error) => reject(error));
      // A refused upgrade: 401 is a missing or unknown token, said as such (it is not worth retrying).
      this.ws.once('unexpected-response', (_req, res) => {
        this.refusal =
          res.statusCode === 401
            ? new UnauthenticatedError(address, dial.token === undefined ? 'no token given' : 'unknown token')
            : new Error(`${address} answered the upgrade with HTTP ${res.statusCode}`);
        reject(this.refusal);
        this.ws.terminate();
      });
    });
    this.opened.catch(() => {});
    this.ws.on('message', (data) => this.onMessage(data as Buffer));
    this.ws.on('close', () =>
      this.fail(this.refusal ?? new RequestTimeoutError('', 0, `connection to ${address} closed`)),
    );
    this.ws.on('error', () => {});
  }

  private onMessage(data: Buffer): void {
    let responses: (ApiResponse | ApiPush)[];
    try {
      responses = decodeResponses(data);
    } catch {
      this.ws.terminate();
      return;
    }
    for (const response of responses) {
      if (isPush(response)) {
        this.streams.get(response.id)?.onItem(response.item);
        continue;
      }
      const stream = this.streams.get(response.id);
      if (stream !== undefined) {
        this.streams.delete(response.id);
        if (response.ok) stream.resolve(response.result);
        else stream.reject(fromWireError(response.error));
        continue;
      }
      const call = this.pending.get(response.id);
      if (!call) continue;
      this.pending.delete(response.id);
      if (response.leader && call.group) this.onLeaderHint?.(call.group, response.leader);
      if (response.ok) call.resolve(response.result);
      else call.reject(fromWireError(response.error));
    }
  }

  /** Requests made in one turn leave as one frame. */
  private enqueue(request: OutgoingRequest): void {
    if (this.outbox.push(request) > 1) return;
    queueMicrotask(() => {
      const batch = this.outbox;
      this.outbox = [];
      if (!this.closed) this.ws.send(encodeRequests(batch));
    });
  }

  private fail(error: Error): void {
    this.closed = true;
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
    for (const stream of this.streams.values()) stream.reject(error);
    this.streams.clear();
  }

  /**
   * Opens a request that stays open (a watch): `onItem` gets what the node pushes for it, `done` settles with
   * its final response, or rejects when the connection fails. Opening is bounded by `openTimeoutMs`.
   */
  stream(
    op: ApiOp,
    args: Record<string, unknown>,
    onItem: (item: WatchItem) => void,
    openTimeoutMs: number,
  ): { id: number; done: Promise<unknown> } {
    const id = this.nextId++;
    const done = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.streams.delete(id);
        reject(new RequestTimeoutError('', openTimeoutMs, `connecting to ${this.address}`));
      }, openTimeoutMs);
      this.opened.then(
        () => {
          clearTimeout(timer);
          if (this.closed) {
            reject(new RequestTimeoutError('', 0, `connection to ${this.address} closed`));
            return;
          }
          this.streams.set(id, { onItem, resolve, reject });
          this.enqueue({ id, op, args });
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
    return { id, done };
  }

  /**
   * Sends one request. Its timeout covers opening the connection too (a stopped or unreachable node must
   * not hang a call); deadlines are checked by one sweep per connection, not a timer per request.
   */
  request(op: ApiOp, args: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const group = typeof args.group === 'string' ? args.group : undefined;
      this.pending.set(id, {
        group,
        deadline: performance.now() + timeoutMs,
        timeout: () => new RequestTimeoutError(group ?? '', timeoutMs, `${op} on ${this.address}`),
        resolve,
        reject,
      });
      this.startSweep();
      this.opened.then(
        () => {
          if (!this.pending.has(id)) return; // timed out while connecting
          if (this.closed) {
            this.pending.delete(id);
            reject(new RequestTimeoutError('', 0, `connection to ${this.address} closed`));
            return;
          }
          this.enqueue({ id, op, args: { ...args, timeoutMs: Math.max(1, Math.round(timeoutMs)) } });
        },
        (error: unknown) => {
          this.pending.delete(id);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  /** Rejects the calls past their deadline; runs only while calls are pending. */
  private startSweep(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => {
      const now = performance.now();
      for (const [id, call] of this.pending) {
        if (call.deadline > now) continue;
        this.pending.delete(id);
        call.reject(call.timeout());
      }
      if (this.pending.size === 0) {
        clearInterval(this.sweeper);
        this.sweeper = undefined;
      }
    }, SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    this.ws.terminate();
  }
}
