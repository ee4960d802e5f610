/**
 * The showcase, short: three processes, schedules and ad-hoc jobs writing to the ledger with their tokens, a
 * jobs leader killed and restarted; no job lost or completed twice, every effect under its accepted token.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runDemo } from '../../../test/demo-run.ts';

test('the job scheduler demo survives a leader kill: nothing lost or duplicated (JSON line, exit 0)', {
  timeout: 180_000,
}, async () => {
  const demo = fileURLToPath(new URL('../src/demo.ts', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-job-scheduler-'));
  try {
    const args = ['--duration', '12', '--base-port', '7650', '--dir', dir];
    const { code, result: r, line, stderr } = await runDemo(demo, args, 170_000);
    assert.ok(r, `no JSON line; stderr: ${stderr}`);
    const result = r as Record<string, number>;
    assert.equal(result.lost, 0, line);
    assert.equal(result.duplicated, 0, line);
    assert.equal(result.misfenced, 0, line);
    assert.ok(result.leader_kills! >= 1, line);
    assert.ok(result.jobs! > 200, line);
    assert.equal(result.completed! + result.dead!, result.jobs, line);
    assert.ok(result.scheduled_fired! > 0, line);
    assert.equal(code, 0, stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
