/**
 * Helpers of the WAL tests: a file-io wrapper that counts (or fails) the writes and syncs of the write path,
 * the segment and snapshot files of a directory, and snapshot metadata.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { EMPTY_CONF_STATE, type SnapshotMeta } from '@flotilla/core';
import type { WalFileIo } from '../src/index.ts';
import { defaultFileIo as fsIo } from '../src/wal/file-io.ts';

export interface CountingIo extends WalFileIo {
  writes: number;
  syncs: number;
  /** When set, the next fdatasync fails with this error (and so do all after it). */
  failSync: Error | undefined;
}

export function countingIo(): CountingIo {
  const io: CountingIo = {
    writes: 0,
    syncs: 0,
    failSync: undefined,
    write(fd, buffers, position) {
      io.writes++;
      return fsIo.write(fd, buffers, position);
    },
    fdatasync(fd) {
      io.syncs++;
      if (io.failSync !== undefined) return Promise.reject(io.failSync);
      return fsIo.fdatasync(fd);
    },
  };
  return io;
}

export function segmentFiles(dir: string): string[] {
  return readdirSync(join(dir, 'wal'))
    .filter((name) => name.endsWith('.wal'))
    .sort();
}

export function snapFiles(dir: string): string[] {
  return readdirSync(join(dir, 'snap')).sort();
}

export const meta = (index: number, term: number): SnapshotMeta => ({
  index,
  term,
  confState: { ...EMPTY_CONF_STATE, voters: [1, 2, 3] },
});
