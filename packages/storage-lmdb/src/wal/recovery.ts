/**
 * Recovery on open: finds the newest segment whose checkpoint batch verifies, replays it (the checkpoint,
 * then every later batch up to the first torn one), cuts the torn tail off, and deletes older segments.
 * Reads one segment whatever the history, since every segment starts with a full checkpoint.
 */
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AssertionError, type GroupId } from '@flotilla/core';
import { WalCorruptError } from '../errors.ts';
import type { DecodedRecord } from './format.ts';
import { GroupLog } from './group-log.ts';
import {
  fsyncDir,
  listSegments,
  removeTemporaries,
  segmentName,
  WAL_DIR,
  zeroFill,
} from './segment-files.ts';
import { type SegmentScan, scanSegment } from './segment-reader.ts';

export interface RecoveredSegment {
  readonly seq: number;
  readonly handle: FileHandle;
  /** Where the next batch goes. */
  readonly position: number;
  readonly checkpointEnd: number;
  readonly lastBatchSeq: number;
}

export interface Recovered {
  readonly logs: Map<GroupId, GroupLog>;
  /** Undefined for a fresh directory (or one whose only segment, number 1, never got its checkpoint down). */
  readonly segment: RecoveredSegment | undefined;
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
    const scan = await scanSegment(path, (records, offset) =>
      replayBatch(logs, records, { path, seq, offset }),
    );
    if (scan.batches > 0) {
      const segment = await resume(path, seq, scan, options);
      for (const old of seqs.slice(0, -1)) await unlink(join(walDir, segmentName(old)));
      if (seqs.length > 1) await fsyncDir(walDir);
      return { logs, segment };
    }
    // Its checkpoint never became durable: the older segments (still there) hold the state.
    if (seqs.length === 1 && seq > 1) {
      throw new WalCorruptError(path, 0, 'the only segment has no valid checkpoint, older ones were deleted');
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
): Promise<RecoveredSegment> {
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
  return {
    seq,
    handle,
    position: scan.end,
    checkpointEnd: scan.checkpointEnd,
    lastBatchSeq: scan.lastSeq,
  };
}

interface Where {
  readonly path: string;
  readonly seq: number;
  readonly offset: number;
}

/** Applies one verified batch. The segment's first batch must open with its checkpoint, and only it. */
function replayBatch(logs: Map<GroupId, GroupLog>, records: DecodedRecord[], where: Where): void {
  const first = where.offset === 0;
  const head = records[0];
  const checkpoint = head?.type === 'checkpoint' && head.segmentSeq === where.seq;
  if (first !== checkpoint) {
    throw new WalCorruptError(
      where.path,
      where.offset,
      first ? 'segment does not start with its checkpoint' : 'checkpoint inside a segment',
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
      throw new WalCorruptError(
        where.path,
        where.offset,
        `record of group ${record.group} does not fit: ${error.message}`,
      );
    }
  }
}
