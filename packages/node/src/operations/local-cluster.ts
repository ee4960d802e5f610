/**
 * A cluster of node processes on this machine, on loopback: each node a `flotilla start` OS process with its
 * own data directory and config, killed and restarted by process id. The README's main job, the examples'
 * demos and the benchmarks start their clusters with it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlotillaClient, sleep } from '@flotilla/client';

export interface LocalClusterOptions {
  /** Nodes 1..N. */
  readonly nodes: number;
  /** Where each node keeps `node<id>/` and `node<id>.toml`. */
  readonly dir: string;
  /** Node `id` listens on basePort + id (peers), + 100 + id (API), + 200 + id (admin). */
  readonly basePort: number;
  /** The application module every node loads (`[app] module`). */
  readonly app?: string;
  /** Every group's leader on node 1 (one host batches best with one leader); default true. */
  readonly preferredLeader?: boolean;
  /** TOML appended to every node's config. */
  readonly extraToml?: string;
  readonly logLevel?: string;
  /** The nodes' stdout and stderr: shown (`inherit`, default) or dropped. */
  readonly output?: 'inherit' | 'ignore';
}

/** Bound on waiting for a node's API to answer after a start. */
const CONNECT_TIMEOUT_MS = 30_000;
const CONNECT_POLL_MS = 100;

/** How to run this package's CLI in a child: from source under tsx in development, compiled JS otherwise. */
export function cliCommand(): { command: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  // V8 flags for node processes (FLOTILLA_NODE_FLAGS overrides). A larger young generation: a node allocates
  // many short-lived messages, and measured here it gained ~20% throughput under load.
  const v8 = (process.env.FLOTILLA_NODE_FLAGS ?? '--max-semi-space-size=32').split(' ').filter(Boolean);
  // FLOTILLA_CLI_DIST=1 runs the compiled CLI even from source (benchmarks measure production code); tsx stays
  // loaded so that an application module written in TypeScript can still be imported.
  if (process.env.FLOTILLA_CLI_DIST === '1') {
    const cli = join(here, '..', '..', '..', 'dist', 'operations', 'cli.js');
    return { command: process.execPath, args: [...v8, '--enable-source-maps', '--import', 'tsx', cli] };
  }
  if (here.endsWith('.ts')) {
    return {
      command: process.execPath,
      args: [...v8, '--conditions=source', '--import', 'tsx', join(here, '..', 'cli.ts')],
    };
  }
  return { command: process.execPath, args: [...v8, '--enable-source-maps', join(here, '..', 'cli.js')] };
}

export class LocalCluster {
  readonly ids: readonly number[];
  readonly dir: string;
  private readonly children = new Map<number, ChildProcess>();

  private constructor(private readonly options: LocalClusterOptions) {
    this.ids = Array.from({ length: options.nodes }, (_, i) => i + 1);
    this.dir = resolve(options.dir);
  }

  /** Writes every node's config and starts its process; resolves once they are spawned (not yet formed). */
  static start(options: LocalClusterOptions): LocalCluster {
    const cluster = new LocalCluster(options);
    mkdirSync(cluster.dir, { recursive: true });
    for (const id of cluster.ids) writeFileSync(cluster.configPath(id), cluster.toml(id));
    for (const id of cluster.ids) cluster.restart(id);
    process.once('exit', () => {
      for (const child of cluster.children.values()) if (child.exitCode === null) child.kill('SIGKILL');
    });
    return cluster;
  }

  api(id: number): string {
    return `127.0.0.1:${this.options.basePort + 100 + id}`;
  }

  admin(id: number): string {
    return `127.0.0.1:${this.options.basePort + 200 + id}`;
  }

  get apis(): string[] {
    return this.ids.map((id) => this.api(id));
  }

  pid(id: number): number | undefined {
    return this.children.get(id)?.pid;
  }

  configPath(id: number): string {
    return join(this.dir, `node${id}.toml`);
  }

  private toml(id: number): string {
    const addr = (kind: number, n: number) => `127.0.0.1:${this.options.basePort + kind * 100 + n}`;
    const members = this.ids
      .map((n) => `  { id = ${n}, rpc = "${addr(0, n)}", api = "${addr(1, n)}" },`)
      .join('\n');
    const preferred = this.options.preferredLeader ?? true;
    return `[node]
id = ${id}
data_dir = "${join(this.dir, `node${id}`)}"
admin = "${addr(2, id)}"
log_level = "${this.options.logLevel ?? 'warn'}"

[cluster]
members = [
${members}
]
${preferred ? `# Every node on one host: one leader for all groups batches best (see leader-balancer.ts).\npreferred_leaders = [${this.ids[0]}]\n` : ''}
[security]
secret = "local-cluster-demo-secret"
${this.options.app ? `\n[app]\nmodule = "${resolve(this.options.app)}"\n` : ''}
${this.options.extraToml ?? ''}
`;
  }

  /** Starts (or restarts, from its data directory) node `id`. */
  restart(id: number): void {
    const { command, args } = cliCommand();
    const output = this.options.output ?? 'inherit';
    const child = spawn(command, [...args, 'start', '--config', this.configPath(id)], {
      stdio: ['ignore', output, output],
    });
    this.children.set(id, child);
  }

  /** Kills node `id` by process id (SIGKILL by default) and waits for it to exit. */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.children.get(id);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid!, signal);
    await exited;
  }

  /** A client of the whole cluster, once some node answers (bounded). */
  async connect(timeoutMs = 5_000): Promise<FlotillaClient> {
    const deadline = performance.now() + CONNECT_TIMEOUT_MS;
    for (;;) {
      try {
        return await FlotillaClient.connect({ addresses: this.apis, timeoutMs });
      } catch (error) {
        if (performance.now() > deadline) throw error;
        await sleep(CONNECT_POLL_MS);
      }
    }
  }

  /** Resolves once a node reports the cluster ready: the application's groups created, every group led. */
  async formed(client: FlotillaClient, timeoutMs = CONNECT_TIMEOUT_MS): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const topology = await client.refreshTopology().catch(() => undefined);
      if (topology?.ready) return;
      if (performance.now() > deadline) throw new Error('the cluster did not elect every leader in time');
      await sleep(CONNECT_POLL_MS);
    }
  }

  /** Stops every node (SIGTERM: they hand over leadership and exit) and waits for them. */
  async stop(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.kill(id, 'SIGTERM')));
  }
}
