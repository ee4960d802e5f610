/**
 * The bank demo, short: a local 3-process cluster, transfers under load, a kill -9 of the leader node and its
 * restart; every transfer settles and money is conserved.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runDemo } from '../../../test/demo-run.ts';

test('the bank demo conserves money across a leader kill (JSON line, exit 0)', {
  timeout: 120_000,
}, async () => {
  const demo = fileURLToPath(new URL('../src/demo.ts', import.meta.url));
  const { code, result, line, stderr } = await runDemo(
    demo,
    ['--duration', '8', '--base-port', '7600'],
    110_000,
  );
  assert.ok(result, `no JSON line; stderr: ${stderr}`);
  assert.equal(result.conserved, true, line);
  assert.equal(result.lost, 0, line);
  assert.ok((result.node_kills as number) >= 1);
  assert.ok((result.acked as number) > 100, line);
  assert.equal(code, 0, stderr);
});
