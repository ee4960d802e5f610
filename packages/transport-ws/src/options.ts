/**
 * Configuration of a `WsTransport`: every bound (queues, frames, windows, retries) has a named maximum here,
 * with defaults sized for Raft traffic on a LAN, validated once at construction.
 */
import { type GroupId, InvalidConfigError, type NodeId } from '@flotilla/core';
import { type Logger, pino } from 'pino';
import { CHUNK_FRAME_OVERHEAD_BYTES, looksLikeMessageTuple } from './frame-format.ts';

/** TLS from PEM files: `wss://` links, and mutual TLS when `requestCert` (the default). */
export interface WsTlsOptions {
  /** This node's certificate: served to dialling peers and presented as client certificate when dialling. */
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle that peers' certificates must chain to. Without it the system CAs are used. */
  readonly caFile?: string;
  /** Ask dialling peers for a client certificate. Default `true`. */
  readonly requestCert?: boolean;
  /** Refuse peers (and servers) whose certificate does not verify. Default `true`. */
  readonly rejectUnauthorized?: boolean;
}

export interface WsTransportOptions {
  /** This node's id (> 0). */
  readonly nodeId: NodeId;
  /** Listen address. Default `127.0.0.1`. */
  readonly host?: string;
  /** Listen port; `0` (default) picks a free one (see `WsTransport.port`). */
  readonly port?: number;
  /** Peer node id → base URL (`ws://host:port` or `wss://…`). Change at runtime with `addPeer`/`removePeer`. */
  readonly peers?: ReadonlyMap<NodeId, string>;
  /** Shared cluster secret (≥ 16 bytes) proving membership at upgrade. */
  readonly clusterSecret: string | Uint8Array;
  readonly tls?: WsTlsOptions;
  /** pino logger; the transport logs through a child `{component: 'transport', node}`. Default: silent. */
  readonly logger?: Logger;
  /**
   * Optional check of incoming group ids. Without it every well-formed group id is delivered and the node
   * drops what it does not host. With it, records for unknown groups are counted (`errors.unknownGroup`)
   * and handled by `unknownGroupAction`.
   */
  readonly knowsGroup?: (group: GroupId) => boolean;
  /**
   * `drop` (default): drop the record, keep the link — a group being created may not exist here yet.
   * `close`: treat it as bad input and close the connection with 1008.
   */
  readonly unknownGroupAction?: 'drop' | 'close';
  /**
   * Cheap shape check of each received payload, without decoding it; a failing record refuses its whole frame
   * (`errors.invalidPayload`, close 1007). Default `looksLikeMessageTuple`: a msgpack array of ≥ 4 elements, as
   * core's `encodeMessage` produces. Pass `() => true` to carry other payloads unchecked.
   */
  readonly isValidPayload?: (payload: Uint8Array) => boolean;
  /** Largest WebSocket message accepted or sent (ws `maxPayload`). Default 16 MiB. */
  readonly maxPayloadBytes?: number;
  /** A flush splits its records into data frames of at most this size (one larger record goes alone). Default 256 KiB. */
  readonly frameBytesMax?: number;
  /** Queued + socket-buffered bytes per link past which `isHeld` is true. Default 8 MiB. */
  readonly highWaterMarkBytes?: number;
  /** The hold is released when the link drains below this. Default half the high-water mark. */
  readonly lowWaterMarkBytes?: number;
  /** Hard cap of queued + buffered bytes per link; messages past it are dropped and counted. Default 4 × HWM. */
  readonly bufferedBytesMax?: number;
  readonly pingIntervalMs?: number;
  /** An outbound link with no pong (or other reply) for this long is terminated and redialled. */
  readonly pongTimeoutMs?: number;
  /** An inbound connection with no frame or ping for this long is terminated. */
  readonly inboundIdleTimeoutMs?: number;
  /** A connection we close is cut off if the peer has not completed the close handshake within this. */
  readonly closeTimeoutMs?: number;
  /** Bound on the TCP + TLS + upgrade handshake of a dial. */
  readonly connectTimeoutMs?: number;
  readonly reconnectDelayMinMs?: number;
  readonly reconnectDelayMaxMs?: number;
  /** Each delay is reduced by a random fraction up to this ratio (0–1). Default 0.5. */
  readonly reconnectJitterRatio?: number;
  /** Accepted distance between a peer's auth timestamp and our clock. Default 30 s. */
  readonly authClockSkewMaxMs?: number;
  /** Nonces remembered to refuse replays; when full of unexpired nonces, upgrades are refused. */
  readonly authNonceCacheMax?: number;
  /** Concurrent inbound connections accepted from one peer. Default 4. */
  readonly inboundConnectionsPerPeerMax?: number;
  /** Open sockets on the listener (peers and strangers). Default 1024. */
  readonly connectionsMax?: number;
  /**
   * Bad frames tolerated on one connection: each is dropped whole and counted; the one that reaches this
   * number closes the connection with its close code. Default 1 (close on the first). WebSocket-level
   * violations always close at once.
   */
  readonly frameErrorsPerConnectionMax?: number;
  readonly snapshotChunkBytesMax?: number;
  /** Chunks a snapshot sender may have sent beyond what the receiver consumed (credit window). */
  readonly snapshotWindowChunks?: number;
  /** Concurrent snapshot transfers per link (each direction). */
  readonly snapshotTransfersMax?: number;
  /** A transfer with no progress (credit, chunk, completion) for this long is aborted. */
  readonly snapshotIdleTimeoutMs?: number;
  /** Randomness for reconnect jitter (tests pass a seeded one). Default `Math.random`. */
  readonly random?: () => number;
  /** Wall clock for auth timestamps. Default `Date.now`. */
  readonly now?: () => number;
}

/** Options with every default filled in. */
export interface ResolvedOptions {
  readonly nodeId: NodeId;
  readonly host: string;
  readonly port: number;
  readonly clusterSecret: Buffer;
  readonly tls: WsTlsOptions | undefined;
  readonly logger: Logger;
  readonly knowsGroup: ((group: GroupId) => boolean) | undefined;
  readonly unknownGroupAction: 'drop' | 'close';
  readonly isValidPayload: (payload: Uint8Array) => boolean;
  readonly maxPayloadBytes: number;
  readonly frameBytesMax: number;
  readonly highWaterMarkBytes: number;
  readonly lowWaterMarkBytes: number;
  readonly bufferedBytesMax: number;
  readonly pingIntervalMs: number;
  readonly pongTimeoutMs: number;
  readonly inboundIdleTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly reconnectDelayMinMs: number;
  readonly reconnectDelayMaxMs: number;
  readonly reconnectJitterRatio: number;
  readonly authClockSkewMaxMs: number;
  readonly authNonceCacheMax: number;
  readonly inboundConnectionsPerPeerMax: number;
  readonly connectionsMax: number;
  readonly frameErrorsPerConnectionMax: number;
  readonly snapshotChunkBytesMax: number;
  readonly snapshotWindowChunks: number;
  readonly snapshotTransfersMax: number;
  readonly snapshotIdleTimeoutMs: number;
  readonly random: () => number;
  readonly now: () => number;
}

const MiB = 1024 * 1024;

function positiveInt(key: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v <= 0)
    throw new InvalidConfigError(key, `must be a positive integer, got ${v}`);
  return v;
}

function secretBytes(secret: string | Uint8Array): Buffer {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  if (bytes.length < 16) throw new InvalidConfigError('clusterSecret', 'must be at least 16 bytes');
  return bytes;
}

/** Frame, buffer and water-mark sizes, checked against each other. */
function resolveSizes(o: WsTransportOptions) {
  const maxPayloadBytes = positiveInt('maxPayloadBytes', o.maxPayloadBytes, 16 * MiB);
  const highWaterMarkBytes = positiveInt('highWaterMarkBytes', o.highWaterMarkBytes, 8 * MiB);
  const lowWaterMarkBytes = positiveInt(
    'lowWaterMarkBytes',
    o.lowWaterMarkBytes,
    Math.floor(highWaterMarkBytes / 2),
  );
  const bufferedBytesMax = positiveInt('bufferedBytesMax', o.bufferedBytesMax, 4 * highWaterMarkBytes);
  if (lowWaterMarkBytes > highWaterMarkBytes) {
    throw new InvalidConfigError('lowWaterMarkBytes', 'must not exceed highWaterMarkBytes');
  }
  if (bufferedBytesMax < highWaterMarkBytes) {
    throw new InvalidConfigError('bufferedBytesMax', 'must be at least highWaterMarkBytes');
  }
  const snapshotChunkBytesMax = positiveInt('snapshotChunkBytesMax', o.snapshotChunkBytesMax, 256 * 1024);
  if (snapshotChunkBytesMax + CHUNK_FRAME_OVERHEAD_BYTES > maxPayloadBytes) {
    throw new InvalidConfigError('snapshotChunkBytesMax', 'a chunk frame must fit in maxPayloadBytes');
  }
  const frameBytesMax = Math.min(positiveInt('frameBytesMax', o.frameBytesMax, 256 * 1024), maxPayloadBytes);
  return {
    maxPayloadBytes,
    frameBytesMax,
    highWaterMarkBytes,
    lowWaterMarkBytes,
    bufferedBytesMax,
    snapshotChunkBytesMax,
  };
}

/** Liveness and reconnect timing. */
function resolveTiming(o: WsTransportOptions) {
  const reconnectDelayMinMs = positiveInt('reconnectDelayMinMs', o.reconnectDelayMinMs, 100);
  const reconnectDelayMaxMs = positiveInt('reconnectDelayMaxMs', o.reconnectDelayMaxMs, 5000);
  if (reconnectDelayMaxMs < reconnectDelayMinMs) {
    throw new InvalidConfigError('reconnectDelayMaxMs', 'must be at least reconnectDelayMinMs');
  }
  const reconnectJitterRatio = o.reconnectJitterRatio ?? 0.5;
  if (!(reconnectJitterRatio >= 0 && reconnectJitterRatio <= 1)) {
    throw new InvalidConfigError('reconnectJitterRatio', 'must be between 0 and 1');
  }
  const pingIntervalMs = positiveInt('pingIntervalMs', o.pingIntervalMs, 1000);
  return {
    pingIntervalMs,
    pongTimeoutMs: positiveInt('pongTimeoutMs', o.pongTimeoutMs, 5 * pingIntervalMs),
    inboundIdleTimeoutMs: positiveInt('inboundIdleTimeoutMs', o.inboundIdleTimeoutMs, 15 * pingIntervalMs),
    closeTimeoutMs: positiveInt('closeTimeoutMs', o.closeTimeoutMs, 1000),
    connectTimeoutMs: positiveInt('connectTimeoutMs', o.connectTimeoutMs, 5000),
    reconnectDelayMinMs,
    reconnectDelayMaxMs,
    reconnectJitterRatio,
    snapshotIdleTimeoutMs: positiveInt('snapshotIdleTimeoutMs', o.snapshotIdleTimeoutMs, 30_000),
  };
}

export function resolveOptions(o: WsTransportOptions): ResolvedOptions {
  const nodeId = positiveInt('nodeId', o.nodeId, 0);
  const port = o.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidConfigError('port', 'not a port');
  const perPeerMax = positiveInt('inboundConnectionsPerPeerMax', o.inboundConnectionsPerPeerMax, 4);
  return {
    nodeId,
    host: o.host ?? '127.0.0.1',
    port,
    clusterSecret: secretBytes(o.clusterSecret),
    tls: o.tls,
    logger: (o.logger ?? pino({ enabled: false })).child({ component: 'transport', node: nodeId }),
    knowsGroup: o.knowsGroup,
    unknownGroupAction: o.unknownGroupAction ?? 'drop',
    isValidPayload: o.isValidPayload ?? looksLikeMessageTuple,
    ...resolveSizes(o),
    ...resolveTiming(o),
    authClockSkewMaxMs: positiveInt('authClockSkewMaxMs', o.authClockSkewMaxMs, 30_000),
    authNonceCacheMax: positiveInt('authNonceCacheMax', o.authNonceCacheMax, 100_000),
    inboundConnectionsPerPeerMax: perPeerMax,
    connectionsMax: positiveInt('connectionsMax', o.connectionsMax, 1024),
    frameErrorsPerConnectionMax: positiveInt('frameErrorsPerConnectionMax', o.frameErrorsPerConnectionMax, 1),
    snapshotWindowChunks: positiveInt('snapshotWindowChunks', o.snapshotWindowChunks, 8),
    snapshotTransfersMax: positiveInt('snapshotTransfersMax', o.snapshotTransfersMax, 4),
    random: o.random ?? Math.random,
    now: o.now ?? Date.now,
  };
}

/** Checks a peer entry (id > 0, not ourselves, ws:// or wss:// URL) and returns its normalized URL. */
export function validatePeer(localId: NodeId, id: NodeId, url: string): string {
  if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidConfigError('peers', `node id ${id} is not > 0`);
  if (id === localId) throw new InvalidConfigError('peers', `node ${id} is this node`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidConfigError('peers', `node ${id} has an invalid URL ${url}`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new InvalidConfigError('peers', `node ${id} URL must be ws:// or wss://, got ${url}`);
  }
  return `${parsed.protocol}//${parsed.host}`;
}
