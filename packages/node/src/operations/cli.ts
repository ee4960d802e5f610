/**
 * The `flotilla` command:
 *   flotilla start --config FILE
 *   flotilla status --api HOST:PORT
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
import { FlotillaClient } from '@flotilla/client';
import { JOBS_USAGE, runJobsCommand } from '@flotilla/jobs';
import { LIVE_USAGE, runLiveCommand } from '@flotilla/live';
import { loadConfig } from './config.ts';
import { runLocalCluster } from './demo.ts';
import { createLogger } from './logger.ts';
import { startNode } from './start.ts';

const USAGE = `usage:
  flotilla start --config FILE
  flotilla status --api HOST:PORT
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
  help: { type: 'boolean' },
} as const;

function need(value: string | undefined, name: string): string {
  if (!value) throw new Error(`--${name} is required\n${USAGE}`);
  return value;
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
  if (args[0] === 'live-queries') {
    const clients: FlotillaClient[] = [];
    try {
      const result = await runLiveCommand(args.slice(1), async (api) => {
        const client = await connect(api);
        clients.push(client);
        return { calls: client, topology: () => client.refreshTopology() };
      });
      console.log(typeof result === 'string' ? result : JSON.stringify(result, null, 2));
    } finally {
      for (const c of clients) c.close();
    }
    return;
  }
  if (args[0] === 'jobs') {
    const clients: FlotillaClient[] = [];
    try {
      const result = await runJobsCommand(args.slice(1), async (api) => {
        const client = await connect(api);
        clients.push(client);
        return { calls: client, topology: () => client.refreshTopology() };
      });
      console.log(typeof result === 'string' ? result : JSON.stringify(result, null, 2));
    } finally {
      for (const c of clients) c.close();
    }
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
      return;
    }
    case 'status':
      console.log(JSON.stringify(await withClient(values.api, (c) => c.status(values.api)), null, 2));
      return;
    case 'add-node': {
      const node = {
        id: Number(need(values.id, 'id')),
        rpc: need(values.rpc, 'rpc'),
        api: need(values['node-api'], 'node-api'),
      };
      console.log(JSON.stringify(await withClient(values.api, (c) => c.addNode(node))));
      return;
    }
    case 'remove-node':
      console.log(
        JSON.stringify(await withClient(values.api, (c) => c.removeNode(Number(need(values.id, 'id'))))),
      );
      return;
    case 'transfer-leader':
      console.log(
        JSON.stringify(
          await withClient(values.api, (c) =>
            c.transferLeader(need(values.group, 'group'), Number(need(values.to, 'to'))),
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
              Number(need(values.count, 'count')),
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
