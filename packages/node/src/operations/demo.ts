/**
 * `flotilla local-cluster` (the README's main job): a local cluster of N node processes that forms, shows its
 * groups with their leaders and terms, runs a write load with a progress bar, and keeps running until
 * interrupted (or for `--duration` seconds).
 */
import { resolve } from 'node:path';
import { FlotillaClient, Kv, sleep } from '@flotilla/client';
import { LocalCluster } from './local-cluster.ts';

export interface DemoOptions {
  readonly nodes: number;
  /** Stop by itself after this many seconds (default: run until interrupted). */
  readonly durationS: number | undefined;
  readonly dir?: string;
  readonly basePort: number;
  /** Writes of the demo load. */
  readonly writes?: number;
}

/** Writes in flight during the demo load. */
const DEMO_INFLIGHT = 64;

function bar(done: number, total: number, width = 30): string {
  const filled = Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

export async function runLocalCluster(options: DemoOptions): Promise<void> {
  const cluster = LocalCluster.start({
    nodes: options.nodes,
    dir: resolve(options.dir ?? '.data/local-cluster'),
    basePort: options.basePort,
  });
  for (const id of cluster.ids)
    console.log(`started node ${id} (pid ${cluster.pid(id)}), config ${cluster.configPath(id)}`);
  const client = await cluster.connect();
  const started = performance.now();
  await cluster.formed(client);
  const topology = await client.refreshTopology();
  console.log(
    `\ncluster formed in ${Math.round(performance.now() - started)} ms: ${Object.keys(topology.groups).length} groups\n`,
  );
  const placing = performance.now();
  const placed = await waitForPlacement(client, cluster.ids[0]!, 15_000);
  console.log(
    placed
      ? `every leader moved to node ${cluster.ids[0]} (preferred_leaders) in ${Math.round(performance.now() - placing)} ms\n`
      : `leaders are still moving to node ${cluster.ids[0]} (preferred_leaders)\n`,
  );
  await printGroups(cluster.apis);
  await runLoad(client, options.writes ?? 2_000);
  for (const n of cluster.ids) console.log(`admin dashboard of node ${n}: http://${cluster.admin(n)}/`);
  const until =
    options.durationS === undefined ? Number.POSITIVE_INFINITY : performance.now() + options.durationS * 1000;
  if (options.durationS === undefined) console.log('\nrunning; press Ctrl-C to stop');
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
  });
  while (!interrupted && performance.now() < until) await sleep(200);
  client.close();
  await cluster.stop();
  console.log('cluster stopped');
}

/** Waits (bounded) until `node` leads every group, as the demo's `preferred_leaders` asks. */
async function waitForPlacement(client: FlotillaClient, node: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const leaders = Object.values((await client.refreshTopology()).leaders);
    if (leaders.length > 0 && leaders.every((leader) => leader === node)) return true;
    await sleep(200);
  }
  return false;
}

async function printGroups(apis: string[]): Promise<void> {
  const statuses = await Promise.all(
    apis.map(async (api) => {
      const c = await FlotillaClient.connect({ addresses: [api] });
      try {
        return (await c.status(api)) as {
          nodeId: number;
          groups: { id: string; kind: string; role: string; term: number; leaderId: number }[];
        };
      } finally {
        c.close();
      }
    }),
  );
  const rows = statuses[0]!.groups.map((g) => g.id).sort(naturally);
  console.log(`${'group'.padEnd(14)}${'kind'.padEnd(10)}${'leader'.padEnd(8)}term`);
  for (const id of rows) {
    const leaderView = statuses.flatMap((s) => s.groups.filter((g) => g.id === id && g.role === 'leader'));
    const g = leaderView[0] ?? statuses[0]!.groups.find((x) => x.id === id)!;
    console.log(`${id.padEnd(14)}${g.kind.padEnd(10)}${String(g.leaderId).padEnd(8)}${g.term}`);
  }
}

function naturally(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

async function runLoad(client: FlotillaClient, total: number): Promise<void> {
  const kv = new Kv(client);
  console.log(`\nwriting ${total} keys through the client (${DEMO_INFLIGHT} in flight):`);
  let done = 0;
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < total) {
      const i = next++;
      await kv.put(`user-${i}`, `value-${i}`);
      done++;
      if (done % 50 === 0 || done === total) process.stdout.write(`\r  ${bar(done, total)}`);
    }
  };
  await Promise.all(Array.from({ length: DEMO_INFLIGHT }, worker));
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `\n  ${total} replicated, fsynced writes in ${seconds.toFixed(2)} s (${Math.round(total / seconds)} writes/s)\n`,
  );
}
