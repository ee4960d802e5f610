/**
 * WAL crash test: the shared crash harness SIGKILLs a writer of 36 groups 22 times, with segments small enough
 * that it rotates under load; besides the log checks, recovery must leave exactly one segment on disk.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CRASH_TEST_TIMEOUT_MS, crashLoop } from './crash-harness.ts';
import { GROUPS } from './crash-writer.ts';
import { openCrashWal } from './wal-crash-child.ts';
import { segmentFiles } from './wal-helpers.ts';

const KILLS = 22;

it(`keeps every durable write across ${KILLS} SIGKILLs of a WAL writer of ${GROUPS} groups`, {
  timeout: CRASH_TEST_TIMEOUT_MS,
}, async (t) => {
  let rotations = 0;
  const issued = await crashLoop({
    child: fileURLToPath(new URL('./wal-crash-child.ts', import.meta.url)),
    kills: KILLS,
    seedBase: 2000,
    open: (dir) => openCrashWal(dir),
    // Every run rotates at least once before it is killed, however slow the machine.
    killAfterMark: 'W',
    afterKill(store, seen) {
      assert.equal(segmentFiles(store.dir).length, 1, 'recovery leaves one segment');
      rotations += Math.max(0, ...[...seen.values()].map((group) => group.marks.get('W') ?? 0));
    },
  });
  t.diagnostic(`${issued} writes issued, ${rotations} segment rotations`);
  assert.ok(rotations >= KILLS, `segments rotated under load (${rotations} rotations)`);
});
