/**
 * The segment being written: its file, where the next batch goes, where its checkpoint ends and the number
 * of its last batch (batch numbers run per segment, so recovery can tell a stale batch from the next one).
 */
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

export interface Segment {
  readonly seq: number;
  readonly path: string;
  readonly handle: FileHandle;
  /** The same file opened with O_DSYNC (`syncMethod: 'dsync'`), opened on first use. */
  dsync: FileHandle | undefined;
  position: number;
  readonly checkpointEnd: number;
  lastBatchSeq: number;
}

export async function dsyncHandle(segment: Segment): Promise<FileHandle> {
  segment.dsync ??= await open(segment.path, constants.O_RDWR | constants.O_DSYNC);
  return segment.dsync;
}

export async function closeSegment(segment: Segment): Promise<void> {
  await segment.dsync?.close();
  await segment.handle.close();
}
