/**
 * Counters of a transport (frames, bytes, messages, drops, errors by kind, reconnects, rejected peers),
 * kept as one plain mutable object and handed out as a copy for metrics exporters.
 */
import { AUTH_REJECTIONS, type AuthRejection } from './auth.ts';
import { FRAME_ERROR_KINDS, type FrameErrorKind } from './frame-format.ts';

/** Every error kind: bad frames (`FrameErrorKind`) plus failures around them. */
export type TransportErrorKind =
  | FrameErrorKind
  /** A `TransportHandler` callback threw (caught, logged, counted). */
  | 'handler'
  /** A socket error on a link (reset, refused…). */
  | 'socket'
  /** A TLS handshake failed on the listener (no or bad client certificate…). */
  | 'tls'
  /** Bytes on the listener that are not HTTP. */
  | 'httpParse'
  /** A plain HTTP request (not an upgrade) on the listener. */
  | 'httpRequest'
  /** A bug in the transport itself, caught at an event boundary instead of crashing the process. */
  | 'internal';

/** Why an upgrade was refused: authentication (`AuthRejection`), a wrong path, or too many connections. */
export type RejectionReason = AuthRejection | 'badPath' | 'tooManyConnections';

export interface WsTransportStats {
  framesSent: number;
  bytesSent: number;
  messagesSent: number;
  framesReceived: number;
  bytesReceived: number;
  messagesReceived: number;
  messagesDropped: {
    /** The link was over `bufferedBytesMax`. */
    queueFull: number;
    /** The link was down (or went down with the message still queued). */
    unreachable: number;
    /** The message alone would exceed `maxPayloadBytes`. */
    oversized: number;
    /** Received for a group `knowsGroup` refused. */
    unknownGroup: number;
  };
  /** Outbound links opened again after a break. */
  reconnects: number;
  /** Dial attempts that did not open (refused, timed out, rejected by the peer). */
  dialFailures: number;
  /** Upgrades refused by this node (sum of `rejections`). */
  rejectedPeers: number;
  rejections: Record<RejectionReason, number>;
  errors: Record<TransportErrorKind, number>;
  snapshotsSent: number;
  snapshotsReceived: number;
  snapshotsFailed: number;
}

const OTHER_ERROR_KINDS = ['handler', 'socket', 'tls', 'httpParse', 'httpRequest', 'internal'] as const;
const REJECTION_REASONS: readonly RejectionReason[] = [...AUTH_REJECTIONS, 'badPath', 'tooManyConnections'];

function zeros<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

export function newStats(): WsTransportStats {
  return {
    framesSent: 0,
    bytesSent: 0,
    messagesSent: 0,
    framesReceived: 0,
    bytesReceived: 0,
    messagesReceived: 0,
    messagesDropped: { queueFull: 0, unreachable: 0, oversized: 0, unknownGroup: 0 },
    reconnects: 0,
    dialFailures: 0,
    rejectedPeers: 0,
    rejections: zeros(REJECTION_REASONS),
    errors: zeros<TransportErrorKind>([...FRAME_ERROR_KINDS, ...OTHER_ERROR_KINDS]),
    snapshotsSent: 0,
    snapshotsReceived: 0,
    snapshotsFailed: 0,
  };
}

export function copyStats(s: WsTransportStats): WsTransportStats {
  return {
    ...s,
    messagesDropped: { ...s.messagesDropped },
    rejections: { ...s.rejections },
    errors: { ...s.errors },
  };
}
