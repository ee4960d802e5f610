/**
 * A diagnostic benchmark (not a test): the whole stack — three nodes with WebSocket links, the client API
 * and the client library — in one process, so that CPU per replicated write can be profiled without the
 * scheduling noise of several processes on two cores (`node --cpu-prof …`). One JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlotillaClient, Kv } from '@flotilla/client';
import { configFromToml, silentLogger, startNode } from '@flotilla/node';
import { freePort } from '../test/ports.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const INFLIGHT = Number(process.env.BENCH_INFLIGHT ?? 256);

const free = freePort;

const dir = mkdtempSync(join(tmpdir(), 'flotilla-single-'));
const ports = await Promise.all(
  [1, 2, 3].map(async () => [await free(), await free(), await free()] as const),
);
const members = [1, 2, 3].map((id) => ({
  id,
  rpc: `127.0.0.1:${ports[id - 1]![0]}`,
  api: `127.0.0.1:${ports[id - 1]![1]}`,
}));
const nodes = await Promise.all(
  [1, 2, 3].map((id) =>
    startNode(
      configFromToml({
        node: {
          id,
          data_dir: join(dir, `n${id}`),
          admin: `127.0.0.1:${ports[id - 1]![2]}`,
          log_level: 'silent',
        },
        cluster: { members },
        security: { secret: 'single-process-bench-secret' },
      }),
      silentLogger(),
    ),
  ),
);
try {
  for (const n of nodes) await n.node.waitForClusterFormation(20_000);
  const client = await FlotillaClient.connect({ addresses: members.map((m) => m.api) });
  await client.refreshTopology();
  const kv = new Kv(client);
  const value = 'x'.repeat(100);
  const run = async (ms: number) => {
    let n = 0;
    const deadline = performance.now() + ms;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: INFLIGHT }, async (_, w) => {
        while (performance.now() < deadline) await kv.put(`k${w}-${n++}`, value);
      }),
    );
    return n / ((performance.now() - t) / 1000);
  };
  await run(1500);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const ops = await run(SECONDS * 1000);
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    JSON.stringify({
      bench: 'single-process',
      inflight: INFLIGHT,
      ops_per_s: Math.round(ops),
      cpu_us_per_op: Math.round((cpu.user + cpu.system) / (ops * seconds)),
    }),
  );
  client.close();
} finally {
  for (const n of nodes) await n.stop();
  rmSync(dir, { recursive: true, force: true });
}
