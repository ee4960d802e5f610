/**
 * Expected failures of the WebSocket transport, each a class with a stable `code` and its context.
 * They extend core's `FlotillaError` with the transport's own `FLOTILLA_…` codes.
 */
import { FlotillaError, type GroupId, type NodeId } from '@flotilla/core';
import type { FrameErrorKind } from './frame-format.ts';

export type TransportErrorCode =
  | 'FLOTILLA_TRANSPORT_STOPPED'
  | 'FLOTILLA_TRANSPORT_NOT_STARTED'
  | 'FLOTILLA_SNAPSHOT_ABORTED'
  | 'FLOTILLA_SNAPSHOT_REJECTED'
  | 'FLOTILLA_SNAPSHOT_BUSY'
  | 'FLOTILLA_FRAME_INVALID';

export class TransportError extends FlotillaError {
  declare readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string) {
    super(code, message);
  }
}

/** The transport was stopped (or never started) while the operation was pending. */
export class TransportStoppedError extends TransportError {
  constructor(detail: string) {
    super('FLOTILLA_TRANSPORT_STOPPED', `transport stopped: ${detail}`);
  }
}

/** An operation that needs a running transport was called before `start()`. */
export class TransportNotStartedError extends TransportError {
  constructor(operation: string) {
    super('FLOTILLA_TRANSPORT_NOT_STARTED', `${operation} called before start()`);
  }
}

/** A snapshot transfer broke (link closed, idle too long, source failed, sender aborted). Restart it from the start. */
export class SnapshotAbortedError extends TransportError {
  readonly peer: NodeId;
  readonly group: GroupId;
  readonly reason: string;
  constructor(peer: NodeId, group: GroupId, reason: string) {
    super(
      'FLOTILLA_SNAPSHOT_ABORTED',
      `snapshot transfer of group ${group} with node ${peer} aborted: ${reason}`,
    );
    this.peer = peer;
    this.group = group;
    this.reason = reason;
  }
}

/** The receiver's `receiveSnapshot` handler failed; `reason` is its error message. */
export class SnapshotRejectedError extends TransportError {
  readonly peer: NodeId;
  readonly group: GroupId;
  readonly reason: string;
  constructor(peer: NodeId, group: GroupId, reason: string) {
    super('FLOTILLA_SNAPSHOT_REJECTED', `node ${peer} rejected the snapshot of group ${group}: ${reason}`);
    this.peer = peer;
    this.group = group;
    this.reason = reason;
  }
}

/** Too many snapshot transfers are already running on the link to `peer` (`snapshotTransfersMax`). */
export class SnapshotBusyError extends TransportError {
  readonly peer: NodeId;
  readonly group: GroupId;
  constructor(peer: NodeId, group: GroupId, transfersMax: number) {
    super(
      'FLOTILLA_SNAPSHOT_BUSY',
      `cannot stream group ${group} to node ${peer}: ${transfersMax} transfers already running`,
    );
    this.peer = peer;
    this.group = group;
  }
}

/** Bytes from a peer that break the frame format; `kind` picks the counter and the WebSocket close code. */
export class FrameError extends TransportError {
  readonly kind: FrameErrorKind;
  constructor(kind: FrameErrorKind, detail: string) {
    super('FLOTILLA_FRAME_INVALID', `invalid frame (${kind}): ${detail}`);
    this.kind = kind;
  }
}
