/**
 * Part of `pnpm bench:app`: actor tells between two processes against raw WebSocket messages of the same
 * size, over the same transport, in one run. A receiver process (this file, `--receive`) runs a transport, an
 * actor system bridged to it (as a node does) and a counting actor; the sender floods it for BENCH_SECONDS
 * first with raw node-channel payloads, then with actor tells, pacing itself on the link's backpressure.
 * {"bench":"remote-tell","message_bytes":B,"msgs_per_s":N,"raw_msgs_per_s":W,"ratio":R}
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Actor, type ActorRef, ActorSystem, type NodeLinks } from '@flotilla/actors';
import type { TransportHandler } from '@flotilla/core';
import { WsTransport } from '@flotilla/transport-ws';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const SECRET = 'remote-tell-bench-secret';
/**
 * Messages queued per event-loop turn while the link is not held, the same for both kinds. Past what the
 * receiving actor consumes its mailbox fills and tells become dead letters (bounded mailboxes drop, they do
 * not push back across the network): 200 per turn keeps both runs below that, measured here.
 */
const BURST = Number(process.env.BENCH_BURST ?? 200);
const TEXT = 'x'.repeat(64);

type SinkMessage = { readonly type: 'm'; readonly text: string };

class Sink implements Actor<SinkMessage> {
  static count = 0;
  receive(): void {
    Sink.count++;
  }
}

interface Peer {
  readonly transport: WsTransport;
  readonly system: ActorSystem;
  readonly links: NodeLinks;
  raw: number;
}

async function peer(nodeId: number, peers: [number, string][]): Promise<Peer> {
  const transport = new WsTransport({ nodeId, clusterSecret: SECRET, peers: new Map(peers) });
  const system = await ActorSystem.start({ hosts: 0, nodeId });
  const links = system.connectNodes({ send: (to, batch) => transport.sendNode(to, 'actors', batch) });
  const self: Peer = { transport, system, links, raw: 0 };
  const handler: TransportHandler = {
    deliver: () => {},
    deliverNode: (from, channel, payload) => {
      if (channel === 'actors') links.receive(from, payload);
      else self.raw++;
    },
    peerUnreachable: () => {},
    peerBackpressure: () => {},
    receiveSnapshot: async () => {},
  };
  await transport.start(handler);
  return self;
}

async function receive(): Promise<void> {
  const p = await peer(2, []);
  const sink = await p.system.spawn(Sink, { name: 'sink', host: 'main', mailboxCapacity: 1 << 20 });
  process.on('message', (m: { cmd: string; sender?: string }) => {
    if (m.cmd === 'counts') {
      const dead = Object.values(p.system.stats().deadLetters).reduce((a, b) => a + b, 0);
      process.send?.({ raw: p.raw, tells: Sink.count, dead });
    }
    if (m.cmd === 'peer' && m.sender) p.transport.addPeer(1, m.sender);
    if (m.cmd === 'stop')
      void p.system
        .shutdown()
        .then(() => p.transport.stop())
        .then(() => process.exit(0));
  });
  process.send?.({ url: p.transport.url, sink });
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function send(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['--receive'], {
    execArgv: ['--conditions=source', '--import', 'tsx'],
  });
  const ready = await new Promise<{ url: string; sink: ActorRef<SinkMessage> }>((resolve) =>
    child.once('message', (m) => resolve(m as never)),
  );
  const counts = () =>
    new Promise<{ raw: number; tells: number; dead: number }>((resolve) => {
      child.once('message', (m) => resolve(m as never));
      child.send({ cmd: 'counts' });
    });
  const p = await peer(1, [[2, ready.url]]);
  child.send({ cmd: 'peer', sender: p.transport.url });
  while (p.transport.linkInfo().find((l) => l.peer === 2)?.state !== 'open') await turn();
  const sizeOf = new TextEncoder().encode(JSON.stringify({ type: 'm', text: TEXT })).length;
  const payload = new Uint8Array(sizeOf).fill(120);

  /** Floods for SECONDS with `one` BURST times per turn (waiting while the link is held); returns msgs/s received. */
  const flood = async (one: () => void, key: 'raw' | 'tells'): Promise<number> => {
    const before = (await counts())[key];
    const started = performance.now();
    while (performance.now() - started < SECONDS * 1000) {
      if (p.transport.isHeld(2)) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      for (let i = 0; i < BURST; i++) one();
      await turn();
    }
    await new Promise((r) => setTimeout(r, 200));
    return ((await counts())[key] - before) / ((performance.now() - started) / 1000);
  };

  const raw = await flood(() => p.transport.sendNode(2, 'rpc', payload), 'raw');
  const message: SinkMessage = { type: 'm', text: TEXT };
  const tells = await flood(() => p.system.tell(ready.sink, message), 'tells');
  const { dead } = await counts();
  console.log(
    JSON.stringify({
      bench: 'remote-tell',
      message_bytes: sizeOf,
      burst_per_turn: BURST,
      msgs_per_s: Math.round(tells),
      raw_msgs_per_s: Math.round(raw),
      dead_letters: dead,
      ratio: Number((tells / raw).toFixed(2)),
    }),
  );
  child.send({ cmd: 'stop' });
  await p.system.shutdown();
  await p.transport.stop();
}

if (process.argv.includes('--receive')) await receive();
else await send();
