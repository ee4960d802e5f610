/**
 * LMDB crash test: the shared crash harness SIGKILLs a writer of 36 groups 22 times; besides the log checks,
 * every state machine is applied exactly once up to a durable applied index never below a reported one.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { NodeStorage } from '../src/index.ts';
import { CRASH_TEST_TIMEOUT_MS, crashLoop, type Seen } from './crash-harness.ts';
import { GROUPS, groupName } from './crash-writer.ts';
import { applyCounter, openLmdb, readUint } from './lmdb-crash-child.ts';

const KILLS = 22;

/** The durable applied index of each group, which must never go back. */
const applied = new Map<string, number>();

function checkStateMachine(storage: NodeStorage, group: string, seen: Seen | undefined): void {
  const sm = storage.kvStateMachine(group, applyCounter);
  const reported = Math.max(applied.get(group) ?? 0, seen?.marks.get('S') ?? 0);
  assert.ok(sm.appliedIndex >= reported, `${group}: applied index ${sm.appliedIndex} < durable ${reported}`);
  assert.equal(readUint(sm.get('count')), sm.appliedIndex, `${group}: every command applied exactly once`);
  for (let bucket = 0; bucket < 7; bucket++) {
    const newest = sm.appliedIndex - ((((sm.appliedIndex - bucket) % 7) + 7) % 7);
    const expected = newest >= 1 ? newest : 0;
    assert.equal(readUint(sm.get(`k${bucket}`)), expected, `${group}: bucket ${bucket}`);
  }
  applied.set(group, sm.appliedIndex);
}

it(`keeps every durable write across ${KILLS} SIGKILLs of a writer of ${GROUPS} groups`, {
  timeout: CRASH_TEST_TIMEOUT_MS,
}, async (t) => {
  const issued = await crashLoop({
    child: fileURLToPath(new URL('./lmdb-crash-child.ts', import.meta.url)),
    kills: KILLS,
    seedBase: 1000,
    open: openLmdb,
    afterKill(storage, seen) {
      for (let i = 0; i < GROUPS; i++) checkStateMachine(storage, groupName(i), seen.get(groupName(i)));
    },
  });
  t.diagnostic(`${issued} writes issued`);
  assert.ok(
    [...applied.values()].some((index) => index > 0),
    'the state machines applied commands',
  );
});
