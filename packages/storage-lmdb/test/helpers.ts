/**
 * Test helpers: temporary data directories under os.tmpdir() (removed afterwards) and entries whose bytes
 * are derived from (group, index, term), so that any stored entry can be checked for integrity.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Entry, EntryKind } from '@flotilla/core';

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `flotilla-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
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
