/**
 * Snapshot data files, one per snapshot: `snap/<group-hex>-<index>-<fileSeq>.snap`, a 24-byte header (magic,
 * version, length, CRC-32C) then the data. Written to a temporary name, synced, renamed, directory synced;
 * the WAL record that points at a file is written only after that, so a torn write leaves the old one.
 */
import { readFileSync } from 'node:fs';
import { open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { GroupId, SnapshotMeta } from '@flotilla/core';
import { CorruptValueError } from '../errors.ts';
import type { StorageLogger } from '../options.ts';
import { crc32c } from './crc32c.ts';
import type { SnapshotRef } from './ops.ts';
import { fsyncDir, writeAllAt } from './segment-files.ts';

export const SNAP_DIR = 'snap';
const MAGIC = 0x4e534c46; // "FLSN" little-endian
const VERSION = 1;
const HEADER_BYTES = 24;

function fileName(group: GroupId, ref: { meta: SnapshotMeta; fileSeq: number }): string {
  return `${Buffer.from(group, 'utf8').toString('hex')}-${ref.meta.index}-${ref.fileSeq}.snap`;
}

function header(ref: SnapshotRef): Buffer {
  const out = Buffer.alloc(HEADER_BYTES);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(VERSION, 4);
  out.writeUInt32LE(ref.bytes >>> 0, 8);
  out.writeUInt32LE(Math.floor(ref.bytes / 4294967296), 12);
  out.writeUInt32LE(ref.crc, 16);
  return out;
}

export class SnapshotFiles {
  private nextFileSeq: number;
  private readonly background = new Set<Promise<void>>();

  constructor(
    private readonly dir: string,
    private readonly logger: StorageLogger,
    lastFileSeq: number,
  ) {
    this.nextFileSeq = lastFileSeq + 1;
  }

  /** A ref for new snapshot data; the data is copied (callers may reuse pooled buffers) and checksummed. */
  newRef(meta: SnapshotMeta, data: Uint8Array): SnapshotRef {
    const copy = new Uint8Array(data);
    const crc = crc32c(copy);
    return { meta, fileSeq: this.nextFileSeq++, bytes: copy.length, crc, data: copy, problem: undefined };
  }

  /** Writes the ref's data durably under its final name. */
  async write(group: GroupId, ref: SnapshotRef): Promise<void> {
    const data = ref.data as Uint8Array;
    const path = join(this.dir, fileName(group, ref));
    const tmp = `${path}.tmp`;
    const handle = await open(tmp, 'w');
    try {
      await writeAllAt(handle, header(ref), 0);
      await writeAllAt(handle, data, HEADER_BYTES);
      await handle.datasync();
    } catch (error) {
      await handle.close();
      await unlink(tmp).catch(() => {});
      throw error;
    }
    await handle.close();
    await rename(tmp, path);
    await fsyncDir(this.dir);
  }

  /**
   * Reads a snapshot's data synchronously (LogStorage.snapshot() is synchronous). A missing, short or
   * altered file throws `CorruptValueError` (record `snap`) naming the group and the snapshot index.
   */
  read(group: GroupId, ref: SnapshotRef): Uint8Array {
    const corrupt = (problem: string) => new CorruptValueError('snap', group, ref.meta.index, problem);
    if (ref.problem !== undefined) throw corrupt(ref.problem);
    let file: Buffer;
    try {
      file = readFileSync(join(this.dir, fileName(group, ref)));
    } catch (error) {
      throw corrupt(`cannot read ${fileName(group, ref)}: ${(error as Error).message}`);
    }
    if (file.length !== HEADER_BYTES + ref.bytes) throw corrupt(`file has ${file.length} bytes`);
    if (!file.subarray(0, HEADER_BYTES).equals(header(ref))) throw corrupt('file header does not match');
    const data = file.subarray(HEADER_BYTES);
    if (crc32c(data) !== ref.crc) throw corrupt('data does not match its CRC');
    return data;
  }

  /** Deletes the file of a snapshot no durable record points at any more (in the background). */
  retire(group: GroupId, ref: SnapshotRef): void {
    const path = join(this.dir, fileName(group, ref));
    const done = unlink(path).catch((error: unknown) => {
      this.logger.warn({ component: 'storage', group, err: error }, 'could not delete an old snapshot');
    });
    this.background.add(done);
    done.finally(() => this.background.delete(done));
  }

  /** Resolves when no deletion is in progress. */
  async idle(): Promise<void> {
    await Promise.all([...this.background]);
  }
}

/**
 * After recovery: removes snapshot files no group points at (replaced ones whose deletion was cut short,
 * interrupted writes) and marks refs whose file is missing or has the wrong size. Returns the highest
 * file sequence number seen, so that new files never reuse a name.
 */
export async function checkSnapshotFiles(
  dir: string,
  refs: ReadonlyMap<GroupId, SnapshotRef>,
  logger: StorageLogger,
): Promise<number> {
  const wanted = new Map<string, [GroupId, SnapshotRef]>();
  let lastFileSeq = 0;
  for (const [group, ref] of refs) {
    wanted.set(fileName(group, ref), [group, ref]);
    lastFileSeq = Math.max(lastFileSeq, ref.fileSeq);
  }
  for (const name of await readdir(dir)) {
    const seq = /-(\d+)\.snap(\.tmp)?$/.exec(name)?.[1];
    if (seq !== undefined) lastFileSeq = Math.max(lastFileSeq, Number(seq));
    if (!wanted.has(name)) await unlink(join(dir, name));
  }
  for (const [name, [group, ref]] of wanted) {
    const size = await stat(join(dir, name)).then(
      (s) => s.size,
      () => -1,
    );
    if (size === HEADER_BYTES + ref.bytes) continue;
    ref.problem = size < 0 ? `file ${name} is missing` : `file ${name} has ${size} bytes`;
    logger.error(
      { component: 'storage', group, index: ref.meta.index },
      `snapshot unreadable: ${ref.problem}`,
    );
  }
  return lastFileSeq;
}
