/**
 * The admin HTTP endpoint of a node, bound to loopback unless configured otherwise: `/metrics`
 * (Prometheus), `/status` (this node, JSON), `/cluster` (every member, see cluster-view.ts), `/` (the
 * dashboard, see dashboard.ts), `/dashboard/tabs` (the application's tabs) and `POST /call` (a command or
 * query from a tab). `/call` refuses what a cross-site page could send: it needs the header
 * `x-flotilla-admin: 1` and a JSON content type (403 otherwise), a body within ADMIN_CALL_BODY_BYTES_MAX (413)
 * that parses (400). It answers `{ ok: true, value }` or `{ ok: false, error: { name, code, message, … } }`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AppDefinition, PayloadTooLargeError, ProtocolError, toWireError } from '@flotilla/app';
import type { Registry } from 'prom-client';
import { type AdminCall, parseAdminCall } from './admin-call.ts';
import { DASHBOARD_PAGE } from './dashboard.ts';

export interface AdminSources {
  status(): unknown;
  readonly metrics: Registry | undefined;
  /** This node's status and every other member's. */
  cluster(): Promise<unknown>;
  /** The application's dashboard tabs. */
  readonly tabs: AppDefinition['dashboard'];
  /** Runs a dashboard call; resolves with its result or rejects with its typed error. */
  call(call: AdminCall): Promise<unknown>;
}

/** Largest `POST /call` body. */
export const ADMIN_CALL_BODY_BYTES_MAX = 1 << 20;
/** An oversized body is read (and dropped) up to this much so that the client gets its 413; past it, cut. */
const ADMIN_DRAIN_BYTES_MAX = 4 * ADMIN_CALL_BODY_BYTES_MAX;
/** The header a `/call` must carry: a cross-site form cannot set it, and a cross-site fetch is preflighted. */
export const ADMIN_CALL_HEADER = 'x-flotilla-admin';

/** A status, a JSON body, and whether to close the connection (a body cut short is not read to its end). */
type Answer = readonly [status: number, body: unknown, close?: boolean];

export class AdminServer {
  private constructor(private readonly server: Server) {}

  static async listen(sources: AdminSources, host: string, port: number): Promise<AdminServer> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/call') {
        if (req.method !== 'POST') {
          res.writeHead(405, { allow: 'POST' }).end();
          return;
        }
        serveCall(sources, req).then(
          ([status, body, close]) => {
            if (close) res.setHeader('connection', 'close').once('finish', () => req.destroy());
            sendJson(res, status, body);
          },
          (error: unknown) => sendJson(res, 500, failure(error)),
        );
        return;
      }
      if (req.method !== 'GET') {
        res.writeHead(405, { allow: 'GET' }).end();
        return;
      }
      if (path === '/status') {
        Promise.resolve(sources.status()).then(
          (status) => sendJson(res, 200, status),
          (error: unknown) => res.writeHead(500).end(String(error)),
        );
      } else if (path === '/cluster') {
        sources.cluster().then(
          (view) => sendJson(res, 200, view),
          (error: unknown) => res.writeHead(500).end(String(error)),
        );
      } else if (path === '/dashboard/tabs') {
        sendJson(res, 200, sources.tabs);
      } else if (path === '/metrics' && sources.metrics) {
        const registry = sources.metrics;
        registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (error: unknown) => res.writeHead(500).end(String(error)),
        );
      } else if (path === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(DASHBOARD_PAGE);
      } else {
        res.writeHead(404).end('not found\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return new AdminServer(server);
  }

  get address(): string {
    const a = this.server.address() as AddressInfo;
    return `${a.address}:${a.port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function serveCall(sources: AdminSources, req: IncomingMessage): Promise<Answer> {
  const refused = refusal(req);
  if (refused !== undefined) return [403, failure(new ProtocolError(refused))];
  const body = await readBody(req);
  if (typeof body === 'number')
    return [
      413,
      failure(new PayloadTooLargeError('the /call body', body, ADMIN_CALL_BODY_BYTES_MAX)),
      body > ADMIN_DRAIN_BYTES_MAX,
    ];
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return [
      400,
      failure(new ProtocolError(`the /call body is not valid JSON (${(error as Error).message})`)),
    ];
  }
  let call: AdminCall;
  try {
    call = parseAdminCall(json);
  } catch (error) {
    return [400, failure(error)];
  }
  try {
    return [200, { ok: true, value: await sources.call(call) }];
  } catch (error) {
    return [200, failure(error)];
  }
}

/** Why a `/call` request is refused as possibly cross-site, or undefined when it is not. */
function refusal(req: IncomingMessage): string | undefined {
  if (req.headers[ADMIN_CALL_HEADER] !== '1') return `POST /call needs the header ${ADMIN_CALL_HEADER}: 1`;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') return 'POST /call needs content-type: application/json';
  const origin = req.headers.origin;
  if (
    origin !== undefined &&
    origin !== `http://${req.headers.host}` &&
    origin !== `https://${req.headers.host}`
  )
    return `POST /call from origin ${origin} is refused (only the dashboard's own origin may call)`;
  return undefined;
}

/**
 * The body as text; or, when it is over ADMIN_CALL_BODY_BYTES_MAX, its length (read to its end and dropped so
 * that the client gets its answer, unless longer than ADMIN_DRAIN_BYTES_MAX: then cut there).
 */
function readBody(req: IncomingMessage): Promise<string | number> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= ADMIN_CALL_BODY_BYTES_MAX) chunks.push(chunk);
      else if (bytes > ADMIN_DRAIN_BYTES_MAX) {
        req.off('data', onData).pause();
        resolve(bytes);
      }
    };
    req.on('data', onData);
    req.once('end', () =>
      resolve(bytes <= ADMIN_CALL_BODY_BYTES_MAX ? Buffer.concat(chunks).toString('utf8') : bytes),
    );
    req.once('error', reject);
  });
}

function failure(error: unknown): { ok: false; error: Record<string, unknown> } {
  const name = error instanceof Error ? error.name : 'Error';
  return { ok: false, error: { name, ...toWireError(error) } };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body, plain));
}

/** JSON.stringify's replacer for what msgpack may decode and JSON cannot hold as is. */
function plain(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}
