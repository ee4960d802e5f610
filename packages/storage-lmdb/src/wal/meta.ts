/**
 * The directory's `meta` file: format name, format version and node id, checked before anything else is
 * touched. Another node's directory, another version or foreign contents are refused with a typed error.
 */
import { mkdir, open, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeId } from '@flotilla/core';
import { DataDirMismatchError } from '../errors.ts';
import { fsyncDir, WAL_DIR } from './segment-files.ts';
import { SNAP_DIR } from './snapshot-files.ts';

/** Version of the WAL's on-disk layout (record format, segment and snapshot files). Bump on any change. */
export const WAL_FORMAT_VERSION = 1;
const FORMAT_NAME = 'flotilla-wal';
const META_FILE = 'meta';

interface Meta {
  readonly format: string;
  readonly version: number;
  readonly nodeId: number;
}

async function readMeta(dir: string): Promise<Meta | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, META_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const meta = JSON.parse(text) as Partial<Meta>;
    if (meta.format === FORMAT_NAME && typeof meta.version === 'number' && typeof meta.nodeId === 'number') {
      return meta as Meta;
    }
  } catch {
    // Not JSON: falls through to "foreign".
  }
  throw new DataDirMismatchError(dir, 'foreign');
}

async function nonEmpty(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).length > 0;
  } catch {
    return false;
  }
}

/**
 * Checks (or, for a fresh directory, creates) `dir/meta` and the `wal/` and `snap/` directories. Throws
 * `DataDirMismatchError` before writing anything when the directory belongs to someone else.
 */
export async function checkMeta(dir: string, nodeId: NodeId): Promise<void> {
  await mkdir(dir, { recursive: true });
  const meta = await readMeta(dir);
  if (meta !== undefined && meta.version !== WAL_FORMAT_VERSION) {
    throw new DataDirMismatchError(dir, 'format-version', WAL_FORMAT_VERSION, meta.version);
  }
  if (meta !== undefined && meta.nodeId !== nodeId) {
    throw new DataDirMismatchError(dir, 'node-id', nodeId, meta.nodeId);
  }
  if (meta === undefined) {
    if ((await nonEmpty(join(dir, WAL_DIR))) || (await nonEmpty(join(dir, SNAP_DIR)))) {
      throw new DataDirMismatchError(dir, 'foreign');
    }
    const tmp = join(dir, `${META_FILE}.tmp`);
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(JSON.stringify({ format: FORMAT_NAME, version: WAL_FORMAT_VERSION, nodeId }));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, join(dir, META_FILE));
  }
  await mkdir(join(dir, WAL_DIR), { recursive: true });
  await mkdir(join(dir, SNAP_DIR), { recursive: true });
  await fsyncDir(dir);
}
