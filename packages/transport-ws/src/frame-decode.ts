/**
 * Validating decoders for peer-link frames (layout in `frame-format.ts`). They never decode a Raft payload:
 * a data frame is checked whole and turned into (group, start, end) slices before anything is delivered.
 */
import { isUtf8 } from 'node:buffer';
import { assertNever, NODE_CHANNELS, type NodeChannel } from '@flotilla/core';
import { FrameError } from './errors.ts';
import {
  CHANNEL_RECORD_MARK,
  FAIL_REASON_BYTES_MAX,
  FRAME_HEADER_BYTES,
  FRAME_VERSION,
  FrameKind,
  looksLikeMessageTuple,
} from './frame-format.ts';

/**
 * Records of one data frame as parallel arrays, reused from frame to frame on a connection. A record is for
 * a Raft group (`channels[i]` undefined) or for a node channel (`groups[i]` is then '').
 */
export interface DataRecords {
  count: number;
  readonly groups: string[];
  readonly channels: (NodeChannel | undefined)[];
  readonly starts: number[];
  readonly ends: number[];
}

export function newDataRecords(): DataRecords {
  return { count: 0, groups: [], channels: [], starts: [], ends: [] };
}

export type SnapshotFrame =
  | { readonly type: 'begin'; readonly transferId: number; readonly group: string; readonly meta: Buffer }
  | { readonly type: 'chunk'; readonly transferId: number; readonly seq: number; readonly chunk: Buffer }
  | { readonly type: 'end'; readonly transferId: number; readonly chunkCount: number }
  | { readonly type: 'abort'; readonly transferId: number }
  | { readonly type: 'credit'; readonly transferId: number; readonly consumedCount: number }
  | { readonly type: 'done'; readonly transferId: number }
  | { readonly type: 'fail'; readonly transferId: number; readonly reason: string };

/** Checks version and kind; `allowed` is the set of kinds this side may receive. */
export function readFrameKind(frame: Buffer, allowed: ReadonlySet<number>): FrameKind {
  if (frame.length < FRAME_HEADER_BYTES) throw new FrameError('truncated', 'frame shorter than its header');
  if (frame[0] !== FRAME_VERSION) throw new FrameError('malformed', `unsupported version ${frame[0]}`);
  const kind = frame[1]!;
  if (!allowed.has(kind)) throw new FrameError('malformed', `frame kind ${kind} not allowed here`);
  return kind as FrameKind;
}

function need(frame: Buffer, offset: number, bytes: number, what: string): void {
  if (offset + bytes > frame.length) throw new FrameError('truncated', `${what} runs past the frame end`);
}

/** Decodes `frame[start, end)` as a group id; ASCII (the common case) skips the UTF-8 validation. */
function decodeGroup(frame: Buffer, start: number, end: number): string {
  if (end === start) throw new FrameError('invalidGroup', 'empty group id');
  for (let i = start; i < end; i++) {
    if (frame[i]! >= 0x80) {
      if (!isUtf8(frame.subarray(start, end))) throw new FrameError('invalidGroup', 'group id is not UTF-8');
      return frame.toString('utf8', start, end);
    }
  }
  return frame.toString('latin1', start, end);
}

/**
 * Parses every record of a data frame into `out`, or throws `FrameError` without touching the handler.
 * `isValidPayload` is the cheap shape check applied to each group record's payload (default: a core message
 * tuple); node-channel payloads belong to the node, which validates them itself.
 */
export function parseDataFrame(
  frame: Buffer,
  out: DataRecords,
  isValidPayload: (payload: Uint8Array) => boolean = looksLikeMessageTuple,
): void {
  out.count = 0;
  let offset = FRAME_HEADER_BYTES;
  if (offset === frame.length) throw new FrameError('malformed', 'data frame without records');
  while (offset < frame.length) {
    const groupBytes = frame[offset]!;
    let group = '';
    let channel: NodeChannel | undefined;
    if (groupBytes === CHANNEL_RECORD_MARK) {
      need(frame, offset + 1, 1 + 4, 'channel record header');
      channel = NODE_CHANNELS[frame[offset + 1]! - 1];
      if (channel === undefined)
        throw new FrameError('invalidGroup', `unknown node channel ${frame[offset + 1]}`);
      offset += 2;
    } else {
      need(frame, offset + 1, groupBytes + 4, 'record header');
      group = decodeGroup(frame, offset + 1, offset + 1 + groupBytes);
      offset += 1 + groupBytes;
    }
    const payloadBytes = frame.readUInt32LE(offset);
    offset += 4;
    if (payloadBytes === 0) throw new FrameError('invalidPayload', 'empty payload');
    need(frame, offset, payloadBytes, 'payload');
    if (channel === undefined && !isValidPayload(frame.subarray(offset, offset + payloadBytes))) {
      throw new FrameError('invalidPayload', 'payload fails the shape check');
    }
    out.groups[out.count] = group;
    out.channels[out.count] = channel;
    out.starts[out.count] = offset;
    out.ends[out.count] = offset + payloadBytes;
    out.count++;
    offset += payloadBytes;
  }
}

function exactLength(frame: Buffer, length: number, what: string): void {
  if (frame.length < length) throw new FrameError('truncated', `${what} frame is too short`);
  if (frame.length > length) throw new FrameError('malformed', `${what} frame has trailing bytes`);
}

function parseBegin(frame: Buffer, transferId: number): SnapshotFrame {
  let offset = FRAME_HEADER_BYTES + 4;
  need(frame, offset, 1, 'group length');
  const groupBytes = frame[offset]!;
  need(frame, offset + 1, groupBytes + 4, 'snapshot header');
  const group = decodeGroup(frame, offset + 1, offset + 1 + groupBytes);
  offset += 1 + groupBytes;
  const metaBytes = frame.readUInt32LE(offset);
  offset += 4;
  exactLength(frame, offset + metaBytes, 'snapshot begin');
  return { type: 'begin', transferId, group, meta: frame.subarray(offset) };
}

function parseFail(frame: Buffer, transferId: number): SnapshotFrame {
  const text = frame.subarray(FRAME_HEADER_BYTES + 4);
  if (text.length > FAIL_REASON_BYTES_MAX) throw new FrameError('malformed', 'failure reason is too long');
  if (!isUtf8(text)) throw new FrameError('invalidPayload', 'failure reason is not UTF-8');
  return { type: 'fail', transferId, reason: text.toString('utf8') };
}

/** Parses a snapshot frame whose kind `readFrameKind` already accepted. */
export function parseSnapshotFrame(frame: Buffer, kind: FrameKind): SnapshotFrame {
  need(frame, FRAME_HEADER_BYTES, 4, 'transfer id');
  const transferId = frame.readUInt32LE(FRAME_HEADER_BYTES);
  const at = FRAME_HEADER_BYTES + 4;
  switch (kind) {
    case FrameKind.SnapBegin:
      return parseBegin(frame, transferId);
    case FrameKind.SnapChunk:
      need(frame, at, 4, 'sequence number');
      if (frame.length === at + 4) throw new FrameError('invalidPayload', 'empty snapshot chunk');
      return { type: 'chunk', transferId, seq: frame.readUInt32LE(at), chunk: frame.subarray(at + 4) };
    case FrameKind.SnapEnd:
      exactLength(frame, at + 4, 'snapshot end');
      return { type: 'end', transferId, chunkCount: frame.readUInt32LE(at) };
    case FrameKind.SnapAbort:
      exactLength(frame, at, 'snapshot abort');
      return { type: 'abort', transferId };
    case FrameKind.SnapCredit:
      exactLength(frame, at + 4, 'snapshot credit');
      return { type: 'credit', transferId, consumedCount: frame.readUInt32LE(at) };
    case FrameKind.SnapDone:
      exactLength(frame, at, 'snapshot done');
      return { type: 'done', transferId };
    case FrameKind.SnapFail:
      return parseFail(frame, transferId);
    case FrameKind.Data:
      throw new FrameError('malformed', 'data frame where a snapshot frame was expected');
    default:
      return assertNever(kind);
  }
}
