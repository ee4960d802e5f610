/**
 * The WAL record format: `[u32 length][u32 crc32c][u8 type][payload]`, little-endian. `length` counts type and
 * payload (so 0 never starts a record: zeros mean end of log); the CRC covers the length field, type and payload.
 */
import {
  assertNever,
  decodeSnapshotMeta,
  type Entry,
  EntryKind,
  encodeSnapshotMeta,
  type SnapshotMeta,
} from '@flotilla/core';
import { crc32c } from './crc32c.ts';
import type { GroupOp, SnapshotRef } from './ops.ts';

export const HEADER_BYTES = 9;

/** Record types. Every batch starts with `batch`; every segment starts with a batch holding a `checkpoint`. */
export const RecordType = {
  /** payload: u32 batchBytes (whole batch, this record included), u64 seq (previous batch's + 1). */
  batch: 1,
  /** payload: u64 segment seq, u32 groups. The records after it in its batch are the whole state. */
  checkpoint: 2,
  /** payload: group, u64 first, u32 count, count × (u64 term, u8 kind, u32 length, data). */
  entries: 3,
  /** payload: group, u64 term, u64 vote, u64 commit. */
  hardState: 4,
  /** payload: group, u64 index, u64 term. */
  compact: 5,
  /** payload: group, u8 install, u32 metaLength, meta (codec bytes), u64 fileSeq, u64 bytes, u32 crc. */
  snapshot: 6,
  /**
   * payload: u64 segment seq. Opens a segment's second batch: its checkpoint is complete and the records
   * logged to the previous segment meanwhile follow, so the previous segments are no longer needed.
   */
  seal: 7,
} as const;

export const BATCH_RECORD_BYTES = HEADER_BYTES + 12;
export const CHECKPOINT_RECORD_BYTES = HEADER_BYTES + 12;
export const SEAL_RECORD_BYTES = HEADER_BYTES + 8;
const ENTRY_HEAD_BYTES = 13;
const TWO_32 = 4294967296;

/** A record whose CRC verified but whose payload does not decode: the recovery turns it into a typed error. */
export class RecordFormatError extends Error {}

/** Little-endian u32 without Buffer's argument checks (hot: several per entry). */
function putU32(buf: Buffer, off: number, value: number): void {
  buf[off] = value;
  buf[off + 1] = value >>> 8;
  buf[off + 2] = value >>> 16;
  buf[off + 3] = value >>> 24;
}

function putU64(buf: Buffer, off: number, value: number): void {
  putU32(buf, off, value >>> 0);
  putU32(buf, off + 4, (value - (value >>> 0)) / TWO_32);
}

function groupBytes(groupKey: Uint8Array): number {
  return 2 + groupKey.length;
}

/** Bytes of the record that encodes `op` for the group whose UTF-8 id is `groupKey`. */
export function opRecordBytes(groupKey: Uint8Array, op: GroupOp): number {
  const head = HEADER_BYTES + groupBytes(groupKey);
  switch (op.type) {
    case 'entries': {
      let bytes = head + 12 + ENTRY_HEAD_BYTES * op.entries.length;
      for (const entry of op.entries) bytes += entry.data.length;
      return bytes;
    }
    case 'hardState':
      return head + 24;
    case 'compact':
      return head + 16;
    case 'snapshot':
      return head + 1 + 4 + metaBytes(op.ref.meta).length + 20;
    default:
      return assertNever(op);
  }
}

/** Encodes snapshot metadata once per ref (sizing and writing both need it). */
const metaCache = new WeakMap<SnapshotMeta, Uint8Array>();
function metaBytes(meta: SnapshotMeta): Uint8Array {
  let bytes = metaCache.get(meta);
  if (bytes === undefined) {
    bytes = Uint8Array.from(encodeSnapshotMeta(meta));
    metaCache.set(meta, bytes);
  }
  return bytes;
}

/** Writes the record of `op` (`total` = `opRecordBytes`) at `buf[off]`. */
export function writeOpRecord(
  buf: Buffer,
  off: number,
  groupKey: Uint8Array,
  op: GroupOp,
  total: number,
): void {
  let at = off + HEADER_BYTES;
  buf.writeUInt16LE(groupKey.length, at);
  buf.set(groupKey, at + 2);
  at += groupBytes(groupKey);
  switch (op.type) {
    case 'entries':
      buf[off + 8] = RecordType.entries;
      putU64(buf, at, op.first);
      buf.writeUInt32LE(op.entries.length, at + 8);
      at += 12;
      for (const entry of op.entries) {
        putU64(buf, at, entry.term);
        buf[at + 8] = entry.kind;
        putU32(buf, at + 9, entry.data.length);
        buf.set(entry.data, at + ENTRY_HEAD_BYTES);
        at += ENTRY_HEAD_BYTES + entry.data.length;
      }
      break;
    case 'hardState':
      buf[off + 8] = RecordType.hardState;
      putU64(buf, at, op.state.term);
      putU64(buf, at + 8, op.state.vote);
      putU64(buf, at + 16, op.state.commit);
      break;
    case 'compact':
      buf[off + 8] = RecordType.compact;
      putU64(buf, at, op.index);
      putU64(buf, at + 8, op.term);
      break;
    case 'snapshot': {
      buf[off + 8] = RecordType.snapshot;
      const meta = metaBytes(op.ref.meta);
      buf[at] = op.install ? 1 : 0;
      buf.writeUInt32LE(meta.length, at + 1);
      buf.set(meta, at + 5);
      at += 5 + meta.length;
      putU64(buf, at, op.ref.fileSeq);
      putU64(buf, at + 8, op.ref.bytes);
      buf.writeUInt32LE(op.ref.crc, at + 16);
      break;
    }
    default:
      assertNever(op);
  }
  finishRecord(buf, off, total);
}

export function writeBatchRecord(buf: Buffer, off: number, batchBytes: number, seq: number): void {
  buf[off + 8] = RecordType.batch;
  buf.writeUInt32LE(batchBytes, off + HEADER_BYTES);
  putU64(buf, off + HEADER_BYTES + 4, seq);
  finishRecord(buf, off, BATCH_RECORD_BYTES);
}

export function writeCheckpointRecord(buf: Buffer, off: number, segmentSeq: number, groups: number): void {
  buf[off + 8] = RecordType.checkpoint;
  putU64(buf, off + HEADER_BYTES, segmentSeq);
  buf.writeUInt32LE(groups, off + HEADER_BYTES + 8);
  finishRecord(buf, off, CHECKPOINT_RECORD_BYTES);
}

export function writeSealRecord(buf: Buffer, off: number, segmentSeq: number): void {
  buf[off + 8] = RecordType.seal;
  putU64(buf, off + HEADER_BYTES, segmentSeq);
  finishRecord(buf, off, SEAL_RECORD_BYTES);
}

/** Fills in length and CRC once type and payload are written. */
function finishRecord(buf: Buffer, off: number, total: number): void {
  buf.writeUInt32LE(total - 8, off);
  const crc = crc32c(buf, off + 8, off + total, crc32c(buf, off, off + 4));
  buf.writeUInt32LE(crc, off + 4);
}

/**
 * Checks the record at `buf[off]` within `[off, end)`: its total size when it verifies, 0 when its length
 * field is 0 (end of log), -1 when it is torn or corrupt (length past `end`, or CRC mismatch).
 */
export function checkRecord(buf: Buffer, off: number, end: number): number {
  if (off + 8 > end) return -1;
  const length = buf.readUInt32LE(off);
  if (length === 0) return 0;
  const total = length + 8;
  if (off + total > end) return -1;
  const crc = crc32c(buf, off + 8, off + total, crc32c(buf, off, off + 4));
  return crc === buf.readUInt32LE(off + 4) ? total : -1;
}

export type DecodedRecord =
  | { readonly type: 'batch'; readonly batchBytes: number; readonly seq: number }
  | { readonly type: 'checkpoint'; readonly segmentSeq: number; readonly groups: number }
  | { readonly type: 'seal'; readonly segmentSeq: number }
  | { readonly type: 'op'; readonly group: string; readonly op: GroupOp };

/** Decodes a verified record of `total` bytes. Throws `RecordFormatError` when the payload is malformed. */
export function decodeRecord(buf: Buffer, off: number, total: number): DecodedRecord {
  const r = new Reader(buf, off + HEADER_BYTES, off + total);
  const type = buf[off + 8];
  switch (type) {
    case RecordType.batch:
      return r.done({ type: 'batch', batchBytes: r.u32(), seq: r.u64() });
    case RecordType.checkpoint:
      return r.done({ type: 'checkpoint', segmentSeq: r.u64(), groups: r.u32() });
    case RecordType.seal:
      return r.done({ type: 'seal', segmentSeq: r.u64() });
    case RecordType.entries:
    case RecordType.hardState:
    case RecordType.compact:
    case RecordType.snapshot: {
      const group = r.str();
      return r.done({ type: 'op', group, op: decodeOp(type, r) });
    }
    default:
      throw new RecordFormatError(`unknown record type ${type}`);
  }
}

function decodeOp(type: number, r: Reader): GroupOp {
  if (type === RecordType.hardState) {
    return { type: 'hardState', state: { term: r.u64(), vote: r.u64(), commit: r.u64() } };
  }
  if (type === RecordType.compact) return { type: 'compact', index: r.u64(), term: r.u64() };
  if (type === RecordType.snapshot) {
    const install = r.u8() === 1;
    const meta = r.meta();
    const ref: SnapshotRef = {
      meta,
      fileSeq: r.u64(),
      bytes: r.u64(),
      crc: r.u32(),
      data: undefined,
      problem: undefined,
    };
    return { type: 'snapshot', ref, install };
  }
  return decodeEntries(r);
}

/** Entry data is copied into one buffer per record, so the segment buffer is not kept alive. */
function decodeEntries(r: Reader): GroupOp {
  const first = r.u64();
  const count = r.u32();
  const start = r.pos;
  let dataBytes = 0;
  for (let i = 0; i < count; i++) {
    r.skip(9);
    const length = r.u32();
    r.skip(length);
    dataBytes += length;
  }
  r.pos = start;
  const arena = new Uint8Array(dataBytes);
  const entries: Entry[] = new Array(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const term = r.u64();
    const kind = r.u8();
    if (kind !== EntryKind.Normal && kind !== EntryKind.ConfChange)
      throw new RecordFormatError('bad entry kind');
    const data = arena.subarray(at, at + r.u32());
    data.set(r.bytes(data.length));
    at += data.length;
    entries[i] = { term, index: first + i, kind, data };
  }
  return { type: 'entries', first, entries };
}

class Reader {
  pos: number;
  constructor(
    private readonly buf: Buffer,
    start: number,
    private readonly end: number,
  ) {
    this.pos = start;
  }

  skip(n: number): void {
    if (this.pos + n > this.end) throw new RecordFormatError('payload is shorter than its fields');
    this.pos += n;
  }

  u8(): number {
    this.skip(1);
    return this.buf[this.pos - 1] as number;
  }

  u32(): number {
    this.skip(4);
    return this.buf.readUInt32LE(this.pos - 4);
  }

  u64(): number {
    this.skip(8);
    const hi = this.buf.readUInt32LE(this.pos - 4);
    if (hi > 0x1fffff) throw new RecordFormatError('integer is not safe');
    return hi * TWO_32 + this.buf.readUInt32LE(this.pos - 8);
  }

  bytes(n: number): Buffer {
    this.skip(n);
    return this.buf.subarray(this.pos - n, this.pos);
  }

  str(): string {
    this.skip(2);
    const length = this.buf.readUInt16LE(this.pos - 2);
    const text = this.bytes(length).toString('utf8');
    if (text.length === 0) throw new RecordFormatError('empty group id');
    return text;
  }

  meta(): SnapshotMeta {
    const bytes = Uint8Array.from(this.bytes(this.u32()));
    try {
      return decodeSnapshotMeta(bytes);
    } catch (error) {
      throw new RecordFormatError(`snapshot meta: ${(error as Error).message}`);
    }
  }

  done<T>(value: T): T {
    if (this.pos !== this.end) throw new RecordFormatError('payload is longer than its fields');
    return value;
  }
}
