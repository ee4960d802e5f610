/**
 * `flotilla live-queries`: the subscriptions from a shell — totals per serving node and the subscriptions
 * of a user, of a node, or all (bounded), as JSON. Bad options are refused naming the option.
 */
import { parseArgs } from 'node:util';
import { InvalidConfigError, type Topology } from '@flotilla/app';
import { type LiveConnection, LiveQueries } from './client.ts';
import { LIVE_PREFIX } from './define.ts';

export const LIVE_USAGE = `usage: flotilla live-queries --api HOST:PORT [--user U] [--node N] [--limit N] [--prefix P]
  prints {"total", "byNode", "subscriptions"}: every subscription of user U, or served by node N, or all
  (at most N per user shard, default 100); --prefix names the user shards when they are not live:N`;

/** What the CLI needs of a connection: calls that can watch, and the topology (to find the user shards). */
export interface LiveQueriesUsage {
  readonly calls: LiveConnection;
  topology(): Promise<Topology>;
}

function positive(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new InvalidConfigError(name, `--${name} must be a positive integer, got ${value}`);
  return n;
}

/** Runs `flotilla live-queries` (`args` after the command's name); resolves with what to print. */
export async function runLiveCommand(
  args: readonly string[],
  connect: (api: string) => Promise<LiveQueriesUsage>,
): Promise<unknown> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      api: { type: 'string' },
      user: { type: 'string' },
      node: { type: 'string' },
      limit: { type: 'string' },
      prefix: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return LIVE_USAGE;
  if (values.api === undefined) throw new InvalidConfigError('api', `--api is required\n${LIVE_USAGE}`);
  const node = positive(values.node, 'node');
  const limit = positive(values.limit, 'limit') ?? 100;
  const connection = await connect(values.api);
  const prefix = values.prefix ?? LIVE_PREFIX;
  const set = (await connection.topology()).shards.find((s) => s.prefix === prefix);
  if (set === undefined) throw new InvalidConfigError('prefix', `the cluster has no shard set ${prefix}`);
  const live = new LiveQueries(connection.calls, { prefix, shards: set.count });
  const [counts, subscriptions] = await Promise.all([
    live.counts(),
    live.list({
      ...(values.user === undefined ? {} : { user: values.user }),
      ...(node === undefined ? {} : { node }),
      limit,
    }),
  ]);
  return { ...counts, subscriptions };
}
