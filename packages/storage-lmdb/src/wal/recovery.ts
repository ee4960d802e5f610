/**
 * Recovery on open: finds the newest sealed segment (its checkpoint and seal batches verify), replays it up to
 * the first torn batch, cuts the torn tail off, and deletes every other segment. Reads one segment whatever
 * the history, since a sealed segment starts with a full checkpoint.
 */
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AssertionError, type GroupId } from '@flotilla/core';
import { WalCorruptError } from '../errors.ts';
import type { DecodedRecord } from './format.ts';
import { GroupLog } from './group-log.ts';
import type { Segment } from './segment.ts';
import {
  fsyncDir,
  listSegments,
  removeTemporaries,
  segmentName,
  WAL_DIR,
  zeroFill,
} from './segment-files.ts';
import { type SegmentScan, scanSegment } from './segment-reader.ts';

export interface Recovered {
  readonly logs: Map<GroupId, GroupLog>;
  /** Undefined for a fresh directory (or one whose segment number 1 never got sealed). */
  readonly segment: Segment | undefined;
}

interface RecoverOptions {
  readonly segmentBytes: number;
  readonly preallocate: boolean;
}

export async function recoverWal(dir: string, options: RecoverOptions): Promise<Recovered> {
  const walDir = join(dir, WAL_DIR);
  await removeTemporaries(walDir);
  const seqs = await listSegments(walDir);
  while (seqs.length > 0) {
    const seq = seqs.at(-1) as number;
    const path = join(walDir, segmentName(seq));
    const logs = new Map<GroupId, GroupLog>();
    const scan = await scanSegment(path, (records, offset, index) =>
      replayBatch(logs, records, { path, seq, offset, index }),
    );
    if (scan.batches >= 2) {
      const segment = await resume(path, seq, scan, options);
      for (const old of seqs.slice(0, -1)) await unlink(join(walDir, segmentName(old)));
      if (seqs.length > 1) await fsyncDir(walDir);
      return { logs, segment };
    }
    // A rotation that never got sealed: the previous segment (kept until the seal) holds everything.
    if (seqs.length === 1 && seq > 1) {
      throw new WalCorruptError(path, 0, 'the only segment is not sealed, and older ones were deleted');
    }
    await unlink(path);
    await fsyncDir(walDir);
    seqs.pop();
  }
  return { logs: new Map(), segment: undefined };
}

/** Cuts a torn tail off, zero-fills the rest of the segment again, and opens it for writing. */
async function resume(
  path: string,
  seq: number,
  scan: SegmentScan,
  options: RecoverOptions,
): Promise<Segment> {
  const handle = await open(path, 'r+');
  try {
    if (scan.fileBytes > scan.end) {
      await handle.truncate(scan.end);
      await handle.sync();
    }
    if (options.preallocate && scan.end < options.segmentBytes) {
      await zeroFill(handle, scan.end, options.segmentBytes);
    }
  } catch (error) {
    await handle.close();
    throw error;
  }
  const { end, checkpointEnd, lastSeq } = scan;
  return { seq, path, handle, dsync: undefined, position: end, checkpointEnd, lastBatchSeq: lastSeq };
}

interface Where {
  readonly path: string;
  readonly seq: number;
  readonly offset: number;
  /** Position of the batch in its segment: 0 is the checkpoint, 1 the seal batch. */
  readonly index: number;
}

/** Applies one verified batch: a segment opens with its checkpoint batch, then its seal batch. */
function replayBatch(logs: Map<GroupId, GroupLog>, records: DecodedRecord[], where: Where): void {
  const head = records[0];
  const expected = where.index === 0 ? 'checkpoint' : where.index === 1 ? 'seal' : 'op';
  const headOk = head?.type === expected && (head.type === 'op' || head.segmentSeq === where.seq);
  if (!headOk) {
    throw new WalCorruptError(
      where.path,
      where.offset,
      `batch ${where.index} does not start with a ${expected} record`,
    );
  }
  for (const record of records) {
    if (record.type !== 'op') {
      if (record === head) continue;
      throw new WalCorruptError(where.path, where.offset, `unexpected ${record.type} record in a batch`);
    }
    let log = logs.get(record.group);
    if (log === undefined) {
      log = new GroupLog();
      logs.set(record.group, log);
    }
    try {
      log.apply(record.op);
    } catch (error) {
      if (!(error instanceof AssertionError)) throw error;
      const problem = `record of group ${record.group} does not fit: ${error.message}`;
      throw new WalCorruptError(where.path, where.offset, problem);
    }
  }
}
