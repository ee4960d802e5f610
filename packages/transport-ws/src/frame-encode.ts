/**
 * Encoders for the peer-link frames (layout in `frame-format.ts`): data frames built from queued records,
 * and the small snapshot control frames. Payloads are copied once, into the frame that carries them.
 */
import { assert, NODE_CHANNELS, type NodeChannel } from '@flotilla/core';
import {
  CHANNEL_RECORD_MARK,
  FAIL_REASON_BYTES_MAX,
  FRAME_HEADER_BYTES,
  FRAME_VERSION,
  FrameKind,
  GROUP_ID_BYTES_MAX,
} from './frame-format.ts';

/** Encoded group headers are cached; the cache is cleared when it reaches this many groups. */
const GROUP_HEADER_CACHE_MAX = 8192;
const groupHeaders = new Map<string, Buffer>();

/** `[groupLen u8][group utf8]` for `group`, cached. Asserts the id is 1–255 UTF-8 bytes (a programmer error). */
export function groupHeader(group: string): Buffer {
  const cached = groupHeaders.get(group);
  if (cached !== undefined) return cached;
  const length = Buffer.byteLength(group, 'utf8');
  assert(length >= 1, 'group id must not be empty');
  assert(length <= GROUP_ID_BYTES_MAX, () => `group id ${group.slice(0, 40)}… is over 255 UTF-8 bytes`);
  const header = Buffer.allocUnsafe(1 + length);
  header[0] = length;
  header.write(group, 1, 'utf8');
  if (groupHeaders.size >= GROUP_HEADER_CACHE_MAX) groupHeaders.clear();
  groupHeaders.set(group, header);
  return header;
}

const channelHeaders = new Map<NodeChannel, Buffer>(
  NODE_CHANNELS.map((channel, i) => [channel, Buffer.from([CHANNEL_RECORD_MARK, i + 1])]),
);

/** `[0][channel u8]`: the header of a node-channel record. */
export function channelHeader(channel: NodeChannel): Buffer {
  const header = channelHeaders.get(channel);
  assert(header !== undefined, () => `unknown node channel ${channel}`);
  return header;
}

/**
 * One data frame holding records `[from, to)` of the parallel arrays. `recordBytes` is the sum of their
 * encoded sizes (group header + 4 + payload), known by the caller, so the frame is allocated once.
 */
export function encodeDataFrame(
  headers: readonly Buffer[],
  payloads: readonly Uint8Array[],
  from: number,
  to: number,
  recordBytes: number,
  allocate: (bytes: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  assert(to > from, 'a data frame carries at least one record');
  const frame = allocate(FRAME_HEADER_BYTES + recordBytes);
  frame[0] = FRAME_VERSION;
  frame[1] = FrameKind.Data;
  let offset = FRAME_HEADER_BYTES;
  for (let i = from; i < to; i++) {
    const header = headers[i]!;
    const payload = payloads[i]!;
    offset += header.copy(frame, offset);
    frame.writeUInt32LE(payload.length, offset);
    offset += 4;
    frame.set(payload, offset);
    offset += payload.length;
  }
  assert(offset === frame.length, 'data frame size matches its records');
  return frame;
}

function control(kind: FrameKind, transferId: number, extraBytes: number): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4 + extraBytes);
  frame[0] = FRAME_VERSION;
  frame[1] = kind;
  frame.writeUInt32LE(transferId, FRAME_HEADER_BYTES);
  return frame;
}

export function encodeSnapBegin(transferId: number, group: string, meta: Uint8Array): Buffer {
  const header = groupHeader(group);
  const frame = control(FrameKind.SnapBegin, transferId, header.length + 4 + meta.length);
  let offset = FRAME_HEADER_BYTES + 4;
  offset += header.copy(frame, offset);
  frame.writeUInt32LE(meta.length, offset);
  frame.set(meta, offset + 4);
  return frame;
}

export function encodeSnapChunk(transferId: number, seq: number, chunk: Uint8Array): Buffer {
  assert(chunk.length > 0, 'snapshot chunks are not empty');
  const frame = control(FrameKind.SnapChunk, transferId, 4 + chunk.length);
  frame.writeUInt32LE(seq, FRAME_HEADER_BYTES + 4);
  frame.set(chunk, FRAME_HEADER_BYTES + 8);
  return frame;
}

export function encodeSnapEnd(transferId: number, chunkCount: number): Buffer {
  const frame = control(FrameKind.SnapEnd, transferId, 4);
  frame.writeUInt32LE(chunkCount, FRAME_HEADER_BYTES + 4);
  return frame;
}

export function encodeSnapAbort(transferId: number): Buffer {
  return control(FrameKind.SnapAbort, transferId, 0);
}

export function encodeSnapCredit(transferId: number, consumedCount: number): Buffer {
  const frame = control(FrameKind.SnapCredit, transferId, 4);
  frame.writeUInt32LE(consumedCount, FRAME_HEADER_BYTES + 4);
  return frame;
}

export function encodeSnapDone(transferId: number): Buffer {
  return control(FrameKind.SnapDone, transferId, 0);
}

export function encodeSnapFail(transferId: number, reason: string): Buffer {
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so a third of the byte budget in code units always fits.
  const text = Buffer.from(reason.slice(0, Math.floor(FAIL_REASON_BYTES_MAX / 3)), 'utf8');
  const frame = control(FrameKind.SnapFail, transferId, text.length);
  text.copy(frame, FRAME_HEADER_BYTES + 4);
  return frame;
}
