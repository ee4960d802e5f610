/**
 * The listener: an HTTP(S) server whose only business is the peer-link upgrade. Credentials are checked in
 * the `upgrade` handler before ws sees the request; strangers get 401, logged with their address and counted.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { NodeId } from '@flotilla/core';
import { WebSocketServer } from 'ws';
import { AuthVerifier, PEER_PATH, PEER_REMOVED_CODE, PEER_REMOVED_REASON } from './auth.ts';
import { InboundConnection } from './inbound-connection.ts';
import type { LinkContext } from './link-context.ts';
import type { RejectionReason } from './stats.ts';

export class InboundServer {
  readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly verifier: AuthVerifier;
  private readonly connections = new Map<NodeId, Set<InboundConnection>>();

  constructor(
    private readonly ctx: LinkContext,
    isKnownPeer: (id: NodeId) => boolean,
    /** An authenticated peer connected: it is up (the transport redials it if its own link is backing off). */
    private readonly peerSeen: (id: NodeId) => void = () => {},
  ) {
    const { options } = ctx;
    this.verifier = new AuthVerifier({
      secret: options.clusterSecret,
      localId: options.nodeId,
      clockSkewMaxMs: options.authClockSkewMaxMs,
      nonceCacheMax: options.authNonceCacheMax,
      isKnownNode: isKnownPeer,
    });
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: options.maxPayloadBytes,
      clientTracking: false,
      skipUTF8Validation: true,
    });
    this.server = this.createServer();
  }

  get connectionCount(): number {
    let n = 0;
    for (const set of this.connections.values()) n += set.size;
    return n;
  }

  listen(): Promise<number> {
    const { host, port } = this.ctx.options;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /** Idle and snapshot timeouts of inbound connections. */
  sweep(nowMs: number): void {
    for (const set of this.connections.values()) for (const c of set) c.sweep(nowMs);
  }

  /** Closes the connections of a peer that left the cluster. */
  dropPeer(id: NodeId): void {
    for (const c of this.connections.get(id) ?? []) c.close(PEER_REMOVED_CODE, PEER_REMOVED_REASON);
  }

  async close(): Promise<void> {
    for (const set of this.connections.values()) for (const c of set) c.terminate();
    this.connections.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private createServer(): Server {
    const { options, stats, log } = this.ctx;
    const tls = options.tls;
    const server: Server = tls
      ? createHttpsServer({
          cert: readFileSync(tls.certFile),
          key: readFileSync(tls.keyFile),
          ...(tls.caFile !== undefined ? { ca: readFileSync(tls.caFile) } : {}),
          requestCert: tls.requestCert ?? true,
          rejectUnauthorized: tls.rejectUnauthorized ?? true,
        })
      : createHttpServer();
    server.maxConnections = options.connectionsMax;
    server.headersTimeout = options.connectTimeoutMs;
    server.requestTimeout = options.connectTimeoutMs;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.ctx.guard('upgrade', () => this.onUpgrade(req, socket, head)),
    );
    server.on('request', (req: IncomingMessage, res) => {
      stats.errors.httpRequest++;
      log.warn({ remoteAddress: req.socket.remoteAddress, url: req.url }, 'plain HTTP request refused');
      res.writeHead(426, { connection: 'close', 'content-type': 'text/plain' }).end('peer links only\n');
    });
    server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
      if ((error.code ?? '').startsWith('HPE_')) stats.errors.httpParse++;
      else stats.errors.socket++;
      log.warn({ remoteAddress: remoteAddressOf(socket), err: error.message }, 'bad bytes on the listener');
      if (socket.writable && (error.code ?? '').startsWith('HPE_')) {
        socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      } else {
        socket.destroy();
      }
    });
    server.on('tlsClientError', (error: Error, socket: Duplex) => {
      stats.errors.tls++;
      log.warn({ remoteAddress: remoteAddressOf(socket), err: error.message }, 'TLS handshake refused');
    });
    return server;
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const remoteAddress = req.socket.remoteAddress ?? 'unknown';
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== PEER_PATH) {
      this.refuse(socket, 404, 'badPath', remoteAddress, undefined);
      return;
    }
    const auth = this.verifier.verify(req.headers, this.ctx.options.now());
    if (!auth.ok) {
      const status = auth.reason === 'nonceCacheFull' ? 503 : 401;
      this.refuse(socket, status, auth.reason, remoteAddress, auth.claimedNode);
      return;
    }
    const set = this.connections.get(auth.nodeId) ?? new Set<InboundConnection>();
    if (set.size >= this.ctx.options.inboundConnectionsPerPeerMax) {
      this.refuse(socket, 503, 'tooManyConnections', remoteAddress, auth.nodeId);
      return;
    }
    this.connections.set(auth.nodeId, set);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const connection = new InboundConnection(ws, auth.nodeId, remoteAddress, this.ctx, (c) => {
        set.delete(c);
        if (set.size === 0 && this.connections.get(auth.nodeId) === set) this.connections.delete(auth.nodeId);
      });
      set.add(connection);
      this.ctx.log.info({ peer: auth.nodeId, remoteAddress }, 'inbound peer link accepted');
      this.peerSeen(auth.nodeId);
    });
  }

  private refuse(
    socket: Duplex,
    status: number,
    reason: RejectionReason,
    remoteAddress: string,
    claimedNode: NodeId | undefined,
  ): void {
    const { stats, log } = this.ctx;
    stats.rejectedPeers++;
    stats.rejections[reason]++;
    log.warn({ remoteAddress, reason, claimedNode, status }, 'peer link refused');
    const body = `${reason}\n`;
    socket.once('finish', () => socket.destroy());
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: text/plain\r\n` +
        `content-length: ${body.length}\r\n\r\n${body}`,
    );
  }
}

function remoteAddressOf(socket: Duplex): string {
  return (socket as Duplex & { remoteAddress?: string }).remoteAddress ?? 'unknown';
}
