/**
 * The bank example: branches of account actors on two host threads move money with transfers, a flaky
 * account is restarted by its branch, and an audit checks that no money was created or lost.
 */
import { ActorFailedError, type ActorRef, ActorSystem, seededRandom } from '@flotilla/actors';
import type { AccountMsg } from './account.ts';
import { BranchKind } from './branch.ts';

const HOSTS = 2;
const ACCOUNTS_PER_BRANCH = 4;
const OPENING = 1_000;
const TRANSFERS = 2_000;
const CONCURRENT_TRANSFERS = 16;

const started = Date.now();
// Two host threads even on a small machine (the default is one per core left after the main thread).
const system = await ActorSystem.start({ hosts: HOSTS });
let restarts = 0;
system.events.subscribe((event) => {
  if (event.type === 'actor-failed')
    console.log(`  ! ${event.path} on host ${event.slot} failed: ${event.error}`);
  if (event.type === 'actor-restarted') {
    restarts++;
    console.log(`  ↻ restarting ${event.path} (attempt ${event.attempt}, after ${event.delayMs} ms)`);
  }
});

const branches = [];
for (let host = 0; host < HOSTS; host++) {
  const props = { index: host, accounts: ACCOUNTS_PER_BRANCH, opening: OPENING, glitchEvery: 80 };
  branches.push(await system.spawn(BranchKind, { name: `branch-${host}`, host, props }));
}
const accounts = (await Promise.all(branches.map((b) => system.ask(b, { type: 'accounts' })))).flat();
console.log(`bank: ${HOSTS} host threads, ${accounts.length} accounts of ${OPENING}, ${TRANSFERS} transfers`);

const random = seededRandom(7);
const pick = () => accounts[Math.floor(random() * accounts.length)]!;
const outcome = { done: 0, 'insufficient-funds': 0, glitch: 0 };

async function transfer(from: ActorRef<AccountMsg>, to: ActorRef<AccountMsg>, amount: number): Promise<void> {
  try {
    outcome[await system.ask(from, { type: 'transfer', to, amount })]++;
  } catch (error) {
    if (!(error instanceof ActorFailedError)) throw error;
    outcome.glitch++; // the account threw before touching its balance: nothing moved
  }
}

for (let sent = 0; sent < TRANSFERS; sent += CONCURRENT_TRANSFERS) {
  const batch = [];
  for (let i = 0; i < CONCURRENT_TRANSFERS; i++)
    batch.push(transfer(pick(), pick(), 1 + Math.floor(random() * 300)));
  await Promise.all(batch);
}

// Deposits travel as tells, so the audit waits until the last ones have landed.
const expected = accounts.length * OPENING;
let balances: number[] = [];
for (let attempt = 0; attempt < 50; attempt++) {
  balances = await Promise.all(accounts.map((a) => system.ask(a, { type: 'balance' })));
  if (balances.reduce((sum, b) => sum + b, 0) === expected) break;
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const total = balances.reduce((sum, b) => sum + b, 0);

console.log(
  `transfers: ${outcome.done} done, ${outcome['insufficient-funds']} refused (insufficient funds), ` +
    `${outcome.glitch} failed (glitch); ${restarts} restarts`,
);
console.log(`balances: ${balances.join(' ')}`);
console.log(
  `total ${total}, expected ${expected}: ${total === expected ? 'money conserved ✓' : 'MISMATCH ✗'}`,
);
await system.shutdown();
console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exitCode = total === expected ? 0 : 1;
