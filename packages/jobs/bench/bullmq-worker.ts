/**
 * The worker process of bench:jobs's BullMQ baseline (started by bullmq.ts, so that producer and worker do not
 * share an event loop): one BullMQ `Worker` of the given concurrency with a no-op processor, BullMQ's default
 * options otherwise. Usage: `node --import tsx bullmq-worker.ts <redis port> <queue> <concurrency>`, with an IPC
 * channel: it sends `ready` once connected, and closes and exits on `close` or when its parent goes away.
 */
import { Worker } from 'bullmq';

/** Bound on closing the worker (waits for the jobs in flight, which are no-ops) before exiting anyway. */
const CLOSE_TIMEOUT_MS = 5_000;

const [port, queue, concurrency] = process.argv.slice(2);
if (!port || !queue || !concurrency || !process.send) {
  console.error('usage (with an IPC channel): bullmq-worker.ts <redis port> <queue> <concurrency>');
  process.exit(2);
}

const worker = new Worker(queue, async () => ({ ok: true }), {
  connection: { host: '127.0.0.1', port: Number(port), maxRetriesPerRequest: null },
  concurrency: Number(concurrency),
});
worker.on('error', (error) => console.error('bullmq worker:', error));

let closing = false;
async function close(): Promise<void> {
  if (closing) return;
  closing = true;
  setTimeout(() => process.exit(1), CLOSE_TIMEOUT_MS).unref();
  await worker.close();
  process.exit(0);
}

process.on('message', (message) => {
  if (message === 'close') void close();
});
process.once('disconnect', () => void close());

await worker.waitUntilReady();
process.send!('ready');
