/**
 * Opens the node's LMDB environment and its named databases, after checking the directory's format record
 * (format version and node id). A directory that fails the check is refused before anything is written.
 */
import type { NodeId } from '@flotilla/core';
import { type Database, open, type RootDatabase } from 'lmdb';
import { DataDirMismatchError } from './errors.ts';

/** Version of the on-disk layout below. Bump it on any incompatible change. */
export const FORMAT_VERSION = 1;
const FORMAT_KEY = 'flotilla.format';

/** `[group, index]`: one key space for the logs of every group, ordered by group then index. */
export type LogKey = [string, number];
/** `[group, snapshotId, chunk]`. */
export type SnapKey = [string, number, number];
/** `[group, generation, userKey]`. */
/** `[group, generation, ...userKey]` (a user key is a string, a number or a tuple of them). */
export type SmKey = [string, number, ...(string | number)[]];

/**
 * The named databases. Log, hard-state and snapshot values are the codec's bytes, stored as they are.
 * `group` holds per-group metadata (compaction marker, snapshot pointer); `smMeta` the state machine's
 * generation and applied index.
 */
export interface Env {
  readonly root: RootDatabase;
  readonly log: Database<Uint8Array, LogKey>;
  readonly hard: Database<Uint8Array, string>;
  readonly group: Database<unknown, string>;
  readonly snap: Database<Uint8Array, SnapKey>;
  readonly sm: Database<Uint8Array, SmKey>;
  readonly smMeta: Database<unknown, string>;
}

interface FormatRecord {
  readonly version: number;
  readonly nodeId: number;
}

function readFormat(root: RootDatabase, path: string): FormatRecord | undefined {
  const record: unknown = root.get(FORMAT_KEY);
  if (record === undefined) {
    // A fresh LMDB file has no keys at all; anything else was written by someone else.
    for (const _key of root.getKeys({ limit: 1 })) throw new DataDirMismatchError(path, 'foreign');
    return undefined;
  }
  const { version, nodeId } = (record ?? {}) as Partial<FormatRecord>;
  if (typeof version !== 'number' || typeof nodeId !== 'number') {
    throw new DataDirMismatchError(path, 'foreign');
  }
  return { version, nodeId };
}

/**
 * Opens (or creates) the environment at `path` for `nodeId`. Durability: `overlappingSync` is off, so a write
 * promise resolves only after LMDB's synced commit (data pages, then meta page), never before.
 */
export async function openEnv(path: string, nodeId: NodeId): Promise<Env> {
  const root = open({
    path,
    maxDbs: 12,
    // A write promise must mean "durable": with overlappingSync lmdb-js resolves at commit and syncs later.
    overlappingSync: false,
    noMemInit: true,
    compression: false,
  });
  try {
    const format = readFormat(root, path);
    if (format !== undefined && format.version !== FORMAT_VERSION) {
      throw new DataDirMismatchError(path, 'format-version', FORMAT_VERSION, format.version);
    }
    if (format !== undefined && format.nodeId !== nodeId) {
      throw new DataDirMismatchError(path, 'node-id', nodeId, format.nodeId);
    }
    if (format === undefined) {
      await root.put(FORMAT_KEY, { version: FORMAT_VERSION, nodeId } satisfies FormatRecord);
    }
    const binary = { encoding: 'binary', compression: false } as const;
    return {
      root,
      log: root.openDB<Uint8Array, LogKey>({ name: 'log', ...binary }),
      hard: root.openDB<Uint8Array, string>({ name: 'hard', ...binary }),
      group: root.openDB<unknown, string>({ name: 'group', encoding: 'msgpack' }),
      snap: root.openDB<Uint8Array, SnapKey>({ name: 'snap', ...binary }),
      sm: root.openDB<Uint8Array, SmKey>({ name: 'sm', ...binary }),
      smMeta: root.openDB<unknown, string>({ name: 'smMeta', encoding: 'msgpack' }),
    };
  } catch (error) {
    await root.close();
    throw error;
  }
}
