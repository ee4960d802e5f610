/**
 * `pnpm --filter bank demo [--duration S]`: a local 3-process cluster runs the bank; clients open accounts
 * and start transfers while the leader node is killed (kill -9) and restarted mid-load; then every transfer
 * settles and the audit checks that money was conserved. Prints one JSON line; exits 0 when conserved.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type FlotillaClient, sleep } from '@flotilla/client';
import { LocalCluster } from '@flotilla/node';
import { Account } from './accounts.ts';
import { Transfers } from './transfers.ts';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    duration: { type: 'string', default: '20' },
    accounts: { type: 'string', default: '24' },
    'base-port': { type: 'string', default: '7400' },
  },
});
const DURATION_S = Number(values.duration);
const ACCOUNTS = Number(values.accounts);
const OPENING = 1_000;
/** Clients starting transfers at once. */
const CLIENTS = 16;
/** Bound on settling every transfer after the load stops. */
const SETTLE_TIMEOUT_MS = 60_000;
const APP = fileURLToPath(new URL('./app.ts', import.meta.url));

const log = (line: string) => process.stderr.write(`${line}\n`);
const accountIds = Array.from({ length: ACCOUNTS }, (_, i) => `acct-${i}`);

async function openAccounts(client: FlotillaClient): Promise<void> {
  await Promise.all(accountIds.map((id) => client.entity(Account, id).open({ initial: OPENING })));
}

/** Starts transfers until `until`; counts those acknowledged (recorded in the ledger) and those in doubt. */
async function load(
  client: FlotillaClient,
  until: number,
): Promise<{ acked: Set<string>; doubtful: number }> {
  const acked = new Set<string>();
  let doubtful = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      while (performance.now() < until) {
        const id = `t${c}-${next++}`;
        const from = accountIds[Math.floor(Math.random() * ACCOUNTS)]!;
        let to = accountIds[Math.floor(Math.random() * ACCOUNTS)]!;
        if (to === from) to = accountIds[(accountIds.indexOf(from) + 1) % ACCOUNTS]!;
        const amount = 1 + Math.floor(Math.random() * 100);
        try {
          await client.execute(Transfers, { key: id, shards: 'transfers' }, 'start', {
            id,
            from,
            to,
            amount,
          });
          acked.add(id);
        } catch {
          doubtful++; // it may or may not have been recorded: the audit does not rely on it
        }
      }
    }),
  );
  return { acked, doubtful };
}

async function counts(client: FlotillaClient) {
  const groups = Array.from({ length: 4 }, (_, i) => `transfers:${i}`);
  const each = await Promise.all(groups.map((g) => client.query(Transfers, g, 'counts', {})));
  return each.reduce(
    (sum, c) => ({
      pending: sum.pending + c.pending,
      debited: sum.debited + c.debited,
      completed: sum.completed + c.completed,
      failed: sum.failed + c.failed,
    }),
    { pending: 0, debited: 0, completed: 0, failed: 0 },
  );
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bank-'));
const cluster = LocalCluster.start({
  nodes: 3,
  dir,
  basePort: Number(values['base-port']),
  app: APP,
  output: 'ignore',
});
let exitCode = 1;
try {
  const client = await cluster.connect(10_000);
  await cluster.formed(client);
  await openAccounts(client);
  log(`bank: ${ACCOUNTS} accounts of ${OPENING} on a 3-node cluster; transfers for ${DURATION_S} s`);
  const started = performance.now();
  const until = started + DURATION_S * 1000;
  const running = load(client, until);
  // Mid-load: kill -9 the node leading every group (preferred leader), and bring it back from its disk.
  await sleep(DURATION_S * 400);
  log('bank: kill -9 of node 1 (the leader of every group)');
  await cluster.kill(1, 'SIGKILL');
  await sleep(Math.min(3_000, DURATION_S * 150));
  log('bank: node 1 restarts from its data directory');
  cluster.restart(1);
  const { acked, doubtful } = await running;
  log(`bank: load over: ${acked.size} transfers acknowledged, ${doubtful} in doubt; settling`);
  const settleBy = performance.now() + SETTLE_TIMEOUT_MS;
  let settled = await counts(client);
  while ((settled.pending > 0 || settled.debited > 0) && performance.now() < settleBy) {
    await sleep(200);
    settled = await counts(client).catch(() => settled);
  }
  const balances = await Promise.all(accountIds.map((id) => client.entity(Account, id).balance({})));
  const total = balances.reduce((sum, b) => sum + b.balance, 0);
  const lost = (
    await Promise.all(
      [...acked].map((id) => client.query(Transfers, { key: id, shards: 'transfers' }, 'get', { id })),
    )
  ).filter((t) => t === null).length;
  const conserved = total === ACCOUNTS * OPENING && settled.pending === 0 && settled.debited === 0;
  console.log(
    JSON.stringify({
      demo: 'bank',
      acked: acked.size,
      conserved,
      node_kills: 1,
      completed: settled.completed,
      failed: settled.failed,
      unsettled: settled.pending + settled.debited,
      lost,
      total,
      expected_total: ACCOUNTS * OPENING,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    }),
  );
  exitCode = conserved && lost === 0 ? 0 : 1;
  client.close();
} catch (error) {
  log(`bank: failed: ${error instanceof Error ? error.stack : String(error)}`);
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
