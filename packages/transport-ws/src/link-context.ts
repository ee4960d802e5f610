/**
 * What links and connections share with their transport: options, counters, logger, the guarded handler,
 * TLS client material and the end-of-turn flush scheduler. Kept as an interface so links stay testable.
 */
import type { TransportHandler } from '@flotilla/core';
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import type { FramePool } from './frame-pool.ts';
import type { ResolvedOptions } from './options.ts';
import type { OutboundLink } from './outbound-link.ts';
import type { WsTransportStats } from './stats.ts';

/** TLS options for dialling peers (node certificate as client certificate, trusted CA). */
export interface TlsClientOptions {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
  readonly rejectUnauthorized: boolean;
}

export interface LinkContext {
  readonly options: ResolvedOptions;
  readonly stats: WsTransportStats;
  readonly log: Logger;
  /** The node's handler, wrapped so that a throwing callback is logged and counted, never propagated. */
  readonly handler: TransportHandler;
  readonly tlsClient: TlsClientOptions | undefined;
  /** Reusable frame buffers; a frame goes back once its socket write completed. */
  readonly framePool: FramePool;
  /** Marks `link` for the flush at the end of the current event-loop turn. */
  scheduleFlush(link: OutboundLink): void;
  /** Runs an event callback; an exception is logged and counted (`errors.internal`) instead of thrown. */
  guard(what: string, fn: () => void): void;
}

/** Starts the close handshake; a peer that does not finish it within `timeoutMs` is cut off. */
export function closeWithin(ws: WebSocket, code: number, reason: string, timeoutMs: number): void {
  ws.close(code, reason);
  setTimeout(() => ws.terminate(), timeoutMs).unref();
}
