/**
 * The client API server: a WebSocket endpoint per node that accepts requests from the client library (and
 * the CLI), runs them through the node's executor (forwarding to leaders as needed) and answers in order of
 * completion. Malformed frames are counted and close the connection; the process never crashes on input.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GroupId, NodeId } from '@flotilla/core';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  type ApiRequest,
  type ApiResponse,
  decodeRequests,
  encodeResponses,
  type Topology,
} from './api-protocol.ts';
import { ProtocolError } from './errors.ts';
import type { CommandExecutor, ReadConsistency } from './executor.ts';
import type { Logger } from './logger.ts';
import { validateQuery } from './queries.ts';
import { toWireError } from './wire-errors.ts';

/** What the API needs from a node (cluster or standalone). */
export interface ApiBackend {
  readonly nodeId: NodeId;
  readonly executor: CommandExecutor;
  status(): unknown;
  topology(): Topology;
  /** Who this node believes leads `group` (0 when unknown); sent back as a routing hint. */
  leaderOf?(group: GroupId): NodeId;
  addNode?(node: { id: number; rpc: string; api: string }): Promise<unknown>;
  removeNode?(id: number): Promise<unknown>;
  transferLeader?(group: GroupId, to: NodeId): Promise<unknown>;
  createGroup?(id: GroupId): Promise<unknown>;
  deleteGroup?(id: GroupId): Promise<unknown>;
  /** Test-only: partition this node from `peers` (only when fault injection is enabled). */
  injectFaults?(peers: readonly NodeId[]): unknown;
  /** Test-only: fails a group's replica actor or kills its host thread. */
  injectActorFault?(group: GroupId, kind: 'crash-actor' | 'exit-thread'): unknown;
}

export interface ApiServerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxPayloadBytes?: number;
  /** Requests in flight per connection; past it the connection is closed (1008). */
  readonly inflightPerConnectionMax?: number;
  readonly logger: Logger;
}

const CONSISTENCIES: readonly ReadConsistency[] = ['linearizable', 'lease', 'stale'];

export class ApiServer {
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  readonly counters = { connections: 0, requests: 0, errors: 0, malformed: 0, framesIn: 0, framesOut: 0 };

  private constructor(
    private readonly backend: ApiBackend,
    private readonly options: ApiServerOptions,
  ) {
    this.http = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('use a WebSocket client\n');
    });
    this.wss = new WebSocketServer({
      server: this.http,
      perMessageDeflate: false,
      maxPayload: options.maxPayloadBytes ?? 16 << 20,
    });
    this.wss.on('connection', (ws) => this.accept(ws));
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

  private accept(ws: WebSocket): void {
    this.counters.connections++;
    let inflight = 0;
    const max = this.options.inflightPerConnectionMax ?? 10_000;
    // Responses completed in one turn leave as one frame (one syscall), as requests arrive.
    let outbox: ApiResponse[] = [];
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
    ws.on('error', () => ws.terminate());
    ws.on('message', (data, isBinary) => {
      let requests: ApiRequest[];
      try {
        if (!isBinary) throw new ProtocolError('text frames are not accepted');
        requests = decodeRequests(data as Buffer);
        this.counters.framesIn++;
      } catch (error) {
        this.counters.malformed++;
        ws.close(1002, String((error as Error).message).slice(0, 100));
        return;
      }
      inflight += requests.length;
      if (inflight > max) {
        ws.close(1008, 'too many requests in flight');
        return;
      }
      for (const request of requests) {
        this.counters.requests++;
        const group = request.args.group;
        const hint = () =>
          typeof group === 'string' ? this.backend.leaderOf?.(group) || undefined : undefined;
        this.handle(request).then(
          (result) => respond({ id: request.id, ok: true, result, ...leaderHint(hint()) }),
          (error: unknown) => {
            this.counters.errors++;
            respond({ id: request.id, ok: false, error: toWireError(error), ...leaderHint(hint()) });
          },
        );
      }
    });
  }

  private async handle(r: ApiRequest): Promise<unknown> {
    const b = this.backend;
    const a = r.args;
    const timeout = typeof a.timeoutMs === 'number' ? { timeoutMs: a.timeoutMs } : {};
    switch (r.op) {
      case 'execute':
        if (typeof a.group !== 'string' || !(a.command instanceof Uint8Array))
          throw new ProtocolError('execute needs group and command');
        return b.executor.execute(a.group, a.command, timeout);
      case 'read': {
        if (typeof a.group !== 'string') throw new ProtocolError('read needs a group');
        const consistency = (a.consistency ?? 'linearizable') as ReadConsistency;
        if (!CONSISTENCIES.includes(consistency))
          throw new ProtocolError(`unknown consistency ${String(a.consistency)}`);
        return b.executor.read(a.group, validateQuery(a.query), consistency, timeout);
      }
      case 'status':
        return b.status();
      case 'topology':
        return b.topology();
      case 'addNode':
        if (!b.addNode) throw new ProtocolError('membership changes need a cluster');
        return b.addNode({ id: Number(a.id), rpc: String(a.rpc ?? ''), api: String(a.api ?? '') });
      case 'removeNode':
        if (!b.removeNode) throw new ProtocolError('membership changes need a cluster');
        return b.removeNode(Number(a.id));
      case 'transfer':
        if (!b.transferLeader) throw new ProtocolError('leadership transfer needs a cluster');
        return b.transferLeader(String(a.group), Number(a.to));
      case 'createGroup':
        if (!b.createGroup) throw new ProtocolError('groups are created in a cluster');
        return b.createGroup(String(a.id ?? ''));
      case 'deleteGroup':
        if (!b.deleteGroup) throw new ProtocolError('groups are deleted in a cluster');
        return b.deleteGroup(String(a.id ?? ''));
      case 'faults':
        if (!b.injectFaults || !b.injectActorFault)
          throw new ProtocolError('fault injection is disabled on this node');
        if (a.kind === 'crash-actor' || a.kind === 'exit-thread')
          return b.injectActorFault(String(a.group), a.kind);
        if (!Array.isArray(a.blockPeers)) throw new ProtocolError('faults needs blockPeers: number[]');
        return b.injectFaults(a.blockPeers.map(Number));
    }
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}

function leaderHint(leader: NodeId | undefined): { leader?: NodeId } {
  return leader ? { leader } : {};
}
