/**
 * The receiving process of the throughput benchmark: a WsTransport sink or a raw `net` sink that parses the
 * same length-prefixed records, counting messages and payload bytes between `reset` and `report`.
 */
import { createServer, type Socket } from 'node:net';
import { assertNever } from '@flotilla/core';
import { WsTransport } from '../src/index.ts';

type Command =
  | { readonly cmd: 'ws'; readonly secret: string; readonly senderUrl: string }
  | { readonly cmd: 'raw' }
  | { readonly cmd: 'reset' }
  | { readonly cmd: 'report' };

let messages = 0;
let bytes = 0;
let since = performance.now();
let transport: WsTransport | undefined;
const sockets = new Set<Socket>();
const reply = (message: Record<string, unknown>): void => {
  process.send?.(message);
};

/** Counts `[u32 length][payload]` records across chunk boundaries without copying payloads. */
function rawSink(socket: Socket): void {
  sockets.add(socket);
  let header = Buffer.alloc(0);
  let remaining = 0;
  socket.on('data', (chunk: Buffer) => {
    let offset = 0;
    while (offset < chunk.length) {
      if (remaining > 0) {
        const take = Math.min(remaining, chunk.length - offset);
        remaining -= take;
        offset += take;
        if (remaining === 0) messages++;
        continue;
      }
      const need = 4 - header.length;
      header = Buffer.concat([header, chunk.subarray(offset, offset + need)]);
      offset += Math.min(need, chunk.length - offset);
      if (header.length === 4) {
        remaining = header.readUInt32LE(0);
        bytes += remaining;
        header = Buffer.alloc(0);
      }
    }
  });
  socket.on('error', () => socket.destroy());
}

process.on('message', async (command: Command) => {
  switch (command.cmd) {
    case 'ws': {
      transport = new WsTransport({
        nodeId: 2,
        clusterSecret: command.secret,
        peers: new Map([[1, command.senderUrl]]),
      });
      await transport.start({
        deliver: (_from, _group, payload) => {
          messages++;
          bytes += payload.length;
        },
        deliverNode: (_from, _channel, payload) => {
          messages++;
          bytes += payload.length;
        },
        peerUnreachable: () => {},
        peerBackpressure: () => {},
        receiveSnapshot: async () => {},
      });
      reply({ type: 'ready', url: transport.url });
      return;
    }
    case 'raw': {
      const server = createServer(rawSink);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        reply({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
      });
      return;
    }
    case 'reset':
      messages = 0;
      bytes = 0;
      since = performance.now();
      reply({ type: 'reset' });
      return;
    case 'report':
      reply({ type: 'report', messages, bytes, elapsedMs: performance.now() - since });
      return;
    default:
      assertNever(command);
  }
});

process.on('disconnect', () => process.exit(0));
reply({ type: 'started' });
