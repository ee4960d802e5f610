/**
 * The wire format of a peer link: frame kinds, header layout, error kinds and their WebSocket close codes.
 * One binary WebSocket message is one frame; a data frame carries many (group, payload) records.
 *
 * ```
 * every frame   [version u8 = 1][kind u8] body…                         (integers little-endian)
 * Data          repeated ≥ 1, either record:
 *                 group   [groupLen u8 ≥ 1][group utf8][payloadLen u32 ≥ 1][payload]
 *                 channel [0][channel u8 ≥ 1][payloadLen u32 ≥ 1][payload]   (a node channel, see core)
 * SnapBegin     [transfer u32][groupLen u8 ≥ 1][group utf8][metaLen u32][meta (core encodeSnapshotMeta)]
 * SnapChunk     [transfer u32][seq u32][chunk ≥ 1 byte]
 * SnapEnd       [transfer u32][chunkCount u32]
 * SnapAbort     [transfer u32]
 * SnapCredit    [transfer u32][consumedCount u32]        ← receiver to sender, on the same socket
 * SnapDone      [transfer u32]                           ←
 * SnapFail      [transfer u32][reason utf8]              ←
 * ```
 * A frame must end exactly where its last field ends; anything else is a protocol error.
 */

export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 2;
/** Group ids travel with a one-byte length. */
export const GROUP_ID_BYTES_MAX = 255;
/** The group-length byte that marks a node-channel record instead of a group record. */
export const CHANNEL_RECORD_MARK = 0;
/** Bytes a data record adds around its payload besides the group id: length byte + u32 payload length. */
export const RECORD_OVERHEAD_BYTES = 5;
/** Bytes of a snapshot chunk frame besides the chunk itself. */
export const CHUNK_FRAME_OVERHEAD_BYTES = FRAME_HEADER_BYTES + 8;
/** A failure reason travels truncated to this many bytes. */
export const FAIL_REASON_BYTES_MAX = 1024;

export const FrameKind = {
  Data: 1,
  SnapBegin: 2,
  SnapChunk: 3,
  SnapEnd: 4,
  SnapAbort: 5,
  SnapCredit: 6,
  SnapDone: 7,
  SnapFail: 8,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** Frames a node may send on its own outbound link (the dialling side). */
export const OUTBOUND_KINDS: ReadonlySet<number> = new Set([
  FrameKind.Data,
  FrameKind.SnapBegin,
  FrameKind.SnapChunk,
  FrameKind.SnapEnd,
  FrameKind.SnapAbort,
]);

/** Frames the accepting side may send back (snapshot flow control only). */
export const INBOUND_REPLY_KINDS: ReadonlySet<number> = new Set([
  FrameKind.SnapCredit,
  FrameKind.SnapDone,
  FrameKind.SnapFail,
]);

/**
 * Why a frame (or a WebSocket message) from a peer was refused. Each kind is a counter in
 * `stats().errors` and picks the close code of the connection (`FRAME_CLOSE_CODES`).
 */
export type FrameErrorKind =
  /** Not version 1, unknown kind, a kind not allowed in this direction, or bytes left over. */
  | 'malformed'
  /** A field runs past the end of the frame. */
  | 'truncated'
  /** A text WebSocket message: the protocol is binary only. */
  | 'textFrame'
  /** An empty or non-UTF-8 group id, or an unknown node channel. */
  | 'invalidGroup'
  /** An empty payload, one failing `isValidPayload` (default: not a core message tuple), or bad snapshot metadata. */
  | 'invalidPayload'
  /** A well-formed record for a group `knowsGroup` does not know (only when `unknownGroupAction` is `close`). */
  | 'unknownGroup'
  /** A snapshot frame out of sequence: unknown transfer, wrong sequence number, credit window overrun. */
  | 'snapshotProtocol'
  /** A WebSocket message over `maxPayloadBytes` (ws closes with 1009 itself). */
  | 'oversized'
  /** A violation of the WebSocket protocol found by ws (bad opcode, reserved bits, missing mask…). */
  | 'wsProtocol';

/** WebSocket close codes (RFC 6455 §7.4.1) per error kind. */
export const FRAME_CLOSE_CODES: Readonly<Record<FrameErrorKind, number>> = {
  malformed: 1002,
  truncated: 1002,
  textFrame: 1003,
  invalidGroup: 1007,
  invalidPayload: 1007,
  unknownGroup: 1008,
  snapshotProtocol: 1002,
  oversized: 1009,
  wsProtocol: 1002,
};

export const FRAME_ERROR_KINDS: readonly FrameErrorKind[] = Object.keys(
  FRAME_CLOSE_CODES,
) as FrameErrorKind[];

/**
 * Cheap shape check on a payload without decoding it: core's `encodeMessage` always produces a msgpack
 * array of at least 4 elements (fixarray 0x94–0x9f, array16 0xdc, array32 0xdd). The group's thread does
 * the full validating decode; this only stops obvious garbage at the door.
 */
export function looksLikeMessageTuple(payload: Uint8Array): boolean {
  const first = payload[0];
  if (first === undefined) return false;
  return (first >= 0x94 && first <= 0x9f) || first === 0xdc || first === 0xdd;
}
