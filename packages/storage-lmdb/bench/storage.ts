/**
 * Benchmark of durable appends on LMDB and on the WAL: throughput of 36 groups appending batches of 64
 * entries of 100 bytes, and latency of a single append, each beside a raw baseline (`write` + `fdatasync` of
 * the same bytes) in the same run and the same directory. Prints five JSON lines: storage-* (LMDB), wal-*
 * (the WAL, defaults), and wal-latency-dsync (the WAL with `syncMethod: 'dsync'`).
 */
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage, openWal } from '../src/index.ts';
import {
  type AppendStore,
  LATENCY_ROUNDS,
  latency,
  percentile,
  rawThroughput,
  round3,
  THROUGHPUT_ROUNDS,
  throughput,
} from './common.ts';

interface Opened {
  readonly store: AppendStore;
  close(): Promise<void>;
}

function print(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** Latency on a fresh store: a long history (the throughput run leaves hundreds of MB) would skew it. */
async function latencyLine(bench: string, open: () => Promise<Opened>, fd: number): Promise<void> {
  const lat: number[] = [];
  const raw: number[] = [];
  const { store, close } = await open();
  try {
    await latency(store, fd, [], []);
    for (let r = 0; r < LATENCY_ROUNDS; r++) await latency(store, fd, lat, raw);
  } finally {
    await close();
  }
  const p50 = percentile(lat, 0.5);
  const f50 = percentile(raw, 0.5);
  print({
    bench,
    p50_ms: round3(p50),
    p99_ms: round3(percentile(lat, 0.99)),
    baseline_fsync_p50_ms: round3(f50),
    ratio: round3(p50 / f50),
  });
}

/** Alternates store and raw rounds, so that drift of a noisy machine hits both alike; keeps the medians. */
async function throughputLine(bench: string, open: () => Promise<Opened>, fd: number): Promise<void> {
  const { store, close } = await open();
  try {
    await throughput(store, 'warmup');
    rawThroughput(fd);
    const measured: number[] = [];
    const raw: number[] = [];
    for (let r = 0; r < THROUGHPUT_ROUNDS; r++) {
      measured.push(await throughput(store, `t${r}`));
      raw.push(rawThroughput(fd));
    }
    const entries = percentile(measured, 0.5);
    const baseline = percentile(raw, 0.5);
    print({
      bench,
      entries_per_s: Math.round(entries),
      baseline_entries_per_s: Math.round(baseline),
      ratio: round3(entries / baseline),
    });
  } finally {
    await close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
  const fd = openSync(join(dir, 'raw.log'), 'a');
  const lmdb = (name: string) => async (): Promise<Opened> => {
    const storage = await openStorage({ path: join(dir, name), nodeId: 1 });
    return { store: storage, close: () => storage.close() };
  };
  const wal =
    (name: string, syncMethod: 'fdatasync' | 'dsync' = 'fdatasync') =>
    async (): Promise<Opened> => {
      const store = await openWal({ dir: join(dir, name), nodeId: 1, syncMethod });
      return { store, close: () => store.close() };
    };
  try {
    await latencyLine('storage-latency', lmdb('lmdb-latency'), fd);
    await latencyLine('wal-latency', wal('wal-latency'), fd);
    await latencyLine('wal-latency-dsync', wal('wal-latency-dsync', 'dsync'), fd);
    await throughputLine('storage-append', lmdb('lmdb-node'), fd);
    await throughputLine('wal-append', wal('wal-node'), fd);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
