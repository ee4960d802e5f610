/**
 * Shared pieces of the storage benchmarks: the workload (36 groups appending batches of 64 entries of 100
 * bytes; single-entry appends for latency), the raw baseline (`write` + `fdatasync` of the same bytes) and
 * percentiles. Any store whose groups have `append` and `lastIndex` can be measured.
 */
import { fdatasyncSync, writeSync } from 'node:fs';
import { type Entry, EntryKind, encodeEntry } from '@flotilla/core';

export const GROUPS = 36;
export const BATCH_ENTRIES = 64;
const ENTRY_BYTES = 100;
export const THROUGHPUT_ROUNDS = 3;
const THROUGHPUT_MS = 1500;
export const LATENCY_ROUNDS = 5;
const LATENCY_SAMPLES = 400;

/** What the benchmarks need of a store: its groups append and know their last index. */
export interface AppendStore {
  group(id: string): { append(entries: readonly Entry[]): Promise<void>; lastIndex(): number };
}

const payload = new Uint8Array(ENTRY_BYTES).fill(7);

function batch(from: number, count: number, term = 1): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    index: from + i,
    term,
    kind: EntryKind.Normal,
    data: payload,
  }));
}

function batchBytes(entries: readonly Entry[]): Buffer {
  return Buffer.concat(entries.map((e) => encodeEntry(e)));
}

/** Entries per second of 36 groups each appending 64-entry batches one after the other. */
export async function throughput(store: AppendStore, prefix: string): Promise<number> {
  const deadline = performance.now() + THROUGHPUT_MS;
  const start = performance.now();
  let total = 0;
  await Promise.all(
    Array.from({ length: GROUPS }, async (_, i) => {
      const group = store.group(`${prefix}:${i}`);
      while (performance.now() < deadline) {
        await group.append(batch(group.lastIndex() + 1, BATCH_ENTRIES));
        total += BATCH_ENTRIES;
      }
    }),
  );
  return total / ((performance.now() - start) / 1000);
}

/** The same batches written and fdatasynced one by one to an appended file, synchronously. */
export function rawThroughput(fd: number): number {
  const bytes = batchBytes(batch(1, BATCH_ENTRIES));
  const start = performance.now();
  let total = 0;
  while (performance.now() - start < THROUGHPUT_MS) {
    writeSync(fd, bytes);
    fdatasyncSync(fd);
    total += BATCH_ENTRIES;
  }
  return total / ((performance.now() - start) / 1000);
}

/**
 * One durable single-entry append, then one raw write + fdatasync of the same bytes, alternately, so that
 * both see the same moment of a noisy machine.
 */
export async function latency(store: AppendStore, fd: number, lat: number[], raw: number[]): Promise<void> {
  const group = store.group('latency');
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const entries = batch(group.lastIndex() + 1, 1);
    const bytes = batchBytes(entries);
    let t = performance.now();
    await group.append(entries);
    lat.push(performance.now() - t);
    t = performance.now();
    writeSync(fd, bytes);
    fdatasyncSync(fd);
    raw.push(performance.now() - t);
  }
}

export function percentile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] as number;
}

export const round3 = (x: number): number => Math.round(x * 1000) / 1000;
