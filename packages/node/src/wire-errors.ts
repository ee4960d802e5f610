/**
 * Errors as they travel between nodes and to clients: a plain `{ code, message, group?, leaderHint? }` on
 * the wire, rebuilt into the same typed error classes on the other side.
 */
import {
  FlotillaError,
  InvalidConfChangeError,
  InvalidConfigError,
  NotLeaderError,
  ProposalDroppedError,
  TooManyUncommittedError,
} from '@flotilla/core';
import {
  InvalidGroupError,
  InvalidNodeError,
  type InvalidNodeReason,
  ProtocolError,
  RequestTimeoutError,
  UnknownGroupError,
} from './errors.ts';

export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly group?: string;
  readonly leaderHint?: number;
  readonly nodeId?: number;
  readonly reason?: string;
}

export function toWireError(error: unknown): WireError {
  if (error instanceof NotLeaderError)
    return { code: error.code, message: error.message, group: error.group, leaderHint: error.leaderHint };
  if (error instanceof InvalidNodeError)
    return { code: error.code, message: error.message, nodeId: error.nodeId, reason: error.reason };
  if (error instanceof FlotillaError) {
    const group = (error as { group?: unknown }).group;
    return typeof group === 'string'
      ? { code: error.code, message: error.message, group }
      : { code: error.code, message: error.message };
  }
  return { code: 'FLOTILLA_INTERNAL', message: error instanceof Error ? error.message : String(error) };
}

/** A remote error as a local typed error (unknown codes become a plain `FlotillaError`). */
export function fromWireError(w: WireError): Error {
  const group = w.group ?? '';
  switch (w.code) {
    case 'FLOTILLA_NOT_LEADER':
      return new NotLeaderError(group, w.leaderHint ?? 0);
    case 'FLOTILLA_PROPOSAL_DROPPED':
      return new ProposalDroppedError(group, w.message);
    case 'FLOTILLA_TOO_MANY_UNCOMMITTED':
      return new TooManyUncommittedError(group, 0, 0);
    case 'FLOTILLA_UNKNOWN_GROUP':
      return new UnknownGroupError(group);
    case 'FLOTILLA_INVALID_GROUP':
      return new InvalidGroupError(group, w.message);
    case 'FLOTILLA_TIMEOUT':
      return new RequestTimeoutError(group, 0, w.message);
    case 'FLOTILLA_INVALID_NODE':
      return new InvalidNodeError(w.nodeId ?? 0, (w.reason ?? 'bad-id') as InvalidNodeReason, w.message);
    case 'FLOTILLA_INVALID_CONF_CHANGE':
      return new InvalidConfChangeError(w.message);
    case 'FLOTILLA_INVALID_CONFIG':
      return new InvalidConfigError('request', w.message);
    case 'FLOTILLA_PROTOCOL':
      return new ProtocolError(w.message);
    default:
      return new FlotillaError(
        w.code.startsWith('FLOTILLA_') ? (w.code as `FLOTILLA_${string}`) : 'FLOTILLA_INTERNAL',
        w.message,
      );
  }
}

/** Errors after which a request may be retried (elsewhere or later) without risk of applying twice. */
export function isRetryable(error: unknown): boolean {
  return (
    error instanceof NotLeaderError ||
    error instanceof ProposalDroppedError ||
    error instanceof TooManyUncommittedError ||
    error instanceof RequestTimeoutError ||
    (error instanceof FlotillaError &&
      (error.code === 'FLOTILLA_PEER_UNREACHABLE' || error.code === 'FLOTILLA_NODE_STOPPED'))
  );
}
