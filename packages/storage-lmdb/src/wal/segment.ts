/**
 * The segment being written: its file, where the next batch goes, where its checkpoint ends and the number
 * of its last batch (batch numbers run per segment, so recovery can tell a stale batch from the next one).
 */
import type { FileHandle } from 'node:fs/promises';

export interface Segment {
  readonly seq: number;
  readonly handle: FileHandle;
  position: number;
  readonly checkpointEnd: number;
  lastBatchSeq: number;
}
