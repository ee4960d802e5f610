/**
 * Benchmark of durable appends: throughput of 36 groups appending batches of 64 entries of 100 bytes, and
 * latency of a single append, each beside a raw baseline (`write` + `fdatasync` of the same bytes) in the
 * same run and the same directory. Prints two JSON lines (see issue 3).
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Entry, EntryKind, encodeEntry } from '@flotilla/core';
import { type NodeStorage, openStorage } from '../src/index.ts';

const GROUPS = 36;
const BATCH_ENTRIES = 64;
const ENTRY_BYTES = 100;
const THROUGHPUT_ROUNDS = 3;
const THROUGHPUT_MS = 1500;
const LATENCY_ROUNDS = 5;
const LATENCY_SAMPLES = 400;

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

async function lmdbThroughput(storage: NodeStorage, prefix: string): Promise<number> {
  const deadline = performance.now() + THROUGHPUT_MS;
  const start = performance.now();
  let total = 0;
  await Promise.all(
    Array.from({ length: GROUPS }, async (_, i) => {
      const group = storage.group(`${prefix}:${i}`);
      while (performance.now() < deadline) {
        await group.append(batch(group.lastIndex() + 1, BATCH_ENTRIES));
        total += BATCH_ENTRIES;
      }
    }),
  );
  return total / ((performance.now() - start) / 1000);
}

function rawThroughput(fd: number): number {
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
async function latency(storage: NodeStorage, fd: number, lat: number[], raw: number[]): Promise<void> {
  const group = storage.group('latency');
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

function percentile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] as number;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
  const fd = openSync(join(dir, 'raw.log'), 'a');
  // Latency first, on a fresh store: the throughput run leaves hundreds of MB that deepen every B-tree.
  const lat: number[] = [];
  const rawLat: number[] = [];
  const fresh = await openStorage({ path: join(dir, 'latency'), nodeId: 1 });
  try {
    await latency(fresh, fd, [], []);
    for (let r = 0; r < LATENCY_ROUNDS; r++) await latency(fresh, fd, lat, rawLat);
  } finally {
    await fresh.close();
  }
  const storage = await openStorage({ path: join(dir, 'node'), nodeId: 1 });
  try {
    await lmdbThroughput(storage, 'warmup');
    rawThroughput(fd);
    // Alternate the two so that drift of a noisy machine hits both alike; keep the median round.
    const lmdb: number[] = [];
    const raw: number[] = [];
    for (let r = 0; r < THROUGHPUT_ROUNDS; r++) {
      lmdb.push(await lmdbThroughput(storage, `t${r}`));
      raw.push(rawThroughput(fd));
    }
    const entries = percentile(lmdb, 0.5);
    const baseline = percentile(raw, 0.5);
    const p50 = percentile(lat, 0.5);
    const f50 = percentile(rawLat, 0.5);
    process.stdout.write(
      `${JSON.stringify({
        bench: 'storage-append',
        entries_per_s: Math.round(entries),
        baseline_entries_per_s: Math.round(baseline),
        ratio: round3(entries / baseline),
      })}\n`,
    );
    process.stdout.write(
      `${JSON.stringify({
        bench: 'storage-latency',
        p50_ms: round3(p50),
        p99_ms: round3(percentile(lat, 0.99)),
        baseline_fsync_p50_ms: round3(f50),
        ratio: round3(p50 / f50),
      })}\n`,
    );
  } finally {
    closeSync(fd);
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
