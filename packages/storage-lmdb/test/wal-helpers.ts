/**
 * Helpers of the WAL tests: a file-io wrapper that counts (or fails) the writes and syncs of the write path,
 * the segment and snapshot files of a directory, and the write-then-reopen steps of recovery and rotation tests.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openWal, type WalFileIo, type WalOptions, type WalStore } from '../src/index.ts';
import { defaultFileIo as fsIo } from '../src/wal/file-io.ts';
import { makeEntries } from './helpers.ts';

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

export const segmentPath = (dir: string, seq: number) =>
  join(dir, 'wal', `${String(seq).padStart(16, '0')}.wal`);
export const seqOf = (name: string) => Number(name.slice(0, 16));
export const lastSegment = (dir: string) => join(dir, 'wal', segmentFiles(dir).at(-1) as string);

/** Options of a WAL in `dir` with 1 MiB segments. */
export const walOptions = (dir: string, more: Partial<WalOptions> = {}): WalOptions => ({
  dir,
  nodeId: 1,
  segmentBytes: 1 << 20,
  ...more,
});

/** Appends `batches` batches of 10 entries to group `g`, one per turn; returns the segment's size after each. */
export async function writeBatches(store: WalStore, batches: number): Promise<number[]> {
  const sizes: number[] = [];
  const g = store.group('g');
  for (let b = 0; b < batches; b++) {
    await g.append(makeEntries('g', b * 10 + 1, b * 10 + 10, 1));
    sizes.push(statSync(lastSegment(store.dir)).size);
  }
  return sizes;
}

/** Writes `batches` batches to a new WAL in `dir` and closes it; returns what `writeBatches` returns. */
export async function writeAndClose(dir: string, batches: number, more: Partial<WalOptions> = {}) {
  const store = await openWal(walOptions(dir, more));
  const sizes = await writeBatches(store, batches);
  await store.close();
  return sizes;
}

export async function lastIndexAfterReopen(
  dir: string,
  more: Partial<WalOptions> = {},
  group = 'g',
): Promise<number> {
  const store = await openWal(walOptions(dir, more));
  try {
    return store.group(group).lastIndex();
  } finally {
    await store.close();
  }
}
