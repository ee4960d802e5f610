import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeKvCommand, MemoryNetwork } from '@flotilla/core';
import { ClusterNode, silentLogger } from '@flotilla/node';
import { memberConfig } from './test/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'dbg14-'));
const network = new MemoryNetwork({ schedule: (flush) => setImmediate(flush) });
const nodes = await Promise.all(
  [1, 2, 3].map(async (id) => {
    const base = memberConfig(id, [1, 2, 3], dir);
    const config = {
      ...base,
      sharding: { userShards: 32, sharedShards: 1 },
      raft: {
        ...base.raft,
        snapshotEntries: 10000,
        compactionMarginEntries: 1000,
        tickMs: 5,
        electionTicks: 20,
        heartbeatTicks: 2,
      },
    };
    const node = new ClusterNode({
      config,
      transport: network.transport(id),
      peers: { setPeer: () => {} },
      logger: silentLogger(),
    });
    await node.start();
    return node;
  }),
);
for (const n of nodes) await n.waitForClusterFormation(20_000);
const groups = [...nodes[0]!.groups.keys()].filter((g) => g.startsWith('user:'));
const leaderOf = (g: string) => nodes.find((n) => n.groups.get(g)!.isLeader)!;
const value = 'x'.repeat(100);
let seq = 0;
const run = async (ms: number) => {
  let done = 0;
  const deadline = performance.now() + ms;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: 256 }, async (_, w) => {
      while (performance.now() < deadline) {
        const g = groups[(w + done) % groups.length]!;
        await leaderOf(g).executor.execute(
          g,
          encodeKvCommand({ op: 'put', key: `k${seq++}`, value }, { clientId: `c${w}`, sequence: ++seq }),
        );
        done++;
      }
    }),
  );
  return done / ((performance.now() - t) / 1000);
};
await run(1000);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const ops = await run(5000);
const cpu = process.cpuUsage(cpu0);
console.log(
  'in-process ops/s',
  Math.round(ops),
  'cpu µs per op (3 nodes + driver)',
  Math.round((cpu.user + cpu.system) / ((ops * (performance.now() - t0)) / 1000)),
);
for (const n of nodes) await n.stop({ transferLeadership: false });
