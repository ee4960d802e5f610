/**
 * Ports for test nodes that stay free between reservation and use. A port from `listen(0)` is in the kernel's
 * ephemeral range, so between closing the probe and the node binding it, any outgoing connection (node to
 * node, client to node) may take it as its local port (seen: EADDRINUSE in about one run in five). Ports
 * below that range are never handed out implicitly; each is checked bindable and never given out twice.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const given = new Set<number>();
const LOWEST = 10_000;

/** The first port of the kernel's ephemeral range (Linux), or undefined when it cannot be read. */
function ephemeralLow(): number | undefined {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : undefined;
  } catch {
    return undefined;
  }
}

function tryBind(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve(bound));
    });
  });
}

/** A loopback port that is free now and outside the ephemeral range when the platform allows it. */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  if (low !== undefined && low - LOWEST >= 1_000) {
    for (let attempt = 0; attempt < 200; attempt++) {
      const port = LOWEST + Math.floor(Math.random() * (low - LOWEST));
      if (given.has(port)) continue;
      if ((await tryBind(port)) === port) {
        given.add(port);
        return port;
      }
    }
  }
  for (;;) {
    const port = await tryBind(0);
    if (port !== undefined && !given.has(port)) {
      given.add(port);
      return port;
    }
  }
}
