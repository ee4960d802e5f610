/**
 * Segment files on disk: names (`wal/<seq>.wal`, 16 digits so that they sort), listing, zero-filling and the
 * background preparation of the next segment, plus directory fsync (a rename or unlink is durable only then).
 */
import { type FileHandle, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export const WAL_DIR = 'wal';
const SUFFIX = '.wal';
const TMP_SUFFIX = '.tmp';
const ZERO_WRITE_BYTES = 1024 * 1024;
let zeros: Buffer | undefined;

export function segmentName(seq: number): string {
  return `${String(seq).padStart(16, '0')}${SUFFIX}`;
}

/** Sequence numbers of the segments in `walDir`, ascending. Temporary files are not segments. */
export async function listSegments(walDir: string): Promise<number[]> {
  const seqs: number[] = [];
  for (const name of await readdir(walDir)) {
    const match = /^(\d{16})\.wal$/.exec(name);
    if (match) seqs.push(Number(match[1]));
  }
  return seqs.sort((a, b) => a - b);
}

/** Removes what an interrupted preparation left (`*.tmp`). */
export async function removeTemporaries(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (name.endsWith(TMP_SUFFIX)) await unlink(join(dir, name));
  }
}

export async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes all of `bytes` at `position` (a write may be short). */
export async function writeAllAt(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/** Writes zeros over `[from, to)` of the file and makes them durable. */
export async function zeroFill(handle: FileHandle, from: number, to: number): Promise<void> {
  zeros ??= Buffer.alloc(ZERO_WRITE_BYTES);
  for (let at = from; at < to; at += ZERO_WRITE_BYTES) {
    await writeAllAt(handle, zeros.subarray(0, Math.min(ZERO_WRITE_BYTES, to - at)), at);
  }
  await handle.datasync();
}

/**
 * Makes the next segment ready while the current one fills: a zero-filled temporary file that `take`
 * renames into place. Without preallocation `take` simply creates an empty file.
 */
export class SegmentPreparer {
  private prepared: { seq: number; opening: Promise<FileHandle> } | undefined;

  constructor(
    private readonly walDir: string,
    private readonly segmentBytes: number,
    private readonly preallocate: boolean,
  ) {}

  /** Starts preparing segment `seq` in the background. */
  prepare(seq: number): void {
    if (!this.preallocate || this.prepared !== undefined) return;
    const path = this.tmpPath(seq);
    const opening = (async () => {
      const handle = await open(path, 'w+');
      try {
        await zeroFill(handle, 0, this.segmentBytes);
      } catch (error) {
        await handle.close();
        throw error;
      }
      return handle;
    })();
    opening.catch(() => {});
    this.prepared = { seq, opening };
  }

  /** Segment `seq`, created and visible in the directory durably, ready to be written from offset 0. */
  async take(seq: number): Promise<FileHandle> {
    const path = join(this.walDir, segmentName(seq));
    let handle: FileHandle;
    if (this.preallocate) {
      this.prepare(seq);
      const prepared = this.prepared as { seq: number; opening: Promise<FileHandle> };
      this.prepared = undefined;
      if (prepared.seq !== seq) throw new Error(`prepared segment ${prepared.seq}, wanted ${seq}`);
      handle = await prepared.opening;
      await rename(this.tmpPath(seq), path);
    } else {
      handle = await open(path, 'wx+');
    }
    await fsyncDir(this.walDir);
    return handle;
  }

  /** Waits for a preparation in progress, closes and removes its file. */
  async stop(): Promise<void> {
    const prepared = this.prepared;
    this.prepared = undefined;
    if (prepared === undefined) return;
    const handle = await prepared.opening.catch(() => undefined);
    await handle?.close();
    await unlink(this.tmpPath(prepared.seq)).catch(() => {});
  }

  private tmpPath(seq: number): string {
    return join(this.walDir, `${segmentName(seq)}${TMP_SUFFIX}`);
  }
}
