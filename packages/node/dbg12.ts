import { readFileSync } from 'node:fs';
import { ProcessCluster, waitForFormation } from './test/process-cluster.ts';

const cpu = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const sys = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[12]) / 100;
};
const cluster = new ProcessCluster();
await cluster.start([1, 2, 3]);
const client = await cluster.client();
await waitForFormation(cluster, client, [1, 2, 3]);
await client.refreshTopology();
const pids = [1, 2, 3].map((id) => cluster.processes.get(id)!.pid!);
const b = pids.map(cpu);
const bs = cpu(process.pid);
const bsys = pids.map(sys);
let n = 0;
const t0 = performance.now();
const deadline = t0 + 5000;
await Promise.all(
  Array.from({ length: 256 }, async (_, w) => {
    while (performance.now() < deadline) {
      await client.put(`k${w}-${n++}`, 'x'.repeat(100));
    }
  }),
);
const secs = (performance.now() - t0) / 1000;
const a = pids.map(cpu);
const as = cpu(process.pid);
const asys = pids.map(sys);
console.log(
  'kernel share per node',
  asys.map((x, i) => ((x - bsys[i]!) / (a[i]! - b[i]!)).toFixed(2)).join(' '),
);
console.log(
  'ops/s',
  Math.round(n / secs),
  'cpu s/s per node',
  a.map((x, i) => ((x - b[i]!) / secs).toFixed(2)).join(' '),
  'client',
  ((as - bs) / secs).toFixed(2),
);
console.log(
  'node µs cpu per op (sum of 3 nodes):',
  Math.round((a.reduce((p, x, i) => p + x - b[i]!, 0) / n) * 1e6),
  ' client µs/op:',
  Math.round(((as - bs) / n) * 1e6),
);
await cluster.stop();
