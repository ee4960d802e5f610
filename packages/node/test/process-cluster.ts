/**
 * Real multi-process clusters for tests: each node is a `flotilla start` OS process on loopback with its own
 * LMDB directory; the harness tracks pids and kills what it started. Ports come from `ports.ts`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FlotillaClient,
  groupOfTarget,
  Kv,
  type KvReadResult,
  type KvWriteResult,
  type ReadConsistency,
} from '@flotilla/client';
import { cliCommand } from '../src/operations/local-cluster.ts';
import { freePort } from './ports.ts';

export interface NodePorts {
  readonly rpc: number;
  readonly api: number;
  readonly admin: number;
}

export interface ClusterOptions {
  /** Extra TOML appended to every node's config (e.g. `[raft]` settings). */
  readonly extraToml?: string;
  /** Extra keys of every node's `[cluster]` section (e.g. `leader_balance_interval_ms = 0`). */
  readonly clusterToml?: string;
  readonly userShards?: number;
  /** Log level of the nodes (default warn); their log lines (stdout) are kept in `output` when set. */
  readonly logLevel?: string;
  /** TOML of one node only (appended after `extraToml`), e.g. an `[app]` only some nodes load. */
  readonly nodeToml?: (id: number) => string;
}

export class ProcessCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'flotilla-cluster-'));
  readonly ports = new Map<number, NodePorts>();
  readonly processes = new Map<number, ChildProcess>();
  /** Log lines of each node (only with `logLevel`). */
  readonly output = new Map<number, string[]>();
  private readonly clients: FlotillaClient[] = [];
  members: number[] = [];

  constructor(private readonly options: ClusterOptions = {}) {}

  async reserve(ids: readonly number[]): Promise<void> {
    for (const id of ids) {
      if (!this.ports.has(id))
        this.ports.set(id, { rpc: await freePort(), api: await freePort(), admin: await freePort() });
    }
  }

  api(id: number): string {
    return `127.0.0.1:${this.ports.get(id)!.api}`;
  }

  rpc(id: number): string {
    return `127.0.0.1:${this.ports.get(id)!.rpc}`;
  }

  /** Writes configs for `members` and starts them. `join` nodes start empty and wait to be added. */
  async start(members: readonly number[], options: { join?: readonly number[] } = {}): Promise<void> {
    this.members = [...members];
    await this.reserve([...members, ...(options.join ?? [])]);
    for (const id of members) this.spawn(id, members, false);
    for (const id of options.join ?? []) this.spawn(id, members, true);
  }

  private configPath(id: number): string {
    return join(this.dir, `node${id}.toml`);
  }

  private writeConfig(id: number, members: readonly number[], joining: boolean): void {
    const p = this.ports.get(id)!;
    const list = members
      .map((m) => `  { id = ${m}, rpc = "${this.rpc(m)}", api = "${this.api(m)}" },`)
      .join('\n');
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(
      this.configPath(id),
      `[node]
id = ${id}
data_dir = "${join(this.dir, `data${id}`)}"
rpc = "127.0.0.1:${p.rpc}"
api = "127.0.0.1:${p.api}"
admin = "127.0.0.1:${p.admin}"
log_level = "${this.options.logLevel ?? 'warn'}"
request_timeout_ms = 4000

[cluster]
members = [
${list}
]
join = ${joining}
peer_wait_backoff_ms = 10
peer_wait_backoff_max_ms = 200
${this.options.clusterToml ?? ''}

[sharding]
user_shards = ${this.options.userShards ?? 32}

[security]
secret = "process-cluster-test-secret"

[testing]
fault_injection = true

${this.options.extraToml ?? ''}
${this.options.nodeToml?.(id) ?? ''}
`,
    );
  }

  /** Starts (or restarts from its existing data directory) one node. */
  spawn(id: number, members: readonly number[] = this.members, joining = false): ChildProcess {
    if (!this.ports.has(id)) throw new Error(`no ports reserved for node ${id}`);
    this.writeConfig(id, members, joining);
    const { command, args } = cliCommand();
    // FLOTILLA_PROFILE_DIR: write a CPU profile per node (processes are then stopped with SIGTERM).
    // FLOTILLA_TEST_LOGS: the nodes' log lines and stderr go to this process's (for a failing run).
    const profile = process.env.FLOTILLA_PROFILE_DIR
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.FLOTILLA_PROFILE_DIR}`]
      : [];
    const child = spawn(command, [...profile, ...args, 'start', '--config', this.configPath(id)], {
      stdio: [
        'ignore',
        this.options.logLevel ? 'pipe' : process.env.FLOTILLA_TEST_LOGS ? 'inherit' : 'ignore',
        process.env.FLOTILLA_TEST_LOGS ? 'inherit' : 'ignore',
      ],
    });
    if (child.stdout) {
      const lines = this.output.get(id) ?? [];
      this.output.set(id, lines);
      let partial = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        lines.push(...parts);
      });
    }
    this.processes.set(id, child);
    return child;
  }

  /** Kills a node's process by pid (SIGKILL by default) and waits for it to exit. */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.processes.get(id);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid!, signal);
    await exited;
  }

  async client(ids: readonly number[] = this.members, timeoutMs = 8_000): Promise<FlotillaClient> {
    const deadline = performance.now() + 30_000;
    for (;;) {
      try {
        const client = await FlotillaClient.connect({ addresses: ids.map((id) => this.api(id)), timeoutMs });
        this.clients.push(client);
        return client;
      } catch (error) {
        if (performance.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.close();
    const signal = process.env.FLOTILLA_PROFILE_DIR ? 'SIGTERM' : 'SIGKILL';
    await Promise.all([...this.processes.keys()].map((id) => this.kill(id, signal)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface StatusGroup {
  readonly id: string;
  readonly role: string;
  readonly term: number;
  readonly leaderId: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly voters: readonly number[];
  readonly learners: readonly number[];
}

export interface NodeStatus {
  readonly nodeId: number;
  readonly groups: readonly StatusGroup[];
  readonly counters: Record<string, number>;
}

export async function statusOf(client: FlotillaClient, address: string): Promise<NodeStatus> {
  return (await client.status(address)) as NodeStatus;
}

/** How many groups each node leads, as one node's status shows them (0 = no leader known). */
export function leadersPerNode(status: NodeStatus): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const g of status.groups) counts[g.leaderId] = (counts[g.leaderId] ?? 0) + 1;
  return counts;
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() > deadline)
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Every node in `ids` is ready (its application's groups created) and sees a leader for every group, and
 * all agree on it.
 */
export async function waitForFormation(
  cluster: ProcessCluster,
  client: FlotillaClient,
  ids: readonly number[],
  timeoutMs = 20_000,
) {
  return eventually('formation', timeoutMs, async () => {
    for (const id of ids) {
      const topology = (await client.request(cluster.api(id), 'topology', {})) as { ready: boolean };
      if (!topology.ready) return undefined;
    }
    const statuses = await Promise.all(ids.map((id) => statusOf(client, cluster.api(id))));
    const first = statuses[0]!;
    if (first.groups.length === 0) return undefined;
    for (const s of statuses) {
      for (const g of s.groups) {
        if (g.leaderId === 0) return undefined;
        const other = first.groups.find((x) => x.id === g.id);
        if (!other || other.leaderId !== g.leaderId) return undefined;
      }
    }
    return statuses;
  });
}

/** The KV calls the process tests make, over the public client API (`Kv`, `client.at`). */
export interface KvCalls {
  /** Resolves once the put is applied (its result, marked `ok`), rejects with the typed error otherwise. */
  put(key: string, value: string, group?: string): Promise<KvWriteResult & { ok: true }>;
  delete(key: string, group?: string): Promise<KvWriteResult & { ok: true }>;
  get(key: string, consistency?: ReadConsistency, group?: string): Promise<KvReadResult>;
  /** The value of `key` in the replica of node `address`, as it is there (a stale read). */
  readFrom(address: string, group: string, key: string): Promise<KvReadResult>;
  /** A put sent to one node only (no leader following, no retry). */
  putAt(
    address: string,
    group: string,
    key: string,
    value: string,
    timeoutMs?: number,
  ): Promise<KvWriteResult>;
  /** The `user:k` shard of a key. */
  groupOf(key: string): string;
}

export function kvOf(client: FlotillaClient): KvCalls {
  const kv = new Kv(client);
  const at = (group: string | undefined) => (group === undefined ? {} : { group });
  return {
    put: async (key, value, group) => ({ ok: true, ...(await kv.put(key, value, at(group))) }),
    delete: async (key, group) => ({ ok: true, ...(await kv.delete(key, at(group))) }),
    get: (key, consistency = 'linearizable', group) => kv.get(key, consistency, at(group)),
    readFrom: (address, group, key) => new Kv(client.at(address)).get(key, 'stale', { group }),
    putAt: (address, group, key, value, timeoutMs) =>
      new Kv(client.at(address, timeoutMs === undefined ? {} : { timeoutMs })).put(key, value, { group }),
    groupOf: (key) => groupOfTarget({ key, shards: 'user' }, 'kv', client.topology?.shards ?? []),
  };
}
