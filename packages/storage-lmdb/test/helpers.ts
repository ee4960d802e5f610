/**
 * Test helpers of both engines: temporary directories (removed afterwards), entries and snapshot data whose
 * bytes are derived from their coordinates (so any stored copy can be checked), and refused-directory checks.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { EMPTY_CONF_STATE, type Entry, EntryKind, type SnapshotMeta } from '@flotilla/core';
import { DataDirMismatchError } from '../src/index.ts';

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `flotilla-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A maker of fresh temporary directories, all removed after the tests of the calling file (or suite). */
export function tempDirs(prefix: string): () => string {
  const dirs: { remove(): void }[] = [];
  after(() => {
    for (const d of dirs) d.remove();
  });
  return () => {
    const d = tempDir(prefix);
    dirs.push(d);
    return d.path;
  };
}

/** 100 bytes determined by group, index and term. */
export function entryData(group: string, index: number, term: number, size = 100): Uint8Array {
  const out = new Uint8Array(size);
  let h = 2166136261 ^ index ^ (term << 20);
  for (let i = 0; i < group.length; i++) h = Math.imul(h ^ group.charCodeAt(i), 16777619);
  for (let i = 0; i < size; i++) {
    h = Math.imul(h ^ i, 16777619);
    out[i] = h & 0xff;
  }
  return out;
}

export function makeEntries(group: string, from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let index = from; index <= to; index++) {
    out.push({ index, term, kind: EntryKind.Normal, data: entryData(group, index, term) });
  }
  return out;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

/** Index, term, kind and bytes of every entry. */
export function assertEntries(actual: Entry[], expected: Entry[]): void {
  assert.deepEqual(
    actual.map((e) => [e.index, e.term, e.kind]),
    expected.map((e) => [e.index, e.term, e.kind]),
  );
  for (let i = 0; i < actual.length; i++) {
    assert.ok(sameBytes((actual[i] as Entry).data, (expected[i] as Entry).data), `data of ${i}`);
  }
}

/** `length` bytes of snapshot data determined by `seed`. */
export function bytesOf(seed: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

export const meta = (index: number, term: number): SnapshotMeta => ({
  index,
  term,
  confState: { ...EMPTY_CONF_STATE, voters: [1, 2, 3] },
});

/**
 * A digest of every data file (path and bytes) under `path`: equal digests mean no data was touched. LMDB's
 * lock file is left out: it is the table of readers, which any attempt to open the environment rewrites.
 */
export function digest(path: string): string {
  const hash = createHash('sha256');
  const walk = (at: string): void => {
    for (const name of readdirSync(at).sort()) {
      if (name === 'lock.mdb') continue;
      const full = join(at, name);
      hash.update(full);
      if (statSync(full).isDirectory()) walk(full);
      else hash.update(readFileSync(full));
    }
  };
  walk(path);
  return hash.digest('hex');
}

/** `opening` fails with `DataDirMismatchError` for `reason`. */
export async function rejectsDir(opening: Promise<unknown>, reason: string): Promise<void> {
  await assert.rejects(opening, (error: unknown) => {
    assert.ok(error instanceof DataDirMismatchError);
    assert.equal(error.code, 'FLOTILLA_STORAGE');
    assert.equal(error.storageCode, 'FLOTILLA_STORAGE_DIR_MISMATCH');
    assert.equal(error.reason, reason);
    return true;
  });
}
