/**
 * The client API server: a WebSocket endpoint per node that accepts requests from the client library (and
 * the CLI), runs them through the node (the executor forwards to leaders as needed) and answers in order of
 * completion, batching the answers of one turn into one frame. A frame that is not a list of requests closes
 * the connection (counted); a request with an unknown op or bad arguments gets a typed error by id. Watches
 * stay open on their connection: their items ride in the same frames, and a connection whose unsent bytes
 * pass the bound has its watches cancelled with `WatchOverflowError` (each says where to resume).
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  type ApiArgs,
  type ApiPush,
  type ApiRequest,
  type ApiResponse,
  type CallPort,
  type CommandRequest,
  decodeRequests,
  encodeResponses,
  ForbiddenError,
  ProtocolError,
  type Target,
  type Topology,
  toWireError,
  WatchOverflowError,
} from '@flotilla/app';
import { assertNever, type FlotillaError, type GroupId, type NodeId } from '@flotilla/core';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../operations/logger.ts';
import type { WatchFilter, WatchSink } from '../watch/feed.ts';
import { ApiAuth, allows, type Principal, roleFor as roleOf } from './api-auth.ts';

/** An open watch as the API sees it. */
export interface OpenWatch {
  cancel(): void;
}

/** What the API needs from a node. */
export interface ApiBackend {
  readonly nodeId: NodeId;
  readonly calls: CallPort;
  status(): unknown;
  topology(): Topology;
  /** Who this node believes leads `group` (0 when unknown); sent back as a routing hint. */
  leaderOf(group: GroupId): NodeId;
  /** Membership changes exist only with a `[cluster]` (undefined in standalone mode). */
  addNode?(node: { id: number; rpc: string; api: string }): Promise<unknown>;
  removeNode?(id: number): Promise<unknown>;
  transferLeader(group: GroupId, to: NodeId): Promise<unknown>;
  createGroup(id: GroupId, kind: string): Promise<unknown>;
  createShards(prefix: string, count: number, kind: string): Promise<unknown>;
  deleteGroup(id: GroupId): Promise<unknown>;
  /** Opens a watch on this node's replica of `group`; throws a typed error when it cannot. */
  watch(
    group: GroupId,
    filter: WatchFilter,
    fromRevision: number | undefined,
    progressMs: number,
    sink: WatchSink,
  ): OpenWatch;
  /** Test-only: partition this node from `peers` (only when fault injection is enabled). */
  injectFaults?(peers: readonly NodeId[]): unknown;
  /** Test-only: fails a group's replica actor or kills its host thread. */
  injectActorFault?(group: GroupId, kind: 'crash-actor' | 'exit-thread' | 'fail-storage'): unknown;
}

export interface ApiServerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxPayloadBytes?: number;
  /** Requests in flight per connection; past it the connection is closed (1008). */
  readonly inflightPerConnectionMax?: number;
  /** Unsent bytes on a connection past which its watches are cancelled. */
  readonly watchBufferBytesMax?: number;
  /** Who may connect and what each may do (default: open, for a loopback-only API). */
  readonly auth?: ApiAuth;
  /** Serve `wss`: the node's certificate and key (files). */
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly logger: Logger;
}

/** Progress notifications of a watch that does not ask for another period. */
export const WATCH_PROGRESS_MS = 1_000;
/** Unsent bytes per connection before its watches are cancelled, by default. */
export const API_WATCH_BUFFER_BYTES_MAX = 8 << 20;

/** Bound on one WebSocket message from a client, by default. */
export const API_PAYLOAD_BYTES_MAX = 16 << 20;
/** Requests in flight per client connection, by default. */
export const API_INFLIGHT_PER_CONNECTION_MAX = 10_000;

function targetOf(args: {
  group?: string | undefined;
  key?: string | undefined;
  shards?: string | undefined;
}): Target {
  if (args.group !== undefined) return args.group;
  if (args.key !== undefined)
    return args.shards === undefined ? { key: args.key } : { key: args.key, shards: args.shards };
  throw new ProtocolError('a call needs a group or a key');
}

function commandOf(args: ApiArgs<'execute'>): CommandRequest {
  return {
    kind: args.kind,
    target: targetOf(args),
    payload: args.payload,
    ...(args.session
      ? { session: { clientId: args.session[0], sequence: args.session[1], ackedBelow: args.session[2] } }
      : {}),
    ...(args.fence ? { fence: { group: args.fence[0], term: args.fence[1] } } : {}),
  };
}

export class ApiServer {
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  readonly counters = {
    connections: 0,
    requests: 0,
    errors: 0,
    malformed: 0,
    refused: 0,
    framesIn: 0,
    framesOut: 0,
    watchOverflows: 0,
    /** Upgrades refused for want of a valid token. */
    unauthenticated: 0,
    /** Requests refused by role. */
    forbidden: 0,
  };
  private readonly auth: ApiAuth;

  private constructor(
    private readonly backend: ApiBackend,
    private readonly options: ApiServerOptions,
  ) {
    this.auth = options.auth ?? new ApiAuth([]);
    const plain = (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('use a WebSocket client\n');
    };
    const tls = options.tls;
    this.http = tls
      ? createHttpsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, plain)
      : createServer(plain);
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: options.maxPayloadBytes ?? API_PAYLOAD_BYTES_MAX,
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(req, socket, head),
    );
  }

  /** Authenticates before the WebSocket exists: a stranger gets 401 and is counted, nothing more. */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const principal = this.auth.authenticate(req.headers.authorization);
    if (principal === undefined) {
      this.counters.unauthenticated++;
      this.options.logger.warn(
        { remoteAddress: req.socket.remoteAddress },
        'client API: connection refused without a valid token',
      );
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, principal));
  }

  static async listen(backend: ApiBackend, options: ApiServerOptions): Promise<ApiServer> {
    const server = new ApiServer(backend, options);
    await new Promise<void>((resolve, reject) => {
      server.http.once('error', reject);
      server.http.listen(options.port, options.host, () => resolve());
    });
    return server;
  }

  get address(): string {
    const a = this.http.address() as AddressInfo;
    return `${a.address}:${a.port}`;
  }

  private accept(ws: WebSocket, principal: Principal): void {
    this.counters.connections++;
    let inflight = 0;
    const max = this.options.inflightPerConnectionMax ?? API_INFLIGHT_PER_CONNECTION_MAX;
    // Responses completed in one turn leave as one frame (one syscall), as requests arrive.
    let outbox: (ApiResponse | ApiPush)[] = [];
    const watches = new Map<number, OpenWatch>();
    const bufferMax = this.options.watchBufferBytesMax ?? API_WATCH_BUFFER_BYTES_MAX;
    const flush = () => {
      const batch = outbox;
      outbox = [];
      if (ws.readyState !== ws.OPEN) return;
      this.counters.framesOut++;
      ws.send(encodeResponses(batch));
    };
    const respond = (response: ApiResponse) => {
      inflight--;
      if (outbox.push(response) === 1) queueMicrotask(flush);
    };
    // A subscriber that does not read: past the bound, every watch of its connection ends, saying where to
    // resume (what was already handed to the socket will still arrive).
    let overflowing = false;
    const overflow = () => {
      overflowing = false;
      if (watches.size === 0) return;
      const buffered = ws.bufferedAmount;
      this.counters.watchOverflows++;
      for (const [id, w] of [...watches]) {
        watches.delete(id);
        w.cancel();
        // Resume after what reached the socket, not after what the feed handed over (pushes past the bound
        // were dropped here).
        const resumeFrom = (queuedThrough.get(id) ?? 0) + 1;
        respond({
          id,
          ok: false,
          error: toWireError(new WatchOverflowError(groupOf(id), resumeFrom, buffered)),
        });
        groupOfWatch.delete(id);
        queuedThrough.delete(id);
      }
    };
    const groupOfWatch = new Map<number, GroupId>();
    /** Per watch: every change up to this revision was queued for the socket. */
    const queuedThrough = new Map<number, number>();
    const groupOf = (id: number) => groupOfWatch.get(id) ?? '';
    const openWatch = (id: number, args: ApiArgs<'watch'>) => {
      if (watches.has(id)) throw new ProtocolError(`watch ${id} is already open on this connection`);
      const sink: WatchSink = {
        push: (item) => {
          if (!watches.has(id)) return;
          if (ws.bufferedAmount > bufferMax) {
            if (!overflowing) {
              overflowing = true;
              queueMicrotask(overflow);
            }
            return;
          }
          queuedThrough.set(id, item[0] === 'live' ? item[1] - 1 : item[1]);
          if (outbox.push({ id, item }) === 1) queueMicrotask(flush);
        },
        end: (error: FlotillaError) => {
          if (!watches.delete(id)) return;
          groupOfWatch.delete(id);
          queuedThrough.delete(id);
          respond({ id, ok: false, error: toWireError(error) });
        },
      };
      // Registered before the watch opens: its first items (live, replayed changes) are pushed from inside.
      const placeholder: OpenWatch = { cancel: () => {} };
      watches.set(id, placeholder);
      groupOfWatch.set(id, args.group);
      try {
        const w = this.backend.watch(
          args.group,
          { key: args.key, prefix: args.prefix },
          args.fromRevision,
          args.progressMs ?? WATCH_PROGRESS_MS,
          sink,
        );
        if (watches.get(id) === placeholder) watches.set(id, w);
        else w.cancel();
      } catch (error) {
        watches.delete(id);
        groupOfWatch.delete(id);
        throw error;
      }
    };
    const closeWatch = (watch: number): { cancelled: boolean } => {
      const w = watches.get(watch);
      if (w === undefined) return { cancelled: false };
      watches.delete(watch);
      groupOfWatch.delete(watch);
      queuedThrough.delete(watch);
      w.cancel();
      respond({ id: watch, ok: true, result: { cancelled: true } });
      return { cancelled: true };
    };
    ws.on('close', () => {
      for (const w of watches.values()) w.cancel();
      watches.clear();
    });
    ws.on('error', () => ws.terminate());
    ws.on('message', (data, isBinary) => {
      let decoded: ReturnType<typeof decodeRequests>;
      try {
        if (!isBinary) throw new ProtocolError('text frames are not accepted');
        decoded = decodeRequests(data as Buffer);
        this.counters.framesIn++;
      } catch (error) {
        this.counters.malformed++;
        ws.close(1002, closeReason((error as Error).message));
        return;
      }
      inflight += decoded.requests.length + decoded.refused.length;
      if (inflight > max) {
        ws.close(1008, 'too many requests in flight');
        return;
      }
      for (const { id, error } of decoded.refused) {
        this.counters.refused++;
        respond({ id, ok: false, error: toWireError(error) });
      }
      for (const request of decoded.requests) {
        if (!allows(principal.role, request.op)) {
          this.counters.forbidden++;
          respond({
            id: request.id,
            ok: false,
            error: toWireError(new ForbiddenError(request.op, principal.role, roleOf(request.op))),
          });
          continue;
        }
        if (request.op === 'watch') {
          this.counters.requests++;
          try {
            openWatch(request.id, request.args);
          } catch (error) {
            this.counters.errors++;
            respond({ id: request.id, ok: false, error: toWireError(error) });
          }
        } else if (request.op === 'unwatch') {
          this.counters.requests++;
          respond({ id: request.id, ok: true, result: closeWatch(request.args.watch) });
        } else this.run(request, respond);
      }
    });
  }

  private run(request: ApiRequest, respond: (response: ApiResponse) => void): void {
    this.counters.requests++;
    const group =
      'group' in request.args && typeof request.args.group === 'string' ? request.args.group : undefined;
    const hint = () => (group === undefined ? {} : leaderHint(this.backend.leaderOf(group)));
    let work: Promise<unknown>;
    try {
      work = this.handle(request);
    } catch (error) {
      work = Promise.reject(error);
    }
    work.then(
      (result) => respond({ id: request.id, ok: true, result, ...hint() }),
      (error: unknown) => {
        this.counters.errors++;
        respond({ id: request.id, ok: false, error: toWireError(error), ...hint() });
      },
    );
  }

  private handle(r: ApiRequest): Promise<unknown> {
    const b = this.backend;
    switch (r.op) {
      case 'execute':
        return b.calls.command(commandOf(r.args), timeoutOf(r.args));
      case 'query':
        return b.calls.query(
          {
            kind: r.args.kind,
            target: targetOf(r.args),
            payload: r.args.payload,
            consistency: r.args.consistency,
          },
          timeoutOf(r.args),
        );
      case 'watch':
      case 'unwatch':
        throw new ProtocolError(`${r.op} is handled by its connection`);
      case 'status':
        return Promise.resolve(b.status());
      case 'topology':
        return Promise.resolve(b.topology());
      case 'addNode':
        if (!b.addNode) throw new ProtocolError('membership changes need a [cluster] section');
        return b.addNode(r.args);
      case 'removeNode':
        if (!b.removeNode) throw new ProtocolError('membership changes need a [cluster] section');
        return b.removeNode(r.args.id);
      case 'transfer':
        return b.transferLeader(r.args.group, r.args.to);
      case 'createGroup':
        return b.createGroup(r.args.id, r.args.kind);
      case 'createShards':
        return b.createShards(r.args.prefix, r.args.count, r.args.kind);
      case 'deleteGroup':
        return b.deleteGroup(r.args.id);
      case 'faults': {
        if (!b.injectFaults || !b.injectActorFault)
          throw new ProtocolError('fault injection is disabled on this node');
        const a = r.args;
        return Promise.resolve(
          'blockPeers' in a ? b.injectFaults(a.blockPeers) : b.injectActorFault(a.group, a.kind),
        );
      }
      default:
        return assertNever(r);
    }
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}

/** WebSocket close reasons are at most 123 bytes: printable ASCII only (a reason may quote undecodable bytes). */
const CLOSE_REASON_CHARS_MAX = 120;

function closeReason(message: string): string {
  return message.replace(/[^\x20-\x7e]/g, '?').slice(0, CLOSE_REASON_CHARS_MAX);
}

function timeoutOf(args: { timeoutMs?: number | undefined }): { timeoutMs?: number } {
  return args.timeoutMs === undefined ? {} : { timeoutMs: args.timeoutMs };
}

function leaderHint(leader: NodeId): { leader?: NodeId } {
  return leader ? { leader } : {};
}
