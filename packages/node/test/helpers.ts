/**
 * Test helpers: in-process clusters of `ClusterNode`s over an in-memory network and real LMDB storage in
 * temporary directories, so node logic is tested without sockets; process-level tests use real ws links.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryNetwork } from '@flotilla/core';
import { ClusterNode, configFromToml, type NodeConfig, silentLogger } from '@flotilla/node';

export interface InProcessCluster {
  readonly nodes: Map<number, ClusterNode>;
  readonly network: MemoryNetwork;
  readonly dir: string;
  start(id: number): Promise<ClusterNode>;
  stopAll(): Promise<void>;
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
  const nodes = new Map<number, ClusterNode>();
  return {
    nodes,
    network,
    dir,
    async start(id: number) {
      const config = memberConfig(id, ids, dir);
      const node = new ClusterNode({
        config,
        transport: network.transport(id),
        peers: { setPeer: () => {} },
        logger: silentLogger(),
      });
      await node.start();
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
