/**
 * @flotilla/transport-ws — WebSocket links between Flotilla processes: core's `Transport` with batched,
 * pipelined, authenticated links, backpressure, liveness, snapshot streaming and counters for metrics.
 */
export { AUTH_HEADER, type AuthRejection, authHeaders, NODE_HEADER, PEER_PATH } from './auth.ts';
export { reconnectDelayMs } from './backoff.ts';
export {
  FrameError,
  SnapshotAbortedError,
  SnapshotBusyError,
  SnapshotRejectedError,
  TransportError,
  type TransportErrorCode,
  TransportNotStartedError,
  TransportStoppedError,
} from './errors.ts';
export { FRAME_CLOSE_CODES, type FrameErrorKind, FrameKind, looksLikeMessageTuple } from './frame-format.ts';
export type { WsTlsOptions, WsTransportOptions } from './options.ts';
export type { LinkState } from './outbound-link.ts';
export type { RejectionReason, TransportErrorKind, WsTransportStats } from './stats.ts';
export { type LinkInfo, WsTransport } from './ws-transport.ts';
