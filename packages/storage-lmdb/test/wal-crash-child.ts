/**
 * Child process of the WAL crash test: the shared writer (crash-writer.ts) on a WAL with small segments, so
 * that it rotates, fdatasync and dsync on alternate runs; rotations are reported (`W`), until SIGKILLed.
 */
import { openWal, type WalStore } from '../src/index.ts';
import { report, runWriterChild } from './crash-writer.ts';

/** Small enough that a run of a few hundred milliseconds rotates several times. */
const SEGMENT_BYTES = 128 * 1024;

/** Opens as the child does; `seed` picks the way batches are made durable (both, on alternate runs). */
export function openCrashWal(dir: string, seed = 0): Promise<WalStore> {
  const syncMethod = seed % 2 === 0 ? 'fdatasync' : 'dsync';
  return openWal({ dir, nodeId: 1, segmentBytes: SEGMENT_BYTES, syncMethod });
}

if (process.argv[1]?.endsWith('wal-crash-child.ts')) {
  await runWriterChild(openCrashWal, (store, group) => {
    let rotations = store.stats().rotations;
    const afterWrite = (): void => {
      if (store.stats().rotations === rotations) return;
      rotations = store.stats().rotations;
      report(`W ${group} ${rotations}`);
    };
    return { afterWrite };
  });
}
