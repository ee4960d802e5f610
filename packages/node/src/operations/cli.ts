/**
 * The `flotilla` command:
 *   flotilla start --config FILE
 *   flotilla status --api HOST:PORT [--json]
 *   flotilla add-node --api HOST:PORT --id N --rpc HOST:PORT --node-api HOST:PORT
 *   flotilla remove-node --api HOST:PORT --id N
 *   flotilla transfer-leader --api HOST:PORT --group G --to N
 *   flotilla create-group --api HOST:PORT --group G [--kind K]   /   delete-group --api HOST:PORT --group G
 *   flotilla create-shards --api HOST:PORT --prefix P --count N --kind K
 *   flotilla local-cluster [--nodes 3] [--duration SECONDS] [--dir DIR] [--base-port 7100]
 *   flotilla jobs … (see @flotilla/jobs JOBS_USAGE)
 *   flotilla live-queries … (see @flotilla/live LIVE_USAGE)
 * Every command that talks to a node takes --token / FLOTILLA_TOKEN and --ca / FLOTILLA_CA.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FlotillaClient, type Topology } from '@flotilla/client';
import { JOBS_USAGE, runJobsCommand } from '@flotilla/jobs';
import { LIVE_USAGE, runLiveCommand } from '@flotilla/live';
import { loadConfig } from './config.ts';
import { runLocalCluster } from './demo.ts';
import { createLogger } from './logger.ts';
import { startNode } from './start.ts';

const USAGE = `usage:
  flotilla start --config FILE
  flotilla status --api HOST:PORT [--json]
  flotilla add-node --api HOST:PORT --id N --rpc HOST:PORT --node-api HOST:PORT
  flotilla remove-node --api HOST:PORT --id N
  flotilla transfer-leader --api HOST:PORT --group G --to N
  flotilla create-group --api HOST:PORT --group G [--kind K]   (default kind: kv)
  flotilla create-shards --api HOST:PORT --prefix P --count N --kind K
  flotilla delete-group --api HOST:PORT --group G
  flotilla local-cluster [--nodes 3] [--duration SECONDS] [--dir DIR] [--base-port 7100]
${JOBS_USAGE.replace('usage ', '  jobs: ')}
${LIVE_USAGE.replace('usage: ', '  ')}
every command that talks to a node takes --token T (or FLOTILLA_TOKEN: a client of [[security.clients]])
and --ca FILE (or FLOTILLA_CA: the nodes serve wss with a certificate this CA signed)`;

const options = {
  config: { type: 'string' },
  api: { type: 'string' },
  id: { type: 'string' },
  rpc: { type: 'string' },
  'node-api': { type: 'string' },
  group: { type: 'string' },
  kind: { type: 'string' },
  prefix: { type: 'string' },
  count: { type: 'string' },
  to: { type: 'string' },
  nodes: { type: 'string' },
  duration: { type: 'string' },
  dir: { type: 'string' },
  'base-port': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

function need(value: string | undefined, name: string): string {
  if (!value) throw new Error(`--${name} is required\n${USAGE}`);
  return value;
}

/** A positive integer option (ids, counts, ports), refused with its name rather than sent as NaN. */
function positive(value: string | undefined, name: string): number {
  const n = Number(need(value, name));
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
}

interface StatusView {
  readonly nodeId: number;
  readonly mode?: string;
  readonly groups: readonly {
    id: string;
    kind: string;
    role: string;
    leaderId: number;
    term: number;
    commitIndex: number;
    appliedIndex: number;
    followerLagMax: number | null;
  }[];
  readonly links?: readonly { peer: number; state: string }[];
  readonly alarms?: readonly { type: string; group?: string }[];
}

/** `flotilla status` for a person: the node, its links and alarms, then one row per group. */
function statusTable(s: StatusView): string {
  const rows = [['group', 'kind', 'role', 'leader', 'term', 'commit', 'applied', 'lag']];
  for (const g of s.groups)
    rows.push([
      g.id,
      g.kind,
      g.role,
      String(g.leaderId || '-'),
      String(g.term),
      String(g.commitIndex),
      String(g.appliedIndex),
      g.followerLagMax === null ? '' : String(g.followerLagMax),
    ]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) =>
    r
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd(),
  );
  const links = (s.links ?? []).map((l) => `${l.peer} ${l.state}`).join(', ') || 'none';
  const alarms = (s.alarms ?? []).map((a) => `${a.type}${a.group ? ` ${a.group}` : ''}`).join(', ') || 'none';
  return [
    `node ${s.nodeId}${s.mode ? ` (${s.mode})` : ''}: ${s.groups.length} groups, leading ${s.groups.filter((g) => g.role === 'leader').length}`,
    `links: ${links}`,
    `alarms: ${alarms}`,
    '',
    ...lines,
  ].join('\n');
}

/**
 * Credentials of every command that talks to a node: `--token T` (or FLOTILLA_TOKEN), `--ca FILE` (or
 * FLOTILLA_CA) for nodes that serve wss. Taken out of the arguments before each command parses its own.
 */
function credentials(args: string[]): { args: string[]; token?: string; ca?: string } {
  const out: string[] = [];
  let token: string | undefined;
  let ca: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [name, inline] = arg.startsWith('--') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    if (name !== '--token' && name !== '--ca') {
      out.push(arg);
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined || value === '') throw new Error(`${name} needs a value\n${USAGE}`);
    if (name === '--token') token = value;
    else ca = value;
  }
  return { args: out, ...(token === undefined ? {} : { token }), ...(ca === undefined ? {} : { ca }) };
}

let dialOptions: { token?: string; tls?: { ca: Buffer } } = {};

function connect(api: string): Promise<FlotillaClient> {
  return FlotillaClient.connect({ addresses: [api], timeoutMs: 10_000, ...dialOptions });
}

/** A package's own command (`jobs`, `live-queries`): it gets connections by address, and its result is printed. */
async function runPackaged(
  run: (
    args: readonly string[],
    connect: (api: string) => Promise<{ calls: FlotillaClient; topology(): Promise<Topology> }>,
  ) => Promise<unknown>,
  args: readonly string[],
): Promise<void> {
  const clients: FlotillaClient[] = [];
  try {
    const result = await run(args, async (api) => {
      const client = await connect(api);
      clients.push(client);
      return { calls: client, topology: () => client.refreshTopology() };
    });
    console.log(typeof result === 'string' ? result : JSON.stringify(result, null, 2));
  } finally {
    for (const c of clients) c.close();
  }
}

async function withClient<T>(
  api: string | undefined,
  run: (client: FlotillaClient) => Promise<T>,
): Promise<T> {
  const client = await connect(need(api, 'api'));
  try {
    return await run(client);
  } finally {
    client.close();
  }
}

async function main(argv: string[]): Promise<void> {
  // `pnpm start -- --duration 20` passes the `--` through; it would end option parsing here.
  const given = credentials(argv.filter((arg) => arg !== '--'));
  const args = given.args;
  dialOptions = {
    ...(given.token === undefined ? {} : { token: given.token }),
    ...(given.ca === undefined ? {} : { tls: { ca: readFileSync(given.ca) } }),
  };
  const packaged = { 'live-queries': runLiveCommand, jobs: runJobsCommand }[args[0] ?? ''];
  if (packaged !== undefined) {
    await runPackaged(packaged, args.slice(1));
    return;
  }
  const { positionals, values } = parseArgs({ args, options, allowPositionals: true });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(USAGE);
    return;
  }
  switch (command) {
    case 'start': {
      const config = loadConfig(need(values.config, 'config'));
      const logger = createLogger({ level: config.node.logLevel });
      const node = await startNode(config, logger);
      const stop = async (signal: string) => {
        logger.info({ signal }, 'stopping: handing over leadership');
        await node.stop();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
      // Removed from the cluster (a peer said so): say it and stop, rather than keep redialling and answering.
      void node.removed.then(async () => {
        logger.error('this node was removed from the cluster: stopping');
        await node.stop();
        process.exit(0);
      });
      return;
    }
    case 'status': {
      const status = await withClient(values.api, (c) => c.status(values.api));
      console.log(values.json ? JSON.stringify(status, null, 2) : statusTable(status as StatusView));
      return;
    }
    case 'add-node': {
      const node = {
        id: positive(values.id, 'id'),
        rpc: need(values.rpc, 'rpc'),
        api: need(values['node-api'], 'node-api'),
      };
      console.log(JSON.stringify(await withClient(values.api, (c) => c.addNode(node))));
      return;
    }
    case 'remove-node':
      console.log(
        JSON.stringify(await withClient(values.api, (c) => c.removeNode(positive(values.id, 'id')))),
      );
      return;
    case 'transfer-leader':
      console.log(
        JSON.stringify(
          await withClient(values.api, (c) =>
            c.transferLeader(need(values.group, 'group'), positive(values.to, 'to')),
          ),
        ),
      );
      return;
    case 'create-group':
      console.log(
        JSON.stringify(
          await withClient(values.api, (c) =>
            c.createGroup(need(values.group, 'group'), values.kind ?? 'kv'),
          ),
        ),
      );
      return;
    case 'create-shards':
      console.log(
        JSON.stringify(
          await withClient(values.api, (c) =>
            c.createShards(
              need(values.prefix, 'prefix'),
              positive(values.count, 'count'),
              need(values.kind, 'kind'),
            ),
          ),
        ),
      );
      return;
    case 'delete-group':
      console.log(
        JSON.stringify(await withClient(values.api, (c) => c.deleteGroup(need(values.group, 'group')))),
      );
      return;
    case 'local-cluster':
      await runLocalCluster({
        nodes: Number(values.nodes ?? 3),
        durationS: values.duration === undefined ? undefined : Number(values.duration),
        ...(values.dir ? { dir: values.dir } : {}),
        basePort: Number(values['base-port'] ?? 7100),
      });
      return;
    default:
      throw new Error(`unknown command ${command}\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
