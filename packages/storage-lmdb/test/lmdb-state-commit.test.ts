/**
 * Group commit of state machines (`stateCommitIntervalMs`): applied batches of every machine are staged and
 * committed together at the interval — one transaction — readable at once, durable with their applied index
 * after the commit; `flushed()` commits at once; a snapshot restore drops what was staged.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type Command, EMPTY_CONF_STATE } from '@flotilla/core';
import { type KvApply, openStorage } from '../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-state-commit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const put: KvApply<void> = (command, kv) => {
  kv.put(`k${command.index}`, Buffer.from(`v${command.index}`));
};
const cmd = (index: number): Command => ({ index, term: 1, data: Uint8Array.of(0) });
const turn = () => new Promise((r) => setImmediate(r));

test('machines staged over many turns commit in one transaction at the interval, then are durable', async () => {
  const storage = await openStorage({ path: join(dir, 'a'), nodeId: 1, stateCommitIntervalMs: 50 });
  const a = storage.kvStateMachine('a', put);
  const b = storage.kvStateMachine('b', put);
  const before = storage.lastTransactionId();
  for (let i = 1; i <= 40; i++) {
    a.apply([cmd(i)]);
    b.apply([cmd(i)]);
    await turn();
  }
  assert.equal(Buffer.from(a.get('k40')!).toString(), 'v40', 'readable before it is durable');
  assert.equal(a.durableAppliedIndex, 0);
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(storage.lastTransactionId() - before, 1, 'one transaction for both machines, 80 batches');
  assert.equal(a.durableAppliedIndex, 40);
  assert.equal(b.durableAppliedIndex, 40);
  a.apply([cmd(41)]);
  await a.flushed();
  assert.equal(a.durableAppliedIndex, 41, 'flushed() commits what is staged at once');
  await storage.close();
  const again = await openStorage({ path: join(dir, 'a'), nodeId: 1, stateCommitIntervalMs: 50 });
  const reopened = again.kvStateMachine('a', put);
  assert.equal(reopened.appliedIndex, 41);
  assert.equal(Buffer.from(reopened.get('k41')!).toString(), 'v41');
  await again.close();
});

test('a restore replaces what was staged: the old writes never reach the new state', async () => {
  const storage = await openStorage({ path: join(dir, 'b'), nodeId: 1, stateCommitIntervalMs: 50 });
  const source = storage.kvStateMachine('source', put);
  source.apply([cmd(1), cmd(2)]);
  await source.flushed();
  const image = source.snapshot();
  const target = storage.kvStateMachine('target', put);
  target.apply([cmd(1), cmd(2), cmd(3)]);
  target.restore(image, { index: 2, term: 1, confState: EMPTY_CONF_STATE });
  await new Promise((r) => setTimeout(r, 120));
  await target.flushed();
  assert.equal(target.appliedIndex, 2);
  assert.equal(target.get('k3'), undefined, 'the staged write of the old state is gone');
  assert.equal(Buffer.from(target.get('k2')!).toString(), 'v2');
  await storage.close();
});
