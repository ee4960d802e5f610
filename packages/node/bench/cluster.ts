/**
 * `pnpm bench:cluster` (a benchmark, not a test): 3 node processes on loopback, 36 groups, fsync on; writes of
 * 100-byte values through the client library at 1, 16, 64 and 256 requests in flight. One JSON line per level:
 * {"bench":"cluster-write","inflight":C,"ops_per_s":N,"p50_ms":P,"p99_ms":Q}
 */
import { eventually, ProcessCluster, waitForFormation } from '../test/process-cluster.ts';

const LEVELS = (process.env.BENCH_LEVELS ?? '1,16,64,256').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const VALUE = 'x'.repeat(100);

const cluster = new ProcessCluster({
  extraToml: process.env.BENCH_TOML ?? '',
  clusterToml: process.env.BENCH_CLUSTER_TOML ?? '',
});
try {
  await cluster.start([1, 2, 3]);
  const client = await cluster.client([1, 2, 3], 10_000);
  await waitForFormation(cluster, client, [1, 2, 3]);
  // Steady state: leader balancing spreads the leaders (12 per node) within a few seconds of formation.
  const leaders = await eventually('balanced leaders', 20_000, async () => {
    const statuses = await waitForFormation(cluster, client, [1, 2, 3]);
    const counts: Record<number, number> = {};
    for (const g of statuses[0]!.groups) counts[g.leaderId] = (counts[g.leaderId] ?? 0) + 1;
    const most = Math.max(...Object.values(counts));
    return most <= Math.ceil(statuses[0]!.groups.length / 3) ? counts : undefined;
  }).catch(() => 'unbalanced');
  console.log(JSON.stringify({ bench: 'cluster-leaders', leaders }));
  await client.refreshTopology();
  // Warm up every group's path (leader routing, connections, JIT).
  await Promise.all(Array.from({ length: 256 }, (_, i) => client.put(`warm-${i}`, VALUE)));
  for (const inflight of LEVELS) {
    const latencies: number[] = [];
    let seq = 0;
    const deadline = performance.now() + SECONDS * 1000;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inflight }, async (_, w) => {
        while (performance.now() < deadline) {
          const t = performance.now();
          await client.put(`w${w}-${seq++}`, VALUE);
          latencies.push(performance.now() - t);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const pct = (p: number) =>
      Number(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!.toFixed(3));
    console.log(
      JSON.stringify({
        bench: 'cluster-write',
        inflight,
        ops_per_s: Math.round(latencies.length / seconds),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
      }),
    );
  }
} finally {
  await cluster.stop();
}
