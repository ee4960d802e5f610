/**
 * Reads one segment batch by batch, verifying every record before handing a batch over (batches are atomic).
 * Where a batch fails: a torn tail if nothing valid follows it, else a `WalCorruptError` (segment, offset).
 *
 *   [batch: seq s, n bytes][records…] [batch: seq s+1][records…] … [zeros or end of file]
 */
import { type FileHandle, open } from 'node:fs/promises';
import { WalCorruptError } from '../errors.ts';
import {
  BATCH_RECORD_BYTES,
  checkRecord,
  type DecodedRecord,
  decodeRecord,
  RecordFormatError,
  RecordType,
} from './format.ts';

const WINDOW_BYTES = 4 * 1024 * 1024;

export interface SegmentScan {
  /** Batches that verified and were handed over; the first one holds the checkpoint. */
  readonly batches: number;
  /** Offset just past the last valid batch: where writing resumes. */
  readonly end: number;
  /** Offset just past the first batch. */
  readonly checkpointEnd: number;
  /** Seq of the last valid batch (0 when none). */
  readonly lastSeq: number;
  readonly fileBytes: number;
  /** Why reading stopped at `end`: zeros or end of file, or a torn batch. */
  readonly stop: 'clean' | 'torn';
}

type BatchRead =
  | { kind: 'ok'; seq: number; end: number; records: DecodedRecord[] }
  | { kind: 'end' }
  /** `end`/`seq` are known when the batch record verified (the bad record is further in). */
  | { kind: 'bad'; at: number; problem: string; end?: number; seq?: number };

/** A window over the file, reloaded when a read falls outside it. */
class FileWindow {
  private buf = Buffer.alloc(0);
  private base = 0;
  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  /** The buffer and the index in it of file offset `pos`, with `[pos, end)` loaded (`end <= size`). */
  async load(pos: number, end: number): Promise<[Buffer, number]> {
    if (pos >= this.base && end <= this.base + this.buf.length) return [this.buf, pos - this.base];
    const length = Math.min(this.size, Math.max(end, pos + WINDOW_BYTES)) - pos;
    const buf = Buffer.allocUnsafe(length);
    for (let done = 0; done < length; ) {
      const { bytesRead } = await this.handle.read(buf, done, length - done, pos + done);
      if (bytesRead === 0) throw new Error(`file shrank while being read at ${pos + done}`);
      done += bytesRead;
    }
    this.buf = buf;
    this.base = pos;
    return [buf, 0];
  }
}

/**
 * Scans the segment at `path`, calling `onBatch` for every verified batch in order. Throws `WalCorruptError`
 * for a bad batch that valid data follows, or a verified record that does not decode.
 */
export async function scanSegment(
  path: string,
  onBatch: (records: DecodedRecord[], offset: number, index: number) => void,
): Promise<SegmentScan> {
  const handle = await open(path, 'r');
  try {
    const win = new FileWindow(handle, (await handle.stat()).size);
    let pos = 0;
    let batches = 0;
    let lastSeq = 0;
    let checkpointEnd = 0;
    for (;;) {
      const read = await readBatch(win, path, pos, batches === 0 ? undefined : lastSeq + 1);
      if (read.kind !== 'ok') {
        if (read.kind === 'bad' && (await validDataAfter(win, path, read, lastSeq))) {
          throw new WalCorruptError(path, read.at, read.problem);
        }
        const stop = read.kind === 'end' ? 'clean' : 'torn';
        return { batches, end: pos, checkpointEnd, lastSeq, fileBytes: win.size, stop };
      }
      onBatch(read.records, pos, batches);
      batches++;
      lastSeq = read.seq;
      pos = read.end;
      if (batches === 1) checkpointEnd = pos;
    }
  } finally {
    await handle.close();
  }
}

async function readBatch(win: FileWindow, path: string, pos: number, expectSeq?: number): Promise<BatchRead> {
  const headEnd = Math.min(win.size, pos + BATCH_RECORD_BYTES);
  if (pos >= win.size) return { kind: 'end' };
  const [head, h] = await win.load(pos, headEnd);
  if (headEnd - pos >= 4 && head.readUInt32LE(h) === 0) return { kind: 'end' };
  if (checkRecord(head, h, h + headEnd - pos) !== BATCH_RECORD_BYTES || head[h + 8] !== RecordType.batch) {
    return { kind: 'bad', at: pos, problem: 'batch record does not verify' };
  }
  const batch = decodeRecord(head, h, BATCH_RECORD_BYTES);
  if (batch.type !== 'batch') throw new Error('unreachable: checked the type above');
  const { seq, batchBytes } = batch;
  if (expectSeq !== undefined && seq !== expectSeq) {
    return { kind: 'bad', at: pos, problem: `batch seq ${seq} where ${expectSeq} was expected` };
  }
  const end = pos + batchBytes;
  if (batchBytes <= BATCH_RECORD_BYTES || end > win.size) {
    return { kind: 'bad', at: pos, problem: 'batch runs past the end of the file', end, seq };
  }
  const [buf, o] = await win.load(pos, end);
  const records: DecodedRecord[] = [];
  const stop = o + batchBytes;
  for (let at = o + BATCH_RECORD_BYTES; at < stop; ) {
    const total = checkRecord(buf, at, stop);
    if (total <= 0) return { kind: 'bad', at: pos + at - o, problem: 'record does not verify', end, seq };
    try {
      records.push(decodeRecord(buf, at, total));
    } catch (error) {
      if (!(error instanceof RecordFormatError)) throw error;
      throw new WalCorruptError(path, pos + at - o, `record verifies but does not decode: ${error.message}`);
    }
    at += total;
  }
  return { kind: 'ok', seq, end, records };
}

/**
 * Only the last batch can be torn (a batch is written only once the one before it is durable), so valid
 * data after a bad batch means the bad batch had been durable: corruption. When the bad batch's own record
 * verified, the next batch can only start at its end; otherwise look for any complete later batch.
 */
async function validDataAfter(
  win: FileWindow,
  path: string,
  bad: { at: number; end?: number; seq?: number },
  lastSeq: number,
): Promise<boolean> {
  if (bad.end !== undefined && bad.seq !== undefined) {
    if (bad.end + BATCH_RECORD_BYTES > win.size) return false;
    return (await readBatch(win, path, bad.end, bad.seq + 1)).kind === 'ok';
  }
  for (let p = bad.at + 1; p + BATCH_RECORD_BYTES <= win.size; ) {
    const windowEnd = Math.min(win.size, p + WINDOW_BYTES);
    const [buf, o] = await win.load(p, windowEnd);
    const candidates: number[] = [];
    for (let q = p; q + BATCH_RECORD_BYTES <= windowEnd; q++) {
      const i = o + q - p;
      if (buf[i + 8] !== RecordType.batch || buf.readUInt32LE(i) !== BATCH_RECORD_BYTES - 8) continue;
      if (checkRecord(buf, i, i + BATCH_RECORD_BYTES) === BATCH_RECORD_BYTES) candidates.push(q);
    }
    for (const q of candidates) {
      const read = await readBatch(win, path, q).catch(() => undefined);
      if (read?.kind === 'ok' && read.seq > lastSeq) return true;
    }
    p = Math.max(p + 1, windowEnd - BATCH_RECORD_BYTES + 1);
  }
  return false;
}
