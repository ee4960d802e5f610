import { ProcessCluster, waitForFormation } from './test/process-cluster.ts';

const cluster = new ProcessCluster();
await cluster.start([1, 2, 3]);
const client = await cluster.client();
await waitForFormation(cluster, client, [1, 2, 3]);
await client.refreshTopology();
const snap = async () =>
  Promise.all([1, 2, 3].map(async (id) => (await client.status(cluster.api(id))) as any));
const before = await snap();
let n = 0;
const t0 = performance.now();
const deadline = t0 + 4000;
await Promise.all(
  Array.from({ length: 256 }, async (_, w) => {
    while (performance.now() < deadline) {
      await client.put(`k${w}-${n++}`, 'x'.repeat(100));
    }
  }),
);
const secs = (performance.now() - t0) / 1000;
const after = await snap();
for (let i = 0; i < 3; i++) {
  const d = (k: string) => Math.round(((after[i].transport[k] ?? 0) - (before[i].transport[k] ?? 0)) / secs);
  const a = (k: string) => Math.round(((after[i].api[k] ?? 0) - (before[i].api[k] ?? 0)) / secs);
  console.log(
    `node ${i + 1}: frames/s ${d('framesSent')} msgs/s ${d('messagesSent')} apiIn/s ${a('framesIn')} apiOut/s ${a('framesOut')} req/s ${a('requests')}`,
  );
}
console.log('ops/s', Math.round(n / secs));
await cluster.stop();
