/**
 * Test helpers: in-process clusters of `FlotillaNode`s over an in-memory network and real storage in
 * temporary directories, so node logic is tested without sockets; process-level tests use real ws links.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryNetwork, type Transport } from '@flotilla/core';
import { configFromToml, FlotillaNode, type NodeConfig, silentLogger } from '@flotilla/node';
import { loadRegistry } from '../src/machines/registry.ts';

export interface InProcessCluster {
  readonly nodes: Map<number, FlotillaNode>;
  readonly network: MemoryNetwork;
  readonly dir: string;
  start(id: number): Promise<FlotillaNode>;
  stopAll(): Promise<void>;
}

/** A node of the given config over `transport`, started (the application loaded as the config says). */
export async function startInProcess(config: NodeConfig, transport: Transport): Promise<FlotillaNode> {
  const node = new FlotillaNode({
    config,
    transport,
    peers: { setPeer: () => {} },
    logger: silentLogger(),
    registry: await loadRegistry(config.app, config.machines.kvState),
    app: config.app,
    layout: config.layout,
  });
  await node.start();
  return node;
}

export function memberConfig(
  id: number,
  ids: readonly number[],
  dir: string,
  overrides: Record<string, unknown> = {},
): NodeConfig {
  return configFromToml({
    node: { id, data_dir: join(dir, `n${id}`), request_timeout_ms: 3000 },
    cluster: {
      members: ids.map((m) => ({ id: m, rpc: `127.0.0.1:${7000 + m}`, api: `127.0.0.1:${8000 + m}` })),
      peer_wait_backoff_ms: 10,
      peer_wait_backoff_max_ms: 100,
    },
    sharding: { user_shards: 4, shared_shards: 1 },
    raft: { tick_ms: 5, election_ticks: 10, snapshot_entries: 50, compaction_margin_entries: 5 },
    security: { secret: 'a-test-secret-of-enough-length' },
    ...overrides,
  });
}

export function inProcessCluster(ids: readonly number[]): InProcessCluster {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-node-'));
  const network = new MemoryNetwork({ schedule: (flush) => setImmediate(flush) });
  const nodes = new Map<number, FlotillaNode>();
  return {
    nodes,
    network,
    dir,
    async start(id: number) {
      const node = await startInProcess(memberConfig(id, ids, dir), network.transport(id));
      nodes.set(id, node);
      return node;
    },
    async stopAll() {
      for (const node of nodes.values()) await node.stop({ transferLeadership: false });
      nodes.clear();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
