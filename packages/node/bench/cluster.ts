/**
 * `pnpm bench:cluster` (a benchmark, not a test): 3 node processes on loopback, 36 groups, fsync on; writes of
 * 100-byte values through the client library at 1, 16, 64 and 256 requests in flight. One JSON line per level:
 * {"bench":"cluster-write","placement":"preferred"|"balanced","inflight":C,"ops_per_s":N,"p50_ms":P,"p99_ms":Q,"cpu_us_per_op":U,"client_cpu_us_per_op":V}
 * where U is the CPU time (user + system, from /proc on Linux) of the three node processes per write, and V the
 * client's: on a shared 2-core box throughput moves with the neighbours' load, CPU per write much less.
 */
import { readFileSync } from 'node:fs';
import { Kv } from '@flotilla/client';
import { eventually, leadersPerNode, ProcessCluster, waitForFormation } from '../test/process-cluster.ts';
import { etcdAvailable, measureEtcd, withEtcd } from './etcd-baseline.ts';

const LEVELS = (process.env.BENCH_LEVELS ?? '1,16,64,256').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const VALUE = 'x'.repeat(100);

/** CPU seconds (user + system) a process has used so far; undefined where /proc is missing. */
function cpuSeconds(pid: number | 'self'): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

function nodesCpu(pids: number[]): number | undefined {
  let total = 0;
  for (const pid of pids) {
    const s = cpuSeconds(pid);
    if (s === undefined) return undefined;
    total += s;
  }
  return total;
}

const perOp = (before: number | undefined, after: number | undefined, ops: number) =>
  before === undefined || after === undefined || ops === 0
    ? null
    : Number((((after - before) / ops) * 1e6).toFixed(1));

/**
 * Leader placements measured, each on a fresh cluster: `preferred` (`preferred_leaders = [1]`: every group's
 * leader on node 1, the single-leader shape etcd has, and what batches best when all nodes share one host)
 * and `balanced` (12 leaders per node, the default, which spreads leader work over hosts).
 */
const PLACEMENTS = (process.env.BENCH_PLACEMENTS ?? 'preferred,balanced').split(',');

/** Writes at 64 in flight for WARMUP_SECONDS (default 3), the same for both systems. */
async function warmUp(write: (i: number) => Promise<unknown>): Promise<void> {
  const until = performance.now() + Number(process.env.BENCH_WARMUP_SECONDS ?? 3) * 1000;
  let i = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (performance.now() < until) await write(i++);
    }),
  );
}

interface Level {
  readonly inflight: number;
  readonly ops_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly cpu_us_per_op: number | null;
  readonly client_cpu_us_per_op: number | null;
}

const results = new Map<string, Level[]>();
for (const placement of PLACEMENTS) results.set(placement, await measure(placement));
await compareWithEtcd();

/**
 * The same levels against etcd (see etcd-baseline.ts), then one ratio line per placement and level:
 * {"bench":"cluster-vs-etcd","placement":P,"inflight":C,"throughput_ratio":X,"p50_ratio":Y} (X > 1 and Y < 1
 * mean Flotilla is faster). BENCH_ETCD=0 skips it.
 */
async function compareWithEtcd(): Promise<void> {
  if (process.env.BENCH_ETCD === '0') return;
  if (!etcdAvailable()) {
    console.log(JSON.stringify({ bench: 'etcd-write', skipped: 'no etcd binary (scripts/ensure-etcd.sh)' }));
    return;
  }
  const etcd: Level[] = await withEtcd(async (client, pids) => {
    await warmUp(async (i) => {
      await client.put(`warm-${i}`).value(VALUE);
    });
    const levels: Level[] = [];
    for (const inflight of LEVELS) {
      const nodesBefore = nodesCpu(pids);
      const clientBefore = cpuSeconds('self');
      const level = await measureEtcd(client, inflight, SECONDS, VALUE);
      const ops = Math.round(level.ops_per_s * SECONDS);
      const row = {
        ...level,
        cpu_us_per_op: perOp(nodesBefore, nodesCpu(pids), ops),
        client_cpu_us_per_op: perOp(clientBefore, cpuSeconds('self'), ops),
      };
      console.log(JSON.stringify({ bench: 'etcd-write', ...row }));
      levels.push(row);
    }
    return levels;
  });
  for (const [placement, levels] of results) {
    for (const ours of levels) {
      const theirs = etcd.find((e) => e.inflight === ours.inflight);
      if (!theirs) continue;
      console.log(
        JSON.stringify({
          bench: 'cluster-vs-etcd',
          placement,
          inflight: ours.inflight,
          throughput_ratio: Number((ours.ops_per_s / theirs.ops_per_s).toFixed(2)),
          p50_ratio: Number((ours.p50_ms / theirs.p50_ms).toFixed(2)),
        }),
      );
    }
  }
}

async function measure(placement: string): Promise<Level[]> {
  const levels: Level[] = [];
  const preferred = placement === 'preferred';
  const cluster = new ProcessCluster({
    extraToml: process.env.BENCH_TOML ?? '',
    clusterToml: `${preferred ? 'preferred_leaders = [1]' : ''}\n${process.env.BENCH_CLUSTER_TOML ?? ''}`,
  });
  try {
    await cluster.start([1, 2, 3]);
    const client = await cluster.client([1, 2, 3], 10_000);
    await waitForFormation(cluster, client, [1, 2, 3]);
    // Steady state: the balancer places the leaders (all on node 1, or 12 per node) within seconds.
    const leaders = await eventually('leaders placed', 30_000, async () => {
      const statuses = await waitForFormation(cluster, client, [1, 2, 3]);
      const groups = statuses[0]!.groups;
      const counts = leadersPerNode(statuses[0]!);
      const placed = preferred
        ? counts[1] === groups.length
        : Math.max(...Object.values(counts)) <= Math.ceil(groups.length / 3);
      return placed ? counts : undefined;
    }).catch(() => 'not placed in 30 s');
    console.log(JSON.stringify({ bench: 'cluster-leaders', placement, leaders }));
    await client.refreshTopology();
    // Warm up every group's path (leader routing, connections) and the JIT: slow writes at 1 in flight come
    // mostly from the first seconds of load, while V8 still optimizes the hot paths.
    const kv = new Kv(client);
    await warmUp((i) => kv.put(`warm-${i}`, VALUE));
    for (const inflight of LEVELS) {
      const latencies: number[] = [];
      let seq = 0;
      const deadline = performance.now() + SECONDS * 1000;
      const pids = [...cluster.processes.values()].map((c) => c.pid!);
      const nodesBefore = nodesCpu(pids);
      const clientBefore = cpuSeconds('self');
      const started = performance.now();
      await Promise.all(
        Array.from({ length: inflight }, async (_, w) => {
          while (performance.now() < deadline) {
            const t = performance.now();
            await kv.put(`w${w}-${seq++}`, VALUE);
            latencies.push(performance.now() - t);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const cpu = perOp(nodesBefore, nodesCpu(pids), latencies.length);
      const clientCpu = perOp(clientBefore, cpuSeconds('self'), latencies.length);
      latencies.sort((a, b) => a - b);
      const pct = (p: number) =>
        Number(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!.toFixed(3));
      const level: Level = {
        inflight,
        ops_per_s: Math.round(latencies.length / seconds),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        cpu_us_per_op: cpu,
        client_cpu_us_per_op: clientCpu,
      };
      console.log(JSON.stringify({ bench: 'cluster-write', placement, ...level }));
      levels.push(level);
    }
  } finally {
    await cluster.stop();
  }
  return levels;
}
